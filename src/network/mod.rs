//! Container networks: Linux bridges, veth pairs, addresses, routes and
//! names — the part of `docker run` that lets two containers find each
//! other.
//!
//! The life of one container's network, and where each piece lives:
//! - `create` ([`join`]): the container gets an address on each of its
//!   networks from the network's IPAM ([`ipam`], persisted by [`store`]);
//!   the addresses are recorded in its state as [`Endpoint`]s, its
//!   `/etc/hosts` is written and its peers' are rewritten ([`hosts`]).
//! - start ([`attach`]): after the init joined its cgroup and before it may
//!   exec, the parent makes sure the bridge exists ([`bridge`]) and wires a
//!   veth pair into the init's network namespace ([`veth`]).
//! - exit ([`detach`]): the host ends of the veth pairs are deleted (the
//!   kernel would also do it when the namespace goes).
//! - rm ([`release`]): the addresses go back to the pool and the peers'
//!   hosts files lose the container.
//!
//! Kernel changes go through netlink ([`netlink`]), each as an event with
//! the `ip` command that would do the same. Nothing is routed off the
//! machine: no masquerade, no global `ip_forward`, and forwarding is turned
//! off on every bridge glassbox makes.

pub mod bridge;
pub mod hosts;
pub mod ipam;
pub mod netlink;
pub mod redact;
pub mod store;
pub mod veth;

pub use ipam::Subnet;
pub use store::{Network, DEFAULT_NETWORK};

use crate::runtime::state::{self, State};
use crate::trace::{self, Kind};
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// What can go wrong with networks; each message names the thing and says
/// what to do.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// A subnet that is not `A.B.C.D/N` with zero host bits.
    #[error(
        "subnet {0:?} is not an IPv4 network such as 10.89.0.0/24 (prefix 8 to 30, host bits zero)"
    )]
    BadSubnet(String),
    /// `--ip` outside the network.
    #[error("address {0} is not in network {1} ({2}); pick one inside it or leave --ip out")]
    AddressOutside(Ipv4Addr, String, Subnet),
    /// `--ip` already held.
    #[error("address {ip} on network {network} is already in use{}; pick another or leave --ip out", holder.as_ref().map(|c| format!(" by container {c}")).unwrap_or_default())]
    AddressTaken {
        /// The address.
        ip: Ipv4Addr,
        /// The network.
        network: String,
        /// Who holds it (short id).
        holder: Option<String>,
    },
    /// No free address left.
    #[error("network {0} ({1}) has no free address left; remove containers from it or create a network with a larger --subnet")]
    Exhausted(String, Subnet),
    /// No network by that name.
    #[error("network {0} not found; list networks with `glassbox network ls`")]
    NoSuchNetwork(String),
    /// `network create` of a name that exists.
    #[error("network with name {0} already exists; choose another name or remove it with `glassbox network rm {0}`")]
    NameInUse(String),
    /// A name that cannot be a network name.
    #[error("network name {0:?} is not valid: use letters, digits, '_', '.' and '-', starting with a letter or digit")]
    BadName(String),
    /// `--subnet` overlapping something.
    #[error("subnet {0} overlaps {1}; choose another --subnet")]
    SubnetInUse(Subnet, String),
    /// No subnet left in glassbox's pools.
    #[error("no free subnet left in glassbox's pools (10.32.0.0/16-10.66.0.0/16 for default networks, 10.67.0.0/24-10.71.255.0/24 for others); remove unused networks (`glassbox network prune`) or give --subnet")]
    NoFreeSubnet,
    /// `--gateway` outside the subnet.
    #[error("gateway {0} is not a usable address of {1}; give one inside the subnet")]
    BadGateway(Ipv4Addr, Subnet),
    /// `network rm` of a network with containers.
    #[error("network {network} is in use by container(s) {}; remove them (`glassbox rm -f ...`) or disconnect them (`glassbox network disconnect {network} NAME`) first", containers.join(", "))]
    InUse {
        /// The network.
        network: String,
        /// The containers using it.
        containers: Vec<String>,
    },
    /// `--network` that cannot be combined with the other options.
    #[error("{0}")]
    Conflict(String),
    /// `network connect` of an attached container.
    #[error("container {0} is already connected to network {1}")]
    AlreadyConnected(String, String),
    /// `network disconnect` of a container that is not attached.
    #[error("container {0} is not connected to network {1}")]
    NotConnected(String, String),
    /// A netlink request the kernel refused.
    #[error("{what}: {source}")]
    Netlink {
        /// What was being done.
        what: String,
        /// The kernel's answer.
        source: std::io::Error,
    },
}

/// Which network namespace a container gets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Mode {
    /// Its own namespace with only `lo` (`--network none`; the library
    /// default, and what build's RUN containers get).
    #[default]
    None,
    /// The host's namespace (`--network host`).
    Host,
    /// Its own namespace plugged into the named network (`--network
    /// bridge` is the default network).
    Network(String),
}

impl Mode {
    /// Parses the value of `--network`.
    pub fn parse(s: &str) -> Mode {
        match s {
            "none" => Mode::None,
            "host" => Mode::Host,
            "default" => Mode::Network(DEFAULT_NETWORK.into()),
            name => Mode::Network(name.into()),
        }
    }
}

/// The network options of `run`.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// `--network`.
    pub mode: Mode,
    /// `--network-alias`.
    pub aliases: Vec<String>,
    /// `--link NAME[:ALIAS]`.
    pub links: Vec<String>,
    /// `--ip`.
    pub ip: Option<Ipv4Addr>,
}

/// A container's place on one network, recorded in its state.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Endpoint {
    /// Network name.
    pub network: String,
    /// Network id.
    pub network_id: String,
    /// The network's bridge device.
    pub bridge: String,
    /// The container's address.
    pub ip: Ipv4Addr,
    /// The subnet's prefix length.
    pub prefix: u8,
    /// The default route's gateway (none on an internal network).
    pub gateway: Option<Ipv4Addr>,
    /// The container interface's MAC address.
    pub mac: String,
    /// `--network-alias` names.
    pub aliases: Vec<String>,
    /// `--link NAME:ALIAS` entries.
    pub links: Vec<String>,
    /// The interface name inside (`eth0`, `eth1`, …).
    pub interface: String,
    /// The host end of the veth pair.
    pub host_veth: String,
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

fn nl_err(what: &str) -> impl FnOnce(std::io::Error) -> NetworkError + '_ {
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
fn make(root: &Path, name: &str, o: &CreateOptions) -> crate::Result<Network> {
    if !valid_name(name) || name == "none" || name == "host" {
        return Err(NetworkError::BadName(name.into()).into());
    }
    if store::load(root, name)?.is_some() {
        return Err(NetworkError::NameInUse(name.into()).into());
    }
    let _host = store::Lock::host()?;
    let mut nl = netlink::Netlink::open().map_err(nl_err("opening a netlink socket"))?;
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
    let id = crate::runtime::new_id()?;
    let net = Network {
        name: name.into(),
        bridge: bridge_name(root, name, &id),
        id,
        driver: "bridge".into(),
        subnet,
        gateway: (!o.internal).then_some(gateway),
        internal: o.internal,
        created: state::now(),
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
    make(root, name, o)
}

/// The containers (by name) holding an address on `net`.
pub fn users(root: &Path, net: &str) -> Vec<String> {
    state::all(root)
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
    let mut nl = netlink::Netlink::open().map_err(nl_err("opening a netlink socket"))?;
    bridge::remove(&mut nl, &net)?;
    let s = trace::cleanup(Kind::Network, "remove", format!("network {}", net.name))
        .field("network", &net.name)
        .field("bridge", &net.bridge)
        .equivalent(format!("docker network rm {}", net.name))
        .announce()?;
    s.finish_with(store::delete(root, &net.name))?;
    Ok(net.name)
}

/// `network prune`: removes every user network no container uses; returns
/// their names. The default network stays, as with Docker.
pub fn prune(root: &Path) -> crate::Result<Vec<String>> {
    let mut gone = Vec::new();
    for n in store::all(root) {
        if n.name != DEFAULT_NETWORK && users(root, &n.name).is_empty() {
            gone.push(remove(root, &n.name)?);
        }
    }
    Ok(gone)
}

/// Deletes the bridge of every network of `root` (used or not) and forgets
/// the networks: for throw-away roots such as the tests', whose bridges
/// would otherwise outlive them.
pub fn teardown_root(root: &Path) {
    let Ok(mut nl) = netlink::Netlink::open() else {
        return;
    };
    for n in store::all(root) {
        let _ = bridge::remove(&mut nl, &n);
        let _ = store::delete(root, &n.name);
    }
}

/// `create`'s half: gives container `id` an address on each network of
/// `req` (making the default network on first use). Returns the endpoints
/// to record in its state; none for `--network none|host`.
pub fn join(root: &Path, id: &str, req: &Request) -> crate::Result<Vec<Endpoint>> {
    let net_name = match &req.mode {
        Mode::Network(n) => n.clone(),
        _ => {
            if !req.aliases.is_empty() || !req.links.is_empty() || req.ip.is_some() {
                return Err(NetworkError::Conflict(
                    "--network-alias, --link and --ip need a bridge network; drop them or use --network bridge or a network of yours".into(),
                )
                .into());
            }
            return Ok(Vec::new());
        }
    };
    if net_name == DEFAULT_NETWORK && !req.aliases.is_empty() {
        return Err(NetworkError::Conflict(
            "network-scoped aliases work only on user-defined networks (Docker's rule); create one with `glassbox network create NAME` and use --network NAME".into(),
        )
        .into());
    }
    let _l = store::Lock::root(root)?;
    let net = match store::load(root, &net_name)? {
        Some(n) => n,
        None if net_name == DEFAULT_NETWORK => {
            make(root, DEFAULT_NETWORK, &CreateOptions::default())?
        }
        None => return Err(NetworkError::NoSuchNetwork(net_name).into()),
    };
    for l in &req.links {
        let target = l.split(':').next().unwrap_or(l);
        let (_, st) = state::find(root, target)?;
        if !st.networks.iter().any(|e| e.network == net.name) {
            return Err(NetworkError::Conflict(format!(
                "cannot link to {target}: it is not on network {}; links work between containers of one network",
                net.name
            ))
            .into());
        }
    }
    let ep = allocate(root, &net, id, req.ip, req.aliases.clone(), 0)?;
    Ok(vec![Endpoint {
        links: req.links.clone(),
        ..ep
    }])
}

fn allocate(
    root: &Path,
    net: &Network,
    id: &str,
    wanted: Option<Ipv4Addr>,
    aliases: Vec<String>,
    index: usize,
) -> crate::Result<Endpoint> {
    let mut a = store::load_ipam(root, &net.name)?;
    let s = trace::step(
        Kind::Network,
        "allocate",
        format!("address on {}", net.name),
    )
    .field("network", &net.name)
    .field("subnet", net.subnet.to_string())
    .field(
        "path",
        store::networks_dir(root)
            .join(format!("{}.ipam.json", net.name))
            .display()
            .to_string(),
    )
    .equivalent(format!(
        "docker network inspect {} --format '{{{{json .Containers}}}}'",
        net.name
    ))
    .announce()?;
    let r = a.allocate(
        &net.name,
        net.subnet,
        Some(net.reserved_gateway()),
        id,
        wanted,
    );
    let mut s = s;
    if let Ok(ip) = &r {
        s.field("address", ip.to_string());
    }
    let ip = s.finish_with(r.map_err(crate::Error::from))?;
    store::save_ipam(root, &net.name, &a)?;
    Ok(Endpoint {
        network: net.name.clone(),
        network_id: net.id.clone(),
        bridge: net.bridge.clone(),
        ip,
        prefix: net.subnet.prefix,
        gateway: net.gateway,
        mac: veth::mac_text(veth::mac_for(ip)),
        aliases,
        links: Vec::new(),
        interface: format!("eth{index}"),
        host_veth: format!("gbxv{}{index}", &id[..8]),
    })
}

/// The bind mounts of `/etc/hosts` and `/etc/resolv.conf` for a container
/// directory, for its config.json.
pub fn name_mounts(dir: &Path) -> Vec<oci_spec::runtime::Mount> {
    [
        (hosts::hosts_path(dir), "/etc/hosts"),
        (hosts::resolv_path(dir), "/etc/resolv.conf"),
    ]
    .into_iter()
    .filter_map(|(src, dst)| {
        oci_spec::runtime::MountBuilder::default()
            .destination(dst)
            .source(src)
            .typ("bind")
            .options(vec!["rbind".to_string(), "rprivate".to_string()])
            .build()
            .ok()
    })
    .collect()
}

/// After `create` recorded the container: writes its hosts file and
/// rewrites its peers'.
pub fn announce(root: &Path, dir: &Path) -> crate::Result<()> {
    let st = State::load(dir)?;
    if st.networks.is_empty() {
        return Ok(());
    }
    let _l = store::Lock::root(root)?;
    let everyone = state::all(root);
    hosts::write_for(dir, &st, &everyone, "the container was created")?;
    let eps: Vec<&Endpoint> = st.networks.iter().collect();
    hosts::refresh(
        &everyone,
        &eps,
        (&st.id, &st.name),
        &format!("{} joined", st.name),
    )
}

/// Start's half: wires every endpoint into the namespace of `pid`,
/// making a missing bridge first.
pub fn attach(root: &Path, endpoints: &[Endpoint], pid: i32) -> crate::Result<()> {
    if endpoints.is_empty() {
        return Ok(());
    }
    let _p = trace::phase("network");
    let mut nl = netlink::Netlink::open().map_err(nl_err("opening a netlink socket"))?;
    for ep in endpoints {
        {
            let _l = store::Lock::root(root)?;
            let net = store::load(root, &ep.network)?
                .ok_or_else(|| NetworkError::NoSuchNetwork(ep.network.clone()))?;
            bridge::ensure(&mut nl, root, &net)?;
        }
        veth::attach(&mut nl, ep, pid)?;
    }
    Ok(())
}

/// After the container's init ended: removes what is left of its veth
/// pairs.
pub fn detach(endpoints: &[Endpoint]) {
    if endpoints.is_empty() {
        return;
    }
    let _p = trace::phase("network");
    if let Ok(mut nl) = netlink::Netlink::open() {
        for ep in endpoints {
            let _ = veth::detach(&mut nl, ep);
        }
    }
}

/// rm's half: returns the container's addresses to their pools and
/// rewrites its peers' hosts files.
pub fn release(root: &Path, st: &State) {
    release_endpoints(root, &st.id, &st.name, &st.networks)
}

/// [`release`] for endpoints not (or no longer) in a saved state, such as
/// those of a `create` that failed half-way.
pub fn release_endpoints(root: &Path, id: &str, name: &str, endpoints: &[Endpoint]) {
    if endpoints.is_empty() {
        return;
    }
    let Ok(_l) = store::Lock::root(root) else {
        return;
    };
    for ep in endpoints {
        let _ = release_one(root, id, ep);
    }
    let everyone: Vec<(PathBuf, State)> = state::all(root)
        .into_iter()
        .filter(|(_, s)| s.id != id)
        .collect();
    let eps: Vec<&Endpoint> = endpoints.iter().collect();
    let _ = hosts::refresh(&everyone, &eps, (id, name), &format!("{name} left"));
}

fn release_one(root: &Path, id: &str, ep: &Endpoint) -> crate::Result<()> {
    let mut a = store::load_ipam(root, &ep.network)?;
    let s = trace::cleanup(
        Kind::Network,
        "release",
        format!("{} on {}", ep.ip, ep.network),
    )
    .field("network", &ep.network)
    .field("address", ep.ip.to_string())
    .announce()?;
    a.release(id);
    s.finish_with(store::save_ipam(root, &ep.network, &a))?;
    Ok(())
}

/// The container's endpoints, by name or id: what the port publisher
/// needs (addresses and bridges).
pub fn endpoints(root: &Path, container: &str) -> crate::Result<Vec<Endpoint>> {
    Ok(state::find(root, container)?.1.networks)
}

/// `network connect NET CONTAINER [--alias A]`: gives the container an
/// address on `net` and, when it runs, a new interface at once.
pub fn connect(
    root: &Path,
    net_key: &str,
    container: &str,
    aliases: Vec<String>,
    ip: Option<Ipv4Addr>,
) -> crate::Result<Endpoint> {
    let (dir, _) = state::find(root, container)?;
    let ep = {
        let _l = store::Lock::root(root)?;
        let net = store::find(root, net_key)?;
        let st = State::load(&dir)?;
        if st.networks.iter().any(|e| e.network == net.name) {
            return Err(NetworkError::AlreadyConnected(st.name, net.name).into());
        }
        if !dir.join("hosts").exists() {
            return Err(NetworkError::Conflict(format!(
                "container {} was made with --network none or host; only containers started on a bridge network can be connected to more",
                st.name
            ))
            .into());
        }
        let index = (0..)
            .find(|i| !st.networks.iter().any(|e| e.interface == format!("eth{i}")))
            .unwrap_or(0);
        allocate(root, &net, &st.id, ip, aliases, index)?
    };
    let st = State::load(&dir)?;
    let running = matches!(
        st.observed(),
        state::Status::Running | state::Status::Paused
    );
    if let (true, Some(pid)) = (running, st.pid) {
        if let Err(e) = attach(root, std::slice::from_ref(&ep), pid) {
            let _l = store::Lock::root(root)?;
            let _ = release_one(root, &st.id, &ep);
            return Err(e);
        }
    }
    let mut st = State::load(&dir)?;
    st.networks.push(ep.clone());
    st.save(&dir)?;
    let _l = store::Lock::root(root)?;
    let everyone = state::all(root);
    hosts::write_for(&dir, &st, &everyone, "the container joined a network")?;
    hosts::refresh(
        &everyone,
        &[&ep],
        (&st.id, &st.name),
        &format!("{} joined", st.name),
    )?;
    Ok(ep)
}

/// `network disconnect NET CONTAINER`: unplugs the interface (when it
/// runs) and returns the address.
pub fn disconnect(root: &Path, net_key: &str, container: &str) -> crate::Result<()> {
    let (dir, st) = state::find(root, container)?;
    let net = store::find(root, net_key)?;
    let Some(ep) = st.networks.iter().find(|e| e.network == net.name).cloned() else {
        return Err(NetworkError::NotConnected(st.name, net.name).into());
    };
    if let Ok(mut nl) = netlink::Netlink::open() {
        veth::detach(&mut nl, &ep)?;
    }
    let mut st = State::load(&dir)?;
    st.networks.retain(|e| e.network != net.name);
    st.save(&dir)?;
    let _l = store::Lock::root(root)?;
    release_one(root, &st.id, &ep)?;
    let everyone = state::all(root);
    hosts::write_for(&dir, &st, &everyone, "the container left a network")?;
    hosts::refresh(
        &everyone,
        &[&ep],
        (&st.id, &st.name),
        &format!("{} left", st.name),
    )
}

/// `network inspect`: a JSON object shaped like Docker's.
pub fn inspect(root: &Path, key: &str) -> crate::Result<serde_json::Value> {
    let net = store::find(root, key)?;
    let mut containers = serde_json::Map::new();
    for (_, st) in state::all(root) {
        for ep in st.networks.iter().filter(|e| e.network == net.name) {
            containers.insert(
                st.id.clone(),
                serde_json::json!({
                    "Name": st.name,
                    "MacAddress": ep.mac,
                    "IPv4Address": format!("{}/{}", ep.ip, ep.prefix),
                    "Aliases": ep.aliases,
                    "HostVeth": ep.host_veth,
                }),
            );
        }
    }
    Ok(serde_json::json!({
        "Name": net.name,
        "Id": net.id,
        "Created": net.created,
        "Driver": net.driver,
        "Internal": net.internal,
        "IPAM": {
            "Driver": "default",
            "Config": [{
                "Subnet": net.subnet.to_string(),
                "Gateway": net.gateway.map(|g| g.to_string()).unwrap_or_default(),
            }],
        },
        "Options": { "com.docker.network.bridge.name": net.bridge },
        "Containers": containers,
    }))
}

/// `inspect`'s `NetworkSettings` for a container, shaped like Docker's.
pub fn settings(st: &State) -> serde_json::Value {
    let mut nets = serde_json::Map::new();
    for ep in &st.networks {
        nets.insert(
            ep.network.clone(),
            serde_json::json!({
                "NetworkID": ep.network_id,
                "IPAddress": ep.ip.to_string(),
                "IPPrefixLen": ep.prefix,
                "Gateway": ep.gateway.map(|g| g.to_string()).unwrap_or_default(),
                "MacAddress": ep.mac,
                "Aliases": ep.aliases,
                "Links": ep.links,
                "Interface": ep.interface,
                "HostVeth": ep.host_veth,
                "Bridge": ep.bridge,
            }),
        );
    }
    let default = st.networks.iter().find(|e| e.network == DEFAULT_NETWORK);
    serde_json::json!({
        "Bridge": default.map(|e| e.bridge.clone()).unwrap_or_default(),
        "IPAddress": default.map(|e| e.ip.to_string()).unwrap_or_default(),
        "IPPrefixLen": default.map(|e| e.prefix).unwrap_or(0),
        "Gateway": default.and_then(|e| e.gateway).map(|g| g.to_string()).unwrap_or_default(),
        "MacAddress": default.map(|e| e.mac.clone()).unwrap_or_default(),
        "Networks": nets,
    })
}
