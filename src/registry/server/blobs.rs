//! Blob endpoints: HEAD/GET (with `Range`) and DELETE of a blob, and the
//! upload session that brings one in: POST (a session, a whole blob with
//! `?digest=`, or a cross-repository `?mount=`), PATCH chunks, the final
//! PUT whose digest is checked before the blob becomes visible, status and
//! cancel.

use super::api_error::{valid_name, ApiError, Code, Digest};
use super::http::{Body, Request, Response, ResponseBody};
use super::routes::{
    blob_location, lock, ok, parse_digest, short, upload_location, upload_range, Outcome,
};
use super::uploads::Upload;
use super::App;
use crate::trace::Kind;
use std::fs::File;

impl App {
    pub(super) fn get_blob(
        &self,
        req: &Request,
        name: &str,
        d: &Digest,
    ) -> Result<Outcome, ApiError> {
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

    pub(super) fn delete_blob(&self, name: &str, d: &Digest) -> Result<Outcome, ApiError> {
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

    pub(super) fn start_upload(
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
            if let Err(e) = self.receive(&mut u, body) {
                // The client never learnt this session's Location, so it
                // cannot resume it: drop it.
                self.uploads.remove(&u.id);
                return Err(e);
            }
            let size = u.size;
            self.finish_upload(name, &mut u, &d)?;
            return ok(
                Response::empty(201)
                    .header("Location", blob_location(name, &d))
                    .header("Docker-Content-Digest", d.to_string()),
                format!("the whole blob ({size} bytes) came in one request; its {} matched, so it is stored and visible", d.algorithm()),
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

    pub(super) fn patch_upload(
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

    pub(super) fn put_upload(
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
        let actual = match u.digest_like(d) {
            Ok(a) => a,
            Err(e) => {
                self.uploads.remove(&u.id);
                return Err(ApiError::internal("hashing the upload", e));
            }
        };
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
                        "{alg}sum DATA && mv DATA blobs/{alg}/{}",
                        d.hex(),
                        alg = d.algorithm()
                    ))
                    .syscall("rename(2)")
            },
        );
        Ok(())
    }

    pub(super) fn upload_status(&self, name: &str, id: &str) -> Result<Outcome, ApiError> {
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

    pub(super) fn cancel_upload(&self, name: &str, id: &str) -> Result<Outcome, ApiError> {
        let up = self.find_upload(name, id)?;
        let id = lock(&up).id.clone();
        self.uploads.remove(&id);
        ok(
            Response::empty(204),
            "the upload was abandoned and its bytes deleted",
        )
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
