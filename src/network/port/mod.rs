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
//! With no host address (`-p 8080:80`) the proxy publishes on `0.0.0.0`
//! and, as Docker does, on `[::]` too ([`Binding::ipv6_twin`]).
//!
//! This file binds the host sockets ([`bind`], [`Held`]) and says who
//! holds a port in use. The supervisor's side — starting and stopping the
//! forwarding with the container, following `network connect` and
//! `disconnect` — is in `supervise.rs`. The bindings live in the
//! container's state ([`PortState`]); `inspect`, `ps` and `glassbox port`
//! read them back (`show.rs`), and `explain port` ([`path`]) walks the live
//! path of a packet.

pub mod nat;
pub mod path;
pub mod proxy;
mod proxy_tcp;
mod show;
pub mod sink;
pub mod sockets;
pub mod spec;
mod supervise;

pub use show::{annotate_inspect, port_lines, ps_column};
pub use spec::{Binding, Proto};
pub use supervise::{
    after_supervisor, before_supervisor, cleanup, endpoint, follow_network_change, report_released,
    Supervisor,
};

pub use crate::store::container::{Driver, PortState};
use crate::trace::{self, Kind};

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

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
    /// A port below the unprivileged start, rootless.
    #[error(
        "cannot publish host port {port}: rootless glassbox runs as your own user, and the kernel \
         lets only root bind ports below {start} (sysctl net.ipv4.ip_unprivileged_port_start); \
         publish a port from {start} up, e.g. -p 8080:{container}, or ask an administrator to \
         lower that sysctl"
    )]
    PrivilegedPort {
        /// The host port asked for.
        port: u16,
        /// The container port.
        container: u16,
        /// The sysctl's value.
        start: u16,
    },
    /// `--port-driver nat`, rootless.
    #[error(
        "the nat port driver writes nftables rules in the host's network namespace, which \
         only the host's root may change; rootless glassbox publishes ports with the default \
         --port-driver proxy"
    )]
    NatRootless,
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

impl PortState {
    /// The state for `-p SPECS` (and `-P` with the image's exposed ports).
    pub fn from_args(
        specs: &[String],
        publish_all: bool,
        exposed: Vec<String>,
        driver: Driver,
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
        if driver == Driver::Nat && !bindings.is_empty() && crate::rootless::active().is_some() {
            return Err(PortError::NatRootless);
        }
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

    /// The sockets, in binding order.
    pub(crate) fn sockets(&self) -> &[OwnedFd] {
        &self.sockets
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
            (None, Some((p, e)))
                if e.raw_os_error() == Some(libc::EACCES) && p < unprivileged_port_start() =>
            {
                Err(PortError::PrivilegedPort {
                    port: p,
                    container: b.container_port,
                    start: unprivileged_port_start(),
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

/// The lowest port a user without root may bind
/// (`net.ipv4.ip_unprivileged_port_start`, 1024 unless changed).
fn unprivileged_port_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1024)
}

/// Says who holds `port`: a glassbox container of this root that publishes
/// it, a glassbox supervisor of another root, or another process.
pub fn who_holds(root: &Path, ip: IpAddr, port: u16, proto: Proto) -> String {
    use crate::store::container::{self, Status};
    let overlaps = |a: IpAddr| {
        a.is_ipv6() == ip.is_ipv6() && (a.is_unspecified() || ip.is_unspecified() || a == ip)
    };
    if port != 0 {
        for (_, st) in container::all(root) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn a_port_in_use_names_its_holder_and_holds_nothing() {
        let root = tempfile::tempdir().unwrap();
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let mut ports = PortState::from_args(
            &["127.0.0.1::81".into(), format!("127.0.0.1:{port}:80")],
            false,
            vec![],
            Driver::Proxy,
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
        let mut ports = PortState::from_args(
            &[],
            true,
            vec!["80/tcp".into(), "53/udp".into()],
            Driver::Proxy,
        )
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
            PortState::from_args(&["[::1]::80".into()], false, vec![], Driver::Proxy).unwrap();
        assert_eq!(ports.bindings.len(), 1);
        let held = bind(root.path(), &mut ports).unwrap();
        assert_eq!(held.raw_fds().len(), 1);
        let p = ports.bindings[0].host_port.unwrap();
        assert_eq!(ports.bindings[0].display(), format!("[::1]:{p}->80/tcp"));
        std::net::TcpStream::connect(("::1", p)).unwrap();
        // IPV6_V6ONLY: the IPv4 side of the port is still free.
        TcpListener::bind(("127.0.0.1", p)).unwrap();
        let e = PortState::from_args(&["[::1]:8080:80".into()], false, vec![], Driver::Nat)
            .unwrap_err()
            .to_string();
        assert!(e.contains("IPv4 rules only"), "{e}");
        // nat never adds a twin.
        let nat = PortState::from_args(&["8080:80".into()], false, vec![], Driver::Nat).unwrap();
        assert_eq!(nat.bindings.len(), 1);
    }
}
