//! `glassbox network create|ls|inspect|rm|prune|connect|disconnect`.

use super::Ctx;
use crate::network::{self, CreateOptions, Subnet};
use clap::{Args, Subcommand};

/// The network subcommands.
#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Create a network with its own bridge and subnet
    Create(CreateArgs),
    /// List networks: NETWORK ID, NAME, DRIVER, SUBNET, BRIDGE
    Ls(LsArgs),
    /// Show networks as JSON (docker network inspect's shape)
    Inspect(NamesArgs),
    /// Remove networks no container uses (their bridges go too)
    Rm(NamesArgs),
    /// Remove every user network no container uses
    Prune(PruneArgs),
    /// Connect a container to a network (a new interface at once when it runs)
    Connect(ConnectArgs),
    /// Disconnect a container from a network
    Disconnect(DisconnectArgs),
}

/// `network create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The subnet, e.g. 10.89.0.0/24 (default: a free /24 from 10.67.0.0)
    #[arg(long)]
    subnet: Option<String>,
    /// The bridge's address (default: the subnet's first address)
    #[arg(long)]
    gateway: Option<std::net::Ipv4Addr>,
    /// No gateway and no route out: containers reach only each other
    #[arg(long)]
    internal: bool,
    /// The network's name
    name: String,
}

/// `network ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// Only print names
    #[arg(short, long)]
    quiet: bool,
}

/// Network names.
#[derive(Debug, Args)]
pub struct NamesArgs {
    /// Network names (or ids)
    #[arg(required = true)]
    names: Vec<String>,
}

/// `network prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not ask (glassbox never asks; accepted for Docker compatibility)
    #[arg(short, long)]
    force: bool,
}

/// `network connect`.
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Another name for the container on this network
    #[arg(long = "alias")]
    alias: Vec<String>,
    /// The container's address on this network
    #[arg(long)]
    ip: Option<std::net::Ipv4Addr>,
    /// The network
    network: String,
    /// The container
    container: String,
}

/// `network disconnect`.
#[derive(Debug, Args)]
pub struct DisconnectArgs {
    /// Accepted for Docker compatibility
    #[arg(short, long)]
    force: bool,
    /// The network
    network: String,
    /// The container
    container: String,
}

/// Runs one network subcommand.
pub fn run(c: NetworkCommand, ctx: &Ctx) -> crate::Result<i32> {
    match c {
        NetworkCommand::Create(a) => {
            let o = CreateOptions {
                subnet: a.subnet.as_deref().map(Subnet::parse).transpose()?,
                gateway: a.gateway,
                internal: a.internal,
            };
            let n = network::create(&ctx.root, &a.name, &o)?;
            println!("{}", n.id);
        }
        NetworkCommand::Ls(a) => {
            if !a.quiet {
                println!(
                    "{:<14}{:<20}{:<10}{:<18}BRIDGE",
                    "NETWORK ID", "NAME", "DRIVER", "SUBNET"
                );
            }
            for n in network::store::all(&ctx.root) {
                if a.quiet {
                    println!("{}", n.name);
                } else {
                    println!(
                        "{:<14}{:<20}{:<10}{:<18}{}{}",
                        &n.id[..12],
                        n.name,
                        n.driver,
                        n.subnet.to_string(),
                        n.bridge,
                        if n.internal { " (internal)" } else { "" }
                    );
                }
            }
        }
        NetworkCommand::Inspect(a) => {
            let all = a
                .names
                .iter()
                .map(|n| network::inspect(&ctx.root, n))
                .collect::<crate::Result<Vec<_>>>()?;
            println!("{}", serde_json::to_string_pretty(&all).unwrap_or_default());
        }
        NetworkCommand::Rm(a) => {
            for n in &a.names {
                println!("{}", network::remove(&ctx.root, n)?);
            }
        }
        NetworkCommand::Prune(_) => {
            print_pruned(&network::prune(&ctx.root)?);
        }
        NetworkCommand::Connect(a) => {
            network::connect(&ctx.root, &a.network, &a.container, a.alias, a.ip)?;
        }
        NetworkCommand::Disconnect(a) => {
            network::disconnect(&ctx.root, &a.network, &a.container)?;
        }
    }
    Ok(0)
}

/// Prints what a network prune removed (`network prune`, `system prune`).
pub fn print_pruned(p: &network::Pruned) {
    for (title, items) in [
        ("Deleted Networks:", &p.networks),
        ("Deleted Bridges (made again when next used):", &p.bridges),
    ] {
        if !items.is_empty() {
            println!("{title}");
            for i in items {
                println!("{i}");
            }
        }
    }
}
