//! What an OCI bundle's init does beyond `glassbox run`'s: join the
//! namespaces the spec names by path, wait while the runtime runs its
//! prestart and createRuntime hooks, run the createContainer and
//! startContainer hooks ([`Hooks`]), and wait between `create` and
//! `start` ([`Park`]).

use super::{act, Fail, Plan, R};
use crate::kernel;
use crate::trace::{self, Kind};
use oci_spec::runtime::Spec;

/// How an OCI runtime's init waits between `create` and `start`: it
/// reports that it is ready, moves its events from the relay pipe (whose
/// reader, `create`, is about to exit) to the container's trace file, and
/// blocks on the exec FIFO until `start` writes a byte to it, as runc's
/// `exec.fifo` does.
#[derive(Debug, Clone, Copy)]
pub struct Park {
    /// The write end of the ready pipe; the init writes `r` and closes it.
    pub ready: std::os::fd::RawFd,
    /// The exec FIFO, opened read-write (so opening never blocks).
    pub fifo: std::os::fd::RawFd,
    /// The container's trace file, opened for appending.
    pub trace: std::os::fd::RawFd,
}

/// What the init needs for a bundle's hooks.
#[derive(Debug, Clone)]
pub struct Hooks {
    /// The state JSON the in-container hooks get (its `pid` and `status`
    /// are set when each runs: the init's own PID, as runc gives).
    pub state: serde_json::Value,
    /// Set when the spec has prestart or createRuntime hooks: the read
    /// end of a pipe the runtime writes `g` to once they have run (the
    /// init says it waits with a `process.wait_hooks` event).
    pub wait: Option<std::os::fd::RawFd>,
}

/// The event the runtime waits for before it runs its prestart and
/// createRuntime hooks (`Kind::Process`).
pub const WAIT_HOOKS: &str = "wait_hooks";

/// Runs one point's hooks from the init, with the init's PID in the
/// state; a failed hook fails the init (its step records why).
fn in_container(plan: &Plan, point: &str, status: &str, cwd: Option<&std::path::Path>) -> R {
    let Some(h) = &plan.hooks else {
        return Ok(());
    };
    let Some(all) = plan.spec.hooks() else {
        return Ok(());
    };
    let list = match point {
        "createContainer" => all.create_container(),
        _ => all.start_container(),
    };
    let list = list.clone().unwrap_or_default();
    if list.is_empty() {
        return Ok(());
    }
    let mut state = h.state.clone();
    state["pid"] = std::process::id().into();
    state["status"] = status.into();
    crate::runtime::hooks::run(point, &list, &state, cwd).map_err(|f| {
        eprintln!("glassbox-runc: {point} hook {} failed: {}", f.path, f.why);
        Fail(125)
    })
}

/// After the mounts, before pivot_root: waits while the runtime runs
/// the prestart and createRuntime hooks (they see the container's mounts
/// under its root on the host), then runs the createContainer hooks in
/// the container's namespaces, with the root directory as their working
/// directory and the host's root still at / (runc's order).
pub(super) fn before_pivot(plan: &Plan) -> R {
    let Some(h) = &plan.hooks else {
        return Ok(());
    };
    if let Some(fd) = h.wait {
        use std::io::Read;
        use std::os::fd::FromRawFd;
        trace::fact(Kind::Process, WAIT_HOOKS, "container init")
            .field("pid", std::process::id())
            .equivalent("runc create  # runs prestart and createRuntime hooks here")
            .syscall("read(2) on a pipe from the runtime")
            .info();
        // SAFETY: the parent opened this pipe end for this init alone;
        // it is owned (and closed) once, here.
        let mut go = unsafe { std::fs::File::from_raw_fd(fd) };
        let mut b = [0u8; 1];
        if go.read_exact(&mut b).is_err() || b[0] != b'g' {
            // The runtime's hook failed: it ends this init.
            return Err(Fail(125));
        }
    }
    in_container(plan, "createContainer", "creating", Some(&plan.merged))
}

/// After `start` (or at once for `run`), as the container's user and
/// inside its root, right before exec: the startContainer hooks.
pub(super) fn start_container_hooks(plan: &Plan) -> R {
    in_container(plan, "startContainer", "created", None)
}

/// In the container's new user namespace, whose maps the runtime wrote
/// before it let the init go on: becomes its uid and gid 0 (the init
/// was cloned as the host's root, which the maps need not name, so until
/// now it was the overflow id 65534), as runc's init does.
pub(super) fn become_root() -> R {
    let host = |f: &str| {
        std::fs::read_to_string(format!("/proc/self/{f}"))
            .ok()
            .and_then(|t| {
                t.lines()
                    .map(|l| l.split_whitespace().collect::<Vec<_>>())
                    .find(|w| w.first() == Some(&"0"))
                    .and_then(|w| w.get(1).map(|s| s.to_string()))
            })
            .unwrap_or_else(|| "none".into())
    };
    act(
        trace::step(Kind::Namespace, "become_root", "user namespace")
            .field("host_uid", host("uid_map"))
            .field("host_gid", host("gid_map"))
            .equivalent("setpriv --reuid 0 --regid 0 --clear-groups")
            .syscall("setresgid(0, 0, 0), setgroups(0, NULL), setresuid(0, 0, 0)"),
        || {
            // The raw system calls, as for the process's own user (see
            // `setuid` in the init): no glibc thread broadcast.
            // SAFETY: integer arguments only.
            let r = unsafe { libc::syscall(libc::SYS_setresgid, 0, 0, 0) };
            nix::errno::Errno::result(r).map_err(|e| {
                format!("setresgid(0) in the user namespace (is 0 in linux.gidMappings?): {e}")
            })?;
            // SAFETY: an empty list.
            let r = unsafe { libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<u32>()) };
            nix::errno::Errno::result(r).map_err(|e| format!("setgroups: {e}"))?;
            // SAFETY: integer arguments only.
            let r = unsafe { libc::syscall(libc::SYS_setresuid, 0, 0, 0) };
            nix::errno::Errno::result(r).map_err(|e| {
                format!("setresuid(0) in the user namespace (is 0 in linux.uidMappings?): {e}")
            })?;
            Ok(())
        },
    )
}

/// Joins the namespaces the spec names by path (a pod's network
/// namespace, say), before anything else: what follows happens in them.
pub(super) fn join_namespaces(spec: &Spec) -> R {
    // A PID namespace is joined by the parent before clone (setns on a
    // PID namespace moves only the children).
    let mut list: Vec<_> = crate::runtime::namespaces::to_join(spec)
        .into_iter()
        .filter(|(n, _)| n.name != "pid")
        .collect();
    // A user namespace first: the others may belong to it.
    list.sort_by_key(|(n, _)| n.name != "user");
    for (n, path) in list {
        let f = std::fs::File::open(&path).map_err(|e| {
            trace::fact(Kind::Namespace, "setns", format!("{} namespace", n.name))
                .field("path", path.display().to_string())
                .field("error", format!("opening {}: {e}", path.display()))
                .info();
            Fail(125)
        })?;
        let calls = [kernel::Call::Setns {
            fd: std::os::fd::AsRawFd::as_raw_fd(&f),
            path: path.clone(),
            nstype: n.clone,
        }];
        act(
            kernel::describe(
                trace::step(Kind::Namespace, "setns", format!("{} namespace", n.name))
                    .field("path", path.display().to_string())
                    .field("flag", n.flag),
                &calls,
            ),
            || kernel::apply(&mut kernel::Host, &calls),
        )?;
    }
    Ok(())
}

/// Waits for `start` (see [`Park`]).
pub(super) fn park(p: Park) -> R {
    use std::io::{Read, Write};
    use std::os::fd::FromRawFd;
    trace::fact(Kind::Process, "wait_start", "container init")
        .field("pid", std::process::id())
        .equivalent("runc start ID")
        .syscall("read(exec.fifo)")
        .info();
    // SAFETY: the three descriptors were opened by the parent for this
    // init alone and are not used anywhere else in it; each is owned once.
    let (mut ready, mut fifo, trace_file) = unsafe {
        (
            std::fs::File::from_raw_fd(p.ready),
            std::fs::File::from_raw_fd(p.fifo),
            std::fs::File::from_raw_fd(p.trace),
        )
    };
    // The later events go to the trace file: `create` stops reading.
    trace::set_relay(trace::relay::RelayWriter::new(trace_file, None));
    ready.write_all(b"r").map_err(|_| Fail(125))?;
    drop(ready);
    let mut b = [0u8; 1];
    loop {
        match fifo.read(&mut b) {
            Ok(1) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            _ => return Err(Fail(125)),
        }
    }
}
