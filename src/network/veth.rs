//! Wiring one container to one network: a veth pair (a virtual cable with
//! two ends) whose container end is made directly inside the container's
//! network namespace as `eth0`, and whose host end is plugged into the
//! network's bridge; then, inside, the address, the link up and — unless
//! the network is internal — a default route through the bridge's address.
//!
//! The parent does all of it, by the init's PID, after the init joined its
//! cgroup and before it is told to start: the container's own command
//! never runs without its network. The steps inside the namespace go
//! through a netlink socket opened there (see [`Netlink::in_netns_of`]),
//! which is what `nsenter -t PID -n ip …` does.
//!
//! Why the pair is made across the namespace boundary in one request
//! (`ip link add … peer name eth0 netns PID`) rather than made on the host
//! and then moved (`ip link set … netns PID`) and renamed: moving a link
//! waits for an RCU grace period in the kernel, about 25 ms here, which
//! would more than double what networking adds to `run`.

use super::netlink::Netlink;
use super::{Endpoint, NetworkError};
use crate::trace::{self, Kind};

fn nl_err(what: String) -> impl FnOnce(std::io::Error) -> NetworkError {
    move |source| NetworkError::Netlink { what, source }
}

/// The MAC address Docker derives from an IPv4 address: `02:42` and the
/// four bytes of the address (locally administered, unicast).
pub fn mac_for(ip: std::net::Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

/// `aa:bb:…` text of a MAC.
pub fn mac_text(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The temporary name of the container's end while it is still on the host.
/// Plugs the container whose init is `pid` into `ep`'s network.
pub fn attach(host: &mut Netlink, ep: &Endpoint, pid: i32) -> crate::Result<()> {
    let hv = &ep.host_veth;
    let ifname = &ep.interface;
    let mac = mac_for(ep.ip);
    let ns = std::fs::File::open(format!("/proc/{pid}/ns/net")).map_err(|e| crate::Error::Io {
        context: format!("opening /proc/{pid}/ns/net"),
        source: e,
    })?;
    // A pair left from an earlier start of this container (its namespace
    // not yet freed by the kernel) would make the name clash.
    if host.link(hv).ok().flatten().is_some() {
        detach(host, ep)?;
    }
    let s = trace::step(Kind::Network, "veth", format!("veth pair {hv} ↔ {ifname}"))
        .field("host_end", hv)
        .field("container_end", ifname)
        .field("mac", mac_text(mac))
        .field("pid", pid)
        .equivalent(format!(
            "ip link add {hv} type veth peer name {ifname} address {} netns {pid}",
            mac_text(mac)
        ))
        .syscall("RTM_NEWLINK (kind veth; VETH_INFO_PEER with IFLA_NET_NS_FD)")
        .announce()?;
    let r = host
        .add_veth(hv, ifname, mac, &ns)
        .map_err(nl_err(format!("creating veth pair {hv}")));
    s.finish_with(r)?;
    let wired = (|| -> crate::Result<()> {
        let b = &ep.bridge;
        let s = trace::step(Kind::Network, "bridge_port", format!("{hv} → bridge {b}"))
            .field("interface", hv)
            .field("bridge", b)
            .equivalent(format!("ip link set {hv} master {b}"))
            .syscall("RTM_NEWLINK (IFLA_MASTER)")
            .announce()?;
        let r = host
            .set_controller(hv, b)
            .map_err(nl_err(format!("plugging {hv} into {b}")));
        s.finish_with(r)?;
        super::bridge::up(host, hv, "host")?;
        let mut inside = Netlink::in_netns(ns).map_err(nl_err(format!(
            "opening a netlink socket in the network namespace of {pid}"
        )))?;
        configure_inside(&mut inside, ep, pid)
    })();
    if let Err(e) = wired {
        // The pair is ours to undo: deleting one end deletes both.
        let _ = detach(host, ep);
        return Err(e);
    }
    Ok(())
}

fn configure_inside(nl: &mut Netlink, ep: &Endpoint, pid: i32) -> crate::Result<()> {
    let ifname = &ep.interface;
    let ns = format!("nsenter -t {pid} -n ");
    let cidr = format!("{}/{}", ep.ip, ep.prefix);
    let s = trace::step(Kind::Network, "address", format!("{cidr} on {ifname}"))
        .field("interface", ifname)
        .field("address", &cidr)
        .field("side", "container")
        .field("network", &ep.network)
        .equivalent(format!("{ns}ip addr add {cidr} dev {ifname}"))
        .syscall("RTM_NEWADDR")
        .announce()?;
    let r = nl
        .add_address(ifname, ep.ip, ep.prefix)
        .map_err(nl_err(format!("giving {ifname} the address {cidr}")));
    s.finish_with(r)?;
    let s = trace::step(Kind::Network, "up", ifname.to_string())
        .field("interface", ifname)
        .field("side", "container")
        .equivalent(format!("{ns}ip link set {ifname} up"))
        .syscall("RTM_NEWLINK (IFF_UP)")
        .announce()?;
    let r = nl
        .set_up(ifname)
        .map_err(nl_err(format!("bringing {ifname} up")));
    s.finish_with(r)?;
    if let Some(gw) = ep.gateway {
        let s = trace::step(Kind::Network, "route", format!("default via {gw}"))
            .field("gateway", gw.to_string())
            .field("interface", ifname)
            .equivalent(format!("{ns}ip route add default via {gw} dev {ifname}"))
            .syscall("RTM_NEWROUTE")
            .announce()?;
        let r = match nl.add_default_route(ifname, gw) {
            // A second network's gateway: the first default route stays.
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            r => r.map_err(nl_err(format!("adding the default route via {gw}"))),
        };
        s.finish_with(r)?;
    }
    Ok(())
}

/// Makes sure the host end of `ep`'s veth pair is gone: deletes it if it
/// is still there. The kernel removes it by itself once the container's
/// namespace is freed, but in the background, a little later; the event
/// is the same either way, so a trace does not depend on that race.
pub fn detach(host: &mut Netlink, ep: &Endpoint) -> crate::Result<()> {
    let hv = &ep.host_veth;
    let s = trace::cleanup(Kind::Network, "veth_remove", format!("veth {hv}"))
        .field("interface", hv)
        .field("network", &ep.network)
        .equivalent(format!("ip link del {hv} 2>/dev/null || true"))
        .syscall("RTM_DELLINK")
        .announce()?;
    let r = match host.link(hv) {
        Ok(None) => Ok(()),
        Ok(Some(_)) => match host.delete(hv) {
            // Gone between the look-up and the delete: the namespace went.
            Err(_) if host.link(hv).ok().flatten().is_none() => Ok(()),
            r => r.map_err(nl_err(format!("deleting {hv}"))),
        },
        Err(e) => Err(nl_err(format!("looking up {hv}"))(e)),
    };
    s.finish_with(r)?;
    Ok(())
}
