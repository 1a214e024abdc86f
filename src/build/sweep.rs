//! Temp entries of builds, and sweeping up after a killed one.
//!
//! Every temp directory a build makes names its maker, `<pid>.<start>`
//! (see [`crate::store::tmp`]: the process's start time in clock ticks
//! since boot, so a PID the kernel has since handed to another process
//! does not make a dead build look alive):
//!
//! - plain directories (COPY staging, here-documents, downloads) are the
//!   store's marked temp directories in `ROOT/tmp/` ([`Store::tempdir`]); the
//!   store removes a dead maker's at every open;
//! - directories that get a mount on them (a tmpfs, a secret's tmpfs, a
//!   writable overlay, a read-only view of a stage) live in
//!   `ROOT/build-cache/work/` as `build-<pid>.<start>-<what>-XXXXXX`,
//!   because a directory something is mounted on cannot simply be removed.
//!
//! [`sweep`] runs at the start of every build, even while other commands
//! hold the store open: it unmounts and removes every entry of
//! `build-cache/work/` whose maker is gone. A live build's entries are
//! never touched.

use std::path::{Path, PathBuf};

use crate::error::IoContext;
use crate::store::tmp::{alive, marker_of, parse_stamp};
use crate::store::Store;
use crate::trace::{self, Kind};
use crate::Result;

pub use crate::store::tmp::{own_stamp, TempDir};

/// The maker `(pid, start)` of an entry named `build-<pid>.<start>-...`
/// (a mount directory) or `NAME.by-<pid>.<start>` (a temp entry's marker).
pub fn maker(name: &str) -> Option<(u32, u64)> {
    match marker_of(name) {
        Some((_, m)) => Some(m),
        None => parse_stamp(name.strip_prefix("build-")?.split('-').next()?),
    }
}

/// True when the process that made an entry called `name` still runs (or
/// the name does not say who made it).
pub fn maker_alive(name: &str) -> bool {
    maker(name).is_none_or(alive)
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

/// What [`sweep`] removed: (path, the dead maker's PID, mounts taken
/// down).
pub type Swept = Vec<(PathBuf, u32, usize)>;

/// Removes what killed builds left in `ROOT/build-cache/work/`, unmounting
/// what is mounted under it first; emits a `build.sweep_tmp` event for
/// each. (Their entries in `ROOT/tmp/` went when the store was opened.)
pub fn sweep(store: &Store) -> Swept {
    let mut swept = Vec::new();
    let dir = work_dir(store);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return swept;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some((pid, _)) = maker(&name).filter(|_| !maker_alive(&name)) else {
            continue;
        };
        let path = e.path();
        let mounts = mounts_under(&path);
        let calls: Vec<crate::kernel::Call> = mounts.iter().map(crate::kernel::detach).collect();
        for c in &calls {
            let _ = crate::kernel::Kernel::call(&mut crate::kernel::Host, c);
        }
        if remove(&path).is_err() {
            continue;
        }
        let fact = trace::fact(Kind::Build, "sweep_tmp", format!("leftover {name}"))
            .field("path", path.display().to_string())
            .field("builder_pid", pid)
            .field("mounts", mounts.len())
            .field("why", format!("the build that made it (PID {pid}) is gone"));
        crate::kernel::describe(fact, &calls).info();
        swept.push((path, pid, mounts.len()));
    }
    swept
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
