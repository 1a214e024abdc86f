//! The referrers API of distribution-spec 1.1: a manifest may name another
//! manifest as its `subject` (a signature, an SBOM, an attestation "about"
//! an image). `PUT` of such a manifest answers with an `OCI-Subject`
//! header, and `GET /v2/<name>/referrers/<digest>` lists every manifest of
//! the repository whose subject is that digest, as an image index of
//! descriptors, optionally filtered by `?artifactType=`.
//!
//! The list is computed from the manifests the repository holds (no
//! separate index to keep in step), so deleting a referrer removes it from
//! the list at once.

use super::api_error::{ApiError, Digest};
use super::http::{Request, Response, ResponseBody};
use super::routes::{ok, short, Outcome, OCI_INDEX};
use super::App;
use crate::trace::Kind;

/// The digest a manifest's `subject` descriptor names, if it has one.
pub(super) fn subject_of(manifest: &serde_json::Value) -> Option<Digest> {
    manifest
        .get("subject")?
        .get("digest")?
        .as_str()
        .and_then(Digest::parse)
}

/// The artifact type a referrer is listed under: its `artifactType`, or
/// for an image manifest without one, its config's media type (as the
/// spec says).
fn artifact_type(manifest: &serde_json::Value) -> Option<String> {
    manifest
        .get("artifactType")
        .or_else(|| manifest.get("config")?.get("mediaType"))
        .and_then(|t| t.as_str())
        .map(str::to_string)
}

/// The descriptor of a stored manifest, as a referrers list shows it.
fn descriptor(
    manifest: &serde_json::Value,
    d: &Digest,
    media_type: &str,
    size: usize,
) -> serde_json::Value {
    let mut desc = serde_json::json!({
        "mediaType": media_type,
        "digest": d.as_str(),
        "size": size,
    });
    if let Some(t) = artifact_type(manifest) {
        desc["artifactType"] = t.into();
    }
    if let Some(a) = manifest.get("annotations") {
        desc["annotations"] = a.clone();
    }
    desc
}

impl App {
    /// `GET /v2/<name>/referrers/<digest>[?artifactType=T]`.
    pub(super) fn referrers(
        &self,
        req: &Request,
        name: &str,
        subject: &Digest,
    ) -> Result<Outcome, ApiError> {
        let wanted = req.query("artifactType").filter(|t| !t.is_empty());
        let mut found = Vec::new();
        for d in self.storage.revisions(name) {
            let Some(mt) = self.storage.manifest_type(name, &d) else {
                continue;
            };
            let Ok(bytes) = std::fs::read(self.storage.blob_path(&d)) else {
                continue;
            };
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
                continue;
            };
            if subject_of(&v).as_ref() != Some(subject) {
                continue;
            }
            let desc = descriptor(&v, &d, &mt, bytes.len());
            if wanted.is_none_or(|w| desc["artifactType"].as_str() == Some(w)) {
                found.push(desc);
            }
        }
        found.sort_by(|a, b| a["digest"].as_str().cmp(&b["digest"].as_str()));
        self.event(
            Kind::Registry,
            "referrers",
            format!("referrers of {} in {name}", short(subject)),
            |b| {
                let b = b
                    .field("repository", name)
                    .field("digest", subject.as_str())
                    .field("count", found.len());
                match wanted {
                    Some(t) => b.field("artifact_type", t),
                    None => b,
                }
            },
        );
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": found,
        });
        let mut resp = Response {
            status: 200,
            headers: vec![("Content-Type".into(), OCI_INDEX.into())],
            body: ResponseBody::Bytes(index.to_string().into_bytes()),
        };
        if wanted.is_some() {
            resp = resp.header("OCI-Filters-Applied", "artifactType");
        }
        let meaning = format!(
            "listed the {} manifest(s) of {name} whose subject is {}{}",
            found.len(),
            short(subject),
            wanted
                .map(|t| format!(", keeping only artifactType {t}"))
                .unwrap_or_default()
        );
        ok(resp, meaning)
    }
}
