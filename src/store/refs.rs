//! Tags: entries of `index.json` carrying an
//! `org.opencontainers.image.ref.name` annotation (`name:tag`), changed
//! only under the store lock and written temp-then-rename.

use super::{Store, StoreError};
use crate::reference::Reference;
use crate::trace::{self, Kind};
use crate::Result;
use oci_spec::image::{Descriptor, Digest, ImageIndex, MediaType};
use std::collections::HashMap;
use std::str::FromStr;

/// The annotation that names a tag in an OCI layout's index.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// The tag annotation of an index entry, if any.
pub fn ref_name(d: &Descriptor) -> Option<&str> {
    d.annotations().as_ref()?.get(REF_NAME).map(String::as_str)
}

impl Store {
    fn write_index(&self, index: &ImageIndex) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(index).expect("an index serialises");
        self.write_atomic("index.json", &bytes)
    }

    /// Points tag `name_tag` (`name:tag`) at the manifest `digest`
    /// (`size` bytes), replacing what it pointed at before.
    /// Journals an image `tag` event (a pull sets its tag through
    /// [`Store::set_tag_typed`] and journals `pull` instead).
    pub fn set_tag(&self, name_tag: &str, digest: &str, size: u64) -> Result<()> {
        self.set_tag_typed(name_tag, digest, size, MediaType::ImageManifest)?;
        self.journal_image("tag", digest, name_tag);
        Ok(())
    }

    /// Journals an image event for the image whose manifest is
    /// `manifest` (its id is its config's digest, as docker's), with
    /// `name` as its name attribute ("" names it by its id).
    pub fn journal_image(&self, action: &str, manifest: &str, name: &str) {
        let id = self
            .image_from_manifest(manifest)
            .map(|i| i.id)
            .unwrap_or_else(|_| manifest.to_string());
        let name = if name.is_empty() {
            id.clone()
        } else {
            name.to_string()
        };
        super::journal::record(&self.root, "image", action, &id, &[("name", name)]);
    }

    /// Like [`Store::set_tag`], for a manifest of another media type (a
    /// pulled Docker schema 2 manifest keeps its own type in the index).
    pub fn set_tag_typed(
        &self,
        name_tag: &str,
        digest: &str,
        size: u64,
        media_type: MediaType,
    ) -> Result<()> {
        let mut s = trace::step(Kind::Store, "tag", name_tag.to_string())
            .field("tag", name_tag)
            .field("manifest", digest)
            .announce()?;
        let _lock = self.lock()?;
        let mut index = self.index()?;
        let mut manifests: Vec<Descriptor> = index
            .manifests()
            .iter()
            .filter(|d| ref_name(d) != Some(name_tag))
            .cloned()
            .collect();
        let dg = Digest::from_str(digest).map_err(|_| StoreError::BadDigest(digest.into()))?;
        let mut desc = Descriptor::new(media_type, size, dg);
        desc.set_annotations(Some(HashMap::from([(
            REF_NAME.to_string(),
            name_tag.to_string(),
        )])));
        manifests.push(desc);
        manifests.sort_by(|a, b| ref_name(a).cmp(&ref_name(b)));
        index.set_manifests(manifests);
        let r = self.write_index(&index);
        s.field("tags", index.manifests().len());
        s.finish_with(r)
    }

    /// Removes tag `name_tag`; returns the manifest digest it pointed at.
    pub fn remove_tag(&self, name_tag: &str) -> Result<Option<String>> {
        let _lock = self.lock()?;
        let mut index = self.index()?;
        let mut removed = None;
        let manifests: Vec<Descriptor> = index
            .manifests()
            .iter()
            .filter(|d| {
                if ref_name(d) == Some(name_tag) {
                    removed = Some(d.digest().to_string());
                    false
                } else {
                    true
                }
            })
            .cloned()
            .collect();
        if let Some(m) = &removed {
            let still_named = manifests.iter().any(|d| d.digest().to_string() == *m);
            index.set_manifests(manifests);
            self.write_index(&index)?;
            // As dockerd's, these name the image by its id, not the tag.
            self.journal_image("untag", m, "");
            if !still_named {
                // No name reaches the image any more: docker's `delete`.
                self.journal_image("delete", m, "");
            }
        }
        Ok(removed)
    }

    /// All tags, as `(name:tag, manifest digest)`, sorted by tag. A tag
    /// that names an image index is given as its manifest for this
    /// machine's platform, and left out when the store has none
    /// ([`Store::tag_entries`] lists every entry as written).
    pub fn tags(&self) -> Result<Vec<(String, String)>> {
        Ok(self
            .tag_entries()?
            .into_iter()
            .filter_map(|e| {
                if e.is_index() {
                    Some((e.tag, self.platform_manifest(&e.digest)?))
                } else {
                    Some((e.tag, e.digest))
                }
            })
            .collect())
    }

    /// The manifest digest a reference names: its digest if given, else
    /// the tag's entry in the index. `None` when the store lacks it.
    pub fn manifest_digest(&self, r: &Reference) -> Result<Option<String>> {
        if let Some(d) = &r.digest {
            if !self.blob_path(d)?.exists() {
                return Ok(None);
            }
            // An index by digest names its manifest for this platform.
            return Ok(match self.tag_entry(r)? {
                Some(e) if e.is_index() => self.platform_manifest(d),
                _ => Some(d.clone()),
            });
        }
        // The name as given, or Docker's short form of it: the docker CLI
        // asks for `docker.io/library/busybox:latest` where the store
        // names it `busybox:latest`.
        let want = [r.name_tag(), r.familiar_name_tag()];
        Ok(self
            .tags()?
            .into_iter()
            .find(|(t, _)| want.iter().flatten().any(|w| w == t))
            .map(|(_, d)| d))
    }
}
