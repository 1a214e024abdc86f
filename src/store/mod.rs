//! The content store: the glassbox root *is* an OCI image layout
//! (`oci-layout`, `index.json`, `blobs/sha256/`). Blobs are written to a
//! temp file inside the root's `tmp/`, their digest verified, then renamed
//! into place, so a killed command never leaves a half-written blob; each
//! temp entry names its maker ([`tmp`]), so the next command to open the
//! store removes what a killed one left. Writers of `index.json` hold an
//! exclusive lock on `index.lock`.

mod blobs;
pub mod container;
mod gc;
mod images;
mod indexes;
pub mod journal;
mod refs;
mod remote;
pub mod tmp;
mod verify;

pub use images::{chain_ids, Image, LayerRef, MissingImage};
pub use indexes::{children, host_arch, TagEntry, INDEX_TYPES};
pub use refs::{ref_name, REF_NAME};

pub use blobs::digest_hex;

pub use blobs::BlobWriter;
pub use verify::Verification;

use crate::error::IoContext;
use crate::trace::{self, Kind};
use crate::Result;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A blob's bytes do not hash to its name.
    #[error("blob {expected} is corrupt: its bytes hash to {actual}; remove it and pull or load the image again")]
    DigestMismatch {
        /// The digest the blob should have.
        expected: String,
        /// The digest its bytes have.
        actual: String,
    },
    /// A digest string that is not `sha256:<64 hex>`.
    #[error("invalid digest {0:?}: expected sha256: followed by 64 lower-case hex digits")]
    BadDigest(String),
    /// A blob the caller asked for is not in the store.
    #[error("blob {0} is not in the store; run `glassbox store verify` to check the store")]
    MissingBlob(String),
    /// No container has this name, id or id prefix.
    #[error("no container named or with id {0:?}; list them with `glassbox ps -a`")]
    NoSuchContainer(String),
    /// Several containers' ids start with this prefix.
    #[error("{0:?} matches more than one container id; give more characters or the name")]
    AmbiguousContainer(String),
    /// `index.json` cannot be parsed.
    #[error("index.json in {path} is not a valid OCI index: {reason}")]
    BadIndex {
        /// The root.
        path: String,
        /// What the parser said.
        reason: String,
    },
}

/// An open glassbox root.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    /// A shared lock on `tmp.lock`, held while this store is open: it tells
    /// other commands that temp files in `tmp/` may be in use.
    _tmp_claim: Option<std::sync::Arc<File>>,
}

impl Store {
    /// Opens the store at `root`, creating the OCI layout if it is missing
    /// (emits `store.init` when it creates it), and sweeps temp files that a
    /// killed command left behind.
    pub fn open(root: &Path) -> Result<Store> {
        let mut store = Store {
            root: root.to_path_buf(),
            _tmp_claim: None,
        };
        if !root.join("oci-layout").exists() {
            let mut s = trace::step(Kind::Store, "init", root.display().to_string())
                .field("path", root.display().to_string())
                .equivalent(format!(
                    "mkdir -p {0}/blobs/sha256 && echo '{{\"imageLayoutVersion\":\"1.0.0\"}}' > {0}/oci-layout",
                    root.display()
                ))
                .announce()?;
            let r = store.init_layout();
            if let Err(e) = &r {
                s.field("error", e.to_string());
            }
            s.finish_with(r)?;
        }
        store._tmp_claim = Some(std::sync::Arc::new(store.claim_tmp()?));
        Ok(store)
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `layers/`: unpacked layers for overlay lowerdirs, one dir per chain
    /// id (image::unpack fills them).
    pub fn layers_dir(&self) -> PathBuf {
        self.root.join("layers")
    }

    /// `blobs/sha256/`.
    pub fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs").join("sha256")
    }

    /// Where temp files live (inside the root, so renames stay on one
    /// filesystem); swept on every open.
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    fn init_layout(&self) -> Result<()> {
        fs::create_dir_all(self.blobs_dir())
            .ctx(|| format!("creating {}", self.blobs_dir().display()))?;
        fs::create_dir_all(self.tmp_dir())
            .ctx(|| format!("creating {}", self.tmp_dir().display()))?;
        let _lock = self.lock()?;
        if !self.root.join("index.json").exists() {
            let index = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []});
            self.write_atomic(
                "index.json",
                &serde_json::to_vec_pretty(&index).expect("json"),
            )?;
        }
        self.write_atomic("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        Ok(())
    }

    /// Takes the exclusive lock that serialises writers of shared state
    /// (`index.json`); released when the returned file is dropped.
    pub fn lock(&self) -> Result<File> {
        let path = self.root.join("index.lock");
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .ctx(|| format!("opening lock file {}", path.display()))?;
        f.lock().ctx(|| format!("locking {}", path.display()))?;
        Ok(f)
    }

    /// Writes `name` (relative to the root) by temp file, fsync and rename.
    pub fn write_atomic(&self, name: &str, bytes: &[u8]) -> Result<()> {
        use std::io::Write;
        let dest = self.root.join(name);
        let mut tmp = self.tempfile()?;
        tmp.write_all(bytes)
            .ctx(|| format!("writing {}", dest.display()))?;
        tmp.as_file()
            .sync_all()
            .ctx(|| format!("syncing {}", dest.display()))?;
        tmp.persist(&dest)
            .ctx(|| format!("renaming into {}", dest.display()))?;
        Ok(())
    }

    /// Sweeps `tmp/` ([`tmp::sweep`]): everything in it when no other
    /// command has the store open, otherwise only what dead commands left
    /// (their markers say so) and temp files nobody has open. Then holds a
    /// shared claim that tells later commands this one's unmarked temp
    /// files may be in use. The kernel drops the claim of a killed command.
    fn claim_tmp(&self) -> Result<File> {
        let path = self.root.join("tmp.lock");
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .ctx(|| format!("opening lock file {}", path.display()))?;
        let tmp = self.tmp_dir();
        fs::create_dir_all(&tmp).ctx(|| format!("creating {}", tmp.display()))?;
        match f.try_lock() {
            Ok(()) => {
                tmp::sweep(self, true);
            }
            Err(fs::TryLockError::WouldBlock) => {
                tmp::sweep(self, false);
            }
            Err(fs::TryLockError::Error(e)) => {
                return Err(e).ctx(|| format!("locking {}", path.display()))
            }
        }
        f.lock_shared()
            .ctx(|| format!("locking {}", path.display()))?;
        Ok(f)
    }

    /// The parsed `index.json`.
    pub fn index(&self) -> Result<oci_spec::image::ImageIndex> {
        let path = self.root.join("index.json");
        let bytes = fs::read(&path).ctx(|| format!("reading {}", path.display()))?;
        serde_json::from_slice(&bytes).map_err(|e| {
            StoreError::BadIndex {
                path: self.root.display().to_string(),
                reason: e.to_string(),
            }
            .into()
        })
    }
}
