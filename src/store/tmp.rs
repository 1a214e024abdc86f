//! Temp entries in `ROOT/tmp/`, each marked with the process that made
//! it, and sweeping up after a killed command.
//!
//! Every temp directory or file made through [`Store::tempdir`] and
//! [`Store::tempfile`] (a layer being unpacked, an archive being loaded, a
//! rootfs being imported or set up, a blob being written or pulled, a
//! build's COPY staging and here-documents) lives in `ROOT/tmp/` under
//! tempfile's usual name, `.tmpXXXXXX` (so traces and lesson transcripts
//! stay as they were), with an empty marker file beside it:
//! `.tmpXXXXXX.by-<pid>.<start>`. `<start>` is the maker's start time in
//! clock ticks since boot (`/proc/<pid>/stat`, field 22), so a PID the
//! kernel has since handed to another process does not make a dead
//! command look alive.
//!
//! [`sweep`] runs every time a command opens the store: it removes each
//! entry whose maker is gone, even while other commands hold the store
//! open, and never touches a live command's entries. When no other
//! command has the store open (the exclusive case) it removes everything
//! else too; otherwise an unmarked `.tmpXXXXXX` *file* goes only when no
//! process has it open (checked in every `/proc/<pid>/fd`). Each removal is
//! a `store.sweep_tmp` event.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::Store;
use crate::error::IoContext;
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

/// The `(pid, start)` a stamp `<pid>.<start>` names.
pub fn parse_stamp(stamp: &str) -> Option<(u32, u64)> {
    let (pid, start) = stamp.split_once('.')?;
    Some((pid.parse().ok()?, start.parse().ok()?))
}

/// True when the process `(pid, start)` still runs.
pub fn alive((pid, start): (u32, u64)) -> bool {
    start_time(pid) == Some(start)
}

/// For a marker `NAME.by-<pid>.<start>`: the entry it stands for and its
/// maker.
pub fn marker_of(name: &str) -> Option<(&str, (u32, u64))> {
    let (entry, stamp) = name.rsplit_once(".by-")?;
    Some((entry, parse_stamp(stamp)?))
}

fn marker_path(entry: &Path) -> PathBuf {
    let name = entry
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    entry.with_file_name(format!("{name}.by-{}", own_stamp()))
}

fn create_marker(entry: &Path) -> Result<PathBuf> {
    let marker = marker_path(entry);
    std::fs::File::create(&marker).ctx(|| format!("creating {}", marker.display()))?;
    Ok(marker)
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

    /// Renames the directory to `dest` (on the same filesystem), then
    /// removes its marker. On failure the directory is removed.
    pub fn persist(mut self, dest: &Path) -> io::Result<()> {
        let dir = self.dir.take().expect("present until dropped").keep();
        let r = std::fs::rename(&dir, dest);
        if r.is_err() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        r
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

/// A temp file in `ROOT/tmp/` with its maker's marker beside it; both are
/// removed on drop unless [`TempFile::persist`] renamed the file away.
#[derive(Debug)]
pub struct TempFile {
    file: Option<tempfile::NamedTempFile>,
    marker: PathBuf,
}

impl TempFile {
    fn inner(&mut self) -> &mut tempfile::NamedTempFile {
        self.file.as_mut().expect("present until persisted")
    }

    /// The open file.
    pub fn as_file(&self) -> &std::fs::File {
        self.file
            .as_ref()
            .expect("present until persisted")
            .as_file()
    }

    /// Renames the file to `dest` (on the same filesystem), then removes
    /// its marker. On failure the file is removed.
    pub fn persist(mut self, dest: &Path) -> io::Result<()> {
        let f = self.file.take().expect("present until persisted");
        f.persist(dest).map(drop).map_err(|e| e.error)
    }
}

impl Write for TempFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner().write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner().flush()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        drop(self.file.take());
        let _ = std::fs::remove_file(&self.marker);
    }
}

impl Store {
    /// A new temp directory in `ROOT/tmp/`, marked as this process's.
    pub fn tempdir(&self) -> Result<TempDir> {
        let tmp = self.tmp_dir();
        let dir = tempfile::tempdir_in(&tmp)
            .ctx(|| format!("creating a temp dir in {}", tmp.display()))?;
        let marker = create_marker(dir.path())?;
        Ok(TempDir {
            dir: Some(dir),
            marker,
        })
    }

    /// A new temp file in `ROOT/tmp/`, marked as this process's.
    pub fn tempfile(&self) -> Result<TempFile> {
        let tmp = self.tmp_dir();
        let file = tempfile::NamedTempFile::new_in(&tmp)
            .ctx(|| format!("creating a temp file in {}", tmp.display()))?;
        let marker = create_marker(file.path())?;
        Ok(TempFile {
            file: Some(file),
            marker,
        })
    }
}

/// One removal by [`sweep`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Swept {
    /// What was removed.
    pub path: PathBuf,
    /// The PID of its dead maker, when a marker named one.
    pub owner_pid: Option<u32>,
    /// Bytes it held.
    pub bytes: u64,
}

/// Why an entry is removed.
enum Why {
    DeadOwner(u32),
    NotOpen,
    Exclusive,
}

/// Removes what killed commands left in `ROOT/tmp/`: every entry whose
/// maker is gone, and — when `exclusive` (no other command has the store
/// open) — every unmarked entry; otherwise only unmarked `.tmpXXXXXX`
/// files no process has open. Live makers' entries are never touched.
/// Emits a `store.sweep_tmp` event for each removal; a removal that fails
/// is left for the next sweep.
pub fn sweep(store: &Store, exclusive: bool) -> Vec<Swept> {
    let tmp = store.tmp_dir();
    let Ok(entries) = std::fs::read_dir(&tmp) else {
        return Vec::new();
    };
    let names: Vec<(String, bool)> = entries
        .flatten()
        .map(|e| {
            let is_file = e.file_type().map(|t| t.is_file()).unwrap_or(false);
            (e.file_name().to_string_lossy().into_owned(), is_file)
        })
        .collect();
    let mut live = std::collections::HashSet::new();
    let mut todo: Vec<(String, Option<String>, Why)> = Vec::new();
    for (name, _) in &names {
        if let Some((entry, maker)) = marker_of(name) {
            if alive(maker) {
                live.insert(entry.to_string());
            } else {
                todo.push((
                    entry.to_string(),
                    Some(name.clone()),
                    Why::DeadOwner(maker.0),
                ));
            }
        }
    }
    let marked: std::collections::HashSet<&str> =
        todo.iter().map(|(entry, _, _)| entry.as_str()).collect();
    let mut unmarked_files = Vec::new();
    let mut rest = Vec::new();
    for (name, is_file) in &names {
        if marker_of(name).is_some() || live.contains(name) || marked.contains(name.as_str()) {
            continue;
        }
        if exclusive {
            rest.push((name.clone(), None, Why::Exclusive));
        } else if *is_file && is_tempfile_name(name) {
            unmarked_files.push(name.clone());
        }
    }
    todo.extend(rest);
    if !unmarked_files.is_empty() {
        let open = open_files();
        for name in unmarked_files {
            if !open.contains(&tmp.join(&name)) {
                todo.push((name, None, Why::NotOpen));
            }
        }
    }
    let mut swept = Vec::new();
    for (name, marker, why) in todo {
        let path = tmp.join(&name);
        let bytes = size_of(&path);
        let removed = match std::fs::symlink_metadata(&path) {
            // Only the marker is left (its maker died between renaming the
            // entry into place and removing the marker), or another
            // command's sweep got there first.
            Err(_) => None,
            Ok(m) if m.is_dir() => Some(std::fs::remove_dir_all(&path).is_ok()),
            Ok(_) => Some(std::fs::remove_file(&path).is_ok()),
        };
        if removed == Some(false) {
            continue;
        }
        if let Some(m) = &marker {
            let _ = std::fs::remove_file(tmp.join(m));
        }
        if removed.is_none() {
            continue;
        }
        let owner_pid = match why {
            Why::DeadOwner(pid) => Some(pid),
            _ => None,
        };
        trace::fact(Kind::Store, "sweep_tmp", format!("leftover {name}"))
            .field("path", path.display().to_string())
            .field("owner_pid", owner_pid)
            .field("bytes", bytes)
            .field(
                "why",
                match why {
                    Why::DeadOwner(p) => format!("the command that made it (PID {p}) is gone"),
                    Why::NotOpen => "a temp file no process has open".to_string(),
                    Why::Exclusive => {
                        "no command has the store open, so nothing in tmp/ is in use".to_string()
                    }
                },
            )
            .info();
        swept.push(Swept {
            path,
            owner_pid,
            bytes,
        });
    }
    swept
}

/// Bytes of the files at or under `p` (not following symlinks).
fn size_of(p: &Path) -> u64 {
    let Ok(m) = std::fs::symlink_metadata(p) else {
        return 0;
    };
    if !m.is_dir() {
        return m.len();
    }
    std::fs::read_dir(p)
        .map(|d| d.flatten().map(|e| size_of(&e.path())).sum())
        .unwrap_or(0)
}

/// tempfile's default names: `.tmp` and six letters or digits.
pub fn is_tempfile_name(name: &str) -> bool {
    name.strip_prefix(".tmp")
        .is_some_and(|r| r.len() == 6 && r.chars().all(|c| c.is_ascii_alphanumeric()))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_name_a_live_process_and_a_dead_one() {
        let me = format!(".tmpAbC123.by-{}", own_stamp());
        let (entry, maker) = marker_of(&me).unwrap();
        assert_eq!(entry, ".tmpAbC123");
        assert_eq!(maker.0, std::process::id());
        assert!(alive(maker));
        // Same PID, another start time: a reused PID is not this process.
        assert!(!alive((maker.0, maker.1 + 1)));
        assert_eq!(marker_of(".tmpAbC123"), None);
        assert!(is_tempfile_name(".tmpAbC123") && !is_tempfile_name(".tmpAbC"));
    }

    #[test]
    fn a_sweep_removes_a_dead_makers_entries_and_keeps_a_live_ones() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path()).unwrap();
        let tmp = store.tmp_dir();
        let mine = store.tempdir().unwrap();
        std::fs::write(mine.path().join("f"), b"live").unwrap();
        let mut file = store.tempfile().unwrap();
        file.write_all(b"live blob").unwrap();
        // A dead maker: PID 1 with a start time it never had.
        let dead = tmp.join(".tmpDeAd01");
        std::fs::create_dir(&dead).unwrap();
        std::fs::write(dead.join("half"), b"12345").unwrap();
        std::fs::write(tmp.join(".tmpDeAd01.by-1.999999999"), b"").unwrap();
        // An unmarked temp file nobody has open, and an unmarked dir.
        std::fs::write(tmp.join(".tmpNoOne1"), b"abc").unwrap();
        std::fs::create_dir(tmp.join(".tmpNoOne2")).unwrap();
        let cap = crate::trace::capture();
        let swept = sweep(&store, false);
        let events = cap.events();
        let mut paths: Vec<_> = swept.iter().map(|s| s.path.clone()).collect();
        paths.sort();
        assert_eq!(paths, vec![dead.clone(), tmp.join(".tmpNoOne1")]);
        assert!(swept.contains(&Swept {
            path: dead,
            owner_pid: Some(1),
            bytes: 5
        }));
        assert_eq!(events.len(), 2);
        assert!(events
            .iter()
            .all(|e| e.kind == Kind::Store && e.action == "sweep_tmp"));
        assert!(mine.path().join("f").exists() && file.as_file().metadata().is_ok());
        assert!(
            tmp.join(".tmpNoOne2").exists(),
            "left to the exclusive sweep"
        );
        assert!(!tmp.join(".tmpDeAd01.by-1.999999999").exists());
        // Exclusive: the unmarked dir goes too, live entries still stay.
        let swept = sweep(&store, true);
        assert_eq!(swept.len(), 1);
        assert!(mine.path().exists());
        let dest = root.path().join("kept");
        mine.persist(&dest).unwrap();
        file.persist(&root.path().join("kept-file")).unwrap();
        assert!(dest.join("f").exists());
        assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0, "markers gone");
    }
}
