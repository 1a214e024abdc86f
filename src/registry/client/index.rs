//! Image indexes through the client: a pull that meets an index keeps it
//! and every manifest it lists (and, with `--all-platforms`, every blob of
//! every platform), and a push of a tag that names an index sends all of
//! it — blobs first, then each listed manifest by its digest, the index
//! last by tag — so the registry ends with the same index digest the
//! store holds, and a pull then a push round-trips byte for byte.

use super::http::{Body, Client, Request};
use super::pull::{bad, desc, fetch_blob, get_manifest, Desc};
use super::push::{ping, push_blob, Blob, Outcome, PushReport};
use super::{parallel, RegistryError, TransferOptions};
use crate::reference::Reference;
use crate::store::{BlobWriter, Store, TagEntry, INDEX_TYPES};
use crate::trace::{self, Kind};
use crate::Result;

/// How deep an index of indexes may go.
const DEPTH: usize = 3;

/// What a pull fetched beyond this machine's image: the manifests an
/// index lists and (all platforms) their blobs, verified, not yet stored.
#[derive(Default)]
pub(super) struct Listed {
    manifests: Vec<Vec<u8>>,
    writers: Vec<(BlobWriter, String)>,
    /// Manifests the top index lists.
    pub(super) platforms: usize,
    /// Manifests and blobs fetched.
    pub(super) fetched: usize,
    /// Manifests and blobs the store already had.
    pub(super) present: usize,
    /// Bytes of blobs fetched.
    pub(super) bytes: u64,
}

impl Listed {
    /// Renames the verified blobs into the store and writes the manifests;
    /// returns their digests.
    pub(super) fn commit(&mut self, store: &Store) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for (w, d) in self.writers.drain(..) {
            w.commit(Some(&d))?;
            out.push(d);
        }
        for m in self.manifests.drain(..) {
            out.push(store.put_blob(&m)?);
        }
        Ok(out)
    }
}

fn parse(host: &str, what: &str, bytes: &[u8]) -> Result<serde_json::Value> {
    Ok(serde_json::from_slice(bytes)
        .map_err(|e| bad(host, what, format!("it is not JSON: {e}")))?)
}

/// Fetches what index `index` lists besides `chosen` (the manifest the
/// pull itself fetched): every manifest, and when `all` the config and
/// layers of each.
pub(super) fn fetch_listed(
    store: &Store,
    client: &Client,
    repository: &str,
    index: &[u8],
    chosen: &str,
    all: bool,
    opts: &TransferOptions,
) -> Result<Listed> {
    let mut l = Listed::default();
    let mut blobs: Vec<Desc> = Vec::new();
    let v = parse(client.name(), "an index", index)?;
    l.platforms = v
        .get("manifests")
        .and_then(|m| m.as_array())
        .map_or(0, Vec::len);
    walk(
        store, client, repository, &v, chosen, all, 0, &mut l, &mut blobs,
    )?;
    let writers = parallel(&blobs, opts.jobs, |d| {
        fetch_blob(store, client, repository, d, opts)
    })?;
    l.fetched += blobs.len();
    l.bytes += blobs.iter().map(|b| b.size).sum::<u64>();
    l.writers = writers
        .into_iter()
        .zip(blobs.iter().map(|b| b.digest.clone()))
        .collect();
    trace::fact(
        Kind::Registry,
        "index",
        format!("index of {} manifest(s)", l.platforms),
    )
    .field("manifests", l.platforms)
    .field("all_platforms", all)
    .field("blobs", blobs.len())
    .field("architecture", crate::store::host_arch())
    .info();
    Ok(l)
}

#[allow(clippy::too_many_arguments)]
fn walk(
    store: &Store,
    client: &Client,
    repository: &str,
    index: &serde_json::Value,
    chosen: &str,
    all: bool,
    depth: usize,
    l: &mut Listed,
    blobs: &mut Vec<Desc>,
) -> Result<()> {
    let host = client.name();
    if depth >= DEPTH {
        return Err(bad(
            host,
            "an index",
            format!("it nests indexes deeper than {DEPTH}"),
        )
        .into());
    }
    let list: Vec<Desc> = index
        .get("manifests")
        .and_then(|m| m.as_array())
        .map(|a| a.iter().filter_map(desc).collect())
        .unwrap_or_default();
    for d in list {
        crate::store::digest_hex(&d.digest)?;
        let bytes = if d.digest == chosen {
            // The pull fetched it; its blobs are the pull's own.
            continue;
        } else if store.blob_path(&d.digest)?.exists() {
            l.present += 1;
            store.read_blob(&d.digest)?
        } else {
            let (b, _, _) = get_manifest(client, repository, &d.digest, Some(&d.digest))?;
            l.fetched += 1;
            l.manifests.push(b.clone());
            b
        };
        let m = parse(host, "a manifest", &bytes)?;
        if m.get("manifests").is_some() {
            walk(
                store,
                client,
                repository,
                &m,
                chosen,
                all,
                depth + 1,
                l,
                blobs,
            )?;
        } else if all {
            let listed = m.get("config").and_then(desc).into_iter().chain(
                m.get("layers")
                    .and_then(|a| a.as_array())
                    .into_iter()
                    .flatten()
                    .filter_map(desc),
            );
            for b in listed {
                crate::store::digest_hex(&b.digest)?;
                if blobs.iter().any(|x| x.digest == b.digest) {
                    continue;
                }
                if store.blob_path(&b.digest)?.exists() {
                    l.present += 1;
                } else {
                    blobs.push(b);
                }
            }
        }
    }
    Ok(())
}

/// One manifest of an index to push, children before parents.
struct Doc {
    digest: String,
    bytes: Vec<u8>,
    media_type: String,
}

/// Collects, from the store, the manifests under `digest` (post-order:
/// what a document lists comes before it) and the blobs they name.
fn gather(
    store: &Store,
    digest: &str,
    media_type: &str,
    depth: usize,
    docs: &mut Vec<Doc>,
    blobs: &mut Vec<(Blob, String)>,
) -> Result<()> {
    if docs.iter().any(|d| d.digest == digest) {
        return Ok(());
    }
    if depth > DEPTH {
        return Err(crate::Error::Usage(format!(
            "index {digest} nests indexes deeper than {DEPTH}"
        )));
    }
    let bytes = store.read_blob(digest).map_err(|e| match e {
        crate::Error::Store(crate::store::StoreError::MissingBlob(_)) => {
            crate::Error::Usage(format!(
                "the store lacks manifest {digest}, which the index lists; pull the index again"
            ))
        }
        e => e,
    })?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
        crate::Error::Usage(format!("manifest {digest} in the store is not JSON: {e}"))
    })?;
    if let Some(list) = v.get("manifests").and_then(|m| m.as_array()) {
        for d in list.iter().filter_map(desc) {
            crate::store::digest_hex(&d.digest)?;
            gather(store, &d.digest, &d.media_type, depth + 1, docs, blobs)?;
        }
    } else {
        let config = v.get("config").and_then(desc).map(|d| (d, "config"));
        let layers = v
            .get("layers")
            .and_then(|a| a.as_array())
            .into_iter()
            .flatten()
            .filter_map(desc)
            .map(|d| (d, "layer"));
        for (d, role) in config.into_iter().chain(layers) {
            crate::store::digest_hex(&d.digest)?;
            if !blobs.iter().any(|(b, _)| b.digest == d.digest) {
                blobs.push((
                    Blob {
                        digest: d.digest,
                        size: d.size,
                        role,
                    },
                    digest.to_string(),
                ));
            }
        }
    }
    let media_type = v
        .get("mediaType")
        .and_then(|m| m.as_str())
        .unwrap_or(media_type)
        .to_string();
    docs.push(Doc {
        digest: digest.to_string(),
        bytes,
        media_type,
    });
    Ok(())
}

/// Pushes the index tag `e` names to the registry `r` names.
pub(super) fn push_index(
    store: &Store,
    r: &Reference,
    e: &TagEntry,
    opts: &TransferOptions,
) -> Result<PushReport> {
    let registry = r.registry();
    let repository = r.repository();
    let mut docs = Vec::new();
    let mut blobs = Vec::new();
    gather(store, &e.digest, &e.media_type, 0, &mut docs, &mut blobs)?;
    let platforms = docs.len() - 1;
    let _p = trace::phase("push");
    let mut s = trace::step(Kind::Registry, "push", r.to_string())
        .field("reference", r.to_string())
        .field("registry", &registry)
        .field("repository", &repository)
        .field("blobs", blobs.len())
        .field("manifest", &e.digest)
        .field("platforms", platforms)
        .equivalent(format!(
            "skopeo copy --all oci:ROOT:{} docker://{r}",
            r.name_tag().unwrap_or_default()
        ))
        .announce()?;
    let result = (|| {
        let client = Client::new(&registry)?;
        ping(&client)?;
        let source = format!("{registry}/{repository}");
        // Blobs the store lacks (other platforms of an index pulled
        // without --all-platforms) must already be on the registry.
        let mut local = Vec::new();
        let mut existed = 0;
        for (b, manifest) in blobs {
            if store.blob_path(&b.digest)?.exists() {
                local.push(b);
                continue;
            }
            let head = client.exchange(
                Request::new(
                    "blob_check",
                    "HEAD",
                    format!("/v2/{repository}/blobs/{}", b.digest),
                )
                .field("digest", &b.digest)
                .field("role", b.role)
                .field("size", b.size)
                .expect(&[200, 404]),
            )?;
            if head.status() != 200 {
                let host_image = store
                    .platform_manifest(&e.digest)
                    .map(|d| format!("`glassbox push {}@{d}`", r.name))
                    .unwrap_or_else(|| "one platform's manifest by digest".into());
                return Err(crate::Error::Usage(format!(
                    "{} {} of manifest {manifest} is neither in the store nor on {source}: the store holds only some platforms of this index; pull it with `glassbox pull --all-platforms` first, or push this machine's image alone with {host_image}",
                    b.role, b.digest
                )));
            }
            existed += 1;
        }
        let outcomes = parallel(&local, opts.jobs, |b| {
            push_blob(store, &client, &repository, &source, b, opts)
        })?;
        let last = docs.len() - 1;
        for (i, d) in docs.iter().enumerate() {
            // Each listed manifest by its digest; the index by the tag.
            let reference = if i < last {
                d.digest.clone()
            } else {
                r.tag.clone().unwrap_or_else(|| r.manifest_ref())
            };
            let path = format!("/v2/{repository}/manifests/{reference}");
            let resp = client.exchange(
                Request::new("manifest_put", "PUT", path)
                    .header("Content-Type", d.media_type.clone())
                    .body(Body::Bytes(&d.bytes))
                    .field("digest", &d.digest)
                    .field("media_type", &d.media_type)
                    .field("reference", &reference)
                    .field("size", d.bytes.len())
                    .field("repository", &repository)
                    .field("index", INDEX_TYPES.contains(&d.media_type.as_str()))
                    .expect(&[200, 201]),
            )?;
            if let Some(got) = resp.header("Docker-Content-Digest") {
                if got != d.digest {
                    return Err(RegistryError::DigestMismatch {
                        host: registry.clone(),
                        what: "back a manifest digest".into(),
                        expected: d.digest.clone(),
                        actual: got.to_string(),
                    }
                    .into());
                }
            }
        }
        let all: Vec<String> = local
            .iter()
            .map(|b| b.digest.clone())
            .chain(docs.iter().map(|d| d.digest.clone()))
            .collect();
        store.record_remote(
            &e.digest,
            &format!("{}@{}", r.name, e.digest),
            &source,
            &all,
        )?;
        let count = |o: fn(&Outcome) -> bool| outcomes.iter().filter(|x| o(x)).count();
        Ok(PushReport {
            reference: r.to_string(),
            digest: e.digest.clone(),
            size: e.size,
            uploaded: count(|o| matches!(o, Outcome::Uploaded(_))),
            existed: existed + count(|o| *o == Outcome::Existed),
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
