//! `store verify`, first half: an fsck for the root's blobs. Every blob's
//! bytes must hash to its name, and every tag's manifest, config and layers
//! must exist. The second half, that every unpacked layer dir still matches
//! its blob, needs apply's policy and so lives in `image::verify_layers`;
//! `image::verify` runs both.

use super::Store;
use crate::error::IoContext;
use crate::Result;
use sha2::{Digest as _, Sha256};

/// What `store verify` found.
#[derive(Debug, Default)]
pub struct Verification {
    /// Problems, one line each; the store is sound when there are none.
    pub problems: Vec<String>,
    /// Layer entries that apply refused on purpose (a hard link out of the
    /// layer, a device node, ...): expected to be absent, so not problems.
    pub refused: Vec<String>,
}

impl Store {
    /// Checks every blob and tag (see the module doc).
    pub fn verify_blobs(&self) -> Result<Verification> {
        let mut problems = Vec::new();
        for e in std::fs::read_dir(self.blobs_dir()).ctx(|| "reading blobs".into())? {
            let p = e.ctx(|| "reading blobs".into())?.path();
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mut f = std::fs::File::open(&p).ctx(|| format!("opening {}", p.display()))?;
            let mut h = Sha256::new();
            std::io::copy(&mut f, &mut h).ctx(|| format!("reading {}", p.display()))?;
            let actual = hex::encode(h.finalize());
            if actual != name {
                problems.push(format!(
                    "blob sha256:{name} is corrupt: its bytes hash to sha256:{actual}"
                ));
            }
        }
        for (tag, m) in self.tags()? {
            match self.image_from_manifest(&m) {
                Err(e) => problems.push(format!("tag {tag}: {e}")),
                Ok(img) => {
                    for l in &img.layers {
                        if !self.blob_path(&l.digest)?.exists() {
                            problems.push(format!("tag {tag}: layer blob {} is missing", l.digest));
                        }
                    }
                    if img.layers.len() != img.manifest.layers().len() {
                        problems.push(format!("tag {tag}: the config's diff_ids and the manifest's layers differ in number"));
                    }
                }
            }
        }
        // An index tag: the index and every manifest it lists are here (a
        // pull fetches them all); the blobs of other platforms' manifests
        // are here only after `pull --all-platforms`, so not checked.
        for e in self.tag_entries()? {
            if !e.is_index() {
                continue;
            }
            match self.read_blob(&e.digest) {
                Err(err) => problems.push(format!("tag {}: {err}", e.tag)),
                Ok(bytes) => match serde_json::from_slice::<serde_json::Value>(&bytes) {
                    Err(err) => problems.push(format!(
                        "tag {}: index {} is not JSON: {err}",
                        e.tag, e.digest
                    )),
                    Ok(v) => {
                        for (d, _) in super::children(&v) {
                            if !self.blob_path(&d).is_ok_and(|p| p.exists()) {
                                problems.push(format!(
                                    "tag {}: index {} lists manifest {d}, which is missing",
                                    e.tag, e.digest
                                ));
                            }
                        }
                    }
                },
            }
        }
        Ok(Verification {
            problems,
            refused: Vec::new(),
        })
    }
}
