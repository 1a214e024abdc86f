//! `manifest create`: an OCI image index made from images in the store,
//! one entry per image with the platform its config names, tagged like an
//! image (`glassbox push` then sends the index and everything it lists).
//! Reproducible: the same images in the same order give the same digest
//! (the index has no timestamp).

use crate::reference::Reference;
use crate::store::Store;
use crate::trace::{self, Kind};
use crate::Result;

/// The media type of an OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// What `create` made.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Created {
    /// The tag it got.
    pub tag: String,
    /// The index's digest.
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
    /// `os/architecture[/variant]` of each entry, in order.
    pub platforms: Vec<String>,
}

/// Makes an index of `images` (references to image manifests in the
/// store) and tags it `tag`.
pub fn create(store: &Store, tag: &str, images: &[String]) -> Result<Created> {
    let target = Reference::parse(tag)?;
    let name = target.familiar_name_tag().ok_or_else(|| {
        crate::Error::Usage(format!("an index is tagged by name:tag, not by {target}"))
    })?;
    if images.is_empty() {
        return Err(crate::Error::Usage(
            "manifest create needs at least one image to list".into(),
        ));
    }
    let mut entries = Vec::new();
    let mut platforms: Vec<(String, String)> = Vec::new();
    for i in images {
        let r = Reference::parse(i)?;
        let e = store
            .tag_entry(&r)?
            .ok_or_else(|| crate::store::MissingImage(r.to_string()))?;
        if e.is_index() {
            return Err(crate::Error::Usage(format!(
                "{i} is an image index itself; list the images it holds (see `glassbox manifest inspect {i}`)"
            )));
        }
        let img = store.image_from_manifest(&e.digest)?;
        let os = img.config.os().to_string();
        let arch = img.config.architecture().to_string();
        let variant = img.config.variant().clone();
        let platform = match &variant {
            Some(v) => format!("{os}/{arch}/{v}"),
            None => format!("{os}/{arch}"),
        };
        if let Some((other, _)) = platforms.iter().find(|(_, p)| *p == platform) {
            return Err(crate::Error::Usage(format!(
                "{other} and {i} are both {platform}: an index lists one image per platform, and a client picks by platform"
            )));
        }
        platforms.push((i.clone(), platform));
        let mut p = serde_json::json!({"architecture": arch, "os": os});
        if let Some(v) = variant {
            p["variant"] = v.into();
        }
        entries.push(serde_json::json!({
            "mediaType": e.media_type,
            "digest": e.digest,
            "size": e.size,
            "platform": p,
        }));
    }
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": entries,
    });
    let bytes = serde_json::to_vec(&index).expect("an index serialises");
    let mut s = trace::step(Kind::Image, "index", format!("index {name}"))
        .field("tag", &name)
        .field("manifests", images.len())
        .field(
            "platforms",
            platforms.iter().map(|(_, p)| p.clone()).collect::<Vec<_>>(),
        )
        .equivalent(format!(
            "docker manifest create {name} {}",
            images.join(" ")
        ))
        .announce()?;
    let r = (|| {
        let digest = store.put_blob(&bytes)?;
        store.set_tag_typed(&name, &digest, bytes.len() as u64, OCI_INDEX.into())?;
        Ok::<_, crate::Error>(digest)
    })();
    if let Ok(d) = &r {
        s.field("digest", d);
    }
    let digest = s.finish_with(r)?;
    store.journal_image("tag", &digest, &name);
    Ok(Created {
        tag: name,
        digest,
        size: bytes.len() as u64,
        platforms: platforms.into_iter().map(|(_, p)| p).collect(),
    })
}
