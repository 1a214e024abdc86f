//! `glassbox daemon`: serve the Docker Engine API so the docker CLI,
//! docker-py and docker-compose drive glassbox.

use super::Ctx;
use clap::Args;

/// Options of `glassbox daemon`.
#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// Where to listen, as dockerd's -H: unix:///path.sock or tcp://127.0.0.1:2375 (repeatable)
    #[arg(short = 'H', long = "host", value_name = "ADDR")]
    pub host: Vec<String>,
    /// Allow TCP on an address other than loopback (anyone who reaches it can run containers as root)
    #[arg(long)]
    pub unsafe_tcp: bool,
}

/// Serves until ended (Ctrl-C).
pub fn daemon(a: DaemonArgs, ctx: &Ctx) -> crate::Result<i32> {
    let hosts = if a.host.is_empty() {
        // Rootless, as Docker's rootless daemon: the socket is in the
        // user's runtime dir, where /run is the host root's.
        if crate::rootless::active().is_some() {
            vec![format!(
                "unix://{}",
                crate::rootless::run_dir().join("docker.sock").display()
            )]
        } else {
            vec!["unix:///run/glassbox.sock".to_string()]
        }
    } else {
        a.host
    };
    let listen = hosts
        .iter()
        .map(|h| crate::api::Listen::parse(h, a.unsafe_tcp))
        .collect::<Result<Vec<_>, _>>()?;
    crate::api::serve(ctx.root.clone(), listen)?;
    Ok(0)
}
