//! Which overlay a container's root gets: the kernel's overlayfs, or
//! fuse-overlayfs where the kernel will not mount one.
//!
//! As root the kernel's overlayfs always works. In a user namespace
//! (rootless) it needs Linux 5.11 or later, and a filesystem under the
//! store that the kernel accepts for an unprivileged overlay; elsewhere
//! `mount -t overlay` is refused with EPERM or EINVAL. fuse-overlayfs
//! (Debian's fuse-overlayfs) is the same overlay done by a process in user
//! space through FUSE, which an unprivileged user namespace may mount. It
//! reads the layers as glassbox lays them for the kernel: a whiteout is a
//! 0/0 character device and an opaque directory carries
//! `user.overlay.opaque` (or `trusted.overlay.opaque`), so the same layers
//! show the same files either way.
//!
//! The choice is made by a real probe: a tiny overlay mounted and
//! unmounted in the run dir, once, and remembered there (the file
//! `overlay-driver`; the run dir goes at reboot, with the kernel's
//! answer). `GLASSBOX_OVERLAY=fuse` or `=kernel` skips the probe (tests
//! force the fallback with it).

use crate::trace::{self, Kind};
use std::path::{Path, PathBuf};

/// Forces a driver: `fuse` or `kernel`.
pub const ENV: &str = "GLASSBOX_OVERLAY";

/// The file in the run dir that remembers the probe's answer.
const CACHE: &str = "overlay-driver";

/// How a container's overlay root is mounted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Driver {
    /// `mount -t overlay` by the init itself.
    #[default]
    Kernel,
    /// fuse-overlayfs, this binary, started by the init.
    Fuse(PathBuf),
}

impl Driver {
    /// The name the events and `info` use.
    pub fn name(&self) -> &'static str {
        match self {
            Driver::Kernel => "overlayfs",
            Driver::Fuse(_) => "fuse-overlayfs",
        }
    }
}

fn fuse_binary() -> Result<PathBuf, String> {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/bin")])
        .map(|d| d.join("fuse-overlayfs"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            "fuse-overlayfs is not installed; an administrator installs it with \
             `apt-get install fuse-overlayfs`"
                .to_string()
        })
}

/// Picks the driver for containers started from here (events say which
/// and why); `run_dir` holds the probe's scratch directory and its cached
/// answer. Fails only when neither overlay can work.
pub fn choose(run_dir: &Path) -> Result<Driver, String> {
    let forced = std::env::var(ENV).ok().filter(|v| !v.is_empty());
    let (driver, why) = match forced.as_deref() {
        Some("fuse") => (
            Driver::Fuse(fuse_binary().map_err(|e| format!("{ENV}=fuse: {e}"))?),
            format!("{ENV}=fuse asks for it"),
        ),
        Some("kernel") => (Driver::Kernel, format!("{ENV}=kernel asks for it")),
        Some(other) => {
            return Err(format!(
                "{ENV}={other:?} is not an overlay driver; use fuse or kernel, or unset it"
            ))
        }
        None if !super::userns::inside() => return Ok(Driver::Kernel),
        None => match std::fs::read_to_string(run_dir.join(CACHE)).as_deref() {
            Ok("kernel\n") => return Ok(Driver::Kernel),
            Ok("fuse\n") => (
                Driver::Fuse(fuse_binary()?),
                "the kernel refused an overlay in this user namespace (remembered)".into(),
            ),
            _ => {
                let refused = probe(run_dir)?;
                let answer = if refused.is_none() {
                    "kernel\n"
                } else {
                    "fuse\n"
                };
                let _ = std::fs::write(run_dir.join(CACHE), answer);
                match refused {
                    None => return Ok(Driver::Kernel),
                    Some(e) => (
                        Driver::Fuse(fuse_binary().map_err(|f| {
                            format!(
                                "the kernel cannot mount overlayfs in this user namespace \
                                 ({e}, Linux 5.11 or later can), and {f}"
                            )
                        })?),
                        format!("the kernel refused an overlay in this user namespace: {e}"),
                    ),
                }
            }
        },
    };
    if let Driver::Fuse(bin) = &driver {
        let _ = trace::fact(Kind::Mount, "overlay_driver", "fuse-overlayfs")
            .field("driver", driver.name())
            .field("binary", bin.display().to_string())
            .field("why", why)
            .announce()
            .map(|s| s.done());
    }
    Ok(driver)
}

/// The driver containers get, as far as it is known without a probe:
/// `overlayfs`, `fuse-overlayfs`, or `overlayfs (not yet probed)` in a
/// user namespace before its first container.
pub fn known(run_dir: &Path) -> &'static str {
    match std::env::var(ENV).ok().as_deref() {
        Some("fuse") => return "fuse-overlayfs",
        Some("kernel") => return "overlayfs",
        _ => {}
    }
    if !super::userns::inside() {
        return "overlayfs";
    }
    match std::fs::read_to_string(run_dir.join(CACHE)).as_deref() {
        Ok("kernel\n") => "overlayfs",
        Ok("fuse\n") => "fuse-overlayfs",
        _ => "overlayfs (not yet probed)",
    }
}

/// Mounts a one-layer overlay in a scratch directory of `run_dir` and
/// unmounts it: `None` when the kernel allowed it, else its refusal.
fn probe(run_dir: &Path) -> Result<Option<String>, String> {
    let dir = run_dir.join("overlay-probe");
    let _ = std::fs::remove_dir_all(&dir);
    for d in ["lower", "upper", "work", "merged"] {
        std::fs::create_dir_all(dir.join(d))
            .map_err(|e| format!("making {}: {e}", dir.join(d).display()))?;
    }
    let lower = dir.join("lower").display().to_string();
    let data =
        super::userns::overlay_data(&[&lower], Some((&dir.join("upper"), &dir.join("work"))));
    let merged = dir.join("merged");
    let mount = [super::mount_fs("overlay", "overlay", &merged).data(&data)];
    let b = trace::step(Kind::Mount, "overlay_probe", merged.display().to_string())
        .field("target", merged.display().to_string());
    let r = super::run(
        &mut super::Host,
        b,
        &mount,
        "probing overlayfs in the user namespace",
    );
    let refused = match r {
        Ok(()) => {
            let _ = super::run(
                &mut super::Host,
                trace::cleanup(Kind::Mount, "unmount", merged.display().to_string())
                    .field("target", merged.display().to_string()),
                &[super::detach(&merged)],
                "unmounting the overlay probe",
            );
            None
        }
        Err(super::KernelError::Aborted(a)) => return Err(a.to_string()),
        Err(e) => Some(e.to_string()),
    };
    let _ = std::fs::remove_dir_all(&dir);
    Ok(refused)
}

/// The fuse-overlayfs arguments for the same overlay `mount -t overlay`
/// would make (`lowers` topmost first, as overlayfs takes them).
pub fn fuse_args(lowers: &[&str], upper: &Path, work: &Path, target: &Path) -> Vec<String> {
    vec![
        "-o".into(),
        format!(
            "lowerdir={},upperdir={},workdir={}",
            lowers.join(":"),
            upper.display(),
            work.display()
        ),
        target.display().to_string(),
    ]
}

/// Runs fuse-overlayfs, which mounts the overlay (`mount(2)` of type
/// `fuse.fuse-overlayfs` on a `/dev/fuse` it opened) and then stays in the
/// background to serve it; returns once the mount is there. It ends when
/// the mount goes (the container's mount namespace ending) or, since the
/// init starts it inside the container's PID namespace, with the
/// container's last process.
pub fn fuse_mount(bin: &Path, args: &[String]) -> std::io::Result<()> {
    let out = std::process::Command::new(bin)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()?;
    if out.status.success() {
        return Ok(());
    }
    Err(std::io::Error::other(format!(
        "{} {}: {}",
        bin.display(),
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuse_overlayfs_gets_the_layers_in_overlayfs_order() {
        let a = fuse_args(
            &["/l/top", "/l/base"],
            Path::new("/c/upper"),
            Path::new("/c/work"),
            Path::new("/c/merged"),
        );
        assert_eq!(
            a.join(" "),
            "-o lowerdir=/l/top:/l/base,upperdir=/c/upper,workdir=/c/work /c/merged"
        );
    }

    #[test]
    fn an_unknown_driver_is_refused_with_the_choices() {
        std::env::set_var(ENV, "zfs");
        let e = choose(Path::new("/nonexistent")).unwrap_err();
        std::env::remove_var(ENV);
        assert!(e.contains("fuse or kernel"), "{e}");
    }
}
