//! Turning an uncompressed layer tar into a gzip blob in one pass: the
//! diff_id (sha256 of the tar), the gzip bytes, and the digest (sha256 of
//! the gzip) are all computed while the bytes stream through once.
//!
//! The gzip header is fixed (no name, mtime 0, OS "unknown") so the same
//! tar always gives the same blob, on any machine.

use sha2::{Digest, Sha256};
use std::io::{self, Write};

/// The gzip compression level layers use.
pub const LEVEL: u32 = 6;

/// What one encoded layer is, by its digests and sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerDigests {
    /// `sha256:…` of the uncompressed tar (goes into the image config).
    pub diff_id: String,
    /// `sha256:…` of the gzip blob (goes into the manifest).
    pub digest: String,
    /// Bytes of the gzip blob.
    pub size: u64,
    /// Bytes of the uncompressed tar.
    pub uncompressed_size: u64,
}

/// Formats a sha256 hasher's result as `sha256:<hex>`.
pub fn sha256_string(h: Sha256) -> String {
    format!("sha256:{}", hex::encode(h.finalize()))
}

/// Counts and hashes what passes through to `inner`.
struct HashingWriter<W: Write> {
    inner: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Write the uncompressed tar into this; it writes the gzip blob to `out`.
pub struct LayerEncoder<W: Write> {
    gz: flate2::write::GzEncoder<HashingWriter<W>>,
    diff: Sha256,
    raw: u64,
}

impl<W: Write> LayerEncoder<W> {
    /// Encodes into `out`.
    pub fn new(out: W) -> Self {
        let sink = HashingWriter {
            inner: out,
            hash: Sha256::new(),
            bytes: 0,
        };
        let gz = flate2::GzBuilder::new()
            .mtime(0)
            .operating_system(255)
            .write(sink, flate2::Compression::new(LEVEL));
        LayerEncoder {
            gz,
            diff: Sha256::new(),
            raw: 0,
        }
    }

    /// Finishes the gzip stream; returns the digests and the inner writer.
    pub fn finish(self) -> io::Result<(LayerDigests, W)> {
        let sink = self.gz.finish()?;
        Ok((
            LayerDigests {
                diff_id: sha256_string(self.diff),
                digest: sha256_string(sink.hash),
                size: sink.bytes,
                uncompressed_size: self.raw,
            },
            sink.inner,
        ))
    }
}

impl<W: Write> Write for LayerEncoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.gz.write(buf)?;
        self.diff.update(&buf[..n]);
        self.raw += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.gz.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn digests_match_the_bytes_and_the_output_is_deterministic() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let enc = |d: &[u8]| {
            let mut e = LayerEncoder::new(Vec::new());
            e.write_all(d).unwrap();
            e.finish().unwrap()
        };
        let (a, blob) = enc(&data);
        let (b, blob2) = enc(&data);
        assert_eq!(a, b);
        assert_eq!(blob, blob2);
        assert_eq!(a.digest, sha256_string(Sha256::new_with_prefix(&blob)));
        assert_eq!(a.diff_id, sha256_string(Sha256::new_with_prefix(&data)));
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&blob[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
    }
}
