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
pub mod sink;
pub mod sockets;
pub mod spec;

pub use spec::{Binding, Proto};

use crate::trace::{self, Kind};
use serde::{Deserialize, Serialize};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, UdpSocket};
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
        Ok(PortState {
            bindings,
            driver: Driver::parse(driver)?,
            exposed,
            publish_all,
        })
    }
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

fn bind_one(addr: SocketAddrV4, proto: Proto, listen: bool) -> std::io::Result<OwnedFd> {
    match (proto, listen) {
        (Proto::Tcp, true) => TcpListener::bind(addr).map(OwnedFd::from),
        (Proto::Udp, _) => UdpSocket::bind(addr).map(OwnedFd::from),
        (Proto::Tcp, false) => {
            use nix::sys::socket::{bind, socket, AddressFamily, SockFlag, SockType, SockaddrIn};
            let fd = socket(
                AddressFamily::Inet,
                SockType::Stream,
                SockFlag::SOCK_CLOEXEC,
                None,
            )?;
            // No SO_REUSEADDR: the reservation must collide with any
            // other socket on the port, reserved or listening.
            bind(fd.as_raw_fd(), &SockaddrIn::from(addr))?;
            Ok(fd)
        }
    }
}

/// The port a bound socket got.
fn bound_port(fd: &OwnedFd) -> Option<u16> {
    let a: nix::sys::socket::SockaddrIn = nix::sys::socket::getsockname(fd.as_raw_fd()).ok()?;
    Some(a.port())
}

/// Binds the host side of every binding in `ports` (the proxy listens; nat
/// only reserves) and writes the ports got into the bindings. Nothing is
/// held when one fails: the error says who holds the port.
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
    for b in ports.bindings.iter_mut() {
        let wanted = if b.host_port_spec.is_empty() {
            "any free port".to_string()
        } else {
            b.host_port_spec.clone()
        };
        let mut s = trace::step(
            Kind::Port,
            "publish",
            format!("{}:{} -> {}", b.host_ip, wanted, b.key()),
        )
        .field("host_ip", b.host_ip.to_string())
        .field("host_port", &wanted)
        .field("container_port", b.container_port)
        .field("proto", b.proto.as_str())
        .field("driver", ports.driver.as_str())
        .field("listen", listen)
        .syscall(if listen && b.proto == Proto::Tcp {
            "socket(2), bind(2), listen(2)"
        } else {
            "socket(2), bind(2)"
        })
        .announce()?;
        let candidates = match b.candidates() {
            c if c.is_empty() => vec![0],
            c => c,
        };
        let mut last = None;
        let mut got = None;
        for p in candidates {
            match bind_one(SocketAddrV4::new(b.host_ip, p), b.proto, listen) {
                Ok(fd) => {
                    got = Some(fd);
                    break;
                }
                Err(e) => last = Some((p, e)),
            }
        }
        let result = match (got, last) {
            (Some(fd), _) => Ok(fd),
            (None, Some((p, e))) if e.raw_os_error() == Some(libc::EADDRINUSE) => {
                Err(PortError::InUse {
                    addr: format!(
                        "{}:{}",
                        b.host_ip,
                        if p == 0 {
                            wanted.clone()
                        } else {
                            b.host_port_spec.clone()
                        }
                    ),
                    proto: b.proto.as_str(),
                    holder: who_holds(root, b.host_ip, p, b.proto),
                })
            }
            (None, Some((p, e))) => Err(PortError::Bind {
                addr: format!("{}:{p}", b.host_ip),
                proto: b.proto.as_str(),
                source: e,
            }),
            (None, None) => unreachable!("at least one candidate port"),
        };
        match result {
            Ok(fd) => {
                let port = bound_port(&fd);
                b.host_port = port;
                let shown = port.map(|p| p.to_string()).unwrap_or_default();
                s.field("bound", format!("{}:{}", b.host_ip, shown));
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
    Ok(held)
}

/// Says who holds `port`: a glassbox container of this root that publishes
/// it, a glassbox supervisor of another root, or another process.
pub fn who_holds(root: &Path, ip: Ipv4Addr, port: u16, proto: Proto) -> String {
    use crate::runtime::state::{self, Status};
    let overlaps = |a: Ipv4Addr| a.is_unspecified() || ip.is_unspecified() || a == ip;
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
        if e.local_port == port && port != 0 && overlaps(e.local_ip) {
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
    /// start forwarding to its address.
    pub fn container_started(&mut self, _pid: i32) {
        self.container_exited();
        let id12 = self.id[..12].to_string();
        let Some((ip, bridge)) = endpoint(&self.dir) else {
            let err = PortError::NoAddress(id12.clone());
            if let Ok(s) = trace::step(Kind::Port, "proxy", format!("container {id12}")).announce()
            {
                s.failed(&err);
            }
            return;
        };
        match self.ports.driver {
            Driver::Proxy => {
                let mut routes = Vec::new();
                let mut shown = Vec::new();
                for (b, fd) in self.ports.bindings.iter().zip(&self.held.sockets) {
                    let Ok(fd) = fd.try_clone() else { continue };
                    let listener = match b.proto {
                        Proto::Tcp => proxy::Listener::Tcp(TcpListener::from(fd)),
                        Proto::Udp => proxy::Listener::Udp(UdpSocket::from(fd)),
                    };
                    let target = SocketAddr::V4(SocketAddrV4::new(ip, b.container_port));
                    shown.push(format!(
                        "{}:{}/{} -> {target}",
                        b.host_ip,
                        b.host_port.unwrap_or(0),
                        b.proto.as_str()
                    ));
                    routes.push(proxy::Route { listener, target });
                }
                let first = self
                    .ports
                    .bindings
                    .first()
                    .and_then(|b| b.host_port)
                    .unwrap_or(0);
                let s = trace::step(Kind::Port, "proxy", format!("container {id12}"))
                    .field("routes", &shown)
                    .field("pid", std::process::id())
                    .field("container_ip", ip.to_string())
                    .field("udp_idle_s", proxy::UDP_IDLE.as_secs())
                    .equivalent(format!("ss -ltnp 'sport = :{first}'"))
                    .syscall("accept4(2), connect(2), splice(2)")
                    .announce();
                if let Ok(s) = s {
                    match s.finish_with(proxy::Proxy::start(routes, proxy::UDP_IDLE)) {
                        Ok(p) => self.proxy = Some(p),
                        Err(_) => self.proxy = None,
                    }
                }
            }
            Driver::Nat => {
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
        let bridge = self.nat_bridge.take();
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
    let ip = endpoint(dir)
        .map(|(ip, _)| ip.to_string())
        .unwrap_or_default();
    let mut routes = Vec::new();
    let mut held_by_shim = true;
    for b in &st.ports.bindings {
        let Some(p) = b.host_port else { continue };
        routes.push(format!(
            "{}:{p}/{} -> {ip}:{}",
            b.host_ip,
            b.proto.as_str(),
            b.container_port
        ));
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
        .field("container_ip", ip)
        .field("udp_idle_s", proxy::UDP_IDLE.as_secs())
        .field("held_by_supervisor", held_by_shim)
        .equivalent(format!("ss -ltnp 'sport = :{first}'"))
        .syscall("accept4(2), connect(2), splice(2)")
        .info();
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
            if let Some(p) = b.host_port {
                out.push(format!("{}:{}->{}", b.host_ip, p, b.key()));
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
    for b in &st.ports.bindings {
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
            .map(|b| format!("{} -> {}:{}", b.key(), b.host_ip, b.host_port.unwrap_or(0)))
            .collect()),
        Some(p) => {
            let key = normalise_key(p);
            let lines: Vec<String> = bound
                .iter()
                .filter(|b| b.key() == key)
                .map(|b| format!("{}:{}", b.host_ip, b.host_port.unwrap_or(0)))
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
        assert_eq!(held.raw_fds().len(), 2);
        for b in &ports.bindings {
            let p = b.host_port.unwrap();
            assert!(p > 1024);
            let on = sockets::listening_on(b.proto, p);
            assert!(!on.is_empty(), "{b:?} is bound");
        }
        assert_eq!(ports.bindings[1].key(), "53/udp");
    }
}
