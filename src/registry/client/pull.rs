//! `pull`: fetch an image from a registry into the store.
//!
//! The manifest comes first (`Accept` lists the OCI and Docker schema 2
//! manifest and index types); an index is resolved to its linux/amd64
//! manifest (or this machine's architecture), fetched by digest. Every
//! byte that arrives is hashed as it streams: the manifest must hash to the
//! digest it was asked for (or that the registry announced), and each blob
//! to its descriptor's digest and size. Blobs stream into temp files inside
//! the root; nothing is renamed into `blobs/` until *all* of them have
//! arrived and matched, and the tag moves last. So a pull that is killed,
//! or that meets a bad byte, leaves the store as it was (its temp files are
//! swept by the next command), and running it again completes it.
//!
//! Docker schema 2 manifests are stored as they came, byte for byte (so the
//! digest stays the registry's); `index.json` names them with their Docker
//! media type. Layers must be gzip-compressed tars (OCI or Docker types).

use super::http::{Client, Request};
use super::push::ping;
use super::{media, parallel, RegistryError, TransferOptions};
use crate::reference::Reference;
use crate::store::{BlobWriter, Store};
use crate::trace::{self, Kind};
use crate::Result;
use sha2::{Digest as _, Sha256};
use std::io::{Read, Write};

/// What a pull did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PullReport {
    /// The reference pulled.
    pub reference: String,
    /// The digest the registry serves for it (an index's, when it is one).
    pub digest: String,
    /// The image manifest stored.
    pub manifest: String,
    /// The image ID (config digest).
    pub id: String,
    /// Blobs fetched.
    pub fetched: usize,
    /// When the reference named an index: how many manifests it lists
    /// (kept, with the index, so that a push sends it on); else 0.
    pub platforms: usize,
    /// Blobs the store already had.
    pub present: usize,
    /// Bytes of blobs fetched.
    pub bytes: u64,
}

const MANIFEST_LIMIT: u64 = 4 << 20;
const GZIP_LAYERS: [&str; 4] = [
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
];

/// A descriptor from a manifest.
#[derive(Debug, Clone)]
pub(super) struct Desc {
    pub(super) digest: String,
    pub(super) size: u64,
    pub(super) media_type: String,
}

pub(super) fn desc(v: &serde_json::Value) -> Option<Desc> {
    Some(Desc {
        digest: v.get("digest")?.as_str()?.to_string(),
        size: v.get("size")?.as_u64()?,
        media_type: v
            .get("mediaType")
            .and_then(|m| m.as_str())
            .unwrap_or("")
            .to_string(),
    })
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The architecture name OCI uses for this machine.
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

/// Pulls `reference` (e.g. `localhost:5001/busybox:1`) into the store and
/// tags it with that name.
pub fn pull(store: &Store, reference: &str, opts: &TransferOptions) -> Result<PullReport> {
    pull_platforms(store, reference, opts, false)
}

/// Like [`pull`]; when the reference names an image index, the index and
/// every manifest it lists are kept whatever `all_platforms` says, and the
/// blobs of every platform (not only this machine's) are fetched when it
/// is true, so that a push can send the index on (`pull --all-platforms`).
pub fn pull_platforms(
    store: &Store,
    reference: &str,
    opts: &TransferOptions,
    all_platforms: bool,
) -> Result<PullReport> {
    let r = Reference::parse(reference)?;
    let registry = r.registry();
    let repository = r.repository();
    let _p = trace::phase("pull");
    let mut s = trace::step(Kind::Registry, "pull", r.to_string())
        .field("reference", r.to_string())
        .field("registry", &registry)
        .field("repository", &repository)
        .equivalent(format!(
            "skopeo copy docker://{r} oci:ROOT:{}",
            r.name_tag().unwrap_or_default()
        ))
        .announce()?;
    let result = Client::new(&registry)
        .and_then(|client| pull_inner(store, &client, &r, &repository, opts, all_platforms));
    super::journal_transfer(store, "pull", &r.to_string(), &registry, &result);
    if let Ok(rep) = &result {
        s.field("id", &rep.id)
            .field("digest", &rep.digest)
            .field("fetched", rep.fetched)
            .field("present", rep.present)
            .field("bytes", rep.bytes)
            .field("platforms", rep.platforms);
    }
    s.finish_with(result)
}

fn pull_inner(
    store: &Store,
    client: &Client,
    r: &Reference,
    repository: &str,
    opts: &TransferOptions,
    all_platforms: bool,
) -> Result<PullReport> {
    let host = client.name().to_string();
    ping(client)?;
    let (top_bytes, top_digest, top_type) =
        get_manifest(client, repository, &r.manifest_ref(), r.digest.as_deref())?;
    let is_index = top_type == media::OCI_INDEX || top_type == media::DOCKER_LIST;
    let (manifest_bytes, manifest_digest, manifest_type) = if is_index {
        let chosen = pick_platform(&host, &top_bytes)?;
        let (b, d, t) = get_manifest(client, repository, &chosen, Some(&chosen))?;
        (b, d, t)
    } else {
        (top_bytes.clone(), top_digest.clone(), top_type.clone())
    };
    if manifest_type != media::OCI_MANIFEST && manifest_type != media::DOCKER_MANIFEST {
        return Err(bad(
            &host,
            "a manifest",
            format!("its media type {manifest_type:?} is not an image manifest"),
        )
        .into());
    }
    let m: serde_json::Value = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| bad(&host, "a manifest", format!("it is not JSON: {e}")))?;
    let config = m
        .get("config")
        .and_then(desc)
        .ok_or_else(|| bad(&host, "a manifest", "it has no config descriptor".into()))?;
    let layers: Vec<Desc> = m
        .get("layers")
        .and_then(|l| l.as_array())
        .map(|a| a.iter().filter_map(desc).collect())
        .unwrap_or_default();
    for l in &layers {
        crate::store::digest_hex(&l.digest)?;
        if !GZIP_LAYERS.contains(&l.media_type.as_str()) {
            return Err(bad(
                &host,
                "a manifest",
                format!(
                    "layer {} is {:?}; glassbox unpacks only gzip-compressed tar layers",
                    l.digest, l.media_type
                ),
            )
            .into());
        }
    }
    // The config first (small, in memory): it must parse and name one
    // diff_id per layer before any layer is fetched.
    let config_present = store.blob_path(&config.digest)?.exists();
    let config_bytes = if config_present {
        store.read_blob(&config.digest)?
    } else {
        fetch_small(client, repository, &config, "config")?
    };
    let cfg: serde_json::Value = serde_json::from_slice(&config_bytes)
        .map_err(|e| bad(&host, "an image config", format!("it is not JSON: {e}")))?;
    let diff_ids = cfg
        .pointer("/rootfs/diff_ids")
        .and_then(|d| d.as_array())
        .map(|a| a.len())
        .unwrap_or(0);
    if diff_ids != layers.len() {
        return Err(bad(
            &host,
            "an image",
            format!(
                "its config names {diff_ids} layers but its manifest {}",
                layers.len()
            ),
        )
        .into());
    }
    let mut wanted: Vec<Desc> = Vec::new();
    let mut present = 0;
    for l in &layers {
        if wanted.iter().any(|w| w.digest == l.digest) {
            continue;
        }
        if store.blob_path(&l.digest)?.exists() {
            present += 1;
            trace::fact(
                Kind::Registry,
                "blob_present",
                format!("layer {}", l.digest),
            )
            .field("digest", &l.digest)
            .field("size", l.size)
            .info();
        } else {
            wanted.push(l.clone());
        }
    }
    // An index: every manifest it lists (small), and with all_platforms
    // every blob of the other platforms too.
    let mut others = if is_index {
        super::index::fetch_listed(
            store,
            client,
            repository,
            &top_bytes,
            &manifest_digest,
            all_platforms,
            opts,
        )?
    } else {
        super::index::Listed::default()
    };
    let writers = parallel(&wanted, opts.jobs, |l| {
        fetch_blob(store, client, repository, l, opts)
    })?;
    // Everything arrived and matched: now, and only now, into the store.
    let bytes: u64 = wanted.iter().map(|l| l.size).sum();
    for (w, l) in writers.into_iter().zip(&wanted) {
        w.commit(Some(&l.digest))?;
    }
    let id = store.put_blob(&config_bytes)?;
    let stored = store.put_blob(&manifest_bytes)?;
    debug_assert_eq!(stored, manifest_digest);
    let listed = others.commit(store)?;
    let platforms = others.platforms;
    if is_index {
        store.put_blob(&top_bytes)?;
    }
    if let Some(t) = r.name_tag() {
        // The tag names what the registry's tag names: the index, when
        // it is one (run and inspect see its entry for this machine).
        let (d, size, mt) = if is_index {
            (&top_digest, top_bytes.len(), &top_type)
        } else {
            (&manifest_digest, manifest_bytes.len(), &manifest_type)
        };
        store.set_tag_typed(&t, d, size as u64, mt.as_str().into())?;
    }
    let mut all: Vec<String> = std::iter::once(config.digest.clone())
        .chain(layers.iter().map(|l| l.digest.clone()))
        .chain(std::iter::once(manifest_digest.clone()))
        .chain(listed)
        .collect();
    if is_index {
        all.push(top_digest.clone());
        store.record_remote(
            &top_digest,
            &format!("{}@{top_digest}", r.name),
            &format!("{}/{repository}", client.name()),
            &[],
        )?;
    }
    store.record_remote(
        &manifest_digest,
        &format!("{}@{top_digest}", r.name),
        &format!("{}/{repository}", client.name()),
        &all,
    )?;
    Ok(PullReport {
        reference: r.to_string(),
        digest: top_digest,
        manifest: manifest_digest,
        id,
        fetched: wanted.len() + usize::from(!config_present) + others.fetched,
        present: present + usize::from(config_present) + others.present,
        bytes: bytes + others.bytes,
        platforms,
    })
}

pub(super) fn bad(host: &str, what: &str, reason: String) -> RegistryError {
    RegistryError::BadResponse {
        host: host.to_string(),
        what: what.to_string(),
        reason,
    }
}

/// GETs a manifest; returns (bytes, digest, media type). When `expected`
/// is given the bytes must hash to it; else to the registry's
/// `Docker-Content-Digest` when it sends one.
pub(super) fn get_manifest(
    client: &Client,
    repository: &str,
    reference: &str,
    expected: Option<&str>,
) -> Result<(Vec<u8>, String, String)> {
    let path = format!("/v2/{repository}/manifests/{reference}");
    let resp = client.exchange(
        Request::new("manifest_get", "GET", &path)
            .header("Accept", media::ACCEPT)
            .field("repository", repository)
            .field("reference", reference),
    )?;
    let announced = resp.header("Docker-Content-Digest").map(str::to_string);
    let content_type = resp
        .header("Content-Type")
        .map(|c| c.split(';').next().unwrap_or("").trim().to_string());
    let mut bytes = Vec::new();
    resp.into_reader()
        .take(MANIFEST_LIMIT + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| RegistryError::Transport {
            host: client.endpoint.host.clone(),
            reason: format!("reading the manifest {reference}: {e}"),
        })?;
    if bytes.len() as u64 > MANIFEST_LIMIT {
        return Err(bad(
            client.name(),
            "a manifest",
            "it is larger than 4 MiB".into(),
        )
        .into());
    }
    let digest = sha256(&bytes);
    if let Some(exp) = expected.or(announced.as_deref()) {
        if exp != digest {
            return Err(RegistryError::DigestMismatch {
                host: client.name().to_string(),
                what: format!("the manifest {reference}"),
                expected: exp.to_string(),
                actual: digest,
            }
            .into());
        }
    }
    let body_type = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| {
            v.get("mediaType")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        });
    let media_type = body_type
        .or(content_type)
        .unwrap_or_else(|| media::OCI_MANIFEST.to_string());
    trace::fact(
        Kind::Registry,
        "manifest_verify",
        format!("manifest {digest}"),
    )
    .field("digest", &digest)
    .field("media_type", &media_type)
    .field("size", bytes.len())
    .field("reference", reference)
    .info();
    Ok((bytes, digest, media_type))
}

/// Picks linux/<this architecture> from an index; returns its digest.
fn pick_platform(host: &str, index: &[u8]) -> Result<String> {
    let v: serde_json::Value = serde_json::from_slice(index)
        .map_err(|e| bad(host, "an index", format!("it is not JSON: {e}")))?;
    let arch = host_arch();
    let list = v
        .get("manifests")
        .and_then(|m| m.as_array())
        .cloned()
        .unwrap_or_default();
    let found = list.iter().find(|m| {
        m.pointer("/platform/os").and_then(|o| o.as_str()) == Some("linux")
            && m.pointer("/platform/architecture").and_then(|a| a.as_str()) == Some(arch)
    });
    let Some(d) = found.and_then(|m| m.get("digest")).and_then(|d| d.as_str()) else {
        let have: Vec<String> = list
            .iter()
            .map(|m| {
                format!(
                    "{}/{}",
                    m.pointer("/platform/os")
                        .and_then(|o| o.as_str())
                        .unwrap_or("?"),
                    m.pointer("/platform/architecture")
                        .and_then(|a| a.as_str())
                        .unwrap_or("?")
                )
            })
            .collect();
        return Err(bad(
            host,
            "an index",
            format!("it has no linux/{arch} image (it has: {})", have.join(", ")),
        )
        .into());
    };
    crate::store::digest_hex(d)?;
    trace::fact(Kind::Registry, "platform", format!("linux/{arch} → {d}"))
        .field("os", "linux")
        .field("architecture", arch)
        .field("digest", d)
        .field("choices", list.len())
        .info();
    Ok(d.to_string())
}

/// GETs a small blob (the config) into memory, verified.
fn fetch_small(client: &Client, repository: &str, d: &Desc, role: &str) -> Result<Vec<u8>> {
    crate::store::digest_hex(&d.digest)?;
    let resp = client.exchange(
        Request::new(
            "blob_get",
            "GET",
            format!("/v2/{repository}/blobs/{}", d.digest),
        )
        .field("digest", &d.digest)
        .field("size", d.size)
        .field("role", role),
    )?;
    let mut bytes = Vec::new();
    resp.into_reader()
        .take(d.size.min(MANIFEST_LIMIT) + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| RegistryError::Transport {
            host: client.endpoint.host.clone(),
            reason: format!("reading blob {}: {e}", d.digest),
        })?;
    let actual = sha256(&bytes);
    if actual != d.digest || bytes.len() as u64 != d.size {
        return Err(RegistryError::DigestMismatch {
            host: client.name().to_string(),
            what: format!("the {role} blob"),
            expected: d.digest.clone(),
            actual,
        }
        .into());
    }
    Ok(bytes)
}

/// GETs a layer into an uncommitted blob writer, hashing as it streams;
/// fails (and the temp file goes) unless size and digest match.
pub(super) fn fetch_blob(
    store: &Store,
    client: &Client,
    repository: &str,
    d: &Desc,
    opts: &TransferOptions,
) -> Result<BlobWriter> {
    let id = d.digest.clone();
    let label = format!("layer {}", crate::explain::short_digest(d.digest.clone()));
    let mut s = trace::step(Kind::Registry, "blob_verify", format!("layer {}", d.digest))
        .field("digest", &d.digest)
        .field("size", d.size)
        .announce()?;
    let resp = client.exchange(
        Request::new(
            "blob_get",
            "GET",
            format!("/v2/{repository}/blobs/{}", d.digest),
        )
        .field("digest", &d.digest)
        .field("size", d.size)
        .field("role", "layer"),
    )?;
    opts.progress.start(&id, &label, d.size);
    let result = (|| -> Result<BlobWriter> {
        let mut w = store.blob_writer()?;
        let mut reader = resp.into_reader();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = reader
                .read(&mut buf)
                .map_err(|e| RegistryError::Transport {
                    host: client.endpoint.host.clone(),
                    reason: format!("reading blob {}: {e}", d.digest),
                })?;
            if n == 0 {
                break;
            }
            if w.size() + n as u64 > d.size {
                return Err(bad(
                    client.name(),
                    "a blob",
                    format!(
                        "{} is longer than the {} bytes its descriptor says",
                        d.digest, d.size
                    ),
                )
                .into());
            }
            w.write_all(&buf[..n]).map_err(|e| crate::Error::Io {
                context: format!("writing blob {} to a temp file", d.digest),
                source: e,
            })?;
            opts.progress.advance(&id, n as u64);
        }
        let actual = w.digest();
        if actual != d.digest || w.size() != d.size {
            return Err(RegistryError::DigestMismatch {
                host: client.name().to_string(),
                what: format!("layer {} ({} of {} bytes)", d.digest, w.size(), d.size),
                expected: d.digest.clone(),
                actual,
            }
            .into());
        }
        Ok(w)
    })();
    opts.progress
        .finish(&id, if result.is_ok() { "pulled" } else { "failed" });
    if result.is_ok() {
        s.field("verified", true);
    }
    s.finish_with(result)
}
