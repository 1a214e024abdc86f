//! Garbage collection: after a tag goes, blobs and unpacked layers that no
//! remaining tag reaches are deleted (under the store lock).

use super::Store;
use crate::error::IoContext;
use crate::trace::{self, Kind};
use crate::Result;
use std::collections::HashSet;

impl Store {
    /// Deletes blobs and `layers/` dirs no tag reaches; returns how many
    /// blobs were removed.
    pub fn gc(&self) -> Result<u64> {
        let _lock = self.lock()?;
        let mut keep_blobs = HashSet::new();
        let mut keep_layers = HashSet::new();
        for (_, m) in self.tags()? {
            let img = self.image_from_manifest(&m)?;
            keep_blobs.insert(img.manifest_digest[7..].to_string());
            keep_blobs.insert(img.id[7..].to_string());
            for l in img.layers {
                keep_blobs.insert(l.digest[7..].to_string());
                keep_layers.insert(l.chain_id[7..].to_string());
            }
        }
        // An index keeps every manifest it lists and their blobs (those of
        // other platforms too: a push sends them all).
        for e in self.tag_entries()? {
            if e.is_index() {
                self.reachable(&e.digest, &mut keep_blobs);
            }
        }
        let mut removed = 0;
        for e in std::fs::read_dir(self.blobs_dir()).ctx(|| "reading blobs".into())? {
            let p = e.ctx(|| "reading blobs".into())?.path();
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if !keep_blobs.contains(&name) {
                trace::fact(Kind::Store, "delete", format!("blob sha256:{name}"))
                    .field("digest", format!("sha256:{name}"))
                    .info();
                std::fs::remove_file(&p).ctx(|| format!("removing {}", p.display()))?;
                removed += 1;
            }
        }
        if let Ok(rd) = std::fs::read_dir(self.layers_dir()) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if !keep_layers.contains(&name) {
                    std::fs::remove_dir_all(e.path())
                        .ctx(|| format!("removing {}", e.path().display()))?;
                }
            }
        }
        Ok(removed)
    }
}
