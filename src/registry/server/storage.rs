//! The registry's storage directory, laid out like distribution's:
//!
//! ```text
//! STORAGE/blobs/<sha256|sha512>/<hex>               every blob and manifest, once (per algorithm)
//! STORAGE/repositories/<name>/_layers/sha256/<hex> empty: this repository has this blob
//! STORAGE/repositories/<name>/_manifests/revisions/sha256/<hex>
//!                                                  this repository has this manifest (holds its media type)
//! STORAGE/repositories/<name>/_manifests/tags/<tag> the digest the tag names
//! STORAGE/_uploads/<uuid>/{data,repo}              uploads in progress
//! STORAGE/_tmp/                                    temp files, renamed into place
//! ```
//!
//! Content is global (a blob pushed to two repositories is stored once);
//! visibility is per repository (a blob is served only where it is linked,
//! so cross-repository mount means something). Every file that becomes
//! visible is written under `_tmp/` or `_uploads/` first and renamed into
//! place, so a reader never sees half a blob, and two clients pushing the
//! same blob at once each rename a complete, verified copy over the other.
//! Names are validated before they reach here ([`super::api_error::valid_name`]).

use super::api_error::Digest;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The storage directory.
#[derive(Debug, Clone)]
pub struct Storage {
    root: PathBuf,
}

/// A random id: 16 bytes from getrandom(2), as 32 hex digits.
pub fn random_id() -> String {
    let mut b = [0u8; 16];
    let mut filled = 0;
    while filled < b.len() {
        // SAFETY: the pointer and length describe the unfilled tail of `b`,
        // a live, writable stack buffer.
        let n = unsafe { libc::getrandom(b[filled..].as_mut_ptr().cast(), b.len() - filled, 0) };
        if n > 0 {
            filled += n as usize;
        }
    }
    hex::encode(b)
}

impl Storage {
    /// Opens (creating) the storage directory.
    pub fn open(root: &Path) -> io::Result<Storage> {
        for d in ["blobs/sha256", "repositories", "_uploads", "_tmp"] {
            fs::create_dir_all(root.join(d))?;
        }
        // What a killed server left in _tmp/ was never renamed into place:
        // nothing refers to it. (Uploads in _uploads/ stay: a client may
        // resume them.)
        for e in fs::read_dir(root.join("_tmp"))?.flatten() {
            let _ = fs::remove_file(e.path());
        }
        Ok(Storage {
            root: root.to_path_buf(),
        })
    }

    /// Where a blob's bytes live.
    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.root.join("blobs").join(d.algorithm()).join(d.hex())
    }

    fn repo(&self, name: &str) -> PathBuf {
        self.root.join("repositories").join(name)
    }

    fn layer_link(&self, name: &str, d: &Digest) -> PathBuf {
        self.repo(name)
            .join("_layers")
            .join(d.algorithm())
            .join(d.hex())
    }

    fn revision(&self, name: &str, d: &Digest) -> PathBuf {
        self.repo(name)
            .join("_manifests/revisions")
            .join(d.algorithm())
            .join(d.hex())
    }

    fn tags_dir(&self, name: &str) -> PathBuf {
        self.repo(name).join("_manifests/tags")
    }

    /// Writes `bytes` to `path` atomically (temp file in `_tmp/`, rename).
    pub fn write_atomic(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        if let Some(p) = path.parent() {
            fs::create_dir_all(p)?;
        }
        let tmp = self.root.join("_tmp").join(random_id());
        let r = (|| {
            let mut f = File::create(&tmp)?;
            f.write_all(bytes)?;
            fs::rename(&tmp, path)
        })();
        if r.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        r
    }

    /// The blob's size when this repository may see it.
    pub fn layer_size(&self, name: &str, d: &Digest) -> Option<u64> {
        if !self.layer_link(name, d).exists() {
            return None;
        }
        fs::metadata(self.blob_path(d)).ok().map(|m| m.len())
    }

    /// Makes a stored blob visible in a repository.
    pub fn link_layer(&self, name: &str, d: &Digest) -> io::Result<()> {
        self.write_atomic(&self.layer_link(name, d), b"")
    }

    /// Hides a blob from a repository; false if it was not there.
    pub fn unlink_layer(&self, name: &str, d: &Digest) -> io::Result<bool> {
        remove_if_present(&self.layer_link(name, d))
    }

    /// Stores a finished upload's file as a blob (a rename) and links it.
    pub fn commit_blob(&self, name: &str, data: &Path, d: &Digest) -> io::Result<()> {
        let to = self.blob_path(d);
        if let Some(p) = to.parent() {
            fs::create_dir_all(p)?;
        }
        fs::rename(data, to)?;
        self.link_layer(name, d)
    }

    /// The media type of a manifest this repository has.
    pub fn manifest_type(&self, name: &str, d: &Digest) -> Option<String> {
        fs::read_to_string(self.revision(name, d)).ok()
    }

    /// Stores a verified manifest: its bytes as a blob, then the revision
    /// link that makes it visible here, then (optionally) the tag.
    pub fn put_manifest(
        &self,
        name: &str,
        d: &Digest,
        media_type: &str,
        bytes: &[u8],
        tag: Option<&str>,
    ) -> io::Result<()> {
        self.write_atomic(&self.blob_path(d), bytes)?;
        self.write_atomic(&self.revision(name, d), media_type.as_bytes())?;
        if let Some(t) = tag {
            self.write_atomic(&self.tags_dir(name).join(t), d.as_str().as_bytes())?;
        }
        Ok(())
    }

    /// Every manifest this repository holds, by digest.
    pub fn revisions(&self, name: &str) -> Vec<Digest> {
        let mut out = Vec::new();
        for alg in ["sha256", "sha512"] {
            let dir = self.repo(name).join("_manifests/revisions").join(alg);
            let Ok(rd) = fs::read_dir(dir) else {
                continue;
            };
            out.extend(rd.filter_map(|e| {
                Digest::parse(&format!("{alg}:{}", e.ok()?.file_name().to_str()?))
            }));
        }
        out
    }

    /// The digest a tag names.
    pub fn tag(&self, name: &str, tag: &str) -> Option<Digest> {
        let s = fs::read_to_string(self.tags_dir(name).join(tag)).ok()?;
        Digest::parse(s.trim())
    }

    /// The repository's tags, sorted; `None` when it has never had any.
    pub fn tags(&self, name: &str) -> Option<Vec<String>> {
        let rd = fs::read_dir(self.tags_dir(name)).ok()?;
        let mut v: Vec<String> = rd
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        v.sort();
        Some(v)
    }

    /// Removes a tag; false if there was none.
    pub fn delete_tag(&self, name: &str, tag: &str) -> io::Result<bool> {
        remove_if_present(&self.tags_dir(name).join(tag))
    }

    /// Removes a manifest from a repository, with every tag naming it;
    /// returns the tags removed, or `None` if the manifest was not there.
    pub fn delete_manifest(&self, name: &str, d: &Digest) -> io::Result<Option<Vec<String>>> {
        if !remove_if_present(&self.revision(name, d))? {
            return Ok(None);
        }
        let mut gone = Vec::new();
        for t in self.tags(name).unwrap_or_default() {
            if self.tag(name, &t).as_ref() == Some(d) && self.delete_tag(name, &t)? {
                gone.push(t);
            }
        }
        Ok(Some(gone))
    }

    /// Every repository (a directory holding `_layers`), sorted.
    pub fn repositories(&self) -> Vec<String> {
        let mut out = Vec::new();
        walk_repos(&self.root.join("repositories"), "", &mut out);
        out.sort();
        out
    }

    /// The directory of an upload session.
    pub fn upload_dir(&self, id: &str) -> PathBuf {
        self.root.join("_uploads").join(id)
    }
}

fn walk_repos(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let Ok(name) = e.file_name().into_string() else {
            continue;
        };
        if name.starts_with('_') || !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let full = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        let p = e.path();
        if p.join("_layers").is_dir() || p.join("_manifests").is_dir() {
            out.push(full.clone());
        }
        walk_repos(&p, &full, out);
    }
}

fn remove_if_present(p: &Path) -> io::Result<bool> {
    match fs::remove_file(p) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}
