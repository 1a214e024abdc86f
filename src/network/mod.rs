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
//! - exit ([`detach`]): the veth pairs go with the container's network
//!   namespace; the kernel deletes them in the background.
//! - rm ([`release`]): the addresses go back to the pool and the peers'
//!   hosts files lose the container.
//!
//! Those steps live in `endpoint.rs`; networks themselves (`network
//! create|rm|prune`, choosing subnets and bridge names) in `manage.rs`;
//! the JSON of `network inspect` and of a container's `NetworkSettings` in
//! `inspect.rs`; placeholders for the book's transcripts in [`redact`].
//!
//! Kernel changes go through netlink ([`netlink`]), each as an event with
//! the `ip` command that would do the same. As root nothing is routed off
//! the machine: no masquerade, no global `ip_forward`, and forwarding is
//! turned off on every bridge glassbox makes. Rootless, the bridges live in
//! the keeper's network namespace, whose one way out is slirp4netns's tap
//! (`rootless::uplink`): there the bridges forward, to the tap only.

pub mod bridge;
mod endpoint;
pub mod hosts;
mod inspect;
pub mod ipam;
mod manage;
pub mod netlink;
pub mod port;
pub mod redact;
pub mod store;
pub mod veth;

pub use endpoint::{
    announce, attach, connect, detach, disconnect, endpoints, fresh_host_ends, join,
    journal_disconnects, name_mounts, release, release_endpoints,
};
pub use inspect::{inspect, settings};
pub use ipam::Subnet;
pub use manage::{create, prune, remove, teardown_root, users, CreateOptions, Pruned};
pub use store::{Network, DEFAULT_NETWORK};

pub use crate::store::container::Endpoint;

use std::net::Ipv4Addr;

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
    /// `--network container:NAME`, which glassbox does not do.
    #[error("network mode {0:?}: glassbox does not share one container's network namespace with another; put both on one network instead (`glassbox network create NET`, then `--network NET` for each) and they reach each other by name")]
    ContainerMode(String),
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
    /// Parses the value of `--network` (or the API's `NetworkMode`):
    /// `none`, `host`, `bridge`/`default` or a network's name. Docker's
    /// `container:NAME` (join another container's network namespace) is
    /// refused with what to do instead, and so is a name no network can
    /// have.
    pub fn parse(s: &str) -> Result<Mode, NetworkError> {
        match s {
            "none" => Ok(Mode::None),
            "host" => Ok(Mode::Host),
            "default" | "" => Ok(Mode::Network(DEFAULT_NETWORK.into())),
            m if m.starts_with("container:") => Err(NetworkError::ContainerMode(m.into())),
            name if manage::valid_name(name) => Ok(Mode::Network(name.into())),
            other => Err(NetworkError::BadName(other.into())),
        }
    }

    /// The mode as `docker inspect` shows `HostConfig.NetworkMode`.
    pub fn as_str(&self) -> &str {
        match self {
            Mode::None => "none",
            Mode::Host => "host",
            Mode::Network(n) => n,
        }
    }

    /// Whether the container gets its own address on a bridge (so `-p`
    /// has somewhere to forward to).
    pub fn has_own_address(&self) -> bool {
        matches!(self, Mode::Network(_))
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
