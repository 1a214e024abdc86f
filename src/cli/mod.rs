//! The command line: clap definitions, one file per command family. No
//! engine logic lives here: each command calls into the library.

mod build;
mod explain_cmd;
mod images;
mod lessons;
mod output;

pub use output::{GlobalOpts, TraceMode};

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// glassbox — a container engine you can see through.
#[derive(Debug, Parser)]
#[command(name = "glassbox", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    global: GlobalOpts,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the explanation template of one event kind.action (or list them)
    Explain(explain_cmd::ExplainArgs),
    /// Build the lessons' base image busybox:latest from the host's static busybox
    Setup(images::SetupArgs),
    /// List images: REPOSITORY TAG IMAGE ID CREATED SIZE
    Images(images::ImagesArgs),
    /// Give an image another name:tag
    Tag(images::TagArgs),
    /// Remove image tags; blobs no tag reaches are deleted
    Rmi(images::RmiArgs),
    /// Check the store: `store verify` (every blob's digest, every tag's blobs)
    Store(images::StoreArgs),
    /// Build an image from a Dockerfile
    Build(build::BuildArgs),
    /// Guided lessons with exercises that check themselves
    Lessons(lessons::LessonsArgs),
}

/// What every command gets: the global options and the resolved root.
pub struct Ctx {
    /// The global flags.
    pub global: GlobalOpts,
    /// The glassbox root (an OCI image layout plus runtime state).
    pub root: PathBuf,
}

/// Runs the CLI; returns the process exit status.
pub fn main() -> i32 {
    crate::trace::start_clock();
    let cli = Cli::parse();
    let sinks = match output::install(&cli.global) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("glassbox: {e}");
            return 2;
        }
    };
    let ctx = Ctx {
        root: cli.global.root(),
        global: cli.global,
    };
    let result = dispatch(cli.command, &ctx);
    sinks.finish();
    match result {
        Ok(code) => code,
        Err(e) => {
            output::print_error(&e);
            match e {
                crate::Error::Aborted(_) => 130,
                _ => 1,
            }
        }
    }
}

fn dispatch(cmd: Command, ctx: &Ctx) -> crate::Result<i32> {
    match cmd {
        Command::Explain(a) => explain_cmd::run(a, ctx),
        Command::Setup(a) => images::setup(a, ctx),
        Command::Images(a) => images::images(a, ctx),
        Command::Tag(a) => images::tag(a, ctx),
        Command::Rmi(a) => images::rmi(a, ctx),
        Command::Store(a) => images::store(a, ctx),
        Command::Lessons(a) => lessons::run(a, ctx),
        Command::Build(a) => build::build(a, ctx),
    }
}
