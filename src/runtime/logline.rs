//! One line of a container's log, as docker's json-file driver writes it:
//! `{"log":"TEXT\n","stream":"stdout","time":"2026-11-23T15:13:05.437369370Z"}`.
//!
//! The shim writes one of these for every line the container prints, for as
//! long as the container lives, so the encoder is kept small and
//! allocation-light on purpose: the shim's resident memory is mostly the
//! code it runs, and a general JSON serializer plus a calendar library
//! would bring a lot of code back in for every log line.

use std::time::{SystemTime, UNIX_EPOCH};

/// Appends the JSON line (with its newline) for `text` from `stream`
/// printed at `at` to `out`. Invalid UTF-8 becomes U+FFFD, as
/// `String::from_utf8_lossy` does.
pub fn encode(out: &mut Vec<u8>, text: &[u8], stream: &str, at: SystemTime) {
    out.extend_from_slice(b"{\"log\":\"");
    for chunk in text.utf8_chunks() {
        escape(out, chunk.valid());
        if !chunk.invalid().is_empty() {
            out.extend_from_slice("\u{FFFD}".as_bytes());
        }
    }
    out.extend_from_slice(b"\",\"stream\":\"");
    escape(out, stream);
    out.extend_from_slice(b"\",\"time\":\"");
    rfc3339_nanos(out, at);
    out.extend_from_slice(b"\"}\n");
}

/// The longest piece of a line one log entry holds (docker's 16 KiB).
pub const MAX_LINE: usize = 16 * 1024;

/// A container's output stream on its way to the log: bytes arrive in
/// pieces of any size, and each complete line becomes one JSON line. What
/// is left without a newline when the stream ends is written as a last
/// line of its own, as docker does.
pub struct Lines {
    log: std::sync::Arc<std::sync::Mutex<std::fs::File>>,
    stream: &'static str,
    pending: Vec<u8>,
    encoded: Vec<u8>,
}

impl Lines {
    /// Lines of `stream` ("stdout", "stderr") appended to `log`, which
    /// both streams of a container share.
    pub fn new(
        log: std::sync::Arc<std::sync::Mutex<std::fs::File>>,
        stream: &'static str,
    ) -> Lines {
        Lines {
            log,
            stream,
            pending: Vec::new(),
            encoded: Vec::new(),
        }
    }

    /// Takes the next bytes of the stream; logs the lines they complete.
    pub fn push(&mut self, mut bytes: &[u8]) {
        while let Some(i) = bytes.iter().position(|&b| b == b'\n') {
            let (line, rest) = bytes.split_at(i + 1);
            if self.pending.is_empty() {
                self.write(line);
            } else {
                let mut whole = std::mem::take(&mut self.pending);
                whole.extend_from_slice(line);
                self.write(&whole);
            }
            bytes = rest;
        }
        self.pending.extend_from_slice(bytes);
        // A "line" that never ends (binary output, a progress bar) is
        // logged in pieces, as docker's json-file driver splits lines at
        // 16 KiB, rather than held in memory.
        while self.pending.len() >= MAX_LINE {
            let rest = self.pending.split_off(MAX_LINE);
            let piece = std::mem::replace(&mut self.pending, rest);
            self.write(&piece);
        }
    }

    /// The stream ended: logs what is left of its last line.
    pub fn finish(&mut self) {
        if !self.pending.is_empty() {
            let last = std::mem::take(&mut self.pending);
            self.write(&last);
        }
    }

    fn write(&mut self, line: &[u8]) {
        use std::io::Write;
        self.encoded.clear();
        encode(&mut self.encoded, line, self.stream, SystemTime::now());
        let mut f = self.log.lock().unwrap_or_else(|e| e.into_inner());
        let _ = f.write_all(&self.encoded);
    }
}

/// JSON string escaping: quotes, backslashes and control characters.
fn escape(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            0..=0x1f => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(b >> 4) as usize],
                HEX[(b & 15) as usize],
            ]),
            _ => out.push(b),
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS.NNNNNNNNNZ` in UTC.
fn rfc3339_nanos(out: &mut Vec<u8>, at: SystemTime) {
    let d = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil_from_days(days as i64);
    digits(out, y as u64, 4);
    out.push(b'-');
    digits(out, m.into(), 2);
    out.push(b'-');
    digits(out, day.into(), 2);
    out.push(b'T');
    digits(out, rem / 3600, 2);
    out.push(b':');
    digits(out, rem / 60 % 60, 2);
    out.push(b':');
    digits(out, rem % 60, 2);
    out.push(b'.');
    digits(out, d.subsec_nanos().into(), 9);
    out.push(b'Z');
}

/// `v` in decimal, zero-padded to `width` digits (at most 20).
fn digits(out: &mut Vec<u8>, mut v: u64, width: usize) {
    let mut buf = [b'0'; 20];
    for slot in buf[..width].iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out.extend_from_slice(&buf[..width]);
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// The `log` texts of the entries `push`ing `pieces` then finishing
    /// writes.
    fn logged(pieces: &[&[u8]]) -> Vec<String> {
        let f = tempfile::tempfile().unwrap();
        let shared = std::sync::Arc::new(std::sync::Mutex::new(f.try_clone().unwrap()));
        let mut lines = Lines::new(shared, "stdout");
        for p in pieces {
            lines.push(p);
        }
        lines.finish();
        let mut text = String::new();
        use std::io::{Read, Seek};
        let mut f = f;
        f.rewind().unwrap();
        f.read_to_string(&mut text).unwrap();
        text.lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["log"].as_str().unwrap().to_string()
            })
            .collect()
    }

    #[test]
    fn lines_are_logged_whole_whatever_pieces_they_arrive_in() {
        assert_eq!(
            logged(&[b"he", b"llo\nwor", b"ld\n\nlast"]),
            ["hello\n", "world\n", "\n", "last"]
        );
        assert!(logged(&[]).is_empty());
    }

    #[test]
    fn a_line_that_never_ends_is_logged_in_16_kib_pieces() {
        let long = vec![b'x'; 2 * MAX_LINE + 5];
        let got = logged(&[&long[..1000], &long[1000..], b"\n"]);
        let sizes: Vec<usize> = got.iter().map(String::len).collect();
        assert_eq!(sizes, [MAX_LINE, MAX_LINE, 6]);
        assert!(got[2].ends_with('\n'));
    }

    fn line(text: &[u8], at: SystemTime) -> String {
        let mut out = Vec::new();
        encode(&mut out, text, "stdout", at);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn matches_serde_json_and_chrono_on_awkward_text_and_dates() {
        let texts: [&[u8]; 5] = [
            b"hello\n",
            b"quote \" back\\slash \t tab \x01 bell\x7f\r\n",
            b"caf\xc3\xa9 \xff broken \xe2\x82 end",
            b"",
            b"\x08\x0c\x1f",
        ];
        let times = [
            0u64,
            951_782_400,     // 2000-02-29
            1_795_000_000,   // 2026
            4_102_444_800,   // 2100-01-01
            253_402_300_799, // 9999-12-31T23:59:59
        ];
        for t in texts {
            for s in times {
                let at = UNIX_EPOCH + Duration::new(s, 123_456_789);
                let want = serde_json::json!({
                    "log": String::from_utf8_lossy(t),
                    "stream": "stdout",
                    "time": chrono::DateTime::<chrono::Utc>::from(at)
                        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
                });
                let got = line(t, at);
                assert_eq!(got, format!("{want}\n"), "text {t:?} at {s}");
                let back: serde_json::Value = serde_json::from_str(&got).unwrap();
                assert_eq!(back, want);
            }
        }
    }
}
