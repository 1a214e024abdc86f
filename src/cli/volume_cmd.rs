//! `glassbox volume create|ls|inspect|rm|prune` and `glassbox system prune`.

use super::Ctx;
use crate::runtime::volumes;
use crate::volume;
use clap::{Args, Subcommand};

/// The volume subcommands.
#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// Create a volume (a random name when none is given)
    Create(CreateArgs),
    /// List volumes: DRIVER VOLUME NAME
    Ls(LsArgs),
    /// Show volumes as JSON (docker volume inspect's shape)
    Inspect(NamesArgs),
    /// Remove volumes no container uses
    Rm(NamesArgs),
    /// Remove every volume no container uses
    Prune(PruneArgs),
}

/// `volume create [NAME]`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The volume's name
    name: Option<String>,
}

/// `volume ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// Only print names
    #[arg(short, long)]
    quiet: bool,
}

/// Volume names.
#[derive(Debug, Args)]
pub struct NamesArgs {
    /// Volume names
    #[arg(required = true)]
    names: Vec<String>,
}

/// `volume prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not ask (glassbox never asks; accepted for Docker compatibility)
    #[arg(short, long)]
    force: bool,
    /// Named volumes too (glassbox prunes every unused volume either way)
    #[arg(short, long)]
    all: bool,
}

/// Runs one volume subcommand.
pub fn run(c: VolumeCommand, ctx: &Ctx) -> crate::Result<i32> {
    match c {
        VolumeCommand::Create(a) => {
            let name = match a.name {
                Some(n) => n,
                None => volumes::new_name()?,
            };
            volume::create(&ctx.root, &name, false)?;
            println!("{name}");
        }
        VolumeCommand::Ls(a) => {
            let all = volume::list(&ctx.root);
            if !a.quiet {
                println!("{:<10}VOLUME NAME", "DRIVER");
            }
            for v in all {
                if a.quiet {
                    println!("{}", v.name);
                } else {
                    println!("{:<10}{}", "local", v.name);
                }
            }
        }
        VolumeCommand::Inspect(a) => {
            let mut out = Vec::new();
            for n in &a.names {
                let v = volume::get(&ctx.root, n)?;
                out.push(serde_json::json!({
                    "CreatedAt": v.meta.created,
                    "Driver": "local",
                    "Labels": serde_json::Value::Null,
                    "Mountpoint": v.mountpoint.display().to_string(),
                    "Name": v.name,
                    "Options": serde_json::Value::Null,
                    "Scope": "local",
                    "UsedBy": volumes::users(&ctx.root, n),
                }));
            }
            println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        }
        VolumeCommand::Rm(a) => {
            for n in &a.names {
                volumes::remove(&ctx.root, n)?;
                println!("{n}");
            }
        }
        VolumeCommand::Prune(a) => {
            let _ = (a.force, a.all);
            let removed = volumes::prune(&ctx.root)?;
            if !removed.is_empty() {
                println!("Deleted Volumes:");
                for n in &removed {
                    println!("{n}");
                }
            }
            println!("Total reclaimed volumes: {}", removed.len());
        }
    }
    Ok(0)
}

/// The system subcommands.
#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Remove stopped containers, unreferenced image data and (optionally) unused images and volumes
    Prune(SystemPruneArgs),
}

/// `system prune`.
#[derive(Debug, Args)]
pub struct SystemPruneArgs {
    /// Also remove every image no remaining container was made from
    #[arg(short, long)]
    all: bool,
    /// Also remove every volume no remaining container uses
    #[arg(long)]
    volumes: bool,
    /// Do not ask for confirmation
    #[arg(short, long)]
    force: bool,
}

/// Runs `system prune`.
pub fn system(c: SystemCommand, ctx: &Ctx) -> crate::Result<i32> {
    let SystemCommand::Prune(a) = c;
    if !a.force {
        use std::io::IsTerminal;
        if !std::io::stdin().is_terminal() {
            return Err(crate::Error::Usage(
                "system prune deletes data and asks first; add -f to run it without a terminal"
                    .into(),
            ));
        }
        eprint!("WARNING! This removes all stopped containers{}{}, unused networks and bridges, and unreferenced image data.\nAre you sure you want to continue? [y/N] ",
            if a.all { ", all images without a container" } else { "" },
            if a.volumes { ", all unused volumes" } else { "" });
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        if !matches!(line.trim(), "y" | "Y" | "yes") {
            return Ok(1);
        }
    }
    let r = crate::runtime::prune::system_prune(&ctx.root, a.all, a.volumes)?;
    for (title, items) in [
        ("Deleted Containers:", &r.containers),
        ("Untagged Images:", &r.untagged),
        ("Deleted Volumes:", &r.volumes),
    ] {
        if !items.is_empty() {
            println!("{title}");
            for i in items {
                println!("{i}");
            }
            println!();
        }
    }
    super::network_cmd::print_pruned(&r.networks);
    println!("Deleted blobs: {}", r.blobs);
    if r.keeper_stopped {
        println!("Ended the rootless keeper: nothing of glassbox runs for you now");
    }
    Ok(0)
}
