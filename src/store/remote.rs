//! What the store remembers about registries, beside the OCI layout in
//! `registries.json`: the repo digests of each manifest (`RepoDigests` in
//! `image inspect`: `localhost:5001/busybox@sha256:…`, recorded after a
//! push or a pull) and, for each blob, the registry repositories known to
//! hold it (so a push to another repository on the same registry can ask
//! for a cross-repository mount instead of sending the bytes again).
//! Written temp-then-rename under the store lock, like `index.json`.

use super::Store;
use crate::error::IoContext;
use crate::Result;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

const FILE: &str = "registries.json";

/// The contents of `registries.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Records {
    /// Manifest digest → `registry/repository@digest` entries.
    #[serde(default)]
    repo_digests: BTreeMap<String, BTreeSet<String>>,
    /// Blob digest → `registry/repository` entries known to hold it.
    #[serde(default)]
    blob_sources: BTreeMap<String, BTreeSet<String>>,
}

impl Store {
    fn read_records(&self) -> Result<Records> {
        let path = self.root().join(FILE);
        match std::fs::read(&path) {
            Ok(b) => Ok(serde_json::from_slice(&b).unwrap_or_default()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Records::default()),
            Err(e) => Err(e).ctx(|| format!("reading {}", path.display())),
        }
    }

    fn update_records(&self, f: impl FnOnce(&mut Records)) -> Result<()> {
        let _lock = self.lock()?;
        let mut r = self.read_records()?;
        f(&mut r);
        let bytes = serde_json::to_vec_pretty(&r).expect("records serialise");
        self.write_atomic(FILE, &bytes)
    }

    /// Records a push or pull: the local manifest `manifest` is known as
    /// `repo_digest` (`localhost:5001/busybox@sha256:…`, the digest the
    /// registry serves for it), and the repository `source`
    /// (`registry/repository`) holds each of `blobs`.
    pub fn record_remote(
        &self,
        manifest: &str,
        repo_digest: &str,
        source: &str,
        blobs: &[String],
    ) -> Result<()> {
        self.update_records(|r| {
            r.repo_digests
                .entry(manifest.to_string())
                .or_default()
                .insert(repo_digest.to_string());
            for b in blobs {
                r.blob_sources
                    .entry(b.clone())
                    .or_default()
                    .insert(source.to_string());
            }
        })
    }

    /// The repo digests recorded for manifest `digest`, sorted.
    pub fn repo_digests(&self, digest: &str) -> Result<Vec<String>> {
        Ok(self
            .read_records()?
            .repo_digests
            .remove(digest)
            .map(|s| s.into_iter().collect())
            .unwrap_or_default())
    }

    /// The repositories (`host:port/name`) known to hold blob `digest`.
    pub fn blob_sources(&self, digest: &str) -> Result<Vec<String>> {
        Ok(self
            .read_records()?
            .blob_sources
            .remove(digest)
            .map(|s| s.into_iter().collect())
            .unwrap_or_default())
    }
}
