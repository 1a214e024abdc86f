//! `glassbox registry serve`: the registry server in the foreground until
//! Ctrl-C or SIGTERM. Thin: the server lives in `registry::server`.

use super::{Ctx, TraceMode};
use crate::registry::server::{serve, Options};
use clap::{Args, Subcommand};
use nix::sys::signal::{SigSet, Signal};
use std::path::PathBuf;

/// `glassbox registry ...`
#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Serve the OCI distribution API (push and pull target) in the foreground
    Serve(ServeArgs),
}

/// Arguments of `glassbox registry serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:5001")]
    pub addr: String,
    /// Where blobs and manifests are kept [default: ROOT/registry]
    #[arg(long, value_name = "DIR")]
    pub storage: Option<PathBuf>,
    /// Require basic auth as a user of this htpasswd file (bcrypt entries: `htpasswd -B`)
    #[arg(long, value_name = "FILE")]
    pub htpasswd: Option<PathBuf>,
}

/// Runs a registry subcommand.
pub fn run(c: RegistryCommand, ctx: &Ctx) -> crate::Result<i32> {
    match c {
        RegistryCommand::Serve(a) => serve_foreground(a, ctx),
    }
}

fn serve_foreground(a: ServeArgs, ctx: &Ctx) -> crate::Result<i32> {
    // Block SIGINT and SIGTERM before any server thread exists (threads
    // inherit the mask), then wait for one of them here: a clean stop.
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGINT);
    signals.add(Signal::SIGTERM);
    signals
        .thread_block()
        .map_err(|e| crate::Error::Usage(format!("cannot block SIGINT/SIGTERM: {e}")))?;
    let g = &ctx.global;
    let events = g.trace_mode() != TraceMode::Off || g.step || g.timeline.is_some();
    let mut opts = Options::new(a.storage.unwrap_or_else(|| ctx.root.join("registry")));
    opts.htpasswd = a.htpasswd;
    opts.events = events;
    let storage = opts.storage.clone();
    let server = serve(a.addr.as_str(), opts)?;
    println!(
        "glassbox registry listening on http://{}/v2/ (storage {}); Ctrl-C stops it",
        server.local_addr(),
        storage.display()
    );
    let sig = signals.wait().ok();
    server.stop();
    println!(
        "glassbox registry stopped ({})",
        sig.map(|s| s.as_str()).unwrap_or("signal")
    );
    Ok(0)
}
