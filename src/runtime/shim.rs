//! The supervisor of a detached container: `glassbox __shim ID`, a re-exec
//! of glassbox in its own session that outlives the command that started
//! it. It starts the container with its stdout and stderr on pipes, writes
//! them to the log as JSON lines (`{"log","stream","time"}` like docker's
//! json-file driver), records the start and the exit in `state.json`, and
//! removes `--rm` containers when they end.

use super::logline::Lines;
use super::{restart, ContainerDir, Lower, Rootfs};
use crate::store::container::{self, State};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The log file of a container directory.
pub fn log_path(dir: &Path) -> std::path::PathBuf {
    dir.join("log.json")
}

/// Opens a container's log for appending, shared by the streams that
/// write into it.
pub(super) fn open_log(dir: &Path) -> crate::Result<Arc<Mutex<std::fs::File>>> {
    let path = log_path(dir);
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| crate::Error::Io {
            context: format!("opening the log {}", path.display()),
            source: e,
        })?;
    Ok(Arc::new(Mutex::new(f)))
}

/// The pipes of a container's stdout and stderr, and the threads that
/// copy them into its log — and, for a foreground run (`echo`), to this
/// command's own stdout and stderr too.
pub(super) struct OutputPipes {
    /// The write ends, until the container has its own copies.
    writers: Option<(OwnedFd, OwnedFd)>,
    readers: Option<(OwnedFd, OwnedFd)>,
    log: Arc<Mutex<std::fs::File>>,
    echo: bool,
    threads: Vec<std::thread::JoinHandle<()>>,
    /// Attached clients get the output too (a detached `-i` container).
    console: Option<Arc<super::console::Console>>,
}

impl OutputPipes {
    pub(super) fn new(dir: &Path, echo: bool) -> crate::Result<OutputPipes> {
        let pipe = || {
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| crate::Error::Io {
                context: "making the output pipes".into(),
                source: e.into(),
            })
        };
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        Ok(OutputPipes {
            writers: Some((out_w, err_w)),
            readers: Some((out_r, err_r)),
            log: open_log(dir)?,
            echo,
            threads: Vec::new(),
            console: None,
        })
    }

    /// The write ends (stdout, stderr) the container's init takes over.
    pub(super) fn write_ends(&self) -> (i32, i32) {
        self.writers
            .as_ref()
            .map_or((-1, -1), |(o, e)| (o.as_raw_fd(), e.as_raw_fd()))
    }

    /// The container holds its own copies of the write ends now: ours
    /// are closed (or the copies would never see the streams end), and
    /// the copying starts.
    pub(super) fn container_started(&mut self) {
        drop(self.writers.take());
        if let Some((o, e)) = self.readers.take() {
            let echo = |fd| self.echo.then_some(fd);
            let to = |n| self.console.clone().map(|c| (c, n));
            self.threads.push(pump(
                o,
                Lines::new(self.log.clone(), "stdout"),
                echo(libc::STDOUT_FILENO),
                to(1),
            ));
            self.threads.push(pump(
                e,
                Lines::new(self.log.clone(), "stderr"),
                echo(libc::STDERR_FILENO),
                to(2),
            ));
        }
    }

    /// The container ended: copies what is left, to the end of both
    /// streams.
    pub(super) fn drain(&mut self) {
        drop(self.writers.take());
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Copies a container's output stream from the pipe `r` into the log —
/// and, for a foreground run, to `echo` (the command's own stdout or
/// stderr) as soon as it arrives, a prompt without its newline included;
/// for a detached `-i` container, to the clients attached to its console
/// (as stream 1 or 2).
pub(super) fn pump(
    r: OwnedFd,
    mut lines: super::logline::Lines,
    echo: Option<std::os::fd::RawFd>,
    console: Option<(Arc<super::console::Console>, u8)>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        if let Some((c, _)) = &console {
            c.wait_gate();
        }
        let mut buf = [0u8; 8192];
        loop {
            let n = match nix::unistd::read(&r, &mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => break,
            };
            lines.push(&buf[..n]);
            if let Some((c, stream)) = &console {
                c.broadcast(*stream, &buf[..n]);
            }
            if let Some(fd) = echo {
                // SAFETY: `fd` is this process's stdout or stderr, open for
                // its life.
                let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
                if !write_all_fd(fd, &buf[..n]) {
                    // Whoever read this command's output is gone (`| head`):
                    // the pipe is closed on the container too, whose next
                    // write then fails as it would have written to that
                    // reader itself (SIGPIPE).
                    break;
                }
            }
        }
        lines.finish();
    })
}

/// Writes all of `bytes` to `fd`; false when it cannot (the reader is
/// gone).
pub(crate) fn write_all_fd(fd: impl std::os::fd::AsFd, mut bytes: &[u8]) -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let fd = fd.as_fd();
    while !bytes.is_empty() {
        match nix::unistd::write(fd, bytes) {
            Ok(0) => return false,
            Ok(n) => bytes = &bytes[n..],
            Err(nix::errno::Errno::EINTR) => continue,
            // A non-blocking stdout (shared with a program that set it so):
            // wait until it takes more.
            Err(nix::errno::Errno::EAGAIN) => {
                let _ = poll(
                    &mut [PollFd::new(fd, PollFlags::POLLOUT)],
                    PollTimeout::NONE,
                );
            }
            Err(_) => return false,
        }
    }
    true
}

/// Runs the shim for container `id`; returns its exit status. It starts
/// the process again as long as the restart policy says so.
pub fn run(root: &Path, id: &str) -> crate::Result<i32> {
    relay_to_starter();
    let path = container::containers_dir(root).join(id);
    let dir = ContainerDir {
        id: id.to_string(),
        path,
    };
    let mut delay = std::time::Duration::ZERO;
    // The published ports' sockets, bound by the command that started us.
    let mut ports =
        crate::network::port::Supervisor::new(&dir.path, crate::network::port::Held::inherited());
    let console = serve_console(&dir)?;
    loop {
        let began = std::time::Instant::now();
        let result = run_once(&dir, ports.as_mut(), console.as_ref())?;
        let mut st = State::load(&dir.path)?;
        super::lifecycle::record_exit(&dir.path, &mut st, &result);
        let code = result.as_ref().map(|(c, _)| *c).unwrap_or(125);
        let stopped = restart::stop_marker(&dir.path).exists();
        if result.is_ok()
            && st
                .restart_policy
                .should_restart(code, st.restart_count, stopped)
        {
            delay = restart::next_delay(delay, began.elapsed());
            st.status = container::Status::Restarting;
            st.restart_count += 1;
            st.save(&dir.path)?;
            crate::trace::fact(
                crate::trace::Kind::Process,
                "restart",
                format!("container {}", &id[..12]),
            )
            .field("policy", st.restart_policy.name())
            .field("exit_code", code)
            .field("restart_count", st.restart_count)
            .field("delay_ms", delay.as_millis() as u64)
            .info();
            // Sleep in slices so that `stop` during the back-off wins.
            let until = std::time::Instant::now() + delay;
            while std::time::Instant::now() < until && !restart::stop_marker(&dir.path).exists() {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            if !restart::stop_marker(&dir.path).exists() {
                continue;
            }
            let mut st = State::load(&dir.path)?;
            st.status = container::Status::Exited;
            st.save(&dir.path)?;
            return Ok(code);
        }
        if st.auto_remove {
            super::remove_dir(&dir);
            super::volumes::remove_anonymous(root, &st);
        } else {
            st.save(&dir.path)?;
        }
        return Ok(code);
    }
}

/// A container with a terminal or an open stdin gets its attach socket,
/// served for as long as this shim lives.
fn serve_console(dir: &ContainerDir) -> crate::Result<Option<Arc<super::console::Console>>> {
    let st = State::load(&dir.path)?;
    let tty = oci_spec::runtime::Spec::load(dir.config())
        .ok()
        .and_then(|s| s.process().as_ref().and_then(|p| p.terminal()))
        .unwrap_or(false);
    if !super::console::wanted(tty, st.open_stdin) {
        return Ok(None);
    }
    let path = dir.path.join(super::console::SOCKET);
    let s = crate::trace::step(
        crate::trace::Kind::Process,
        "attach_socket",
        format!("container {}", &dir.id[..12]),
    )
    .field("path", path.display().to_string())
    .field("tty", tty)
    .field("stdin_once", st.stdin_once)
    .equivalent(format!("socat UNIX-LISTEN:{} -", path.display()))
    .syscall("socket(AF_UNIX), bind(2), listen(2)")
    .announce()?;
    let c = super::console::Console::serve(&dir.path, tty, st.stdin_once).map_err(|e| {
        crate::Error::Io {
            context: format!("serving the attach socket {}", path.display()),
            source: e,
        }
    });
    s.finish_with(c).map(Some)
}

/// A detached container's terminal: receives the pty master, then copies
/// what the container writes into the log (one stdout stream, as docker
/// logs a tty) and to the attached clients, until the pty's last slave
/// closes.
fn serve_tty(
    console: Arc<super::console::Console>,
    ours: OwnedFd,
    log: Lines,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let Some(master) = super::tty::receive_master(&ours) else {
            return;
        };
        drop(ours);
        let master = Arc::new(master);
        console.set_master(master.clone());
        console.wait_gate();
        let mut log = log;
        let mut buf = [0u8; 8192];
        loop {
            match nix::unistd::read(&*master, &mut buf) {
                Ok(0) | Err(nix::errno::Errno::EIO) => break,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => break,
                Ok(n) => {
                    log.push(&buf[..n]);
                    console.broadcast(1, &buf[..n]);
                }
            }
        }
        log.finish();
    })
}

/// Starts the container once with its output on the log; returns how it
/// ended (an `Err` when it could not start).
fn run_once(
    dir: &ContainerDir,
    mut ports: Option<&mut crate::network::port::Supervisor>,
    console: Option<&Arc<super::console::Console>>,
) -> crate::Result<crate::Result<(i32, bool)>> {
    // Its steps show under this heading in the starting command's trace.
    let _p = crate::trace::phase("shim");
    let id = &dir.id;
    let mut st = State::load(&dir.path)?;
    // A pair of an earlier run may still linger: this run's names, saved
    // before the runtime reads them.
    let fresh = crate::network::fresh_host_ends(st.networks.clone());
    if fresh != st.networks {
        st.networks = fresh;
        st.save(&dir.path)?;
    }
    let spec = oci_spec::runtime::Spec::load(dir.config())
        .map_err(|e| super::RuntimeError::StartFailed(id[..12].to_string(), e.to_string()))?;
    let rootfs = Rootfs {
        lowers: st
            .lowers
            .iter()
            .map(|(d, g)| Lower {
                dir: d.clone(),
                digest: g.clone(),
            })
            .collect(),
    };
    let run_io = console.map(|c| c.begin(&dir.path)).transpose()?;
    let mut out = match run_io {
        Some(super::console::RunIo::Tty { .. }) => None,
        _ => Some(OutputPipes::new(&dir.path, false)?),
    };
    let (w_out, w_err) = out.as_ref().map_or((-1, -1), |o| o.write_ends());
    let mut stdin_read = None;
    let mut tty_socket = None;
    let io = match run_io {
        None => super::Stdio::Log(w_out, w_err),
        Some(super::console::RunIo::Pipe(r)) => {
            if let Some(o) = out.as_mut() {
                o.console = console.cloned();
            }
            let stdin = r.as_raw_fd();
            stdin_read = Some(r);
            super::Stdio::LogIn {
                out: w_out,
                err: w_err,
                stdin,
            }
        }
        Some(super::console::RunIo::Tty { ours, theirs, plan }) => {
            tty_socket = Some((ours, theirs));
            super::Stdio::Tty(plan)
        }
    };
    let mut tty_log = if tty_socket.is_some() {
        Some(Lines::new(open_log(&dir.path)?, "stdout"))
    } else {
        None
    };
    let mut tty_thread = None;
    let limits: super::cgroup::Limits = st.limits.into();
    let mut released = false;
    let mut on_start = |pid: i32| {
        if let Some(o) = out.as_mut() {
            o.container_started();
        }
        // The init has its own copies of the stdin pipe's read end and of
        // the terminal socket now.
        drop(stdin_read.take());
        if let (Some((ours, theirs)), Some(c), Some(log)) =
            (tty_socket.take(), console, tty_log.take())
        {
            drop(theirs);
            tty_thread = Some(serve_tty(c.clone(), ours, log));
        }
        if let Some(p) = ports.as_deref_mut() {
            p.container_started(pid);
        }
        st.shim_pid = Some(std::process::id() as i32);
        let _ = st.started(&dir.path, pid);
        if !released {
            released = true;
            // Not joined: it must not hold up recording the exit.
            std::thread::spawn(release_startup_pages);
        }
    };
    let result = super::start_and_wait(dir, &spec, &rootfs, &limits, io, &mut on_start);
    if let Some(p) = ports {
        p.container_exited();
    }
    if let Some(o) = out.as_mut() {
        o.drain();
    }
    if let Some(t) = tty_thread {
        let _ = t.join();
    }
    if let Some(c) = console {
        c.end_run();
    }
    Ok(result)
}

/// The environment variable naming the pipe on which the command that
/// started the shim (`run -d`, `start`) reads the shim's events.
pub(crate) const RELAY_FD_ENV: &str = "GLASSBOX_SHIM_RELAY_FD";

/// Sends this shim's events — and, through it, the container init's — to
/// the command that started it, until the container's command runs.
fn relay_to_starter() {
    use std::os::fd::FromRawFd;
    let Some(fd) = std::env::var(RELAY_FD_ENV)
        .ok()
        .and_then(|v| v.parse::<i32>().ok())
    else {
        return;
    };
    std::env::remove_var(RELAY_FD_ENV);
    // SAFETY: fcntl only changes the descriptor's flags: close-on-exec, so
    // the container's command does not inherit the pipe.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } < 0 {
        return;
    }
    // SAFETY: the starter passed this descriptor to us for this purpose
    // alone; nothing else in this process owns it.
    let pipe = unsafe { std::fs::File::from_raw_fd(fd) };
    crate::trace::set_relay_until_started(crate::trace::relay::RelayWriter::new(pipe, None));
}

/// Gives back the memory the shim needed only to start the container
/// (argument parsing, the spec, the runtime), once the command that started
/// it has exited: from then on it only waits and copies the log, and the few
/// pages that needs fault back in from the page cache.
///
/// - Read-only file mappings with no private copies in them (`Anonymous: 0`
///   in `/proc/self/smaps`: code and read-only data of glassbox and its
///   shared libraries) are unmapped with `madvise(MADV_DONTNEED)`. For such
///   a mapping that loses nothing: every page is the file's own page, and
///   the next touch maps it again from the page cache. This also drops the
///   pages of libc that other processes keep in memory, which
///   `MADV_PAGEOUT` skips.
/// - Other read-only file mappings (relocated data) get `MADV_PAGEOUT`,
///   which reclaims only what can come back unchanged.
/// - `malloc_trim(0)` returns the heap's free pages.
///
/// Writable mappings (heap, stacks, .data) are never touched.
fn release_startup_pages() -> ! {
    let parent = nix::unistd::getppid();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while nix::unistd::getppid() == parent && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap_or_default();
    let mappings = clean_file_mappings(&smaps);
    let kib = |private: bool| -> u64 {
        mappings
            .iter()
            .filter(|m| (m.anonymous_kib > 0) == private)
            .map(|m| m.rss_kib)
            .sum()
    };
    // Told first: anything that runs after the release faults its code back
    // in (and the kernel maps up to 16 neighbouring pages with each fault).
    crate::trace::fact(
        crate::trace::Kind::Process,
        "release_pages",
        "shim startup memory",
    )
    .field("rss_kib", resident_kib())
    .field("unmap_kib", kib(false))
    .field("page_out_kib", kib(true))
    .syscall("madvise(MADV_DONTNEED), madvise(MADV_PAGEOUT), malloc_trim(3)")
    .info();
    drop(smaps);
    // SAFETY: malloc_trim only gives free heap memory back to the kernel.
    unsafe { libc::malloc_trim(0) };
    for m in &mappings {
        let advice = if m.anonymous_kib == 0 {
            libc::MADV_DONTNEED
        } else {
            libc::MADV_PAGEOUT
        };
        // SAFETY: the range is one of this process's own read-only,
        // file-backed mappings as the kernel lists it. With DONTNEED the
        // mapping has no private (copied-on-write) page, so every page is
        // mapped again unchanged from the file on its next touch; PAGEOUT
        // only reclaims pages that come back unchanged. No memory the
        // process relies on changes contents.
        unsafe { libc::madvise(m.start as *mut libc::c_void, m.end - m.start, advice) };
    }
    // This thread stays asleep until the shim exits: ending it would run
    // (and map back) the thread-exit code of Rust and libc just dropped.
    loop {
        // SAFETY: pause(2) only waits for a signal.
        unsafe { libc::pause() };
    }
}

/// `VmRSS` of this process in KiB (0 when /proc cannot say).
fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// One mapping of `/proc/self/smaps` that the shim may release.
#[derive(Debug, PartialEq)]
struct Mapping {
    start: usize,
    end: usize,
    rss_kib: u64,
    anonymous_kib: u64,
}

/// The resident, read-only, file-backed mappings listed in `smaps` text.
fn clean_file_mappings(smaps: &str) -> Vec<Mapping> {
    let mut out = Vec::new();
    let mut cur: Option<Mapping> = None;
    for line in smaps.lines() {
        let mut f = line.split_whitespace();
        let Some(first) = f.next() else { continue };
        if let Some((a, b)) = first.split_once('-') {
            if let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) {
                out.extend(cur.take().filter(|m| m.rss_kib > 0));
                let perms = f.next().unwrap_or("");
                let path = f.nth(3).unwrap_or("");
                // File-backed and not writable: code and read-only data.
                if path.starts_with('/') && perms.as_bytes().get(1) == Some(&b'-') {
                    cur = Some(Mapping {
                        start: a,
                        end: b,
                        rss_kib: 0,
                        anonymous_kib: 0,
                    });
                }
                continue;
            }
        }
        if let Some(m) = cur.as_mut() {
            let kib = || f.clone().next().and_then(|v| v.parse().ok()).unwrap_or(0);
            match first {
                "Rss:" => m.rss_kib = kib(),
                "Anonymous:" => m.anonymous_kib = kib(),
                _ => {}
            }
        }
    }
    out.extend(cur.filter(|m| m.rss_kib > 0));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_resident_read_only_file_mappings_and_their_private_pages() {
        let smaps = "\
55e7e97f3000-55e7ea126000 r-xp 0034a000 fe:01 123 /usr/bin/glassbox
Size:               9420 kB
Rss:                 268 kB
Anonymous:             0 kB
55e7ea126000-55e7ea195000 r--p 00c7c000 fe:01 123 /usr/bin/glassbox
Rss:                 444 kB
Anonymous:           444 kB
55e7ea195000-55e7ea198000 rw-p 00ce3000 fe:01 123 /usr/bin/glassbox
Rss:                  12 kB
Anonymous:            12 kB
55e7f52f7000-55e7f5367000 rw-p 00000000 00:00 0 [heap]
Rss:                 424 kB
Anonymous:           424 kB
7f32b6317000-7f32b646d000 r-xp 00026000 fe:01 77 /usr/lib/libc.so.6
Rss:                1060 kB
Anonymous:             0 kB
7f32b64d3000-7f32b64e3000 r--p 00000000 fe:01 78 /usr/lib/libm.so.6
Rss:                   0 kB
Anonymous:             0 kB
7f32b65e5000-7f32b65e7000 r-xp 00000000 00:00 0 [vdso]
Rss:                   4 kB
";
        let got = clean_file_mappings(smaps);
        assert_eq!(
            got,
            vec![
                Mapping {
                    start: 0x55e7e97f3000,
                    end: 0x55e7ea126000,
                    rss_kib: 268,
                    anonymous_kib: 0
                },
                Mapping {
                    start: 0x55e7ea126000,
                    end: 0x55e7ea195000,
                    rss_kib: 444,
                    anonymous_kib: 444
                },
                Mapping {
                    start: 0x7f32b6317000,
                    end: 0x7f32b646d000,
                    rss_kib: 1060,
                    anonymous_kib: 0
                },
            ]
        );
    }
}
