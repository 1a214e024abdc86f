//! Unpacked layers for overlay lowerdirs: `layers/<chain-id-hex>/`, each
//! holding one layer's files with whiteouts in overlay form. Unpacked into
//! `tmp/` first and renamed into place, so a half-unpacked layer never
//! appears under `layers/`.

use crate::error::IoContext;
use crate::image::apply::{apply_tar, ApplyMode};
use crate::store::{Image, Store};
use crate::trace::{self, Kind};
use crate::Result;
use std::path::PathBuf;

/// The lowerdirs of `image` in `store`, unpacking any that are missing, in
/// **bottom → top** order (index 0 is the base layer). Note overlayfs's
/// `lowerdir=` option lists them top first: reverse before joining.
pub fn lowerdirs(store: &Store, image: &Image) -> Result<Vec<PathBuf>> {
    let mut out = Vec::with_capacity(image.layers.len());
    for l in &image.layers {
        let dir = store
            .layers_dir()
            .join(crate::store::digest_hex(&l.chain_id)?);
        if !dir.is_dir() {
            let mut s = trace::step(Kind::Layer, "apply", format!("layer {}", l.digest))
                .field("digest", &l.digest)
                .field("chain_id", &l.chain_id)
                .field("path", dir.display().to_string())
                .equivalent(format!(
                    "mkdir -p {0} && tar -xzf blobs/sha256/{1} -C {0}",
                    dir.display(),
                    &l.digest[7..]
                ))
                .announce()?;
            let r = (|| {
                std::fs::create_dir_all(store.layers_dir())
                    .ctx(|| format!("creating {}", store.layers_dir().display()))?;
                let tmp = store.tempdir()?;
                let blob = std::fs::File::open(store.blob_path(&l.digest)?)
                    .ctx(|| format!("opening layer blob {}", l.digest))?;
                let stats = apply_tar(
                    flate2::read::GzDecoder::new(blob),
                    tmp.path(),
                    ApplyMode::Overlay,
                )?;
                if let Err(e) = tmp.persist(&dir) {
                    // Another command unpacking the same layer at the
                    // same moment got there first: its copy has the same
                    // files (same chain id), so ours is not needed.
                    if !dir.is_dir() {
                        return Err(e).ctx(|| format!("renaming into {}", dir.display()));
                    }
                    return Ok((stats, true));
                }
                Ok::<_, crate::Error>((stats, false))
            })();
            match r {
                Ok((st, raced)) => {
                    if raced {
                        s.field("unpacked_by_another_command", true);
                    }
                    s.field("files", st.written)
                        .field("whiteouts", st.whiteouts)
                        .field("refused", st.refused);
                    s.done();
                }
                Err(e) => {
                    s.failed(&e);
                    return Err(e);
                }
            }
        }
        out.push(dir);
    }
    Ok(out)
}
