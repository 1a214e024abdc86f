//! glassbox as an OCI runtime: the lifecycle of the runtime spec as runc's
//! CLI exposes it (`create`, `start`, `state`, `kill`, `delete`, `run`,
//! `exec`, `ps`, `pause`, `resume`, `features`, `spec`), which podman,
//! containerd's shim and so Kubernetes call.
//!
//! The container is started by the same code as `glassbox run`
//! ([`crate::runtime::bundle`] over the runtime's init: namespaces, mounts,
//! devices, pivot_root, masked paths, rlimits, capabilities,
//! no_new_privs, seccomp), from the
//! bundle's root directory instead of an overlay. Between `create` and
//! `start` the init is parked on `ROOT/ID/exec.fifo`; nobody supervises it
//! afterwards (the caller is its subreaper, as with runc). Every event goes
//! to `ROOT/ID/trace.jsonl` ([`log`]).

mod bundle;
mod error;
mod exec;
pub mod hooks;
pub mod log;
mod ops;
pub mod state;

pub use error::OciError;
pub use exec::{exec, ExecOptions};
pub use ops::{delete, features, kill, list, pause, ps, spec, start, state_json};

use crate::error::IoContext;
use crate::runtime::{self, cgroup, RuntimeError};
use crate::trace::{self, Kind};
use state::Record;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// The default `--root`.
pub const DEFAULT_ROOT: &str = "/run/glassbox-runc";

/// Options of `create` and `run`.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// `--bundle` (default: the current directory).
    pub bundle: PathBuf,
    /// `--pid-file`: where to write the init's PID.
    pub pid_file: Option<PathBuf>,
    /// `--console-socket`: where to send the pty master.
    pub console_socket: Option<PathBuf>,
    /// `--preserve-fds`: descriptors after stdio the process keeps.
    pub preserve_fds: u32,
    /// `--no-pivot`: MS_MOVE the root onto / and chroot, not pivot_root.
    pub no_pivot: bool,
}

/// `create`: makes the container and parks its init before exec.
pub fn create(root: &Path, id: &str, opts: &CreateOptions) -> crate::Result<()> {
    let _p = trace::phase("create");
    make(root, id, opts, true).map(|_| ())
}

/// `run`: creates and starts the container; without `detach`, waits for
/// it, deletes it and returns its exit code (runc's).
pub fn run(root: &Path, id: &str, opts: &CreateOptions, detach: bool) -> crate::Result<i32> {
    let _p = trace::phase("run");
    let (rec, spec) = make(root, id, opts, false)?;
    let st = rec.oci_state(state::Status::Running);
    if let Err(e) = hooks::run_in(hooks::Point::Poststart, &spec, &st, Some(&rec.bundle)) {
        warn(&e);
    }
    if detach {
        return Ok(0);
    }
    let code = loop {
        use nix::sys::wait::{waitpid, WaitStatus};
        match waitpid(nix::unistd::Pid::from_raw(rec.pid), None) {
            Err(nix::errno::Errno::EINTR) => continue,
            Ok(WaitStatus::Exited(_, c)) => break c,
            Ok(WaitStatus::Signaled(_, s, _)) => break 128 + s as i32,
            Ok(_) => continue,
            Err(e) => {
                return Err(RuntimeError::Kernel {
                    what: format!("waiting for container init {}", rec.pid),
                    errno: e,
                }
                .into())
            }
        }
    };
    trace::fact(Kind::Process, "exit", format!("container {id}"))
        .field("code", code)
        .field("pid", rec.pid)
        .field("oom_killed", false)
        .info();
    ops::delete(root, id, true)?;
    Ok(code)
}

/// Records an error that does not fail the command (poststart and
/// poststop hooks, per the spec) as an event.
fn warn(e: &crate::Error) {
    trace::fact(Kind::Process, "warning", "runtime")
        .field("error", e.to_string())
        .info();
}

/// Makes the container: checks the bundle, makes its directory (the ID's
/// claim), cgroup and init. On any error, everything made is undone.
fn make(
    root: &Path,
    id: &str,
    opts: &CreateOptions,
    park: bool,
) -> crate::Result<(Record, oci_spec::runtime::Spec)> {
    state::check_id(id)?;
    let b = bundle::load(&opts.bundle)?;
    std::fs::create_dir_all(root).ctx(|| format!("creating {}", root.display()))?;
    let dir = state::dir(root, id);
    match std::fs::create_dir(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(OciError::Exists(id.to_string()).into())
        }
        Err(e) => return Err(e).ctx(|| format!("creating {}", dir.display())),
    }
    let mut undo = Undo {
        dir: dir.clone(),
        cgroup: None,
        pid: None,
    };
    let init_trace = log::attach(&state::trace_file(root, id))
        .ctx(|| format!("opening {}", state::trace_file(root, id).display()))?;
    trace::fact(Kind::Process, "bundle", format!("container {id}"))
        .field("bundle", b.dir.display().to_string())
        .field("rootfs", b.rootfs.display().to_string())
        .field("args", b.spec.process().as_ref().map(|p| p.args().clone()))
        .field("state", dir.display().to_string())
        .equivalent(format!("jq . {}/config.json", b.dir.display()))
        .info();
    let cg = bundle::cgroup(&b.spec, id)?;
    {
        let _p = trace::phase("cgroup");
        cg.create(&mut cgroup::HostFs, &bundle::limits(&b.spec))?;
    }
    undo.cgroup = Some(cg.clone());
    let park_fds = if park {
        Some((
            open_fifo(&state::fifo(root, id))?,
            OwnedFd::from(init_trace),
        ))
    } else {
        None
    };
    let console = match &opts.console_socket {
        Some(p) => Some(
            std::os::unix::net::UnixStream::connect(p)
                .map_err(|e| OciError::ConsoleSocket(p.display().to_string(), e.to_string()))?,
        ),
        None => None,
    };
    let io = match &console {
        Some(s) => runtime::Stdio::Tty(runtime::tty::TtyPlan {
            sock: s.as_raw_fd(),
            rows: 0,
            cols: 0,
        }),
        None => runtime::Stdio::Inherit,
    };
    let mut rec = Record {
        id: id.to_string(),
        pid: 0,
        start_time: 0,
        bundle: b.dir.clone(),
        rootfs: b.rootfs.clone(),
        created: crate::store::container::now(),
        cgroup: cg.name.clone(),
        annotations: b
            .spec
            .annotations()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect(),
    };
    // The spec's order (and runc's): prestart, then createRuntime, on
    // the host while the init waits after its mounts; then the init's
    // own createContainer, before pivot_root.
    let mut runtime_hooks = |pid: i32| -> crate::Result<()> {
        let mut r = rec.clone();
        r.pid = pid;
        let st = r.oci_state(state::Status::Creating);
        hooks::run_in(hooks::Point::Prestart, &b.spec, &st, Some(&b.dir))?;
        hooks::run_in(hooks::Point::CreateRuntime, &b.spec, &st, Some(&b.dir))
    };
    let any = |p: hooks::Point| !p.of(&b.spec).is_empty();
    let pid = runtime::bundle::spawn(runtime::bundle::Launch {
        spec: &b.spec,
        rootfs: &b.rootfs,
        cgroup: &cg,
        io,
        park: park_fds,
        preserve_fds: opts.preserve_fds,
        no_pivot: opts.no_pivot,
        hook_state: b
            .spec
            .hooks()
            .is_some()
            .then(|| rec.oci_state(state::Status::Creating)),
        runtime_hooks: (any(hooks::Point::Prestart) || any(hooks::Point::CreateRuntime))
            .then_some(&mut runtime_hooks as &mut dyn FnMut(i32) -> crate::Result<()>),
    })?;
    drop(console);
    undo.pid = Some(pid);
    rec.pid = pid;
    rec.start_time = state::proc_stat(pid).map(|s| s.1).unwrap_or(0);
    rec.save(root)?;
    if let Some(p) = &opts.pid_file {
        write_pid_file(p, pid)?;
    }
    undo.dir = PathBuf::new();
    Ok((rec, b.spec))
}

/// Makes the exec FIFO and opens it read-write for the init: opening a
/// FIFO read-write never blocks, and `start` can then open it for writing.
fn open_fifo(p: &Path) -> crate::Result<OwnedFd> {
    use nix::fcntl::OFlag;
    use nix::sys::stat::Mode;
    nix::unistd::mkfifo(p, Mode::from_bits_truncate(0o600)).map_err(|e| RuntimeError::Kernel {
        what: format!("mkfifo {}", p.display()),
        errno: e,
    })?;
    nix::fcntl::open(p, OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty()).map_err(|e| {
        RuntimeError::Kernel {
            what: format!("opening {}", p.display()),
            errno: e,
        }
        .into()
    })
}

/// Writes the PID file as runc does: a temp file, then a rename, so a
/// caller polling for it never reads half a number.
fn write_pid_file(p: &Path, pid: i32) -> crate::Result<()> {
    let tmp = p.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, pid.to_string()).ctx(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, p).ctx(|| format!("renaming {}", tmp.display()))
}

/// What a failed `create` or `run` undoes: the init it started (by PID),
/// the cgroup and the container's directory.
struct Undo {
    dir: PathBuf,
    cgroup: Option<cgroup::Cgroup>,
    pid: Option<i32>,
}

impl Drop for Undo {
    fn drop(&mut self) {
        if self.dir.as_os_str().is_empty() {
            return;
        }
        if let Some(pid) = self.pid {
            let pid = nix::unistd::Pid::from_raw(pid);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
        }
        if let Some(cg) = &self.cgroup {
            let _ = cg.remove(&mut cgroup::HostFs);
        }
        log::detach();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
