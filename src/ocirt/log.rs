//! Where a runtime's events go when its caller shows no terminal: every
//! event of a container as one JSON line in `ROOT/ID/trace.jsonl`
//! ([`ContainerTrace`], replayed by `glassbox trace ID`), and runc's
//! `--log` file ([`RuncLog`]), in logrus's shapes, which podman and
//! containerd's shim read back for the error of a failed command.

use crate::sinks::Sink;
use crate::trace::{Event, Stage};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

struct Pending {
    file: Option<std::fs::File>,
    lines: Vec<String>,
}

static TRACE: Mutex<Pending> = Mutex::new(Pending {
    file: None,
    lines: Vec::new(),
});

/// The sink that writes the container's `trace.jsonl`. Events made before
/// the container's directory exists wait in memory until [`attach`];
/// a command that never attaches (its container was never made) drops them.
pub struct ContainerTrace;

impl Sink for ContainerTrace {
    fn event(&self, ev: &Event) {
        let Ok(line) = serde_json::to_string(ev) else {
            return;
        };
        let mut t = TRACE.lock().unwrap_or_else(|e| e.into_inner());
        match t.file.as_mut() {
            Some(f) => {
                let _ = writeln!(f, "{line}");
            }
            None => t.lines.push(line),
        }
    }
}

/// Opens `path` for appending and sends this command's events there, the
/// ones so far first. Returns a second handle for a parked init.
pub fn attach(path: &Path) -> std::io::Result<std::fs::File> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let mut t = TRACE.lock().unwrap_or_else(|e| e.into_inner());
    for l in t.lines.drain(..) {
        writeln!(f, "{l}")?;
    }
    let other = f.try_clone()?;
    t.file = Some(f);
    Ok(other)
}

/// Stops writing the trace file (before the container's directory goes).
pub fn detach() {
    TRACE.lock().unwrap_or_else(|e| e.into_inner()).file = None;
}

/// runc's `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// logrus text: `time="..." level=info msg="..."`.
    Text,
    /// logrus JSON: `{"level":"info","msg":"...","time":"..."}`.
    Json,
}

/// runc's `--log` file: one line per event and per error.
pub struct RuncLog {
    out: Mutex<std::fs::File>,
    format: Format,
}

impl RuncLog {
    /// Appends to `path` (callers reuse one log for many commands).
    pub fn open(path: &Path, format: Format) -> std::io::Result<RuncLog> {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(RuncLog {
            out: Mutex::new(out),
            format,
        })
    }

    /// Writes an error line (what a caller shows when the command fails).
    pub fn error(&self, msg: &str) {
        self.line("error", msg, None);
    }

    fn line(&self, level: &str, msg: &str, ev: Option<&Event>) {
        let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let text = match self.format {
            Format::Json => {
                let mut v = serde_json::json!({"level": level, "msg": msg, "time": time});
                if let Some(ev) = ev {
                    v["event"] = serde_json::to_value(ev).unwrap_or_default();
                }
                v.to_string()
            }
            Format::Text => format!("time={:?} level={level} msg={:?}", time, msg),
        };
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(out, "{text}");
    }
}

/// The one-line summary of an event in the log.
pub fn summary(ev: &Event) -> String {
    let stage = match ev.stage {
        Stage::Announce => "",
        Stage::Done => " done",
        Stage::Failed => " failed",
        Stage::Info => "",
    };
    let mut s = format!("{}.{} {}{stage}", ev.kind.as_str(), ev.action, ev.subject);
    if let Some(e) = ev.fields.get("error").and_then(|e| e.as_str()) {
        s.push_str(": ");
        s.push_str(e);
    }
    s
}

impl Sink for RuncLog {
    fn event(&self, ev: &Event) {
        let level = if ev.stage == Stage::Failed {
            "warning"
        } else {
            "info"
        };
        self.line(level, &summary(ev), Some(ev));
    }
}

/// Feeds a container's recorded events (`ROOT/ID/trace.jsonl`, or the
/// kept trace of a deleted one) to `sink`, in order; returns how many.
pub fn replay(root: &Path, id: &str, sink: &dyn Sink) -> crate::Result<usize> {
    super::state::check_id(id)?;
    let live = super::state::trace_file(root, id);
    let path = if live.exists() {
        live
    } else {
        super::state::kept_trace(root, id)
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(super::OciError::NoTrace(id.to_string(), root.display().to_string()).into())
        }
        Err(e) => {
            return Err(crate::Error::Io {
                context: format!("reading {}", path.display()),
                source: e,
            })
        }
    };
    let mut n = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        // A line cut short by a crash is skipped, not fatal.
        if let Ok(ev) = serde_json::from_str::<Event>(line) {
            sink.event(&ev);
            n += 1;
        }
    }
    sink.finish();
    Ok(n)
}
