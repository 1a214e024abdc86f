//! Following a container's output as it is written, for a client that
//! attaches (`docker run` without `-d`, `docker start -a`, `docker attach`):
//! the log the shim writes is the one place the output of a detached
//! container goes, so an attach reads it from where it stands at the
//! moment of attaching, until the container's command exits.
//!
//! Attaching usually happens *before* the container starts (the client
//! sends create, attach, wait, start, in that order), and a short command
//! can end, and a `--rm` container vanish, before the follower looks again.
//! So the follower opens (creating if need be) the log at attach time and
//! keeps that descriptor: lines the shim appends later reach it even when
//! the container's directory is already gone.

use crate::store::container::{self, State, Status};
use std::io::{BufRead, Seek};
use std::path::Path;
use std::time::Duration;

/// One piece of output: `stdout` or `stderr`, and its bytes.
pub type Emit<'a> = dyn FnMut(&str, &[u8]) -> bool + 'a;

/// An attach point on a container's output, opened before it starts.
pub struct Follower {
    dir: std::path::PathBuf,
    reader: std::io::BufReader<std::fs::File>,
    started_before: Option<String>,
}

impl Follower {
    /// Opens the container's log at its current end (journaled as the
    /// container's `attach`).
    pub fn open(root: &Path, key: &str) -> crate::Result<Follower> {
        let (dir, st) = container::find(root, key)?;
        let path = super::shim::log_path(&dir);
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(&path)
            .map_err(|e| crate::Error::Io {
                context: format!("opening the log {}", path.display()),
                source: e,
            })?;
        f.seek(std::io::SeekFrom::End(0))
            .map_err(|e| crate::Error::Io {
                context: format!("seeking to the end of {}", path.display()),
                source: e,
            })?;
        let running = matches!(st.observed(), Status::Running | Status::Paused);
        st.journal(root, "attach", &[]);
        Ok(Follower {
            dir,
            reader: std::io::BufReader::new(f),
            // A container that runs already is followed until it exits; one
            // that does not is followed from its next start.
            started_before: if running { None } else { st.started_at },
        })
    }

    /// Passes each piece of output to `emit` until the container's command
    /// has exited (or its record is gone) and the log is read to its end,
    /// or until `emit` returns false or `gone()` says the reader left.
    pub fn follow(mut self, emit: &mut Emit<'_>, gone: &dyn Fn() -> bool) {
        let mut buf = String::new();
        let mut started = self.started_before.is_none();
        loop {
            match self.reader.read_line(&mut buf) {
                Ok(n) if n > 0 && buf.ends_with('\n') => {
                    let line = std::mem::take(&mut buf);
                    if let Ok(e) = serde_json::from_str::<super::lifecycle::LogLine>(&line) {
                        if !emit(&e.stream, e.log.as_bytes()) {
                            return;
                        }
                    }
                    continue;
                }
                _ => {}
            }
            if gone() {
                return;
            }
            let now = State::load(&self.dir).ok();
            let over = match &now {
                None => true,
                Some(st) => {
                    if !started && st.started_at != self.started_before {
                        started = true;
                    }
                    started
                        && !matches!(
                            st.observed(),
                            Status::Running | Status::Paused | Status::Restarting | Status::Created
                        )
                }
            };
            if over {
                // The shim writes every line before it records the exit.
                while let Ok(n) = self.reader.read_line(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if buf.ends_with('\n') {
                        let line = std::mem::take(&mut buf);
                        if let Ok(e) = serde_json::from_str::<super::lifecycle::LogLine>(&line) {
                            if !emit(&e.stream, e.log.as_bytes()) {
                                return;
                            }
                        }
                    }
                }
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
