//! The supervisor's side of published ports: starting the proxy (or
//! installing the DNAT rules) each time the container starts and taking
//! them down when it ends, saying in the starting command's trace who
//! forwards the ports, following `network connect`/`disconnect`, and
//! checking after `stop`/`rm` that nothing was left behind.

use super::{nat, proxy, sockets, Binding, Driver, Held, PortError, PortState, Proto};
use crate::trace::{self, Kind};
use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};

/// The container's address on its (first) network and that network's
/// bridge, from the endpoints recorded in its state.
pub fn endpoint(dir: &Path) -> Option<(Ipv4Addr, String)> {
    let st = crate::store::container::State::load(dir).ok()?;
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
        let st = crate::store::container::State::load(dir).ok()?;
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
                for (b, fd) in self.ports.bindings.iter().zip(self.held.sockets()) {
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
                    .field("container_cc", container_cc())
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
    let Ok(st) = crate::store::container::State::load(dir) else {
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
    let Ok(st) = crate::store::container::State::load(dir) else {
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
        .field("container_cc", container_cc())
        .field("held_by_supervisor", held_by_shim)
        .equivalent(format!("ss -ltnp 'sport = :{first}'"))
        .syscall("accept4(2), connect(2), splice(2), epoll_wait(2), inotify_add_watch(2)")
        .info();
}

/// The TCP congestion control of the proxy's connections to the
/// container: `cubic`, or empty when the kernel offers no choice (they keep
/// the host's default).
fn container_cc() -> &'static str {
    if super::proxy_tcp::container_cc_available() {
        super::proxy_tcp::TO_CONTAINER_CC
    } else {
        ""
    }
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
    let Ok(st) = crate::store::container::State::load(dir) else {
        return;
    };
    if st.ports.bindings.is_empty() || !super::show::is_live(&st) {
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
pub fn report_released(st: &crate::store::container::State) {
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
pub fn cleanup(st: &crate::store::container::State) {
    if st.ports.driver == Driver::Nat && !st.ports.bindings.is_empty() {
        let _ = nat::remove(&st.id, "");
    }
}
