//! `glassbox doctor`: finds the beginner's mistake in the live state of a
//! store and says why it happens and what to type instead.
//!
//! Each check reads real state, never a name or a guess: the socket tables
//! of a container's network namespace (`/proc/PID/net/tcp{,6}`), its
//! recorded exit, its log, its cgroup's counters, the image's layers under
//! its mounts, the host's socket table. A check that finds something makes
//! a [`Finding`], emitted as one `doctor.finding` event whose template
//! teaches; the finding carries the evidence it read and the fix as a
//! command.
//!
//! The checks live by what they read: `ports.rs` (sockets), `process.rs`
//! (exits, logs, cgroups), `mounts.rs` (layers under mounts) and
//! `names.rs` (name lookups on the default bridge); `registry.rs` reads
//! the store's journal for the last failed push or pull (a store-wide
//! check, run when no container is named).

mod mounts;
mod names;
mod ports;
mod process;
mod registry;

use crate::store::container::{self, State};
use crate::trace::{self, Kind};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// One mistake found in the live state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What kind of mistake: `port_loopback`, `port_not_listening`,
    /// `port_wrong`, `exited_at_once`, `command_not_found`,
    /// `command_not_executable`, `oom_killed`, `pids_limit`,
    /// `mount_hides_image`, `exposed_unpublished`, `host_port_held`,
    /// `default_bridge_name`, and the store-wide `registry_unreachable`,
    /// `registry_needs_login`.
    pub code: &'static str,
    /// The container's name; for a store-wide finding, what it is about
    /// (`registry 127.0.0.1:5001`).
    pub container: String,
    /// One line: what is wrong.
    pub summary: String,
    /// What was read, each line naming where it was read from.
    pub evidence: Vec<String>,
    /// The command to type instead.
    pub fix: String,
}

impl Finding {
    fn builder(&self) -> trace::EventBuilder {
        trace::fact(Kind::Doctor, "finding", &self.container)
            .field("code", self.code)
            .field("summary", &self.summary)
            .field("evidence", &self.evidence)
            .field("fix", &self.fix)
            .equivalent(&self.fix)
    }

    /// Emits the finding as a `doctor.finding` event.
    fn emit(&self) {
        self.builder().info();
    }

    /// Why it happens: the `doctor.finding` template at `level`, rendered
    /// with this finding's fields (the same words the narration shows).
    pub fn why(&self, level: crate::explain::Level) -> String {
        let fields = [
            ("code", serde_json::json!(self.code)),
            ("summary", serde_json::json!(self.summary)),
            ("evidence", serde_json::json!(self.evidence)),
            ("fix", serde_json::json!(self.fix)),
        ];
        let ev = trace::Event {
            seq: 0,
            stage: trace::Stage::Info,
            phase: Vec::new(),
            kind: Kind::Doctor,
            action: "finding".into(),
            subject: self.container.clone(),
            fields: fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            equivalent: Some(self.fix.clone()),
            syscall: None,
            ts_us: 0,
            duration_us: None,
            pid: 0,
        };
        crate::explain::render(&ev, level).unwrap_or_default()
    }
}

/// What one `doctor` run examined and found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The names of the containers examined.
    pub examined: Vec<String>,
    /// Every finding, container by container.
    pub findings: Vec<Finding>,
    /// Whether the store's journal was read too (no container named).
    #[serde(skip)]
    pub journal: bool,
}

impl Report {
    /// Whether nothing was found.
    pub fn clean(&self) -> bool {
        self.findings.is_empty()
    }
}

/// One container as the checks see it: its directory, its record, and
/// every container of the store (some mistakes are between two).
pub(crate) struct Subject<'a> {
    /// `root/containers/<id>`.
    pub dir: &'a Path,
    /// Its record.
    pub st: &'a State,
    /// Every container of the store.
    pub all: &'a [(PathBuf, State)],
}

/// Examines one container (`key`: name or id) or, with `None`, every
/// container of the store at `root`.
pub fn examine(root: &Path, key: Option<&str>) -> crate::Result<Report> {
    let all = container::all(root);
    let targets = match key {
        Some(k) => vec![container::find(root, k)?],
        None => all.clone(),
    };
    let mut report = Report {
        examined: Vec::new(),
        findings: Vec::new(),
        journal: key.is_none(),
    };
    for (dir, st) in &targets {
        let subject = Subject { dir, st, all: &all };
        let mut s = trace::step(Kind::Doctor, "examine", &st.name)
            .field("status", st.observed().as_str())
            .field("state", dir.join("state.json"))
            .announce()?;
        let found = check(&subject);
        s.field("findings", found.len());
        s.done();
        for f in &found {
            f.emit();
        }
        report.examined.push(st.name.clone());
        report.findings.extend(found);
    }
    if key.is_none() {
        let journal = crate::store::journal::path(root);
        let mut s = trace::step(Kind::Doctor, "examine", "the store's journal")
            .field("journal", &journal)
            .announce()?;
        let found = registry::check(root);
        s.field("findings", found.iter().count());
        s.done();
        if let Some(f) = found {
            f.emit();
            report.findings.push(f);
        }
    }
    Ok(report)
}

/// Every check on one container, most specific first.
fn check(c: &Subject) -> Vec<Finding> {
    let mut out = Vec::new();
    out.extend(process::check(c));
    out.extend(ports::check(c));
    out.extend(mounts::check(c));
    out.extend(names::check(c));
    out
}

/// The container's command line, from its config.json.
pub(crate) fn command_of(dir: &Path) -> Vec<String> {
    spec_of(dir)
        .and_then(|s| s.process().as_ref().and_then(|p| p.args().clone()))
        .unwrap_or_default()
}

/// The container's PATH, from its config.json.
pub(crate) fn path_of(dir: &Path) -> String {
    spec_of(dir)
        .and_then(|s| s.process().as_ref().and_then(|p| p.env().clone()))
        .unwrap_or_default()
        .iter()
        .find_map(|e| e.strip_prefix("PATH=").map(str::to_string))
        .unwrap_or_else(|| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into())
}

fn spec_of(dir: &Path) -> Option<oci_spec::runtime::Spec> {
    oci_spec::runtime::Spec::load(dir.join("config.json")).ok()
}

/// A command line as one shell-like string.
pub(crate) fn shell_words(words: &[String]) -> String {
    words
        .iter()
        .map(|w| {
            if w.is_empty() || w.contains(|c: char| c.is_whitespace() || "'\"$&;|<>()".contains(c))
            {
                format!("'{}'", w.replace('\'', r"'\''"))
            } else {
                w.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The last `n` lines of the container's log, from its `log.json`.
pub(crate) fn last_log_lines(dir: &Path, n: usize) -> Vec<String> {
    let text = std::fs::read_to_string(crate::runtime::log_path(dir)).unwrap_or_default();
    let lines: Vec<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<crate::runtime::lifecycle::LogLine>(l).ok())
        .map(|l| l.log.trim_end().to_string())
        .collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}

/// Where a path lives in the image: the first lower layer (topmost first)
/// that has it.
pub(crate) fn in_image(st: &State, path: &str) -> Option<PathBuf> {
    let rel = path.trim_start_matches('/');
    st.lowers
        .iter()
        .map(|(dir, _)| dir.join(rel))
        .find(|p| p.symlink_metadata().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_line_is_quoted_only_where_a_shell_needs_it() {
        let words: Vec<String> = ["sh", "-c", "echo hi; exit 3", ""]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(shell_words(&words), "sh -c 'echo hi; exit 3' ''");
    }
}
