//! `-t`: a real pseudo-terminal. The container's stdio is the slave side
//! of a pty pair opened from the container's *own* devpts instance (as
//! runc does: the init opens `/dev/ptmx` after mounting `/dev/pts`, so
//! `tty` inside names a device that exists there, and sends the master to
//! the CLI over a unix socket with `SCM_RIGHTS`), and it is the controlling terminal of the
//! container's session, so job control, Ctrl-C (the line discipline turns
//! the byte into SIGINT for the foreground process group) and Ctrl-D work
//! inside. The CLI puts its own terminal in raw mode, copies bytes between
//! it and the master side in both directions, passes window-size changes
//! on (SIGWINCH → `TIOCSWINSZ` on the master, which the kernel turns into
//! SIGWINCH inside), and restores its terminal when the container exits.

use nix::sys::termios::{self, SetArg, Termios};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

mod ioctl {
    nix::ioctl_read_bad!(tiocgwinsz, libc::TIOCGWINSZ, libc::winsize);
    nix::ioctl_write_ptr_bad!(tiocswinsz, libc::TIOCSWINSZ, libc::winsize);
    nix::ioctl_write_int_bad!(tiocsctty, libc::TIOCSCTTY);
}
use ioctl::{tiocgwinsz, tiocsctty, tiocswinsz};

static WINCH: AtomicBool = AtomicBool::new(false);

extern "C" fn on_winch(_: libc::c_int) {
    WINCH.store(true, Ordering::Relaxed);
}

/// The window size of `fd`, when it is a terminal.
fn window_size(fd: RawFd) -> Option<libc::winsize> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize into the valid struct we pass.
    unsafe { tiocgwinsz(fd, &mut ws) }.ok().map(|_| ws)
}

fn set_window_size(fd: RawFd, ws: &libc::winsize) {
    // SAFETY: TIOCSWINSZ reads one winsize from the valid struct we pass.
    let _ = unsafe { tiocswinsz(fd, ws) };
}

/// Sets the window size of the pty whose master is `master`
/// (`TIOCSWINSZ`); the kernel sends SIGWINCH to the foreground job of the
/// terminal, and `stty size` inside prints `rows cols`.
pub fn resize(master: std::os::fd::BorrowedFd<'_>, rows: u16, cols: u16) -> nix::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from the valid struct we pass.
    unsafe { tiocswinsz(master.as_raw_fd(), &ws) }.map(|_| ())
}

/// The socket pair a container side sends its pty master over: ours, the
/// container side's, and the plan naming it with the first window size.
pub(crate) fn handoff(rows: u16, cols: u16) -> crate::Result<(OwnedFd, OwnedFd, TtyPlan)> {
    use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| super::RuntimeError::Kernel {
        what: "making the terminal socket".into(),
        errno: e,
    })?;
    let plan = TtyPlan {
        sock: theirs.as_raw_fd(),
        rows,
        cols,
    };
    Ok((ours, theirs, plan))
}

/// Sends `fd` over the unix socket `sock` as an `SCM_RIGHTS` message.
pub(crate) fn send_fd(sock: RawFd, fd: RawFd) -> nix::Result<()> {
    let fds = [fd];
    let iov = [std::io::IoSlice::new(b"m")];
    nix::sys::socket::sendmsg::<()>(
        sock,
        &iov,
        &[nix::sys::socket::ControlMessage::ScmRights(&fds)],
        nix::sys::socket::MsgFlags::empty(),
        None,
    )
    .map(|_| ())
}

/// In the container's init, after `/dev/pts` is mounted: opens a pty pair
/// from the container's devpts, sizes it like the CLI's terminal, sends
/// the master to the CLI over `sock`, and makes the slave the controlling
/// terminal of a new session and the process's stdin, stdout and stderr.
/// Returns the slave's path.
pub fn open_in_container(sock: RawFd, rows: u16, cols: u16) -> Result<String, String> {
    use nix::fcntl::OFlag;
    fn e(what: &'static str) -> impl Fn(nix::errno::Errno) -> String {
        move |err| format!("{what}: {err}")
    }
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(e("opening /dev/ptmx"))?;
    nix::pty::grantpt(&master).map_err(e("grantpt"))?;
    nix::pty::unlockpt(&master).map_err(e("unlockpt"))?;
    let path = nix::pty::ptsname_r(&master).map_err(e("ptsname"))?;
    let slave = nix::fcntl::open(
        path.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(e("opening the pty slave"))?;
    if rows > 0 && cols > 0 {
        set_window_size(
            master.as_raw_fd(),
            &libc::winsize {
                ws_row: rows,
                ws_col: cols,
                ws_xpixel: 0,
                ws_ypixel: 0,
            },
        );
    }
    send_fd(sock, master.as_raw_fd()).map_err(e("sending the pty master to glassbox"))?;
    drop(master);
    // SAFETY: close only changes this process's fd table; the socket is
    // not used again.
    unsafe { libc::close(sock) };
    nix::unistd::setsid().map_err(e("setsid"))?;
    // SAFETY: TIOCSCTTY takes an integer argument and touches no memory.
    unsafe { tiocsctty(slave.as_raw_fd(), 0) }.map_err(e("TIOCSCTTY"))?;
    for target in 0..3 {
        // SAFETY: dup2 only changes this process's fd table; slave is open.
        if unsafe { libc::dup2(slave.as_raw_fd(), target) } < 0 {
            return Err(format!("dup2: {}", nix::errno::Errno::last()));
        }
    }
    Ok(path)
}

/// Receives the pty master the container side sends over `sock`; `None`
/// when the socket closes first (the container failed before its pty).
pub(crate) fn receive_master(sock: &OwnedFd) -> Option<OwnedFd> {
    use std::os::fd::FromRawFd;
    let mut buf = [0u8; 1];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!(RawFd);
    let msg = nix::sys::socket::recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        nix::sys::socket::MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .ok()?;
    for c in msg.cmsgs().ok()? {
        if let nix::sys::socket::ControlMessageOwned::ScmRights(fds) = c {
            // SAFETY: the kernel just installed this fd in our table for
            // us; nobody else owns it.
            return fds.first().map(|fd| unsafe { OwnedFd::from_raw_fd(*fd) });
        }
    }
    None
}

/// Restores the terminal's settings when dropped.
struct RawMode {
    saved: Termios,
}

impl RawMode {
    fn enter() -> Option<RawMode> {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd()).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
    }
}

/// The terminal a container will get: the socket end its init sends the
/// pty master over, and the CLI terminal's size.
#[derive(Debug, Clone, Copy)]
pub struct TtyPlan {
    /// The init's end of the socket pair.
    pub sock: RawFd,
    /// Rows of the CLI's terminal (0 when it is none).
    pub rows: u16,
    /// Columns of the CLI's terminal.
    pub cols: u16,
}

/// Makes the socket pair, runs `f` with the init's side and an `attach`
/// callback to call once the container's init exists (it closes the CLI's
/// copy of the init's end, enters raw mode and starts copying as soon as
/// the master arrives). Returns `f`'s result after the output is drained
/// and the terminal restored.
///
/// With `interactive` (`-i`), what is typed goes to the container, the
/// terminal in raw mode so that every key does; without it, as with
/// docker's `-t` alone, nothing is read and the terminal stays as it is
/// (Ctrl-C then signals this command, which passes SIGINT on). The
/// container's output also goes to `log`.
pub(crate) fn run_with_terminal<T>(
    interactive: bool,
    log: super::logline::Lines,
    f: impl FnOnce(TtyPlan, &mut dyn FnMut()) -> crate::Result<T>,
) -> crate::Result<T> {
    let ws = window_size(std::io::stdin().as_raw_fd());
    let (ours, theirs, plan) = handoff(ws.map_or(0, |w| w.ws_row), ws.map_or(0, |w| w.ws_col))?;
    let mut theirs = Some(theirs);
    let mut ours = Some(ours);
    let done = Arc::new(AtomicBool::new(false));
    let mut raw: Option<RawMode> = None;
    let mut output: Option<std::thread::JoinHandle<()>> = None;
    let mut log = Some(log);
    let mut attach = || {
        drop(theirs.take());
        if interactive {
            raw = RawMode::enter();
        }
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe.
        unsafe {
            let _ = nix::sys::signal::signal(
                nix::sys::signal::Signal::SIGWINCH,
                nix::sys::signal::SigHandler::Handler(on_winch),
            );
        }
        let Some(sock) = ours.take() else { return };
        let Some(log) = log.take() else { return };
        let d = done.clone();
        output = Some(std::thread::spawn(move || {
            let Some(master) = receive_master(&sock) else {
                return;
            };
            copy(Arc::new(master), d, interactive, log);
        }));
    };
    let r = f(plan, &mut attach);
    if let Some(t) = output.take() {
        let _ = t.join();
    }
    done.store(true, Ordering::Relaxed);
    drop(raw.take());
    r
}

/// Copies the master to stdout (and the log) until the container's side
/// closes, with helpers for stdin → master (`interactive`) and
/// window-size changes.
fn copy(
    master: Arc<OwnedFd>,
    done: Arc<AtomicBool>,
    interactive: bool,
    mut log: super::logline::Lines,
) {
    if interactive {
        let m = master.clone();
        // The input copy ends with the process: a read of the terminal
        // cannot be interrupted portably, and nothing waits for it.
        std::thread::spawn(move || {
            let mut inp = std::io::stdin();
            let mut buf = [0u8; 1024];
            loop {
                match inp.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if nix::unistd::write(m.as_fd(), &buf[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
        });
    }
    let m = master.clone();
    let d = done.clone();
    std::thread::spawn(move || {
        while !d.load(Ordering::Relaxed) {
            if WINCH.swap(false, Ordering::Relaxed) {
                if let Some(ws) = window_size(std::io::stdin().as_raw_fd()) {
                    set_window_size(m.as_raw_fd(), &ws);
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    });
    let mut out = std::io::stdout();
    let mut buf = [0u8; 4096];
    loop {
        match nix::unistd::read(master.as_fd(), &mut buf) {
            Ok(0) | Err(nix::errno::Errno::EIO) => break,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break,
            Ok(n) => {
                let _ = out.write_all(&buf[..n]);
                let _ = out.flush();
                log.push(&buf[..n]);
            }
        }
    }
    log.finish();
}

/// A terminal for `exec -t`, served without threads: after `setns` into
/// the container's mount and PID namespaces a process can neither have
/// other threads (setns(CLONE_NEWNS) refuses) nor start them
/// (clone(CLONE_THREAD) fails), so the copying is one `poll` loop.
pub struct Session {
    ours: OwnedFd,
    theirs: Option<OwnedFd>,
    plan: TtyPlan,
}

impl Session {
    /// Makes the socket pair the container side sends the master over.
    pub fn new() -> crate::Result<Session> {
        let ws = window_size(std::io::stdin().as_raw_fd());
        let (ours, theirs, plan) = handoff(ws.map_or(0, |w| w.ws_row), ws.map_or(0, |w| w.ws_col))?;
        Ok(Session {
            plan,
            ours,
            theirs: Some(theirs),
        })
    }

    /// What the container side needs.
    pub fn plan(&self) -> TtyPlan {
        self.plan
    }

    /// In the parent after fork, when another process serves the terminal
    /// (the daemon, for `docker exec -it`): receives the master, sends it
    /// on over the unix socket `to` (`SCM_RIGHTS` again), and waits for
    /// `child`. The receiver copies the bytes and sets the window size.
    pub fn forward(
        mut self,
        child: nix::unistd::Pid,
        to: RawFd,
    ) -> nix::Result<nix::sys::wait::WaitStatus> {
        drop(self.theirs.take());
        let sent = match receive_master(&self.ours) {
            Some(master) => send_fd(to, master.as_raw_fd()),
            None => Ok(()),
        };
        // SAFETY: close only changes this process's fd table; the socket
        // is not used again.
        unsafe { libc::close(to) };
        loop {
            match nix::sys::wait::waitpid(child, None) {
                Err(nix::errno::Errno::EINTR) => continue,
                r => return sent.and(r),
            }
        }
    }

    /// In the parent after fork: receives the master, copies both ways in
    /// raw mode until `child` ends, restores the terminal; returns how the
    /// child ended.
    pub fn serve(mut self, child: nix::unistd::Pid) -> nix::Result<nix::sys::wait::WaitStatus> {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
        drop(self.theirs.take());
        let Some(master) = receive_master(&self.ours) else {
            return waitpid(child, None);
        };
        let _raw = RawMode::enter();
        // SAFETY: the handler only stores to an atomic (async-signal-safe).
        unsafe {
            let _ = nix::sys::signal::signal(
                nix::sys::signal::Signal::SIGWINCH,
                nix::sys::signal::SigHandler::Handler(on_winch),
            );
        }
        let stdin = std::io::stdin();
        let mut out = std::io::stdout();
        let mut buf = [0u8; 4096];
        let mut stdin_open = true;
        loop {
            if WINCH.swap(false, Ordering::Relaxed) {
                if let Some(ws) = window_size(stdin.as_raw_fd()) {
                    set_window_size(master.as_raw_fd(), &ws);
                }
            }
            let mut fds = vec![PollFd::new(master.as_fd(), PollFlags::POLLIN)];
            if stdin_open {
                fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            }
            let _ = poll(&mut fds, PollTimeout::from(50u16));
            let m_ready = fds[0].revents().unwrap_or(PollFlags::empty());
            let i_ready = fds
                .get(1)
                .and_then(|f| f.revents())
                .unwrap_or(PollFlags::empty());
            drop(fds);
            if m_ready.intersects(PollFlags::POLLIN) {
                if let Ok(n) = nix::unistd::read(master.as_fd(), &mut buf) {
                    let _ = out.write_all(&buf[..n]);
                    let _ = out.flush();
                }
            }
            if i_ready.intersects(PollFlags::POLLIN | PollFlags::POLLHUP) {
                match nix::unistd::read(stdin.as_fd(), &mut buf) {
                    Ok(0) | Err(_) => stdin_open = false,
                    Ok(n) => {
                        let _ = nix::unistd::write(master.as_fd(), &buf[..n]);
                    }
                }
            }
            match waitpid(child, Some(WaitPidFlag::WNOHANG))? {
                WaitStatus::StillAlive => {}
                status => {
                    // Whatever the process wrote last is still in the pty.
                    let mut last = vec![PollFd::new(master.as_fd(), PollFlags::POLLIN)];
                    while poll(&mut last, PollTimeout::ZERO).unwrap_or(0) > 0
                        && last[0]
                            .revents()
                            .is_some_and(|r| r.intersects(PollFlags::POLLIN))
                    {
                        match nix::unistd::read(master.as_fd(), &mut buf) {
                            Ok(n) if n > 0 => {
                                let _ = out.write_all(&buf[..n]);
                            }
                            _ => break,
                        }
                    }
                    let _ = out.flush();
                    return Ok(status);
                }
            }
        }
    }
}
