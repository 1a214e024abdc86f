//! The userland proxy: what `-p` does by default, as Docker's `docker-proxy`
//! does. The container's supervisor holds the host socket; every TCP
//! connection accepted there is answered by a new connection to the
//! container's address, and the bytes are copied both ways with splice(2)
//! (kernel to kernel through a pipe, never through user memory; see
//! `proxy_tcp.rs`). Every UDP client address gets its own flow: a
//! socket connected to the container, forgotten after a while without
//! traffic.
//!
//! Threads: one per listener, whatever the number of connections. The proxy must only
//! start after the container's clone (a multi-threaded parent must not
//! clone), and [`Proxy::stop`] ends and joins every thread it started, so no
//! proxy outlives its container.
//!
//! The container's address is not fixed: `network disconnect` takes it
//! away and `network connect` gives it another. Each listener thread
//! watches the container's `state.json` with inotify(7) ([`Target`]); when
//! the address changes it forwards new connections to the new one and ends
//! the connections (and UDP flows) to the old one, and while the container
//! has no address it closes every new connection at once.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a UDP flow lives without traffic (Docker uses 90 s).
pub const UDP_IDLE: Duration = Duration::from_secs(90);

/// A bound host socket of a published port.
#[derive(Debug)]
pub enum Listener {
    /// A listening TCP socket.
    Tcp(TcpListener),
    /// A bound UDP socket.
    Udp(UdpSocket),
}

impl Listener {
    /// Another handle on the same socket (dup(2)).
    pub fn try_clone(&self) -> io::Result<Listener> {
        Ok(match self {
            Listener::Tcp(l) => Listener::Tcp(l.try_clone()?),
            Listener::Udp(u) => Listener::Udp(u.try_clone()?),
        })
    }

    /// The address it is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Listener::Tcp(l) => l.local_addr(),
            Listener::Udp(u) => u.local_addr(),
        }
    }
}

/// A running proxy for some listeners; stops (and joins its threads) on
/// [`Proxy::stop`] or drop.
pub struct Proxy {
    stop_w: Option<OwnedFd>,
    threads: Vec<JoinHandle<()>>,
}

/// What one proxy thread forwards: a host socket and the container address.
pub struct Route {
    /// The host socket (a clone; the caller keeps its own).
    pub listener: Listener,
    /// Where its connections go.
    pub target: Target,
}

/// Where a route forwards to.
#[derive(Debug, Clone)]
pub enum Target {
    /// Always this address.
    Fixed(SocketAddr),
    /// `port` at the container's address on its first network, read from
    /// the container's state in `dir` — again whenever the state changes.
    Container {
        /// The container's directory (holding `state.json`).
        dir: PathBuf,
        /// The container's port.
        port: u16,
    },
}

impl Target {
    /// The address now, if the container has one.
    pub fn resolve(&self) -> Option<SocketAddr> {
        match self {
            Target::Fixed(a) => Some(*a),
            Target::Container { dir, port } => {
                super::endpoint(dir).map(|(ip, _)| SocketAddr::new(ip.into(), *port))
            }
        }
    }
}

/// A listener thread's view of its target: the address it forwards to now,
/// and (for a container) an inotify watch on the container's directory
/// that becomes readable when `state.json` is replaced.
pub(super) struct Resolver {
    target: Target,
    watch: Option<OwnedFd>,
    /// The address new connections go to (none: they are closed).
    pub(super) current: Option<SocketAddr>,
}

/// The file whose replacement means "read the address again".
const STATE_FILE: &[u8] = b"state.json";

impl Resolver {
    fn new(target: Target) -> Resolver {
        let watch = match &target {
            Target::Fixed(_) => None,
            // Without a watch the proxy keeps the address it started with,
            // as it did before it could follow.
            Target::Container { dir, .. } => watch_dir(dir).ok(),
        };
        // Watch first, then read: a change in between is not lost.
        let current = target.resolve();
        Resolver {
            target,
            watch,
            current,
        }
    }

    /// The inotify descriptor to wait on, if the address can change.
    pub(super) fn fd(&self) -> Option<RawFd> {
        self.watch.as_ref().map(|w| w.as_raw_fd())
    }

    /// Reads the pending notifications; when `state.json` was replaced,
    /// resolves the address again. Returns whether it changed.
    pub(super) fn refresh(&mut self) -> bool {
        let Some(w) = &self.watch else { return false };
        if !drain_watch(w) {
            return false;
        }
        let now = self.target.resolve();
        let changed = now != self.current;
        self.current = now;
        changed
    }
}

/// An inotify instance watching `dir` for files renamed into it (how the
/// state is saved: written aside, then renamed over `state.json`).
fn watch_dir(dir: &Path) -> io::Result<OwnedFd> {
    use std::os::unix::ffi::OsStrExt;
    // SAFETY: inotify_init1 only takes flags and returns a new descriptor
    // (or -1).
    let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned to us and is owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: `path` is a NUL-terminated string alive across the call.
    let wd = unsafe { libc::inotify_add_watch(fd.as_raw_fd(), path.as_ptr(), libc::IN_MOVED_TO) };
    if wd < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// Reads every pending inotify event; whether one named `state.json`.
fn drain_watch(fd: &OwnedFd) -> bool {
    // inotify_event structs, each a 16-byte header and a padded name;
    // u32 storage keeps the headers aligned.
    let mut buf = [0u32; 1024];
    let mut hit = false;
    loop {
        // SAFETY: `buf` is writable for its whole size during the call.
        let n = unsafe {
            libc::read(
                fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                std::mem::size_of_val(&buf),
            )
        };
        if n <= 0 {
            return hit;
        }
        // SAFETY: the kernel wrote `n` bytes into `buf`; viewing them as
        // bytes is always valid.
        let bytes = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n as usize) };
        let mut at = 0;
        while at + 16 <= bytes.len() {
            let len = u32::from_ne_bytes([
                bytes[at + 12],
                bytes[at + 13],
                bytes[at + 14],
                bytes[at + 15],
            ]) as usize;
            let name = &bytes[(at + 16).min(bytes.len())..(at + 16 + len).min(bytes.len())];
            let name = name.split(|&c| c == 0).next().unwrap_or_default();
            hit |= name == STATE_FILE;
            at += 16 + len;
        }
    }
}

impl Proxy {
    /// Starts one thread per route. Call only after the container's clone.
    pub fn start(routes: Vec<Route>, udp_idle: Duration) -> io::Result<Proxy> {
        let (stop_r, stop_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        let mut threads = Vec::new();
        for r in routes {
            let stop = stop_r.try_clone()?;
            // `ps -T` shows it as the host port it serves (a thread's
            // name is cut at 15 bytes).
            let name = format!(
                "proxy :{}",
                r.listener.local_addr().map(|a| a.port()).unwrap_or(0)
            );
            let target = Resolver::new(r.target);
            // The listener was bound in the host's network namespace; the
            // thread's own sockets to the container are opened where the
            // container's bridge is (rootless: the keeper's namespace).
            let t = match r.listener {
                Listener::Tcp(l) => std::thread::Builder::new().name(name).spawn(move || {
                    if crate::rootless::enter_engine_netns_on_this_thread().is_ok() {
                        super::proxy_tcp::serve(l, target, stop)
                    }
                })?,
                Listener::Udp(u) => std::thread::Builder::new().name(name).spawn(move || {
                    if crate::rootless::enter_engine_netns_on_this_thread().is_ok() {
                        udp_loop(u, target, stop, udp_idle)
                    }
                })?,
            };
            threads.push(t);
        }
        Ok(Proxy {
            stop_w: Some(stop_w),
            threads,
        })
    }

    /// Stops accepting, ends every connection and flow, joins every thread.
    pub fn stop(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        // Closing the write end wakes every poll on the read end (POLLHUP).
        drop(self.stop_w.take());
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// Waits until one of `fds` is readable (or hung up); returns which.
/// `None` on timeout.
fn wait_readable(fds: &[RawFd], timeout: Option<Duration>) -> io::Result<Vec<bool>> {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ms = timeout
        .map(|d| d.as_millis().min(i32::MAX as u128) as i32)
        .unwrap_or(-1);
    loop {
        // SAFETY: `p` is a valid array of `p.len()` pollfd structs that
        // lives across the call.
        let n = unsafe { libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        return Ok(p.iter().map(|x| x.revents != 0).collect());
    }
}

/// One UDP client's flow: a socket connected to the container.
struct Flow {
    sock: UdpSocket,
    last: Instant,
}

fn udp_loop(l: UdpSocket, mut target: Resolver, stop: OwnedFd, idle: Duration) {
    let _ = l.set_nonblocking(true);
    let mut flows: HashMap<SocketAddr, Flow> = HashMap::new();
    let mut buf = vec![0u8; 65536];
    let tick = idle.min(Duration::from_secs(1));
    // The first descriptors polled: stop, the host socket, the watch (-1
    // when there is none: poll(2) skips negative descriptors).
    let watch = target.fd().unwrap_or(-1);
    loop {
        let clients: Vec<SocketAddr> = flows.keys().copied().collect();
        let mut fds = vec![stop.as_raw_fd(), l.as_raw_fd(), watch];
        fds.extend(clients.iter().map(|c| flows[c].sock.as_raw_fd()));
        let ready = match wait_readable(&fds, Some(tick)) {
            Ok(r) => r,
            Err(_) => break,
        };
        if ready[0] {
            break;
        }
        if ready[2] && target.refresh() {
            // The flows are connected to the old address.
            flows.clear();
            continue;
        }
        let now = Instant::now();
        if ready[1] {
            loop {
                let (n, client) = match l.recv_from(&mut buf) {
                    Ok(x) => x,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                };
                let Some(to) = target.current else {
                    // No address to forward to: the datagram is dropped.
                    continue;
                };
                let f = match flows.entry(client) {
                    std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                    std::collections::hash_map::Entry::Vacant(v) => match new_flow(to) {
                        Ok(sock) => v.insert(Flow { sock, last: now }),
                        Err(_) => continue,
                    },
                };
                let _ = f.sock.send(&buf[..n]);
                f.last = now;
            }
        }
        for (i, client) in clients.iter().enumerate() {
            if !ready[i + 3] {
                continue;
            }
            let Some(f) = flows.get_mut(client) else {
                continue;
            };
            loop {
                match f.sock.recv(&mut buf) {
                    Ok(n) => {
                        let _ = l.send_to(&buf[..n], client);
                        f.last = now;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    // WouldBlock, or ECONNREFUSED from an ICMP port
                    // unreachable: nothing more to read now.
                    Err(_) => break,
                }
            }
        }
        flows.retain(|_, f| now.duration_since(f.last) < idle);
    }
}

fn new_flow(target: SocketAddr) -> io::Result<UdpSocket> {
    let any: SocketAddr = if target.is_ipv4() {
        "0.0.0.0:0".parse().expect("address")
    } else {
        "[::]:0".parse().expect("address")
    };
    let s = UdpSocket::bind(any)?;
    s.connect(target)?;
    s.set_nonblocking(true)?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpStream};
    use std::time::Instant;

    fn tcp_route(target: SocketAddr) -> (Route, SocketAddr) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = l.local_addr().unwrap();
        (
            Route {
                listener: Listener::Tcp(l),
                target: Target::Fixed(target),
            },
            a,
        )
    }

    #[test]
    fn tcp_bytes_flow_both_ways_and_half_close_reaches_the_server() {
        // A server that reads until EOF, then answers with what it counted.
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let target = server.local_addr().unwrap();
        let srv = std::thread::spawn(move || {
            let (mut s, _) = server.accept().unwrap();
            let mut all = Vec::new();
            s.read_to_end(&mut all).unwrap();
            s.write_all(format!("got {} bytes", all.len()).as_bytes())
                .unwrap();
        });
        let (route, front) = tcp_route(target);
        let proxy = Proxy::start(vec![route], UDP_IDLE).unwrap();
        let mut c = TcpStream::connect(front).unwrap();
        let payload = vec![7u8; 3 << 20];
        c.write_all(&payload).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let mut answer = String::new();
        c.read_to_string(&mut answer).unwrap();
        assert_eq!(answer, format!("got {} bytes", 3 << 20));
        srv.join().unwrap();
        proxy.stop();
    }

    #[test]
    fn many_connections_at_once_each_get_their_own_bytes_back() {
        // An echo server: every connection gets its bytes back until EOF.
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let target = server.local_addr().unwrap();
        std::thread::spawn(move || {
            for s in server.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut r = s.try_clone().unwrap();
                    let mut w = s;
                    let _ = std::io::copy(&mut r, &mut w);
                    let _ = w.shutdown(Shutdown::Write);
                });
            }
        });
        let (route, front) = tcp_route(target);
        let proxy = Proxy::start(vec![route], UDP_IDLE).unwrap();
        let clients: Vec<_> = (0..20u8)
            .map(|i| {
                std::thread::spawn(move || {
                    let payload: Vec<u8> = (0..(300 << 10) as u32)
                        .map(|n| (n % 251) as u8 ^ i)
                        .collect();
                    let c = TcpStream::connect(front).unwrap();
                    let mut r = c.try_clone().unwrap();
                    // Read while writing: the echo fills both ways at once.
                    let reader = std::thread::spawn(move || {
                        let mut back = Vec::new();
                        r.read_to_end(&mut back).unwrap();
                        back
                    });
                    let mut w = c;
                    w.write_all(&payload).unwrap();
                    w.shutdown(Shutdown::Write).unwrap();
                    assert!(
                        reader.join().unwrap() == payload,
                        "client {i} got its bytes"
                    );
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
        proxy.stop();
    }

    /// CPU ticks used so far by this process's proxy threads of host
    /// port `port` (other tests' proxies run in the same process).
    fn proxy_threads_ticks(port: u16) -> u64 {
        let mut total = 0;
        let mut found = false;
        for t in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
            let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
            if comm.trim() != format!("proxy :{port}") {
                continue;
            }
            found = true;
            let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
            let f: Vec<&str> = stat
                .rsplit_once(')')
                .map(|(_, r)| r.split_whitespace().collect())
                .unwrap_or_default();
            total += f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
        }
        assert!(found, "no thread named `proxy :{port}`");
        total
    }

    #[test]
    fn a_proxy_waiting_on_a_slow_client_uses_no_cpu() {
        // The server answers a little more than the proxy's pipe holds and
        // closes; the client reads nothing for a second: the proxy has
        // bytes it cannot pass on yet, and must sleep until it can.
        const ANSWER: usize = 1088 << 10;
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let target = server.local_addr().unwrap();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let (mut s, _) = server.accept().unwrap();
            let _ = s.write_all(&vec![1u8; ANSWER]);
            drop(s);
            let _ = done_tx.send(());
        });
        let (route, front) = tcp_route(target);
        let proxy = Proxy::start(vec![route], UDP_IDLE).unwrap();
        // A client with a small receive buffer: the proxy soon has to wait
        // for it, with the server's end (FIN) already in.
        use nix::sys::socket::{connect, setsockopt, socket, sockopt, SockaddrIn};
        let fd = socket(
            nix::sys::socket::AddressFamily::Inet,
            nix::sys::socket::SockType::Stream,
            nix::sys::socket::SockFlag::SOCK_CLOEXEC,
            None,
        )
        .unwrap();
        setsockopt(&fd, sockopt::RcvBuf, &4096).unwrap();
        let SocketAddr::V4(v4) = front else {
            unreachable!("an IPv4 route")
        };
        connect(fd.as_raw_fd(), &SockaddrIn::from(v4)).unwrap();
        let mut c = TcpStream::from(fd);
        c.shutdown(Shutdown::Write).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        // The server is done; only the client holds things up.
        done_rx.recv_timeout(Duration::from_secs(5)).unwrap();
        let before = proxy_threads_ticks(front.port());
        std::thread::sleep(Duration::from_secs(1));
        let spent = proxy_threads_ticks(front.port()) - before;
        // SAFETY: sysconf only reads a system constant.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
        assert!(
            spent * 10 < hz,
            "the proxy used {spent} ticks (of {hz}/s) while it could only wait"
        );
        let mut all = Vec::new();
        c.read_to_end(&mut all).unwrap();
        assert_eq!(all.len(), ANSWER, "every byte arrives in the end");
        proxy.stop();
    }

    #[test]
    fn stopping_ends_open_connections_and_frees_the_port() {
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let target = server.local_addr().unwrap();
        let (route, front) = tcp_route(target);
        let proxy = Proxy::start(vec![route], UDP_IDLE).unwrap();
        let mut c = TcpStream::connect(front).unwrap();
        let (_held, _) = server.accept().unwrap();
        c.write_all(b"x").unwrap();
        let began = Instant::now();
        proxy.stop();
        assert!(began.elapsed() < Duration::from_secs(2));
        c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut b = [0u8; 1];
        assert!(matches!(c.read(&mut b), Ok(0) | Err(_)));
        // The route's socket was the proxy's clone and is closed with it.
        assert!(TcpStream::connect(front).is_err());
    }

    #[test]
    fn a_closed_container_port_closes_the_client() {
        let gone = TcpListener::bind("127.0.0.1:0").unwrap();
        let target = gone.local_addr().unwrap();
        drop(gone);
        let (route, front) = tcp_route(target);
        let _proxy = Proxy::start(vec![route], UDP_IDLE).unwrap();
        let mut c = TcpStream::connect(front).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut b = [0u8; 1];
        assert!(matches!(c.read(&mut b), Ok(0) | Err(_)));
    }

    #[test]
    fn udp_flows_answer_each_client_and_expire() {
        let echo = UdpSocket::bind("127.0.0.1:0").unwrap();
        let target = echo.local_addr().unwrap();
        let e2 = echo.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut b = [0u8; 1500];
            while let Ok((n, from)) = e2.recv_from(&mut b) {
                let mut reply = b"echo:".to_vec();
                reply.extend_from_slice(&b[..n]);
                let _ = e2.send_to(&reply, from);
            }
        });
        let front_sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let front = front_sock.local_addr().unwrap();
        let proxy = Proxy::start(
            vec![Route {
                listener: Listener::Udp(front_sock),
                target: Target::Fixed(target),
            }],
            Duration::from_millis(300),
        )
        .unwrap();
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        for s in [&a, &b] {
            s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        }
        a.send_to(b"one", front).unwrap();
        b.send_to(b"two", front).unwrap();
        let mut buf = [0u8; 64];
        let (n, from) = a.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&b"echo:one"[..], front));
        let (n, _) = b.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"echo:two");
        // After the idle time a new datagram opens a new flow and still works.
        std::thread::sleep(Duration::from_millis(700));
        a.send_to(b"again", front).unwrap();
        let (n, _) = a.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"echo:again");
        proxy.stop();
        drop(echo);
    }

    /// Writes a container state whose first network gives `ip` (none:
    /// no network), the way the engine saves it: aside, then renamed.
    fn write_state(dir: &Path, ip: Option<&str>) {
        let networks: Vec<serde_json::Value> = ip
            .map(|ip| {
                serde_json::json!({
                    "network": "n", "network_id": "id", "bridge": "br", "ip": ip,
                    "prefix": 8, "gateway": null, "mac": "02:00:00:00:00:01",
                    "aliases": [], "links": [], "interface": "eth0", "host_veth": "v"
                })
            })
            .into_iter()
            .collect();
        let st = serde_json::json!({
            "id": "0123456789abcdef", "name": "c", "image": "i", "created": "now",
            "status": "running", "oom_killed": false, "auto_remove": false,
            "lowers": [], "networks": networks,
        });
        let tmp = dir.join("state.json.tmp");
        std::fs::write(&tmp, st.to_string()).unwrap();
        std::fs::rename(&tmp, dir.join("state.json")).unwrap();
    }

    /// A TCP server on `ip:port` that answers every connection with `name`.
    fn named_server(ip: &str, port: u16, name: &'static str) -> u16 {
        let l = TcpListener::bind((ip, port)).unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for mut s in l.incoming().flatten() {
                let _ = s.write_all(name.as_bytes());
            }
        });
        port
    }

    fn answer(front: SocketAddr) -> String {
        let mut c = TcpStream::connect(front).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut out = String::new();
        let _ = c.read_to_string(&mut out);
        out
    }

    #[test]
    fn a_container_target_follows_its_state() {
        let dir = tempfile::tempdir().unwrap();
        // Two "addresses" of the container: 127.0.0.2 and 127.0.0.3.
        let port = named_server("127.0.0.2", 0, "first");
        named_server("127.0.0.3", port, "second");
        let udp_a = UdpSocket::bind(("127.0.0.2", 0)).unwrap();
        let uport = udp_a.local_addr().unwrap().port();
        let udp_b = UdpSocket::bind(("127.0.0.3", uport)).unwrap();
        for (u, name) in [(udp_a, "first"), (udp_b, "second")] {
            std::thread::spawn(move || {
                let mut b = [0u8; 64];
                while let Ok((_, from)) = u.recv_from(&mut b) {
                    let _ = u.send_to(name.as_bytes(), from);
                }
            });
        }
        write_state(dir.path(), Some("127.0.0.2"));
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let front = tcp.local_addr().unwrap();
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let ufront = udp.local_addr().unwrap();
        let target = |port| Target::Container {
            dir: dir.path().to_path_buf(),
            port,
        };
        let proxy = Proxy::start(
            vec![
                Route {
                    listener: Listener::Tcp(tcp),
                    target: target(port),
                },
                Route {
                    listener: Listener::Udp(udp),
                    target: target(uport),
                },
            ],
            UDP_IDLE,
        )
        .unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let ask_udp = || {
            client.send_to(b"?", ufront).unwrap();
            let mut b = [0u8; 64];
            client
                .recv(&mut b)
                .ok()
                .map(|n| String::from_utf8_lossy(&b[..n]).into_owned())
        };
        assert_eq!(answer(front), "first");
        assert_eq!(ask_udp().as_deref(), Some("first"));

        // The container moved: new connections and the UDP flow follow.
        write_state(dir.path(), Some("127.0.0.3"));
        let deadline = Instant::now() + Duration::from_secs(3);
        while answer(front) != "second" {
            assert!(Instant::now() < deadline, "the TCP proxy never followed");
        }
        let mut got = None;
        while got.as_deref() != Some("second") {
            assert!(Instant::now() < deadline, "the UDP flow never followed");
            got = ask_udp();
        }

        // No address: TCP clients are closed at once, datagrams dropped.
        write_state(dir.path(), None);
        let deadline = Instant::now() + Duration::from_secs(3);
        while !answer(front).is_empty() {
            assert!(Instant::now() < deadline, "connections still forwarded");
        }
        // Whatever was in flight before the change may still come back.
        while ask_udp().is_some() {
            assert!(Instant::now() < deadline, "datagrams still forwarded");
        }
        proxy.stop();
    }
}
