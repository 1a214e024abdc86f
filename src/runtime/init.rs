//! The container's init, between `clone` and `exec`: it makes the mount
//! table private, mounts the overlay root, the spec's mounts and device
//! nodes, pivots into the new root, masks paths, brings `lo` up, sets the
//! hostname, drops capabilities, sets no_new_privs, and execs the user's
//! command. Every step is an event relayed to the parent.
//!
//! Errors here cannot be returned to the parent as values: each failed step
//! records its error in the trace and the init exits with Docker's codes
//! (125 setup failed, 126 not executable, 127 not found).

use super::{ContainerDir, Rootfs};
use crate::trace::{self, Kind};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use oci_spec::runtime::Spec;
use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Everything the init needs, prepared before `clone`.
pub struct Plan {
    merged: PathBuf,
    upper: PathBuf,
    work: PathBuf,
    lowers: Vec<(String, String)>,
    spec: Spec,
    volumes_dir: PathBuf,
    new_cgroup_ns: bool,
    io: super::Stdio,
}

impl Plan {
    /// Gathers the plan from the container directory and spec.
    pub fn new(
        dir: &ContainerDir,
        spec: &Spec,
        rootfs: &Rootfs,
        new_cgroup_ns: bool,
        io: super::Stdio,
    ) -> Plan {
        Plan {
            merged: dir.merged(),
            upper: dir.upper(),
            work: dir.work(),
            lowers: rootfs
                .lowers
                .iter()
                .map(|l| (l.dir.display().to_string(), l.digest.clone()))
                .collect(),
            spec: spec.clone(),
            volumes_dir: dir
                .path
                .parent()
                .and_then(Path::parent)
                .map(crate::volume::volumes_dir)
                .unwrap_or_default(),
            new_cgroup_ns,
            io,
        }
    }
}

struct Fail(i32);

type R<T = ()> = Result<T, Fail>;

/// Runs a step: announce, do, record; on error the init fails with 125.
fn act<T>(b: trace::EventBuilder, f: impl FnOnce() -> Result<T, String>) -> R<T> {
    let s = b.announce().map_err(|_| Fail(125))?;
    s.finish_with(f()).map_err(|_| Fail(125))
}

fn errs<T>(r: nix::Result<T>, what: &str) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {e}"))
}

/// The init's body; returns the exit status when it could not exec. It
/// first waits for the parent's start byte on `start` (sent once the init
/// is in its cgroup).
pub fn run(plan: &Plan, mut start: std::fs::File) -> i32 {
    use std::io::Read;
    let mut b = [0u8; 1];
    if start.read_exact(&mut b).is_err() {
        return 125;
    }
    drop(start);
    match plan.io {
        super::Stdio::Inherit { stdin: true } => {}
        super::Stdio::Inherit { stdin: false } => {
            // Without -i the container reads nothing, as with docker.
            // SAFETY: open and dup2 only change this process's fd table.
            unsafe {
                let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY);
                libc::dup2(null, 0);
            }
        }
        super::Stdio::Log(out, err) => {
            // A detached container writes into the shim's log pipes and
            // reads nothing.
            // SAFETY: out and err are pipe ends the shim opened and kept
            // alive across clone; dup2 only changes this process's fd table.
            unsafe {
                let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY);
                libc::dup2(null, 0);
                libc::dup2(out, 1);
                libc::dup2(err, 2);
            }
        }
        // The terminal is opened once /dev/pts is mounted (see below).
        super::Stdio::Tty(_) => {}
    }
    let _p = trace::phase("init");
    match setup_and_exec(plan) {
        Ok(()) => 0,
        Err(Fail(c)) => c,
    }
}

fn setup_and_exec(plan: &Plan) -> R {
    if plan.new_cgroup_ns {
        act(
            trace::step(Kind::Namespace, "unshare", "cgroup namespace")
                .field("flag", "CLONE_NEWCGROUP")
                .field("unshare", "--cgroup")
                .equivalent("unshare --cgroup")
                .syscall("unshare(CLONE_NEWCGROUP)"),
            || {
                errs(
                    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP),
                    "unsharing the cgroup namespace",
                )
            },
        )?;
    }
    act(
        trace::step(Kind::Mount, "make_private", "/")
            .equivalent("mount --make-rprivate /")
            .syscall("mount(NULL, \"/\", NULL, MS_REC|MS_PRIVATE, NULL)"),
        || {
            errs(
                mount(
                    None::<&str>,
                    "/",
                    None::<&str>,
                    MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                    None::<&str>,
                ),
                "making / private",
            )
        },
    )?;
    mount_overlay(plan)?;
    let root = plan.merged.clone();
    {
        let _p = trace::phase("mounts");
        for m in plan.spec.mounts().as_deref().unwrap_or(&[]) {
            if m.typ().as_deref() == Some("bind") {
                mount_volume(plan, &root, m)?;
                continue;
            }
            mount_one(&root, m)?;
            if m.destination() == Path::new("/dev") {
                make_devices(&root)?;
            }
        }
    }
    pivot(&root)?;
    mask_paths(&plan.spec)?;
    if let super::Stdio::Tty(t) = plan.io {
        act(
            trace::step(Kind::Process, "tty", "pseudo-terminal")
                .field("rows", t.rows)
                .field("cols", t.cols)
                .equivalent("script -q /dev/null  # a shell on a new pty")
                .syscall("open(\"/dev/ptmx\"), sendmsg(SCM_RIGHTS), setsid(2), ioctl(TIOCSCTTY)"),
            || super::tty::open_in_container(t.sock, t.rows, t.cols).map(|_| ()),
        )?;
    }
    if plan.spec.root().as_ref().and_then(|r| r.readonly()) == Some(true) {
        act(
            trace::step(Kind::Mount, "remount_ro", "/")
                .equivalent("mount -o remount,ro,bind /")
                .syscall("mount(\"/\", \"/\", NULL, MS_REMOUNT|MS_BIND|MS_RDONLY, NULL)"),
            || {
                errs(
                    mount(
                        None::<&str>,
                        "/",
                        None::<&str>,
                        MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY,
                        None::<&str>,
                    ),
                    "remounting / read-only",
                )
            },
        )?;
    }
    if let Some(h) = plan.spec.hostname() {
        act(
            trace::step(Kind::Namespace, "sethostname", format!("hostname {h}"))
                .field("hostname", h)
                .equivalent(format!("hostname {h}"))
                .syscall("sethostname(2)"),
            || errs(nix::unistd::sethostname(h), "setting the hostname"),
        )?;
    }
    let has_net = super::namespaces::in_spec(&plan.spec)
        .iter()
        .any(|n| n.name == "net");
    if has_net {
        act(
            trace::step(Kind::Network, "link_up", "lo")
                .field("interface", "lo")
                .equivalent("ip link set lo up")
                .syscall("ioctl(SIOCSIFFLAGS, IFF_UP)"),
            loopback_up,
        )?;
    }
    let process = plan.spec.process().clone().ok_or(Fail(125))?;
    let args = process.args().clone().unwrap_or_default();
    let env = process.env().clone().unwrap_or_default();
    let path_var = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .to_string();
    let program = match resolve(&args[0], &path_var) {
        Ok(p) => p,
        Err((code, reason)) => {
            trace::fact(Kind::Process, "exec", args[0].clone())
                .field("args", &args)
                .field("error", &reason)
                .field("code", code)
                .info();
            eprintln!("glassbox: {reason}");
            return Err(Fail(code));
        }
    };
    // Docker creates a working directory the image does not have.
    let missing = !process.cwd().exists();
    act(
        trace::step(Kind::Process, "chdir", process.cwd().display().to_string())
            .field("cwd", process.cwd().display().to_string())
            .field("created", missing)
            .syscall(if missing {
                "mkdir(2), chdir(2)"
            } else {
                "chdir(2)"
            }),
        || {
            if missing {
                std::fs::create_dir_all(process.cwd()).map_err(|e| {
                    format!(
                        "creating the working directory {}: {e}",
                        process.cwd().display()
                    )
                })?;
            }
            errs(
                nix::unistd::chdir(process.cwd()),
                "changing to the working directory",
            )
        },
    )?;
    drop_caps(&plan.spec)?;
    act(
        trace::step(Kind::Security, "no_new_privs", "no_new_privs")
            .equivalent("setpriv --no-new-privs")
            .syscall("prctl(PR_SET_NO_NEW_PRIVS, 1)"),
        || {
            // SAFETY: prctl with integer arguments touches no memory of ours.
            let r = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
            errs(nix::errno::Errno::result(r), "setting no_new_privs").map(|_| ())
        },
    )?;
    let user = process.user();
    let (uid, gid) = (user.uid(), user.gid());
    act(
        trace::step(Kind::Security, "setuid", format!("uid {uid} gid {gid}"))
            .field("uid", uid)
            .field("gid", gid)
            .equivalent(format!(
                "setpriv --reuid {uid} --regid {gid} --clear-groups"
            ))
            .syscall("setgroups(2), setgid(2), setuid(2)"),
        || {
            errs(nix::unistd::setgroups(&[]), "clearing groups")?;
            errs(
                nix::unistd::setgid(nix::unistd::Gid::from_raw(gid)),
                "setgid",
            )?;
            errs(
                nix::unistd::setuid(nix::unistd::Uid::from_raw(uid)),
                "setuid",
            )
        },
    )?;
    let cargs: Vec<CString> = args
        .iter()
        .map(|a| CString::new(a.as_str()).unwrap_or_default())
        .collect();
    let cenv: Vec<CString> = env
        .iter()
        .map(|a| CString::new(a.as_str()).unwrap_or_default())
        .collect();
    let cprog = CString::new(program.as_os_str().as_encoded_bytes()).unwrap_or_default();
    let s = trace::step(Kind::Process, "exec", program.display().to_string())
        .field("args", &args)
        .field("env", &env)
        .syscall("execve(2)")
        .announce()
        .map_err(|_| Fail(125))?;
    // From here on the relay pipe closes at exec (close-on-exec); the
    // step's done half cannot be sent after exec, so close it now.
    s.done();
    let wants_init = plan
        .spec
        .annotations()
        .as_ref()
        .is_some_and(|a| a.contains_key(super::spec::INIT_ANNOTATION));
    if wants_init {
        return super::pid1::run(&cprog, &cargs, &cenv).map_err(Fail);
    }
    let e = nix::unistd::execve(&cprog, &cargs, &cenv).unwrap_err();
    let code = if e == nix::errno::Errno::ENOENT {
        127
    } else {
        126
    };
    eprintln!("glassbox: cannot execute {}: {e}", program.display());
    trace::fact(Kind::Process, "exec", program.display().to_string())
        .field("error", e.to_string())
        .field("code", code)
        .info();
    Err(Fail(code))
}

/// Looks `cmd` up in the container's PATH (execve does not search).
pub(crate) fn resolve(cmd: &str, path: &str) -> Result<PathBuf, (i32, String)> {
    let check = |p: &Path| -> Result<PathBuf, (i32, String)> {
        let md = std::fs::metadata(p).map_err(|e| {
            (
                127,
                format!(
                    "{}: no such file or directory in the image ({e})",
                    p.display()
                ),
            )
        })?;
        if md.is_dir() || md.permissions().mode() & 0o111 == 0 {
            return Err((
                126,
                format!("{}: permission denied: not an executable file", p.display()),
            ));
        }
        Ok(p.to_path_buf())
    };
    if cmd.contains('/') {
        return check(Path::new(cmd));
    }
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let p = Path::new(dir).join(cmd);
        if p.exists() {
            return check(&p);
        }
    }
    Err((
        127,
        format!("{cmd:?}: executable file not found in $PATH ({path})"),
    ))
}

fn mount_overlay(plan: &Plan) -> R {
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

fn mount_one(root: &Path, m: &oci_spec::runtime::Mount) -> R {
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

/// A volume or bind mount: fill a new, empty volume with what the image
/// has at that path (as Docker does), bind it, and remount it read-only for
/// `:ro` (a bind mount takes the flags of its source until remounted).
fn mount_volume(plan: &Plan, root: &Path, m: &oci_spec::runtime::Mount) -> R {
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

fn make_devices(root: &Path) -> R {
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

fn pivot(root: &Path) -> R {
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

fn mask_paths(spec: &Spec) -> R {
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

fn loopback_up() -> Result<(), String> {
    // SAFETY: a plain socket(2) call; the fd is owned and closed below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(format!("socket: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: fd is a socket we just opened and own.
    let sock = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    use std::os::fd::AsRawFd;
    // SAFETY: ifreq is plain data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (i, b) in b"lo".iter().enumerate() {
        req.ifr_name[i] = *b as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads and writes only `req`, which lives here.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(format!(
            "reading lo flags: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: the flags member is the active one after SIOCGIFFLAGS.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: SIOCSIFFLAGS reads only `req`.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(format!(
            "setting lo up: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

fn cap_number(c: &oci_spec::runtime::Capability) -> Option<u32> {
    let name = serde_json::to_value(c).ok()?.as_str()?.to_string();
    const NAMES: [&str; 41] = [
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_DAC_READ_SEARCH",
        "CAP_FOWNER",
        "CAP_FSETID",
        "CAP_KILL",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETPCAP",
        "CAP_LINUX_IMMUTABLE",
        "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST",
        "CAP_NET_ADMIN",
        "CAP_NET_RAW",
        "CAP_IPC_LOCK",
        "CAP_IPC_OWNER",
        "CAP_SYS_MODULE",
        "CAP_SYS_RAWIO",
        "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE",
        "CAP_SYS_PACCT",
        "CAP_SYS_ADMIN",
        "CAP_SYS_BOOT",
        "CAP_SYS_NICE",
        "CAP_SYS_RESOURCE",
        "CAP_SYS_TIME",
        "CAP_SYS_TTY_CONFIG",
        "CAP_MKNOD",
        "CAP_LEASE",
        "CAP_AUDIT_WRITE",
        "CAP_AUDIT_CONTROL",
        "CAP_SETFCAP",
        "CAP_MAC_OVERRIDE",
        "CAP_MAC_ADMIN",
        "CAP_SYSLOG",
        "CAP_WAKE_ALARM",
        "CAP_BLOCK_SUSPEND",
        "CAP_AUDIT_READ",
        "CAP_PERFMON",
        "CAP_BPF",
        "CAP_CHECKPOINT_RESTORE",
    ];
    NAMES.iter().position(|n| *n == name).map(|i| i as u32)
}

pub(crate) fn drop_capabilities(spec: &Spec) -> Result<(), i32> {
    drop_caps(spec).map_err(|Fail(c)| c)
}

fn drop_caps(spec: &Spec) -> R {
    let caps = spec
        .process()
        .as_ref()
        .and_then(|p| p.capabilities().clone())
        .ok_or(Fail(125))?;
    let keep: Vec<u32> = caps
        .bounding()
        .as_ref()
        .map(|b| b.iter().filter_map(cap_number).collect())
        .unwrap_or_default();
    let mut names: Vec<String> = caps
        .bounding()
        .as_ref()
        .map(|b| b.iter().map(|c| c.to_string()).collect())
        .unwrap_or_default();
    names.sort();
    act(
        trace::step(Kind::Security, "capabilities", "capability set")
            .field("kept", &names)
            .equivalent(format!(
                "capsh --caps=\"{}+ep\" --",
                names.join(",").to_lowercase()
            ))
            .syscall("prctl(PR_CAPBSET_DROP), capset(2)"),
        || {
            let last: u32 = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(40);
            let mut mask: u64 = 0;
            for c in 0..=last {
                if keep.contains(&c) {
                    mask |= 1 << c;
                    continue;
                }
                // SAFETY: prctl with integer arguments.
                let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, c as libc::c_ulong, 0, 0, 0) };
                if r < 0 {
                    return Err(format!(
                        "dropping capability {c}: {}",
                        std::io::Error::last_os_error()
                    ));
                }
            }
            #[repr(C)]
            struct Header {
                version: u32,
                pid: i32,
            }
            #[repr(C)]
            #[derive(Clone, Copy)]
            struct Data {
                effective: u32,
                permitted: u32,
                inheritable: u32,
            }
            let hdr = Header {
                version: 0x2008_0522,
                pid: 0,
            };
            let lo = mask as u32;
            let hi = (mask >> 32) as u32;
            let data = [
                Data {
                    effective: lo,
                    permitted: lo,
                    inheritable: 0,
                },
                Data {
                    effective: hi,
                    permitted: hi,
                    inheritable: 0,
                },
            ];
            // SAFETY: capset reads one header and two data structs (version
            // 3 layout), both alive for the call.
            let r = unsafe { libc::syscall(libc::SYS_capset, &hdr, data.as_ptr()) };
            if r < 0 {
                return Err(format!("capset: {}", std::io::Error::last_os_error()));
            }
            Ok(())
        },
    )
}
