//! `store verify`, second half (the first is `Store::verify_blobs`): each unpacked layer under `layers/` must
//! still hold exactly what its blob says — the same files with the same
//! bytes, directories, symlinks with the same targets, whiteouts as 0/0
//! character devices — and nothing more. A container's lowerdir that was
//! edited by hand (or half-written by a crash) shows up here.

use crate::error::IoContext;
use crate::image::apply::{
    hard_link_source, place, Place, DEVICE_REFUSAL, HARD_LINK_REFUSAL, PARENT_MISSING,
};
use crate::store::{LayerRef, Store, Verification};
use crate::Result;
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// At most this many problems are listed per layer.
const SHOWN: usize = 10;

#[derive(Debug)]
enum Expect {
    Dir,
    File(String),
    Link(PathBuf),
    HardLink,
    Fifo,
    Whiteout,
}

fn hash_of(r: impl std::io::Read) -> std::io::Result<String> {
    let mut h = Sha256::new();
    let mut r = r;
    std::io::copy(&mut r, &mut h)?;
    Ok(hex::encode(h.finalize()))
}

/// What the layer blob says its unpacked dir holds (last entry wins),
/// decided by apply's own policy: the entries apply refused are listed
/// apart, with apply's reason, and are expected to be absent.
struct Expected {
    files: BTreeMap<PathBuf, Expect>,
    refused: Vec<String>,
    /// Entries whose parent directory is gone from the dir.
    orphaned: Vec<PathBuf>,
}

fn expected(store: &Store, l: &LayerRef, dir: &Path) -> Result<Expected> {
    let f = std::fs::File::open(store.blob_path(&l.digest)?)
        .ctx(|| format!("opening layer blob {}", l.digest))?;
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(f));
    let bad = |e: std::io::Error| crate::Error::Io {
        context: format!("reading layer {}", l.digest),
        source: e,
    };
    let mut out = Expected {
        files: BTreeMap::new(),
        refused: Vec::new(),
        orphaned: Vec::new(),
    };
    // What apply wrote so far: hard links may only point into it.
    let mut seen: HashSet<PathBuf> = HashSet::new();
    let short = &l.chain_id[7..19];
    for e in ar.entries().map_err(bad)? {
        let mut e = e.map_err(bad)?;
        let raw = e.path().map_err(bad)?.into_owned();
        let mut refused = |why: &str| {
            out.refused.push(format!(
                "layer {short}: entry {} was refused when unpacked ({why})",
                raw.display()
            ))
        };
        let rel = match place(dir, &raw, false)? {
            Place::Root => continue,
            Place::At(rel) => rel,
            Place::Refused(PARENT_MISSING) => {
                out.orphaned.push(raw.clone());
                continue;
            }
            Place::Refused(why) => {
                refused(why);
                continue;
            }
        };
        let name = rel
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name == ".wh..wh..opq" {
            continue;
        }
        if let Some(hidden) = name.strip_prefix(".wh.") {
            out.files
                .insert(rel.with_file_name(hidden), Expect::Whiteout);
            continue;
        }
        let want = match e.header().entry_type() {
            tar::EntryType::Directory => Expect::Dir,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                Expect::File(hash_of(&mut e).map_err(bad)?)
            }
            tar::EntryType::Symlink => {
                Expect::Link(e.link_name().map_err(bad)?.unwrap_or_default().into_owned())
            }
            tar::EntryType::Link => {
                let target = e.link_name().map_err(bad)?.unwrap_or_default();
                if hard_link_source(dir, &target, &seen).is_none() {
                    refused(HARD_LINK_REFUSAL);
                    continue;
                }
                Expect::HardLink
            }
            tar::EntryType::Fifo => Expect::Fifo,
            tar::EntryType::Char | tar::EntryType::Block => {
                refused(DEVICE_REFUSAL);
                continue;
            }
            _ => continue, // metadata records carry no file
        };
        seen.insert(rel.clone());
        out.files.insert(rel, want);
    }
    Ok(out)
}

/// What checking one unpacked layer dir found.
#[derive(Debug, Default)]
struct LayerCheck {
    /// Where the dir differs from its blob.
    pub problems: Vec<String>,
    /// Entries apply refused, as expected (not problems).
    pub refused: Vec<String>,
}

/// Checks the unpacked dir of layer `l` (no problems when it matches).
fn check_layer_dir(store: &Store, l: &LayerRef, dir: &Path) -> Result<LayerCheck> {
    let Expected {
        files: want,
        refused,
        orphaned,
    } = expected(store, l, dir)?;
    let short = &l.chain_id[7..19];
    let mut problems: Vec<String> = orphaned
        .iter()
        .map(|p| {
            format!(
                "layer {short}: {} is missing (a parent directory is gone)",
                p.display()
            )
        })
        .collect();
    for (rel, w) in &want {
        let p = dir.join(rel);
        let md = match std::fs::symlink_metadata(&p) {
            Ok(m) => m,
            Err(_) => {
                problems.push(format!("layer {short}: {} is missing", rel.display()));
                continue;
            }
        };
        let ft = md.file_type();
        let ok = match w {
            Expect::Dir => ft.is_dir(),
            Expect::File(h) => {
                ft.is_file()
                    && &hash_of(std::fs::File::open(&p).ctx(|| format!("opening {}", p.display()))?)
                        .ctx(|| format!("reading {}", p.display()))?
                        == h
            }
            Expect::Link(t) => ft.is_symlink() && std::fs::read_link(&p).ok().as_ref() == Some(t),
            Expect::HardLink => ft.is_file(),
            Expect::Fifo => ft.is_fifo(),
            Expect::Whiteout => ft.is_char_device() && md.rdev() == 0,
        };
        if !ok {
            problems.push(format!(
                "layer {short}: {} differs from the layer blob",
                rel.display()
            ));
        }
    }
    // Anything on disk the blob did not bring (parents apply created are fine).
    let mut allowed: BTreeSet<PathBuf> = BTreeSet::new();
    for rel in want.keys() {
        let mut a = rel.clone();
        while a.pop() && !a.as_os_str().is_empty() {
            allowed.insert(a.clone());
        }
    }
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let abs = dir.join(&rel);
        for e in std::fs::read_dir(&abs).ctx(|| format!("reading {}", abs.display()))? {
            let e = e.ctx(|| format!("reading {}", abs.display()))?;
            let r = rel.join(e.file_name());
            if !want.contains_key(&r) && !allowed.contains(&r) {
                problems.push(format!(
                    "layer {short}: {} is not in the layer blob",
                    r.display()
                ));
            }
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                stack.push(r);
            }
        }
    }
    if problems.len() > SHOWN {
        let more = problems.len() - SHOWN;
        problems.truncate(SHOWN);
        problems.push(format!("layer {short}: ... and {more} more"));
    }
    if !problems.is_empty() {
        problems.push(format!(
            "layer {short}: remove {} and it is unpacked again from its blob when next used",
            dir.display()
        ));
    }
    Ok(LayerCheck { problems, refused })
}

/// `store verify`: every blob and tag ([`Store::verify_blobs`]), then every
/// unpacked layer dir of a tagged image against its blob, by apply's policy.
pub fn verify(store: &Store) -> Result<Verification> {
    let mut v = store.verify_blobs()?;
    let mut checked = HashSet::new();
    for (tag, m) in store.tags()? {
        let Ok(img) = store.image_from_manifest(&m) else {
            continue; // verify_blobs reported it
        };
        for l in &img.layers {
            let dir = store
                .layers_dir()
                .join(crate::store::digest_hex(&l.chain_id)?);
            if dir.is_dir() && checked.insert(l.chain_id.clone()) {
                match check_layer_dir(store, l, &dir) {
                    Ok(c) => {
                        v.problems.extend(c.problems);
                        v.refused.extend(c.refused);
                    }
                    Err(e) => v.problems.push(format!(
                        "tag {tag}: layer {}: its unpacked dir cannot be checked: {e}",
                        l.digest
                    )),
                }
            }
        }
    }
    Ok(v)
}
