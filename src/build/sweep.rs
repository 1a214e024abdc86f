//! Temp entries of builds, and sweeping up after a killed one.
//!
//! Every temp directory a build makes names its maker, `<pid>.<start>`,
//! where `<start>` is the process's start time in clock ticks since boot
//! (`/proc/<pid>/stat`, field 22), so a PID the kernel has since handed to
//! another process does not make a dead build look alive:
//!
//! - plain directories (COPY staging, here-documents, downloads) live in
//!   `ROOT/tmp/` under tempfile's usual name, `.tmpXXXXXX` (so traces and
//!   lesson transcripts stay as they were), with an empty marker file
//!   beside each, `.tmpXXXXXX.by-<pid>.<start>`;
//! - directories that get a mount on them (a tmpfs, a secret's tmpfs, a
//!   writable overlay, a read-only view of a stage) live in
//!   `ROOT/build-cache/work/` as `build-<pid>.<start>-<what>-XXXXXX`,
//!   because the store's own sweep of `tmp/` cannot remove a directory
//!   something is mounted on.
//!
//! [`sweep`] runs at the start of every build, even while other commands
//! hold the store open (the store sweeps `tmp/` only when nobody does): it
//! unmounts and removes every entry whose maker is gone, and every
//! `.tmpXXXXXX` file in `tmp/` that no process has open (the store writes
//! blobs through such files and holds them open until it renames them into
//! place, so an unopened one is a dead writer's). A live build's entries
//! are never touched, and an entry that names no maker is left to the
//! store.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::error::IoContext;
use crate::store::Store;
use crate::trace::{self, Kind};
use crate::Result;

/// The start time of process `pid` (clock ticks since boot), if it runs.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold blanks: count after its ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

/// This process's stamp, `<pid>.<start>`.
pub fn own_stamp() -> &'static str {
    static STAMP: OnceLock<String> = OnceLock::new();
    STAMP.get_or_init(|| {
        let pid = std::process::id();
        format!("{pid}.{}", start_time(pid).unwrap_or(0))
    })
}

/// The maker `(pid, start)` of an entry named `build-<pid>.<start>-...`
/// (a mount directory) or `NAME.by-<pid>.<start>` (a marker).
pub fn maker(name: &str) -> Option<(u32, u64)> {
    let stamp = match name.rsplit_once(".by-") {
        Some((_, stamp)) => stamp,
        None => name.strip_prefix("build-")?.split('-').next()?,
    };
    let (pid, start) = stamp.split_once('.')?;
    Some((pid.parse().ok()?, start.parse().ok()?))
}

/// True when the process that made an entry called `name` still runs (or
/// the name does not say who made it).
pub fn maker_alive(name: &str) -> bool {
    match maker(name) {
        Some((pid, start)) => start_time(pid) == Some(start),
        None => true,
    }
}

/// A temp directory in `ROOT/tmp/` with its maker's marker beside it;
/// both are removed on drop (the directory first).
#[derive(Debug)]
pub struct TempDir {
    dir: Option<tempfile::TempDir>,
    marker: PathBuf,
}

impl TempDir {
    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.as_ref().expect("present until dropped").path()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Some(d) = self.dir.take() {
            let _ = d.close();
        }
        let _ = std::fs::remove_file(&self.marker);
    }
}

/// A new temp directory in `ROOT/tmp/`, marked as this process's.
pub fn tempdir(store: &Store) -> Result<TempDir> {
    let tmp = store.tmp_dir();
    let dir =
        tempfile::tempdir_in(&tmp).ctx(|| format!("creating a temp dir in {}", tmp.display()))?;
    let name = dir
        .path()
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let marker = tmp.join(format!("{name}.by-{}", own_stamp()));
    std::fs::File::create(&marker).ctx(|| format!("creating {}", marker.display()))?;
    Ok(TempDir {
        dir: Some(dir),
        marker,
    })
}

/// Where build directories that get mounts on them live.
pub fn work_dir(store: &Store) -> PathBuf {
    store.root().join("build-cache").join("work")
}

/// A new stamped directory in `ROOT/build-cache/work/` for a mount.
pub fn mount_dir(store: &Store, what: &str) -> Result<tempfile::TempDir> {
    let dir = work_dir(store);
    std::fs::create_dir_all(&dir).ctx(|| format!("creating {}", dir.display()))?;
    tempfile::Builder::new()
        .prefix(&format!("build-{}-{what}-", own_stamp()))
        .tempdir_in(&dir)
        .ctx(|| format!("creating a temp dir in {}", dir.display()))
}

/// Mount points at or under `dir`, deepest first (from
/// `/proc/self/mountinfo`; octal escapes such as `\040` decoded).
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut out: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape(p)))
        .filter(|p| p.starts_with(dir))
        .collect();
    out.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    out.dedup();
    out
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Paths of the files any process has open (from `/proc/*/fd`).
fn open_files() -> std::collections::HashSet<PathBuf> {
    let mut out = std::collections::HashSet::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return out;
    };
    for p in procs.flatten() {
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path()) {
                out.insert(target);
            }
        }
    }
    out
}

/// What [`sweep`] removed: (path, the dead maker's PID or `None` for an
/// unopened temp file, mounts taken down).
pub type Swept = Vec<(PathBuf, Option<u32>, usize)>;

/// Removes what killed builds left in `ROOT/tmp/` and
/// `ROOT/build-cache/work/`; emits a `build.sweep_tmp` event for each.
pub fn sweep(store: &Store) -> Swept {
    let mut swept = Vec::new();
    let tmp = store.tmp_dir();
    let mut unowned_files = Vec::new();
    for dir in [tmp.clone(), work_dir(store)] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = e.path();
            match maker(&name) {
                Some((pid, _)) if !maker_alive(&name) => {
                    // A marker stands for the directory it is named after.
                    let (target, marker) = match name.rsplit_once(".by-") {
                        Some((dir_name, _)) => (dir.join(dir_name), Some(path.clone())),
                        None => (path.clone(), None),
                    };
                    let mounts = mounts_under(&target);
                    for m in &mounts {
                        let _ = nix::mount::umount2(m, nix::mount::MntFlags::MNT_DETACH);
                    }
                    let gone = !target.exists() || remove(&target).is_ok();
                    if let Some(m) = marker {
                        let _ = std::fs::remove_file(m);
                    }
                    if gone {
                        swept.push((target, Some(pid), mounts.len()));
                    }
                }
                Some(_) => {}
                None if dir == tmp
                    && is_tempfile_name(&name)
                    && e.file_type().map(|t| t.is_file()).unwrap_or(false) =>
                {
                    unowned_files.push(path)
                }
                None => {}
            }
        }
    }
    if !unowned_files.is_empty() {
        let open = open_files();
        for f in unowned_files {
            if !open.contains(&f) && std::fs::remove_file(&f).is_ok() {
                swept.push((f, None, 0));
            }
        }
    }
    for (path, pid, mounts) in &swept {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        trace::fact(Kind::Build, "sweep_tmp", format!("leftover {name}"))
            .field("path", path.display().to_string())
            .field("builder_pid", *pid)
            .field("mounts", *mounts)
            .field(
                "why",
                match pid {
                    Some(p) => format!("the build that made it (PID {p}) is gone"),
                    None => "a temp file no process has open".to_string(),
                },
            )
            .info();
    }
    swept
}

/// tempfile's default names: `.tmp` and six letters or digits.
fn is_tempfile_name(name: &str) -> bool {
    name.strip_prefix(".tmp")
        .is_some_and(|r| r.len() == 6 && r.chars().all(|c| c.is_ascii_alphanumeric()))
}

fn remove(p: &Path) -> std::io::Result<()> {
    if p.is_dir() {
        std::fs::remove_dir_all(p)
    } else {
        std::fs::remove_file(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_name_a_live_process_and_a_dead_one() {
        let me = format!(".tmpAbC123.by-{}", own_stamp());
        assert_eq!(maker(&format!("build-{}-view-x", own_stamp())), maker(&me));
        assert_eq!(maker(&me).map(|m| m.0), Some(std::process::id()));
        assert!(maker_alive(&me));
        // Same PID, another start time: a reused PID is not this build.
        let (pid, start) = maker(&me).unwrap();
        assert!(!maker_alive(&format!("build-{pid}.{}-x-y", start + 1)));
        assert_eq!(maker(".tmpAbC"), None);
        assert_eq!(unescape("/a\\040b"), "/a b");
    }
}
