//! `glassbox compare vm IMAGE [-- CMD...]`: run the same command in a
//! container and in a VM and print what was measured (table, JSON, SVG).

use super::Ctx;
use crate::compare::{self, AccelChoice, Options};
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// `glassbox compare ...`.
#[derive(Debug, Subcommand)]
pub enum CompareCommand {
    /// Run a command in a container and in a real VM booted from the same image; compare
    Vm(VmArgs),
}

/// Options of `glassbox compare vm`.
#[derive(Debug, Args)]
pub struct VmArgs {
    /// Output format: table or json
    #[arg(long, default_value = "table")]
    format: String,
    /// Also draw the comparison as an SVG picture into FILE
    #[arg(long, value_name = "FILE.svg")]
    chart: Option<PathBuf>,
    /// The guest's memory in MiB
    #[arg(long, default_value_t = 256, value_name = "MiB")]
    memory: u32,
    /// Seconds the VM may take before qemu is killed
    #[arg(long, default_value_t = 120, value_name = "S")]
    timeout: u64,
    /// auto (try KVM, fall back to software emulation), kvm or tcg
    #[arg(long, default_value = "auto")]
    accel: String,
    /// Boot this kernel instead of the newest /boot/vmlinuz-*
    #[arg(long, value_name = "FILE")]
    kernel: Option<PathBuf>,
    /// The image (its layers become the container's root and the VM's initramfs)
    image: String,
    /// The command (default: uname -r)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

/// Runs `glassbox compare`.
pub fn run(c: CompareCommand, ctx: &Ctx) -> crate::Result<i32> {
    match c {
        CompareCommand::Vm(a) => vm(a, ctx),
    }
}

fn vm(a: VmArgs, ctx: &Ctx) -> crate::Result<i32> {
    if a.format != "table" && a.format != "json" {
        return Err(crate::Error::Usage(format!(
            "--format {:?} is not table or json",
            a.format
        )));
    }
    if a.memory < 64 {
        return Err(crate::Error::Usage(format!(
            "--memory {} is too little for a Linux guest; give at least 64 (MiB)",
            a.memory
        )));
    }
    let opts = Options {
        image: a.image,
        command: a.command,
        memory_mib: a.memory,
        timeout: std::time::Duration::from_secs(a.timeout.max(1)),
        accel: AccelChoice::parse(&a.accel)?,
        kernel: a.kernel,
    };
    let (cmp, vm_error) = compare::compare_vm(&ctx.root, &opts)?;
    if a.format == "json" {
        println!("{}", compare::report::json(&cmp));
    } else {
        print!("{}", compare::report::table(&cmp));
    }
    if let Some(path) = &a.chart {
        if let Some(svg) = compare::chart::svg(&cmp) {
            std::fs::write(path, svg).map_err(|e| crate::Error::Io {
                context: format!("writing the chart {}", path.display()),
                source: e,
            })?;
        }
    }
    match vm_error {
        Some(e) => Err(e),
        None => Ok(0),
    }
}
