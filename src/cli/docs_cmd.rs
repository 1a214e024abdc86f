//! `glassbox completions SHELL` and `glassbox man`: shell completions and a
//! man page made from the same clap definitions as the command line, so
//! help, completions and the manual never disagree.

use clap::{Args, CommandFactory};

/// Options of `glassbox completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell
    pub shell: clap_complete::Shell,
}

/// Prints the completion script for a shell (`source <(glassbox completions bash)`).
pub fn completions(a: CompletionsArgs) -> crate::Result<i32> {
    let mut cmd = super::Cli::command();
    let mut text = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "glassbox", &mut text);
    print_all(&text, "the completions")
}

/// Writes to stdout; a reader that went away (`| head`) is not an error.
fn print_all(text: &[u8], what: &str) -> crate::Result<i32> {
    use std::io::Write;
    match std::io::stdout().write_all(text) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(crate::Error::Io {
            context: format!("writing {what}"),
            source: e,
        }),
        _ => Ok(0),
    }
}

/// Prints the man page, roff (`glassbox man | man -l -`).
pub fn man() -> crate::Result<i32> {
    let page = clap_mangen::Man::new(super::Cli::command());
    let mut text = Vec::new();
    page.render(&mut text).map_err(|e| crate::Error::Io {
        context: "making the man page".into(),
        source: e,
    })?;
    print_all(&text, "the man page")
}
