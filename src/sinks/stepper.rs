//! `--step`: pause before each step so the student can look around.
//!
//! At every announce the sink shows what is about to happen (with the
//! command a person could type and the system call) and waits on the
//! terminal: Enter runs the step, `c` continues without pausing, `q` aborts
//! cleanly — the engine's next `announce` fails with `Aborted` and the
//! command unwinds through its usual clean-up. Ctrl-C does the same as `q`,
//! at a pause or between steps, instead of ending the command halfway with
//! its cgroup and veth behind (once the container runs, a foreground `run`
//! passes Ctrl-C on to it instead: see `runtime::sigproxy`).

use crate::explain::{self, Level};
use crate::trace::sink::Sink;
use crate::trace::{Event, Stage};
use std::fs::File;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Pauses on a terminal.
pub struct StepThrough {
    tty: Mutex<(File, File)>,
    paused: AtomicBool,
    color: bool,
}

impl StepThrough {
    /// Opens the controlling terminal; fails when there is none.
    pub fn open(color: bool) -> std::io::Result<Self> {
        let out = std::fs::OpenOptions::new().write(true).open("/dev/tty")?;
        let input = File::open("/dev/tty")?;
        let quit = nix::sys::signal::SigAction::new(
            nix::sys::signal::SigHandler::Handler(on_interrupt),
            // No SA_RESTART: a read of the terminal at a pause returns
            // EINTR, so the pause ends at once.
            nix::sys::signal::SaFlags::empty(),
            nix::sys::signal::SigSet::empty(),
        );
        // SAFETY: the handler only stores to an atomic
        // (async-signal-safe).
        unsafe { nix::sys::signal::sigaction(nix::sys::signal::Signal::SIGINT, &quit) }
            .map_err(std::io::Error::from)?;
        Ok(StepThrough {
            tty: Mutex::new((out, input)),
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
        let Some(answer) = read_answer(input) else {
            // Ctrl-C, or the terminal went away: stop rather than run
            // unattended.
            crate::trace::request_abort();
            let _ = writeln!(out, "\n   aborting: undoing what was done so far");
            return;
        };
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

/// Ctrl-C with `--step`: the same as answering `q`.
extern "C" fn on_interrupt(_: libc::c_int) {
    crate::trace::request_abort();
}

/// One line typed at the terminal; `None` at its end or when Ctrl-C
/// interrupted the wait.
fn read_answer(input: &File) -> Option<String> {
    let mut line = Vec::new();
    let mut b = [0u8; 64];
    loop {
        match nix::unistd::read(input, &mut b) {
            Ok(0) => return None,
            Ok(n) => {
                line.extend_from_slice(&b[..n]);
                if line.contains(&b'\n') {
                    return Some(String::from_utf8_lossy(&line).into_owned());
                }
            }
            Err(nix::errno::Errno::EINTR) if crate::trace::abort_requested() => return None,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return None,
        }
    }
}
