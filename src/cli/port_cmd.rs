//! `glassbox port` (the published ports of a container, as Docker prints
//! them) and `glassbox explain port CONTAINER HOSTPORT` (the path of a
//! packet, hop by hop).

use super::Ctx;
use clap::Args;

/// `port` options.
#[derive(Debug, Args)]
pub struct PortArgs {
    /// Container name or id
    container: String,
    /// Only this container port: PORT or PORT/PROTO (e.g. 80, 53/udp)
    private_port: Option<String>,
}

/// `__bench-sink` options.
#[derive(Debug, Args)]
pub struct SinkArgs {
    /// Serve a TCP sink on this port (reads each connection to its end, answers the byte count)
    #[arg(long)]
    tcp: Option<u16>,
    /// Serve a UDP echo on this port
    #[arg(long)]
    udp: Option<u16>,
}

/// Runs the sink until killed.
pub fn sink(a: SinkArgs, _ctx: &Ctx) -> crate::Result<i32> {
    crate::network::port::sink::serve(a.tcp, a.udp).map_err(|e| crate::Error::Io {
        context: "serving the benchmark sink".into(),
        source: e,
    })?;
    Ok(0)
}

/// Prints `80/tcp -> 0.0.0.0:8080` lines (or only the host side for one port).
pub fn port(a: PortArgs, ctx: &Ctx) -> crate::Result<i32> {
    for line in
        crate::network::port::port_lines(&ctx.root, &a.container, a.private_port.as_deref())?
    {
        println!("{line}");
    }
    Ok(0)
}

/// Prints the path of a packet to `host_port` of `container`.
pub fn explain_path(ctx: &Ctx, container: &str, host_port: &str) -> crate::Result<i32> {
    let path = crate::network::port::path::explain(&ctx.root, container, host_port)?;
    println!("The path of a packet to {}\n", path.title);
    let n = path.hops.len();
    for (i, hop) in path.hops.iter().enumerate() {
        let mark = if hop.ok { " " } else { "!" };
        println!("{mark}{}. {}", i + 1, hop.name);
        for f in &hop.facts {
            println!("     {f}");
        }
        println!("     $ {}", hop.command);
        if i + 1 < n {
            println!("       |\n       v");
        }
    }
    if path.hops.iter().any(|h| !h.ok) {
        println!("\n(! marks a hop that does not look right now)");
    }
    Ok(0)
}
