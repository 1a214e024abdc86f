//! `--init`: glassbox's own tiny init as the container's PID 1, like
//! docker-init (tini). The container's init process, having set
//! everything up, forks: the child execs the user's command, and PID 1
//! stays behind doing the two jobs a real init does — it reaps every
//! zombie the kernel reparents to it, and it forwards the signals it gets
//! (SIGTERM from `stop`, Ctrl-C's SIGINT, ...) to the command, which as a
//! non-PID-1 process gets the kernel's default signal handling back. When
//! the command ends, PID 1 exits with its status (128+N for signal N).
//!
//! No glassbox binary has to exist inside the image: PID 1 is the already
//! running glassbox process itself (the host binary is dynamically linked,
//! so it could not be exec'd in an image without a C library anyway).

use crate::trace::{self, Kind};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use std::ffi::CString;

const FORWARDED: [Signal; 9] = [
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGTERM,
    Signal::SIGWINCH,
    Signal::SIGCONT,
    Signal::SIGTSTP,
];

/// Forks the command and becomes its init; returns only with the exit
/// status PID 1 should end with.
pub fn run(prog: &CString, args: &[CString], env: &[CString]) -> Result<(), i32> {
    let mut set = SigSet::empty();
    for s in FORWARDED {
        set.add(s);
    }
    set.add(Signal::SIGCHLD);
    let s = trace::step(Kind::Process, "init", "glassbox init as PID 1")
        .field(
            "forwards",
            FORWARDED.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        )
        .equivalent("docker run --init (tini as PID 1)")
        .syscall("sigprocmask(2), fork(2), sigwaitinfo(2), waitpid(-1)")
        .announce()
        .map_err(|_| 125)?;
    let mut old = SigSet::empty();
    if nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old)).is_err() {
        s.failed(&"blocking signals");
        return Err(125);
    }
    s.done();
    // SAFETY: the init is single-threaded (a fresh clone of the CLI), so
    // the child may run ordinary code until it execs.
    match unsafe { nix::unistd::fork() } {
        Err(_) => Err(125),
        Ok(nix::unistd::ForkResult::Child) => {
            let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
            let e = nix::unistd::execve(prog, args, env).unwrap_err();
            eprintln!("glassbox: cannot execute {}: {e}", prog.to_string_lossy());
            // SAFETY: _exit ends this forked child without running the
            // parent's atexit handlers or flushing its copied buffers.
            unsafe {
                libc::_exit(if e == nix::errno::Errno::ENOENT {
                    127
                } else {
                    126
                })
            }
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => {
            // PID 1 must not keep the event pipe open: the CLI reads it
            // until every writer has gone.
            drop(trace::clear_relay());
            // SAFETY: PR_SET_NAME copies at most 16 bytes from a valid C
            // string; it only renames this thread.
            unsafe { libc::prctl(libc::PR_SET_NAME, c"glassbox-init".as_ptr()) };
            Err(supervise(child, &set))
        }
    }
}

fn supervise(child: nix::unistd::Pid, set: &SigSet) -> i32 {
    loop {
        let sig = match set.wait() {
            Ok(s) => s,
            Err(_) => continue,
        };
        if sig != Signal::SIGCHLD {
            let _ = nix::sys::signal::kill(child, sig);
            continue;
        }
        // Reap everything that has ended: the command and any orphan.
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(p, code)) if p == child => return code,
                Ok(WaitStatus::Signaled(p, s, _)) if p == child => return 128 + s as i32,
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    }
}
