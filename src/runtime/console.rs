//! The attach socket of a detached container that has a terminal (`-t`) or
//! an open stdin (`-i`): what `docker run -it` and `docker attach` talk to.
//!
//! The shim owns the container's stdio for as long as the container lives,
//! so it is the shim that listens, on `attach.sock` in the container's
//! directory. A client (the daemon, for a hijacked attach connection)
//! connects and sends one line:
//!
//! - `attach` or `attach stdin`: from then on it receives the container's
//!   output as it is written, each piece in docker's 8-byte frame (stream 1
//!   stdout, 2 stderr, then the length); with `stdin`, what it sends goes to
//!   the container's stdin — the pty master with `-t` (so Ctrl-C and Ctrl-D
//!   are bytes the line discipline acts on), else the write end of a pipe.
//!   When it shuts its sending side and the container is `StdinOnce`
//!   without a terminal, the pipe is closed: the container reads EOF. The
//!   connection ends when the container's command has exited and its output
//!   is sent.
//! - `resize ROWS COLS`: `TIOCSWINSZ` on the pty master (kept for the next
//!   start too); the answer is `ok` or `error: WHY`.
//!
//! The output also goes to the log as before, whoever is attached. A client
//! usually attaches *before* the container starts (docker run sends create,
//! attach, wait, start); it leaves `attach.pending` in the directory, and
//! the shim then holds back reading the container's output (the kernel's
//! pty or pipe buffer keeps it) until that client is connected, for at most
//! a few seconds, so the first prompt is not lost.

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// The socket's name in the container's directory.
pub const SOCKET: &str = "attach.sock";
/// The marker a client leaves when it attaches before the start.
pub const PENDING: &str = "attach.pending";
/// How long the output waits for a client that said it would attach.
const GATE: Duration = Duration::from_secs(5);
/// How long a write to an attached client may block before that client is
/// dropped (it stopped reading): the container must not stall for it.
const SLOW_CLIENT: Duration = Duration::from_secs(5);

/// A path naming `name` in `dir` that fits a unix socket address (108
/// bytes) however deep the store is: through `/proc/self/fd` of an
/// `O_PATH` descriptor of the directory, which must stay open while the
/// path is used.
fn short_path(dir: &Path) -> std::io::Result<(OwnedFd, PathBuf)> {
    use nix::fcntl::OFlag;
    let fd = nix::fcntl::open(
        dir,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    let p = PathBuf::from(format!("/proc/self/fd/{}/{SOCKET}", fd.as_raw_fd()));
    Ok((fd, p))
}

/// Whether a container with these settings gets an attach socket.
pub fn wanted(tty: bool, open_stdin: bool) -> bool {
    tty || open_stdin
}

/// The shim's side: the listener, the attached clients and where their
/// input goes.
pub(crate) struct Console {
    tty: bool,
    stdin_once: bool,
    subs: Mutex<Vec<UnixStream>>,
    io: Mutex<Io>,
    changed: Condvar,
}

#[derive(Default)]
struct Io {
    /// Where what clients send goes: the pty master or the stdin pipe.
    input: Option<Arc<OwnedFd>>,
    /// The pty master, for resizing.
    master: Option<Arc<OwnedFd>>,
    /// The last size asked for.
    size: Option<(u16, u16)>,
    /// This run's output may be read.
    gate_open: bool,
    /// A StdinOnce client closed its stdin during this run.
    stdin_closed: bool,
    /// This run ended (or none began yet after an end).
    over: bool,
}

/// What one start of the container gets from the console.
pub(crate) enum RunIo {
    /// A pty: the socket pair the init sends the master over.
    Tty {
        /// Ours, to receive the master.
        ours: OwnedFd,
        /// The init's.
        theirs: OwnedFd,
        /// The plan for the init.
        plan: super::tty::TtyPlan,
    },
    /// The read end of the stdin pipe, for the init.
    Pipe(OwnedFd),
}

/// Held for writing around the `clone(2)` of a container's init, and for
/// reading by the console's threads whenever they run code (rather than
/// wait in `accept` or `read`). A raw clone copies the memory of a
/// process whose other threads may be holding a lock at that instant (the
/// allocator's, above all) and the init, a copy of one thread, would wait
/// on it forever: this gate makes the clone happen only while every
/// console thread sits in a blocking call holding nothing.
pub(crate) static CLONE_GATE: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// A console thread's hold on [`CLONE_GATE`], let go around each
/// blocking call.
struct Gated(Option<std::sync::RwLockReadGuard<'static, ()>>);

impl Gated {
    fn new() -> Gated {
        Gated(Some(CLONE_GATE.read().unwrap_or_else(|e| e.into_inner())))
    }

    /// Runs the blocking call `f` without holding the gate.
    fn blocking<T>(&mut self, f: impl FnOnce() -> T) -> T {
        self.0 = None;
        let r = f();
        self.0 = Some(CLONE_GATE.read().unwrap_or_else(|e| e.into_inner()));
        r
    }
}

impl Console {
    /// Listens on the container's attach socket.
    pub(crate) fn serve(dir: &Path, tty: bool, stdin_once: bool) -> std::io::Result<Arc<Console>> {
        let (_dirfd, path) = short_path(dir)?;
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)?;
        // Whoever can connect can type into the container: its owner only.
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        }
        let c = Arc::new(Console {
            tty,
            stdin_once,
            subs: Mutex::new(Vec::new()),
            io: Mutex::new(Io::default()),
            changed: Condvar::new(),
        });
        let me = c.clone();
        std::thread::spawn(move || {
            let mut gate = Gated::new();
            while let Ok((s, _)) = gate.blocking(|| listener.accept()) {
                let me = me.clone();
                std::thread::spawn(move || {
                    let mut gate = Gated::new();
                    me.client(s, &mut gate)
                });
            }
        });
        Ok(c)
    }

    /// Before a start: the pty socket pair or the stdin pipe, and whether
    /// the output waits for a client that said it attaches.
    pub(crate) fn begin(&self, dir: &Path) -> crate::Result<RunIo> {
        let pending = std::fs::remove_file(dir.join(PENDING)).is_ok();
        let attached = self.subs.lock().map(|s| !s.is_empty()).unwrap_or(false);
        let mut io = self.io.lock().unwrap_or_else(|e| e.into_inner());
        io.gate_open = !pending || attached;
        io.over = false;
        if self.tty {
            let (rows, cols) = io.size.unwrap_or((0, 0));
            let (ours, theirs, plan) = super::tty::handoff(rows, cols)?;
            return Ok(RunIo::Tty { ours, theirs, plan });
        }
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| {
            super::RuntimeError::Kernel {
                what: "making the stdin pipe".into(),
                errno: e,
            }
        })?;
        // A StdinOnce client that already closed its stdin: EOF at once.
        io.input = (!io.stdin_closed).then(|| Arc::new(w));
        self.changed.notify_all();
        Ok(RunIo::Pipe(r))
    }

    /// The pty master arrived: input goes to it, the asked size is set.
    pub(crate) fn set_master(&self, master: Arc<OwnedFd>) {
        let mut io = self.io.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((rows, cols)) = io.size {
            let _ = super::tty::resize(master.as_fd(), rows, cols);
        }
        io.input = Some(master.clone());
        io.master = Some(master);
        self.changed.notify_all();
    }

    /// Waits (a few seconds at most) until a client that said it attaches
    /// is connected, so that it sees the output from the first byte.
    pub(crate) fn wait_gate(&self) {
        let io = self.io.lock().unwrap_or_else(|e| e.into_inner());
        let _ = self
            .changed
            .wait_timeout_while(io, GATE, |io| !io.gate_open);
    }

    /// Sends a piece of output (stream 1 stdout, 2 stderr) to every
    /// attached client; one that cannot take it is dropped.
    pub(crate) fn broadcast(&self, stream: u8, data: &[u8]) {
        let mut subs = self.subs.lock().unwrap_or_else(|e| e.into_inner());
        if subs.is_empty() {
            return;
        }
        let mut frame = Vec::with_capacity(8 + data.len());
        frame.extend_from_slice(&[stream, 0, 0, 0]);
        frame.extend_from_slice(&(data.len() as u32).to_be_bytes());
        frame.extend_from_slice(data);
        subs.retain_mut(|s| s.write_all(&frame).is_ok());
    }

    /// The container's command exited and its output is sent: attached
    /// clients are told (their connections end), input has nowhere to go.
    pub(crate) fn end_run(&self) {
        for s in self
            .subs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
        let mut io = self.io.lock().unwrap_or_else(|e| e.into_inner());
        io.input = None;
        io.master = None;
        io.stdin_closed = false;
        io.over = true;
        self.changed.notify_all();
    }

    fn client(&self, mut s: UnixStream, gate: &mut Gated) {
        let Some(line) = read_line(&mut s, gate) else {
            return;
        };
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["attach", rest @ ..] => {
                let Ok(out) = s.try_clone() else { return };
                let _ = out.set_write_timeout(Some(SLOW_CLIENT));
                self.subs
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(out);
                {
                    let mut io = self.io.lock().unwrap_or_else(|e| e.into_inner());
                    io.gate_open = true;
                    self.changed.notify_all();
                }
                if rest.contains(&"stdin") {
                    self.input_from(&mut s, gate);
                }
            }
            ["resize", rows, cols] => {
                let answer = match (rows.parse::<u16>(), cols.parse::<u16>()) {
                    (Ok(r), Ok(c)) => self.resize(r, c),
                    _ => Err(format!("bad size {rows}x{cols}")),
                };
                let _ = match answer {
                    Ok(()) => s.write_all(b"ok\n"),
                    Err(e) => s.write_all(format!("error: {e}\n").as_bytes()),
                };
            }
            _ => {
                let _ = s.write_all(b"error: say `attach [stdin]` or `resize ROWS COLS`\n");
            }
        }
    }

    fn resize(&self, rows: u16, cols: u16) -> Result<(), String> {
        if !self.tty {
            return Err("the container has no terminal (it was created without -t)".into());
        }
        let mut io = self.io.lock().unwrap_or_else(|e| e.into_inner());
        io.size = Some((rows, cols));
        match &io.master {
            Some(m) => super::tty::resize(m.as_fd(), rows, cols).map_err(|e| e.to_string()),
            None => Ok(()),
        }
    }

    /// Where input goes once the run has it; `None` when the run ended.
    fn input(&self) -> Option<Arc<OwnedFd>> {
        let mut io = self.io.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(i) = &io.input {
                return Some(i.clone());
            }
            if io.over || io.stdin_closed {
                return None;
            }
            io = self
                .changed
                .wait_timeout(io, Duration::from_millis(100))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn input_from(&self, s: &mut UnixStream, gate: &mut Gated) {
        let mut buf = [0u8; 4096];
        loop {
            let n = match gate.blocking(|| s.read(&mut buf)) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let Some(input) = gate.blocking(|| self.input()) else {
                break;
            };
            if !gate.blocking(|| super::shim::write_all_fd(&*input, &buf[..n])) {
                break;
            }
        }
        // The client closed its stdin. With a terminal that is no byte at
        // all (Ctrl-D is one, which the line discipline turns into EOF);
        // a StdinOnce pipe is closed, so the container reads EOF.
        if self.stdin_once && !self.tty {
            let mut io = self.io.lock().unwrap_or_else(|e| e.into_inner());
            io.stdin_closed = true;
            io.input = None;
            self.changed.notify_all();
        }
    }
}

/// One line (without its newline) of at most 128 bytes.
fn read_line(s: &mut UnixStream, gate: &mut Gated) -> Option<String> {
    let mut line = Vec::with_capacity(128);
    let mut b = [0u8; 1];
    while line.len() < 128 {
        match gate.blocking(|| s.read(&mut b)) {
            Ok(1) if b[0] == b'\n' => return String::from_utf8(line).ok(),
            Ok(1) => line.push(b[0]),
            _ => return None,
        }
    }
    None
}

/// The client's side: connects to the attach socket of the container in
/// `dir` and asks for its output (and, with `stdin`, to send its input).
pub fn connect(dir: &Path, stdin: bool) -> std::io::Result<UnixStream> {
    let (_dirfd, path) = short_path(dir)?;
    let mut s = UnixStream::connect(&path)?;
    s.write_all(if stdin {
        b"attach stdin\n"
    } else {
        b"attach\n"
    })?;
    Ok(s)
}

/// Says that a client will attach before the container's next start.
pub fn announce(dir: &Path) {
    let _ = std::fs::write(dir.join(PENDING), b"");
}

/// Reads one frame from an attach connection: the stream (1 stdout, 2
/// stderr) and its bytes; `None` at the end.
pub fn read_frame(r: &mut impl Read) -> std::io::Result<Option<(u8, Vec<u8>)>> {
    let mut head = [0u8; 8];
    match r.read_exact(&mut head) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as usize;
    let mut data = vec![0u8; len];
    r.read_exact(&mut data)?;
    Ok(Some((head[0], data)))
}

/// Asks the shim of the container in `dir` to set its pty's size.
pub fn resize(dir: &Path, rows: u16, cols: u16) -> Result<(), String> {
    let (_dirfd, path) = short_path(dir).map_err(|e| e.to_string())?;
    let mut s = UnixStream::connect(&path)
        .map_err(|e| format!("its shim does not answer on {SOCKET} ({e})"))?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    s.write_all(format!("resize {rows} {cols}\n").as_bytes())
        .map_err(|e| e.to_string())?;
    let answer = read_line(&mut s, &mut Gated(None)).unwrap_or_else(|| "error: no answer".into());
    match answer.strip_prefix("error: ") {
        None if answer == "ok" => Ok(()),
        None => Err(answer),
        Some(why) => Err(why.to_string()),
    }
}
