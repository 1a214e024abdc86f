//! `glassbox setup --vm`: installs what the VM half of `compare vm` needs,
//! with the system's own package manager: qemu-system-x86 (the emulator)
//! and linux-image-amd64 (a kernel under /boot). Each step is an event that
//! says the apt command it runs; what is already there is left alone.

use super::CompareError;
use crate::trace::{self, Kind};
use std::process::Command;

/// The Debian packages of the VM half.
pub const PACKAGES: [&str; 2] = ["qemu-system-x86", "linux-image-amd64"];

/// Which of [`PACKAGES`] are missing (by what they provide: qemu in PATH,
/// a readable kernel in /boot).
pub fn missing() -> Vec<&'static str> {
    let mut out = Vec::new();
    if super::vm::find_qemu().is_none() {
        out.push(PACKAGES[0]);
    }
    if super::vm::find_kernel(std::path::Path::new("/boot")).is_none() {
        out.push(PACKAGES[1]);
    }
    out
}

fn apt(args: &[&str]) -> crate::Result<()> {
    let s = trace::step(
        Kind::Compare,
        "install",
        format!("apt-get {}", args.join(" ")),
    )
    .field("args", args)
    .equivalent(format!("apt-get {}", args.join(" ")))
    .announce()?;
    let out = Command::new("apt-get")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output();
    let r = match out {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => {
            let text = String::from_utf8_lossy(&o.stderr);
            let tail: Vec<&str> = text.lines().rev().take(3).collect();
            Err(CompareError::Install(format!(
                "apt-get {} exited with {}: {}",
                args.join(" "),
                o.status,
                tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
            )))
        }
        Err(e) => Err(CompareError::Install(format!(
            "apt-get could not be run ({e})"
        ))),
    };
    s.finish_with(r)?;
    Ok(())
}

/// Installs the missing VM packages; returns what was installed.
pub fn install_vm() -> crate::Result<Vec<&'static str>> {
    let _p = trace::phase("setup");
    let missing = missing();
    trace::fact(Kind::Compare, "tools", "VM packages")
        .field("missing", &missing)
        .field("packages", PACKAGES)
        .equivalent("command -v qemu-system-x86_64; ls /boot/vmlinuz-*")
        .info();
    if missing.is_empty() {
        return Ok(missing);
    }
    apt(&["update", "-q"])?;
    let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
    args.extend(missing.iter().copied());
    apt(&args)?;
    Ok(missing)
}
