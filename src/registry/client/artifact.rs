//! Artifacts with a subject (distribution-spec 1.1): files attached to an
//! image on a registry (an SBOM, a signature, a report), listed back and
//! fetched.
//!
//! - [`attach`] pushes an OCI image manifest whose `artifactType` says what
//!   it is, whose config is the empty JSON descriptor (`{}`), whose layers
//!   are the files (each titled with `org.opencontainers.image.title`), and
//!   whose `subject` is the descriptor of the image's manifest. It is put
//!   by its digest. A registry that implements the referrers API answers
//!   with `OCI-Subject`; one that does not (distribution 2.8) gets the
//!   spec's fallback: the client adds the artifact to the index tagged
//!   `sha256-<hex of the subject>`.
//! - [`discover`] lists an image's referrers: `GET /v2/<name>/referrers/
//!   <digest>` (`?artifactType=` filters), or that tag when the registry
//!   answers 404.
//! - [`pull_files`] fetches an artifact's files into a directory, each
//!   verified against its digest before it is renamed into place.
//!
//! No timestamp goes in unless asked (`--annotation
//! org.opencontainers.image.created=…`): the same files attached to the
//! same subject give the same artifact digest.

use super::http::{Body, Client, Request};
use super::media;
use super::pull::{bad, get_manifest};
use super::push::{location, ping};
use super::RegistryError;
use crate::error::IoContext;
use crate::reference::Reference;
use crate::trace::{self, Kind};
use crate::Result;
use sha2::{Digest as _, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The media type of the empty JSON blob `{}`.
pub const EMPTY_JSON: &str = "application/vnd.oci.empty.v1+json";
/// The digest of `{}`.
pub const EMPTY_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
/// The annotation that names a file.
pub const TITLE: &str = "org.opencontainers.image.title";
/// A file's media type when none is given.
pub const DEFAULT_FILE_TYPE: &str = "application/octet-stream";

/// One file to attach.
#[derive(Debug, Clone)]
pub struct FileSpec {
    /// The file.
    pub path: PathBuf,
    /// Its layer's media type.
    pub media_type: String,
}

impl FileSpec {
    /// `FILE` or `FILE:MEDIA/TYPE` (as oras takes them).
    pub fn parse(s: &str) -> FileSpec {
        match s.rsplit_once(':') {
            Some((p, t)) if t.contains('/') && !p.is_empty() => FileSpec {
                path: PathBuf::from(p),
                media_type: t.to_string(),
            },
            _ => FileSpec {
                path: PathBuf::from(s),
                media_type: DEFAULT_FILE_TYPE.to_string(),
            },
        }
    }
}

/// What an attach did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AttachReport {
    /// The subject as given.
    pub subject: String,
    /// The subject manifest's digest.
    pub subject_digest: String,
    /// The artifact manifest's digest.
    pub digest: String,
    /// Its size.
    pub size: u64,
    /// Its `artifactType`.
    pub artifact_type: String,
    /// Files attached.
    pub files: usize,
    /// Blobs sent (the others were there).
    pub uploaded: usize,
    /// How the registry learns of the referrer: `api` (it answered
    /// `OCI-Subject`) or `tag` (the `sha256-…` index was updated).
    pub via: String,
}

/// One referrer: a descriptor of the referrers index.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Referrer {
    /// The artifact manifest's media type.
    #[serde(rename = "mediaType")]
    pub media_type: String,
    /// Its digest.
    pub digest: String,
    /// Its size.
    pub size: u64,
    /// Its artifact type.
    #[serde(
        rename = "artifactType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub artifact_type: Option<String>,
    /// Its annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<serde_json::Map<String, serde_json::Value>>,
}

/// What [`discover`] found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Discovered {
    /// The subject as given.
    pub subject: String,
    /// The subject's manifest digest.
    pub digest: String,
    /// `api` (the referrers API answered) or `tag` (the fallback tag).
    pub via: String,
    /// The referrers, filtered by artifact type when one was asked for.
    pub referrers: Vec<Referrer>,
}

/// One file [`pull_files`] wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PulledFile {
    /// Where it went.
    pub path: PathBuf,
    /// Its digest.
    pub digest: String,
    /// Its size.
    pub size: u64,
}

/// What [`pull_files`] did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PulledArtifact {
    /// The artifact manifest's digest.
    pub digest: String,
    /// Its artifact type.
    pub artifact_type: String,
    /// The files, in the manifest's order.
    pub files: Vec<PulledFile>,
}

fn sha256_file(path: &Path) -> Result<(String, u64)> {
    let mut f = std::fs::File::open(path).ctx(|| format!("opening {}", path.display()))?;
    let mut h = Sha256::new();
    let n = std::io::copy(&mut f, &mut h).ctx(|| format!("reading {}", path.display()))?;
    Ok((format!("sha256:{}", hex::encode(h.finalize())), n))
}

/// The tag the referrers tag schema uses for `digest`: `sha256-<hex>`.
pub fn fallback_tag(digest: &str) -> String {
    let t = digest.replacen(':', "-", 1);
    t.chars().take(128).collect()
}

/// GETs the subject's manifest: its descriptor (media type, digest, size).
fn subject_of(client: &Client, repository: &str, r: &Reference) -> Result<(String, String, u64)> {
    let (bytes, digest, media_type) =
        get_manifest(client, repository, &r.manifest_ref(), r.digest.as_deref())?;
    Ok((media_type, digest, bytes.len() as u64))
}

/// Sends one blob (monolithic upload) unless the registry has it; returns
/// whether it was sent.
fn upload(
    client: &Client,
    repository: &str,
    digest: &str,
    size: u64,
    body: Body<'_>,
    role: &str,
) -> Result<bool> {
    let head = client.exchange(
        Request::new(
            "blob_check",
            "HEAD",
            format!("/v2/{repository}/blobs/{digest}"),
        )
        .field("digest", digest)
        .field("role", role)
        .field("size", size)
        .expect(&[200, 404]),
    )?;
    if head.status() == 200 {
        return Ok(false);
    }
    let resp = client.exchange(
        Request::new(
            "upload_start",
            "POST",
            format!("/v2/{repository}/blobs/uploads/"),
        )
        .field("digest", digest)
        .field("role", role)
        .field("repository", repository)
        .expect(&[202]),
    )?;
    let loc = location(client, &resp)?;
    let sep = if loc.contains('?') { '&' } else { '?' };
    let url = format!("{loc}{sep}digest={}", super::http::percent_encode(digest));
    let resp = client.exchange(
        Request::new("blob_upload", "PUT", url)
            .header("Content-Type", "application/octet-stream")
            .body(body)
            .field("digest", digest)
            .field("role", role)
            .field("size", size)
            .expect(&[201, 204]),
    )?;
    if let Some(d) = resp.header("Docker-Content-Digest") {
        if d != digest {
            return Err(RegistryError::DigestMismatch {
                host: client.name().to_string(),
                what: format!("back the digest of {role}"),
                expected: digest.to_string(),
                actual: d.to_string(),
            }
            .into());
        }
    }
    Ok(true)
}

/// The artifact manifest's bytes: reproducible (no timestamp), keys in a
/// fixed order.
fn artifact_manifest(
    artifact_type: &str,
    layers: &[serde_json::Value],
    subject: &(String, String, u64),
    annotations: &[(String, String)],
) -> Vec<u8> {
    let mut m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {"mediaType": EMPTY_JSON, "digest": EMPTY_DIGEST, "size": 2},
        "layers": layers,
        "subject": {"mediaType": subject.0, "digest": subject.1, "size": subject.2},
    });
    if !annotations.is_empty() {
        let mut a = serde_json::Map::new();
        for (k, v) in annotations {
            a.insert(k.clone(), v.clone().into());
        }
        m["annotations"] = a.into();
    }
    serde_json::to_vec(&m).expect("a manifest serialises")
}

/// Attaches `files` to `subject` (`REGISTRY/NAME:TAG` or `@sha256:…`) as
/// an artifact of type `artifact_type`.
pub fn attach(
    subject: &str,
    artifact_type: &str,
    files: &[FileSpec],
    annotations: &[(String, String)],
) -> Result<AttachReport> {
    let r = Reference::parse(subject)?;
    if artifact_type.is_empty() || !artifact_type.contains('/') {
        return Err(crate::Error::Usage(format!(
            "--artifact-type {artifact_type:?} is not a media type (like application/vnd.example.sbom+json)"
        )));
    }
    // Read every file first: a missing one stops before any request.
    let mut layers = Vec::new();
    let mut sums = Vec::new();
    for f in files {
        let title = f
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|_| f.path.is_file())
            .ok_or_else(|| crate::Error::Usage(format!("{} is not a file", f.path.display())))?;
        if layers
            .iter()
            .any(|l: &serde_json::Value| l["annotations"][TITLE] == title)
        {
            return Err(crate::Error::Usage(format!(
                "two files are named {title}: an artifact's files are told apart by name"
            )));
        }
        let (digest, size) = sha256_file(&f.path)?;
        layers.push(serde_json::json!({
            "mediaType": f.media_type,
            "digest": digest,
            "size": size,
            "annotations": {TITLE: title},
        }));
        sums.push((digest, size));
    }
    let registry = r.registry();
    let repository = r.repository();
    let _p = trace::phase("attach");
    let mut s = trace::step(Kind::Registry, "attach", r.to_string())
        .field("subject", r.to_string())
        .field("registry", &registry)
        .field("repository", &repository)
        .field("artifact_type", artifact_type)
        .field("files", files.len())
        .equivalent(format!(
            "oras attach --artifact-type {artifact_type} {r} {}",
            files
                .iter()
                .map(|f| f.path.display().to_string())
                .collect::<Vec<_>>()
                .join(" ")
        ))
        .announce()?;
    let result = (|| {
        let client = Client::new(&registry)?;
        ping(&client)?;
        let subj = subject_of(&client, &repository, &r)?;
        let mut uploaded = 0;
        if upload(
            &client,
            &repository,
            EMPTY_DIGEST,
            2,
            Body::Bytes(b"{}"),
            "empty config",
        )? {
            uploaded += 1;
        }
        for (f, (digest, size)) in files.iter().zip(&sums) {
            let body = Body::File {
                path: &f.path,
                len: *size,
                progress: None,
            };
            if upload(&client, &repository, digest, *size, body, "file")? {
                uploaded += 1;
            }
        }
        let manifest = artifact_manifest(artifact_type, &layers, &subj, annotations);
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(&manifest)));
        let resp = client.exchange(
            Request::new(
                "manifest_put",
                "PUT",
                format!("/v2/{repository}/manifests/{digest}"),
            )
            .header("Content-Type", media::OCI_MANIFEST)
            .body(Body::Bytes(&manifest))
            .field("digest", &digest)
            .field("media_type", media::OCI_MANIFEST)
            .field("reference", &digest)
            .field("size", manifest.len())
            .field("repository", &repository)
            .field("subject_digest", &subj.1)
            .expect(&[200, 201]),
        )?;
        if let Some(d) = resp.header("Docker-Content-Digest") {
            if d != digest {
                return Err(RegistryError::DigestMismatch {
                    host: registry.clone(),
                    what: "back the artifact's digest".into(),
                    expected: digest.clone(),
                    actual: d.to_string(),
                }
                .into());
            }
        }
        let header = resp.header("OCI-Subject").map(str::to_string);
        let via = match header {
            Some(h) if h == subj.1 => "api",
            Some(h) => {
                return Err(bad(
                    &registry,
                    "an OCI-Subject header",
                    format!("it names {h}, not the subject {}", subj.1),
                )
                .into())
            }
            None => {
                let me = Referrer {
                    media_type: media::OCI_MANIFEST.to_string(),
                    digest: digest.clone(),
                    size: manifest.len() as u64,
                    artifact_type: Some(artifact_type.to_string()),
                    annotations: (!annotations.is_empty()).then(|| {
                        annotations
                            .iter()
                            .map(|(k, v)| (k.clone(), v.clone().into()))
                            .collect()
                    }),
                };
                add_to_fallback(&client, &repository, &subj.1, me)?;
                "tag"
            }
        };
        trace::fact(Kind::Registry, "subject", format!("subject {}", subj.1))
            .field("subject_digest", &subj.1)
            .field("digest", &digest)
            .field("via", via)
            .field("tag", fallback_tag(&subj.1))
            .info();
        Ok(AttachReport {
            subject: r.to_string(),
            subject_digest: subj.1.clone(),
            digest,
            size: manifest.len() as u64,
            artifact_type: artifact_type.to_string(),
            files: files.len(),
            uploaded,
            via: via.to_string(),
        })
    })();
    if let Ok(rep) = &result {
        s.field("digest", &rep.digest)
            .field("via", &rep.via)
            .field("uploaded", rep.uploaded);
    }
    s.finish_with(result)
}

/// The referrers index under the fallback tag, or `None` when there is
/// no such tag.
fn read_fallback(
    client: &Client,
    repository: &str,
    subject: &str,
) -> Result<Option<Vec<Referrer>>> {
    let tag = fallback_tag(subject);
    let resp = client.exchange(
        Request::new(
            "referrers_tag_get",
            "GET",
            format!("/v2/{repository}/manifests/{tag}"),
        )
        .header("Accept", media::OCI_INDEX)
        .field("tag", &tag)
        .field("subject_digest", subject)
        .field("repository", repository)
        .expect(&[200, 404]),
    )?;
    if resp.status() == 404 {
        return Ok(None);
    }
    let v = super::http::read_json(resp, 4 << 20)
        .map_err(|e| bad(client.name(), "the referrers tag's index", e))?;
    let list = v
        .get("manifests")
        .cloned()
        .unwrap_or(serde_json::Value::Array(Vec::new()));
    let list: Vec<Referrer> = serde_json::from_value(list)
        .map_err(|e| bad(client.name(), "the referrers tag's index", e.to_string()))?;
    Ok(Some(list))
}

/// Adds `me` to the index tagged `sha256-<hex>` (the referrers tag
/// schema), unless it is listed already.
fn add_to_fallback(client: &Client, repository: &str, subject: &str, me: Referrer) -> Result<()> {
    let mut list = read_fallback(client, repository, subject)?.unwrap_or_default();
    if list.iter().any(|x| x.digest == me.digest) {
        return Ok(());
    }
    list.push(me);
    let tag = fallback_tag(subject);
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_INDEX,
        "manifests": list,
    }))
    .expect("an index serialises");
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&index)));
    client.exchange(
        Request::new(
            "referrers_tag_put",
            "PUT",
            format!("/v2/{repository}/manifests/{tag}"),
        )
        .header("Content-Type", media::OCI_INDEX)
        .body(Body::Bytes(&index))
        .field("tag", &tag)
        .field("subject_digest", subject)
        .field("digest", &digest)
        .field("count", list.len())
        .field("repository", repository)
        .expect(&[200, 201]),
    )?;
    Ok(())
}

fn list_referrers(
    client: &Client,
    repository: &str,
    subject: &str,
    artifact_type: Option<&str>,
) -> Result<(Vec<Referrer>, &'static str)> {
    let mut path = format!("/v2/{repository}/referrers/{subject}");
    if let Some(t) = artifact_type {
        path.push_str(&format!("?artifactType={}", super::http::percent_encode(t)));
    }
    let resp = client.exchange(
        Request::new("referrers_get", "GET", path)
            .header("Accept", media::OCI_INDEX)
            .field("subject_digest", subject)
            .field("repository", repository)
            .field("artifact_type", artifact_type)
            .expect(&[200, 404]),
    )?;
    let (mut list, via) = if resp.status() == 200 {
        let v = super::http::read_json(resp, 4 << 20)
            .map_err(|e| bad(client.name(), "the referrers index", e))?;
        let list = v
            .get("manifests")
            .cloned()
            .unwrap_or(serde_json::Value::Array(Vec::new()));
        let list: Vec<Referrer> = serde_json::from_value(list)
            .map_err(|e| bad(client.name(), "the referrers index", e.to_string()))?;
        (list, "api")
    } else {
        (
            read_fallback(client, repository, subject)?.unwrap_or_default(),
            "tag",
        )
    };
    // The filter again here: a registry may ignore it (it then leaves out
    // OCI-Filters-Applied), and the tag schema has none.
    if let Some(t) = artifact_type {
        list.retain(|x| x.artifact_type.as_deref() == Some(t));
    }
    Ok((list, via))
}

/// Lists the referrers of `subject`, of type `artifact_type` if given.
pub fn discover(subject: &str, artifact_type: Option<&str>) -> Result<Discovered> {
    let r = Reference::parse(subject)?;
    let registry = r.registry();
    let repository = r.repository();
    let _p = trace::phase("discover");
    let mut s = trace::step(Kind::Registry, "discover", r.to_string())
        .field("subject", r.to_string())
        .field("registry", &registry)
        .field("repository", &repository)
        .field("artifact_type", artifact_type)
        .equivalent(match artifact_type {
            Some(t) => format!("oras discover --artifact-type {t} {r}"),
            None => format!("oras discover {r}"),
        })
        .announce()?;
    let result = (|| {
        let client = Client::new(&registry)?;
        ping(&client)?;
        let (_, digest, _) = subject_of(&client, &repository, &r)?;
        let (referrers, via) = list_referrers(&client, &repository, &digest, artifact_type)?;
        Ok(Discovered {
            subject: r.to_string(),
            digest,
            via: via.to_string(),
            referrers,
        })
    })();
    if let Ok(d) = &result {
        s.field("digest", &d.digest)
            .field("via", &d.via)
            .field("count", d.referrers.len());
    }
    s.finish_with(result)
}

/// A file name from a title annotation that stays inside the directory.
fn safe_title(t: &str) -> Option<&str> {
    (!t.is_empty() && t != "." && t != ".." && !t.contains('/') && !t.contains('\0')).then_some(t)
}

/// Fetches the files of artifact `reference` into `dir`. With
/// `artifact_type`, `reference` is the subject instead and its one
/// referrer of that type is fetched.
pub fn pull_files(
    reference: &str,
    dir: &Path,
    artifact_type: Option<&str>,
) -> Result<PulledArtifact> {
    let r = Reference::parse(reference)?;
    let registry = r.registry();
    let repository = r.repository();
    let _p = trace::phase("pull");
    let mut s = trace::step(Kind::Registry, "artifact_pull", r.to_string())
        .field("reference", r.to_string())
        .field("registry", &registry)
        .field("repository", &repository)
        .field("dir", dir.display().to_string())
        .field("artifact_type", artifact_type)
        .equivalent(format!("oras pull -o {} {r}", dir.display()))
        .announce()?;
    let result = (|| {
        let client = Client::new(&registry)?;
        ping(&client)?;
        let target = match artifact_type {
            None => r.manifest_ref(),
            Some(t) => {
                let (_, subject, _) = subject_of(&client, &repository, &r)?;
                let (list, _) = list_referrers(&client, &repository, &subject, Some(t))?;
                match list.as_slice() {
                    [one] => one.digest.clone(),
                    [] => {
                        return Err(crate::Error::Usage(format!(
                            "{r} has no referrer of type {t}; `glassbox artifact ls {r}` lists what it has"
                        )))
                    }
                    many => {
                        return Err(crate::Error::Usage(format!(
                            "{r} has {} referrers of type {t} ({}); pull one by digest: glassbox artifact pull {}@DIGEST",
                            many.len(),
                            many.iter().map(|m| m.digest.as_str()).collect::<Vec<_>>().join(", "),
                            r.name
                        )))
                    }
                }
            }
        };
        let expected = target.starts_with("sha256:").then_some(target.as_str());
        let (bytes, digest, media_type) = get_manifest(&client, &repository, &target, expected)?;
        if media_type != media::OCI_MANIFEST {
            return Err(bad(
                &registry,
                "an artifact",
                format!("{target} is {media_type}, not an OCI image manifest"),
            )
            .into());
        }
        let m: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| bad(&registry, "an artifact", format!("it is not JSON: {e}")))?;
        let kind = m
            .get("artifactType")
            .and_then(|t| t.as_str())
            .or_else(|| m.pointer("/config/mediaType").and_then(|t| t.as_str()))
            .unwrap_or("")
            .to_string();
        // Every file's name is checked, and none may exist yet, before a
        // byte is fetched.
        let mut wanted = Vec::new();
        for l in m
            .get("layers")
            .and_then(|l| l.as_array())
            .into_iter()
            .flatten()
        {
            let d = l.get("digest").and_then(|d| d.as_str()).unwrap_or("");
            crate::store::digest_hex(d)?;
            let size = l.get("size").and_then(|s| s.as_u64()).unwrap_or(0);
            let title = l
                .pointer(&format!("/annotations/{}", TITLE.replace('/', "~1")))
                .and_then(|t| t.as_str())
                .unwrap_or("");
            let Some(name) = safe_title(title) else {
                return Err(bad(
                    &registry,
                    "an artifact",
                    format!("its layer {d} has no usable {TITLE} ({title:?}) to name a file by"),
                )
                .into());
            };
            let path = dir.join(name);
            if path.symlink_metadata().is_ok() {
                return Err(crate::Error::Usage(format!(
                    "{} exists; remove it or pull into another directory with -o DIR",
                    path.display()
                )));
            }
            wanted.push((d.to_string(), size, path));
        }
        std::fs::create_dir_all(dir).ctx(|| format!("creating {}", dir.display()))?;
        let mut out = Vec::new();
        for (d, size, path) in wanted {
            fetch_file(&client, &repository, &d, size, &path)?;
            out.push(PulledFile {
                path,
                digest: d,
                size,
            });
        }
        Ok(PulledArtifact {
            digest,
            artifact_type: kind,
            files: out,
        })
    })();
    if let Ok(p) = &result {
        s.field("digest", &p.digest).field("files", p.files.len());
    }
    s.finish_with(result)
}

/// GETs a blob into a temp file beside `path`, hashing as it streams;
/// renamed to `path` only when size and digest match.
fn fetch_file(
    client: &Client,
    repository: &str,
    digest: &str,
    size: u64,
    path: &Path,
) -> Result<()> {
    let resp = client.exchange(
        Request::new(
            "blob_get",
            "GET",
            format!("/v2/{repository}/blobs/{digest}"),
        )
        .field("digest", digest)
        .field("size", size)
        .field("role", "file"),
    )?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".glassbox-pull-")
        .tempfile_in(dir)
        .ctx(|| format!("creating a temp file in {}", dir.display()))?;
    let mut h = Sha256::new();
    let mut n = 0u64;
    let mut reader = resp.into_reader().take(size + 1);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let k = reader
            .read(&mut buf)
            .map_err(|e| RegistryError::Transport {
                host: client.name().to_string(),
                reason: format!("reading blob {digest}: {e}"),
            })?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
        tmp.write_all(&buf[..k])
            .ctx(|| format!("writing {}", path.display()))?;
    }
    let actual = format!("sha256:{}", hex::encode(h.finalize()));
    if actual != digest || n != size {
        return Err(RegistryError::DigestMismatch {
            host: client.name().to_string(),
            what: format!("the file {} ({n} of {size} bytes)", path.display()),
            expected: digest.to_string(),
            actual,
        }
        .into());
    }
    use std::os::unix::fs::PermissionsExt;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))
        .ctx(|| format!("chmod {}", path.display()))?;
    tmp.persist_noclobber(path)
        .map_err(|e| e.error)
        .ctx(|| format!("renaming into {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_may_name_their_media_type_and_the_fallback_tag_is_the_digest_with_a_dash() {
        let f = FileSpec::parse("sbom.json:application/spdx+json");
        assert_eq!(f.path, PathBuf::from("sbom.json"));
        assert_eq!(f.media_type, "application/spdx+json");
        // A colon that is not followed by a media type stays in the path.
        let f = FileSpec::parse("dir/a:b.txt");
        assert_eq!(f.path, PathBuf::from("dir/a:b.txt"));
        assert_eq!(f.media_type, DEFAULT_FILE_TYPE);
        let d = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(fallback_tag(&d), format!("sha256-{}", "ab".repeat(32)));
        assert_eq!(
            EMPTY_DIGEST,
            format!("sha256:{}", hex::encode(Sha256::digest(b"{}")))
        );
        for bad in ["", ".", "..", "a/b", "../x"] {
            assert!(safe_title(bad).is_none(), "{bad:?}");
        }
        assert_eq!(safe_title("sbom.json"), Some("sbom.json"));
    }

    #[test]
    fn the_same_files_and_subject_give_the_same_manifest_bytes() {
        let layers = vec![
            serde_json::json!({"mediaType": "text/plain", "digest": EMPTY_DIGEST, "size": 2, "annotations": {TITLE: "a"}}),
        ];
        let subject = (media::OCI_MANIFEST.to_string(), EMPTY_DIGEST.to_string(), 2);
        let a = artifact_manifest("application/x.t", &layers, &subject, &[]);
        let b = artifact_manifest("application/x.t", &layers, &subject, &[]);
        assert_eq!(a, b);
        let v: serde_json::Value = serde_json::from_slice(&a).unwrap();
        assert!(v.get("annotations").is_none());
        let c = artifact_manifest(
            "application/x.t",
            &layers,
            &subject,
            &[(
                "org.opencontainers.image.created".into(),
                "2026-01-01T00:00:00Z".into(),
            )],
        );
        assert_ne!(a, c, "a timestamp only when asked for, and then it counts");
    }
}
