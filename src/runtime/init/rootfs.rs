//! The container's root filesystem, as the init builds it: the overlay
//! root, the spec's mounts and volumes, a minimal /dev, `pivot_root`, and
//! the masked and read-only paths.

use super::{act, errs, Fail, Plan, R};
use crate::trace::{self, Kind};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use oci_spec::runtime::Spec;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

pub(super) fn mount_overlay(plan: &Plan) -> R {
    let lowerdir: Vec<&str> = plan.lowers.iter().map(|(d, _)| d.as_str()).collect();
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lowerdir.join(":"),
        plan.upper.display(),
        plan.work.display()
    );
    let layers: Vec<serde_json::Value> = plan
        .lowers
        .iter()
        .map(|(d, g)| serde_json::json!({"dir": d, "digest": g}))
        .collect();
    act(
        trace::step(Kind::Mount, "overlay", plan.merged.display().to_string())
            .field("lowerdirs", layers)
            .field("upperdir", plan.upper.display().to_string())
            .field("workdir", plan.work.display().to_string())
            .field("target", plan.merged.display().to_string())
            .equivalent(format!(
                "mount -t overlay overlay -o {data} {}",
                plan.merged.display()
            ))
            .syscall("mount(\"overlay\", target, \"overlay\", 0, data)"),
        || {
            errs(
                mount(
                    Some("overlay"),
                    &plan.merged,
                    Some("overlay"),
                    MsFlags::empty(),
                    Some(data.as_str()),
                ),
                "mounting the overlay",
            )
        },
    )
}

/// An OCI bundle's root: the directory is bind-mounted onto itself, so
/// it is a mount point `pivot_root` can enter (runc does the same).
pub(super) fn bind_root(root: &Path) -> R {
    act(
        trace::step(Kind::Mount, "bind_root", root.display().to_string())
            .field("target", root.display().to_string())
            .equivalent(format!(
                "mount --rbind {} {}",
                root.display(),
                root.display()
            ))
            .syscall("mount(root, root, NULL, MS_BIND|MS_REC, NULL)"),
        || {
            errs(
                mount(
                    Some(root),
                    root,
                    None::<&str>,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None::<&str>,
                ),
                "binding the bundle's root",
            )
        },
    )
}

pub(super) fn mount_one(root: &Path, m: &oci_spec::runtime::Mount) -> R {
    let dest = m.destination();
    let target = root.join(dest.strip_prefix("/").unwrap_or(dest));
    let typ = m.typ().clone().unwrap_or_default();
    let source = m
        .source()
        .as_ref()
        .map(|s| s.display().to_string())
        .unwrap_or_else(|| typ.clone());
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for o in m.options().as_deref().unwrap_or(&[]) {
        match o.as_str() {
            "nosuid" => flags |= MsFlags::MS_NOSUID,
            "noexec" => flags |= MsFlags::MS_NOEXEC,
            "nodev" => flags |= MsFlags::MS_NODEV,
            "ro" => flags |= MsFlags::MS_RDONLY,
            "strictatime" => flags |= MsFlags::MS_STRICTATIME,
            "relatime" => flags |= MsFlags::MS_RELATIME,
            other => data.push(other.to_string()),
        }
    }
    let data = data.join(",");
    let opts = m.options().clone().unwrap_or_default().join(",");
    if typ == "cgroup" {
        return mount_cgroup(&target, dest, flags);
    }
    act(
        trace::step(Kind::Mount, "mount", dest.display().to_string())
            .field("type", &typ)
            .field("source", &source)
            .field("target", dest.display().to_string())
            .field("options", &opts)
            .equivalent(format!(
                "mount -t {typ} -o {opts} {source} {}",
                dest.display()
            ))
            .syscall("mount(2)"),
        || {
            std::fs::create_dir_all(&target)
                .map_err(|e| format!("creating {}: {e}", target.display()))?;
            errs(
                mount(
                    Some(source.as_str()),
                    &target,
                    Some(typ.as_str()),
                    flags,
                    Some(data.as_str()),
                ),
                &format!("mounting {typ} on {}", dest.display()),
            )
        },
    )
}

/// A bundle's `cgroup` mount (runc's convention: the container's view of
/// the host's cgroup hierarchies). On cgroup v2 it is one cgroup2 mount;
/// on v1 a tmpfs holding one mount per hierarchy the host has, each with
/// the host's controller options (`cpu,cpuacct`), then made read-only if
/// asked.
fn mount_cgroup(target: &Path, dest: &Path, flags: MsFlags) -> R {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut v1 = Vec::new();
    let mut v2 = false;
    for line in info.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let point = left.split(' ').nth(4).unwrap_or("");
        let mut r = right.split(' ');
        let fstype = r.next().unwrap_or("");
        let superopts = r.nth(1).unwrap_or("");
        let Some(name) = point.strip_prefix("/sys/fs/cgroup/") else {
            if fstype == "cgroup2" && point == "/sys/fs/cgroup" {
                v2 = true;
            }
            continue;
        };
        if fstype == "cgroup" && !name.contains('/') {
            let opts: Vec<&str> = superopts
                .split(',')
                .filter(|o| *o != "rw" && *o != "ro")
                .collect();
            v1.push((name.to_string(), opts.join(",")));
        }
    }
    let names: Vec<&str> = v1.iter().map(|(n, _)| n.as_str()).collect();
    act(
        trace::step(Kind::Mount, "cgroupfs", dest.display().to_string())
            .field("version", if v2 { "v2" } else { "v1" })
            .field("hierarchies", &names)
            .field("read_only", flags.contains(MsFlags::MS_RDONLY))
            .equivalent(if v2 {
                format!("mount -t cgroup2 cgroup {}", dest.display())
            } else {
                format!(
                    "mount -t tmpfs cgroup {0} && mount -t cgroup -o memory cgroup {0}/memory  # one per hierarchy",
                    dest.display()
                )
            })
            .syscall("mount(2)"),
        || {
            std::fs::create_dir_all(target)
                .map_err(|e| format!("creating {}: {e}", target.display()))?;
            if v2 {
                return errs(
                    mount(Some("cgroup"), target, Some("cgroup2"), flags, None::<&str>),
                    "mounting cgroup2",
                );
            }
            let rw = flags & !MsFlags::MS_RDONLY;
            errs(
                mount(Some("cgroup"), target, Some("tmpfs"), rw, Some("mode=755")),
                "mounting the cgroup tmpfs",
            )?;
            for (name, opts) in &v1 {
                let dir = target.join(name);
                std::fs::create_dir_all(&dir)
                    .map_err(|e| format!("creating {}: {e}", dir.display()))?;
                errs(
                    mount(Some("cgroup"), &dir, Some("cgroup"), flags, Some(opts.as_str())),
                    &format!("mounting the {name} hierarchy"),
                )?;
            }
            if flags.contains(MsFlags::MS_RDONLY) {
                errs(
                    mount(
                        None::<&str>,
                        target,
                        None::<&str>,
                        MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | rw,
                        None::<&str>,
                    ),
                    "making the cgroup tmpfs read-only",
                )?;
            }
            Ok(())
        },
    )
}

/// A volume or bind mount: fill a new, empty volume with what the image
/// has at that path (as Docker does), bind it, and remount it read-only for
/// `:ro` (a bind mount takes the flags of its source until remounted).
pub(super) fn mount_volume(plan: &Plan, root: &Path, m: &oci_spec::runtime::Mount) -> R {
    let dest = m.destination();
    let target = root.join(dest.strip_prefix("/").unwrap_or(dest));
    let source = m.source().clone().unwrap_or_default();
    let opts = m.options().clone().unwrap_or_default();
    let ro = opts.iter().any(|o| o == "ro");
    let is_volume = source.starts_with(&plan.volumes_dir);
    // The image decides what is at `dest`: a symlink there must not lead
    // the copy or the mount out of the container's root.
    if let Ok(real) = target.canonicalize() {
        if !real.starts_with(root) {
            trace::fact(Kind::Volume, "mount", dest.display().to_string())
                .field(
                    "error",
                    "the mount point is a symlink leaving the container's root",
                )
                .info();
            eprintln!(
                "glassbox: volume mount point {} leads outside the container's root",
                dest.display()
            );
            return Err(Fail(125));
        }
    }
    if is_volume && target.is_dir() && dir_is_empty(&source) && !dir_is_empty(&target) {
        act(
            trace::step(Kind::Volume, "copy", dest.display().to_string())
                .field("from", dest.display().to_string())
                .field("volume", source.display().to_string())
                .equivalent(format!("cp -a {}/. {}", target.display(), source.display())),
            || {
                crate::volume::copy_tree(&target, &source)
                    .map(|_| ())
                    .map_err(|e| format!("copying {} into the volume: {e}", dest.display()))
            },
        )?;
    }
    let kind = if is_volume { "volume" } else { "bind" };
    let mut equivalent = format!(
        "mount --rbind --make-rprivate {} {}",
        source.display(),
        dest.display()
    );
    if ro {
        equivalent.push_str(&format!(" && mount -o remount,bind,ro {}", dest.display()));
    }
    act(
        trace::step(Kind::Volume, "mount", dest.display().to_string())
            .field("type", kind)
            .field("source", source.display().to_string())
            .field("target", dest.display().to_string())
            .field("read_only", ro)
            .equivalent(equivalent)
            .syscall(if ro {
                "mount(src, dst, NULL, MS_BIND|MS_REC); mount(NULL, dst, NULL, MS_REMOUNT|MS_BIND|MS_RDONLY)"
            } else {
                "mount(src, dst, NULL, MS_BIND|MS_REC)"
            }),
        || {
            let md = std::fs::metadata(&source)
                .map_err(|e| format!("bind source {}: {e}", source.display()))?;
            if md.is_dir() {
                std::fs::create_dir_all(&target)
                    .map_err(|e| format!("creating {}: {e}", target.display()))?;
            } else if !target.exists() {
                if let Some(p) = target.parent() {
                    std::fs::create_dir_all(p)
                        .map_err(|e| format!("creating {}: {e}", p.display()))?;
                }
                std::fs::File::create(&target)
                    .map_err(|e| format!("creating {}: {e}", target.display()))?;
            }
            errs(
                mount(
                    Some(&source),
                    &target,
                    None::<&str>,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None::<&str>,
                ),
                &format!("binding {} on {}", source.display(), dest.display()),
            )?;
            errs(
                mount(
                    None::<&str>,
                    &target,
                    None::<&str>,
                    MsFlags::MS_PRIVATE | MsFlags::MS_REC,
                    None::<&str>,
                ),
                &format!("making {} private", dest.display()),
            )?;
            if ro {
                errs(
                    mount(
                        None::<&str>,
                        &target,
                        None::<&str>,
                        MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY,
                        None::<&str>,
                    ),
                    &format!("remounting {} read-only", dest.display()),
                )?;
            }
            Ok(())
        },
    )
}

fn dir_is_empty(p: &Path) -> bool {
    std::fs::read_dir(p).map_or(true, |mut d| d.next().is_none())
}

pub(super) fn make_devices(root: &Path) -> R {
    use nix::sys::stat::{makedev, mknod, Mode, SFlag};
    let devices: [(&str, u64, u64); 6] = [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ];
    let names: Vec<String> = devices.iter().map(|d| format!("/dev/{}", d.0)).collect();
    act(
        trace::step(Kind::Mount, "mknod", "/dev devices")
            .field("devices", &names)
            .equivalent("mknod -m 666 /dev/null c 1 3  # and zero full random urandom tty")
            .syscall("mknod(2)"),
        || {
            let dev = root.join("dev");
            for (name, major, minor) in devices {
                let p = dev.join(name);
                errs(
                    mknod(
                        &p,
                        SFlag::S_IFCHR,
                        Mode::from_bits_truncate(0o666),
                        makedev(major, minor),
                    ),
                    &format!("mknod /dev/{name}"),
                )?;
                // mknod obeys the umask; make the mode exactly 0666.
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666))
                    .map_err(|e| format!("chmod /dev/{name}: {e}"))?;
            }
            for (link, to) in [
                ("ptmx", "pts/ptmx"),
                ("fd", "/proc/self/fd"),
                ("stdin", "/proc/self/fd/0"),
                ("stdout", "/proc/self/fd/1"),
                ("stderr", "/proc/self/fd/2"),
            ] {
                std::os::unix::fs::symlink(to, dev.join(link))
                    .map_err(|e| format!("symlink /dev/{link}: {e}"))?;
            }
            Ok(())
        },
    )
}

pub(super) fn pivot(root: &Path) -> R {
    act(
        trace::step(Kind::Mount, "pivot_root", root.display().to_string())
            .field("new_root", root.display().to_string())
            .equivalent(format!(
                "cd {} && pivot_root . . && umount -l .",
                root.display()
            ))
            .syscall("pivot_root(\".\", \".\"); umount2(\".\", MNT_DETACH)"),
        || {
            errs(nix::unistd::chdir(root), "entering the new root")?;
            // Stacking the old root on top of the new one and detaching it
            // needs no put_old directory inside the image.
            errs(nix::unistd::pivot_root(".", "."), "pivot_root")?;
            errs(umount2(".", MntFlags::MNT_DETACH), "detaching the old root")?;
            errs(nix::unistd::chdir("/"), "entering /")
        },
    )
}

pub(super) fn mask_paths(spec: &Spec) -> R {
    let linux = match spec.linux() {
        Some(l) => l,
        None => return Ok(()),
    };
    let masked: Vec<String> = linux.masked_paths().clone().unwrap_or_default();
    let readonly: Vec<String> = linux.readonly_paths().clone().unwrap_or_default();
    act(
        trace::step(Kind::Security, "mask", "masked paths")
            .field("paths", &masked)
            .equivalent(
                "mount --bind /dev/null /proc/kcore  # and a read-only tmpfs over directories",
            )
            .syscall("mount(2)"),
        || {
            let mut hidden = Vec::new();
            for p in &masked {
                let path = Path::new(p);
                let r = match std::fs::metadata(path) {
                    Err(_) => continue,
                    Ok(md) if md.is_dir() => mount(
                        Some("tmpfs"),
                        path,
                        Some("tmpfs"),
                        MsFlags::MS_RDONLY,
                        None::<&str>,
                    ),
                    Ok(_) => mount(
                        Some("/dev/null"),
                        path,
                        None::<&str>,
                        MsFlags::MS_BIND,
                        None::<&str>,
                    ),
                };
                errs(r, &format!("masking {p}"))?;
                hidden.push(p.clone());
            }
            Ok(hidden)
        },
    )?;
    act(
        trace::step(Kind::Security, "readonly", "read-only paths")
            .field("paths", &readonly)
            .equivalent("mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys")
            .syscall("mount(2)"),
        || {
            for p in &readonly {
                let path = Path::new(p);
                if !path.exists() {
                    continue;
                }
                errs(
                    mount(
                        Some(path),
                        path,
                        None::<&str>,
                        MsFlags::MS_BIND | MsFlags::MS_REC,
                        None::<&str>,
                    ),
                    &format!("binding {p}"),
                )?;
                errs(
                    mount(
                        Some(path),
                        path,
                        None::<&str>,
                        MsFlags::MS_BIND
                            | MsFlags::MS_REMOUNT
                            | MsFlags::MS_RDONLY
                            | MsFlags::MS_REC,
                        None::<&str>,
                    ),
                    &format!("making {p} read-only"),
                )?;
            }
            Ok(())
        },
    )
}
