//! Content-addressed blobs: `blobs/sha256/<hex>`, written temp-then-rename
//! with the digest checked before the rename.

use super::{Store, StoreError};
use crate::error::IoContext;
use crate::Result;
use sha2::{Digest, Sha256};
use std::io::{self, Write};
use std::path::PathBuf;

/// Checks a `sha256:<64 hex>` digest and returns its hex part.
pub fn digest_hex(digest: &str) -> Result<&str, StoreError> {
    match digest.strip_prefix("sha256:") {
        Some(h)
            if h.len() == 64
                && h.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
        {
            Ok(h)
        }
        _ => Err(StoreError::BadDigest(digest.to_string())),
    }
}

/// A blob being written: bytes go to a temp file in the root's `tmp/`
/// while being hashed; [`BlobWriter::commit`] renames it into place.
pub struct BlobWriter {
    tmp: super::tmp::TempFile,
    hash: Sha256,
    size: u64,
    blobs: PathBuf,
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.tmp.write(buf)?;
        self.hash.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.tmp.flush()
    }
}

impl BlobWriter {
    /// The digest of the bytes written so far (the blob is not committed).
    pub fn digest(&self) -> String {
        crate::reference::sha256_string(self.hash.clone())
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Finishes the blob: fsyncs, checks it against `expected` (if given)
    /// and renames it to `blobs/sha256/<hex>`. Returns `(digest, size)`.
    /// On any error the temp file is removed and the store is unchanged.
    pub fn commit(mut self, expected: Option<&str>) -> Result<(String, u64)> {
        self.tmp.flush().ctx(|| "flushing a blob".into())?;
        self.tmp
            .as_file()
            .sync_all()
            .ctx(|| "syncing a blob".into())?;
        let digest = crate::reference::sha256_string(self.hash);
        if let Some(exp) = expected {
            if exp != digest {
                return Err(StoreError::DigestMismatch {
                    expected: exp.to_string(),
                    actual: digest,
                }
                .into());
            }
        }
        let dest = self.blobs.join(&digest["sha256:".len()..]);
        self.tmp
            .persist(&dest)
            .ctx(|| format!("renaming blob into {}", dest.display()))?;
        Ok((digest, self.size))
    }
}

impl Store {
    /// Starts writing a blob.
    pub fn blob_writer(&self) -> Result<BlobWriter> {
        let tmp = self.tempfile()?;
        Ok(BlobWriter {
            tmp,
            hash: Sha256::new(),
            size: 0,
            blobs: self.blobs_dir(),
        })
    }

    /// Writes `bytes` as a blob; returns its digest.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<String> {
        let mut w = self.blob_writer()?;
        w.write_all(bytes).ctx(|| "writing a blob".into())?;
        Ok(w.commit(None)?.0)
    }

    /// The path of blob `digest`.
    pub fn blob_path(&self, digest: &str) -> Result<PathBuf> {
        Ok(self.blobs_dir().join(digest_hex(digest)?))
    }

    /// Reads blob `digest`, verifying its bytes hash to its name.
    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>> {
        let path = self.blob_path(digest)?;
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::MissingBlob(digest.to_string()).into())
            }
            Err(e) => return Err(e).ctx(|| format!("reading {}", path.display())),
        };
        let actual = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
        if actual != digest {
            return Err(StoreError::DigestMismatch {
                expected: digest.to_string(),
                actual,
            }
            .into());
        }
        Ok(bytes)
    }
}
