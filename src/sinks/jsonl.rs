//! `--trace=json`: one JSON object per event, one per line.

use crate::trace::sink::Sink;
use crate::trace::Event;
use std::io::Write;
use std::sync::Mutex;

/// Writes events as JSON lines to a file or stderr.
pub struct JsonLines {
    out: Mutex<Box<dyn Write + Send>>,
}

impl JsonLines {
    /// Writes to `out` (stderr or a `--trace-file`).
    pub fn new(out: Box<dyn Write + Send>) -> Self {
        JsonLines {
            out: Mutex::new(out),
        }
    }
}

impl Sink for JsonLines {
    fn event(&self, ev: &Event) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        if let Ok(line) = serde_json::to_string(ev) {
            let _ = writeln!(out, "{line}");
        }
    }

    fn finish(&self) {
        let _ = self.out.lock().unwrap_or_else(|e| e.into_inner()).flush();
    }
}
