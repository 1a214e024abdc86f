//! Images in the store: committing a config + layers as a manifest (image
//! ID = config digest) and resolving a reference back to an [`Image`].

use super::{Store, StoreError};
use crate::reference::Reference;
use crate::trace::{self, Kind};
use crate::Result;
use oci_spec::image::{ImageConfiguration, ImageManifest};
use sha2::{Digest as _, Sha256};

/// One layer of an image, bottom to top.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerRef {
    /// `sha256:` of the gzip blob (manifest).
    pub digest: String,
    /// `sha256:` of the uncompressed tar (config `rootfs.diff_ids`).
    pub diff_id: String,
    /// Chain id: identifies this layer together with everything below it.
    pub chain_id: String,
    /// Bytes of the gzip blob.
    pub size: u64,
}

/// An image resolved from the store.
#[derive(Debug, Clone)]
pub struct Image {
    /// The image ID: the config blob's digest.
    pub id: String,
    /// The manifest blob's digest.
    pub manifest_digest: String,
    /// The manifest.
    pub manifest: ImageManifest,
    /// The config.
    pub config: ImageConfiguration,
    /// Layers, bottom to top.
    pub layers: Vec<LayerRef>,
    /// Tags pointing at this manifest (`name:tag`).
    pub repo_tags: Vec<String>,
}

/// No image by that reference.
#[derive(Debug, thiserror::Error)]
#[error("no such image: {0}; see `glassbox images` for what the store holds, or run {hint}", hint = setup_hint(.0))]
pub struct MissingImage(pub String);

/// Which `setup` makes the fixture images: `registry:2` has its own flag.
fn setup_hint(reference: &str) -> &'static str {
    let name = reference.rsplit('/').next().unwrap_or(reference);
    if name == "registry" || name.starts_with("registry:") {
        "`glassbox setup --registry` for registry:2"
    } else {
        "`glassbox setup` for busybox"
    }
}

/// Chain ids per the OCI image spec: `chain(0) = diff_id(0)`,
/// `chain(n) = sha256(chain(n-1) + " " + diff_id(n))`.
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => format!(
                "sha256:{}",
                hex::encode(Sha256::digest(format!("{prev} {d}").as_bytes()))
            ),
        };
        out.push(next);
    }
    out
}

impl Store {
    /// Writes `config` (its `rootfs.diff_ids` must match `layers`) and a
    /// manifest for `layers` (`(digest, size)` of blobs already in the
    /// store), tags it `tag` when given, and returns the image.
    pub fn commit_image(
        &self,
        config: &ImageConfiguration,
        layers: &[(String, u64)],
        tag: Option<&Reference>,
    ) -> Result<Image> {
        let config_bytes = serde_json::to_vec(config).expect("a config serialises");
        self.commit_image_raw(&config_bytes, layers, tag)
    }

    /// Like [`Store::commit_image`], with the config given as its exact
    /// bytes (an image loaded from an archive keeps its config byte for
    /// byte, so its ID stays the same).
    pub fn commit_image_raw(
        &self,
        config_bytes: &[u8],
        layers: &[(String, u64)],
        tag: Option<&Reference>,
    ) -> Result<Image> {
        let config_digest = self.put_blob(config_bytes)?;
        let manifest_json = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": config_digest, "size": config_bytes.len()},
            "layers": layers.iter().map(|(d, s)| serde_json::json!({
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": d, "size": s})).collect::<Vec<_>>(),
        });
        let manifest_bytes = serde_json::to_vec(&manifest_json).expect("json");
        let mut s = trace::step(Kind::Image, "commit", format!("image {config_digest}"))
            .field("id", &config_digest)
            .field("layers", layers.len())
            .announce()?;
        let manifest_digest = self.put_blob(&manifest_bytes)?;
        s.field("manifest", &manifest_digest);
        s.done();
        if let Some(t) = tag.and_then(Reference::name_tag) {
            self.set_tag(&t, &manifest_digest, manifest_bytes.len() as u64)?;
        }
        self.image_from_manifest(&manifest_digest)
    }

    /// Resolves `reference` (`name[:tag][@digest]`) to an image.
    pub fn resolve(&self, reference: &str) -> Result<Image> {
        let r = Reference::parse(reference)?;
        match self.manifest_digest(&r)? {
            Some(d) => self.image_from_manifest(&d),
            None => Err(MissingImage(r.to_string()).into()),
        }
    }

    /// Loads the image whose manifest is blob `manifest_digest`.
    pub fn image_from_manifest(&self, manifest_digest: &str) -> Result<Image> {
        let bad = |what: &str, e: serde_json::Error| StoreError::BadIndex {
            path: self.root.display().to_string(),
            reason: format!("{what}: {e}"),
        };
        let manifest: ImageManifest = serde_json::from_slice(&self.read_blob(manifest_digest)?)
            .map_err(|e| bad(manifest_digest, e))?;
        let id = manifest.config().digest().to_string();
        let config: ImageConfiguration =
            serde_json::from_slice(&self.read_blob(&id)?).map_err(|e| bad(&id, e))?;
        let diff_ids = config.rootfs().diff_ids().clone();
        let chains = chain_ids(&diff_ids);
        let layers = manifest
            .layers()
            .iter()
            .zip(diff_ids.iter().zip(chains))
            .map(|(l, (diff, chain))| LayerRef {
                digest: l.digest().to_string(),
                diff_id: diff.clone(),
                chain_id: chain,
                size: l.size(),
            })
            .collect();
        let repo_tags = self
            .tags()?
            .into_iter()
            .filter(|(_, d)| d == manifest_digest)
            .map(|(t, _)| t)
            .collect();
        Ok(Image {
            id,
            manifest_digest: manifest_digest.to_string(),
            manifest,
            config,
            layers,
            repo_tags,
        })
    }
}
