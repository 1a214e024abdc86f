//! `top`: the processes of a running container, as the host sees them.
//! The container's cgroup is the authority on which processes belong to
//! it (`cgroup.procs`); `/proc/PID` gives each one's owner, parent and
//! command line. The PIDs are host PIDs — the numbers inside the
//! container's PID namespace differ, which is the lesson.

use super::RuntimeError;
use crate::store::container::{self, Status};
use std::path::Path;

/// One process of a container.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TopRow {
    /// Real uid (host view).
    pub uid: u32,
    /// Host PID.
    pub pid: i32,
    /// Host PID of its parent.
    pub ppid: i32,
    /// The command line (or `[name]` when it has none).
    pub cmd: String,
}

fn row(pid: i32) -> Option<TopRow> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |k: &str| -> Option<String> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .map(|v| v.trim().to_string())
    };
    let uid = field("Uid:")?.split_whitespace().next()?.parse().ok()?;
    let ppid = field("PPid:")?.parse().ok()?;
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let cmd = if raw.is_empty() {
        format!("[{}]", field("Name:").unwrap_or_default())
    } else {
        raw.split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    };
    Some(TopRow {
        uid,
        pid,
        ppid,
        cmd,
    })
}

/// The processes in the cgroup of the running container `key`, by PID.
pub fn top(root: &Path, key: &str) -> crate::Result<Vec<TopRow>> {
    let (_, st) = container::find(root, key)?;
    let now = st.observed();
    if !matches!(now, Status::Running | Status::Paused) {
        return Err(RuntimeError::IllegalMove {
            name: st.name.clone(),
            state: now.as_str(),
            verb: "listed with top",
            hint: format!("start it first with `glassbox start {}`", st.name),
        }
        .into());
    }
    let cg = super::cgroup::Cgroup::new(super::cgroup::Layout::detect()?, &st.id);
    let mut pids = cg.procs();
    pids.sort_unstable();
    Ok(pids.into_iter().filter_map(row).collect())
}
