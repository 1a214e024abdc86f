//! Starting a container from an OCI bundle, for `glassbox-runc create` and
//! `run`: the same `clone`, cgroup join, start byte and init
//! ([`super::init`]) as `glassbox run`, with the bundle's own root
//! directory instead of an overlay, the caller's stdio, and (for `create`)
//! an init that parks before exec until `start` ([`super::init::Park`]).

use super::error::KernelContext;
use super::{cgroup, init, namespaces, RuntimeError, Stdio};
use crate::trace::{self, Kind};
use oci_spec::runtime::Spec;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

/// What [`spawn`] needs besides the spec.
pub struct Launch<'a> {
    /// The bundle's config.json, parsed.
    pub spec: &'a Spec,
    /// The bundle's root directory (absolute).
    pub rootfs: &'a Path,
    /// The container's cgroup, already made.
    pub cgroup: &'a cgroup::Cgroup,
    /// Where the init's stdio goes.
    pub(crate) io: Stdio,
    /// For `create`: the exec FIFO (opened read-write) and the trace file
    /// (opened for appending) the parked init takes over.
    pub park: Option<(OwnedFd, OwnedFd)>,
    /// `--preserve-fds`: the caller's descriptors 3..3+N the process keeps.
    pub preserve_fds: u32,
    /// `--no-pivot`: move the root onto / and chroot instead of pivot_root.
    pub no_pivot: bool,
    /// The state JSON the container's own hooks (createContainer,
    /// startContainer) get, when the spec has hooks.
    pub hook_state: Option<serde_json::Value>,
    /// The runtime's prestart and createRuntime hooks, given the init's
    /// PID: run after the init's mounts, before its pivot_root, while it
    /// waits (runc's order). An error ends the init.
    pub runtime_hooks: Option<&'a mut dyn FnMut(i32) -> crate::Result<()>>,
}

/// Clones the container's init and waits until it has execed the command
/// (no park: the caller waits for its exit code) or is parked before exec;
/// returns its host PID. A parked init that failed during setup is reaped
/// and its error returned.
pub fn spawn(l: Launch) -> crate::Result<i32> {
    use nix::fcntl::OFlag;
    let all = namespaces::in_spec(l.spec);
    let names: Vec<_> = all.iter().filter(|n| n.name != "cgroup").copied().collect();
    let flags = names
        .iter()
        .fold(nix::sched::CloneFlags::empty(), |a, n| a | n.clone);
    let new_cgroup_ns = all.iter().any(|n| n.name == "cgroup");
    join_pid_namespace(l.spec)?;
    let (ev_r, ev_w) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).kctx(|| "making the event pipe".into())?;
    let (sync_r, sync_w) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).kctx(|| "making the start pipe".into())?;
    let (ready_r, ready_w) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).kctx(|| "making the ready pipe".into())?;
    let park = l.park.as_ref().map(|(fifo, trace)| init::Park {
        ready: ready_w.as_raw_fd(),
        fifo: fifo.as_raw_fd(),
        trace: trace.as_raw_fd(),
    });
    let parks = park.is_some();
    let hooks_pipe = match l.runtime_hooks {
        Some(_) => {
            Some(nix::unistd::pipe2(OFlag::O_CLOEXEC).kctx(|| "making the hooks pipe".into())?)
        }
        None => None,
    };
    let hooks = l.hook_state.clone().map(|state| init::Hooks {
        state,
        wait: hooks_pipe.as_ref().map(|(r, _)| r.as_raw_fd()),
    });
    // Compiled here, so a profile the compiler refuses fails the command
    // before anything is cloned.
    let seccomp = super::seccomp::for_spec(l.spec).map_err(RuntimeError::from)?;
    let plan = init::Plan::for_bundle(
        l.spec,
        l.rootfs,
        new_cgroup_ns,
        l.io,
        init::BundleOptions {
            park,
            preserve_fds: l.preserve_fds,
            seccomp,
            no_pivot: l.no_pivot,
            hooks,
        },
    );
    let step = trace::step(Kind::Process, "clone", "container init")
        .field("flags", names.iter().map(|n| n.flag).collect::<Vec<_>>())
        .field("rootfs", l.rootfs.display().to_string())
        .equivalent(format!(
            "unshare {} --fork",
            names
                .iter()
                .map(|n| n.unshare)
                .collect::<Vec<_>>()
                .join(" ")
        ))
        .syscall(format!(
            "clone({}|SIGCHLD)",
            names.iter().map(|n| n.flag).collect::<Vec<_>>().join("|")
        ))
        .announce()?;
    let mut ev_w = Some(ev_w);
    let mut sync_r = Some(sync_r);
    let mut stack = vec![0u8; 1 << 20];
    let cb = Box::new(|| -> isize {
        let w = trace::relay::RelayWriter::new(
            std::fs::File::from(ev_w.take().expect("event pipe")),
            None,
        );
        trace::set_relay(w);
        init::run(
            &plan,
            std::fs::File::from(sync_r.take().expect("start pipe")),
        ) as isize
    });
    // SAFETY: the process is single-threaded here (the runtime CLI starts
    // no threads), so the child may allocate; the stack outlives the clone
    // call because the child never returns into this frame (it execs or
    // exits).
    let pid = unsafe { nix::sched::clone(cb, &mut stack, flags, Some(libc::SIGCHLD)) };
    let pid = match pid {
        Ok(p) => p,
        Err(e) => {
            let err = RuntimeError::Kernel {
                what: "clone into new namespaces".into(),
                errno: e,
            };
            step.failed(&err);
            return Err(err.into());
        }
    };
    let mut step = step;
    step.field("pid", pid.as_raw());
    step.done();
    // Our copies of the child's ends go, so EOF means the child let go.
    drop(ev_w.take());
    drop(sync_r.take());
    drop(ready_w);
    drop(l.park);
    let hooks_go = hooks_pipe.map(|(r, w)| {
        drop(r);
        w
    });
    let kill = |e: crate::Error| -> crate::Error {
        // The init is ours and still waiting: end it, by its PID.
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(pid, None);
        e
    };
    let joined = {
        let _p = trace::phase("cgroup");
        l.cgroup.join(&mut cgroup::HostFs, pid.as_raw())
    };
    joined.map_err(kill)?;
    let inodes: Vec<String> = names
        .iter()
        .map(|n| {
            std::fs::read_link(format!("/proc/{}/ns/{}", pid, n.proc_name))
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        })
        .collect();
    for (n, inode) in names.iter().zip(inodes) {
        trace::fact(Kind::Namespace, "create", format!("{} namespace", n.name))
            .field("flag", n.flag)
            .field("unshare", n.unshare)
            .field("ns", inode)
            .field("pid", pid.as_raw())
            .equivalent(format!("lsns -p {pid}"))
            .info();
    }
    if names.iter().any(|n| n.name == "user") {
        map_ids(pid.as_raw(), l.spec).map_err(kill)?;
    }
    let _ = std::fs::File::from(sync_w).write_all(b"s");
    let mut reader = trace::relay::RelayReader::new(std::fs::File::from(ev_r), None);
    if let (Some(run_hooks), Some(go)) = (l.runtime_hooks, hooks_go) {
        let waits = reader
            .pump_until(|ev| ev.kind == Kind::Process && ev.action == init::WAIT_HOOKS)
            .unwrap_or(false);
        if waits {
            run_hooks(pid.as_raw()).map_err(kill)?;
            let _ = std::fs::File::from(go).write_all(b"g");
        }
    }
    let _ = reader.pump();
    let why = reader.last_error().map(String::from);
    drop(reader);
    if parks {
        let mut b = [0u8; 1];
        let ok = std::fs::File::from(ready_r).read_exact(&mut b).is_ok() && b[0] == b'r';
        if !ok {
            return Err(setup_failed(pid, why));
        }
    }
    Ok(pid.as_raw())
}

/// The text of a `/proc/PID/uid_map` (or gid_map): one `inside outside
/// count` line per mapping.
pub(crate) fn id_map_text(maps: &[oci_spec::runtime::LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// Writes the new user namespace's id maps from `linux.uidMappings` and
/// `gidMappings`, as runc does for a root caller (no newuidmap: root of
/// the host may map any ids). The init waits for the start byte, so it
/// runs nothing in the namespace before its ids mean something.
fn map_ids(pid: i32, spec: &Spec) -> crate::Result<()> {
    let linux = spec.linux().as_ref();
    let uids = id_map_text(
        &linux
            .and_then(|l| l.uid_mappings().clone())
            .unwrap_or_default(),
    );
    let gids = id_map_text(
        &linux
            .and_then(|l| l.gid_mappings().clone())
            .unwrap_or_default(),
    );
    let line = |t: &str| t.trim_end().replace('\n', ", ");
    let s = trace::step(Kind::Namespace, "map_ids", "user namespace")
        .field("pid", pid)
        .field("uid_map", line(&uids))
        .field("gid_map", line(&gids))
        .equivalent(format!(
            "printf '{}' > /proc/{pid}/uid_map; printf '{}' > /proc/{pid}/gid_map",
            uids.replace('\n', "\\n"),
            gids.replace('\n', "\\n")
        ))
        .syscall(format!(
            "write(/proc/{pid}/uid_map), write(/proc/{pid}/gid_map)"
        ))
        .announce()?;
    let write = |file: &str, text: &str| -> crate::Result<()> {
        let p = format!("/proc/{pid}/{file}");
        // One write(2) for the whole map: the kernel takes a map once.
        std::fs::write(&p, text).map_err(|e| crate::Error::Io {
            context: format!("writing {p} ({})", line(text)),
            source: e,
        })
    };
    s.finish_with(write("uid_map", &uids).and_then(|()| write("gid_map", &gids)))?;
    Ok(())
}

/// Joins the PID namespace the spec names by path, in this process: a PID
/// namespace set with setns(2) is the one its next children are born in.
fn join_pid_namespace(spec: &Spec) -> crate::Result<()> {
    for (n, path) in namespaces::to_join(spec)
        .into_iter()
        .filter(|(n, _)| n.name == "pid")
    {
        let f = namespaces::open(&path)?;
        namespaces::join(
            &n,
            &path,
            &f,
            trace::step(Kind::Namespace, "setns", format!("{} namespace", n.name))
                .field("path", path.display().to_string())
                .field("flag", n.flag),
        )?;
    }
    Ok(())
}

/// Reaps an init that ended before exec and says why: the error its last
/// failed step relayed (as runc's `exec: "nope": executable file not
/// found`, which containerd's shim shows), else its exit status.
fn setup_failed(pid: nix::unistd::Pid, why: Option<String>) -> crate::Error {
    let code = match nix::sys::wait::waitpid(pid, None) {
        Ok(nix::sys::wait::WaitStatus::Exited(_, c)) => c,
        _ => 125,
    };
    let reason = match why {
        Some(e) => format!("unable to start container process: {e}"),
        None => format!("the init exited with status {code} before running the process (see its trace for the step that failed)"),
    };
    RuntimeError::StartFailed("init".into(), reason).into()
}

/// `glassbox-runc exec`: starts `process` in the running container whose
/// init is `pid`, as `glassbox exec` does (its cgroup, `setns(2)` into each
/// of its namespaces, a fork so the child lands in its PID namespace, the
/// spec's capabilities, no_new_privs, uid and gid), with the caller's
/// stdio or a terminal sent over `console`. Returns the child's host PID;
/// the caller waits for it or leaves it (`--detach`).
pub fn exec_in(
    pid: i32,
    cg: &cgroup::Cgroup,
    spec: &Spec,
    process: &oci_spec::runtime::Process,
    console: Option<std::os::fd::RawFd>,
) -> crate::Result<i32> {
    cg.join(&mut cgroup::HostFs, std::process::id() as i32)?;
    let mut list: Vec<namespaces::NamespaceInfo> = namespaces::in_spec(spec)
        .into_iter()
        .chain(namespaces::to_join(spec).into_iter().map(|(n, _)| n))
        .collect();
    // The user namespace first: the container's other namespaces belong
    // to it, and joining them needs its capabilities.
    list.sort_by_key(|n| n.name != "user");
    // The container's filter binds what is exec'd into it too (runc's
    // setns init loads it the same way).
    let seccomp = super::seccomp::for_spec(spec).map_err(RuntimeError::from)?;
    namespaces::join_all(pid, &list)?;
    let mut with_process = spec.clone();
    with_process.set_process(Some(process.clone()));
    let args = process.args().clone().unwrap_or_default();
    let env = process.env().clone().unwrap_or_default();
    let path_var = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .to_string();
    let s = trace::step(
        Kind::Process,
        "exec",
        args.first().cloned().unwrap_or_default(),
    )
    .field("args", &args)
    .field("env", &env)
    .equivalent(format!("nsenter --target {pid} --all {}", args.join(" ")))
    .syscall("fork(2), execve(2)")
    .announce()?;
    // SAFETY: the runtime CLI is single-threaded, so the child may run Rust
    // code (allocation included) between fork and exec.
    let forked = unsafe { nix::unistd::fork() }.map_err(|e| RuntimeError::Kernel {
        what: "fork".into(),
        errno: e,
    });
    match s.finish_with(forked)? {
        nix::unistd::ForkResult::Parent { child } => Ok(child.as_raw()),
        nix::unistd::ForkResult::Child => {
            let code = exec_child(
                &with_process,
                process,
                &args,
                &env,
                &path_var,
                console,
                seccomp.as_ref(),
            );
            // SAFETY: _exit ends the forked child without running the
            // parent's destructors or flushing its buffers twice.
            unsafe { libc::_exit(code) }
        }
    }
}

/// The forked child of [`exec_in`]; returns only when it could not exec.
fn exec_child(
    spec: &Spec,
    process: &oci_spec::runtime::Process,
    args: &[String],
    env: &[String],
    path_var: &str,
    console: Option<std::os::fd::RawFd>,
    seccomp: Option<&super::seccomp::Filter>,
) -> i32 {
    use crate::kernel::{self, Call};
    use std::ffi::CString;
    trace::clear_relay();
    if nix::unistd::chdir(process.cwd()).is_err() {
        eprintln!("glassbox-runc: cannot enter {}", process.cwd().display());
        return 125;
    }
    if let Some(sock) = console {
        if let Err(e) = super::tty::open_in_container(sock, 0, 0) {
            eprintln!("glassbox-runc: {e}");
            return 125;
        }
    }
    let program = match init::resolve(&args[0], path_var) {
        Ok(p) => p,
        Err((c, why)) => {
            eprintln!("glassbox-runc: {why}");
            return c;
        }
    };
    let (rlimits, _) = init::rlimit_calls(process.rlimits().as_deref().unwrap_or(&[]));
    if let Err(e) = kernel::apply(&mut kernel::Host, &rlimits) {
        eprintln!("glassbox-runc: setting process.rlimits: {e}");
        return 125;
    }
    let nnp = process.no_new_privileges() != Some(false);
    let filter = seccomp.map(|f| {
        [Call::Seccomp {
            program: f.program.clone(),
            flags: f.flags,
        }]
    });
    let load = |f: &[Call; 1]| -> Result<(), i32> {
        kernel::apply(&mut kernel::Host, f).map_err(|e| {
            eprintln!("glassbox-runc: loading the seccomp filter: {e}");
            125
        })
    };
    // Without no_new_privs only CAP_SYS_ADMIN may load a filter.
    if let (Some(f), false) = (&filter, nnp) {
        if let Err(c) = load(f) {
            return c;
        }
    }
    if let Err(c) = init::drop_capabilities(spec) {
        return c;
    }
    if nnp {
        // SAFETY: prctl with integer arguments.
        unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    }
    init::clean_slate_for_exec();
    let u = process.user();
    let _ = nix::unistd::setgroups(&[]);
    if nix::unistd::setgid(nix::unistd::Gid::from_raw(u.gid())).is_err()
        || nix::unistd::setuid(nix::unistd::Uid::from_raw(u.uid())).is_err()
    {
        return 125;
    }
    if let (Some(f), true) = (&filter, nnp) {
        if let Err(c) = load(f) {
            return c;
        }
    }
    let c = |v: &[String]| -> Vec<CString> {
        v.iter()
            .map(|x| CString::new(x.as_str()).unwrap_or_default())
            .collect()
    };
    let prog = CString::new(program.as_os_str().as_encoded_bytes()).unwrap_or_default();
    let e = nix::unistd::execve(&prog, &c(args), &c(env)).unwrap_err();
    eprintln!("glassbox-runc: cannot execute {}: {e}", program.display());
    if e == nix::errno::Errno::ENOENT {
        127
    } else {
        126
    }
}
