//! `exec`: another process in a running container, described by a
//! process JSON (`--process`, what podman and containerd's shim pass) or
//! by the command line, started by the runtime's exec code
//! ([`crate::runtime::bundle::exec_in`]).

use super::state::Status;
use super::{bundle, state, OciError};
use crate::runtime::cgroup::Layout;
use crate::runtime::RuntimeError;
use crate::trace::{self, Kind};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// Options of `exec`.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    /// `--process`: a process JSON file.
    pub process: Option<PathBuf>,
    /// The command, when there is no `--process`.
    pub args: Vec<String>,
    /// `--env`.
    pub env: Vec<String>,
    /// `--cwd`.
    pub cwd: Option<PathBuf>,
    /// `--tty`.
    pub tty: bool,
    /// `--console-socket`.
    pub console_socket: Option<PathBuf>,
    /// `--detach`.
    pub detach: bool,
    /// `--pid-file`.
    pub pid_file: Option<PathBuf>,
}

/// Runs the process; returns its exit code (0 with `detach`).
pub fn exec(root: &Path, id: &str, opts: &ExecOptions) -> crate::Result<i32> {
    let _p = trace::phase("exec");
    let rec = state::Record::load(root, id)?;
    let cg = bundle::cgroup_at(Layout::detect()?, Some(&rec.cgroup), id);
    let status = rec.status(root, &cg);
    if status != Status::Running {
        return Err(OciError::NotRunning(id.to_string(), status.as_str()).into());
    }
    let config = rec.bundle.join("config.json");
    let spec: oci_spec::runtime::Spec = std::fs::read_to_string(&config)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
        .map_err(|e| OciError::BadConfig(rec.bundle.display().to_string(), e))?;
    let process = match &opts.process {
        Some(p) => std::fs::read_to_string(p)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
            .map_err(|e| OciError::BadProcess(p.display().to_string(), e))?,
        None => {
            if opts.args.is_empty() {
                return Err(crate::Error::Usage(
                    "exec needs a command or --process FILE: glassbox-runc exec ID sh -c 'ps'"
                        .into(),
                ));
            }
            let mut p = spec.process().clone().unwrap_or_default();
            p.set_args(Some(opts.args.clone()));
            let mut env = p.env().clone().unwrap_or_default();
            env.extend(opts.env.iter().cloned());
            p.set_env(Some(env));
            if let Some(c) = &opts.cwd {
                p.set_cwd(c.clone());
            }
            p.set_terminal(Some(opts.tty));
            p
        }
    };
    let wants_tty = process.terminal() == Some(true);
    let console = match (&opts.console_socket, wants_tty) {
        (Some(p), true) => Some(
            std::os::unix::net::UnixStream::connect(p)
                .map_err(|e| OciError::ConsoleSocket(p.display().to_string(), e.to_string()))?,
        ),
        (None, true) => return Err(crate::Error::Usage(
            "a terminal (--tty or process.terminal) needs --console-socket SOCKET to send it to"
                .into(),
        )),
        _ => None,
    };
    let _ = super::log::attach(&state::trace_file(root, id));
    // Joining the container's mount namespace hides the host's paths from
    // this process: the PID file's directory is opened before.
    let pid_dir = match &opts.pid_file {
        Some(p) => Some(PidDir::open(p)?),
        None => None,
    };
    let child = crate::runtime::bundle::exec_in(
        rec.pid,
        &cg,
        &spec,
        &process,
        console.as_ref().map(|s| s.as_raw_fd()),
    )?;
    drop(console);
    if let Some(d) = &pid_dir {
        d.write(child)?;
    }
    if opts.detach {
        return Ok(0);
    }
    let code = loop {
        use nix::sys::wait::{waitpid, WaitStatus};
        match waitpid(nix::unistd::Pid::from_raw(child), None) {
            Err(nix::errno::Errno::EINTR) => continue,
            Ok(WaitStatus::Exited(_, c)) => break c,
            Ok(WaitStatus::Signaled(_, s, _)) => break 128 + s as i32,
            Ok(_) => continue,
            Err(e) => {
                return Err(RuntimeError::Kernel {
                    what: format!("waiting for exec'd process {child}"),
                    errno: e,
                }
                .into())
            }
        }
    };
    trace::fact(Kind::Process, "exit", format!("exec in {id}"))
        .field("code", code)
        .field("pid", child)
        .field("oom_killed", false)
        .info();
    Ok(code)
}

/// A PID file's directory, held open across `setns(2)`.
struct PidDir {
    dir: std::fs::File,
    name: std::ffi::OsString,
    path: PathBuf,
}

impl PidDir {
    fn open(p: &Path) -> crate::Result<PidDir> {
        let parent = p.parent().filter(|d| !d.as_os_str().is_empty());
        let dir = std::fs::File::open(parent.unwrap_or(Path::new("."))).map_err(|e| {
            crate::Error::Io {
                context: format!("opening the directory of {}", p.display()),
                source: e,
            }
        })?;
        Ok(PidDir {
            dir,
            name: p.file_name().unwrap_or_default().to_os_string(),
            path: p.to_path_buf(),
        })
    }

    /// Writes a temp file and renames it, both relative to the directory.
    fn write(&self, pid: i32) -> crate::Result<()> {
        use nix::fcntl::{openat, renameat, OFlag};
        use nix::sys::stat::Mode;
        use std::io::Write;
        let mut tmp = self.name.clone();
        tmp.push(".tmp");
        let err = |e: nix::errno::Errno| crate::Error::Io {
            context: format!("writing {}", self.path.display()),
            source: e.into(),
        };
        let fd = openat(
            &self.dir,
            tmp.as_os_str(),
            OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_TRUNC | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o644),
        )
        .map_err(err)?;
        std::fs::File::from(fd)
            .write_all(pid.to_string().as_bytes())
            .map_err(|e| crate::Error::Io {
                context: format!("writing {}", self.path.display()),
                source: e,
            })?;
        renameat(&self.dir, tmp.as_os_str(), &self.dir, self.name.as_os_str()).map_err(err)
    }
}
