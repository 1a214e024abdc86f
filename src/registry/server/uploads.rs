//! Blob upload sessions. A session is a file `_uploads/<id>/data` plus a
//! running sha256 kept in memory: every byte is hashed as it streams from
//! the socket to the disk, so when the client finally names the digest
//! (`PUT …?digest=`) the check costs nothing more than comparing two
//! strings. A chunk that breaks off mid-way is cut back off the file and
//! the hash restored, so the client can retry it. A session the server
//! forgot (it restarted) is picked up again by re-hashing its file.

use super::api_error::Digest;
use super::storage::{random_id, Storage};
use sha2::Digest as _;
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// One upload in progress.
pub struct Upload {
    /// The repository it was opened in.
    pub repo: String,
    /// Its id (the last part of its Location).
    pub id: String,
    /// Bytes received so far.
    pub size: u64,
    file: File,
    hasher: sha2::Sha256,
    dir: PathBuf,
}

impl Upload {
    /// Appends the whole of `r`, hashing while writing. On error the file
    /// and the hash are put back as they were before this call.
    pub fn append(&mut self, r: &mut dyn Read) -> io::Result<u64> {
        let (old_size, old_hash) = (self.size, self.hasher.clone());
        let mut buf = vec![0u8; 1 << 20];
        let mut n_total = 0u64;
        let r = (|| loop {
            let n = match r.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.hasher.update(&buf[..n]);
            self.file.write_all(&buf[..n])?;
            n_total += n as u64;
            self.size += n as u64;
        })();
        if let Err(e) = r {
            self.size = old_size;
            self.hasher = old_hash;
            self.file.set_len(old_size)?;
            return Err(e);
        }
        Ok(n_total)
    }

    /// The digest of everything received so far, by the algorithm of
    /// `like` (the digest the client named). sha256, what nearly every
    /// client uses, was hashed on the way in; sha512 is hashed from the
    /// file now, so uploads that never ask for it never pay for it.
    pub fn digest_like(&mut self, like: &Digest) -> io::Result<Digest> {
        if like.algorithm() != "sha512" {
            return Ok(Digest::from_hasher(self.hasher.clone()));
        }
        self.file.flush()?;
        let mut h = sha2::Sha512::new();
        io::copy(&mut File::open(self.data_path())?, &mut h)?;
        Ok(Digest::from_sha512(h))
    }

    /// The file holding the bytes.
    pub fn data_path(&self) -> PathBuf {
        self.dir.join("data")
    }
}

/// Every open session, by id.
pub struct Uploads {
    storage: Storage,
    open: Mutex<HashMap<String, Arc<Mutex<Upload>>>>,
}

impl Uploads {
    /// No sessions yet.
    pub fn new(storage: Storage) -> Uploads {
        Uploads {
            storage,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// Opens a new session in `repo`.
    pub fn start(&self, repo: &str) -> io::Result<Arc<Mutex<Upload>>> {
        let id = random_id();
        let dir = self.storage.upload_dir(&id);
        fs::create_dir_all(&dir)?;
        fs::write(dir.join("repo"), repo)?;
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(dir.join("data"))?;
        let up = Arc::new(Mutex::new(Upload {
            repo: repo.to_string(),
            id: id.clone(),
            size: 0,
            file,
            hasher: sha2::Sha256::new(),
            dir,
        }));
        self.lock().insert(id, up.clone());
        Ok(up)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Mutex<Upload>>>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The session `id` of `repo`, if there is one.
    pub fn get(&self, repo: &str, id: &str) -> Option<Arc<Mutex<Upload>>> {
        if id.len() != 32 || !id.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        let found = self.lock().get(id).cloned();
        let up = match found {
            Some(u) => u,
            None => {
                let u = Arc::new(Mutex::new(self.resume(id).ok()?));
                self.lock().entry(id.to_string()).or_insert(u).clone()
            }
        };
        let same_repo = up.lock().unwrap_or_else(|e| e.into_inner()).repo == repo;
        same_repo.then_some(up)
    }

    /// Rebuilds a session from its directory (after a restart).
    fn resume(&self, id: &str) -> io::Result<Upload> {
        let dir = self.storage.upload_dir(id);
        let repo = fs::read_to_string(dir.join("repo"))?;
        let mut hasher = sha2::Sha256::new();
        let size = io::copy(&mut File::open(dir.join("data"))?, &mut hasher)?;
        let file = OpenOptions::new().append(true).open(dir.join("data"))?;
        Ok(Upload {
            repo,
            id: id.to_string(),
            size,
            file,
            hasher,
            dir,
        })
    }

    /// Forgets a session and removes what is left of its directory.
    pub fn remove(&self, id: &str) {
        self.lock().remove(id);
        let _ = fs::remove_dir_all(self.storage.upload_dir(id));
    }
}
