//! The parts of a container's record that network, volume and runtime
//! fill in: its ports, its place on each network, its mounts and its
//! restart policy. Only the data is here, below all three; what each part
//! means and does (parsing, binding, joining) stays with the module that
//! owns it, as `impl` blocks there.

use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

/// A transport protocol a port can be published for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP streams.
    Tcp,
    /// UDP datagrams.
    Udp,
}

/// One published port: a host address and port that forward to one port of
/// the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    /// tcp or udp.
    pub proto: Proto,
    /// The container's port.
    pub container_port: u16,
    /// The host address to listen on (`0.0.0.0` = every IPv4 address,
    /// `::` = every IPv6 address).
    pub host_ip: IpAddr,
    /// The host port as asked for: `""` (any free port), `"8080"` or a
    /// range `"8000-8010"` (the first free one in it). Docker's
    /// `HostConfig.PortBindings` shows this.
    #[serde(default)]
    pub host_port_spec: String,
    /// The host port actually bound while the container is published.
    #[serde(default)]
    pub host_port: Option<u16>,
    /// The `[::]` binding added beside a `0.0.0.0` one because `-p` gave no
    /// host address (Docker publishes on both); it takes the same host port
    /// as its IPv4 sibling and is not part of what was asked for.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ipv6_twin: bool,
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

/// A mount as recorded in a container's state and shown by `inspect`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MountRecord {
    /// `volume` or `bind`.
    pub kind: String,
    /// The volume's name (volumes only).
    pub name: Option<String>,
    /// The host directory mounted.
    pub source: PathBuf,
    /// The path inside the container.
    pub destination: String,
    /// Writable.
    pub rw: bool,
    /// An anonymous volume (removed with `rm -v`).
    pub anonymous: bool,
}

/// When the shim starts the process again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "name")]
pub enum RestartPolicy {
    /// Never (the default).
    #[default]
    No,
    /// After a non-zero exit, at most `max` times (0: no limit).
    OnFailure {
        /// The most restarts (0 = unlimited).
        max: u32,
    },
    /// After any exit.
    Always,
    /// After any exit, unless it was stopped.
    UnlessStopped,
}
