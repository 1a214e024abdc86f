//! The runtime CLI's errors. Callers match on runc's words (podman looks
//! for "does not exist" when it deletes, for instance), so each message
//! starts with what runc says and goes on with what to do.

/// An error of `glassbox-runc`.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// The bundle has no config.json.
    #[error("JSON specification file config.json not found in {0}: write one with `glassbox-runc spec --bundle {0}`")]
    NoConfig(String),
    /// config.json is not a runtime spec.
    #[error("config.json in {0} is not a valid OCI runtime spec: {1}; fix it or start again from `glassbox-runc spec`")]
    BadConfig(String, String),
    /// The spec's root directory is missing.
    #[error("invalid rootfs: stat {0}: no such file or directory; unpack the image there (umoci unpack, or glassbox's layers) or fix root.path in config.json")]
    BadRootfs(String),
    /// The spec asks for something this runtime cannot do.
    #[error("unsupported in config.json: {0}")]
    Unsupported(String),
    /// An ID is taken.
    #[error("container with given ID already exists: {0}; pick another ID or `glassbox-runc delete {0}` first")]
    Exists(String),
    /// No container by that ID.
    #[error("container does not exist: {0}; `glassbox-runc list` shows the ones there are")]
    NotExist(String),
    /// An ID that cannot name a directory.
    #[error("invalid container ID {0:?}: use letters, digits and _ + - . only")]
    BadId(String),
    /// state.json could not be read back.
    #[error(
        "the state file {0} is damaged ({1}); `glassbox-runc delete --force` removes the container"
    )]
    BadState(String, String),
    /// The command needs a live container.
    #[error("container not running: {0} is {1}")]
    NotRunning(String, &'static str),
    /// `start` on a container that is not `created`.
    #[error("cannot start a container that is {1}: {0}; only a created container starts (`glassbox-runc run` makes and starts a new one)")]
    CannotStart(String, &'static str),
    /// `delete` on a live container.
    #[error("cannot delete container {0} that is not stopped: {1}; kill it first or add --force")]
    CannotDelete(String, &'static str),
    /// A signal name or number that does not exist.
    #[error("invalid signal {0:?}: give a name (KILL, SIGTERM) or a number (9)")]
    BadSignal(String),
    /// `--systemd-cgroup`.
    #[error("--systemd-cgroup is not supported: glassbox-runc writes cgroupfs itself; drop the flag (podman: --cgroup-manager cgroupfs)")]
    SystemdCgroup,
    /// The console socket could not be used.
    #[error("cannot use the console socket {0}: {1}")]
    ConsoleSocket(String, String),
    /// `exec --process` names a file that is not a process JSON.
    #[error("process file {0} is not a valid OCI process: {1}")]
    BadProcess(String, String),
    /// `glassbox trace ID` found no trace.
    #[error("no trace of container {0} under {1}: give the runtime's root with --runc-root (podman's and containerd's may differ)")]
    NoTrace(String, String),
    /// A hook failed.
    #[error("{0} hook {1} failed: {2}")]
    Hook(&'static str, String, String),
}
