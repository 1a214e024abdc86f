//! `glassbox explain port CONTAINER HOSTPORT`: the path of a packet to a
//! published port, hop by hop, read from the live state of this host —
//! the kernel's socket tables, nftables, the bridge and veth devices in
//! /sys/class/net, and the container's own network namespace (through
//! `/proc/PID/net`). Each hop names the command that shows the same thing.

use super::sockets::{self, SocketEntry};
use super::spec::{Binding, Proto};
use super::Driver;
use std::net::Ipv4Addr;
use std::path::Path;

/// One hop of the path.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Hop {
    /// What the hop is (`host socket`, `proxy`, `DNAT rule`, `bridge`, ...).
    pub name: String,
    /// What is there now, in words.
    pub facts: Vec<String>,
    /// The command that shows it.
    pub command: String,
    /// Whether the hop looks right (a missing listener is not).
    pub ok: bool,
}

/// The path of one published port.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PacketPath {
    /// `0.0.0.0:8080/tcp -> web:80/tcp (proxy)`.
    pub title: String,
    /// The hops, from the host socket to the container's socket.
    pub hops: Vec<Hop>,
}

fn listen_word(proto: Proto) -> &'static str {
    match proto {
        Proto::Tcp => "LISTEN",
        Proto::Udp => "bound",
    }
}

fn holders_text(e: &SocketEntry) -> String {
    let hs = sockets::holders(e.inode);
    if hs.is_empty() {
        return "no process of this PID namespace holds it".to_string();
    }
    hs.iter()
        .map(|h| format!("pid {} ({})", h.pid, h.comm))
        .collect::<Vec<_>>()
        .join(", ")
}

fn bridge_addresses(bridge: &str) -> Vec<String> {
    nix::ifaddrs::getifaddrs()
        .map(|it| {
            it.filter(|i| i.interface_name == bridge)
                .filter_map(|i| {
                    let a = i.address?.as_sockaddr_in()?.ip();
                    let prefix = i
                        .netmask
                        .and_then(|m| m.as_sockaddr_in().map(|m| u32::from(m.ip()).count_ones()))
                        .unwrap_or(32);
                    Some(format!("{a}/{prefix}"))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn sys(dev: &str, file: &str) -> String {
    std::fs::read_to_string(format!("/sys/class/net/{dev}/{file}"))
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// "up" or "down": whether the interface is switched on (IFF_UP), as
/// `ip link` shows it in the flags (the operational state lags behind).
fn admin_state(dev: &str) -> &'static str {
    let flags = sys(dev, "flags");
    match u32::from_str_radix(flags.trim_start_matches("0x"), 16) {
        Ok(f) if f & 1 == 1 => "up",
        Ok(_) => "down",
        Err(_) => "missing",
    }
}

/// Parses `8080`, `8080/udp`.
fn parse_host_port(s: &str) -> Result<(u16, Option<Proto>), crate::Error> {
    let (p, proto) = match s.split_once('/') {
        Some((p, pr)) => (p, Some(Proto::parse(pr)?)),
        None => (s, None),
    };
    let port = p.parse::<u16>().map_err(|_| {
        crate::Error::Usage(format!(
            "{s:?} is not a host port; give e.g. 8080 or 5353/udp"
        ))
    })?;
    Ok((port, proto))
}

/// Walks the path of a packet to `host_port` of container `key`.
pub fn explain(root: &Path, key: &str, host_port: &str) -> crate::Result<PacketPath> {
    let (dir, st) = crate::store::container::find(root, key)?;
    let (port, proto) = parse_host_port(host_port)?;
    let b: Binding = st
        .ports
        .bindings
        .iter()
        .find(|b| b.host_port == Some(port) && proto.is_none_or(|p| p == b.proto))
        .cloned()
        .ok_or_else(|| super::PortError::NotPublished {
            port: host_port.to_string(),
            container: st.name.clone(),
        })?;
    if !matches!(
        st.observed(),
        crate::store::container::Status::Running | crate::store::container::Status::Paused
    ) {
        return Err(crate::Error::Usage(format!(
            "{} is not running, so no packet can take this path now; start it with `glassbox start {}`",
            st.name, st.name
        )));
    }
    let proto = b.proto;
    let p = proto.as_str();
    let l = if proto == Proto::Tcp { "t" } else { "u" };
    let (ip, bridge) = super::endpoint(&dir).unwrap_or((Ipv4Addr::UNSPECIFIED, String::new()));
    let veth = host_veth(&dir);
    let mut hops = Vec::new();

    // 1. The host socket.
    let host: Vec<SocketEntry> = sockets::table(proto, None)
        .into_iter()
        .filter(|e| e.local_port == port && (e.is_listening(proto) || e.state == 0x07))
        .collect();
    let mut facts: Vec<String> = host
        .iter()
        .map(|e| {
            let state = if e.is_listening(proto) {
                listen_word(proto)
            } else {
                "bound, not listening"
            };
            format!("{} {state}, held by {}", e.local(), holders_text(e))
        })
        .collect();
    let nat = st.ports.driver == Driver::Nat;
    if nat {
        facts.push(format!(
            "nothing listens on {port}/{p}: DNAT rewrites each packet before a socket could get it; the supervisor only keeps the number taken with a bound socket (see `ls -l /proc/PID/fd`)"
        ));
    } else if facts.is_empty() {
        facts.push(format!("nothing holds port {port}/{p} on this host"));
    }
    if let Some(shim) = st.shim_pid {
        let what = if sockets::describe(shim).cmdline.contains("__shim") {
            format!("`glassbox __shim {}`", &st.id[..12])
        } else {
            "the `glassbox run` waiting in the foreground".to_string()
        };
        facts.push(format!("the container's supervisor is pid {shim}, {what}"));
    }
    hops.push(Hop {
        name: "host socket".into(),
        ok: nat || !host.is_empty(),
        facts,
        command: format!("ss -l{l}np 'sport = :{port}'"),
    });

    // 2. Proxy or DNAT.
    match st.ports.driver {
        Driver::Proxy => {
            let live: Vec<SocketEntry> = sockets::table(proto, None)
                .into_iter()
                // Established only: closed connections may linger a while
                // in TIME_WAIT, and they carry nothing.
                .filter(|e| e.state == 0x01)
                .filter(|e| e.remote_ip == ip && e.remote_port == b.container_port)
                .collect();
            hops.push(Hop {
                name: "userland proxy".into(),
                ok: !host.is_empty(),
                facts: vec![
                    format!(
                        "the supervisor accepts on {} and opens its own connection to {ip}:{} for each client (the container sees the bridge address as the source)",
                        st.ports
                            .bindings
                            .iter()
                            .filter(|x| x.host_port == Some(port) && x.proto == proto)
                            .map(|x| format!("{}:{port}", x.host_ip_text()))
                            .collect::<Vec<_>>()
                            .join(" and "),
                        b.container_port
                    ),
                    format!(
                        "{} live {p} socket(s) from this host to {ip}:{} now",
                        live.len(),
                        b.container_port
                    ),
                ],
                command: format!("ss -{l}np 'dst {ip}:{}'", b.container_port),
            });
        }
        Driver::Nat => {
            let rules = super::nat::rules_for_port(port, proto);
            hops.push(Hop {
                name: "DNAT rule".into(),
                ok: !rules.is_empty(),
                facts: if rules.is_empty() {
                    vec!["no rule for this port in table ip glassbox".into()]
                } else {
                    rules
                },
                command: "nft list table ip glassbox".into(),
            });
        }
    }

    // 3. The bridge.
    let ports_of_bridge: Vec<String> = std::fs::read_dir(format!("/sys/class/net/{bridge}/brif"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let addrs = bridge_addresses(&bridge);
    hops.push(Hop {
        name: "bridge".into(),
        ok: !bridge.is_empty() && Path::new(&format!("/sys/class/net/{bridge}")).exists(),
        facts: vec![
            format!(
                "{bridge} ({}), state {}",
                if addrs.is_empty() {
                    "no address".to_string()
                } else {
                    addrs.join(", ")
                },
                admin_state(&bridge)
            ),
            format!(
                "its ports: {}",
                if ports_of_bridge.is_empty() {
                    "none".to_string()
                } else {
                    ports_of_bridge.join(", ")
                }
            ),
            format!("the route to {ip} goes out through {bridge}"),
        ],
        command: format!("ip link show master {bridge}"),
    });

    // 4. The host end of the veth pair.
    let master = std::fs::read_link(format!("/sys/class/net/{veth}/master"))
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    hops.push(Hop {
        name: "veth (host end)".into(),
        ok: !veth.is_empty() && master == bridge,
        facts: vec![format!(
            "{veth}: its peer is interface {} inside the container (`ip link` there shows it as eth0@if…), master {}, state {}",
            sys(&veth, "iflink"),
            if master.is_empty() { "none" } else { &master },
            admin_state(&veth)
        )],
        command: format!("ip link show {veth}"),
    });

    // 5. The container's socket.
    let pid = st.pid.unwrap_or(0);
    let inside: Vec<SocketEntry> = sockets::table(proto, Some(pid))
        .into_iter()
        .filter(|e| e.local_port == b.container_port && e.is_listening(proto))
        .collect();
    let mut facts = vec![format!(
        "{ip} on the container's interface, in the network namespace of pid {pid}"
    )];
    if inside.is_empty() {
        facts.push(format!(
            "nothing listens on {}/{p} inside: connections are refused there",
            b.container_port
        ));
    }
    for e in &inside {
        facts.push(format!(
            "{} {} by {}",
            e.local(),
            listen_word(proto),
            holders_text(e)
        ));
    }
    hops.push(Hop {
        name: "container socket".into(),
        ok: !inside.is_empty(),
        facts,
        command: format!("nsenter -t {pid} -n ss -l{l}np; nsenter -t {pid} -n ip addr"),
    });
    Ok(PacketPath {
        title: format!(
            "{}:{port}/{p} -> {}:{}/{p} (driver {})",
            b.host_ip_text(),
            st.name,
            b.container_port,
            st.ports.driver.as_str()
        ),
        hops,
    })
}

/// The host end of the container's first veth pair, from its state.
fn host_veth(dir: &Path) -> String {
    crate::store::container::State::load(dir)
        .ok()
        .and_then(|st| st.networks.first().map(|e| e.host_veth.clone()))
        .unwrap_or_default()
}
