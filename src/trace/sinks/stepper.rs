//! `--step`: pause before each step so the student can look around.
//!
//! At every announce the sink shows what is about to happen (with the
//! command a person could type and the system call) and waits on the
//! terminal: Enter runs the step, `c` continues without pausing, `q` aborts
//! cleanly — the engine's next `announce` fails with `Aborted` and the
//! command unwinds through its usual clean-up.

use super::super::{Event, Stage};
use super::Sink;
use crate::explain::{self, Level};
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Pauses on a terminal.
pub struct StepThrough {
    tty: Mutex<(File, BufReader<File>)>,
    paused: AtomicBool,
    color: bool,
}

impl StepThrough {
    /// Opens the controlling terminal; fails when there is none.
    pub fn open(color: bool) -> std::io::Result<Self> {
        let out = std::fs::OpenOptions::new().write(true).open("/dev/tty")?;
        let input = File::open("/dev/tty")?;
        Ok(StepThrough {
            tty: Mutex::new((out, BufReader::new(input))),
            paused: AtomicBool::new(true),
            color,
        })
    }
}

impl Sink for StepThrough {
    fn event(&self, ev: &Event) {
        if ev.stage != Stage::Announce || !self.paused.load(Ordering::SeqCst) {
            return;
        }
        if crate::trace::abort_requested() {
            return;
        }
        let mut guard = self.tty.lock().unwrap_or_else(|e| e.into_inner());
        let (out, input) = &mut *guard;
        let (b, r) = if self.color {
            ("\x1b[1;33m", "\x1b[0m")
        } else {
            ("", "")
        };
        let _ = writeln!(
            out,
            "{b}⏸  next: [{}] {} {}{r}",
            ev.kind, ev.action, ev.subject
        );
        if let Some(text) = explain::render(ev, Level::Brief) {
            let _ = writeln!(out, "   {text}");
        }
        if let Some(eq) = &ev.equivalent {
            let _ = writeln!(out, "   by hand: {eq}");
        }
        if let Some(sc) = &ev.syscall {
            let _ = writeln!(out, "   syscall: {sc}");
        }
        let _ = write!(out, "   [Enter] next · [c] continue · [q] quit > ");
        let _ = out.flush();
        let mut answer = String::new();
        if input.read_line(&mut answer).unwrap_or(0) == 0 {
            // The terminal went away: stop rather than run unattended.
            crate::trace::request_abort();
            return;
        }
        match answer.trim() {
            "c" | "C" => self.paused.store(false, Ordering::SeqCst),
            "q" | "Q" => {
                crate::trace::request_abort();
                let _ = writeln!(out, "   aborting: undoing what was done so far");
            }
            _ => {}
        }
    }
}
