//! Packing a directory into a layer, deterministically: entries sorted by
//! path, mtimes clamped to `SOURCE_DATE_EPOCH` (default 0), owners
//! normalised to 0:0 unless asked to keep them, no atime/ctime/uname. The
//! same tree gives the same diff_id and digest on any machine.

use crate::error::IoContext;
use crate::image::compress::{LayerDigests, LayerEncoder};
use crate::store::Store;
use crate::trace::{self, Kind};
use crate::Result;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// How to pack.
#[derive(Debug, Clone, Copy, Default)]
pub struct PackOptions {
    /// Keep file owners instead of writing 0:0.
    pub keep_owners: bool,
}

/// Passes bytes on in chunks of exactly [`FixedChunks::SIZE`] (the last
/// one shorter), whatever sizes they were written in. The gzip encoder's
/// output can depend on how its input was split, so every path that
/// encodes a layer (packing a dir, converting a loaded tar) goes through
/// this: the same tar then gives the same blob digest either way.
pub struct FixedChunks<W: Write> {
    inner: W,
    buf: Vec<u8>,
}

impl<W: Write> FixedChunks<W> {
    /// Bytes per chunk.
    pub const SIZE: usize = 64 * 1024;

    /// Rechunks into `inner`.
    pub fn new(inner: W) -> Self {
        FixedChunks {
            inner,
            buf: Vec::with_capacity(Self::SIZE),
        }
    }

    /// Writes the last, short chunk and returns the inner writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        if !self.buf.is_empty() {
            self.inner.write_all(&self.buf)?;
        }
        Ok(self.inner)
    }
}

impl<W: Write> Write for FixedChunks<W> {
    fn write(&mut self, mut data: &[u8]) -> std::io::Result<usize> {
        let n = data.len();
        while !data.is_empty() {
            let take = (Self::SIZE - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() == Self::SIZE {
                self.inner.write_all(&self.buf)?;
                self.buf.clear();
            }
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        // Flushing would split the stream differently; chunks go on `finish`.
        Ok(())
    }
}

/// The mtime clamp: `SOURCE_DATE_EPOCH` when set, else 0.
pub fn source_date_epoch() -> u64 {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Writes the tar of `dir` (contents only, paths relative) into `out`;
/// returns the number of entries.
pub fn write_tar<W: Write>(dir: &Path, out: W, opts: PackOptions) -> Result<(u64, W)> {
    let epoch = source_date_epoch();
    let mut b = tar::Builder::new(out);
    b.mode(tar::HeaderMode::Deterministic);
    b.follow_symlinks(false);
    let mut n = 0;
    let mut stack = vec![std::path::PathBuf::new()];
    let mut all = Vec::new();
    while let Some(rel) = stack.pop() {
        let abs = dir.join(&rel);
        let mut names: Vec<_> = fs::read_dir(&abs)
            .ctx(|| format!("reading {}", abs.display()))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<std::io::Result<_>>()
            .ctx(|| format!("reading {}", abs.display()))?;
        names.sort();
        for name in names {
            let r = rel.join(&name);
            if fs::symlink_metadata(dir.join(&r))
                .ctx(|| format!("reading {}", r.display()))?
                .is_dir()
            {
                stack.push(r.clone());
            }
            all.push(r);
        }
    }
    all.sort();
    for rel in all {
        let abs = dir.join(&rel);
        let md = fs::symlink_metadata(&abs).ctx(|| format!("reading {}", abs.display()))?;
        let ft = md.file_type();
        let mut h = tar::Header::new_ustar();
        h.set_mode(md.mode() & 0o7777);
        h.set_mtime(std::cmp::min(md.mtime().max(0) as u64, epoch));
        let (uid, gid) = if opts.keep_owners {
            (md.uid() as u64, md.gid() as u64)
        } else {
            (0, 0)
        };
        h.set_uid(uid);
        h.set_gid(gid);
        let ctx = || format!("adding {} to a layer", abs.display());
        if ft.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            b.append_data(&mut h, &rel, std::io::empty()).ctx(ctx)?;
        } else if ft.is_symlink() {
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            let target = fs::read_link(&abs).ctx(ctx)?;
            b.append_link(&mut h, &rel, &target).ctx(ctx)?;
        } else if ft.is_file() {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(md.len());
            let f = fs::File::open(&abs).ctx(ctx)?;
            b.append_data(&mut h, &rel, f).ctx(ctx)?;
        } else if ft.is_fifo() {
            h.set_entry_type(tar::EntryType::Fifo);
            h.set_size(0);
            b.append_data(&mut h, &rel, std::io::empty()).ctx(ctx)?;
        } else {
            // Sockets and device nodes do not belong in a layer.
            trace::fact(Kind::Layer, "skip", rel.display().to_string())
                .field("path", rel.display().to_string())
                .field(
                    "reason",
                    "sockets and device nodes are not packed into layers",
                )
                .info();
            continue;
        }
        n += 1;
    }
    let out = b.into_inner().ctx(|| "finishing a layer tar".into())?;
    Ok((n, out))
}

impl Store {
    /// Packs `dir` into a gzip layer blob in the store; returns its digests.
    /// Emits `layer.create` with the diff_id and digest computed in one pass.
    pub fn layer_from_dir(&self, dir: &Path, opts: PackOptions) -> Result<LayerDigests> {
        let mut s = trace::step(
            Kind::Layer,
            "create",
            format!("layer from {}", dir.display()),
        )
        .field("source", dir.display().to_string())
        .field("mtime_clamp", source_date_epoch())
        .equivalent(format!(
            "tar --sort=name --mtime=@{} {} -C {} -c . | gzip -n | sha256sum",
            source_date_epoch(),
            if opts.keep_owners {
                "--numeric-owner"
            } else {
                "--owner=0 --group=0"
            },
            dir.display()
        ))
        .announce()?;
        let r = (|| {
            let w = self.blob_writer()?;
            let (files, chunks) = write_tar(dir, FixedChunks::new(LayerEncoder::new(w)), opts)?;
            let enc = chunks.finish().ctx(|| "compressing a layer".into())?;
            let (digests, w) = enc.finish().ctx(|| "compressing a layer".into())?;
            w.commit(Some(&digests.digest))?;
            Ok::<_, crate::Error>((files, digests))
        })();
        match r {
            Ok((files, d)) => {
                s.field("files", files)
                    .field("diff_id", &d.diff_id)
                    .field("digest", &d.digest)
                    .field("size", d.size)
                    .field("uncompressed_size", d.uncompressed_size);
                s.done();
                Ok(d)
            }
            Err(e) => {
                s.failed(&e);
                Err(e)
            }
        }
    }
}
