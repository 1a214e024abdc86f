//! `push`: send an image from the store to a registry.
//!
//! The order is the distribution spec's: ask `/v2/` (and answer an auth
//! challenge); for every blob (the config and each layer), on up to
//! `jobs` threads at once, `HEAD` it first and skip it when the registry
//! has it; else, when the store remembers another repository of the same
//! registry holding it, ask for a cross-repository mount (`POST
//! …/uploads/?mount=D&from=R`); else open an upload session (`POST`) and
//! send the bytes in one `PUT …?digest=D` (a monolithic upload). Only when
//! every blob is there is the manifest `PUT` by tag, so a registry never
//! holds a tag whose blobs are missing. Afterwards the store records the
//! repo digest (`image inspect` shows it) and where each blob now lives.

use super::http::{Body, Client, Request};
use super::{parallel, RegistryError, TransferOptions};
use crate::reference::Reference;
use crate::store::Store;
use crate::trace::{self, Kind};
use crate::Result;

/// What a push did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PushReport {
    /// The reference pushed.
    pub reference: String,
    /// The manifest digest (the registry's `Docker-Content-Digest`).
    pub digest: String,
    /// The manifest's size in bytes.
    pub size: u64,
    /// Blobs sent.
    pub uploaded: usize,
    /// Blobs the registry already had.
    pub existed: usize,
    /// Blobs mounted from another repository.
    pub mounted: usize,
    /// Bytes of blobs sent.
    pub bytes_sent: u64,
}

/// What happened to one blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    Existed,
    Mounted,
    Uploaded(u64),
}

/// One blob to push.
pub(super) struct Blob {
    pub(super) digest: String,
    pub(super) size: u64,
    pub(super) role: &'static str,
}

/// Pushes the image tagged `reference` (e.g. `localhost:5001/busybox:1`)
/// to the registry the reference names.
pub fn push(store: &Store, reference: &str, opts: &TransferOptions) -> Result<PushReport> {
    let r = Reference::parse(reference)?;
    if let Some(e) = store.tag_entry(&r)?.filter(|e| e.is_index()) {
        return super::index::push_index(store, &r, &e, opts);
    }
    let img = store.resolve(reference)?;
    let manifest = store.read_blob(&img.manifest_digest)?;
    let media_type = serde_json::from_slice::<serde_json::Value>(&manifest)
        .ok()
        .and_then(|v| {
            v.get("mediaType")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| super::media::OCI_MANIFEST.to_string());
    let registry = r.registry();
    let repository = r.repository();
    let target = r.manifest_ref();
    let config_size = store
        .blob_path(&img.id)?
        .metadata()
        .map(|m| m.len())
        .unwrap_or(0);
    let mut blobs = vec![Blob {
        digest: img.id.clone(),
        size: config_size,
        role: "config",
    }];
    for l in &img.layers {
        if !blobs.iter().any(|b| b.digest == l.digest) {
            blobs.push(Blob {
                digest: l.digest.clone(),
                size: l.size,
                role: "layer",
            });
        }
    }
    let _p = trace::phase("push");
    let mut s = trace::step(Kind::Registry, "push", r.to_string())
        .field("reference", r.to_string())
        .field("registry", &registry)
        .field("repository", &repository)
        .field("blobs", blobs.len())
        .field("manifest", &img.manifest_digest)
        .equivalent(format!(
            "skopeo copy oci:ROOT:{} docker://{r}",
            r.name_tag().unwrap_or_default()
        ))
        .announce()?;
    let result = (|| {
        let client = Client::new(&registry)?;
        ping(&client)?;
        let source = format!("{registry}/{repository}");
        let outcomes = parallel(&blobs, opts.jobs, |b| {
            push_blob(store, &client, &repository, &source, b, opts)
        })?;
        let mut path = format!("/v2/{repository}/manifests/{target}");
        if r.digest.is_some() && r.tag.is_some() {
            // name:tag@digest: the tag is what gets set.
            path = format!(
                "/v2/{repository}/manifests/{}",
                r.tag.clone().unwrap_or_default()
            );
        }
        let resp = client.exchange(
            Request::new("manifest_put", "PUT", path.clone())
                .header("Content-Type", media_type.clone())
                .body(Body::Bytes(&manifest))
                .field("digest", &img.manifest_digest)
                .field("media_type", &media_type)
                .field("reference", path.rsplit('/').next().unwrap_or(""))
                .field("size", manifest.len())
                .field("repository", &repository)
                .expect(&[200, 201]),
        )?;
        if let Some(d) = resp.header("Docker-Content-Digest") {
            if d != img.manifest_digest {
                return Err(RegistryError::DigestMismatch {
                    host: registry.clone(),
                    what: "back a manifest digest".into(),
                    expected: img.manifest_digest.clone(),
                    actual: d.to_string(),
                }
                .into());
            }
        }
        let all: Vec<String> = blobs
            .iter()
            .map(|b| b.digest.clone())
            .chain(std::iter::once(img.manifest_digest.clone()))
            .collect();
        store.record_remote(
            &img.manifest_digest,
            &format!("{}@{}", r.name, img.manifest_digest),
            &source,
            &all,
        )?;
        let count = |o: fn(&Outcome) -> bool| outcomes.iter().filter(|x| o(x)).count();
        Ok(PushReport {
            reference: r.to_string(),
            digest: img.manifest_digest.clone(),
            size: manifest.len() as u64,
            uploaded: count(|o| matches!(o, Outcome::Uploaded(_))),
            existed: count(|o| *o == Outcome::Existed),
            mounted: count(|o| *o == Outcome::Mounted),
            bytes_sent: outcomes
                .iter()
                .map(|o| match o {
                    Outcome::Uploaded(n) => *n,
                    _ => 0,
                })
                .sum(),
        })
    })();
    super::journal_transfer(store, "push", &r.to_string(), &registry, &result);
    if let Ok(rep) = &result {
        s.field("uploaded", rep.uploaded)
            .field("existed", rep.existed)
            .field("mounted", rep.mounted)
            .field("bytes_sent", rep.bytes_sent);
    }
    s.finish_with(result)
}

/// `GET /v2/`: does it speak the API, and does it want credentials?
pub(crate) fn ping(client: &Client) -> Result<()> {
    let resp = client.exchange(Request::new("ping", "GET", "/v2/").expect(&[200, 401]))?;
    if resp.status() == 401 {
        return Err(client.unauthorized().into());
    }
    Ok(())
}

pub(super) fn push_blob(
    store: &Store,
    client: &Client,
    repository: &str,
    source: &str,
    b: &Blob,
    opts: &TransferOptions,
) -> Result<Outcome> {
    let blob_path = format!("/v2/{repository}/blobs/{}", b.digest);
    let id = b.digest.clone();
    let label = format!(
        "{} {}",
        b.role,
        crate::explain::short_digest(b.digest.clone())
    );
    let head = client.exchange(
        Request::new("blob_check", "HEAD", &blob_path)
            .field("digest", &b.digest)
            .field("role", b.role)
            .field("size", b.size)
            .expect(&[200, 404]),
    )?;
    if head.status() == 200 {
        opts.progress.start(&id, &label, b.size);
        opts.progress.finish(&id, "exists");
        return Ok(Outcome::Existed);
    }
    let prefix = format!("{}/", client.name());
    let mount_from = store
        .blob_sources(&b.digest)?
        .into_iter()
        .filter(|s| s != source)
        .find_map(|s| s.strip_prefix(&prefix).map(str::to_string));
    let location = match mount_from {
        Some(from) => {
            let resp = client.exchange(
                Request::new(
                    "blob_mount",
                    "POST",
                    format!(
                        "/v2/{repository}/blobs/uploads/?mount={}&from={}",
                        b.digest,
                        super::http::percent_encode(&from)
                    ),
                )
                .field("digest", &b.digest)
                .field("role", b.role)
                .field("from", &from)
                .field("repository", repository)
                .expect(&[201, 202]),
            )?;
            if resp.status() == 201 {
                opts.progress.start(&id, &label, b.size);
                opts.progress.finish(&id, "mounted");
                return Ok(Outcome::Mounted);
            }
            location(client, &resp)?
        }
        None => {
            let resp = client.exchange(
                Request::new(
                    "upload_start",
                    "POST",
                    format!("/v2/{repository}/blobs/uploads/"),
                )
                .field("digest", &b.digest)
                .field("role", b.role)
                .field("repository", repository)
                .expect(&[202]),
            )?;
            location(client, &resp)?
        }
    };
    let sep = if location.contains('?') { '&' } else { '?' };
    let url = format!(
        "{location}{sep}digest={}",
        super::http::percent_encode(&b.digest)
    );
    let file = store.blob_path(&b.digest)?;
    opts.progress.start(&id, &label, b.size);
    let resp = client.exchange(
        Request::new("blob_upload", "PUT", url)
            .header("Content-Type", "application/octet-stream")
            .body(Body::File {
                path: &file,
                len: b.size,
                progress: Some((opts.progress.as_ref(), &id)),
            })
            .field("digest", &b.digest)
            .field("role", b.role)
            .field("size", b.size)
            .expect(&[201, 204]),
    );
    let resp = match resp {
        Ok(r) => r,
        Err(e) => {
            opts.progress.finish(&id, "failed");
            return Err(e);
        }
    };
    if let Some(d) = resp.header("Docker-Content-Digest") {
        if d != b.digest {
            return Err(RegistryError::DigestMismatch {
                host: client.name().to_string(),
                what: format!("back the digest of {label}"),
                expected: b.digest.clone(),
                actual: d.to_string(),
            }
            .into());
        }
    }
    opts.progress.finish(&id, "pushed");
    Ok(Outcome::Uploaded(b.size))
}

/// The upload URL a `202 Accepted` points at (`Location`, maybe relative).
pub(super) fn location(client: &Client, resp: &ureq::Response) -> Result<String> {
    let loc = resp
        .header("Location")
        .ok_or_else(|| RegistryError::BadResponse {
            host: client.name().to_string(),
            what: "an upload session".into(),
            reason: "the 202 answer has no Location header".into(),
        })?;
    Ok(
        if loc.starts_with("http://") || loc.starts_with("https://") {
            loc.to_string()
        } else {
            client
                .endpoint
                .url(&format!("/{}", loc.trim_start_matches('/')))
        },
    )
}
