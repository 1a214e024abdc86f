//! The store's journal: what happened to its objects, one JSON line per
//! event, in the shape of moby's events (`Type`, `Action`, `Actor{ID,
//! Attributes}`, `scope`, `time`, `timeNano`). The engine appends a line
//! where it does the thing (a container starts, an image is tagged, a
//! network is made), so the glassbox CLI and the daemon, which share one
//! store, write the same journal; `docker events` reads it back
//! (`GET /events`) and `doctor` finds the last failed push or pull in it.
//!
//! Why a file of lines: several processes write it at once (the CLI, the
//! daemon, every container's shim). Each event is one `write(2)` of one
//! whole line to a file opened with `O_APPEND`, which the kernel places at
//! the end atomically, so two writers never interleave. The journal is
//! bounded: past [`MAX_BYTES`] the writer that notices renames it to
//! `events.jsonl.1` (under `events.lock`, replacing the older one) and
//! starts a new file, so at most two files' worth is kept. A [`Follower`]
//! notices the rename by the inode and goes on in the new file.
//!
//! Writing the journal never fails the operation it records: the
//! container started whether or not its line could be written.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The journal's file name in the root.
pub const FILE: &str = "events.jsonl";
/// The rotated older file.
pub const OLD_FILE: &str = "events.jsonl.1";
/// The size past which the journal is rotated.
pub const MAX_BYTES: u64 = 1 << 20;

/// One event, as moby's `/events` sends it (without the old-style
/// `status`, `id` and `from`, which the API adds for containers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// `container`, `image`, `network` or `volume`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// `create`, `start`, `die`, `pull`, `connect`, ...
    #[serde(rename = "Action")]
    pub action: String,
    /// The object it happened to.
    #[serde(rename = "Actor")]
    pub actor: Actor,
    /// Always `local`.
    pub scope: String,
    /// Unix seconds.
    pub time: i64,
    /// Unix nanoseconds.
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

/// The object of an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// A container's or network's full id, an image's id or reference, a
    /// volume's name.
    #[serde(rename = "ID")]
    pub id: String,
    /// `name`, `image`, `exitCode`, `signal`, `container`, ...
    #[serde(rename = "Attributes")]
    pub attributes: BTreeMap<String, String>,
}

impl Record {
    /// An event that happens now.
    pub fn now(kind: &str, action: &str, id: &str, attrs: &[(&str, String)]) -> Record {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Record {
            kind: kind.to_string(),
            action: action.to_string(),
            actor: Actor {
                id: id.to_string(),
                attributes: attrs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect(),
            },
            scope: "local".into(),
            time: t.as_secs() as i64,
            time_nano: t.as_nanos() as i64,
        }
    }

    /// An attribute, or "".
    pub fn attr(&self, name: &str) -> &str {
        self.actor
            .attributes
            .get(name)
            .map(String::as_str)
            .unwrap_or("")
    }
}

/// The journal of the store at `root`.
pub fn path(root: &Path) -> PathBuf {
    root.join(FILE)
}

/// Appends an event to the journal of `root`. Errors are dropped on
/// purpose (see the module's overview).
pub fn record(root: &Path, kind: &str, action: &str, id: &str, attrs: &[(&str, String)]) {
    let _ = append(root, &Record::now(kind, action, id, attrs));
}

/// Appends `rec` as one line, rotating the journal first when it is full.
pub fn append(root: &Path, rec: &Record) -> std::io::Result<()> {
    if !root.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("no store at {}", root.display()),
        ));
    }
    let file = path(root);
    if file
        .metadata()
        .map(|m| m.len() >= MAX_BYTES)
        .unwrap_or(false)
    {
        rotate(root)?;
    }
    let mut line = serde_json::to_vec(rec).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let mut f = OpenOptions::new().create(true).append(true).open(&file)?;
    // One write(2) of the whole line: O_APPEND places it at the end in one
    // piece, whoever else appends at the same moment.
    let n = f.write(&line)?;
    if n != line.len() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::WriteZero,
            format!("short write to {}", file.display()),
        ));
    }
    Ok(())
}

/// The journal opened ahead, for a process about to leave the host's
/// mount namespace (an exec joins the container's, where the store's path
/// means nothing) that must still record how it ended.
pub struct Opened(File);

impl Opened {
    /// Opens the journal of `root` for appending (rotating it first when
    /// full).
    pub fn open(root: &Path) -> std::io::Result<Opened> {
        if path(root)
            .metadata()
            .map(|m| m.len() >= MAX_BYTES)
            .unwrap_or(false)
        {
            rotate(root)?;
        }
        Ok(Opened(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(path(root))?,
        ))
    }

    /// Appends an event that happens now, as one line (errors dropped, as
    /// [`record`]'s).
    pub fn record(&mut self, kind: &str, action: &str, id: &str, attrs: &[(&str, String)]) {
        let Ok(mut line) = serde_json::to_vec(&Record::now(kind, action, id, attrs)) else {
            return;
        };
        line.push(b'\n');
        let _ = self.0.write(&line);
    }
}

fn rotate(root: &Path) -> std::io::Result<()> {
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(root.join("events.lock"))?;
    lock.lock()?;
    // Another writer may have rotated while this one waited for the lock.
    let file = path(root);
    if file
        .metadata()
        .map(|m| m.len() >= MAX_BYTES)
        .unwrap_or(false)
    {
        std::fs::rename(&file, root.join(OLD_FILE))?;
    }
    Ok(())
}

fn parse_lines(text: &str) -> impl Iterator<Item = Record> + '_ {
    text.lines()
        .filter_map(|l| serde_json::from_str::<Record>(l).ok())
}

/// Every event the journal holds, oldest first (the rotated file, then
/// the current one). Lines that are not events (a torn file) are skipped.
pub fn read_all(root: &Path) -> Vec<Record> {
    let mut out = Vec::new();
    for name in [OLD_FILE, FILE] {
        if let Ok(text) = std::fs::read_to_string(root.join(name)) {
            out.extend(parse_lines(&text));
        }
    }
    out
}

/// The last event for which `want` is true, with its line number in the
/// file that holds it (1-based) and that file.
pub fn last_matching(
    root: &Path,
    want: impl Fn(&Record) -> bool,
) -> Option<(Record, PathBuf, usize)> {
    for name in [FILE, OLD_FILE] {
        let p = root.join(name);
        let Ok(text) = std::fs::read_to_string(&p) else {
            continue;
        };
        let lines: Vec<&str> = text.lines().collect();
        let found = lines.iter().enumerate().rev().find_map(|(i, l)| {
            serde_json::from_str::<Record>(l)
                .ok()
                .filter(|r| want(r))
                .map(|r| (r, i + 1))
        });
        if let Some((r, n)) = found {
            return Some((r, p, n));
        }
    }
    None
}

/// Reads the journal as it grows: each [`Follower::poll`] returns the
/// events appended since the last one, across a rotation.
pub struct Follower {
    root: PathBuf,
    file: Option<File>,
    ino: u64,
    partial: Vec<u8>,
}

impl Follower {
    /// A follower from the start of the current file: with
    /// [`read_old`](Self::read_old) first, a replay of the whole journal.
    pub fn from_start(root: &Path) -> Follower {
        let mut f = Follower {
            root: root.to_path_buf(),
            file: None,
            ino: 0,
            partial: Vec::new(),
        };
        f.reopen();
        f
    }

    /// A follower of what is appended from now on.
    pub fn from_end(root: &Path) -> Follower {
        let mut f = Follower::from_start(root);
        if let Some(file) = f.file.as_mut() {
            let _ = file.seek(SeekFrom::End(0));
        }
        f
    }

    /// The rotated file's events (read once, before the first poll).
    pub fn read_old(&self) -> Vec<Record> {
        std::fs::read_to_string(self.root.join(OLD_FILE))
            .map(|t| parse_lines(&t).collect())
            .unwrap_or_default()
    }

    fn reopen(&mut self) {
        self.file = File::open(path(&self.root)).ok();
        self.ino = self
            .file
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .map(|m| m.ino())
            .unwrap_or(0);
        self.partial.clear();
    }

    fn drain(&mut self, out: &mut Vec<Record>) {
        let Some(f) = self.file.as_mut() else { return };
        let mut buf = Vec::new();
        if f.read_to_end(&mut buf).is_err() {
            return;
        }
        self.partial.extend_from_slice(&buf);
        // Only whole lines: a writer's line may be read before its end.
        if let Some(end) = self.partial.iter().rposition(|b| *b == b'\n') {
            let whole: Vec<u8> = self.partial.drain(..=end).collect();
            out.extend(parse_lines(&String::from_utf8_lossy(&whole)));
        }
    }

    /// The events appended since the last poll.
    pub fn poll(&mut self) -> Vec<Record> {
        let mut out = Vec::new();
        self.drain(&mut out);
        let now = std::fs::metadata(path(&self.root))
            .map(|m| m.ino())
            .unwrap_or(0);
        if now != 0 && now != self.ino {
            // Rotated (or made for the first time): the old file is done.
            self.reopen();
            self.drain(&mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_come_back_in_order_across_a_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let mut f = Follower::from_end(root);
        record(
            root,
            "container",
            "create",
            "abc",
            &[("name", "web".into())],
        );
        let got = f.poll();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].attr("name"), "web");
        assert_eq!(got[0].scope, "local");
        // Fill past the bound: the next append rotates.
        let big = "x".repeat(4096);
        let mut n = 0;
        while path(root).metadata().unwrap().len() < MAX_BYTES {
            record(root, "image", "tag", "i", &[("name", big.clone())]);
            n += 1;
        }
        record(root, "container", "die", "abc", &[("exitCode", "3".into())]);
        assert!(root.join(OLD_FILE).exists());
        let got = f.poll();
        assert_eq!(
            got.len(),
            n + 1,
            "every line, none twice, across the rotation"
        );
        assert_eq!(got.last().unwrap().action, "die");
        assert_eq!(read_all(root).len(), n + 2);
        let (r, file, line) = last_matching(root, |r| r.kind == "image").unwrap();
        assert_eq!(r.action, "tag");
        assert_eq!(file, root.join(OLD_FILE));
        assert_eq!(line, n + 1);
    }

    #[test]
    fn concurrent_writers_never_interleave_lines() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let root = root.clone();
                std::thread::spawn(move || {
                    for i in 0..200 {
                        record(
                            &root,
                            "container",
                            "start",
                            &format!("{t}-{i}"),
                            &[("name", "y".repeat(300))],
                        );
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let text = std::fs::read_to_string(path(&root)).unwrap();
        assert_eq!(text.lines().count(), 800);
        assert!(text
            .lines()
            .all(|l| serde_json::from_str::<Record>(l).is_ok()));
    }
}
