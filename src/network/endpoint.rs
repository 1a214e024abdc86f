//! A container's endpoints through its life: an address from each
//! network's pool at `create` ([`join`]), the wiring at start ([`attach`]),
//! the veth's end at exit ([`detach`]), the address back at `rm`
//! ([`release`]), and `network connect|disconnect` on the way.

use super::manage::{make, nl_err, CreateOptions};
use super::DEFAULT_NETWORK;
use super::{bridge, hosts, netlink, store, veth, Endpoint, Mode, Network, NetworkError, Request};
use crate::store::container::{self, State};
use crate::trace::{self, Kind};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

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
        let (_, st) = container::find(root, target)?;
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
    let everyone = container::all(root);
    hosts::write_for(dir, &st, &everyone, "the container was created")?;
    let eps: Vec<&Endpoint> = st.networks.iter().collect();
    hosts::refresh(
        &everyone,
        &eps,
        (&st.id, &st.name),
        &format!("{} joined", st.name),
    )
}

/// Before a start: the host-end names this start's veth pairs will have.
/// A container that ran before leaves its pairs to the kernel, which deletes
/// them in the background once that run's network namespace is freed — a
/// moment later, or much later on a loaded host. Rather than wait for that,
/// or race it, a start whose usual name is still taken picks the next free
/// one (`gbxv<id><n>` then `gbxv<id><n>1` … `f`), so what the start does
/// never depends on how far the kernel got. The names it picked are saved
/// by the caller in the container's record, where inspect and `explain port`
/// read them.
pub fn fresh_host_ends(endpoints: Vec<Endpoint>) -> Vec<Endpoint> {
    if endpoints.is_empty() {
        return endpoints;
    }
    let Ok(mut nl) = netlink::Netlink::host() else {
        return endpoints;
    };
    endpoints
        .into_iter()
        .map(|mut ep| {
            let base = usual_host_end(&ep);
            let free = std::iter::once(base.clone())
                .chain((1..16).map(|n| format!("{base}{n:x}")))
                .find(|name| matches!(nl.link(name), Ok(None)));
            if let Some(name) = free {
                ep.host_veth = name;
            }
            ep
        })
        .collect()
}

/// `gbxv` + 8 hex digits of the id + the interface index: the name a host
/// end has when nothing lingers (an earlier start may have added a suffix).
fn usual_host_end(ep: &Endpoint) -> String {
    let id8: String = ep.host_veth.chars().skip(4).take(8).collect();
    format!("gbxv{id8}{}", ep.interface.trim_start_matches("eth"))
}

/// Start's half: wires every endpoint into the namespace of `pid`,
/// making a missing bridge first; each is journaled as the network's
/// `connect` of container `id`, as dockerd's at start.
pub fn attach(root: &Path, id: &str, endpoints: &[Endpoint], pid: i32) -> crate::Result<()> {
    if endpoints.is_empty() {
        return Ok(());
    }
    let _p = trace::phase("network");
    let mut nl = netlink::Netlink::host().map_err(nl_err("opening a netlink socket"))?;
    for ep in endpoints {
        {
            let _l = store::Lock::root(root)?;
            let net = store::load(root, &ep.network)?
                .ok_or_else(|| NetworkError::NoSuchNetwork(ep.network.clone()))?;
            bridge::ensure(&mut nl, root, &net)?;
        }
        veth::attach(&mut nl, ep, pid)?;
        journal_network(root, "connect", &ep.network_id, &ep.network, id);
    }
    Ok(())
}

/// After the container's init ended: its veth pairs go with its network
/// namespace. The kernel deletes them itself, in the background, once the
/// namespace is freed; deleting them here would make `run` wait for the
/// kernel (an RCU grace period, 5-20 ms), so glassbox only says so.
/// (The journal's `disconnect` follows the container's `die`: see
/// [`journal_disconnects`].)
pub fn detach(endpoints: &[Endpoint]) {
    if endpoints.is_empty() {
        return;
    }
    let _p = trace::phase("network");
    for ep in endpoints {
        trace::fact(Kind::Network, "veth_gone", format!("veth {}", ep.host_veth))
            .field("interface", &ep.host_veth)
            .field("container_end", &ep.interface)
            .field("network", &ep.network)
            .equivalent(format!("ip link show {}  # gone in a moment", ep.host_veth))
            .info();
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
    let everyone: Vec<(PathBuf, State)> = container::all(root)
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

/// Journals the network `disconnect` of every endpoint of a container
/// that ended, after its `die`, in dockerd's order.
pub fn journal_disconnects(root: &Path, st: &State) {
    for ep in &st.networks {
        journal_network(root, "disconnect", &ep.network_id, &ep.network, &st.id);
    }
}

/// Journals a network event as docker's: the network's id, its name and
/// type, and the container when one is involved.
pub(crate) fn journal_network(root: &Path, action: &str, id: &str, name: &str, container: &str) {
    let mut attrs = vec![("name", name.to_string()), ("type", "bridge".to_string())];
    if !container.is_empty() {
        attrs.push(("container", container.to_string()));
    }
    crate::store::journal::record(root, "network", action, id, &attrs);
}

/// The container's endpoints, by name or id: what the port publisher
/// needs (addresses and bridges).
pub fn endpoints(root: &Path, container: &str) -> crate::Result<Vec<Endpoint>> {
    Ok(container::find(root, container)?.1.networks)
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
    let (dir, _) = container::find(root, container)?;
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
        container::Status::Running | container::Status::Paused
    );
    if let (true, Some(pid)) = (running, st.pid) {
        if let Err(e) = attach(root, &st.id, std::slice::from_ref(&ep), pid) {
            let _l = store::Lock::root(root)?;
            let _ = release_one(root, &st.id, &ep);
            return Err(e);
        }
    }
    let mut st = State::load(&dir)?;
    st.networks.push(ep.clone());
    st.save(&dir)?;
    let _l = store::Lock::root(root)?;
    let everyone = container::all(root);
    hosts::write_for(&dir, &st, &everyone, "the container joined a network")?;
    hosts::refresh(
        &everyone,
        &[&ep],
        (&st.id, &st.name),
        &format!("{} joined", st.name),
    )?;
    super::port::follow_network_change(&dir, &format!("connected to network {}", ep.network));
    Ok(ep)
}

/// `network disconnect NET CONTAINER`: unplugs the interface (when it
/// runs) and returns the address.
pub fn disconnect(root: &Path, net_key: &str, container: &str) -> crate::Result<()> {
    let (dir, st) = container::find(root, container)?;
    let net = store::find(root, net_key)?;
    let Some(ep) = st.networks.iter().find(|e| e.network == net.name).cloned() else {
        return Err(NetworkError::NotConnected(st.name, net.name).into());
    };
    if let Ok(mut nl) = netlink::Netlink::host() {
        veth::detach(&mut nl, &ep)?;
    }
    if matches!(
        st.observed(),
        container::Status::Running | container::Status::Paused
    ) {
        journal_network(root, "disconnect", &ep.network_id, &ep.network, &st.id);
    }
    let mut st = State::load(&dir)?;
    st.networks.retain(|e| e.network != net.name);
    st.save(&dir)?;
    let _l = store::Lock::root(root)?;
    release_one(root, &st.id, &ep)?;
    let everyone = container::all(root);
    hosts::write_for(&dir, &st, &everyone, "the container left a network")?;
    hosts::refresh(
        &everyone,
        &[&ep],
        (&st.id, &st.name),
        &format!("{} left", st.name),
    )?;
    super::port::follow_network_change(&dir, &format!("disconnected from network {}", ep.network));
    Ok(())
}
