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
//! GET    /v2/<name>/referrers/<digest>          the manifests whose subject it is (?artifactType=)
//! GET    /v2/<name>/tags/list?n=&last=          the tags, a page at a time
//! GET    /v2/_catalog?n=&last=                  the repositories, a page at a time
//! ```
//!
//! This file finds the endpoint and answers the lists; blob and upload
//! handlers live in `blobs.rs`, manifest handlers in `manifests.rs`, the
//! referrers list in `referrers.rs`.
//! Each handler returns the response plus a sentence saying what the
//! exchange meant in the protocol; [`super::App::handle`] makes that the
//! `registry.answer` event.

use super::api_error::{valid_name, ApiError, Code, Digest};
use super::http::{percent_encode, Body, Request, Response};
use super::uploads::Upload;
use super::App;
use crate::trace::{self, Kind};

/// An OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// An OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// A Docker schema 2 image manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// A Docker schema 2 manifest list.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// The largest manifest accepted (the spec suggests clients stay under 4 MiB).
pub(super) const MAX_MANIFEST: u64 = 4 * 1024 * 1024;
/// How many catalog entries a page holds when the client does not say.
const DEFAULT_CATALOG_PAGE: usize = 100;

/// A response and what it meant.
pub struct Outcome {
    /// The response to send.
    pub resp: Response,
    /// One sentence for the student.
    pub meaning: String,
}

pub(super) fn ok(resp: Response, meaning: impl Into<String>) -> Result<Outcome, ApiError> {
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
    /// `/v2/<name>/referrers/<digest>`
    Referrers(&'a str, &'a str),
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
    if let Some(i) = rest.rfind("/referrers/") {
        let tail = &rest[i + "/referrers/".len()..];
        if !tail.contains('/') {
            return Route::Referrers(&rest[..i], tail);
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

pub(super) fn check_name(name: &str) -> Result<(), ApiError> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(ApiError::new(
            Code::NameInvalid,
            format!("{name:?} is not a repository name: lower-case letters and digits in /-separated parts, joined by . _ __ or -"),
        ))
    }
}

pub(super) fn parse_digest(s: &str) -> Result<Digest, ApiError> {
    Digest::parse(s).ok_or_else(|| {
        ApiError::new(
            Code::DigestInvalid,
            format!("{s:?} is not a digest: expected sha256: and 64, or sha512: and 128, lower-case hex digits"),
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
pub(super) fn short(d: &Digest) -> String {
    crate::explain::short_digest(d.to_string())
}

pub(super) fn blob_location(name: &str, d: &Digest) -> String {
    format!("/v2/{name}/blobs/{d}")
}

pub(super) fn upload_location(up: &Upload) -> String {
    format!("/v2/{}/blobs/uploads/{}", up.repo, up.id)
}

/// The `Range` header of an upload: the bytes it holds so far.
pub(super) fn upload_range(size: u64) -> String {
    format!("0-{}", size.saturating_sub(1))
}

pub(super) fn lock(up: &std::sync::Mutex<Upload>) -> std::sync::MutexGuard<'_, Upload> {
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
            Route::Referrers(name, digest) => {
                check_name(name)?;
                let d = parse_digest(digest)?;
                match m {
                    "GET" => self.referrers(req, name, &d),
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

    pub(super) fn event(
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
        assert_eq!(
            route("/v2/a/referrers/sha256:x"),
            Route::Referrers("a", "sha256:x")
        );
        assert_eq!(
            route("/v2/a/referrers/b/manifests/1"),
            Route::Manifest("a/referrers/b", "1")
        );
        assert_eq!(route("/v1/x"), Route::Unknown);
    }
}
