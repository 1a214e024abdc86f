//! `glassbox explain KIND.ACTION`: print an explanation template; and
//! `glassbox explain port CONTAINER HOSTPORT`: the live path of a packet.

use super::Ctx;
use clap::Args;

/// Arguments of `glassbox explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// kind.action, e.g. layer.apply (omit to list every one), or `port`
    pub key: Option<String>,
    /// With `port`: CONTAINER HOSTPORT[/PROTO] — the path of a packet, hop by hop
    #[arg(value_name = "CONTAINER HOSTPORT")]
    pub rest: Vec<String>,
    /// Print the book's "Every event, explained" chapter (Markdown)
    #[arg(long, conflicts_with = "key")]
    pub book: bool,
}

/// Prints one template (brief, then full), or the list of keys.
pub fn run(a: ExplainArgs, ctx: &Ctx) -> crate::Result<i32> {
    if a.key.as_deref() == Some("port") {
        return match a.rest.as_slice() {
            [c, p] => super::port_cmd::explain_path(ctx, c, p),
            _ => Err(crate::Error::Usage(
                "usage: glassbox explain port CONTAINER HOSTPORT[/PROTO]".into(),
            )),
        };
    }
    if !a.rest.is_empty() {
        return Err(crate::Error::Usage(format!(
            "unexpected arguments {:?}; only `glassbox explain port CONTAINER HOSTPORT` takes more than a key",
            a.rest
        )));
    }
    if a.book {
        print!("{}", crate::explain::book_chapter());
        return Ok(0);
    }
    match a.key {
        None => {
            for t in crate::explain::all() {
                println!("{:<28} {}", t.key, first_line(t.brief));
            }
            Ok(0)
        }
        Some(key) => match crate::explain::template(&key) {
            Some(t) => {
                println!("{}\n\n{}", t.brief, t.full);
                Ok(0)
            }
            None => {
                let keys: Vec<&str> = crate::explain::all().iter().map(|t| t.key).collect();
                let near: Vec<&str> = keys
                    .iter()
                    .copied()
                    .filter(|k| k.split('.').any(|p| key.contains(p)))
                    .take(5)
                    .collect();
                Err(crate::Error::Usage(format!(
                    "no explanation for '{key}'; try one of: {} (or `glassbox explain` to list all)",
                    if near.is_empty() { keys.iter().take(5).copied().collect::<Vec<_>>().join(", ") } else { near.join(", ") }
                )))
            }
        },
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}
