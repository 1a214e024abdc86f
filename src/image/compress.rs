//! Turning an uncompressed layer tar into a gzip blob in one pass: the
//! diff_id (sha256 of the tar), the gzip bytes, and the digest (sha256 of
//! the gzip) are all computed while the bytes stream through once.
//!
//! Compression runs on every core, the way `pigz` does it: the tar is cut
//! into fixed [`CHUNK`]-sized pieces, each piece is deflated on its own by a
//! worker thread (primed with the 32 KiB that came before it, so matches can
//! still reach back across the cut) and ends with a sync flush, which leaves
//! the deflate stream byte-aligned. The pieces are written out in input
//! order, so the blob is one ordinary gzip member that `gzip -d`, `tar -xz`
//! and every registry read as usual.
//!
//! The bytes depend only on the tar, never on thread timing, core count or
//! how the caller sliced its writes: chunk boundaries are fixed offsets, and
//! a small layer that never fills a chunk goes through the same code on the
//! calling thread. The gzip header is fixed (no name, mtime 0, OS
//! "unknown") so the same tar always gives the same blob, on any machine.
//! See `benches/README.md` for why these settings.

use crate::reference::sha256_string;
use flate2::{Compress, Compression, Crc, FlushCompress};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// The deflate level layers use (chosen by measurement, see benches/README.md).
pub const LEVEL: u32 = 4;

/// Bytes of tar per independently compressed piece.
pub const CHUNK: usize = 1 << 20;

/// How much of the previous piece primes the next one (deflate's window).
const WINDOW: usize = 32 * 1024;

/// The fixed gzip member header: magic, deflate, no flags, mtime 0, no
/// extra flags, OS 255 ("unknown").
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0xff];

/// An empty final stored block: ends a deflate stream that is byte-aligned
/// after a sync flush.
const EMPTY_FINAL_BLOCK: [u8; 5] = [0x01, 0x00, 0x00, 0xff, 0xff];

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

/// Knobs of the encoder. Layers always use [`Settings::default`]; the other
/// values exist so the benchmark can measure the alternatives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Deflate level, 0–9.
    pub level: u32,
    /// Prime each piece with the previous 32 KiB of tar.
    pub dictionary: bool,
    /// Worker threads once the layer is bigger than one piece (at least 1).
    /// Does not change the bytes, only the speed.
    pub threads: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            level: LEVEL,
            dictionary: true,
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .min(8),
        }
    }
}

/// One piece of tar to deflate: its position, bytes and the window before it.
struct Job {
    seq: u64,
    data: Vec<u8>,
    dict: Vec<u8>,
    last: bool,
}

/// A deflated piece, with its input buffer handed back for reuse.
struct Done {
    seq: u64,
    out: io::Result<Vec<u8>>,
    data: Vec<u8>,
}

/// Deflates one piece (raw deflate, no zlib header). A non-final piece ends
/// with a sync flush (byte-aligned, not final); the final one finishes the
/// stream.
///
/// Each piece gets a fresh compressor: a reused one after `reset()` was
/// measured to give different bytes depending on what it compressed before
/// (zlib-rs 0.6), which would make the blob depend on thread scheduling.
fn deflate_piece(level: u32, job: &Job, dictionary: bool) -> io::Result<Vec<u8>> {
    let mut c = Compress::new(Compression::new(level), false);
    if dictionary && !job.dict.is_empty() {
        c.set_dictionary(&job.dict).map_err(io::Error::other)?;
    }
    let flush = if job.last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let mut out = Vec::with_capacity(job.data.len() / 2 + 4096);
    let mut input = &job.data[..];
    loop {
        if out.len() == out.capacity() {
            out.reserve(64 * 1024);
        }
        let before = c.total_in();
        let status = c
            .compress_vec(input, &mut out, flush)
            .map_err(io::Error::other)?;
        input = &input[(c.total_in() - before) as usize..];
        let done = match flush {
            FlushCompress::Finish => status == flate2::Status::StreamEnd,
            // A flush is complete once it stops filling all the room it had.
            _ => input.is_empty() && out.len() < out.capacity(),
        };
        if done {
            return Ok(out);
        }
    }
}

/// The worker threads and the channels to them.
struct Pool {
    jobs: Option<Sender<Job>>,
    results: Receiver<Done>,
    handles: Vec<JoinHandle<()>>,
}

impl Pool {
    fn start(settings: Settings) -> io::Result<Pool> {
        let (job_tx, job_rx) = mpsc::channel::<Job>();
        let job_rx = Arc::new(Mutex::new(job_rx));
        let (done_tx, done_rx) = mpsc::channel::<Done>();
        let mut handles = Vec::new();
        for i in 0..settings.threads.max(1) {
            let rx = Arc::clone(&job_rx);
            let tx = done_tx.clone();
            let h = std::thread::Builder::new()
                .name(format!("layer-gzip-{i}"))
                .spawn(move || loop {
                    let job = match rx.lock() {
                        Ok(guard) => match guard.recv() {
                            Ok(job) => job,
                            Err(_) => return,
                        },
                        Err(_) => return,
                    };
                    let out = deflate_piece(settings.level, &job, settings.dictionary);
                    let done = Done {
                        seq: job.seq,
                        out,
                        data: job.data,
                    };
                    if tx.send(done).is_err() {
                        return;
                    }
                })?;
            handles.push(h);
        }
        Ok(Pool {
            jobs: Some(job_tx),
            results: done_rx,
            handles,
        })
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Closing the job channel ends every worker once it is idle.
        self.jobs.take();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

/// Write the uncompressed tar into this; it writes the gzip blob to `out`.
pub struct LayerEncoder<W: Write> {
    out: W,
    settings: Settings,
    /// sha256 of the tar.
    diff: Sha256,
    /// CRC-32 of the tar (for the gzip trailer).
    crc: Crc,
    raw: u64,
    /// sha256 of the gzip bytes written so far.
    blob: Sha256,
    size: u64,
    header_written: bool,
    /// Tar bytes not yet handed to a worker (less than one piece).
    pending: Vec<u8>,
    /// The 32 KiB of tar before `pending`.
    window: Vec<u8>,
    /// Pieces handed out so far.
    sent: u64,
    /// Next piece to write to `out`.
    next_out: u64,
    /// Deflated pieces that arrived before their turn.
    ready: BTreeMap<u64, Vec<u8>>,
    /// Input buffers handed back by workers.
    spare: Vec<Vec<u8>>,
    pool: Option<Pool>,
}

impl<W: Write> LayerEncoder<W> {
    /// Encodes into `out`.
    pub fn new(out: W) -> Self {
        Self::with_settings(out, Settings::default())
    }

    /// Encodes into `out` with explicit settings (for benchmarks; layers use
    /// [`LayerEncoder::new`]).
    pub fn with_settings(out: W, settings: Settings) -> Self {
        LayerEncoder {
            out,
            settings,
            diff: Sha256::new(),
            crc: Crc::new(),
            raw: 0,
            blob: Sha256::new(),
            size: 0,
            header_written: false,
            pending: Vec::with_capacity(CHUNK),
            window: Vec::new(),
            sent: 0,
            next_out: 0,
            ready: BTreeMap::new(),
            spare: Vec::new(),
            pool: None,
        }
    }

    fn emit(&mut self, bytes: &[u8]) -> io::Result<()> {
        if !self.header_written {
            self.header_written = true;
            self.emit(&GZIP_HEADER)?;
        }
        self.out.write_all(bytes)?;
        self.blob.update(bytes);
        self.size += bytes.len() as u64;
        Ok(())
    }

    /// At most this many pieces are in the workers' hands at once.
    fn max_in_flight(&self) -> u64 {
        2 * self.settings.threads.max(1) as u64
    }

    /// Takes one finished piece from the workers and writes out whatever is
    /// now in order.
    fn collect_one(&mut self) -> io::Result<()> {
        let pool = self.pool.as_ref().expect("pool is running");
        let done = pool
            .results
            .recv()
            .map_err(|_| io::Error::other("a layer compression thread died"))?;
        if self.spare.len() < 4 {
            self.spare.push(done.data);
        }
        self.ready.insert(done.seq, done.out?);
        while let Some(bytes) = self.ready.remove(&self.next_out) {
            self.emit(&bytes)?;
            self.next_out += 1;
        }
        Ok(())
    }

    /// Hands the full `pending` piece to a worker.
    fn dispatch(&mut self) -> io::Result<()> {
        if self.pool.is_none() {
            self.pool = Some(Pool::start(self.settings)?);
        }
        while self.sent - self.next_out >= self.max_in_flight() {
            self.collect_one()?;
        }
        let fresh = self
            .spare
            .pop()
            .map(|mut v| {
                v.clear();
                v
            })
            .unwrap_or_else(|| Vec::with_capacity(CHUNK));
        let data = std::mem::replace(&mut self.pending, fresh);
        let dict = std::mem::take(&mut self.window);
        self.window = data[data.len() - WINDOW.min(data.len())..].to_vec();
        let job = Job {
            seq: self.sent,
            data,
            dict,
            last: false,
        };
        self.sent += 1;
        let pool = self.pool.as_ref().expect("pool is running");
        pool.jobs
            .as_ref()
            .expect("jobs channel open")
            .send(job)
            .map_err(|_| io::Error::other("a layer compression thread died"))
    }

    /// Finishes the gzip stream; returns the digests and the inner writer.
    pub fn finish(mut self) -> io::Result<(LayerDigests, W)> {
        // Drain the workers, in order.
        while self.next_out < self.sent {
            self.collect_one()?;
        }
        self.pool.take();
        // The last (partial, maybe empty) piece ends the deflate stream.
        if self.pending.is_empty() && self.sent > 0 {
            self.emit(&EMPTY_FINAL_BLOCK)?;
        } else {
            let job = Job {
                seq: self.sent,
                data: std::mem::take(&mut self.pending),
                dict: std::mem::take(&mut self.window),
                last: true,
            };
            let bytes = deflate_piece(self.settings.level, &job, self.settings.dictionary)?;
            self.emit(&bytes)?;
        }
        let mut trailer = [0u8; 8];
        trailer[..4].copy_from_slice(&self.crc.sum().to_le_bytes());
        trailer[4..].copy_from_slice(&(self.raw as u32).to_le_bytes());
        self.emit(&trailer)?;
        self.out.flush()?;
        Ok((
            LayerDigests {
                diff_id: sha256_string(self.diff),
                digest: sha256_string(self.blob),
                size: self.size,
                uncompressed_size: self.raw,
            },
            self.out,
        ))
    }
}

impl<W: Write> Write for LayerEncoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(CHUNK - self.pending.len());
        let taken = &buf[..n];
        self.pending.extend_from_slice(taken);
        self.diff.update(taken);
        self.crc.update(taken);
        self.raw += n as u64;
        if self.pending.len() == CHUNK {
            self.dispatch()?;
        }
        Ok(n)
    }

    /// Pushes out the pieces already compressed; a partial piece stays
    /// buffered (cutting it here would make the bytes depend on when the
    /// caller flushed).
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::process::{Command, Stdio};

    /// Bytes that compress somewhat, like a tar: text-ish runs with noise.
    fn sample(len: usize) -> Vec<u8> {
        let mut x: u32 = 0x1234_5678;
        (0..len)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                if i % 7 == 0 {
                    (x % 251) as u8
                } else {
                    b"glassbox layer "[i % 15]
                }
            })
            .collect()
    }

    fn encode_with(data: &[u8], settings: Settings, write_size: usize) -> (LayerDigests, Vec<u8>) {
        let mut e = LayerEncoder::with_settings(Vec::new(), settings);
        for part in data.chunks(write_size.max(1)) {
            e.write_all(part).unwrap();
        }
        e.finish().unwrap()
    }

    fn check(data: &[u8]) {
        let (d, blob) = encode_with(data, Settings::default(), 65_536);
        // Same bytes whatever the thread count and the caller's write sizes.
        for (threads, ws) in [(1, 1 << 20), (3, 4096), (2, 777)] {
            let s = Settings {
                threads,
                ..Settings::default()
            };
            let (d2, blob2) = encode_with(data, s, ws);
            assert_eq!(d, d2, "threads {threads}, writes of {ws}");
            assert!(
                blob == blob2,
                "blob differs: threads {threads}, writes of {ws}"
            );
        }
        // The digests are the sha256 of the bytes.
        assert_eq!(d.digest, sha256_string(Sha256::new_with_prefix(&blob)));
        assert_eq!(d.diff_id, sha256_string(Sha256::new_with_prefix(data)));
        assert_eq!(d.size, blob.len() as u64);
        assert_eq!(d.uncompressed_size, data.len() as u64);
        // Fixed header.
        assert_eq!(blob[..10], GZIP_HEADER);
        // flate2 decodes it back to the tar, as one member.
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&blob[..])
            .read_to_end(&mut back)
            .unwrap();
        assert!(back == data, "round trip changed the bytes");
        // So does GNU gzip, which also checks the CRC and length.
        let mut child = Command::new("gzip")
            .args(["-t", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .expect("gzip is installed");
        child.stdin.take().unwrap().write_all(&blob).unwrap();
        assert!(child.wait().unwrap().success(), "gzip -t rejected the blob");
    }

    #[test]
    fn empty_layer() {
        check(&[]);
    }

    #[test]
    fn one_byte() {
        check(b"x");
    }

    #[test]
    fn exactly_one_chunk() {
        check(&sample(CHUNK));
    }

    #[test]
    fn many_chunks_with_a_partial_tail() {
        check(&sample(5 * CHUNK + 12_345));
    }

    #[test]
    fn many_whole_chunks() {
        check(&sample(3 * CHUNK));
    }

    #[test]
    fn same_tar_gives_the_same_blob() {
        let data = sample(2 * CHUNK + 5);
        let a = encode_with(&data, Settings::default(), 10_000);
        let b = encode_with(&data, Settings::default(), 10_000);
        assert_eq!(a, b);
    }

    #[test]
    fn dropping_an_unfinished_encoder_stops_its_threads() {
        let mut e = LayerEncoder::new(Vec::new());
        e.write_all(&sample(4 * CHUNK)).unwrap();
        drop(e);
    }

    #[test]
    fn priming_with_the_window_never_makes_pieces_bigger() {
        let data = sample(4 * CHUNK);
        let with = encode_with(&data, Settings::default(), CHUNK).0.size;
        let without = encode_with(
            &data,
            Settings {
                dictionary: false,
                ..Settings::default()
            },
            CHUNK,
        )
        .0
        .size;
        assert!(with <= without, "{with} > {without}");
    }
}
