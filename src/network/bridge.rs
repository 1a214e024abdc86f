//! A network's Linux bridge: made on first use (the default network) or by
//! `network create`, given the gateway address, kept from forwarding, and
//! deleted by `network rm`. Each kernel change is one event with the `ip`
//! command that would do the same.

use super::netlink::Netlink;
use super::store::Network;
use super::NetworkError;
use crate::trace::{self, Kind};
use std::path::Path;

fn nl_err(what: String) -> impl FnOnce(std::io::Error) -> NetworkError {
    move |source| NetworkError::Netlink { what, source }
}

/// Makes the bridge of `net` if it does not exist: create, mark as this
/// root's (the link's alias), no forwarding, gateway address, up. Returns
/// whether it had to be made.
pub fn ensure(nl: &mut Netlink, root: &Path, net: &Network) -> crate::Result<bool> {
    let name = &net.bridge;
    if nl
        .link(name)
        .map_err(nl_err(format!("looking up bridge {name}")))?
        .is_some()
    {
        return Ok(false);
    }
    let s = trace::step(Kind::Network, "bridge", format!("bridge {name}"))
        .field("bridge", name)
        .field("network", &net.name)
        .field("root", root.display().to_string())
        .equivalent(format!(
            "ip link add {name} type bridge && ip link set {name} alias {}",
            root.display()
        ))
        .syscall("socket(AF_NETLINK, NETLINK_ROUTE) + RTM_NEWLINK, RTM_SETLINK")
        .announce()?;
    let r = nl
        .add_bridge(name)
        .and_then(|_| nl.set_alias(name, &root.display().to_string()))
        .map_err(nl_err(format!("creating bridge {name}")));
    s.finish_with(r)?;
    // Packets a container sends to another network or off the machine
    // arrive on this bridge and would need forwarding; refuse it here,
    // whatever the host's global ip_forward says. Rootless with
    // slirp4netns, the keeper's namespace forwards to its tap only (its
    // forward chain drops the rest, see rootless::uplink).
    let uplink = crate::rootless::has_uplink();
    let value = if uplink { "1" } else { "0" };
    let key = format!("/proc/sys/net/ipv4/conf/{name}/forwarding");
    let mut b = trace::step(Kind::Network, "forwarding", format!("bridge {name}"))
        .field("bridge", name)
        .field("value", value.parse::<u8>().unwrap_or(0));
    if uplink {
        b = b.field("uplink", crate::rootless::uplink::TAP);
    }
    let s = b
        .equivalent(format!("sysctl -w net.ipv4.conf.{name}.forwarding={value}"))
        .syscall(format!("write(\"{key}\", \"{value}\")"))
        .announce()?;
    let r = crate::rootless::in_engine_netns(|| std::fs::write(&key, value))
        .and_then(|r| r)
        .map_err(|e| crate::Error::Io {
            context: format!("writing {key}"),
            source: e,
        });
    s.finish_with(r)?;
    if let Some(gw) = net.gateway {
        let cidr = format!("{gw}/{}", net.subnet.prefix);
        let s = trace::step(Kind::Network, "address", format!("{cidr} on {name}"))
            .field("interface", name)
            .field("address", &cidr)
            .field("side", "host")
            .equivalent(format!("ip addr add {cidr} dev {name}"))
            .syscall("RTM_NEWADDR")
            .announce()?;
        let r = nl
            .add_address(name, gw, net.subnet.prefix)
            .map_err(nl_err(format!("giving {name} the address {cidr}")));
        s.finish_with(r)?;
    }
    up(nl, name, "host")?;
    Ok(true)
}

/// `ip link set NAME up`, as an event; `side` is "host" or "container".
pub fn up(nl: &mut Netlink, name: &str, side: &str) -> crate::Result<()> {
    let s = trace::step(Kind::Network, "up", name.to_string())
        .field("interface", name)
        .field("side", side)
        .equivalent(format!("ip link set {name} up"))
        .syscall("RTM_NEWLINK (IFF_UP)")
        .announce()?;
    let r = nl
        .set_up(name)
        .map_err(nl_err(format!("bringing {name} up")));
    s.finish_with(r)?;
    Ok(())
}

/// Deletes the bridge of `net` if it exists (its ports go with it).
pub fn remove(nl: &mut Netlink, net: &Network) -> crate::Result<()> {
    let name = &net.bridge;
    if nl
        .link(name)
        .map_err(nl_err(format!("looking up bridge {name}")))?
        .is_none()
    {
        return Ok(());
    }
    let s = trace::cleanup(Kind::Network, "bridge_remove", format!("bridge {name}"))
        .field("bridge", name)
        .field("network", &net.name)
        .equivalent(format!("ip link del {name}"))
        .syscall("RTM_DELLINK")
        .announce()?;
    let r = match nl.delete(name) {
        Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(()),
        r => r.map_err(nl_err(format!("deleting bridge {name}"))),
    };
    s.finish_with(r)?;
    Ok(())
}
