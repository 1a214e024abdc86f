//! `save`: an *OCI image archive*, a tar of an OCI image layout
//! (`oci-layout`, `index.json`, `blobs/sha256/…`) holding just the named
//! images, entries in a fixed order with fixed headers, so the same images
//! give the same archive bytes. Each blob's digest is checked as it is
//! copied; the tar goes to a temp file beside the target and is renamed
//! into place when complete.
//!
//! The same tar also carries the *docker-archive* indexes, as `docker save`
//! 25+ does: `manifest.json` (per image: its config, its tags and its layer
//! files, all pointing into `blobs/sha256/`) and `repositories` (repo → tag
//! → top layer file). Docker before 25 and podman's docker-archive reader
//! look only at those; Docker 25+, skopeo's `oci-archive:` and our own
//! `load` read `index.json`. The layer files stay gzipped: docker and
//! containers/image detect the compression and check each layer against
//! the config's diff_ids after unpacking it.

use super::{blob_member, CONTAINERD_NAME};
use crate::error::IoContext;
use crate::reference::Reference;
use crate::store::{digest_hex, Image, Store, REF_NAME};
use crate::trace::{self, Kind};
use crate::Result;
use serde_json::json;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// What `save` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    /// Images written.
    pub images: usize,
    /// Distinct blobs written.
    pub blobs: usize,
    /// Bytes of the archive.
    pub bytes: u64,
}

fn header(size: u64, dir: bool) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(if dir {
        tar::EntryType::Directory
    } else {
        tar::EntryType::Regular
    });
    h.set_mode(if dir { 0o755 } else { 0o644 });
    h.set_size(size);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h
}

/// Reads through to an inner reader while hashing.
struct Hashing<R> {
    inner: R,
    hash: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

/// `name:tag` in Docker's short ("familiar") form, as `docker save` writes
/// it in `RepoTags`: Docker Hub names lose `docker.io/` and `library/`;
/// names on other registries stay whole. `None` for a reference by digest
/// (docker tags nothing then: the tag need not point at that digest).
fn familiar(r: &Reference) -> Option<(String, String)> {
    let short = r.familiar_name_tag()?;
    let (name, tag) = short.rsplit_once(':')?;
    Some((name.to_string(), tag.to_string()))
}

/// The docker-archive indexes for `images`: `manifest.json` (one entry per
/// distinct image, in the order first named, with every tag it was named
/// by) and `repositories` (`None` when no image was named by a tag, as
/// docker leaves it out then).
fn docker_indexes(images: &[(Reference, Image)]) -> Result<(Vec<u8>, Option<Vec<u8>>)> {
    let mut order: Vec<(&Image, Vec<String>)> = Vec::new();
    let mut repos: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (r, img) in images {
        let at = match order
            .iter()
            .position(|(i, _)| i.manifest_digest == img.manifest_digest)
        {
            Some(at) => at,
            None => {
                order.push((img, Vec::new()));
                order.len() - 1
            }
        };
        let Some((name, tag)) = familiar(r) else {
            continue;
        };
        let repo_tag = format!("{name}:{tag}");
        if !order[at].1.contains(&repo_tag) {
            order[at].1.push(repo_tag);
        }
        if let Some(top) = img.layers.last() {
            repos
                .entry(name)
                .or_default()
                .insert(tag, digest_hex(&top.digest)?.to_string());
        }
    }
    let mut entries = Vec::new();
    for (img, tags) in order {
        let layers = img
            .layers
            .iter()
            .map(|l| blob_member(&l.digest))
            .collect::<Result<Vec<_>>>()?;
        entries.push(json!({"Config": blob_member(&img.id)?, "RepoTags": tags, "Layers": layers}));
    }
    let mut manifest = serde_json::to_vec(&entries).expect("json serialises");
    manifest.push(b'\n');
    let repositories = (!repos.is_empty()).then(|| {
        let mut v = serde_json::to_vec(&repos).expect("json serialises");
        v.push(b'\n');
        v
    });
    Ok((manifest, repositories))
}

/// Writes the images named by `refs` as an OCI archive at `out`
/// (temp file beside it, renamed when complete).
pub fn save(store: &Store, refs: &[String], out: &Path) -> Result<Saved> {
    let _p = trace::phase("save");
    let mut images: Vec<(Reference, Image)> = Vec::new();
    for r in refs {
        let parsed = Reference::parse(r)?;
        images.push((parsed, store.resolve(r)?));
    }
    let mut s = trace::step(Kind::Image, "save", format!("archive {}", out.display()))
        .field("path", out.display().to_string())
        .field("images", images.len())
        .equivalent(format!(
            "skopeo copy oci:ROOT:{} oci-archive:{}",
            refs.first().map(String::as_str).unwrap_or(""),
            out.display()
        ))
        .announce()?;
    let r = (|| {
        let mut manifests = Vec::new();
        let mut blobs: BTreeMap<String, ()> = BTreeMap::new();
        for (r, img) in &images {
            let size = std::fs::metadata(store.blob_path(&img.manifest_digest)?)
                .ctx(|| format!("reading manifest {}", img.manifest_digest))?
                .len();
            let mut desc = json!({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                  "digest": img.manifest_digest, "size": size});
            if let Some(t) = r.name_tag() {
                desc["annotations"] = json!({REF_NAME: t, CONTAINERD_NAME: t});
            }
            manifests.push(desc);
            blobs.insert(img.manifest_digest.clone(), ());
            blobs.insert(img.id.clone(), ());
            for l in &img.layers {
                blobs.insert(l.digest.clone(), ());
            }
        }
        let index = json!({"schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests});
        let index = serde_json::to_vec(&index).expect("json serialises");
        let (docker_manifest, repositories) = docker_indexes(&images)?;
        let parent = out
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        // Readable as a file `docker save -o` writes (0666 less the
        // umask), not the temp file's private 0600.
        let tmp = {
            use std::os::unix::fs::PermissionsExt;
            tempfile::Builder::new()
                .permissions(std::fs::Permissions::from_mode(0o666))
                .tempfile_in(parent)
        }
        .ctx(|| format!("creating a temp file in {}", parent.display()))?;
        let mut b = tar::Builder::new(std::io::BufWriter::new(tmp));
        let layout = br#"{"imageLayoutVersion":"1.0.0"}"#;
        let ctx = || format!("writing {}", out.display());
        b.append_data(
            &mut header(layout.len() as u64, false),
            "oci-layout",
            &layout[..],
        )
        .ctx(ctx)?;
        b.append_data(
            &mut header(index.len() as u64, false),
            "index.json",
            &index[..],
        )
        .ctx(ctx)?;
        let docker_files = [
            ("manifest.json", Some(docker_manifest)),
            ("repositories", repositories),
        ];
        for (name, data) in docker_files {
            if let Some(data) = data {
                b.append_data(&mut header(data.len() as u64, false), name, &data[..])
                    .ctx(ctx)?;
            }
        }
        for d in ["blobs/", "blobs/sha256/"] {
            b.append_data(&mut header(0, true), d, std::io::empty())
                .ctx(ctx)?;
        }
        for d in blobs.keys() {
            let p = store.blob_path(d)?;
            let f = std::fs::File::open(&p).ctx(|| format!("opening blob {d}"))?;
            let len = f.metadata().ctx(|| format!("reading blob {d}"))?.len();
            let name = blob_member(d)?;
            let mut h = Hashing {
                inner: f,
                hash: Sha256::new(),
            };
            b.append_data(&mut header(len, false), &name, &mut h)
                .ctx(ctx)?;
            let actual = crate::reference::sha256_string(h.hash);
            if &actual != d {
                return Err(crate::store::StoreError::DigestMismatch {
                    expected: d.clone(),
                    actual,
                }
                .into());
            }
        }
        let w = b.into_inner().ctx(ctx)?;
        let tmp = w.into_inner().map_err(|e| e.into_error()).ctx(ctx)?;
        tmp.as_file().sync_all().ctx(ctx)?;
        let bytes = tmp.as_file().metadata().ctx(ctx)?.len();
        tmp.persist(out).map_err(|e| e.error).ctx(ctx)?;
        Ok::<_, crate::Error>(Saved {
            images: images.len(),
            blobs: blobs.len(),
            bytes,
        })
    })();
    if let Ok(sv) = &r {
        s.field("blobs", sv.blobs).field("bytes", sv.bytes);
        for (r, img) in &images {
            store.journal_image("save", &img.manifest_digest, &r.to_string());
        }
    }
    s.finish_with(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fam(s: &str) -> Option<(String, String)> {
        familiar(&Reference::parse(s).unwrap())
    }

    #[test]
    fn repo_tags_take_docker_short_form_and_digest_references_get_none() {
        let pair = |a: &str, b: &str| Some((a.to_string(), b.to_string()));
        assert_eq!(fam("hello:1"), pair("hello", "1"));
        assert_eq!(fam("docker.io/library/busybox"), pair("busybox", "latest"));
        assert_eq!(fam("index.docker.io/team/app:2"), pair("team/app", "2"));
        assert_eq!(
            fam("localhost:5001/app:latest"),
            pair("localhost:5001/app", "latest")
        );
        let d = format!("busybox@sha256:{}", "a".repeat(64));
        assert_eq!(fam(&d), None);
        assert_eq!(fam(&format!("busybox:1@sha256:{}", "a".repeat(64))), None);
    }
}
