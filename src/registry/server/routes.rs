//! The distribution API's endpoints: which URL means what, and what each
//! request does to the storage directory.
//!
//! ```text
//! GET    /v2/                                   is this a registry (and may I in)?
//! HEAD   /v2/<name>/blobs/<digest>              does the repository have this blob?
//! GET    /v2/<name>/blobs/<digest>              its bytes (Range: for a part)
//! DELETE /v2/<name>/blobs/<digest>              unlink it from the repository
//! POST   /v2/<name>/blobs/uploads/              open an upload (?digest= all at once, ?mount=&from= link)
//! PATCH  /v2/<name>/blobs/uploads/<id>          append a chunk (Content-Range: where it goes)
//! PUT    /v2/<name>/blobs/uploads/<id>?digest=  last chunk; the digest is checked; the blob appears
//! GET    /v2/<name>/blobs/uploads/<id>          how far the upload got
//! DELETE /v2/<name>/blobs/uploads/<id>          abandon the upload
//! PUT    /v2/<name>/manifests/<tag|digest>      store a manifest (its blobs must be here)
//! GET    /v2/<name>/manifests/<tag|digest>      fetch it (HEAD: just its digest and type)
//! DELETE /v2/<name>/manifests/<tag|digest>      untag, or remove the manifest and its tags
//! GET    /v2/<name>/tags/list?n=&last=          the tags, a page at a time
//! GET    /v2/_catalog?n=&last=                  the repositories, a page at a time
//! ```
//!
//! Each handler returns the response plus a sentence saying what the
//! exchange meant in the protocol; [`super::App::handle`] makes that the
//! `registry.answer` event.

use super::api_error::{valid_name, valid_tag, ApiError, Code, Digest};
use super::http::{percent_encode, Body, Request, Response, ResponseBody};
use super::uploads::Upload;
use super::App;
use crate::trace::{self, Kind};
use std::fs::File;
use std::io::Read;

/// An OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// An OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// A Docker schema 2 image manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// A Docker schema 2 manifest list.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// The largest manifest accepted (the spec suggests clients stay under 4 MiB).
const MAX_MANIFEST: u64 = 4 * 1024 * 1024;
/// How many catalog entries a page holds when the client does not say.
const DEFAULT_CATALOG_PAGE: usize = 100;

/// A response and what it meant.
pub struct Outcome {
    /// The response to send.
    pub resp: Response,
    /// One sentence for the student.
    pub meaning: String,
}

fn ok(resp: Response, meaning: impl Into<String>) -> Result<Outcome, ApiError> {
    Ok(Outcome {
        resp,
        meaning: meaning.into(),
    })
}

/// Which endpoint a path names.
#[derive(Debug, PartialEq, Eq)]
pub enum Route<'a> {
    /// `/v2/`
    Base,
    /// `/v2/_catalog`
    Catalog,
    /// `/v2/<name>/tags/list`
    Tags(&'a str),
    /// `/v2/<name>/manifests/<reference>`
    Manifest(&'a str, &'a str),
    /// `/v2/<name>/blobs/<digest>`
    Blob(&'a str, &'a str),
    /// `/v2/<name>/blobs/uploads/[<id>]`
    Upload(&'a str, &'a str),
    /// Anything else.
    Unknown,
}

/// Splits a path into its endpoint. Names may hold slashes, so the
/// endpoint is found from the right.
pub fn route(path: &str) -> Route<'_> {
    if path == "/v2/" || path == "/v2" {
        return Route::Base;
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return Route::Unknown;
    };
    if rest == "_catalog" {
        return Route::Catalog;
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return Route::Tags(name);
    }
    if let Some(i) = rest.rfind("/blobs/uploads") {
        let tail = &rest[i + "/blobs/uploads".len()..];
        if tail.is_empty() || tail.starts_with('/') {
            return Route::Upload(&rest[..i], tail.trim_start_matches('/'));
        }
    }
    if let Some(i) = rest.rfind("/manifests/") {
        return Route::Manifest(&rest[..i], &rest[i + "/manifests/".len()..]);
    }
    if let Some(i) = rest.rfind("/blobs/") {
        return Route::Blob(&rest[..i], &rest[i + "/blobs/".len()..]);
    }
    Route::Unknown
}

fn check_name(name: &str) -> Result<(), ApiError> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(ApiError::new(
            Code::NameInvalid,
            format!("{name:?} is not a repository name: lower-case letters and digits in /-separated parts, joined by . _ __ or -"),
        ))
    }
}

fn parse_digest(s: &str) -> Result<Digest, ApiError> {
    Digest::parse(s).ok_or_else(|| {
        ApiError::new(
            Code::DigestInvalid,
            format!("{s:?} is not a digest: expected sha256: and 64 lower-case hex digits"),
        )
    })
}

fn unsupported(req: &Request) -> ApiError {
    ApiError::new(
        Code::Unsupported,
        format!("{} is not a method this endpoint answers", req.method),
    )
}

/// `sha256:` and the first 12 hex digits, for event subjects.
fn short(d: &Digest) -> String {
    crate::explain::short_digest(d.to_string())
}

fn blob_location(name: &str, d: &Digest) -> String {
    format!("/v2/{name}/blobs/{d}")
}

fn upload_location(up: &Upload) -> String {
    format!("/v2/{}/blobs/uploads/{}", up.repo, up.id)
}

/// The `Range` header of an upload: the bytes it holds so far.
fn upload_range(size: u64) -> String {
    format!("0-{}", size.saturating_sub(1))
}

fn lock(up: &std::sync::Mutex<Upload>) -> std::sync::MutexGuard<'_, Upload> {
    up.lock().unwrap_or_else(|e| e.into_inner())
}

impl App {
    /// Answers one (authenticated) request.
    pub(super) fn route(&self, req: &Request, body: &mut Body<'_>) -> Result<Outcome, ApiError> {
        let m = req.method.as_str();
        match route(&req.path) {
            Route::Base => match m {
                "GET" | "HEAD" => ok(
                    Response::json(200, &serde_json::json!({})),
                    "yes, this is an OCI distribution (v2) registry, and you may use it",
                ),
                _ => Err(unsupported(req)),
            },
            Route::Catalog => match m {
                "GET" => self.catalog(req),
                _ => Err(unsupported(req)),
            },
            Route::Tags(name) => {
                check_name(name)?;
                match m {
                    "GET" => self.tags_list(req, name),
                    _ => Err(unsupported(req)),
                }
            }
            Route::Blob(name, digest) => {
                check_name(name)?;
                let d = parse_digest(digest)?;
                match m {
                    "GET" | "HEAD" => self.get_blob(req, name, &d),
                    "DELETE" => self.delete_blob(name, &d),
                    _ => Err(unsupported(req)),
                }
            }
            Route::Upload(name, id) => {
                check_name(name)?;
                match (m, id) {
                    ("POST", "") => self.start_upload(req, body, name),
                    ("PATCH", id) if !id.is_empty() => self.patch_upload(req, body, name, id),
                    ("PUT", id) if !id.is_empty() => self.put_upload(req, body, name, id),
                    ("GET", id) if !id.is_empty() => self.upload_status(name, id),
                    ("DELETE", id) if !id.is_empty() => self.cancel_upload(name, id),
                    _ => Err(unsupported(req)),
                }
            }
            Route::Manifest(name, reference) => {
                check_name(name)?;
                match m {
                    "GET" | "HEAD" => self.get_manifest(req, name, reference),
                    "PUT" => self.put_manifest(req, body, name, reference),
                    "DELETE" => self.delete_manifest(name, reference),
                    _ => Err(unsupported(req)),
                }
            }
            Route::Unknown => Ok(Outcome {
                resp: Response::json(
                    404,
                    &serde_json::json!({"errors": [{"code": "NOT_FOUND", "message": "404 page not found"}]}),
                ),
                meaning: "no distribution API endpoint has this path".into(),
            }),
        }
    }

    fn get_blob(&self, req: &Request, name: &str, d: &Digest) -> Result<Outcome, ApiError> {
        let Some(size) = self.storage.layer_size(name, d) else {
            return Err(
                ApiError::new(Code::BlobUnknown, d.to_string()).meaning(format!(
                "{name} lacks this blob, so a push must upload it (and a pull cannot get it here)"
            )),
            );
        };
        let file = File::open(self.storage.blob_path(d))
            .map_err(|e| ApiError::internal("opening the blob", e))?;
        let head = req.method == "HEAD";
        let range = req.header("range").and_then(|h| parse_range(h, size));
        let (status, offset, len) = match range {
            None => (200, 0, size),
            Some(Ok((a, b))) => (206, a, b - a + 1),
            Some(Err(())) => {
                return Err(ApiError::new(
                    Code::RangeInvalid,
                    format!(
                        "the range {:?} lies outside the blob's {size} bytes",
                        req.header("range").unwrap_or("")
                    ),
                )
                .with_header("Content-Range", format!("bytes */{size}")));
            }
        };
        let mut resp = Response {
            status,
            headers: vec![
                ("Content-Type".into(), "application/octet-stream".into()),
                ("Docker-Content-Digest".into(), d.to_string()),
                ("Accept-Ranges".into(), "bytes".into()),
                ("ETag".into(), format!("\"{d}\"")),
                ("Cache-Control".into(), "max-age=31536000".into()),
            ],
            body: ResponseBody::File { file, offset, len },
        };
        if status == 206 {
            resp = resp.header(
                "Content-Range",
                format!("bytes {offset}-{}/{size}", offset + len - 1),
            );
        }
        let meaning = match (head, status) {
            (true, _) => format!("{name} has this blob ({size} bytes), so a push can skip uploading it"),
            (false, 206) => format!("sent bytes {offset}-{} of the blob's {size} (a ranged read, as a resumed pull makes)", offset + len - 1),
            _ => format!("sent the blob's {size} bytes; the client hashes them to check they are what the digest promised"),
        };
        ok(resp, meaning)
    }

    fn delete_blob(&self, name: &str, d: &Digest) -> Result<Outcome, ApiError> {
        let removed = self
            .storage
            .unlink_layer(name, d)
            .map_err(|e| ApiError::internal("unlinking the blob", e))?;
        if !removed {
            return Err(ApiError::new(Code::BlobUnknown, d.to_string()));
        }
        self.event(
            Kind::Registry,
            "delete",
            format!("blob {} from {name}", short(d)),
            |b| b.field("repository", name).field("digest", d.as_str()),
        );
        ok(
            Response::empty(202).header("Docker-Content-Digest", d.to_string()),
            format!("{name} no longer lists this blob (other repositories linking it keep it)"),
        )
    }

    fn start_upload(
        &self,
        req: &Request,
        body: &mut Body<'_>,
        name: &str,
    ) -> Result<Outcome, ApiError> {
        if let (Some(mount), Some(from)) = (req.query("mount"), req.query("from")) {
            let d = parse_digest(mount)?;
            if valid_name(from) && self.storage.layer_size(from, &d).is_some() {
                self.storage
                    .link_layer(name, &d)
                    .map_err(|e| ApiError::internal("linking the blob", e))?;
                self.event(
                    Kind::Registry,
                    "mount",
                    format!("blob {} from {from} into {name}", short(&d)),
                    |b| {
                        b.field("repository", name)
                            .field("from", from)
                            .field("digest", d.as_str())
                    },
                );
                return ok(
                    Response::empty(201)
                        .header("Location", blob_location(name, &d))
                        .header("Docker-Content-Digest", d.to_string()),
                    format!("mounted the blob from {from}: {name} now links the same stored bytes, and none were sent"),
                );
            }
        }
        let up = self
            .uploads
            .start(name)
            .map_err(|e| ApiError::internal("opening an upload", e))?;
        let mut u = lock(&up);
        if let Some(digest) = req.query("digest") {
            let d = match parse_digest(digest) {
                Ok(d) => d,
                Err(e) => {
                    self.uploads.remove(&u.id);
                    return Err(e);
                }
            };
            self.receive(&mut u, body)?;
            let size = u.size;
            self.finish_upload(name, &mut u, &d)?;
            return ok(
                Response::empty(201)
                    .header("Location", blob_location(name, &d))
                    .header("Docker-Content-Digest", d.to_string()),
                format!("the whole blob ({size} bytes) came in one request; its sha256 matched, so it is stored and visible"),
            );
        }
        ok(
            Response::empty(202)
                .header("Location", upload_location(&u))
                .header("Range", "0-0")
                .header("Docker-Upload-UUID", u.id.clone()),
            "opened an upload session; the client sends the bytes to the Location it was given",
        )
    }

    /// Streams the request body into the upload.
    fn receive(&self, u: &mut Upload, body: &mut Body<'_>) -> Result<u64, ApiError> {
        u.append(body).map_err(|e| {
            ApiError::new(
                Code::BlobUploadInvalid,
                format!("the chunk broke off after {} bytes ({e}); the upload still holds {} bytes, so resend from there", body.bytes_read(), u.size),
            )
        })
    }

    fn find_upload(
        &self,
        name: &str,
        id: &str,
    ) -> Result<std::sync::Arc<std::sync::Mutex<Upload>>, ApiError> {
        self.uploads.get(name, id).ok_or_else(|| {
            ApiError::new(
                Code::BlobUploadUnknown,
                format!("no upload {id} is open in {name}; start one with POST /v2/{name}/blobs/uploads/"),
            )
        })
    }

    /// A `Content-Range: start-end` must begin where the upload ends.
    fn check_content_range(req: &Request, u: &Upload) -> Result<(), ApiError> {
        let Some(cr) = req.header("content-range") else {
            return Ok(());
        };
        let spec = cr
            .trim_start_matches("bytes")
            .trim_start_matches([' ', '=']);
        let parsed = spec.split_once('-').and_then(|(a, b)| {
            Some((a.trim().parse::<u64>().ok()?, b.trim().parse::<u64>().ok()?))
        });
        match parsed {
            Some((a, b)) if a == u.size && b >= a => Ok(()),
            _ => Err(ApiError::new(
                Code::RangeInvalid,
                format!("the chunk says it covers {cr:?}, but the upload holds {} bytes, so the next chunk must start at byte {}", u.size, u.size),
            )),
        }
    }

    fn patch_upload(
        &self,
        req: &Request,
        body: &mut Body<'_>,
        name: &str,
        id: &str,
    ) -> Result<Outcome, ApiError> {
        let up = self.find_upload(name, id)?;
        let mut u = lock(&up);
        Self::check_content_range(req, &u).map_err(|e| {
            e.with_header("Location", upload_location(&u))
                .with_header("Range", upload_range(u.size))
        })?;
        let n = self.receive(&mut u, body)?;
        ok(
            Response::empty(202)
                .header("Location", upload_location(&u))
                .header("Range", upload_range(u.size))
                .header("Docker-Upload-UUID", u.id.clone()),
            format!(
                "appended a chunk of {n} bytes; the upload now holds {} (hashed as they arrived)",
                u.size
            ),
        )
    }

    fn put_upload(
        &self,
        req: &Request,
        body: &mut Body<'_>,
        name: &str,
        id: &str,
    ) -> Result<Outcome, ApiError> {
        let up = self.find_upload(name, id)?;
        let mut u = lock(&up);
        let d = parse_digest(req.query("digest").unwrap_or(""))?;
        Self::check_content_range(req, &u)?;
        self.receive(&mut u, body)?;
        let size = u.size;
        self.finish_upload(name, &mut u, &d)?;
        ok(
            Response::empty(201)
                .header("Location", blob_location(name, &d))
                .header("Docker-Content-Digest", d.to_string()),
            format!("the upload is complete: its {size} bytes hash to the digest the client named, so the blob is now stored and visible in {name}"),
        )
    }

    /// Checks the digest and moves the bytes into place, or throws them away.
    fn finish_upload(&self, name: &str, u: &mut Upload, d: &Digest) -> Result<(), ApiError> {
        let actual = u.digest();
        if actual != *d {
            self.uploads.remove(&u.id);
            self.event(
                Kind::Registry,
                "refuse_blob",
                format!("upload to {name}"),
                |b| {
                    b.field("repository", name)
                        .field("claimed", d.as_str())
                        .field("actual", actual.as_str())
                        .field("size", u.size)
                },
            );
            return Err(ApiError::new(
                Code::DigestInvalid,
                format!(
                    "the {} bytes received hash to {actual}, not {d}; nothing was stored",
                    u.size
                ),
            ));
        }
        self.storage
            .commit_blob(name, &u.data_path(), d)
            .map_err(|e| ApiError::internal("storing the blob", e))?;
        self.uploads.remove(&u.id);
        self.event(
            Kind::Registry,
            "accept_blob",
            format!("blob {} in {name}", short(d)),
            |b| {
                b.field("repository", name)
                    .field("digest", d.as_str())
                    .field("size", u.size)
                    .equivalent(format!(
                        "sha256sum DATA && mv DATA blobs/sha256/{}",
                        d.hex()
                    ))
                    .syscall("rename(2)")
            },
        );
        Ok(())
    }

    fn upload_status(&self, name: &str, id: &str) -> Result<Outcome, ApiError> {
        let up = self.find_upload(name, id)?;
        let u = lock(&up);
        ok(
            Response::empty(204)
                .header("Location", upload_location(&u))
                .header("Range", upload_range(u.size))
                .header("Docker-Upload-UUID", u.id.clone()),
            format!(
                "the upload holds {} bytes; a client resuming it sends the rest from there",
                u.size
            ),
        )
    }

    fn cancel_upload(&self, name: &str, id: &str) -> Result<Outcome, ApiError> {
        let up = self.find_upload(name, id)?;
        let id = lock(&up).id.clone();
        self.uploads.remove(&id);
        ok(
            Response::empty(204),
            "the upload was abandoned and its bytes deleted",
        )
    }

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

    fn get_manifest(
        &self,
        req: &Request,
        name: &str,
        reference: &str,
    ) -> Result<Outcome, ApiError> {
        let (d, mt) = self.resolve(name, reference)?;
        let bytes = std::fs::read(self.storage.blob_path(&d))
            .map_err(|e| ApiError::internal("reading the manifest", e))?;
        let what = if reference.starts_with("sha256:") {
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

    fn put_manifest(
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
        let d = Digest::of(&bytes);
        if let Some(claimed) = &by_digest {
            if *claimed != d {
                return Err(ApiError::new(
                    Code::DigestInvalid,
                    format!("the manifest's bytes hash to {d}, not {claimed}"),
                ));
            }
        }
        let media_type = self.check_manifest(req, name, &bytes)?;
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
        ok(
            Response::empty(201)
                .header("Location", format!("/v2/{name}/manifests/{d}"))
                .header("Docker-Content-Digest", d.to_string()),
            meaning,
        )
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
                .ok_or_else(|| invalid(format!("a descriptor without a valid sha256 digest: {d}")))
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

    fn delete_manifest(&self, name: &str, reference: &str) -> Result<Outcome, ApiError> {
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

    fn tags_list(&self, req: &Request, name: &str) -> Result<Outcome, ApiError> {
        let all = self.storage.tags(name).ok_or_else(|| {
            ApiError::new(
                Code::NameUnknown,
                format!("no repository {name:?} with tags here"),
            )
        })?;
        let total = all.len();
        let (page, next) = paginate(all, req, None)?;
        let mut resp = Response::json(200, &serde_json::json!({"name": name, "tags": page}));
        if let Some((last, n)) = next {
            resp = resp.header(
                "Link",
                format!(
                    "</v2/{name}/tags/list?last={}&n={n}>; rel=\"next\"",
                    percent_encode(&last)
                ),
            );
        }
        let meaning = format!("listed {} of {name}'s {total} tags", page.len());
        ok(resp, meaning)
    }

    fn catalog(&self, req: &Request) -> Result<Outcome, ApiError> {
        let all = self.storage.repositories();
        let total = all.len();
        let (page, next) = paginate(all, req, Some(DEFAULT_CATALOG_PAGE))?;
        let mut resp = Response::json(200, &serde_json::json!({"repositories": page}));
        if let Some((last, n)) = next {
            resp = resp.header(
                "Link",
                format!(
                    "</v2/_catalog?last={}&n={n}>; rel=\"next\"",
                    percent_encode(&last)
                ),
            );
        }
        let meaning = format!(
            "listed {} of the registry's {total} repositories",
            page.len()
        );
        ok(resp, meaning)
    }

    fn event(
        &self,
        kind: Kind,
        action: &str,
        subject: String,
        fields: impl FnOnce(trace::EventBuilder) -> trace::EventBuilder,
    ) {
        if self.events {
            fields(trace::fact(kind, action, subject)).info();
        }
    }
}

/// One page of a sorted list: entries after `last`, at most `n`; plus the
/// `(last, n)` of the next page when there is more.
type Page = (Vec<String>, Option<(String, usize)>);

fn paginate(all: Vec<String>, req: &Request, default_n: Option<usize>) -> Result<Page, ApiError> {
    let n = match req.query("n") {
        Some(s) => Some(s.parse::<usize>().map_err(|_| {
            ApiError::new(
                Code::PaginationNumberInvalid,
                format!("n={s:?} is not a count"),
            )
        })?),
        None => default_n,
    };
    let mut rest: Vec<String> = match req.query("last") {
        Some(last) => all.into_iter().filter(|x| x.as_str() > last).collect(),
        None => all,
    };
    match n {
        Some(n) if rest.len() > n => {
            rest.truncate(n);
            let next = rest.last().cloned().map(|l| (l, n));
            Ok((rest, next))
        }
        _ => Ok((rest, None)),
    }
}

/// Parses a single `bytes=` range against a size: `None` to ignore the
/// header (serve everything), `Some(Err)` when it cannot be satisfied.
fn parse_range(h: &str, size: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = h.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        if n == 0 {
            return Some(Err(()));
        }
        (size.saturating_sub(n), size.checked_sub(1)?)
    } else {
        let start: u64 = a.parse().ok()?;
        let end = if b.is_empty() {
            size.saturating_sub(1)
        } else {
            b.parse::<u64>().ok()?.min(size.saturating_sub(1))
        };
        (start, end)
    };
    if start >= size {
        return Some(Err(()));
    }
    if end < start {
        return None;
    }
    Some(Ok((start, end)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_found_from_the_right() {
        assert_eq!(route("/v2/"), Route::Base);
        assert_eq!(route("/v2/_catalog"), Route::Catalog);
        assert_eq!(route("/v2/a/b/tags/list"), Route::Tags("a/b"));
        assert_eq!(route("/v2/a/b/manifests/1"), Route::Manifest("a/b", "1"));
        assert_eq!(route("/v2/a/blobs/sha256:x"), Route::Blob("a", "sha256:x"));
        assert_eq!(route("/v2/a/blobs/uploads/"), Route::Upload("a", ""));
        assert_eq!(route("/v2/a/blobs/uploads/abc"), Route::Upload("a", "abc"));
        assert_eq!(route("/v1/x"), Route::Unknown);
    }

    #[test]
    fn ranges_follow_rfc_7233() {
        assert_eq!(parse_range("bytes=0-9", 100), Some(Ok((0, 9))));
        assert_eq!(parse_range("bytes=90-", 100), Some(Ok((90, 99))));
        assert_eq!(parse_range("bytes=-10", 100), Some(Ok((90, 99))));
        assert_eq!(parse_range("bytes=50-1000", 100), Some(Ok((50, 99))));
        assert_eq!(parse_range("bytes=100-", 100), Some(Err(())));
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
    }
}
