//! The lessons' base image, `busybox:latest`, built from the host's static
//! busybox (`/bin/busybox` from busybox-static) and the recipe files in
//! `fixtures/busybox/`: the binary, one symlink per applet, /etc/passwd,
//! /etc/group, /etc/hostname, /tmp (1777), /root, /home, /var/www.
//! Reproducible: the tree is packed with clamped mtimes and 0:0 owners.

use crate::error::IoContext;
use crate::image::pack::{source_date_epoch, PackOptions};
use crate::reference::Reference;
use crate::store::{Image, Store};
use crate::trace::{self, Kind};
use crate::Result;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Where the static busybox is expected.
pub const HOST_BUSYBOX: &str = "/bin/busybox";

/// True when the ELF file has no PT_INTERP program header (static).
pub fn is_static_elf(bytes: &[u8]) -> bool {
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 {
        return false;
    }
    let u16at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(bytes[32..40].try_into().expect("8 bytes")) as usize;
    let (phentsize, phnum) = (u16at(54), u16at(56));
    (0..phnum).all(|i| {
        let o = phoff + i * phentsize;
        bytes
            .get(o..o + 4)
            .map(|t| u32::from_le_bytes(t.try_into().expect("4 bytes")) != 3)
            .unwrap_or(false)
    })
}

/// Builds `busybox:latest` in `store` (idempotent: the same bytes give
/// the same digests, and the tag is just re-pointed).
pub fn setup(store: &Store) -> Result<Image> {
    let _p = trace::phase("setup");
    let bin = fs::read(HOST_BUSYBOX).map_err(|e| {
        crate::Error::Usage(format!(
            "cannot read {HOST_BUSYBOX} ({e}); install it with `apt-get install busybox-static`"
        ))
    })?;
    if !is_static_elf(&bin) {
        return Err(crate::Error::Usage(format!(
            "{HOST_BUSYBOX} is dynamically linked; install the static one with `apt-get install busybox-static`"
        )));
    }
    let tree = store.tempdir()?;
    let root = tree.path();
    let mut s = trace::step(Kind::Image, "rootfs", "busybox rootfs".to_string())
        .field("busybox", HOST_BUSYBOX)
        .equivalent("busybox --list-full | while read a; do ln -s /bin/busybox \"$a\"; done")
        .announce()?;
    let list = std::process::Command::new(HOST_BUSYBOX)
        .arg("--list-full")
        .output()
        .ctx(|| format!("running {HOST_BUSYBOX} --list-full"))?;
    let r = build_tree(root, &bin, &String::from_utf8_lossy(&list.stdout));
    if let Ok(n) = &r {
        s.field("applets", *n);
    }
    s.finish_with(r)?;
    let d = store.layer_from_dir(root, PackOptions::default())?;
    let created = chrono::DateTime::from_timestamp(source_date_epoch() as i64, 0)
        .expect("a valid epoch")
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let config: oci_spec::image::ImageConfiguration = serde_json::from_value(serde_json::json!({
        "created": created,
        "architecture": oci_spec::image::Arch::default().to_string(),
        "os": "linux",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [d.diff_id]},
        "history": [{"created": created, "created_by": "glassbox setup: host static busybox + fixtures/busybox"}]
    }))
    .map_err(|e| crate::Error::Usage(format!("building the busybox config: {e}")))?;
    let tag = Reference::parse("busybox:latest")?;
    store.commit_image(&config, &[(d.digest, d.size)], Some(&tag))
}

fn build_tree(root: &Path, bin: &[u8], applets: &str) -> Result<u64> {
    let mk = |p: &str, mode: u32| -> Result<()> {
        let d = root.join(p);
        fs::create_dir_all(&d).ctx(|| format!("creating {}", d.display()))?;
        fs::set_permissions(&d, fs::Permissions::from_mode(mode))
            .ctx(|| format!("chmod {}", d.display()))
    };
    for d in [
        "bin", "sbin", "usr/bin", "usr/sbin", "etc", "root", "home", "var/www", "proc", "sys",
        "dev",
    ] {
        mk(d, if d == "root" { 0o700 } else { 0o755 })?;
    }
    mk("tmp", 0o1777)?;
    let w = |p: &str, data: &[u8], mode: u32| -> Result<()> {
        let f = root.join(p);
        fs::write(&f, data).ctx(|| format!("writing {}", f.display()))?;
        fs::set_permissions(&f, fs::Permissions::from_mode(mode))
            .ctx(|| format!("chmod {}", f.display()))
    };
    w("bin/busybox", bin, 0o755)?;
    w(
        "etc/passwd",
        include_bytes!("../../fixtures/busybox/passwd"),
        0o644,
    )?;
    w(
        "etc/group",
        include_bytes!("../../fixtures/busybox/group"),
        0o644,
    )?;
    w(
        "etc/hostname",
        include_bytes!("../../fixtures/busybox/hostname"),
        0o644,
    )?;
    let mut n = 0;
    for a in applets
        .lines()
        .map(str::trim)
        .filter(|a| !a.is_empty() && !a.contains(".."))
    {
        let link = root.join(a.trim_start_matches('/'));
        if a.trim_start_matches('/') == "bin/busybox" || link.symlink_metadata().is_ok() {
            continue;
        }
        if let Some(p) = link.parent() {
            fs::create_dir_all(p).ctx(|| format!("creating {}", p.display()))?;
        }
        std::os::unix::fs::symlink("/bin/busybox", &link)
            .ctx(|| format!("linking {}", link.display()))?;
        n += 1;
    }
    Ok(n)
}
