//! A container's recorded state (`ROOT/containers/ID/state.json`): what the
//! shim and the commands agree on. Writes are write-temp-then-rename, so a
//! reader never sees half a file.
//!
//! The record sits in the store, below runtime, network and volume: the
//! runtime writes it, network and volume read it (a container's ports,
//! addresses, mounts), and none of them needs to import another to do so.

mod parts;

pub use parts::{Binding, Driver, Endpoint, MountRecord, PortState, Proto, RestartPolicy};

use super::StoreError;
use crate::error::IoContext;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The lifecycle states, as `docker inspect` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Made, never started.
    Created,
    /// The process runs.
    Running,
    /// Frozen.
    Paused,
    /// Being restarted by its policy.
    Restarting,
    /// The process ended.
    Exited,
    /// Its supervisor died without recording an exit.
    Dead,
}

impl Status {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }
}

/// Everything recorded about one container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    /// Full id.
    pub id: String,
    /// Name (unique in the root).
    pub name: String,
    /// Image reference as typed.
    pub image: String,
    /// Creation time (RFC 3339).
    pub created: String,
    /// Current status.
    pub status: Status,
    /// Host PID of the container's init while it runs.
    pub pid: Option<i32>,
    /// PID of the supervising shim.
    pub shim_pid: Option<i32>,
    /// Exit code once exited.
    pub exit_code: Option<i32>,
    /// Whether the kernel OOM-killed it.
    pub oom_killed: bool,
    /// Start time (RFC 3339).
    pub started_at: Option<String>,
    /// End time (RFC 3339).
    pub finished_at: Option<String>,
    /// An error that stopped it from starting.
    pub error: Option<String>,
    /// Remove when it exits (--rm).
    pub auto_remove: bool,
    /// Resource limits.
    #[serde(default)]
    pub limits: LimitsRecord,
    /// The lowerdirs (topmost first) with their digests.
    pub lowers: Vec<(PathBuf, String)>,
    /// The restart policy the shim applies.
    #[serde(default)]
    pub restart_policy: RestartPolicy,
    /// How many times the shim restarted it.
    #[serde(default)]
    pub restart_count: u32,
    /// Volumes and bind mounts.
    #[serde(default)]
    pub mounts: Vec<MountRecord>,
    /// Published ports (`-p`, `-P`) and the image's exposed ports.
    #[serde(default)]
    pub ports: PortState,
    /// `--network` as given: "bridge", "none", "host" or a network's name.
    #[serde(default)]
    pub network_mode: String,
    /// Its place on each network: address, gateway, MAC, aliases, veth.
    #[serde(default)]
    pub networks: Vec<Endpoint>,
    /// `-i` on a detached container (docker's `OpenStdin`): its stdin is a
    /// pipe its shim keeps open for clients that attach.
    #[serde(default)]
    pub open_stdin: bool,
    /// docker's `StdinOnce` (`docker run -i` sets it): when the first
    /// attached client closes its stdin, the container's stdin closes too.
    #[serde(default)]
    pub stdin_once: bool,
}

/// The resource limits (`runtime::cgroup::Limits`) in a serialisable form.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct LimitsRecord {
    /// Bytes.
    pub memory: Option<u64>,
    /// CPUs.
    pub cpus: Option<f64>,
    /// Max pids.
    pub pids: Option<i64>,
}

/// A new 64-hex-digit id (containers, networks, execs), as Docker's.
pub fn new_id() -> crate::Result<String> {
    let mut b = [0u8; 32];
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .ctx(|| "reading /dev/urandom for a container id".into())?;
    Ok(hex::encode(b))
}

/// Now, RFC 3339 with nanoseconds, UTC.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// `root/containers`.
pub fn containers_dir(root: &Path) -> PathBuf {
    root.join("containers")
}

impl State {
    /// Reads `dir/state.json`.
    pub fn load(dir: &Path) -> crate::Result<State> {
        let p = dir.join("state.json");
        let text = std::fs::read(&p).ctx(|| format!("reading {}", p.display()))?;
        serde_json::from_slice(&text)
            .map_err(std::io::Error::other)
            .ctx(|| format!("parsing {}", p.display()))
    }

    /// Writes `dir/state.json` atomically.
    pub fn save(&self, dir: &Path) -> crate::Result<()> {
        let p = dir.join("state.json");
        let tmp = dir.join(format!("state.json.{}", std::process::id()));
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other);
        std::fs::write(&tmp, json.ctx(|| "serialising state".into())?)
            .ctx(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &p).ctx(|| format!("renaming {}", tmp.display()))
    }

    /// The status as it really is: "running" with a dead shim is `Dead`.
    pub fn observed(&self) -> Status {
        match self.status {
            Status::Running | Status::Paused | Status::Restarting => {
                let alive = self.shim_pid.is_some_and(|p| {
                    nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), None).is_ok()
                });
                if alive {
                    self.status
                } else {
                    Status::Dead
                }
            }
            s => s,
        }
    }
}

impl State {
    /// Records that the container's init runs as host PID `pid` (saved to
    /// `dir`) and journals the `start`. A failed save is the caller's to
    /// ignore: the process runs either way.
    pub fn started(&mut self, dir: &Path, pid: i32) -> crate::Result<()> {
        self.status = Status::Running;
        self.pid = Some(pid);
        self.started_at = Some(now());
        let r = self.save(dir);
        let root = root_of(dir);
        // Each named volume it mounts, as dockerd's `volume mount`.
        for m in self.mounts.iter().filter(|m| m.kind == "volume") {
            let Some(name) = &m.name else { continue };
            let attrs = [
                ("container", self.id.clone()),
                ("destination", m.destination.clone()),
                ("driver", "local".to_string()),
                ("propagation", String::new()),
                ("read/write", m.rw.to_string()),
            ];
            crate::store::journal::record(root, "volume", "mount", name, &attrs);
        }
        self.journal(root, "start", &[]);
        r
    }

    /// Appends a container event for this container to the store's
    /// journal (what `docker events` shows): its name and image, and
    /// `extra` (`exitCode`, `signal`).
    pub fn journal(&self, root: &Path, action: &str, extra: &[(&str, String)]) {
        // The container's labels (kept beside its record by the daemon's
        // create) are attributes too, as in docker's events.
        let labels: std::collections::BTreeMap<String, String> =
            std::fs::read(containers_dir(root).join(&self.id).join("labels.json"))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default();
        let mut attrs: Vec<(&str, String)> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        attrs.push(("name", self.name.clone()));
        attrs.push(("image", self.image.clone()));
        attrs.extend(extra.iter().cloned());
        crate::store::journal::record(root, "container", action, &self.id, &attrs);
    }
}

/// The store root of a container directory (`ROOT/containers/ID`).
pub fn root_of(dir: &Path) -> &Path {
    dir.parent().and_then(Path::parent).unwrap_or(dir)
}

/// Every container's directory and state, oldest first.
pub fn all(root: &Path) -> Vec<(PathBuf, State)> {
    let mut v: Vec<(PathBuf, State)> = std::fs::read_dir(containers_dir(root))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| State::load(&e.path()).ok().map(|s| (e.path(), s)))
                .collect()
        })
        .unwrap_or_default();
    v.sort_by(|a, b| a.1.created.cmp(&b.1.created));
    v
}

/// Finds a container by name, full id or unique id prefix.
pub fn find(root: &Path, key: &str) -> Result<(PathBuf, State), StoreError> {
    let all = all(root);
    if let Some(x) = all.iter().find(|(_, s)| s.name == key || s.id == key) {
        return Ok(x.clone());
    }
    let matches: Vec<_> = all.iter().filter(|(_, s)| s.id.starts_with(key)).collect();
    match matches.as_slice() {
        [one] if !key.is_empty() => Ok((*one).clone()),
        [] | [_] => Err(StoreError::NoSuchContainer(key.to_string())),
        _ => Err(StoreError::AmbiguousContainer(key.to_string())),
    }
}
