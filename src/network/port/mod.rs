//! Publishing container ports on the host (`-p`, `-P`): what the student
//! means by "port mapping", done two real ways.
//!
//! - **proxy** (the default, like Docker's `docker-proxy`): the container's
//!   supervisor binds the host port *before* the container starts (so a
//!   port in use fails the run before anything exists) and, once the
//!   container runs, copies every connection or datagram to the container's
//!   address ([`proxy`]).
//! - **nat** (`--port-driver nat`): nftables rewrites the destination of
//!   each packet (DNAT) in glassbox's own table ([`nat`]); the host port is
//!   still reserved by a bound socket, but nothing listens on it.
//!
//! The bindings live in the container's state ([`PortState`]); `inspect`,
//! `ps` and `glassbox port` read them back, and `explain port` ([`path`])
//! walks the live path of a packet.

pub mod nat;
pub mod path;
pub mod proxy;
mod proxy_tcp;
pub mod sink;
pub mod sockets;
pub mod spec;

pub use spec::{Binding, Proto};

use crate::trace::{self, Kind};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

/// Errors of port publishing.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// A `-p` argument Docker would refuse too.
    #[error("invalid port spec {spec:?}: {why}")]
    BadSpec {
        /// The argument.
        spec: String,
        /// What is wrong with it.
        why: String,
    },
    /// `--port-driver` is neither proxy nor nat.
    #[error("unknown port driver {0:?}; use --port-driver proxy (the default) or nat")]
    BadDriver(String),
    /// The host port is taken.
    #[error("host port {addr}/{proto} is already in use: {holder}")]
    InUse {
        /// `0.0.0.0:8080`.
        addr: String,
        /// tcp or udp.
        proto: &'static str,
        /// Who holds it and what to do.
        holder: String,
    },
    /// Binding failed for another reason.
    #[error("cannot bind host port {addr}/{proto}: {source}")]
    Bind {
        /// `0.0.0.0:8080`.
        addr: String,
        /// tcp or udp.
        proto: &'static str,
        /// The kernel's answer.
        #[source]
        source: std::io::Error,
    },
    /// Ports were published on a container without its own bridge address.
    #[error("ports cannot be published with --network {0}: the container has no address of its own to forward to; use the default bridge network")]
    NoNetwork(String),
    /// The running container has no address to forward to.
    #[error("container {0} has no address on a bridge network to forward its published ports to")]
    NoAddress(String),
    /// nft is missing.
    #[error("nft is not installed; install the nftables package (scripts/install-deps.sh) or use the default --port-driver proxy")]
    NftMissing,
    /// An nft command failed.
    #[error("{what} failed: {why}")]
    Nft {
        /// The command.
        what: String,
        /// Its error output.
        why: String,
    },
    /// No such published port (`glassbox port web 81`).
    #[error("no public port {port} published for {container}")]
    NotPublished {
        /// `81/tcp`.
        port: String,
        /// The container's name.
        container: String,
    },
    /// The student quit at a step-through pause.
    #[error(transparent)]
    Aborted(#[from] trace::Aborted),
}

/// How published ports reach the container.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    /// A userland proxy in the container's supervisor.
    #[default]
    Proxy,
    /// nftables DNAT rules.
    Nat,
}

impl Driver {
    /// Parses `proxy` / `nat`.
    pub fn parse(s: &str) -> Result<Driver, PortError> {
        match s {
            "proxy" | "userland-proxy" => Ok(Driver::Proxy),
            "nat" | "nftables" => Ok(Driver::Nat),
            other => Err(PortError::BadDriver(other.to_string())),
        }
    }

    /// `proxy` or `nat`.
    pub fn as_str(self) -> &'static str {
        match self {
            Driver::Proxy => "proxy",
            Driver::Nat => "nat",
        }
    }
}

/// What a container's state records about its ports.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PortState {
    /// The published ports (`-p`, `-P`), with the host port bound last.
    #[serde(default)]
    pub bindings: Vec<Binding>,
    /// How they are published.
    #[serde(default)]
    pub driver: Driver,
    /// The image's EXPOSEd ports (`80/tcp`).
    #[serde(default)]
    pub exposed: Vec<String>,
    /// `-P`: every exposed port was published.
    #[serde(default)]
    pub publish_all: bool,
}

impl PortState {
    /// The state for `-p SPECS` (and `-P` with the image's exposed ports).
    pub fn from_args(
        specs: &[String],
        publish_all: bool,
        exposed: Vec<String>,
        driver: &str,
    ) -> Result<PortState, PortError> {
        let mut bindings = Vec::new();
        for s in specs {
            bindings.extend(spec::parse(s)?);
        }
        if publish_all {
            for b in spec::publish_all(&exposed)? {
                if !bindings
                    .iter()
                    .any(|x| x.container_port == b.container_port && x.proto == b.proto)
                {
                    bindings.push(b);
                }
            }
        }
        let driver = Driver::parse(driver)?;
        if driver == Driver::Nat {
            if let Some(b) = bindings.iter().find(|b| b.host_ip.is_ipv6()) {
                return Err(PortError::BadSpec {
                    spec: b.display(),
                    why: "the nat driver writes IPv4 rules only (table ip glassbox); publish on an IPv4 address or use --port-driver proxy".into(),
                });
            }
        } else if host_has_ipv6() {
            // As Docker: no host address means every address, IPv6 too.
            let mut with_twins = Vec::with_capacity(bindings.len() * 2);
            for b in bindings {
                let twin = (b.host_ip == IpAddr::V4(Ipv4Addr::UNSPECIFIED)).then(|| b.twin());
                with_twins.push(b);
                with_twins.extend(twin);
            }
            bindings = with_twins;
        }
        Ok(PortState {
            bindings,
            driver,
            exposed,
            publish_all,
        })
    }
}

/// Whether this host has IPv6 at all (any address in `/proc/net/if_inet6`;
/// the file is missing when the kernel has none, and empty when it is
/// disabled).
pub fn host_has_ipv6() -> bool {
    std::fs::read_to_string("/proc/net/if_inet6").is_ok_and(|t| !t.trim().is_empty())
}

/// The host sockets of a container's published ports, held by its
/// supervisor: bound (and listening, for the proxy) before the container
/// starts, closed when the supervisor lets them go.
#[derive(Debug, Default)]
pub struct Held {
    /// One socket per binding, in binding order.
    sockets: Vec<OwnedFd>,
}

/// The environment variable that hands the sockets to the shim.
const FDS_ENV: &str = "GLASSBOX_PORT_FDS";

impl Held {
    /// The descriptor numbers (to keep open across the shim's exec).
    pub fn raw_fds(&self) -> Vec<RawFd> {
        self.sockets.iter().map(|s| s.as_raw_fd()).collect()
    }

    /// `(GLASSBOX_PORT_FDS, "5,6")` for the shim's environment.
    pub fn env(&self) -> (&'static str, String) {
        (
            FDS_ENV,
            self.raw_fds()
                .iter()
                .map(|f| f.to_string())
                .collect::<Vec<_>>()
                .join(","),
        )
    }

    /// Whether any socket is held.
    pub fn is_empty(&self) -> bool {
        self.sockets.is_empty()
    }

    /// The sockets the shim inherited from the command that started it
    /// (`GLASSBOX_PORT_FDS`), marked close-on-exec again so the container
    /// never sees them.
    pub fn inherited() -> Held {
        let Ok(v) = std::env::var(FDS_ENV) else {
            return Held::default();
        };
        // Nothing started from here (the container, exec'd helpers) needs it.
        std::env::remove_var(FDS_ENV);
        let sockets = v
            .split(',')
            .filter_map(|s| s.parse::<RawFd>().ok())
            .filter(|&fd| {
                // SAFETY: F_GETFD only queries the descriptor table.
                unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
            })
            .map(|fd| {
                // SAFETY: the parent passed this open socket to us alone;
                // F_SETFD only changes the descriptor's flags.
                unsafe {
                    libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
                    OwnedFd::from_raw_fd(fd)
                }
            })
            .collect();
        Held { sockets }
    }
}

/// Clears close-on-exec on `fds` (in the shim's pre-exec hook, so the
/// shim inherits the bound sockets).
pub fn keep_across_exec(fds: &[RawFd]) -> std::io::Result<()> {
    for &fd in fds {
        // SAFETY: fcntl is async-signal-safe and only changes fd flags.
        if unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

fn bind_one(addr: SocketAddr, proto: Proto, listen: bool) -> std::io::Result<OwnedFd> {
    use nix::sys::socket::{
        bind, setsockopt, socket, sockopt, AddressFamily, Backlog, SockFlag, SockType,
        SockaddrStorage,
    };
    let family = if addr.is_ipv6() {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    let kind = match proto {
        Proto::Tcp => SockType::Stream,
        Proto::Udp => SockType::Datagram,
    };
    let fd = socket(family, kind, SockFlag::SOCK_CLOEXEC, None)?;
    if addr.is_ipv6() {
        // `[::]` must not take the IPv4 port too: that is the 0.0.0.0
        // binding's, a socket of its own.
        setsockopt(&fd, sockopt::Ipv6V6Only, &true)?;
    }
    let listening = listen && proto == Proto::Tcp;
    if listening {
        // As any server: connections of the container's last life in
        // TIME_WAIT must not keep the port from being bound again. A
        // reservation (nat) sets nothing, so that it collides with any
        // other socket on the port, reserved or listening.
        setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    }
    bind(fd.as_raw_fd(), &SockaddrStorage::from(addr))?;
    if listening {
        nix::sys::socket::listen(&fd, Backlog::MAXCONN)?;
    }
    Ok(fd)
}

/// The port a bound socket got.
fn bound_port(fd: &OwnedFd) -> Option<u16> {
    let a: nix::sys::socket::SockaddrStorage =
        nix::sys::socket::getsockname(fd.as_raw_fd()).ok()?;
    a.as_sockaddr_in()
        .map(|a| a.port())
        .or_else(|| a.as_sockaddr_in6().map(|a| a.port()))
}

/// Binds the host side of every binding in `ports` (the proxy listens; nat
/// only reserves) and writes the ports got into the bindings. Nothing is
/// held when one fails: the error says who holds the port. An IPv6 twin
/// (`[::]` beside `0.0.0.0`) takes its sibling's port; on a host whose
/// kernel refuses IPv6 sockets it is dropped, and its event says so.
pub fn bind(root: &Path, ports: &mut PortState) -> Result<Held, PortError> {
    let mut held = Held::default();
    let listen = ports.driver == Driver::Proxy;
    if ports.driver == Driver::Nat
        && !ports.bindings.is_empty()
        && std::process::Command::new("nft")
            .arg("--version")
            .output()
            .is_err()
    {
        return Err(PortError::NftMissing);
    }
    let mut sibling_port: Option<u16> = None;
    let mut skipped = Vec::new();
    for (i, b) in ports.bindings.iter_mut().enumerate() {
        let twin_port = if b.ipv6_twin { sibling_port } else { None };
        let wanted = match twin_port {
            Some(p) => p.to_string(),
            None if b.host_port_spec.is_empty() => "any free port".to_string(),
            None => b.host_port_spec.clone(),
        };
        let mut s = trace::step(
            Kind::Port,
            "publish",
            format!("{}:{} -> {}", b.host_ip_text(), wanted, b.key()),
        )
        .field("host_ip", b.host_ip.to_string())
        .field("host_port", &wanted)
        .field("container_port", b.container_port)
        .field("proto", b.proto.as_str())
        .field("driver", ports.driver.as_str())
        .field("listen", listen)
        .syscall(
            match (listen && b.proto == Proto::Tcp, b.host_ip.is_ipv6()) {
                (true, false) => "socket(2), bind(2), listen(2)",
                (true, true) => "socket(2), setsockopt(IPV6_V6ONLY), bind(2), listen(2)",
                (false, false) => "socket(2), bind(2)",
                (false, true) => "socket(2), setsockopt(IPV6_V6ONLY), bind(2)",
            },
        );
        if b.ipv6_twin {
            s = s.field("ipv6_twin", true);
        }
        let mut s = s.announce()?;
        let candidates = match (twin_port, b.candidates()) {
            (Some(p), _) => vec![p],
            (None, c) if c.is_empty() => vec![0],
            (None, c) => c,
        };
        let mut last = None;
        let mut got = None;
        for p in candidates {
            match bind_one(SocketAddr::new(b.host_ip, p), b.proto, listen) {
                Ok(fd) => {
                    got = Some(fd);
                    break;
                }
                Err(e) => last = Some((p, e)),
            }
        }
        let no_ipv6 = |e: &std::io::Error| {
            matches!(
                e.raw_os_error(),
                Some(libc::EAFNOSUPPORT | libc::EADDRNOTAVAIL | libc::EPROTONOSUPPORT)
            )
        };
        let shown_port = |p: u16| {
            if p != 0 {
                p.to_string()
            } else {
                wanted.clone()
            }
        };
        let result = match (got, last) {
            (Some(fd), _) => Ok(fd),
            (None, Some((_, e))) if b.ipv6_twin && no_ipv6(&e) => {
                // The host has no usable IPv6: publish on IPv4 only.
                s.field("skipped", format!("this host refuses IPv6 sockets ({e})"));
                s.done();
                skipped.push(i);
                continue;
            }
            (None, Some((p, e))) if e.raw_os_error() == Some(libc::EADDRINUSE) => {
                Err(PortError::InUse {
                    addr: format!("{}:{}", b.host_ip_text(), shown_port(p)),
                    proto: b.proto.as_str(),
                    holder: who_holds(root, b.host_ip, p, b.proto),
                })
            }
            (None, Some((p, e))) => Err(PortError::Bind {
                addr: format!("{}:{p}", b.host_ip_text()),
                proto: b.proto.as_str(),
                source: e,
            }),
            (None, None) => unreachable!("at least one candidate port"),
        };
        match result {
            Ok(fd) => {
                let port = bound_port(&fd);
                b.host_port = port;
                if !b.ipv6_twin {
                    sibling_port = port;
                }
                let shown = port.map(|p| p.to_string()).unwrap_or_default();
                s.field("bound", format!("{}:{}", b.host_ip_text(), shown));
                s.field("fd", fd.as_raw_fd());
                held.sockets.push(fd);
                s.done();
            }
            Err(e) => {
                s.failed(&e);
                return Err(e);
            }
        }
    }
    // Held in binding order: a skipped twin has no socket, so it goes.
    for i in skipped.into_iter().rev() {
        ports.bindings.remove(i);
    }
    Ok(held)
}

/// Says who holds `port`: a glassbox container of this root that publishes
/// it, a glassbox supervisor of another root, or another process.
pub fn who_holds(root: &Path, ip: IpAddr, port: u16, proto: Proto) -> String {
    use crate::runtime::state::{self, Status};
    let overlaps = |a: IpAddr| {
        a.is_ipv6() == ip.is_ipv6() && (a.is_unspecified() || ip.is_unspecified() || a == ip)
    };
    if port != 0 {
        for (_, st) in state::all(root) {
            if !matches!(
                st.observed(),
                Status::Running | Status::Paused | Status::Restarting
            ) {
                continue;
            }
            if st
                .ports
                .bindings
                .iter()
                .any(|b| b.host_port == Some(port) && b.proto == proto && overlaps(b.host_ip))
            {
                return format!(
                    "the glassbox container {} ({}) publishes it; stop it with `glassbox stop {}` or choose another host port",
                    st.name,
                    &st.id[..12],
                    st.name
                );
            }
        }
    }
    let mut who = Vec::new();
    for e in sockets::table(proto, None) {
        // The tables show an IPv6 socket on `::` as 0.0.0.0; such a
        // socket (without IPV6_V6ONLY) holds the IPv4 port too.
        let local = if ip.is_ipv6() && e.v6 && e.local_ip.is_unspecified() {
            ip
        } else {
            IpAddr::V4(e.local_ip)
        };
        if e.local_port == port && port != 0 && overlaps(local) {
            who.extend(sockets::holders(e.inode));
        }
    }
    who.dedup_by_key(|h| h.pid);
    match who.first() {
        Some(h) if h.cmdline.contains("__shim") => format!(
            "a glassbox container's supervisor holds it (pid {}, `{}`), perhaps under another --root; choose another host port",
            h.pid, h.cmdline
        ),
        Some(h) => format!(
            "another process holds it (pid {}, {}); see it with `ss -lnp 'sport = :{port}'` and choose another host port",
            h.pid, h.comm
        ),
        None => format!(
            "another process holds it; see it with `ss -lnp 'sport = :{port}'` and choose another host port"
        ),
    }
}

/// The container's address on its (first) network and that network's
/// bridge, from the endpoints recorded in its state.
pub fn endpoint(dir: &Path) -> Option<(Ipv4Addr, String)> {
    let st = crate::runtime::state::State::load(dir).ok()?;
    let e = st.networks.first()?;
    Some((e.ip, e.bridge.clone()))
}

/// The supervisor's side of a container's published ports: it holds the
/// host sockets across restarts, starts the proxy (or installs the DNAT
/// rules) each time the container starts and takes them down each time it
/// ends — so nothing outlives the container.
pub struct Supervisor {
    dir: PathBuf,
    id: String,
    ports: PortState,
    held: Held,
    proxy: Option<proxy::Proxy>,
    nat_bridge: Option<String>,
}

impl Supervisor {
    /// A supervisor for the container in `dir` holding `held`; `None` when
    /// it publishes nothing.
    pub fn new(dir: &Path, held: Held) -> Option<Supervisor> {
        let st = crate::runtime::state::State::load(dir).ok()?;
        if st.ports.bindings.is_empty() {
            return None;
        }
        Some(Supervisor {
            dir: dir.to_path_buf(),
            id: st.id,
            ports: st.ports,
            held,
            proxy: None,
            nat_bridge: None,
        })
    }

    /// The container runs (called after its clone, so threads are fine):
    /// start forwarding to its address. The proxy follows the address
    /// when `network connect`/`disconnect` change it.
    pub fn container_started(&mut self, _pid: i32) {
        self.container_exited();
        let id12 = self.id[..12].to_string();
        let found = endpoint(&self.dir);
        match self.ports.driver {
            Driver::Proxy => {
                let ip = found.as_ref().map(|(ip, _)| ip.to_string());
                let mut routes = Vec::new();
                let mut shown = Vec::new();
                for (b, fd) in self.ports.bindings.iter().zip(&self.held.sockets) {
                    let Ok(fd) = fd.try_clone() else { continue };
                    let listener = match b.proto {
                        Proto::Tcp => proxy::Listener::Tcp(TcpListener::from(fd)),
                        Proto::Udp => proxy::Listener::Udp(UdpSocket::from(fd)),
                    };
                    shown.push(route_text(b, ip.as_deref()));
                    routes.push(proxy::Route {
                        listener,
                        target: proxy::Target::Container {
                            dir: self.dir.clone(),
                            port: b.container_port,
                        },
                    });
                }
                let first = self
                    .ports
                    .bindings
                    .first()
                    .and_then(|b| b.host_port)
                    .unwrap_or(0);
                let mut s = trace::step(Kind::Port, "proxy", format!("container {id12}"))
                    .field("routes", &shown)
                    .field("pid", std::process::id())
                    .field("container_ip", ip.clone().unwrap_or_default())
                    .field("udp_idle_s", proxy::UDP_IDLE.as_secs())
                    .equivalent(format!("ss -ltnp 'sport = :{first}'"))
                    .syscall(
                        "accept4(2), connect(2), splice(2), epoll_wait(2), inotify_add_watch(2)",
                    );
                if ip.is_none() {
                    s = s.field("no_address", PortError::NoAddress(id12.clone()).to_string());
                }
                if let Ok(s) = s.announce() {
                    match s.finish_with(proxy::Proxy::start(routes, proxy::UDP_IDLE)) {
                        Ok(p) => self.proxy = Some(p),
                        Err(_) => self.proxy = None,
                    }
                }
            }
            Driver::Nat => {
                let Some((ip, bridge)) = found else {
                    let err = PortError::NoAddress(id12.clone());
                    if let Ok(s) =
                        trace::step(Kind::Port, "dnat", format!("container {id12}")).announce()
                    {
                        s.failed(&err);
                    }
                    return;
                };
                // The command that started a detached container installed
                // the rules already, where its trace shows them.
                if nat::has_rules(&self.id)
                    || nat::install(&self.id, &self.ports.bindings, ip, &bridge).is_ok()
                {
                    self.nat_bridge = Some(bridge);
                } else {
                    let _ = nat::remove(&self.id, &bridge);
                }
            }
        }
    }

    /// The container ended: stop the proxy (joining its threads) or delete
    /// the DNAT rules. The host sockets stay held for a restart.
    pub fn container_exited(&mut self) {
        if let Some(p) = self.proxy.take() {
            let s = trace::cleanup(
                Kind::Port,
                "unpublish",
                format!("container {}", &self.id[..12]),
            )
            .field("driver", "proxy")
            .field(
                "ports",
                self.ports
                    .bindings
                    .iter()
                    .map(Binding::display)
                    .collect::<Vec<_>>(),
            )
            .announce();
            p.stop();
            if let Ok(s) = s {
                s.done();
            }
        }
        // `network connect`/`disconnect` may have moved the rules to
        // another bridge since they were installed.
        let bridge = endpoint(&self.dir)
            .map(|(_, b)| b)
            .or(self.nat_bridge.take());
        self.nat_bridge = None;
        if self.ports.driver == Driver::Nat {
            // Even when the container never started: its rules may have
            // been installed before its supervisor ran.
            let _ = nat::remove(&self.id, bridge.as_deref().unwrap_or_default());
        }
    }
}

/// Before a detached container's supervisor starts: with the nat driver,
/// install its DNAT rules now, so that they appear in the trace of the
/// command the student typed (the supervisor's own trace is off). The
/// supervisor removes them when the container ends.
pub fn before_supervisor(dir: &Path) -> Result<(), PortError> {
    let Ok(st) = crate::runtime::state::State::load(dir) else {
        return Ok(());
    };
    if st.ports.driver != Driver::Nat || st.ports.bindings.is_empty() {
        return Ok(());
    }
    let (ip, bridge) =
        endpoint(dir).ok_or_else(|| PortError::NoAddress(st.id[..12].to_string()))?;
    nat::install(&st.id, &st.ports.bindings, ip, &bridge).map(|_| ())
}

/// Once a detached container's supervisor reports the start: with the
/// proxy driver, say who forwards the ports now — the supervisor holds the
/// listening sockets (read back from the kernel's socket table).
pub fn after_supervisor(dir: &Path) {
    let Ok(st) = crate::runtime::state::State::load(dir) else {
        return;
    };
    if st.ports.driver != Driver::Proxy || st.ports.bindings.is_empty() {
        return;
    }
    let Some(shim) = st.shim_pid else { return };
    let ip = endpoint(dir).map(|(ip, _)| ip.to_string());
    let mut routes = Vec::new();
    let mut held_by_shim = true;
    for b in &st.ports.bindings {
        let Some(p) = b.host_port else { continue };
        routes.push(route_text(b, ip.as_deref()));
        let holders: Vec<i32> = sockets::table(b.proto, None)
            .iter()
            .filter(|e| e.local_port == p && e.is_listening(b.proto))
            .flat_map(|e| sockets::holders(e.inode))
            .map(|h| h.pid)
            .collect();
        held_by_shim &= holders.contains(&shim);
    }
    let first = st
        .ports
        .bindings
        .iter()
        .find_map(|b| b.host_port)
        .unwrap_or(0);
    trace::fact(Kind::Port, "proxy", format!("container {}", &st.id[..12]))
        .field("routes", routes)
        .field("pid", shim)
        .field("container_ip", ip.unwrap_or_default())
        .field("udp_idle_s", proxy::UDP_IDLE.as_secs())
        .field("held_by_supervisor", held_by_shim)
        .equivalent(format!("ss -ltnp 'sport = :{first}'"))
        .syscall("accept4(2), connect(2), splice(2), epoll_wait(2), inotify_add_watch(2)")
        .info();
}

/// `0.0.0.0:8080/tcp -> 10.66.0.2:80` (or `-> no address:80`).
fn route_text(b: &Binding, ip: Option<&str>) -> String {
    format!(
        "{}:{}/{} -> {}:{}",
        b.host_ip_text(),
        b.host_port.unwrap_or(0),
        b.proto.as_str(),
        ip.unwrap_or("no address"),
        b.container_port
    )
}

/// After `network connect` or `disconnect` changed a container's networks
/// (`why` says which): its published ports now lead to its address on its
/// first network, or nowhere. A running proxy notices by itself (it
/// watches the container's state); DNAT rules are written again here.
/// Either way this command's trace says where the ports lead now.
pub fn follow_network_change(dir: &Path, why: &str) {
    let Ok(st) = crate::runtime::state::State::load(dir) else {
        return;
    };
    if st.ports.bindings.is_empty() || !is_live(&st) {
        return;
    }
    let id12 = st.id[..12].to_string();
    let found = endpoint(dir);
    let ip = found.as_ref().map(|(ip, _)| ip.to_string());
    let mut f = trace::fact(Kind::Port, "retarget", format!("container {id12}"))
        .field("container", &st.name)
        .field("why", why)
        .field("driver", st.ports.driver.as_str())
        .field(
            "routes",
            st.ports
                .bindings
                .iter()
                .filter(|b| b.host_port.is_some())
                .map(|b| route_text(b, ip.as_deref()))
                .collect::<Vec<_>>(),
        )
        .field("container_ip", ip.clone().unwrap_or_default())
        .field(
            "network",
            st.networks
                .first()
                .map(|e| e.network.clone())
                .unwrap_or_default(),
        );
    if ip.is_none() {
        f = f.field(
            "no_address",
            format!(
                "{}; connections to its published ports are closed until it is connected to one (`glassbox network connect bridge {}`)",
                PortError::NoAddress(st.name.clone()),
                st.name
            ),
        );
    }
    match st.ports.driver {
        Driver::Proxy => {
            f = f
                .field("pid", st.shim_pid.unwrap_or(0))
                .equivalent(format!(
                    "ss -tnp 'dst {}'",
                    ip.as_deref().unwrap_or("0.0.0.0/0")
                ))
                .syscall("inotify(7)");
        }
        Driver::Nat => {
            let _ = nat::remove(&st.id, "");
            if let Some((addr, bridge)) = &found {
                let _ = nat::install(&st.id, &st.ports.bindings, *addr, bridge);
            }
            f = f.equivalent("nft list table ip glassbox");
        }
    }
    f.info();
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.container_exited();
    }
}

/// After a container ended under `stop` or `rm`: its supervisor took its
/// published ports down; check that against the kernel (no socket on the
/// ports any more, no DNAT rule left — deleting any that are) and say so
/// in this command's trace.
pub fn report_released(st: &crate::runtime::state::State) {
    let bound: Vec<&Binding> = st
        .ports
        .bindings
        .iter()
        .filter(|b| b.host_port.is_some())
        .collect();
    if bound.is_empty() {
        return;
    }
    let still_open = || {
        bound.iter().any(|b| {
            sockets::table(b.proto, None)
                .iter()
                .any(|e| Some(e.local_port) == b.host_port && e.is_listening(b.proto))
        })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while still_open() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    if st.ports.driver == Driver::Nat && nat::has_rules(&st.id) {
        let _ = nat::remove(&st.id, "");
    }
    let first = bound[0];
    let p = first.host_port.unwrap_or(0);
    trace::fact(
        Kind::Port,
        "unpublish",
        format!("container {}", &st.id[..12]),
    )
    .field("driver", st.ports.driver.as_str())
    .field(
        "ports",
        bound.iter().map(|b| b.display()).collect::<Vec<_>>(),
    )
    .field("host_sockets_closed", !still_open())
    .equivalent(match st.ports.driver {
        Driver::Proxy => format!(
            "ss -l{}np 'sport = :{p}'",
            if first.proto == Proto::Tcp { "t" } else { "u" }
        ),
        Driver::Nat => "nft list table ip glassbox".to_string(),
    })
    .info();
}

/// Removes whatever a container may have left published (its DNAT rules,
/// when its supervisor died before it could): called by `rm`.
pub fn cleanup(st: &crate::runtime::state::State) {
    if st.ports.driver == Driver::Nat && !st.ports.bindings.is_empty() {
        let _ = nat::remove(&st.id, "");
    }
}

fn is_live(st: &crate::runtime::state::State) -> bool {
    use crate::runtime::state::Status;
    matches!(
        st.observed(),
        Status::Running | Status::Paused | Status::Restarting
    )
}

/// The PORTS column of `ps`: `0.0.0.0:8080->80/tcp, 53/udp`.
pub fn ps_column(st: &crate::runtime::state::State) -> String {
    let live = is_live(st);
    let mut out: Vec<String> = Vec::new();
    if live {
        for b in &st.ports.bindings {
            if b.host_port.is_some() {
                out.push(b.display());
            }
        }
    }
    for e in &st.ports.exposed {
        let key = normalise_key(e);
        let published = live && st.ports.bindings.iter().any(|b| b.key() == key);
        if !published && !out.contains(&key) {
            out.push(key);
        }
    }
    out.join(", ")
}

fn normalise_key(e: &str) -> String {
    if e.contains('/') {
        e.to_ascii_lowercase()
    } else {
        format!("{e}/tcp")
    }
}

/// Adds Docker's port fields to an `inspect` object:
/// `HostConfig.PortBindings` (what was asked), `Config.ExposedPorts`,
/// `NetworkSettings.Ports` (what is bound now; exposed-only ports are
/// `null`) and `HostConfig.PortDriver` (glassbox's own).
pub fn annotate_inspect(v: &mut serde_json::Value, st: &crate::runtime::state::State) {
    use serde_json::{json, Map, Value};
    let mut asked: Map<String, Value> = Map::new();
    // What was asked: a `[::]` twin was not.
    for b in st.ports.bindings.iter().filter(|b| !b.ipv6_twin) {
        let entry = asked.entry(b.key()).or_insert_with(|| json!([]));
        if let Some(a) = entry.as_array_mut() {
            a.push(json!({
                "HostIp": if b.host_ip.is_unspecified() { String::new() } else { b.host_ip.to_string() },
                "HostPort": b.host_port_spec,
            }));
        }
    }
    let mut now: Map<String, Value> = Map::new();
    if is_live(st) {
        for e in &st.ports.exposed {
            now.insert(normalise_key(e), Value::Null);
        }
        for b in &st.ports.bindings {
            let Some(p) = b.host_port else { continue };
            let entry = now.entry(b.key()).or_insert(Value::Null);
            if entry.is_null() {
                *entry = json!([]);
            }
            if let Some(a) = entry.as_array_mut() {
                a.push(json!({"HostIp": b.host_ip.to_string(), "HostPort": p.to_string()}));
            }
        }
    }
    let exposed: Map<String, Value> = st
        .ports
        .exposed
        .iter()
        .map(|e| (normalise_key(e), json!({})))
        .chain(st.ports.bindings.iter().map(|b| (b.key(), json!({}))))
        .collect();
    let Some(obj) = v.as_object_mut() else { return };
    let host = obj.entry("HostConfig").or_insert_with(|| json!({}));
    if let Some(h) = host.as_object_mut() {
        h.insert("PortBindings".into(), Value::Object(asked));
        h.insert("PublishAllPorts".into(), json!(st.ports.publish_all));
        h.insert("PortDriver".into(), json!(st.ports.driver.as_str()));
    }
    if let Some(c) = obj
        .entry("Config")
        .or_insert_with(|| json!({}))
        .as_object_mut()
    {
        c.insert("ExposedPorts".into(), Value::Object(exposed));
    }
    if let Some(n) = obj
        .entry("NetworkSettings")
        .or_insert_with(|| json!({}))
        .as_object_mut()
    {
        n.insert("Ports".into(), Value::Object(now));
    }
}

/// `glassbox port CONTAINER [PRIVATE_PORT[/PROTO]]`: lines like Docker's
/// (`80/tcp -> 0.0.0.0:8080`, or only `0.0.0.0:8080` for one port).
pub fn port_lines(root: &Path, key: &str, private: Option<&str>) -> crate::Result<Vec<String>> {
    let (_, st) = crate::runtime::state::find(root, key)?;
    if !is_live(&st) {
        return Ok(Vec::new());
    }
    let bound: Vec<&Binding> = st
        .ports
        .bindings
        .iter()
        .filter(|b| b.host_port.is_some())
        .collect();
    match private {
        None => Ok(bound
            .iter()
            .map(|b| {
                format!(
                    "{} -> {}:{}",
                    b.key(),
                    b.host_ip_text(),
                    b.host_port.unwrap_or(0)
                )
            })
            .collect()),
        Some(p) => {
            let key = normalise_key(p);
            let lines: Vec<String> = bound
                .iter()
                .filter(|b| b.key() == key)
                .map(|b| format!("{}:{}", b.host_ip_text(), b.host_port.unwrap_or(0)))
                .collect();
            if lines.is_empty() {
                return Err(PortError::NotPublished {
                    port: key,
                    container: st.name,
                }
                .into());
            }
            Ok(lines)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_in_use_names_its_holder_and_holds_nothing() {
        let root = tempfile::tempdir().unwrap();
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let mut ports = PortState::from_args(
            &["127.0.0.1::81".into(), format!("127.0.0.1:{port}:80")],
            false,
            vec![],
            "proxy",
        )
        .unwrap();
        let e = bind(root.path(), &mut ports).unwrap_err().to_string();
        assert!(
            e.contains(&format!("127.0.0.1:{port}/tcp is already in use")),
            "{e}"
        );
        assert!(
            e.contains(&format!("pid {}", std::process::id())),
            "names this test process: {e}"
        );
        // The first binding's ephemeral socket was let go again.
        let first = ports.bindings[0].host_port.unwrap();
        TcpListener::bind(("127.0.0.1", first)).unwrap();
    }

    #[test]
    fn ephemeral_ports_are_recorded_and_shown_like_docker() {
        let root = tempfile::tempdir().unwrap();
        let mut ports =
            PortState::from_args(&[], true, vec!["80/tcp".into(), "53/udp".into()], "proxy")
                .unwrap();
        let held = bind(root.path(), &mut ports).unwrap();
        let six = host_has_ipv6();
        assert_eq!(held.raw_fds().len(), if six { 4 } else { 2 });
        for b in &ports.bindings {
            let p = b.host_port.unwrap();
            assert!(p > 1024);
            let on = sockets::listening_on(b.proto, p);
            assert!(!on.is_empty(), "{b:?} is bound");
        }
        let keys: Vec<String> = ports.bindings.iter().map(Binding::key).collect();
        if six {
            // Each IPv4 binding has its [::] twin right after it, on the
            // same port, as `docker port` shows them.
            assert_eq!(keys, ["80/tcp", "80/tcp", "53/udp", "53/udp"]);
            for pair in ports.bindings.chunks(2) {
                assert!(!pair[0].ipv6_twin && pair[1].ipv6_twin);
                assert_eq!(pair[0].host_port, pair[1].host_port);
                assert_eq!(pair[1].host_ip_text(), "[::]");
            }
        } else {
            assert_eq!(keys, ["80/tcp", "53/udp"]);
        }
    }

    #[test]
    fn an_explicit_ipv6_address_is_published_alone_and_nat_refuses_it() {
        if !host_has_ipv6() {
            eprintln!("skipped: this host has no IPv6");
            return;
        }
        let root = tempfile::tempdir().unwrap();
        let mut ports =
            PortState::from_args(&["[::1]::80".into()], false, vec![], "proxy").unwrap();
        assert_eq!(ports.bindings.len(), 1);
        let held = bind(root.path(), &mut ports).unwrap();
        assert_eq!(held.raw_fds().len(), 1);
        let p = ports.bindings[0].host_port.unwrap();
        assert_eq!(ports.bindings[0].display(), format!("[::1]:{p}->80/tcp"));
        std::net::TcpStream::connect(("::1", p)).unwrap();
        // IPV6_V6ONLY: the IPv4 side of the port is still free.
        TcpListener::bind(("127.0.0.1", p)).unwrap();
        let e = PortState::from_args(&["[::1]:8080:80".into()], false, vec![], "nat")
            .unwrap_err()
            .to_string();
        assert!(e.contains("IPv4 rules only"), "{e}");
        // nat never adds a twin.
        let nat = PortState::from_args(&["8080:80".into()], false, vec![], "nat").unwrap();
        assert_eq!(nat.bindings.len(), 1);
    }
}
