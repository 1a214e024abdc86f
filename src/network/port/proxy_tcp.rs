//! The TCP half of the userland proxy: one thread per published TCP port,
//! driven by epoll(7), carries every connection of that port.
//!
//! For each client the host socket accepts, the thread opens a connection
//! to the container (a non-blocking `connect(2)`), then moves bytes both
//! ways with `splice(2)` — socket → pipe → socket, kernel to kernel — as
//! far as each socket lets it without waiting, and asks epoll to wake it
//! when a socket can take or give more. No thread is started per
//! connection: on a machine with few CPUs, starting and scheduling two
//! threads for every connection is what made connections through the proxy
//! slow. A half-close (`shutdown(SHUT_WR)`) is passed on once the bytes
//! before it went through, so request/answer protocols work.

use super::proxy::Resolver;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

/// Bytes moved per splice(2) call (and the pipes' size).
const CHUNK: usize = 1 << 20;

/// How long a connection to the container may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// epoll tokens below this name the loop's own descriptors.
const STOP: u64 = 0;
const LISTEN: u64 = 1;
const WATCH: u64 = 2;
const FIRST_CONN: u64 = 3;

/// An epoll instance.
struct Epoll(OwnedFd);

impl Epoll {
    fn new() -> io::Result<Epoll> {
        // SAFETY: epoll_create1 only takes flags and returns a new
        // descriptor (or -1).
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned to us and is owned by nobody else.
        Ok(Epoll(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: token };
        // SAFETY: `ev` is a valid epoll_event alive across the call.
        if unsafe { libc::epoll_ctl(self.0.as_raw_fd(), op, fd, &mut ev) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn wait(&self, out: &mut [libc::epoll_event], timeout: Option<Duration>) -> io::Result<usize> {
        let ms = timeout.map(|d| d.as_millis().min(i32::MAX as u128) as i32 + 1);
        loop {
            // SAFETY: `out` is writable for `out.len()` events.
            let n = unsafe {
                libc::epoll_wait(
                    self.0.as_raw_fd(),
                    out.as_mut_ptr(),
                    out.len() as libc::c_int,
                    ms.unwrap_or(-1),
                )
            };
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

/// One direction of a connection: bytes read from one socket wait in a
/// pipe until the other socket takes them.
#[derive(Default)]
struct Flow {
    /// (read end, write end), made at the first byte.
    pipe: Option<(OwnedFd, OwnedFd)>,
    /// Bytes in the pipe.
    queued: usize,
    /// The source sent its end (read returned 0).
    ended: bool,
    /// The end was passed on (`shutdown(SHUT_WR)` of the destination).
    passed_on: bool,
}

/// What a flow needs before it can go on.
#[derive(Debug, PartialEq, Eq)]
enum Wait {
    /// The source to have bytes.
    Readable,
    /// The destination to take bytes.
    Writable,
    /// Nothing: this direction is finished.
    Done,
}

fn splice(from: RawFd, to: RawFd, len: usize) -> io::Result<usize> {
    loop {
        // SAFETY: both descriptors are open for the whole call; null
        // offsets are required for sockets and pipes.
        let n = unsafe {
            libc::splice(
                from,
                std::ptr::null_mut(),
                to,
                std::ptr::null_mut(),
                len,
                libc::SPLICE_F_NONBLOCK | libc::SPLICE_F_MOVE,
            )
        };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

impl Flow {
    /// Moves what it can from `from` to `to` without waiting.
    fn pump(&mut self, from: &TcpStream, to: &TcpStream) -> io::Result<Wait> {
        loop {
            if self.queued > 0 {
                let (r, _) = self.pipe.as_ref().expect("bytes are queued in the pipe");
                match splice(r.as_raw_fd(), to.as_raw_fd(), self.queued) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(m) => self.queued -= m,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Wait::Writable),
                    Err(e) => return Err(e),
                }
                continue;
            }
            if self.ended {
                if !self.passed_on {
                    // The source's end reaches the destination after its
                    // last byte: a client's shutdown(SHUT_WR) reaches the
                    // server while the answer still flows back.
                    let _ = to.shutdown(Shutdown::Write);
                    self.passed_on = true;
                }
                return Ok(Wait::Done);
            }
            if self.pipe.is_none() {
                let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
                // SAFETY: F_SETPIPE_SZ on a pipe we own; failure only
                // leaves the default size.
                unsafe { libc::fcntl(w.as_raw_fd(), libc::F_SETPIPE_SZ, CHUNK as libc::c_int) };
                self.pipe = Some((r, w));
            }
            let (_, w) = self.pipe.as_ref().expect("the pipe was just made");
            match splice(from.as_raw_fd(), w.as_raw_fd(), CHUNK) {
                Ok(0) => self.ended = true,
                Ok(n) => self.queued += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Wait::Readable),
                Err(e) => return Err(e),
            }
        }
    }
}

/// One proxied connection: the client's socket, the socket to the
/// container, and the bytes on their way each direction.
struct Conn {
    client: TcpStream,
    upstream: TcpStream,
    /// Until when the connection to the container may still be opening
    /// (`None` once it is open).
    connecting: Option<Instant>,
    /// client → container.
    up: Flow,
    /// container → client.
    down: Flow,
}

/// What to do with a connection after its sockets were served.
enum Outcome {
    Open,
    Close,
}

impl Conn {
    /// Moves what can move, both ways, until each way has to wait. The
    /// sockets are registered edge-triggered for reading and writing, so
    /// the next change on either wakes the loop again — and a socket that
    /// stays hung up or full does not wake it over and over.
    fn serve(&mut self) -> Outcome {
        if let Some(deadline) = self.connecting {
            match self.upstream.take_error() {
                Ok(None) if connected(&self.upstream) => {
                    self.connecting = None;
                    let _ = self.client.set_nodelay(true);
                    let _ = self.upstream.set_nodelay(true);
                }
                // Refused or unreachable: nobody listens in the container.
                // The client sees its connection close, as with Docker's
                // proxy.
                Ok(Some(_)) | Err(_) => return Outcome::Close,
                Ok(None) if Instant::now() >= deadline => return Outcome::Close,
                // Still opening; the client's bytes wait in its socket.
                Ok(None) => return Outcome::Open,
            }
        }
        let up = self.up.pump(&self.client, &self.upstream);
        let down = self.down.pump(&self.upstream, &self.client);
        match (up, down) {
            (Ok(Wait::Done), Ok(Wait::Done)) => Outcome::Close,
            (Ok(_), Ok(_)) => Outcome::Open,
            _ => {
                // A reset or other error on either side ends both.
                let _ = self.client.shutdown(Shutdown::Both);
                let _ = self.upstream.shutdown(Shutdown::Both);
                Outcome::Close
            }
        }
    }

    /// The container's address is gone: the client's end is closed, and
    /// the connection to the old address is reset when it closes
    /// (SO_LINGER 0) rather than left retrying its FIN to an address that
    /// no longer answers.
    fn abandon(&self) {
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: `linger` is a valid struct of the size passed, alive
        // across the call; the descriptor is open.
        unsafe {
            libc::setsockopt(
                self.upstream.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        let _ = self.client.shutdown(Shutdown::Both);
    }
}

/// Whether a socket whose non-blocking connect was under way is connected.
fn connected(s: &TcpStream) -> bool {
    s.peer_addr().is_ok()
}

/// The congestion control of the proxy's connections to the container.
///
/// That connection never leaves the machine: it crosses the bridge to a
/// container one hop away, with no loss and a round trip of microseconds.
/// A host may default to a pacing algorithm (bbr), chosen for the clients
/// it serves over real networks; paced, every burst to the container waits
/// for a kernel timer, and on a 2-vCPU host that cost a quarter of the
/// proxy's throughput (benches/README.md, `net_proxy`). The client's
/// connection keeps the host's choice: a client may be anywhere.
pub(super) const TO_CONTAINER_CC: &str = "cubic";

/// Whether this kernel lets the proxy pick [`TO_CONTAINER_CC`] for its
/// connections to the container (a throwaway socket is asked).
pub(super) fn container_cc_available() -> bool {
    use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
    socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .is_ok_and(|fd| set_cc(&fd).is_ok())
}

fn set_cc(fd: &OwnedFd) -> nix::Result<()> {
    use nix::sys::socket::{setsockopt, sockopt};
    setsockopt(
        fd,
        sockopt::TcpCongestion,
        &std::ffi::OsString::from(TO_CONTAINER_CC),
    )
}

/// Starts a non-blocking connection to `to`, with the congestion control
/// meant for the leg to the container (or the host's, if the kernel has
/// no other).
fn connect_nonblocking(to: SocketAddr) -> io::Result<TcpStream> {
    use nix::sys::socket::{connect, socket, AddressFamily, SockFlag, SockType, SockaddrStorage};
    let family = if to.is_ipv6() {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    let fd = socket(
        family,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )?;
    let _ = set_cc(&fd);
    match connect(fd.as_raw_fd(), &SockaddrStorage::from(to)) {
        Ok(()) | Err(nix::errno::Errno::EINPROGRESS) => Ok(TcpStream::from(fd)),
        Err(e) => Err(e.into()),
    }
}

/// The connections of one listener, in slots whose index is their token.
#[derive(Default)]
struct Conns {
    slots: Vec<Option<Conn>>,
    free: Vec<usize>,
}

impl Conns {
    fn insert(&mut self, c: Conn) -> usize {
        match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(c);
                i
            }
            None => {
                self.slots.push(Some(c));
                self.slots.len() - 1
            }
        }
    }

    fn remove(&mut self, ep: &Epoll, i: usize) {
        if let Some(c) = self.slots.get_mut(i).and_then(Option::take) {
            let _ = ep.ctl(libc::EPOLL_CTL_DEL, c.client.as_raw_fd(), 0, 0);
            let _ = ep.ctl(libc::EPOLL_CTL_DEL, c.upstream.as_raw_fd(), 0, 0);
            self.free.push(i);
        }
    }

    fn live(&self) -> impl Iterator<Item = (usize, &Conn)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.as_ref().map(|c| (i, c)))
    }
}

/// Accepts a client and starts its connection to the container.
fn open(ep: &Epoll, conns: &mut Conns, client: TcpStream, to: SocketAddr) {
    if client.set_nonblocking(true).is_err() {
        return;
    }
    let Ok(upstream) = connect_nonblocking(to) else {
        return;
    };
    let c = Conn {
        client,
        upstream,
        connecting: Some(Instant::now() + CONNECT_TIMEOUT),
        up: Flow::default(),
        down: Flow::default(),
    };
    let (cfd, ufd) = (c.client.as_raw_fd(), c.upstream.as_raw_fd());
    let i = conns.insert(c);
    let token = FIRST_CONN + i as u64 * 2;
    // Edge-triggered: woken once per change (bytes arrived, room to
    // write, the connection to the container opened, a hang-up), and
    // every wake-up moves bytes until a socket says EAGAIN.
    let both = (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32;
    if ep.ctl(libc::EPOLL_CTL_ADD, cfd, both, token).is_err()
        || ep.ctl(libc::EPOLL_CTL_ADD, ufd, both, token + 1).is_err()
    {
        conns.remove(ep, i);
    }
}

/// Serves the listener `l` until `stop` is readable (or hung up).
pub(super) fn serve(l: TcpListener, mut target: Resolver, stop: OwnedFd) {
    let Ok(ep) = Epoll::new() else { return };
    let _ = l.set_nonblocking(true);
    let mut setup = vec![(stop.as_raw_fd(), STOP), (l.as_raw_fd(), LISTEN)];
    setup.extend(target.fd().map(|fd| (fd, WATCH)));
    for (fd, token) in setup {
        if ep
            .ctl(libc::EPOLL_CTL_ADD, fd, libc::EPOLLIN as u32, token)
            .is_err()
        {
            return;
        }
    }
    let mut conns = Conns::default();
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 64];
    'serve: loop {
        // Wake up in time to give up on connections still opening.
        let timeout = conns
            .live()
            .filter_map(|(_, c)| c.connecting)
            .min()
            .map(|d| d.saturating_duration_since(Instant::now()));
        let Ok(n) = ep.wait(&mut events, timeout) else {
            break;
        };
        let mut touched: Vec<usize> = Vec::new();
        for ev in &events[..n] {
            match ev.u64 {
                STOP => break 'serve,
                // A change of address: connections to the old one cannot
                // reach it any more.
                WATCH => {
                    if target.refresh() {
                        let gone: Vec<usize> = conns.live().map(|(i, _)| i).collect();
                        for i in gone {
                            if let Some(c) = &conns.slots[i] {
                                c.abandon();
                            }
                            conns.remove(&ep, i);
                        }
                    }
                }
                LISTEN => {}
                t => touched.push(((t - FIRST_CONN) / 2) as usize),
            }
        }
        // Accept after any change of address: the connections that came
        // with it go to the new one.
        if events[..n].iter().any(|e| e.u64 == LISTEN) {
            loop {
                match l.accept() {
                    // No address to forward to: the client sees its
                    // connection closed at once.
                    Ok((client, _)) => match target.current {
                        Some(to) => open(&ep, &mut conns, client, to),
                        None => drop(client),
                    },
                    // A client that gave up while queued: take the next.
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                        ) =>
                    {
                        continue
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    // EMFILE, ENOBUFS, ...: the client stays queued and the
                    // listener stays readable; pause rather than spin.
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(50));
                        break;
                    }
                }
            }
        }
        // Connections whose opening timed out get served (and closed) too.
        let now = Instant::now();
        touched.extend(
            conns
                .live()
                .filter(|(_, c)| c.connecting.is_some_and(|d| d <= now))
                .map(|(i, _)| i),
        );
        touched.sort_unstable();
        touched.dedup();
        for i in touched {
            let outcome = match conns.slots.get_mut(i).and_then(Option::as_mut) {
                Some(c) => c.serve(),
                None => continue,
            };
            if let Outcome::Close = outcome {
                conns.remove(&ep, i);
            }
        }
    }
    // Stopping: every connection ends with the proxy.
    for c in conns.slots.iter().flatten() {
        let _ = c.client.shutdown(Shutdown::Both);
        let _ = c.upstream.shutdown(Shutdown::Both);
    }
}
