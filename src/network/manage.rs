//! Networks themselves: `network create` (choosing a subnet no route of
//! the host and no network of the root uses, and a bridge name), `rm`,
//! `prune`, and the tear-down of a throw-away root.

use super::{bridge, netlink, store, Network, NetworkError, Subnet, DEFAULT_NETWORK};
use crate::store::container;
use crate::trace::{self, Kind};
use std::net::Ipv4Addr;
use std::path::Path;

pub(super) fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

pub(super) fn nl_err(what: &str) -> impl FnOnce(std::io::Error) -> NetworkError + '_ {
    move |source| NetworkError::Netlink {
        what: what.to_string(),
        source,
    }
}

/// The bridge device of a new network. The default network of the default
/// root gets the short name `gbx0`; every other network — including the
/// default network of another root, such as a test's — gets `gbx-` and ten
/// hex digits of its id, so roots never share a bridge.
fn bridge_name(root: &Path, name: &str, id: &str) -> String {
    if name == DEFAULT_NETWORK && root == Path::new("/var/lib/glassbox") {
        "gbx0".into()
    } else {
        format!("gbx-{}", &id[..10])
    }
}

/// The subnets glassbox picks from: for a root's default network a /16,
/// 10.66.0.0/16 first, then downwards to 10.32.0.0/16 (other roots, such as
/// tests', take the next free one); for other networks a /24 from 10.67.0.0
/// to 10.71.255.0.
fn candidates(default: bool) -> Box<dyn Iterator<Item = Subnet>> {
    if default {
        Box::new((32u32..=66).rev().map(|b| Subnet {
            base: Ipv4Addr::from((10 << 24) | (b << 16)),
            prefix: 16,
        }))
    } else {
        Box::new((67u32..=71).flat_map(|b| {
            (0u32..=255).map(move |c| Subnet {
                base: Ipv4Addr::from((10 << 24) | (b << 16) | (c << 8)),
                prefix: 24,
            })
        }))
    }
}

/// What `candidate` would collide with: a host route (another root's
/// bridge, the host's own networks) or a network of this root.
fn collision(
    candidate: &Subnet,
    routes: &[netlink::Route],
    links: &[netlink::Link],
    mine: &[Network],
) -> Option<String> {
    for r in routes.iter().filter(|r| r.prefix > 0) {
        let s = Subnet {
            base: r.destination,
            prefix: r.prefix.max(1),
        };
        let m = if r.prefix >= 32 { u32::MAX } else { s.mask() };
        let s = Subnet {
            base: Ipv4Addr::from(u32::from(s.base) & m),
            prefix: s.prefix,
        };
        if candidate.overlaps(&s) {
            let dev = r
                .oif
                .and_then(|i| links.iter().find(|l| l.index == i))
                .map(|l| l.name.clone())
                .unwrap_or_default();
            return Some(format!(
                "the host route {}/{} dev {dev}",
                r.destination, r.prefix
            ));
        }
    }
    mine.iter()
        .find(|n| n.subnet.overlaps(candidate))
        .map(|n| format!("network {} ({})", n.name, n.subnet))
}

/// Options of `network create`.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// `--subnet`.
    pub subnet: Option<Subnet>,
    /// `--gateway`.
    pub gateway: Option<Ipv4Addr>,
    /// `--internal`.
    pub internal: bool,
}

/// Makes a network record and its bridge. The caller holds the root's
/// lock; the host-wide lock is held until the bridge has its address, so
/// that its route tells the next root choosing a subnet that this one is
/// taken.
pub(super) fn make(root: &Path, name: &str, o: &CreateOptions) -> crate::Result<Network> {
    if !valid_name(name) || name == "none" || name == "host" {
        return Err(NetworkError::BadName(name.into()).into());
    }
    if store::load(root, name)?.is_some() {
        return Err(NetworkError::NameInUse(name.into()).into());
    }
    let _host = store::Lock::host()?;
    let mut nl = netlink::Netlink::host().map_err(nl_err("opening a netlink socket"))?;
    let routes = nl.routes().map_err(nl_err("listing the host's routes"))?;
    let links = nl.links().map_err(nl_err("listing the host's links"))?;
    let mine = store::all(root);
    let subnet = match o.subnet {
        Some(s) => {
            if let Some(c) = collision(&s, &routes, &links, &mine) {
                return Err(NetworkError::SubnetInUse(s, c).into());
            }
            s
        }
        None => candidates(name == DEFAULT_NETWORK)
            .find(|c| collision(c, &routes, &links, &mine).is_none())
            .ok_or(NetworkError::NoFreeSubnet)?,
    };
    let gateway = match o.gateway {
        Some(g) if !subnet.usable(g) => return Err(NetworkError::BadGateway(g, subnet).into()),
        Some(g) => g,
        None => subnet.first_host(),
    };
    let id = crate::store::container::new_id()?;
    let net = Network {
        name: name.into(),
        bridge: bridge_name(root, name, &id),
        id,
        driver: "bridge".into(),
        subnet,
        gateway: (!o.internal).then_some(gateway),
        internal: o.internal,
        created: container::now(),
    };
    let s = trace::step(Kind::Network, "create", format!("network {name}"))
        .field("network", name)
        .field("subnet", subnet.to_string())
        .field("gateway", net.gateway.map(|g| g.to_string()))
        .field("bridge", &net.bridge)
        .field("internal", o.internal)
        .field(
            "path",
            store::networks_dir(root)
                .join(format!("{name}.json"))
                .display()
                .to_string(),
        )
        .equivalent(format!(
            "docker network create --subnet {subnet}{} {name}",
            if o.internal { " --internal" } else { "" }
        ))
        .announce()?;
    let r = store::save(root, &net);
    s.finish_with(r)?;
    if let Err(e) = bridge::ensure(&mut nl, root, &net) {
        let _ = bridge::remove(&mut nl, &net);
        let _ = store::delete(root, name);
        return Err(e);
    }
    Ok(net)
}

/// `network create`: records the network and makes its bridge.
pub fn create(root: &Path, name: &str, o: &CreateOptions) -> crate::Result<Network> {
    let _l = store::Lock::root(root)?;
    let net = make(root, name, o)?;
    super::endpoint::journal_network(root, "create", &net.id, &net.name, "");
    Ok(net)
}

/// The containers (by name) holding an address on `net`.
pub fn users(root: &Path, net: &str) -> Vec<String> {
    container::all(root)
        .into_iter()
        .filter(|(_, s)| s.networks.iter().any(|e| e.network == net))
        .map(|(_, s)| s.name)
        .collect()
}

/// `network rm`: refuses while containers use it; deletes the bridge.
pub fn remove(root: &Path, key: &str) -> crate::Result<String> {
    let _l = store::Lock::root(root)?;
    let net = store::find(root, key)?;
    let used = users(root, &net.name);
    if !used.is_empty() {
        return Err(NetworkError::InUse {
            network: net.name.clone(),
            containers: used,
        }
        .into());
    }
    let mut nl = netlink::Netlink::host().map_err(nl_err("opening a netlink socket"))?;
    bridge::remove(&mut nl, &net)?;
    let s = trace::cleanup(Kind::Network, "remove", format!("network {}", net.name))
        .field("network", &net.name)
        .field("bridge", &net.bridge)
        .equivalent(format!("docker network rm {}", net.name))
        .announce()?;
    s.finish_with(store::delete(root, &net.name))?;
    super::endpoint::journal_network(root, "destroy", &net.id, &net.name, "");
    Ok(net.name)
}

/// What `network prune` removed.
#[derive(Debug, Default, Clone)]
pub struct Pruned {
    /// User networks removed (record and bridge).
    pub networks: Vec<String>,
    /// Bridge devices deleted whose network stays: the default network's,
    /// made again by the next container that uses it.
    pub bridges: Vec<String>,
}

/// `network prune`: removes every user network no container uses, and
/// the default network's bridge device when no container uses it (its
/// record, subnet and addresses stay; the next start makes the bridge
/// again), so a root's bridges do not linger on the host unused.
pub fn prune(root: &Path) -> crate::Result<Pruned> {
    let mut gone = Pruned::default();
    for n in store::all(root) {
        if n.name != DEFAULT_NETWORK {
            if users(root, &n.name).is_empty() {
                gone.networks.push(remove(root, &n.name)?);
            }
            continue;
        }
        let _l = store::Lock::root(root)?;
        if !users(root, &n.name).is_empty() {
            continue;
        }
        let mut nl = netlink::Netlink::host().map_err(nl_err("opening a netlink socket"))?;
        if nl
            .link(&n.bridge)
            .map_err(nl_err("looking up a bridge"))?
            .is_some()
        {
            bridge::remove(&mut nl, &n)?;
            gone.bridges.push(n.bridge.clone());
        }
    }
    Ok(gone)
}

/// Deletes the bridge of every network of `root` (used or not) and forgets
/// the networks: for throw-away roots such as the tests', whose bridges
/// would otherwise outlive them.
pub fn teardown_root(root: &Path) {
    let Ok(mut nl) = netlink::Netlink::host() else {
        return;
    };
    for n in store::all(root) {
        let _ = bridge::remove(&mut nl, &n);
        let _ = store::delete(root, &n.name);
    }
}
