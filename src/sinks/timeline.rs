//! `--timeline FILE`: a Chrome trace-event JSON file (open it in Perfetto or
//! chrome://tracing) showing where the time of one command went.

use crate::trace::sink::Sink;
use crate::trace::{Event, Stage};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Mutex;

/// Collects spans and steps, writes them at the end.
pub struct Timeline {
    path: PathBuf,
    entries: Mutex<Vec<serde_json::Value>>,
}

impl Timeline {
    /// Will write to `path` when the command finishes.
    pub fn new(path: PathBuf) -> Self {
        Timeline {
            path,
            entries: Mutex::new(Vec::new()),
        }
    }
}

impl Sink for Timeline {
    fn event(&self, ev: &Event) {
        let entry = match ev.stage {
            Stage::Announce => return,
            Stage::Done | Stage::Failed => {
                let dur = ev.duration_us.unwrap_or(0);
                json!({
                    "name": format!("{} {}", ev.action, ev.subject),
                    "cat": ev.kind.as_str(),
                    "ph": "X",
                    "ts": ev.ts_us.saturating_sub(dur),
                    "dur": dur,
                    "pid": 1, "tid": ev.pid,
                    "args": ev.fields,
                })
            }
            Stage::Info => json!({
                "name": format!("{} {}", ev.action, ev.subject),
                "cat": ev.kind.as_str(),
                "ph": "i", "s": "t",
                "ts": ev.ts_us,
                "pid": 1, "tid": ev.pid,
                "args": ev.fields,
            }),
        };
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(entry);
    }

    fn phase(&self, name: &str, begin: bool, ts_us: u64) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(json!({
                "name": name, "cat": "phase",
                "ph": if begin { "B" } else { "E" },
                "ts": ts_us, "pid": 1, "tid": std::process::id(),
            }));
    }

    fn finish(&self) {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let doc = json!({ "traceEvents": *entries, "displayTimeUnit": "ms" });
        if let Ok(text) = serde_json::to_vec_pretty(&doc) {
            let _ = std::fs::write(&self.path, text);
        }
    }
}
