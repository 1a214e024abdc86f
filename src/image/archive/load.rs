//! `load`: an OCI archive or a *docker-archive* (what `docker save`
//! writes: `manifest.json`, a config JSON and one `layer.tar` per layer).
//! It works in three stages so that bad input leaves the store unchanged:
//! (1) unpack the archive's regular files into a temp dir inside the root;
//! (2) stage every blob in a temp file, checking each digest (and each
//! converted layer's diff_id against the config) — a mismatch stops here;
//! (3) only then rename the blobs into place, write the manifests, and
//! last of all set the tags. A load killed at any point leaves at most
//! verified, untagged blobs, which `store verify` accepts and gc removes.
//! Uncompressed layers (docker-archive, or OCI archives written by newer
//! docker) are gzipped the reproducible way; the image ID (the config's
//! digest) is kept, because the config is stored byte for byte.

use super::CONTAINERD_NAME;
use crate::error::IoContext;
use crate::image::compress::LayerEncoder;
use crate::image::import::{maybe_gunzip, ArchiveError};
use crate::image::pack::FixedChunks;
use crate::reference::Reference;
use crate::store::{BlobWriter, Image, Store, REF_NAME};
use crate::trace::{self, Kind};
use crate::Result;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// An archive unpacked into a temp dir: its regular files, and its
/// symlinks (kept as a map, never created on disk).
struct Unpacked {
    dir: crate::store::tmp::TempDir,
    links: HashMap<PathBuf, PathBuf>,
    file: String,
}

fn clean(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            _ => return None,
        }
    }
    Some(out)
}

impl Unpacked {
    fn invalid(&self, reason: impl Into<String>) -> crate::Error {
        ArchiveError::Invalid {
            file: self.file.clone(),
            reason: reason.into(),
        }
        .into()
    }

    /// The on-disk path of archive member `name`, following the archive's
    /// own symlinks (docker-archive links repeated layers), never leaving
    /// the temp dir.
    fn path(&self, name: &str) -> Result<PathBuf> {
        let mut rel = clean(Path::new(name))
            .ok_or_else(|| self.invalid(format!("{name} points outside the archive")))?;
        for _ in 0..16 {
            match self.links.get(&rel) {
                Some(target) => {
                    let joined = rel.parent().unwrap_or(Path::new("")).join(target);
                    rel = clean(&joined)
                        .ok_or_else(|| self.invalid(format!("{name} links outside the archive")))?;
                }
                None => {
                    let p = self.dir.path().join(&rel);
                    return if p.is_file() {
                        Ok(p)
                    } else {
                        Err(self.invalid(format!("{name} is missing from the archive")))
                    };
                }
            }
        }
        Err(self.invalid(format!("{name}: too many symlinks")))
    }

    fn read(&self, name: &str) -> Result<Vec<u8>> {
        let p = self.path(name)?;
        std::fs::read(&p).ctx(|| format!("reading {name} from {}", self.file))
    }

    fn json(&self, name: &str) -> Result<Value> {
        serde_json::from_slice(&self.read(name)?)
            .map_err(|e| self.invalid(format!("{name} is not valid JSON: {e}")))
    }
}

fn unpack(store: &Store, file: &str, input: impl Read) -> Result<Unpacked> {
    let dir = store.tempdir()?;
    let mut links = HashMap::new();
    let unreadable = |e: std::io::Error| -> crate::Error {
        ArchiveError::Unreadable {
            file: file.to_string(),
            reason: e.to_string(),
        }
        .into()
    };
    let mut ar = tar::Archive::new(maybe_gunzip(input)?);
    let mut n = 0;
    for e in ar.entries().map_err(unreadable)? {
        let mut e = e.map_err(unreadable)?;
        let raw = e.path().map_err(unreadable)?.into_owned();
        // Archive members are data, not a filesystem: only plain relative
        // names are kept, and only files are written.
        let Some(rel) = clean(&raw).filter(|r| !r.as_os_str().is_empty()) else {
            continue;
        };
        match e.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let p = dir.path().join(&rel);
                if let Some(parent) = p.parent() {
                    std::fs::create_dir_all(parent)
                        .ctx(|| format!("creating {}", parent.display()))?;
                }
                let mut f = std::fs::File::create(&p).ctx(|| format!("writing {}", p.display()))?;
                std::io::copy(&mut e, &mut f).map_err(unreadable)?;
                n += 1;
            }
            tar::EntryType::Symlink => {
                if let Some(t) = e.link_name().map_err(unreadable)? {
                    links.insert(rel, t.into_owned());
                }
            }
            _ => {}
        }
    }
    if n == 0 {
        return Err(ArchiveError::Unreadable {
            file: file.to_string(),
            reason: "it holds no files".into(),
        }
        .into());
    }
    Ok(Unpacked {
        dir,
        links,
        file: file.to_string(),
    })
}

/// One image staged for the store: every blob in a verified temp file.
struct Staged {
    config: Vec<u8>,
    layers: Vec<(BlobWriter, String, u64)>,
    tags: Vec<String>,
}

/// What `load` brought in: `(tags, image)` per image.
pub type Loaded = Vec<(Vec<String>, Image)>;

/// Copies `src` into a new staged blob and checks it hashes to `want`.
fn stage_copy(store: &Store, u: &Unpacked, name: &str, want: &str) -> Result<(BlobWriter, u64)> {
    let mut w = store.blob_writer()?;
    let mut f = std::fs::File::open(u.path(name)?).ctx(|| format!("opening {name}"))?;
    std::io::copy(&mut f, &mut w).ctx(|| format!("staging {name}"))?;
    if w.digest() != want {
        return Err(u.invalid(format!(
            "blob {want} is corrupt: its bytes hash to {}; get a fresh copy of the archive",
            w.digest()
        )));
    }
    let size = w.size();
    Ok((w, size))
}

/// Gzips the (plain or gzip) layer tar `name` into a staged blob and checks
/// its diff_id is `diff_id`. Returns the blob and its digest and size.
fn stage_convert(
    store: &Store,
    u: &Unpacked,
    name: &str,
    diff_id: &str,
) -> Result<(BlobWriter, String, u64)> {
    let f = std::fs::File::open(u.path(name)?).ctx(|| format!("opening {name}"))?;
    let mut src = maybe_gunzip(f)?;
    let mut enc = FixedChunks::new(LayerEncoder::new(store.blob_writer()?));
    std::io::copy(&mut src, &mut enc).map_err(|e| {
        u.invalid(format!(
            "layer {name} cannot be read ({e}); get a fresh copy of the archive"
        ))
    })?;
    let enc = enc.finish().ctx(|| format!("compressing {name}"))?;
    let (d, w) = enc.finish().ctx(|| format!("compressing {name}"))?;
    if d.diff_id != diff_id {
        return Err(u.invalid(format!(
            "layer {name} is corrupt: its tar hashes to {} but the config says {diff_id}",
            d.diff_id
        )));
    }
    trace::fact(Kind::Layer, "convert", format!("layer {name}"))
        .field("member", name)
        .field("diff_id", &d.diff_id)
        .field("digest", &d.digest)
        .field("size", d.size)
        .info();
    Ok((w, d.digest, d.size))
}

fn diff_ids(u: &Unpacked, config: &[u8], what: &str) -> Result<Vec<String>> {
    let v: Value = serde_json::from_slice(config)
        .map_err(|e| u.invalid(format!("config {what} is not valid JSON: {e}")))?;
    v.pointer("/rootfs/diff_ids")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|d| d.as_str().map(String::from))
                .collect()
        })
        .ok_or_else(|| u.invalid(format!("config {what} has no rootfs.diff_ids")))
}

/// Docker Hub names as `docker save` writes them, shortened the way
/// `docker images` shows them.
fn normalise_tag(t: &str) -> String {
    let t = t.strip_prefix("docker.io/").unwrap_or(t);
    t.strip_prefix("library/").unwrap_or(t).to_string()
}

fn stage_oci(store: &Store, u: &Unpacked) -> Result<Vec<Staged>> {
    let index = u.json("index.json")?;
    let mut out = Vec::new();
    let verified = |d: &str| -> Result<Vec<u8>> {
        let bytes = u.read(&super::blob_member(d)?)?;
        let actual = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
        if actual != d {
            return Err(u.invalid(format!(
                "blob {d} is corrupt: its bytes hash to {actual}; get a fresh copy of the archive"
            )));
        }
        Ok(bytes)
    };
    let entries = index
        .get("manifests")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for desc in entries {
        let ann = desc.get("annotations").cloned().unwrap_or(json!({}));
        let name = ann
            .get(CONTAINERD_NAME)
            .or_else(|| ann.get(REF_NAME))
            .and_then(Value::as_str)
            .map(normalise_tag);
        let tag = match name {
            Some(n) if n.contains(':') || n.contains('/') => n,
            Some(n) => {
                return Err(u.invalid(format!(
                "index.json names an image only by the tag {n:?}; glassbox needs name:tag"
            )))
            }
            None => return Err(u.invalid("an image in index.json has no name (no org.opencontainers.image.ref.name annotation)")),
        };
        Reference::parse(&tag)?;
        let mut digest = desc
            .get("digest")
            .and_then(Value::as_str)
            .ok_or_else(|| u.invalid("an index entry has no digest"))?
            .to_string();
        let mut manifest: Value;
        // Follow one level of image index (multi-platform) to our platform.
        loop {
            manifest = serde_json::from_slice(&verified(&digest)?)
                .map_err(|e| u.invalid(format!("manifest {digest} is not JSON: {e}")))?;
            let Some(list) = manifest.get("manifests").and_then(Value::as_array) else {
                break;
            };
            let arch = oci_spec::image::Arch::default().to_string();
            let pick = list
                .iter()
                .find(|m| {
                    m.pointer("/platform/architecture").and_then(Value::as_str) == Some(&arch)
                })
                .or_else(|| list.first())
                .and_then(|m| m.get("digest"))
                .and_then(Value::as_str)
                .ok_or_else(|| u.invalid(format!("index {digest} lists no manifest")))?;
            digest = pick.to_string();
        }
        let cfg_digest = manifest
            .pointer("/config/digest")
            .and_then(Value::as_str)
            .ok_or_else(|| u.invalid(format!("manifest {digest} has no config")))?;
        let config = verified(cfg_digest)?;
        let ids = diff_ids(u, &config, cfg_digest)?;
        let layers = manifest
            .get("layers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if layers.len() != ids.len() {
            return Err(u.invalid(format!(
                "manifest {digest} lists {} layers but its config {} diff_ids",
                layers.len(),
                ids.len()
            )));
        }
        let mut staged = Vec::new();
        for (l, diff) in layers.iter().zip(&ids) {
            let d = l
                .get("digest")
                .and_then(Value::as_str)
                .ok_or_else(|| u.invalid("a layer has no digest"))?;
            let mt = l.get("mediaType").and_then(Value::as_str).unwrap_or("");
            if mt.contains("zstd") {
                return Err(u.invalid(format!(
                    "layer {d} is zstd-compressed ({mt}); glassbox reads gzip and plain tar layers"
                )));
            }
            if mt.ends_with("gzip") {
                let (w, size) = stage_copy(store, u, &super::blob_member(d)?, d)?;
                staged.push((w, d.to_string(), size));
            } else {
                // A plain tar: its digest is its diff_id; gzip it for the store.
                if d != diff {
                    return Err(u.invalid(format!(
                        "layer {d} is uncompressed but its config says diff_id {diff}"
                    )));
                }
                staged.push(stage_convert(store, u, &super::blob_member(d)?, diff)?);
            }
        }
        out.push(Staged {
            config,
            layers: staged,
            tags: vec![tag],
        });
    }
    Ok(out)
}

fn stage_docker(store: &Store, u: &Unpacked) -> Result<Vec<Staged>> {
    let manifest = u.json("manifest.json")?;
    let entries = manifest
        .as_array()
        .cloned()
        .ok_or_else(|| u.invalid("manifest.json is not a list"))?;
    let mut out = Vec::new();
    for e in entries {
        let cfg_name = e
            .get("Config")
            .and_then(Value::as_str)
            .ok_or_else(|| u.invalid("a manifest.json entry has no Config"))?;
        let config = u.read(cfg_name)?;
        // The config's file name is its digest: check it.
        let base = Path::new(cfg_name)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let hexname = base.strip_suffix(".json").unwrap_or(&base);
        let actual = hex::encode(Sha256::digest(&config));
        if hexname.len() == 64 && hexname != actual {
            return Err(u.invalid(format!(
                "config {cfg_name} is corrupt: its bytes hash to sha256:{actual}; get a fresh copy of the archive"
            )));
        }
        let ids = diff_ids(u, &config, cfg_name)?;
        let names: Vec<String> = e
            .get("Layers")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        if names.len() != ids.len() {
            return Err(u.invalid(format!(
                "manifest.json lists {} layers but config {cfg_name} has {} diff_ids",
                names.len(),
                ids.len()
            )));
        }
        let mut layers = Vec::new();
        for (n, diff) in names.iter().zip(&ids) {
            layers.push(stage_convert(store, u, n, diff)?);
        }
        let tags: Vec<String> = e
            .get("RepoTags")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(normalise_tag))
                    .collect()
            })
            .unwrap_or_default();
        if tags.is_empty() {
            return Err(u.invalid(format!(
                "the image with config {cfg_name} has no RepoTags; glassbox keeps images by name:tag"
            )));
        }
        for t in &tags {
            Reference::parse(t)?;
        }
        out.push(Staged {
            config,
            layers,
            tags,
        });
    }
    Ok(out)
}

/// Loads the OCI or docker archive read from `input` (named `file`).
pub fn load(store: &Store, file: &str, input: impl Read) -> Result<Loaded> {
    let _p = trace::phase("load");
    let mut s = trace::step(Kind::Image, "load", format!("archive {file}"))
        .field("source", file)
        .equivalent(format!(
            "skopeo copy oci-archive:{file} oci:ROOT   # or docker-archive:{file}"
        ))
        .announce()?;
    let r = (|| {
        let u = unpack(store, file, input)?;
        let (format, staged) = if u.path("index.json").is_ok() {
            ("oci-archive", stage_oci(store, &u)?)
        } else if u.path("manifest.json").is_ok() {
            ("docker-archive", stage_docker(store, &u)?)
        } else {
            return Err(u.invalid(
                "it has neither index.json (an OCI archive) nor manifest.json (docker save)",
            ));
        };
        // Everything is verified: now the store changes. Blobs first,
        // then manifests, tags last.
        let mut committed = Vec::new();
        for st in staged {
            let mut layers = Vec::new();
            for (w, d, size) in st.layers {
                w.commit(Some(&d))?;
                layers.push((d, size));
            }
            let img = store.commit_image_raw(&st.config, &layers, None)?;
            committed.push((st.tags, img));
        }
        for (tags, img) in &committed {
            let size = std::fs::metadata(store.blob_path(&img.manifest_digest)?)
                .ctx(|| format!("reading manifest {}", img.manifest_digest))?
                .len();
            for t in tags {
                let r = Reference::parse(t)?;
                let nt = r.name_tag().unwrap_or_else(|| t.clone());
                store.set_tag(&nt, &img.manifest_digest, size)?;
            }
        }
        let loaded: Loaded = committed
            .into_iter()
            .map(|(tags, _)| {
                let img = store.resolve(&tags[0])?;
                Ok((tags, img))
            })
            .collect::<Result<_>>()?;
        Ok::<_, crate::Error>((format, loaded))
    })();
    match r {
        Ok((format, loaded)) => {
            s.field("format", format).field("images", loaded.len());
            s.done();
            for (tags, img) in &loaded {
                let name = tags.first().cloned().unwrap_or_default();
                store.journal_image("load", &img.manifest_digest, &name);
            }
            Ok(loaded)
        }
        Err(e) => {
            s.failed(&e);
            Err(e)
        }
    }
}
