//! Carrying events across a process boundary.
//!
//! A container's init process runs after `clone`, in new namespaces, and its
//! steps (pivot_root, mounting /proc, dropping capabilities, exec) must
//! appear in the one ordered trace of the command that started it. The
//! child writes each event as one JSON line to a pipe ([`RelayWriter`]);
//! the parent reads the lines and re-emits them ([`RelayReader::pump`]).
//! When the child announces a step it waits for a one-byte answer on a
//! second pipe: `g` to go on, `q` to abort — which is how a `--step` pause
//! inside the container waits on the parent's terminal.

use super::Event;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};

/// The child's end: writes events, waits for go/abort after announces.
pub struct RelayWriter {
    events: File,
    answers: Option<File>,
}

impl RelayWriter {
    /// `events` is the write end of the event pipe; `answers`, when given,
    /// the read end of the answer pipe (then every announce waits).
    pub fn new(events: File, answers: Option<File>) -> Self {
        RelayWriter { events, answers }
    }

    /// Writes one event as a JSON line.
    pub fn send(&mut self, ev: &Event) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(ev).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.events.write_all(&line)
    }

    /// Waits for the parent's answer to an announce; `false` means abort
    /// (or that the parent is gone).
    pub fn wait_go(&mut self) -> bool {
        match self.answers.as_mut() {
            None => true,
            Some(a) => {
                let mut b = [0u8; 1];
                matches!(a.read_exact(&mut b), Ok(()) if b[0] == b'g')
            }
        }
    }
}

/// The parent's end: reads events and answers announces.
pub struct RelayReader {
    events: BufReader<File>,
    answers: Option<File>,
    last_error: Option<String>,
}

impl RelayReader {
    /// `events` is the read end of the event pipe; `answers` the write end
    /// of the answer pipe, if the child waits after announces.
    pub fn new(events: File, answers: Option<File>) -> Self {
        RelayReader {
            events: BufReader::new(events),
            answers,
            last_error: None,
        }
    }

    /// `ACTION: ERROR` of the last relayed event with an `error` field:
    /// why the child gave up, for a caller that reports it (runc's shim
    /// shows it), e.g. `exec: "nope": executable file not found ...`.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// Re-emits events until the child closes its end (at exec, thanks to
    /// close-on-exec, or when it exits). Returns `Err` if the student
    /// aborted at a pause (the child has been told to stop).
    pub fn pump(&mut self) -> Result<(), super::Aborted> {
        self.pump_until(|_| false).map(|_| ())
    }

    /// Re-emits events as [`pump`](Self::pump) does, but returns after the
    /// first one `stop` picks (`Ok(true)`: the child now waits for the
    /// parent, which reads on later), or at the end (`Ok(false)`).
    pub fn pump_until(&mut self, stop: impl Fn(&Event) -> bool) -> Result<bool, super::Aborted> {
        let mut line = String::new();
        let mut result = Ok(false);
        loop {
            line.clear();
            match self.events.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let ev: Event = match serde_json::from_str(line.trim_end()) {
                Ok(ev) => ev,
                Err(_) => continue,
            };
            let stops = stop(&ev);
            if let Some(e) = ev.fields.get("error").and_then(|e| e.as_str()) {
                self.last_error = Some(format!("{}: {e}", ev.action));
            }
            let announce = ev.stage == super::Stage::Announce;
            let r = if result.is_ok() {
                super::reemit(ev)
            } else {
                Ok(())
            };
            if announce {
                if let Some(a) = self.answers.as_mut() {
                    let answer = if r.is_ok() && result.is_ok() {
                        b"g"
                    } else {
                        b"q"
                    };
                    let _ = a.write_all(answer);
                }
            }
            if let Err(e) = r {
                result = Err(e);
            }
            if stops {
                return result.map(|_| true);
            }
        }
        result
    }
}
