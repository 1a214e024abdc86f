//! Image indexes in the store. A tag in `index.json` may name an image
//! index (OCI's, or Docker's manifest list) instead of one image manifest,
//! as the OCI image layout allows: a pull of a multi-platform image keeps
//! the index it was served, and `glassbox manifest create` makes one. The
//! index blob and every manifest it lists are kept byte for byte, so a
//! push sends the same digest the pull received.
//!
//! Everything that wants *an image* (run, inspect, images, the API) sees
//! such a tag as the index's entry for this machine's platform
//! ([`Store::platform_manifest`]); gc keeps everything an index reaches.

use super::Store;
use crate::reference::Reference;
use crate::Result;
use std::collections::HashSet;

/// The media types of an image index.
pub const INDEX_TYPES: [&str; 2] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// One tag's entry in `index.json`, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagEntry {
    /// `name:tag`.
    pub tag: String,
    /// The digest it names.
    pub digest: String,
    /// The size of that blob.
    pub size: u64,
    /// Its media type (an image manifest's or an index's).
    pub media_type: String,
}

impl TagEntry {
    /// Whether the tag names an image index.
    pub fn is_index(&self) -> bool {
        INDEX_TYPES.contains(&self.media_type.as_str())
    }
}

/// The descriptors an index or manifest JSON lists: an index's
/// `manifests`, a manifest's `config` and `layers`, as (digest, media type).
pub fn children(doc: &serde_json::Value) -> Vec<(String, String)> {
    let desc = |d: &serde_json::Value| {
        Some((
            d.get("digest")?.as_str()?.to_string(),
            d.get("mediaType")
                .and_then(|m| m.as_str())
                .unwrap_or("")
                .to_string(),
        ))
    };
    let list = |k: &str| {
        doc.get(k)
            .and_then(|l| l.as_array())
            .map(|a| a.iter().filter_map(desc).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    let mut out = list("manifests");
    out.extend(doc.get("config").and_then(desc));
    out.extend(list("layers"));
    out
}

/// The architecture name OCI uses for this machine.
pub fn host_arch() -> String {
    oci_spec::image::Arch::default().to_string()
}

impl Store {
    /// Every tag's entry as written in `index.json`, sorted by tag.
    pub fn tag_entries(&self) -> Result<Vec<TagEntry>> {
        Ok(self
            .index()?
            .manifests()
            .iter()
            .filter_map(|d| {
                Some(TagEntry {
                    tag: super::ref_name(d)?.to_string(),
                    digest: d.digest().to_string(),
                    size: d.size(),
                    media_type: d.media_type().to_string(),
                })
            })
            .collect())
    }

    /// The entry a reference's tag names (its short Docker form too), or,
    /// for `name@digest`, the blob itself with the media type its JSON
    /// declares. `None` when the store lacks it.
    pub fn tag_entry(&self, r: &Reference) -> Result<Option<TagEntry>> {
        if let Some(d) = &r.digest {
            let path = self.blob_path(d)?;
            let Ok(meta) = path.metadata() else {
                return Ok(None);
            };
            // A manifest or index is small JSON; a layer is not read.
            let declared = if meta.len() <= 4 << 20 {
                serde_json::from_slice::<serde_json::Value>(&self.read_blob(d)?)
                    .ok()
                    .and_then(|v| v.get("mediaType")?.as_str().map(str::to_string))
            } else {
                None
            };
            return Ok(Some(TagEntry {
                tag: r.name_tag().unwrap_or_default(),
                digest: d.clone(),
                size: meta.len(),
                media_type: declared
                    .unwrap_or_else(|| "application/vnd.oci.image.manifest.v1+json".into()),
            }));
        }
        let want = [r.name_tag(), r.familiar_name_tag()];
        Ok(self
            .tag_entries()?
            .into_iter()
            .find(|e| want.iter().flatten().any(|w| *w == e.tag)))
    }

    /// The manifest of index `digest` for this machine (linux and its
    /// architecture), when the index lists one and the store holds it.
    pub fn platform_manifest(&self, digest: &str) -> Option<String> {
        let v: serde_json::Value = serde_json::from_slice(&self.read_blob(digest).ok()?).ok()?;
        let arch = host_arch();
        v.get("manifests")?
            .as_array()?
            .iter()
            .filter(|m| {
                m.pointer("/platform/os").and_then(|o| o.as_str()) == Some("linux")
                    && m.pointer("/platform/architecture").and_then(|a| a.as_str())
                        == Some(arch.as_str())
                    && !m
                        .get("mediaType")
                        .and_then(|t| t.as_str())
                        .is_some_and(|t| INDEX_TYPES.contains(&t))
            })
            .filter_map(|m| m.get("digest")?.as_str().map(str::to_string))
            .find(|d| self.blob_path(d).is_ok_and(|p| p.exists()))
    }

    /// The blobs (hex digests) reachable from the blob `digest` that the
    /// store holds: itself, and when it is an index or manifest, what it
    /// lists, recursively (an index of indexes too).
    pub fn reachable(&self, digest: &str, out: &mut HashSet<String>) {
        let Ok(hex) = super::digest_hex(digest) else {
            return;
        };
        let Ok(path) = self.blob_path(digest) else {
            return;
        };
        if !path.exists() || !out.insert(hex.to_string()) {
            return;
        }
        // Only JSON documents list anything; a layer is not read.
        let small = path.metadata().map(|m| m.len() <= 4 << 20).unwrap_or(false);
        if !small {
            return;
        }
        let Ok(bytes) = std::fs::read(&path) else {
            return;
        };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            return;
        };
        if v.get("schemaVersion").is_none() {
            return;
        }
        for (d, _) in children(&v) {
            self.reachable(&d, out);
        }
    }
}
