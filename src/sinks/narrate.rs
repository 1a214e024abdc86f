//! `--trace=narrate`: short human lines, each with its explanation.
//!
//! One line per finished step (`done` or `failed`) and per fact, indented by
//! phase depth, followed by the explanation at the chosen level. Announces
//! are left to the step-through sink, which shows them while it pauses.

use crate::explain::{self, Level};
use crate::trace::sink::Sink;
use crate::trace::{Event, Stage};
use std::io::Write;
use std::sync::Mutex;

/// How the narrator renders.
#[derive(Debug, Clone, Copy)]
pub struct NarratorOptions {
    /// ANSI colours.
    pub color: bool,
    /// Which explanation to print under each line.
    pub explain: Level,
}

/// Writes narration to stderr (or any writer).
pub struct Narrator {
    out: Mutex<Box<dyn Write + Send>>,
    opts: NarratorOptions,
    /// The phase stack of the last printed event: a header is printed when
    /// an event arrives in a phase not yet announced. Headers come from the
    /// events (not from local spans) so that relayed events from a
    /// container's init get theirs in the right place.
    last_phase: Mutex<Vec<String>>,
}

impl Narrator {
    /// A narrator writing to `out`.
    pub fn new(out: Box<dyn Write + Send>, opts: NarratorOptions) -> Self {
        Narrator {
            out: Mutex::new(out),
            opts,
            last_phase: Mutex::new(Vec::new()),
        }
    }

    fn paint(&self, code: &str, s: &str) -> String {
        if self.opts.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
}

/// Formats a duration the way people read them.
pub fn human_duration(us: u64) -> String {
    if us < 1000 {
        format!("{us} µs")
    } else if us < 1_000_000 {
        format!("{:.1} ms", us as f64 / 1000.0)
    } else {
        format!("{:.2} s", us as f64 / 1e6)
    }
}

impl Sink for Narrator {
    fn event(&self, ev: &Event) {
        let (mark, code) = match ev.stage {
            Stage::Announce => return,
            Stage::Done => ("✓", "32"),
            Stage::Failed => ("✗", "31"),
            Stage::Info => ("·", "36"),
        };
        let indent = "  ".repeat(ev.phase.len().max(1));
        let mut headers = String::new();
        {
            let mut last = self.last_phase.lock().unwrap_or_else(|e| e.into_inner());
            let common = last
                .iter()
                .zip(&ev.phase)
                .take_while(|(a, b)| a == b)
                .count();
            for (depth, name) in ev.phase.iter().enumerate().skip(common) {
                headers.push_str(&format!(
                    "{}{}\n",
                    "  ".repeat(depth),
                    self.paint("1;34", &format!("▶ {name}"))
                ));
            }
            *last = ev.phase.clone();
        }
        let mut line = format!(
            "{indent}{} {} {} {}",
            self.paint(code, mark),
            self.paint("2", &format!("[{}]", ev.kind)),
            self.paint("1", &ev.action),
            ev.subject
        );
        if let Some(d) = ev.duration_us {
            line.push_str(&self.paint("2", &format!("  {}", human_duration(d))));
        }
        if let Some(err) = ev.fields.get("error").and_then(|e| e.as_str()) {
            line.push_str(&format!("\n{indent}    {}", self.paint("31", err)));
        }
        if let Some(text) = explain::render(ev, self.opts.explain) {
            for l in text.lines() {
                line.push_str(&format!("\n{indent}    {}", self.paint("2", l)));
            }
        }
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = write!(out, "{headers}");
        let _ = writeln!(out, "{line}");
    }

    fn finish(&self) {
        let _ = self.out.lock().unwrap_or_else(|e| e.into_inner()).flush();
    }
}
