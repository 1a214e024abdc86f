//! What can go wrong while making or running a container.

/// A runtime error; each message names the thing and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// Neither the image nor the command line gives a command.
    #[error(
        "no command to run: the image has no CMD or ENTRYPOINT; give one after the image name"
    )]
    NoCommand,
    /// `-w` with a relative path.
    #[error("working directory {0:?} is relative; give an absolute path such as /app")]
    RelativeWorkdir(String),
    /// `-u` that is not `UID[:GID]`.
    #[error("user {0:?} is not USER[:GROUP]; give names or numbers such as -u 1000:1000")]
    BadUser(String),
    /// `-u NAME` that the image's /etc/passwd (or /etc/group) does not list.
    #[error("unable to find user {0:?}: no matching entry in the image's /etc/{1}; give a name the image knows or numbers such as -u 1000:1000")]
    UnknownUser(String, &'static str),
    /// `--restart` that is not a known policy.
    #[error("restart policy {0:?} is not no, on-failure[:N], always or unless-stopped")]
    BadRestart(String),
    /// `--restart` together with `--rm`.
    #[error("--restart and --rm conflict: a container removed when it exits cannot be restarted; choose one")]
    RestartWithRm,
    /// `-e` without `=` and not set on the host.
    #[error("environment entry {0:?} is not KEY=VALUE; write -e KEY=VALUE")]
    BadEnv(String),
    /// A layer directory given as rootfs does not exist.
    #[error("layer directory {0} does not exist; unpack the image first")]
    MissingLayer(String),
    /// No cgroup filesystem is mounted.
    #[error("no cgroup filesystem found in /proc/self/mountinfo; mount cgroup2 at /sys/fs/cgroup")]
    NoCgroups,
    /// A capability name Linux does not have.
    #[error("unknown capability {0:?}; use a name such as NET_ADMIN or SYS_PTRACE (see capabilities(7)), or ALL")]
    BadCapability(String),
    /// `--tmpfs` that is not `/DIR[:OPTIONS]`.
    #[error("--tmpfs {0:?} is not a directory inside the container; write it like /scratch or /scratch:size=64m")]
    BadTmpfs(String),
    /// `pause` where this process may make no cgroup (rootless).
    #[error("pause freezes a container's cgroup, and this container has none: {0}")]
    NoFreezer(String),
    /// `--memory` that is not a size.
    #[error("memory limit {0:?} is not a size; write it like 64m or 1g")]
    BadMemory(String),
    /// `--memory` below what the kernel accepts.
    #[error("memory limit {0:?} is below the minimum of 6m that the kernel needs to run a container; give at least 6m")]
    MemoryTooSmall(String),
    /// `--name` already taken.
    #[error("the name {0:?} is already in use by container {1}; remove it with `glassbox rm {0}` or choose another name")]
    NameInUse(String, String),
    /// A lifecycle move not allowed from the current state.
    #[error("container {name} is {state}, so it cannot be {verb}; {hint}")]
    IllegalMove {
        /// Container name.
        name: String,
        /// Its current state.
        state: &'static str,
        /// What was asked ("removed", "stopped").
        verb: &'static str,
        /// The command that would work.
        hint: String,
    },
    /// The shim did not report the start in time.
    #[error("container {0} did not start: {1}")]
    StartFailed(String, String),
    /// The spec could not be built.
    #[error("cannot build the runtime spec: {0}")]
    Spec(#[from] oci_spec::OciSpecError),
    /// A kernel call failed in the parent.
    #[error("{what}: {errno}")]
    Kernel {
        /// What was being done.
        what: String,
        /// The kernel's answer.
        errno: nix::errno::Errno,
    },
    /// `linux.seccomp` cannot be compiled into a filter.
    #[error("cannot load the seccomp profile in linux.seccomp: {0}")]
    Seccomp(#[from] super::seccomp::SeccompError),
}

/// Adds what was being done to a kernel error.
pub(crate) trait KernelContext<T> {
    fn kctx(self, what: impl FnOnce() -> String) -> Result<T, RuntimeError>;
}

impl<T> KernelContext<T> for nix::Result<T> {
    fn kctx(self, what: impl FnOnce() -> String) -> Result<T, RuntimeError> {
        self.map_err(|errno| RuntimeError::Kernel {
            what: what(),
            errno,
        })
    }
}
