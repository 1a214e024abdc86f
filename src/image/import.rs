//! `import`: a root filesystem tarball (plain or gzip, a file or stdin)
//! becomes a one-layer image, as `docker import` does.
//!
//! The tarball is not stored as given. It is unpacked through the safe
//! apply path (so `..`, absolute paths, device nodes and escaping links are
//! refused with a `layer.refuse` event, exactly as for any layer) into a
//! temp dir inside the root, then packed again the reproducible way
//! (sorted, mtimes clamped to `SOURCE_DATE_EPOCH`, owners kept). So the same
//! files give the same image ID however the tarball was made, and nothing
//! hostile reaches the store. A tarball that cannot be read leaves the store
//! as it was: no blob is written before the whole tarball has been read.

use crate::error::IoContext;
use crate::image::apply::{apply_tar, ApplyMode};
use crate::image::pack::{source_date_epoch, PackOptions};
use crate::reference::Reference;
use crate::store::{Image, Store};
use crate::trace::{self, Kind};
use crate::Result;
use std::io::{BufRead, BufReader, Read};

/// A file given to import or load that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The bytes are not a (complete) tar.
    #[error("{file} is truncated or not a tar ({reason}); give a complete .tar or .tar.gz file")]
    Unreadable {
        /// The file given (`-` for stdin).
        file: String,
        /// What the reader said.
        reason: String,
    },
    /// A tar, but not what the command needs.
    #[error("{file} is not a usable image archive: {reason}")]
    Invalid {
        /// The file given (`-` for stdin).
        file: String,
        /// What is wrong and what to do.
        reason: String,
    },
}

/// Opens `file` (`-` = stdin) for reading.
pub fn open_input(file: &str) -> Result<Box<dyn Read>> {
    if file == "-" {
        return Ok(Box::new(std::io::stdin().lock()));
    }
    let f = std::fs::File::open(file).ctx(|| format!("opening {file}"))?;
    Ok(Box::new(f))
}

/// Wraps `r` in a gzip decoder when its first bytes are the gzip magic.
pub fn maybe_gunzip<'a>(r: impl Read + 'a) -> Result<Box<dyn Read + 'a>> {
    let mut b = BufReader::new(r);
    let head = b.fill_buf().ctx(|| "reading the input".into())?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::read::GzDecoder::new(b)))
    } else {
        Ok(Box::new(b))
    }
}

/// Turns the apply path's "cannot read the tar" errors into
/// [`ArchiveError::Unreadable`] for `file`; other errors pass through.
pub fn unreadable(file: &str, e: crate::Error) -> crate::Error {
    match e {
        crate::Error::Io { context, source } if context.starts_with("reading the layer tar") => {
            ArchiveError::Unreadable {
                file: file.to_string(),
                reason: source.to_string(),
            }
            .into()
        }
        e => e,
    }
}

/// Imports the rootfs tarball read from `input` (named `file` in messages
/// and in the image's history) as a one-layer image tagged `tag`.
pub fn import(store: &Store, file: &str, input: impl Read, tag: &Reference) -> Result<Image> {
    let _p = trace::phase("import");
    let tree = store.tempdir()?;
    let mut s = trace::step(Kind::Image, "import", format!("rootfs tarball {file}"))
        .field("source", file)
        .field("tag", tag.to_string())
        .equivalent(format!(
            "mkdir rootfs && tar -xf {file} -C rootfs   # then repack it sorted, mtimes clamped"
        ))
        .announce()?;
    let r = maybe_gunzip(input)
        .and_then(|t| apply_tar(t, tree.path(), ApplyMode::Flatten))
        .map_err(|e| unreadable(file, e))
        .and_then(|st| {
            if st.written == 0 {
                Err(ArchiveError::Invalid {
                    file: file.to_string(),
                    reason: "it holds no usable entries; give a tarball of a root filesystem"
                        .into(),
                }
                .into())
            } else {
                Ok(st)
            }
        });
    if let Ok(st) = &r {
        s.field("files", st.written)
            .field("refused", st.refused)
            .field("whiteouts", st.whiteouts);
    }
    s.finish_with(r)?;
    let d = store.layer_from_dir(tree.path(), PackOptions { keep_owners: true })?;
    let created = chrono::DateTime::from_timestamp(source_date_epoch() as i64, 0)
        .expect("a valid epoch")
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    // Only the file's name goes into the history, so where the tarball
    // lies does not change the image ID.
    let shown = std::path::Path::new(file)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| file.to_string());
    let config = serde_json::json!({
        "created": created,
        "architecture": oci_spec::image::Arch::default().to_string(),
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [d.diff_id]},
        "history": [{"created": created, "created_by": format!("glassbox import {shown}"),
                     "comment": format!("Imported from {shown}")}]
    });
    let bytes = serde_json::to_vec(&config).expect("json serialises");
    let img = store.commit_image_raw(&bytes, &[(d.digest, d.size)], Some(tag))?;
    store.journal_image("import", &img.manifest_digest, &tag.to_string());
    Ok(img)
}
