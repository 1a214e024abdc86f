//! The signal proxy of a foreground `run`: while the container runs, the
//! signals this command gets — Ctrl-C's SIGINT, SIGTERM, SIGHUP when its
//! terminal closes, SIGQUIT, SIGUSR1/2 — are passed on to the container's
//! first process instead of ending this command, as `docker run` does
//! (`--sig-proxy`, on by default). Without it, Ctrl-C ended the command and
//! left the container running with nobody to wait for it, its cgroup,
//! mounts and veth behind.
//!
//! The container's init starts its own session (see `init::run`), so a key
//! typed at the terminal reaches this command only, and the container gets
//! each signal once — from here.
//!
//! A signal handler may only do async-signal-safe work: it reads the target
//! PID from an atomic, calls kill(2), and notes the signal in a bit set,
//! which is reported as an event once the container has exited.

use crate::trace::{self, Kind};
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

/// The signals passed on.
const FORWARDED: [Signal; 6] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// The host PID of the container's first process (0: none).
static TARGET: AtomicI32 = AtomicI32::new(0);
/// Bit `n` set: signal `n` was passed on.
static SEEN: AtomicU64 = AtomicU64::new(0);

extern "C" fn forward(sig: libc::c_int) {
    let pid = TARGET.load(Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: kill(2) is async-signal-safe; `pid` is the container's
        // first process, which this command started and still waits for
        // (it cannot be reaped, so the PID cannot be reused, before the
        // guard is dropped).
        unsafe { libc::kill(pid, sig) };
        if (0..64).contains(&sig) {
            SEEN.fetch_or(1 << sig, Ordering::Relaxed);
        }
    }
}

/// Passes signals on to the container while alive; restores this
/// command's own handling when dropped.
pub(crate) struct Proxy {
    pid: i32,
    saved: Vec<(Signal, SigAction)>,
}

/// Starts passing the [`FORWARDED`] signals to `pid`, and says so.
pub(crate) fn forward_to(pid: i32, id12: &str) -> Proxy {
    TARGET.store(pid, Ordering::Relaxed);
    SEEN.store(0, Ordering::Relaxed);
    let action = SigAction::new(
        SigHandler::Handler(forward),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    let mut saved = Vec::new();
    for s in FORWARDED {
        // SAFETY: the handler only does async-signal-safe work (see above).
        if let Ok(old) = unsafe { sigaction(s, &action) } {
            saved.push((s, old));
        }
    }
    trace::fact(Kind::Process, "sig_proxy", format!("container {id12}"))
        .field("pid", pid)
        .field(
            "signals",
            FORWARDED.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        )
        .equivalent(format!("kill -INT {pid}"))
        .syscall("sigaction(2), kill(2)")
        .info();
    Proxy { pid, saved }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        for (s, old) in self.saved.drain(..) {
            // SAFETY: puts back the action that was there before.
            let _ = unsafe { sigaction(s, &old) };
        }
        TARGET.store(0, Ordering::Relaxed);
        let seen = SEEN.swap(0, Ordering::Relaxed);
        let passed: Vec<&str> = FORWARDED
            .iter()
            .filter(|s| seen & (1 << (**s as i32)) != 0)
            .map(|s| s.as_str())
            .collect();
        if !passed.is_empty() {
            trace::fact(Kind::Process, "forwarded", format!("pid {}", self.pid))
                .field("pid", self.pid)
                .field("signals", passed)
                .info();
        }
    }
}
