//! The container's root filesystem, as the init builds it: the overlay
//! root, the spec's mounts and volumes, a minimal /dev, `pivot_root`, and
//! the masked and read-only paths.

use super::{act, Fail, Plan, R};
use crate::kernel::{self, apply, describe, Call, Kernel};
use crate::trace::{self, Kind};
use nix::mount::MsFlags;
use oci_spec::runtime::Spec;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Builds the container's root, from a private mount table to the masked
/// paths: the part of the init the recorded-sequence tests check.
pub(super) fn build_root(plan: &Plan, k: &mut dyn Kernel) -> R {
    let private = [kernel::make_rprivate("/")];
    calls_step(k, trace::step(Kind::Mount, "make_private", "/"), &private)?;
    if plan.bundle_root {
        bind_root(&plan.merged, k)?;
    } else {
        mount_overlay(plan, k)?;
    }
    let root = plan.merged.clone();
    {
        let _p = trace::phase("mounts");
        for m in plan.spec.mounts().as_deref().unwrap_or(&[]) {
            if m.typ().as_deref() == Some("bind") {
                mount_volume(plan, &root, m, k)?;
                continue;
            }
            // Root of a user namespace without a cgroup namespace of its
            // own may not mount cgroupfs: the container's cgroups are
            // bound from the host's instead (runc does the same).
            mount_one(&root, m, plan.userns && !plan.new_cgroup_ns, k)?;
            if m.destination() == Path::new("/dev") {
                if plan.userns {
                    bind_devices(&root, k)?;
                } else {
                    make_devices(&root, k)?;
                }
            }
        }
    }
    spec_devices(&plan.spec, &root, plan.userns, k)?;
    // The old root is still there: the runtime's prestart and
    // createRuntime hooks, then createContainer, see both.
    super::park::before_pivot(plan)?;
    if plan.no_pivot {
        move_root(&root, k)?;
    } else {
        pivot(&root, k)?;
    }
    mask_paths(&plan.spec, k)
}

/// The mode, uid and gid to give a node the init made.
type Owner = (u32, Option<u32>, Option<u32>);

/// The spec's `linux.devices`: each character or block device made with
/// `mknod`, then given its `fileMode` and owner (runc's createDevices);
/// each FIFO (`p`) made the same way, without numbers. Root of a user
/// namespace may not make device nodes: there each character or block
/// device is the host's node at the same path, bind-mounted over an
/// empty file (with the host's mode and owner, which the container must
/// not change), as runc does; a FIFO it may still make.
fn spec_devices(spec: &Spec, root: &Path, userns: bool, k: &mut dyn Kernel) -> R {
    use oci_spec::runtime::LinuxDeviceType as T;
    let devices = spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().clone())
        .unwrap_or_default();
    if devices.is_empty() {
        return Ok(());
    }
    // Each device: its calls, and the mode and owner to give a node made.
    let mut plan: Vec<(PathBuf, Call, Option<Owner>)> = Vec::new();
    let mut refused = None;
    for d in &devices {
        let rel = d.path().strip_prefix("/").unwrap_or(d.path());
        let path = root.join(rel);
        let mode = d.file_mode().unwrap_or(0o666) & 0o7777;
        let node = match d.typ() {
            T::C | T::U => kernel::Node::Char,
            T::B => kernel::Node::Block,
            T::P => kernel::Node::Fifo,
            T::A => {
                refused = Some(format!(
                    "linux.devices {}: type \"a\" (all) is for the device cgroup's rules, not a node to make: give c, u, b or p",
                    d.path().display()
                ));
                continue;
            }
        };
        if userns && node != kernel::Node::Fifo {
            plan.push((path.clone(), kernel::bind(d.path(), path, false), None));
            continue;
        }
        let call = Call::Mknod {
            path: path.clone(),
            node,
            mode,
            major: if node == kernel::Node::Fifo {
                0
            } else {
                d.major() as u64
            },
            minor: if node == kernel::Node::Fifo {
                0
            } else {
                d.minor() as u64
            },
        };
        plan.push((path, call, Some((mode, d.uid(), d.gid()))));
    }
    let names: Vec<String> = devices
        .iter()
        .map(|d| d.path().display().to_string())
        .collect();
    let calls: Vec<Call> = plan.iter().map(|(_, c, _)| c.clone()).collect();
    let mut b = trace::step(Kind::Mount, "devices", "linux.devices").field("devices", &names);
    if userns {
        b = b.field(
            "bound_from_host",
            "root of a user namespace may not mknod devices: the host's nodes are bound",
        );
    }
    act(describe(b, &calls), || {
        if let Some(why) = refused {
            return Err(why);
        }
        for (path, c, owner) in &plan {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("creating {}: {e}", dir.display()))?;
            }
            // A device the spec names twice, or one /dev already has, is replaced.
            let _ = std::fs::remove_file(path);
            if let (
                None,
                Call::Mount {
                    source: Some(host), ..
                },
            ) = (owner, c)
            {
                if std::fs::symlink_metadata(host).is_err() {
                    return Err(format!(
                        "linux.devices {host}: in a user namespace the host's node at that path is bound into the container, and the host has none"
                    ));
                }
            }
            if owner.is_none() {
                // The mount point of a bound device: an empty file.
                std::fs::File::create(path)
                    .map_err(|e| format!("creating {}: {e}", path.display()))?;
            }
            apply(k, std::slice::from_ref(c))?;
            if let (Some((mode, uid, gid)), true) = (owner, path.symlink_metadata().is_ok()) {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(*mode))
                    .map_err(|e| format!("chmod {}: {e}", path.display()))?;
                std::os::unix::fs::lchown(path, *uid, *gid)
                    .map_err(|e| format!("chown {}: {e}", path.display()))?;
            }
        }
        Ok(())
    })
}

/// A step that is exactly `calls`: announced with them, then made.
fn calls_step(k: &mut dyn Kernel, b: trace::EventBuilder, calls: &[Call]) -> R {
    act(describe(b, calls), || apply(k, calls))
}

fn mount_overlay(plan: &Plan, k: &mut dyn Kernel) -> R {
    let lowerdir: Vec<&str> = plan.lowers.iter().map(|(d, _)| d.as_str()).collect();
    let data = kernel::userns::overlay_data(&lowerdir, Some((&plan.upper, &plan.work)));
    let layers: Vec<serde_json::Value> = plan
        .lowers
        .iter()
        .map(|(d, g)| serde_json::json!({"dir": d, "digest": g}))
        .collect();
    let b = trace::step(Kind::Mount, "overlay", plan.merged.display().to_string())
        .field("lowerdirs", layers)
        .field("upperdir", plan.upper.display().to_string())
        .field("workdir", plan.work.display().to_string())
        .field("target", plan.merged.display().to_string())
        .field("driver", plan.overlay.name());
    if let kernel::overlay::Driver::Fuse(bin) = &plan.overlay {
        // The same overlay, served by fuse-overlayfs: it makes the mount
        // itself, and stays (in this PID namespace) to serve it.
        let args = kernel::overlay::fuse_args(&lowerdir, &plan.upper, &plan.work, &plan.merged);
        return act(
            b.equivalent(format!("{} {}", bin.display(), args.join(" ")))
                .syscall(format!(
                    "open(\"/dev/fuse\"); mount(\"fuse-overlayfs\", \"{}\", \"fuse.fuse-overlayfs\", MS_NODEV|MS_NOATIME, \"fd=N,rootmode=40000,user_id=0,group_id=0,default_permissions,allow_other\")",
                    plan.merged.display()
                )),
            || kernel::overlay::fuse_mount(bin, &args).map_err(|e| e.to_string()),
        );
    }
    let calls = [kernel::mount_fs("overlay", "overlay", &plan.merged).data(&data)];
    calls_step(k, b, &calls)
}

/// An OCI bundle's root: the directory is bind-mounted onto itself, so
/// it is a mount point `pivot_root` can enter (runc does the same).
fn bind_root(root: &Path, k: &mut dyn Kernel) -> R {
    let calls = [kernel::bind(root, root, true)];
    calls_step(
        k,
        trace::step(Kind::Mount, "bind_root", root.display().to_string())
            .field("target", root.display().to_string()),
        &calls,
    )
}

fn mount_one(
    root: &Path,
    m: &oci_spec::runtime::Mount,
    bind_cgroups: bool,
    k: &mut dyn Kernel,
) -> R {
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
            "rw" | "exec" | "suid" | "dev" => {}
            other => data.push(other.to_string()),
        }
    }
    let data = data.join(",");
    let opts = m.options().clone().unwrap_or_default().join(",");
    if typ == "cgroup" {
        return mount_cgroup(&target, dest, flags, bind_cgroups, k);
    }
    let calls = [kernel::mount_fs(&typ, &source, &target)
        .flags(flags)
        .data(&data)];
    act(
        describe(
            trace::step(Kind::Mount, "mount", dest.display().to_string())
                .field("type", &typ)
                .field("source", &source)
                .field("target", dest.display().to_string())
                .field("options", &opts),
            &calls,
        ),
        || {
            mkdir_p(&target)?;
            apply(k, &calls)
        },
    )
}

fn mkdir_p(p: &Path) -> Result<(), String> {
    std::fs::create_dir_all(p).map_err(|e| format!("creating {}: {e}", p.display()))
}

/// A bundle's `cgroup` mount (runc's convention: the container's view of
/// the host's cgroup hierarchies). On cgroup v2 it is one cgroup2 mount;
/// on v1 a tmpfs holding one mount per hierarchy the host has, each with
/// the host's controller options (`cpu,cpuacct`), then made read-only if
/// asked.
fn mount_cgroup(target: &Path, dest: &Path, flags: MsFlags, bind: bool, k: &mut dyn Kernel) -> R {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let (v2, v1) = cgroup_hierarchies(&info);
    let names: Vec<&str> = v1.iter().map(|(n, _)| n.as_str()).collect();
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    // A bind of the container's own cgroup directory in each hierarchy,
    // then (for `ro`) a read-only remount keeping the other flags.
    let bind_own = |calls: &mut Vec<Call>, host: PathBuf, at: PathBuf| {
        calls.push(kernel::bind(&host, at.clone(), false));
        if flags.contains(MsFlags::MS_RDONLY) {
            calls.push(Call::Mount {
                source: None,
                target: at,
                fstype: None,
                flags: MsFlags::MS_REMOUNT | MsFlags::MS_BIND | flags,
                data: None,
            });
        }
    };
    let mut calls = Vec::new();
    if v2 && bind {
        let path = own_cgroup(&own, "");
        bind_own(
            &mut calls,
            Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/')),
            target.to_path_buf(),
        );
    } else if v2 {
        calls.push(kernel::mount_fs("cgroup2", "cgroup", target).flags(flags));
    } else {
        let rw = flags & !MsFlags::MS_RDONLY;
        calls.push(
            kernel::mount_fs("tmpfs", "cgroup", target)
                .flags(rw)
                .data("mode=755"),
        );
        for (name, opts) in &v1 {
            if bind {
                let path = own_cgroup(&own, opts);
                bind_own(
                    &mut calls,
                    Path::new("/sys/fs/cgroup")
                        .join(name)
                        .join(path.trim_start_matches('/')),
                    target.join(name),
                );
                continue;
            }
            calls.push(
                kernel::mount_fs("cgroup", "cgroup", target.join(name))
                    .flags(flags)
                    .data(opts),
            );
        }
        if flags.contains(MsFlags::MS_RDONLY) {
            calls.push(Call::Mount {
                source: None,
                target: target.to_path_buf(),
                fstype: None,
                flags: MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | rw,
                data: None,
            });
        }
    }
    let mut b = trace::step(Kind::Mount, "cgroupfs", dest.display().to_string())
        .field("version", if v2 { "v2" } else { "v1" })
        .field("hierarchies", &names)
        .field("read_only", flags.contains(MsFlags::MS_RDONLY));
    if bind {
        b = b.field(
            "bound",
            "the container's own cgroups, bound from the host's hierarchies",
        );
    }
    act(describe(b, &calls), || {
        // Each v1 hierarchy's directory is made on the tmpfs once it
        // is mounted, just before its own mount.
        mkdir_p(target)?;
        for c in &calls {
            if let Call::Mount {
                target: dir,
                fstype,
                flags: f,
                ..
            } = c
            {
                let bound = f.contains(MsFlags::MS_BIND) && !f.contains(MsFlags::MS_REMOUNT);
                if fstype.as_deref() == Some("cgroup") || bound {
                    mkdir_p(dir)?;
                }
            }
            apply(k, std::slice::from_ref(c))?;
        }
        Ok(())
    })
}

/// This process's cgroup in the hierarchy whose controllers are `opts`
/// (`cpu`, `name=systemd`; "" for the v2 line `0::PATH`), from
/// /proc/self/cgroup text.
fn own_cgroup(text: &str, opts: &str) -> String {
    let mut want: Vec<&str> = opts.split(',').filter(|o| !o.is_empty()).collect();
    want.sort();
    text.lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctrl, path) = (f.next()?, f.next()?, f.next()?);
            let mut have: Vec<&str> = ctrl.split(',').filter(|o| !o.is_empty()).collect();
            have.sort();
            (have == want).then(|| path.to_string())
        })
        .next()
        .unwrap_or_else(|| "/".into())
}

/// From mountinfo text: whether /sys/fs/cgroup is cgroup2, and each v1
/// hierarchy under it with its controller options.
fn cgroup_hierarchies(info: &str) -> (bool, Vec<(String, String)>) {
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
    // By name, not by the order the host's boot mounted them in, so the
    // same host kind gives the same mounts and the same narration.
    v1.sort();
    (v2, v1)
}

/// A volume or bind mount: fill a new, empty volume with what the image
/// has at that path (as Docker does), bind it, and remount it read-only for
/// `:ro` (a bind mount takes the flags of its source until remounted).
fn mount_volume(plan: &Plan, root: &Path, m: &oci_spec::runtime::Mount, k: &mut dyn Kernel) -> R {
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
    let mut calls = vec![
        kernel::bind(&source, &target, true),
        kernel::make_rprivate(&target),
    ];
    if ro {
        calls.push(kernel::remount_bind_ro(&target));
    }
    act(
        describe(
            trace::step(Kind::Volume, "mount", dest.display().to_string())
                .field("type", kind)
                .field("source", source.display().to_string())
                .field("target", dest.display().to_string())
                .field("read_only", ro),
            &calls,
        ),
        || {
            let md = std::fs::metadata(&source)
                .map_err(|e| format!("bind source {}: {e}", source.display()))?;
            if md.is_dir() {
                mkdir_p(&target)?;
            } else if !target.exists() {
                if let Some(p) = target.parent() {
                    mkdir_p(p)?;
                }
                std::fs::File::create(&target)
                    .map_err(|e| format!("creating {}: {e}", target.display()))?;
            }
            apply(k, &calls)
        },
    )
}

fn dir_is_empty(p: &Path) -> bool {
    std::fs::read_dir(p).map_or(true, |mut d| d.next().is_none())
}

/// The devices every container gets: name, major, minor.
const DEVICES: [(&str, u64, u64); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// The /dev symlinks every container gets.
const DEV_LINKS: [(&str, &str); 5] = [
    ("ptmx", "pts/ptmx"),
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
];

fn dev_links(dev: &Path) -> Result<(), String> {
    for (link, to) in DEV_LINKS {
        std::os::unix::fs::symlink(to, dev.join(link))
            .map_err(|e| format!("symlink /dev/{link}: {e}"))?;
    }
    Ok(())
}

/// Rootless: root of a user namespace may not make device nodes (the
/// kernel keeps `mknod` of real devices for the host's root), so each is
/// an empty file with the host's device bind-mounted over it, as rootless
/// runc and podman do.
fn bind_devices(root: &Path, k: &mut dyn Kernel) -> R {
    let names: Vec<String> = DEVICES.iter().map(|d| format!("/dev/{}", d.0)).collect();
    let dev = root.join("dev");
    let calls: Vec<Call> = DEVICES
        .iter()
        .map(|(name, _, _)| kernel::bind(Path::new("/dev").join(name), dev.join(name), false))
        .collect();
    act(
        describe(
            trace::step(Kind::Mount, "bind_devices", "/dev devices")
                .field("devices", &names)
                .field("why", "root of a user namespace may not mknod devices"),
            &calls,
        ),
        || {
            for (name, _, _) in DEVICES {
                let p = dev.join(name);
                std::fs::File::create(&p).map_err(|e| format!("creating {}: {e}", p.display()))?;
            }
            apply(k, &calls)?;
            dev_links(&dev)
        },
    )
}

fn make_devices(root: &Path, k: &mut dyn Kernel) -> R {
    let devices = DEVICES;
    let names: Vec<String> = devices.iter().map(|d| format!("/dev/{}", d.0)).collect();
    let dev = root.join("dev");
    let calls: Vec<Call> = devices
        .iter()
        .map(|(name, major, minor)| Call::Mknod {
            path: dev.join(name),
            node: kernel::Node::Char,
            mode: 0o666,
            major: *major,
            minor: *minor,
        })
        .collect();
    act(
        describe(
            trace::step(Kind::Mount, "mknod", "/dev devices").field("devices", &names),
            &calls,
        ),
        || {
            for c in &calls {
                apply(k, std::slice::from_ref(c))?;
                // mknod obeys the umask; make the mode exactly 0666.
                if let Call::Mknod { path, .. } = c {
                    if path.exists() {
                        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))
                            .map_err(|e| format!("chmod {}: {e}", path.display()))?;
                    }
                }
            }
            dev_links(&dev)
        },
    )
}

fn pivot(root: &Path, k: &mut dyn Kernel) -> R {
    // Stacking the old root on top of the new one and detaching it needs
    // no put_old directory inside the image.
    let calls = [
        Call::Chdir(root.to_path_buf()),
        Call::PivotRoot {
            new_root: PathBuf::from("."),
            put_old: PathBuf::from("."),
        },
        kernel::detach("."),
        Call::Chdir(PathBuf::from("/")),
    ];
    calls_step(
        k,
        trace::step(Kind::Mount, "pivot_root", root.display().to_string())
            .field("new_root", root.display().to_string()),
        &calls,
    )
}

/// `--no-pivot`, as runc does it: the new root is moved over / and the
/// process chroots into it. The old root stays mounted underneath, which
/// is why pivot_root is the default.
fn move_root(root: &Path, k: &mut dyn Kernel) -> R {
    let calls = [
        Call::Chdir(root.to_path_buf()),
        Call::Mount {
            source: Some(".".into()),
            target: PathBuf::from("/"),
            fstype: None,
            flags: MsFlags::MS_MOVE,
            data: None,
        },
        Call::Chroot(PathBuf::from(".")),
        Call::Chdir(PathBuf::from("/")),
    ];
    calls_step(
        k,
        trace::step(Kind::Mount, "move_root", root.display().to_string())
            .field("new_root", root.display().to_string()),
        &calls,
    )
}

fn mask_paths(spec: &Spec, k: &mut dyn Kernel) -> R {
    let linux = match spec.linux() {
        Some(l) => l,
        None => return Ok(()),
    };
    let masked: Vec<String> = linux.masked_paths().clone().unwrap_or_default();
    let readonly: Vec<String> = linux.readonly_paths().clone().unwrap_or_default();
    // Only what exists in the container can be hidden or made read-only;
    // the calls are decided before the step is announced, so the event
    // lists exactly the calls made.
    let mut hide = Vec::new();
    let mut hidden = Vec::new();
    for p in &masked {
        let path = Path::new(p);
        match std::fs::metadata(path) {
            Err(_) => continue,
            Ok(md) if md.is_dir() => {
                hide.push(kernel::mount_fs("tmpfs", "tmpfs", path).flags(MsFlags::MS_RDONLY))
            }
            Ok(_) => hide.push(kernel::bind("/dev/null", path, false)),
        }
        hidden.push(p.clone());
    }
    act(
        describe(
            trace::step(Kind::Security, "mask", "masked paths").field("paths", &masked),
            &hide,
        ),
        || apply(k, &hide).map(|()| hidden),
    )?;
    let mut lock = Vec::new();
    for p in readonly.iter().filter(|p| Path::new(p).exists()) {
        lock.push(kernel::bind(p, p, true));
        lock.push(Call::Mount {
            source: Some(p.clone()),
            target: PathBuf::from(p),
            fstype: None,
            flags: MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_REC,
            data: None,
        });
    }
    calls_step(
        k,
        trace::step(Kind::Security, "readonly", "read-only paths").field("paths", &readonly),
        &lock,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::Recorder;

    /// A container's plan with everything under `dir`: the root at
    /// `dir/rootfs`, one layer `/l/1`.
    fn plan_in(dir: &Path, spec: Spec) -> Plan {
        Plan {
            merged: dir.join("rootfs"),
            upper: dir.join("upper"),
            work: dir.join("work"),
            lowers: vec![("/l/1".into(), "sha256:a".into())],
            spec,
            volumes_dir: dir.join("volumes"),
            new_cgroup_ns: false,
            io: crate::runtime::Stdio::Inherit,
            bundle_root: false,
            park: None,
            preserve_fds: 0,
            userns: false,
            overlay: Default::default(),
            seccomp: None,
            rlimits: false,
            no_pivot: false,
            nnp_from_spec: false,
            hooks: None,
            new_userns: false,
        }
    }

    /// `--no-pivot`: a bundle's root is moved onto / and chrooted into,
    /// and pivot_root is not called.
    #[test]
    fn no_pivot_moves_the_root_over_slash_and_chroots() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("rootfs");
        std::fs::create_dir_all(&root).unwrap();
        let mut plan = plan_in(t.path(), Spec::default());
        plan.bundle_root = true;
        plan.no_pivot = true;
        plan.spec.set_mounts(Some(Vec::new()));
        let mut k = Recorder::default();
        assert!(build_root(&plan, &mut k).is_ok());
        let r = root.display().to_string();
        let calls = k.syscalls();
        assert_eq!(
            &calls[..6],
            &[
                r#"mount(NULL, "/", NULL, MS_REC|MS_PRIVATE, NULL)"#.to_string(),
                format!(r#"mount("{r}", "{r}", NULL, MS_BIND|MS_REC, NULL)"#),
                format!(r#"chdir("{r}")"#),
                r#"mount(".", "/", NULL, MS_MOVE, NULL)"#.to_string(),
                r#"chroot(".")"#.to_string(),
                r#"chdir("/")"#.to_string(),
            ]
        );
        assert!(
            !calls.iter().any(|c| c.starts_with("pivot_root")),
            "{calls:#?}"
        );
    }

    /// The run's whole mount sequence, recorded instead of made: needs no
    /// root, and fails if a step is reordered, dropped or changes its
    /// arguments.
    #[test]
    fn a_run_builds_its_root_with_exactly_these_calls() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("rootfs");
        let vol = t.path().join("data");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&vol).unwrap();
        let mut mounts = crate::runtime::spec::default_mounts().unwrap();
        mounts.push(
            oci_spec::runtime::MountBuilder::default()
                .destination("/data")
                .typ("bind")
                .source(&vol)
                .options(vec!["rbind".to_string(), "ro".to_string()])
                .build()
                .unwrap(),
        );
        let mut spec = Spec::default();
        spec.set_mounts(Some(mounts));
        let mut plan = plan_in(t.path(), spec);
        plan.lowers = vec![
            ("/l/2".into(), "sha256:b".into()),
            ("/l/1".into(), "sha256:a".into()),
        ];
        let mut k = Recorder::default();
        assert!(build_root(&plan, &mut k).is_ok());
        let r = root.display().to_string();
        let calls = k.syscalls();
        let mut want = vec![
            r#"mount(NULL, "/", NULL, MS_REC|MS_PRIVATE, NULL)"#.to_string(),
            format!(
                r#"mount("overlay", "{r}", "overlay", 0, "lowerdir=/l/2:/l/1,upperdir={0}/upper,workdir={0}/work")"#,
                t.path().display()
            ),
            format!(r#"mount("proc", "{r}/proc", "proc", MS_NOSUID|MS_NODEV|MS_NOEXEC, NULL)"#),
            format!(
                r#"mount("tmpfs", "{r}/dev", "tmpfs", MS_NOSUID|MS_STRICTATIME, "mode=755,size=65536k")"#
            ),
        ];
        for (name, major, minor) in [
            ("null", 1, 3),
            ("zero", 1, 5),
            ("full", 1, 7),
            ("random", 1, 8),
            ("urandom", 1, 9),
            ("tty", 5, 0),
        ] {
            want.push(format!(
                r#"mknod("{r}/dev/{name}", S_IFCHR|0666, makedev({major}, {minor}))"#
            ));
        }
        want.extend([
            format!(r#"mount("devpts", "{r}/dev/pts", "devpts", MS_NOSUID|MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5")"#),
            format!(r#"mount("shm", "{r}/dev/shm", "tmpfs", MS_NOSUID|MS_NODEV|MS_NOEXEC, "mode=1777,size=65536k")"#),
            format!(r#"mount("mqueue", "{r}/dev/mqueue", "mqueue", MS_NOSUID|MS_NODEV|MS_NOEXEC, NULL)"#),
            format!(r#"mount("sysfs", "{r}/sys", "sysfs", MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC, NULL)"#),
        ]);
        // Docker's read-only cgroup view, shaped by this host's hierarchies.
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let cg = format!("{r}/sys/fs/cgroup");
        let ro = "MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC|MS_RELATIME";
        let rw = "MS_NOSUID|MS_NODEV|MS_NOEXEC|MS_RELATIME";
        match cgroup_hierarchies(&info) {
            (true, _) => want.push(format!(r#"mount("cgroup", "{cg}", "cgroup2", {ro}, NULL)"#)),
            (false, v1) => {
                want.push(format!(
                    r#"mount("cgroup", "{cg}", "tmpfs", {rw}, "mode=755")"#
                ));
                for (name, opts) in v1 {
                    want.push(format!(
                        r#"mount("cgroup", "{cg}/{name}", "cgroup", {ro}, "{opts}")"#
                    ));
                }
                want.push(format!(r#"mount(NULL, "{cg}", NULL, MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC|MS_REMOUNT|MS_RELATIME, NULL)"#));
            }
        }
        want.extend([
            format!(
                r#"mount("{}", "{r}/data", NULL, MS_BIND|MS_REC, NULL)"#,
                vol.display()
            ),
            format!(r#"mount(NULL, "{r}/data", NULL, MS_REC|MS_PRIVATE, NULL)"#),
            format!(r#"mount(NULL, "{r}/data", NULL, MS_RDONLY|MS_REMOUNT|MS_BIND, NULL)"#),
            format!(r#"chdir("{r}")"#),
            r#"pivot_root(".", ".")"#.to_string(),
            r#"umount2(".", MNT_DETACH)"#.to_string(),
            r#"chdir("/")"#.to_string(),
        ]);
        assert_eq!(&calls[..want.len()], &want[..]);
        // After the pivot: one call per masked path that exists (here they
        // are the host's, as the test does not pivot), then a bind and a
        // read-only remount per read-only path.
        let linux = plan.spec.linux().as_ref().unwrap();
        let masked = linux.masked_paths().clone().unwrap_or_default();
        let readonly = linux.readonly_paths().clone().unwrap_or_default();
        let rest = &k.calls[want.len()..];
        let hidden: Vec<&str> = masked
            .iter()
            .map(String::as_str)
            .filter(|p| Path::new(p).exists())
            .collect();
        let locked: Vec<&str> = readonly
            .iter()
            .map(String::as_str)
            .filter(|p| Path::new(p).exists())
            .collect();
        assert_eq!(rest.len(), hidden.len() + 2 * locked.len(), "{rest:?}");
        for (c, p) in rest.iter().zip(&hidden) {
            assert!(
                matches!(c, Call::Mount { target, .. } if target == Path::new(p)),
                "{c:?}"
            );
        }
    }

    /// Rootless, the init makes no device node: each device is an empty
    /// file with the host's node bind-mounted over it, and nothing is
    /// mknod'ed.
    #[test]
    fn a_rootless_init_binds_the_hosts_devices_instead_of_making_them() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("rootfs");
        std::fs::create_dir_all(root.join("dev")).unwrap();
        let mut spec = Spec::default();
        spec.set_mounts(Some(crate::runtime::spec::default_mounts().unwrap()));
        let mut plan = plan_in(t.path(), spec);
        plan.userns = true;
        let mut k = Recorder::default();
        assert!(build_root(&plan, &mut k).is_ok());
        let calls = k.syscalls();
        assert!(!calls.iter().any(|c| c.starts_with("mknod")), "{calls:#?}");
        let r = root.display();
        for name in ["null", "zero", "full", "random", "urandom", "tty"] {
            let want = format!(r#"mount("/dev/{name}", "{r}/dev/{name}", NULL, MS_BIND, NULL)"#);
            assert!(calls.contains(&want), "no {want} in {calls:#?}");
            assert!(
                root.join("dev").join(name).is_file(),
                "{name} is not a file"
            );
        }
    }

    /// When the kernel refuses a call, the steps after it are not taken.
    #[test]
    fn a_refused_overlay_mount_stops_the_init_before_anything_else() {
        let t = tempfile::tempdir().unwrap();
        let plan = plan_in(t.path(), Spec::default());
        let mut k = Recorder {
            fail_at: Some(1),
            ..Recorder::default()
        };
        assert!(matches!(build_root(&plan, &mut k), Err(Fail(125))));
        assert_eq!(k.calls.len(), 2, "{:?}", k.syscalls());
    }
}
