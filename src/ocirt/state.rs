//! What `glassbox-runc` remembers of a container between its commands:
//! `ROOT/ID/state.json` (written by `create`), the exec FIFO a parked init
//! waits on, and the container's `trace.jsonl`. The status is never stored:
//! it is read from the kernel each time (is the init alive, is it the same
//! process, is it still parked, is its cgroup frozen), as runc does.

use super::OciError;
use crate::error::IoContext;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The OCI runtime spec version glassbox-runc implements.
pub const OCI_VERSION: &str = "1.0.2";

/// One container's record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// The container's ID, as the caller chose it.
    pub id: String,
    /// The init's host PID.
    pub pid: i32,
    /// The init's start time (`/proc/PID/stat` field 22), so a reused PID
    /// is not taken for the container.
    pub start_time: u64,
    /// The bundle directory.
    pub bundle: PathBuf,
    /// The root directory (absolute).
    pub rootfs: PathBuf,
    /// When it was created (RFC 3339).
    pub created: String,
    /// The cgroup path under each hierarchy.
    pub cgroup: String,
    /// The spec's annotations.
    pub annotations: BTreeMap<String, String>,
}

/// A container's status, per the runtime spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// `create` is still at work (the state its prestart and createRuntime
    /// hooks are given; never read back from the kernel).
    Creating,
    /// The init is parked before exec, waiting for `start`.
    Created,
    /// The process runs.
    Running,
    /// Its cgroup is frozen.
    Paused,
    /// The init has exited.
    Stopped,
}

impl Status {
    /// The spec's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// `ROOT/ID`.
pub fn dir(root: &Path, id: &str) -> PathBuf {
    root.join(id)
}

/// `ROOT/ID/exec.fifo`.
pub fn fifo(root: &Path, id: &str) -> PathBuf {
    dir(root, id).join("exec.fifo")
}

/// `ROOT/ID/trace.jsonl`.
pub fn trace_file(root: &Path, id: &str) -> PathBuf {
    dir(root, id).join("trace.jsonl")
}

/// Where a deleted container's trace is kept (`ROOT/traces/ID.jsonl`).
pub fn kept_trace(root: &Path, id: &str) -> PathBuf {
    root.join("traces").join(format!("{id}.jsonl"))
}

/// Refuses IDs that could name a path outside the root.
pub fn check_id(id: &str) -> Result<(), OciError> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id != "traces"
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+-.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(OciError::BadId(id.to_string()))
    }
}

impl Record {
    /// Loads `ROOT/ID/state.json`.
    pub fn load(root: &Path, id: &str) -> crate::Result<Record> {
        check_id(id)?;
        let p = dir(root, id).join("state.json");
        let text = match std::fs::read(&p) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(OciError::NotExist(id.to_string()).into())
            }
            Err(e) => return Err(e).ctx(|| format!("reading {}", p.display())),
        };
        serde_json::from_slice(&text)
            .map_err(|e| OciError::BadState(p.display().to_string(), e.to_string()).into())
    }

    /// Writes it (temp file, then rename).
    pub fn save(&self, root: &Path) -> crate::Result<()> {
        let p = dir(root, &self.id).join("state.json");
        let tmp = p.with_extension("json.tmp");
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other);
        std::fs::write(&tmp, json.ctx(|| "serialising state.json".into())?)
            .ctx(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &p).ctx(|| format!("renaming {}", tmp.display()))
    }

    /// Whether the init still lives (and is the same process).
    pub fn alive(&self) -> bool {
        match proc_stat(self.pid) {
            Some((state, start)) => state != 'Z' && state != 'X' && start == self.start_time,
            None => false,
        }
    }

    /// The status, read from the kernel.
    pub fn status(&self, root: &Path, cgroup: &crate::runtime::cgroup::Cgroup) -> Status {
        if !self.alive() {
            return Status::Stopped;
        }
        if fifo(root, &self.id).exists() {
            return Status::Created;
        }
        if frozen(cgroup) {
            return Status::Paused;
        }
        Status::Running
    }

    /// The state JSON of the runtime spec (plus runc's extra fields).
    pub fn oci_state(&self, status: Status) -> serde_json::Value {
        serde_json::json!({
            "ociVersion": OCI_VERSION,
            "id": self.id,
            "pid": if status == Status::Stopped { 0 } else { self.pid },
            "status": status.as_str(),
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "annotations": self.annotations,
            "owner": "",
        })
    }
}

/// The state letter and start time of a process, from `/proc/PID/stat`.
pub fn proc_stat(pid: i32) -> Option<(char, u64)> {
    if pid <= 0 {
        return None;
    }
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: split after it.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let state = fields.first()?.chars().next()?;
    // Field 22 of the whole line is the 20th after the name.
    let start = fields.get(19)?.parse().ok()?;
    Some((state, start))
}

fn frozen(cg: &crate::runtime::cgroup::Cgroup) -> bool {
    cg.dirs().iter().any(|(c, d)| {
        let (file, want) = if c == "unified" {
            ("cgroup.freeze", "1")
        } else {
            ("freezer.state", "FROZEN")
        };
        c != "memory"
            && c != "cpu"
            && c != "pids"
            && std::fs::read_to_string(d.join(file)).is_ok_and(|t| t.trim() == want)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_leave_the_root_are_refused() {
        for bad in ["", ".", "..", "a/b", "../x", "traces", "a b"] {
            assert!(check_id(bad).is_err(), "{bad:?} should be refused");
        }
        for good in ["t1", "abc-DEF_1.2+3", "0123456789abcdef"] {
            assert!(check_id(good).is_ok(), "{good:?} should be accepted");
        }
    }

    #[test]
    fn this_process_is_alive_with_its_own_start_time() {
        let me = std::process::id() as i32;
        let (state, start) = proc_stat(me).expect("own stat");
        assert!(state == 'R' || state == 'S');
        let r = Record {
            id: "x".into(),
            pid: me,
            start_time: start,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: String::new(),
            cgroup: String::new(),
            annotations: BTreeMap::new(),
        };
        assert!(r.alive());
        let reused = Record {
            start_time: start + 1,
            ..r
        };
        assert!(!reused.alive(), "a PID with another start time is not ours");
    }
}
