//! `glassbox trace ID`: replays the events a `glassbox-runc` container
//! recorded (its create, start, exec, kill, delete) with the narration a
//! lesson gets, so an instructor can explain a pod's last start on a node.

use super::Ctx;
use crate::explain::Level;
use crate::sinks::{Narrator, NarratorOptions};
use clap::Args;
use std::io::IsTerminal;
use std::path::PathBuf;

/// Arguments of `glassbox trace`.
#[derive(Debug, Args)]
pub struct TraceArgs {
    /// The runtime's state root (glassbox-runc's --root)
    #[arg(long, default_value = crate::ocirt::DEFAULT_ROOT, value_name = "DIR")]
    pub runc_root: PathBuf,
    /// The container's ID (as podman, containerd or Kubernetes named it)
    pub id: String,
}

/// Replays the trace on stdout.
pub fn run(a: TraceArgs, ctx: &Ctx) -> crate::Result<i32> {
    let explain = match ctx.global.explain {
        super::output::ExplainLevel::Brief => Level::Brief,
        super::output::ExplainLevel::Full => Level::Full,
        super::output::ExplainLevel::Off => Level::Off,
    };
    let color = !ctx.global.no_color
        && std::env::var_os("NO_COLOR").is_none()
        && std::io::stdout().is_terminal();
    let narrator = Narrator::new(
        Box::new(std::io::stdout()),
        NarratorOptions { color, explain },
    );
    crate::ocirt::log::replay(&a.runc_root, &a.id, &narrator)?;
    Ok(0)
}
