//! The build cache, kept in the root: `build-cache/<key-hex>.json` records
//! what one instruction produced (a layer's digests, or nothing) together
//! with the [`CacheInputs`] that made the key. `build-cache/slots/<hex>`
//! remembers which key an instruction *position* (context, Dockerfile,
//! stage, instruction index) had last time, so a miss can say which input
//! changed instead of just "not found".

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::plan::CacheInputs;
use crate::store::Store;
use crate::Result;

/// A layer an instruction produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedLayer {
    /// `sha256:` of the gzip blob.
    pub digest: String,
    /// `sha256:` of the uncompressed tar.
    pub diff_id: String,
    /// Bytes of the gzip blob.
    pub size: u64,
    /// Entries in the layer tar.
    pub files: u64,
    /// The first paths added (for the trace).
    pub paths: Vec<String>,
}

/// One cache record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CacheRecord {
    /// What went into the key.
    pub inputs: CacheInputs,
    /// The layer, or `None` when the instruction made no layer.
    pub layer: Option<CachedLayer>,
}

/// The outcome of a cache lookup.
#[derive(Debug)]
pub enum Lookup {
    /// A usable record.
    Hit(CacheRecord),
    /// No usable record, and why.
    Miss(String),
}

fn hex_of(key: &str) -> &str {
    key.strip_prefix("sha256:").unwrap_or(key)
}

/// The cache of one store.
#[derive(Debug, Clone)]
pub struct Cache {
    store: Store,
}

impl Cache {
    /// The cache in `store`'s root.
    pub fn new(store: &Store) -> Self {
        Cache {
            store: store.clone(),
        }
    }

    fn dir(&self) -> PathBuf {
        self.store.root().join("build-cache")
    }

    /// Identifies an instruction position across builds.
    pub fn slot(context: &str, dockerfile: &str, stage: usize, index: usize) -> String {
        let h = Sha256::digest(format!("{context}\0{dockerfile}\0{stage}\0{index}").as_bytes());
        hex::encode(h)
    }

    fn read(&self, key: &str) -> Option<CacheRecord> {
        let bytes = std::fs::read(self.dir().join(format!("{}.json", hex_of(key)))).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Looks `inputs` up; on a miss explains which input changed since the
    /// key this `slot` had last time.
    pub fn lookup(&self, inputs: &CacheInputs, slot: &str) -> Lookup {
        let key = inputs.key();
        if let Some(rec) = self.read(&key) {
            let blob_ok = match &rec.layer {
                None => true,
                Some(l) => self
                    .store
                    .blob_path(&l.digest)
                    .map(|p| p.is_file())
                    .unwrap_or(false),
            };
            if blob_ok {
                return Lookup::Hit(rec);
            }
            return Lookup::Miss(
                "the cached layer's blob is no longer in the store (removed by rmi)".into(),
            );
        }
        let previous = std::fs::read_to_string(self.dir().join("slots").join(slot))
            .ok()
            .and_then(|k| self.read(k.trim()));
        match previous {
            Some(prev) => Lookup::Miss(
                inputs
                    .explain_change(&prev.inputs)
                    .unwrap_or_else(|| "no cached result for these inputs".into()),
            ),
            None => Lookup::Miss("no cached result for this step yet (first build)".into()),
        }
    }

    /// Records what `inputs` produced and remembers the key for `slot`.
    pub fn record(
        &self,
        inputs: &CacheInputs,
        layer: Option<CachedLayer>,
        slot: &str,
    ) -> Result<()> {
        use crate::error::IoContext;
        let slots = self.dir().join("slots");
        std::fs::create_dir_all(&slots).ctx(|| format!("creating {}", slots.display()))?;
        let key = inputs.key();
        let rec = CacheRecord {
            inputs: inputs.clone(),
            layer,
        };
        let bytes = serde_json::to_vec_pretty(&rec).expect("a cache record serialises");
        self.store
            .write_atomic(&format!("build-cache/{}.json", hex_of(&key)), &bytes)?;
        self.store
            .write_atomic(&format!("build-cache/slots/{slot}"), key.as_bytes())
    }
}
