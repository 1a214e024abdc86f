//! Looking at a stage's filesystem while building: its layers unpacked as
//! overlay lowerdirs (by chain id, shared with the runtime), a path check
//! that honours whiteouts, and a read-only overlay mount ([`View`]) that
//! shows a stage or image as one tree for `COPY --from`.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::error::IoContext;
use crate::kernel;
use crate::store::{chain_ids, Image, LayerRef, Store};
use crate::trace::{self, Kind};
use crate::Result;

/// The unpacked lowerdirs (bottom → top) of layers `(digest, diff_id, size)`.
pub fn lowerdirs(store: &Store, layers: &[(String, String, u64)]) -> Result<Vec<PathBuf>> {
    if layers.is_empty() {
        return Ok(Vec::new());
    }
    let diff_ids: Vec<String> = layers.iter().map(|l| l.1.clone()).collect();
    let chains = chain_ids(&diff_ids);
    // image::lowerdirs works on an Image; only its layers matter here.
    let manifest = serde_json::from_value(json!({
        "schemaVersion": 2,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": format!("sha256:{}", "0".repeat(64)), "size": 0},
        "layers": [],
    }))
    .expect("a minimal manifest parses");
    let config = serde_json::from_value(json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": []},
    }))
    .expect("a minimal config parses");
    let image = Image {
        id: String::new(),
        manifest_digest: String::new(),
        manifest,
        config,
        layers: layers
            .iter()
            .zip(chains)
            .map(|((digest, diff_id, size), chain_id)| LayerRef {
                digest: digest.clone(),
                diff_id: diff_id.clone(),
                chain_id,
                size: *size,
            })
            .collect(),
        repo_tags: Vec::new(),
    };
    crate::image::lowerdirs(store, &image)
}

/// True when `rel` exists in the stack `lower` (bottom → top): the topmost
/// layer that mentions it decides, and an overlay whiteout (a 0/0 character
/// device) means it was deleted.
pub fn exists_in(lower: &[PathBuf], rel: &str) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    for dir in lower.iter().rev() {
        if let Ok(md) = std::fs::symlink_metadata(dir.join(rel)) {
            return !(md.file_type().is_char_device() && md.rdev() == 0);
        }
    }
    false
}

/// Every path under `dir`, relative and sorted.
pub fn list(dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).ctx(|| format!("reading {}", d.display()))? {
            let p = e.ctx(|| format!("reading {}", d.display()))?.path();
            if p.symlink_metadata().map(|m| m.is_dir()).unwrap_or(false) {
                stack.push(p.clone());
            }
            out.push(p.strip_prefix(dir).unwrap_or(&p).display().to_string());
        }
    }
    out.sort();
    Ok(out)
}

/// A stage's or image's files as one read-only tree. With one layer that
/// is the layer's directory; with more it is a read-only overlay mount of
/// the lowerdirs, unmounted when the view is dropped.
#[derive(Debug)]
pub struct View {
    path: PathBuf,
    mounted: Option<tempfile::TempDir>,
    _empty: Option<super::sweep::TempDir>,
}

impl View {
    /// Opens a view of `layers` (called `name` in the trace).
    pub fn open(store: &Store, layers: &[(String, String, u64)], name: &str) -> Result<View> {
        let lower = lowerdirs(store, layers)?;
        match lower.len() {
            0 => {
                let d = store.tempdir()?;
                Ok(View {
                    path: d.path().to_path_buf(),
                    mounted: None,
                    _empty: Some(d),
                })
            }
            1 => Ok(View {
                path: lower[0].clone(),
                mounted: None,
                _empty: None,
            }),
            _ => {
                let target = super::sweep::mount_dir(store, "view")?;
                let lowers: Vec<String> = lower
                    .iter()
                    .rev()
                    .map(|p| p.display().to_string())
                    .collect();
                let lowers: Vec<&str> = lowers.iter().map(String::as_str).collect();
                let opts = kernel::userns::overlay_data(&lowers, None);
                let calls = [kernel::mount_fs("overlay", "overlay", target.path())
                    .flags(nix::mount::MsFlags::MS_RDONLY)
                    .data(&opts)];
                kernel::run(
                    &mut kernel::Host,
                    trace::step(Kind::Build, "view", format!("read-only view of {name}"))
                        .field("source", name)
                        .field("layers", lower.len())
                        .field("target", target.path().display().to_string()),
                    &calls,
                    &format!("mounting a read-only overlay of {name}"),
                )?;
                Ok(View {
                    path: target.path().to_path_buf(),
                    mounted: Some(target),
                    _empty: None,
                })
            }
        }
    }

    /// The root of the tree.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for View {
    fn drop(&mut self) {
        if let Some(t) = &self.mounted {
            // An unmount that fails is in the trace; the build's sweep
            // takes what is left.
            let _ = kernel::run(
                &mut kernel::Host,
                trace::cleanup(Kind::Build, "unmount", "read-only view")
                    .field("target", t.path().display().to_string())
                    .field("why", "the files are copied out; the view is not needed"),
                &[kernel::detach(t.path())],
                "unmounting a read-only view",
            );
        }
    }
}
