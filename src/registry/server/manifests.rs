//! Manifest endpoints: PUT (parsed, typed, and refused unless every blob
//! or manifest it names is already in the repository, as distribution
//! does), GET/HEAD by tag or digest with its `Content-Type` echoed, and
//! DELETE of a tag or of a manifest with the tags naming it.

use super::api_error::{valid_tag, ApiError, Code, Digest};
use super::http::{Body, Request, Response, ResponseBody};
use super::routes::{
    ok, short, Outcome, DOCKER_LIST, DOCKER_MANIFEST, MAX_MANIFEST, OCI_INDEX, OCI_MANIFEST,
};
use super::App;
use crate::trace::Kind;
use std::io::Read;

impl App {
    /// Resolves a tag or digest to a manifest this repository has.
    fn resolve(&self, name: &str, reference: &str) -> Result<(Digest, String), ApiError> {
        let d = if let Some(d) = Digest::parse(reference) {
            d
        } else if valid_tag(reference) {
            self.storage.tag(name, reference).ok_or_else(|| {
                ApiError::new(
                    Code::ManifestUnknown,
                    format!("{name} has no tag {reference:?}"),
                )
            })?
        } else {
            return Err(ApiError::new(
                Code::ManifestUnknown,
                format!("{reference:?} is neither a tag nor a digest"),
            ));
        };
        let mt = self.storage.manifest_type(name, &d).ok_or_else(|| {
            ApiError::new(Code::ManifestUnknown, format!("{name} has no manifest {d}"))
        })?;
        Ok((d, mt))
    }

    pub(super) fn get_manifest(
        &self,
        req: &Request,
        name: &str,
        reference: &str,
    ) -> Result<Outcome, ApiError> {
        let (d, mt) = self.resolve(name, reference)?;
        let bytes = std::fs::read(self.storage.blob_path(&d))
            .map_err(|e| ApiError::internal("reading the manifest", e))?;
        let what = if Digest::parse(reference).is_some() {
            "by digest: the same bytes forever".to_string()
        } else {
            format!(
                "the tag {reference} names {} today",
                d.hex().get(..12).unwrap_or("")
            )
        };
        let meaning = if req.method == "HEAD" {
            format!("told the client the manifest's digest and type without sending it ({what})")
        } else {
            format!("sent the manifest ({} bytes, {mt}); {what}", bytes.len())
        };
        ok(
            Response {
                status: 200,
                headers: vec![
                    ("Content-Type".into(), mt),
                    ("Docker-Content-Digest".into(), d.to_string()),
                    ("ETag".into(), format!("\"{d}\"")),
                ],
                body: ResponseBody::Bytes(bytes),
            },
            meaning,
        )
    }

    pub(super) fn put_manifest(
        &self,
        req: &Request,
        body: &mut Body<'_>,
        name: &str,
        reference: &str,
    ) -> Result<Outcome, ApiError> {
        let by_digest = Digest::parse(reference);
        if by_digest.is_none() && !valid_tag(reference) {
            return Err(ApiError::new(
                Code::ManifestInvalid,
                format!("{reference:?} is neither a tag ([A-Za-z0-9_][A-Za-z0-9._-]{{0,127}}) nor a digest"),
            ));
        }
        let mut bytes = Vec::new();
        body.take(MAX_MANIFEST + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| {
                ApiError::new(Code::ManifestInvalid, format!("reading the manifest: {e}"))
            })?;
        if bytes.len() as u64 > MAX_MANIFEST {
            return Err(ApiError::new(
                Code::ManifestInvalid,
                "the manifest is larger than 4 MiB",
            ));
        }
        // By digest, the manifest is named with the client's algorithm
        // (sha256 or sha512); by tag, with sha256.
        let d = match &by_digest {
            Some(claimed) => claimed.of_same(&bytes),
            None => Digest::of(&bytes),
        };
        if let Some(claimed) = &by_digest {
            if *claimed != d {
                return Err(ApiError::new(
                    Code::DigestInvalid,
                    format!("the manifest's bytes hash to {d}, not {claimed}"),
                ));
            }
        }
        let media_type = self.check_manifest(req, name, &bytes)?;
        let subject = serde_json::from_slice(&bytes)
            .ok()
            .and_then(|v| super::referrers::subject_of(&v));
        let tag = by_digest.is_none().then_some(reference);
        self.storage
            .put_manifest(name, &d, &media_type, &bytes, tag)
            .map_err(|e| ApiError::internal("storing the manifest", e))?;
        self.event(
            Kind::Registry,
            "accept_manifest",
            format!("manifest {} in {name}", short(&d)),
            |b| {
                let b = b
                    .field("repository", name)
                    .field("digest", d.as_str())
                    .field("media_type", media_type.as_str())
                    .field("size", bytes.len());
                let b = match &subject {
                    Some(s) => b.field("refers_to", s.as_str()),
                    None => b,
                };
                match tag {
                    Some(t) => b.field("tag", t),
                    None => b,
                }
            },
        );
        let meaning = match tag {
            Some(t) => format!("the tag {name}:{t} now names manifest {}; every blob it lists was already here", d.hex().get(..12).unwrap_or("")),
            None => "stored the manifest under its digest only (no tag); every blob it lists was already here".to_string(),
        };
        let mut resp = Response::empty(201)
            .header("Location", format!("/v2/{name}/manifests/{d}"))
            .header("Docker-Content-Digest", d.to_string());
        if let Some(s) = &subject {
            // Tells a 1.1 client that this registry lists referrers itself,
            // so it need not keep a referrers tag up to date.
            resp = resp.header("OCI-Subject", s.to_string());
        }
        ok(resp, meaning)
    }

    /// Parses a manifest and checks that what it references is here, as
    /// distribution does. Returns the media type it is stored under.
    fn check_manifest(&self, req: &Request, name: &str, bytes: &[u8]) -> Result<String, ApiError> {
        let invalid = |why: String| ApiError::new(Code::ManifestInvalid, why);
        let v: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| invalid(format!("the manifest is not JSON: {e}")))?;
        let known = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST];
        let ct = req
            .header("content-type")
            .map(|c| c.split(';').next().unwrap_or("").trim().to_string());
        let body_mt = v.get("mediaType").and_then(|m| m.as_str());
        let mt = match (&ct, body_mt) {
            (Some(c), _) if known.contains(&c.as_str()) => c.clone(),
            (_, Some(b)) if known.contains(&b) => b.to_string(),
            _ => {
                return Err(invalid(format!(
                    "unsupported manifest type {:?}; send one of {}",
                    ct.as_deref().or(body_mt).unwrap_or(""),
                    known.join(", ")
                )))
            }
        };
        if let Some(b) = body_mt {
            if b != mt {
                return Err(invalid(format!(
                    "the body says mediaType {b} but Content-Type says {mt}"
                )));
            }
        }
        if v.get("schemaVersion").and_then(|s| s.as_u64()) != Some(2) {
            return Err(invalid("schemaVersion must be 2".into()));
        }
        let descriptor_digest = |d: &serde_json::Value| -> Result<Digest, ApiError> {
            d.get("digest")
                .and_then(|x| x.as_str())
                .and_then(Digest::parse)
                .ok_or_else(|| {
                    invalid(format!(
                        "a descriptor without a valid sha256 or sha512 digest: {d}"
                    ))
                })
        };
        let missing = |d: &Digest, what: &str| {
            ApiError::new(
                Code::ManifestBlobUnknown,
                format!("{d}: the manifest lists this {what}, but {name} does not have it; push it first"),
            )
        };
        if mt == OCI_INDEX || mt == DOCKER_LIST {
            let list = v
                .get("manifests")
                .and_then(|m| m.as_array())
                .ok_or_else(|| invalid("an index needs a manifests array".into()))?;
            for m in list {
                let d = descriptor_digest(m)?;
                if self.storage.manifest_type(name, &d).is_none() {
                    return Err(missing(&d, "manifest"));
                }
            }
        } else {
            let config = v
                .get("config")
                .ok_or_else(|| invalid("an image manifest needs a config".into()))?;
            let d = descriptor_digest(config)?;
            if self.storage.layer_size(name, &d).is_none() {
                return Err(missing(&d, "config blob"));
            }
            let layers = v
                .get("layers")
                .and_then(|l| l.as_array())
                .ok_or_else(|| invalid("an image manifest needs a layers array".into()))?;
            for l in layers {
                let d = descriptor_digest(l)?;
                let foreign = l
                    .get("urls")
                    .and_then(|u| u.as_array())
                    .is_some_and(|u| !u.is_empty());
                if !foreign && self.storage.layer_size(name, &d).is_none() {
                    return Err(missing(&d, "layer"));
                }
            }
        }
        Ok(mt)
    }

    pub(super) fn delete_manifest(&self, name: &str, reference: &str) -> Result<Outcome, ApiError> {
        if let Some(d) = Digest::parse(reference) {
            let gone = self
                .storage
                .delete_manifest(name, &d)
                .map_err(|e| ApiError::internal("deleting the manifest", e))?
                .ok_or_else(|| {
                    ApiError::new(Code::ManifestUnknown, format!("{name} has no manifest {d}"))
                })?;
            self.event(
                Kind::Registry,
                "delete",
                format!("manifest {} from {name}", short(&d)),
                |b| {
                    b.field("repository", name)
                        .field("digest", d.as_str())
                        .field("tags", &gone)
                },
            );
            return ok(
                Response::empty(202),
                format!("removed the manifest from {name}, with the {} tag(s) that named it; its blobs stay", gone.len()),
            );
        }
        if !valid_tag(reference)
            || !self
                .storage
                .delete_tag(name, reference)
                .map_err(|e| ApiError::internal("deleting the tag", e))?
        {
            return Err(ApiError::new(
                Code::ManifestUnknown,
                format!("{name} has no tag {reference:?}"),
            ));
        }
        self.event(
            Kind::Registry,
            "delete",
            format!("tag {name}:{reference}"),
            |b| b.field("repository", name).field("tag", reference),
        );
        ok(
            Response::empty(202),
            format!(
                "removed the tag {reference}; the manifest it named is still reachable by digest"
            ),
        )
    }
}
