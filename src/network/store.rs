//! Networks as recorded in the root: `ROOT/networks/NAME.json` (the
//! network: bridge, subnet, gateway, internal) beside `NAME.ipam.json` (who
//! holds which address), and the locks that serialise changes.
//!
//! Two locks, taken in this order: the root's `networks/.lock` for anything
//! that reads and writes these files (allocating, releasing, rewriting the
//! hosts files of a network's containers); and a host-wide one,
//! `/run/glassbox/network.lock`, while a new network picks its subnet and
//! bridge name — bridges and routes are the whole host's, shared by every
//! root.

use super::ipam::{Allocations, Subnet};
use super::NetworkError;
use crate::error::IoContext;
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// The default network's name, as Docker calls it.
pub const DEFAULT_NETWORK: &str = "bridge";

/// One network.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Network {
    /// Its name (unique in the root).
    pub name: String,
    /// A 64-hex id, like a container's.
    pub id: String,
    /// Always "bridge".
    pub driver: String,
    /// The Linux bridge device (`gbx0`, `gbx-0123456789`).
    pub bridge: String,
    /// Its IPv4 subnet.
    pub subnet: Subnet,
    /// The bridge's own address, the containers' default route; none on an
    /// internal network.
    pub gateway: Option<Ipv4Addr>,
    /// `--internal`: no gateway, no route out of the network.
    pub internal: bool,
    /// When it was created (RFC 3339).
    pub created: String,
}

impl Network {
    /// The address the bridge gets when the network is not internal. The
    /// gateway of an internal network is still reserved (never handed to a
    /// container), as the address a gateway would have.
    pub fn reserved_gateway(&self) -> Ipv4Addr {
        self.gateway.unwrap_or_else(|| self.subnet.first_host())
    }
}

/// `ROOT/networks`.
pub fn networks_dir(root: &Path) -> PathBuf {
    root.join("networks")
}

fn record_path(root: &Path, name: &str) -> PathBuf {
    networks_dir(root).join(format!("{name}.json"))
}

fn ipam_path(root: &Path, name: &str) -> PathBuf {
    networks_dir(root).join(format!("{name}.ipam.json"))
}

/// An exclusive lock on a file, released on drop.
pub struct Lock(#[allow(dead_code)] std::fs::File);

impl Lock {
    fn take(path: &Path) -> crate::Result<Lock> {
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).ctx(|| format!("creating {}", p.display()))?;
        }
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .ctx(|| format!("opening lock {}", path.display()))?;
        f.lock().ctx(|| format!("locking {}", path.display()))?;
        Ok(Lock(f))
    }

    /// The root's network lock.
    pub fn root(root: &Path) -> crate::Result<Lock> {
        Lock::take(&networks_dir(root).join(".lock"))
    }

    /// The host-wide lock for choosing subnets and bridge names.
    pub fn host() -> crate::Result<Lock> {
        Lock::take(&crate::rootless::run_dir().join("network.lock"))
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> crate::Result<()> {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).ctx(|| format!("creating {}", p.display()))?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).ctx(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).ctx(|| format!("renaming {}", tmp.display()))
}

/// Reads the network called `name`, if it exists.
pub fn load(root: &Path, name: &str) -> crate::Result<Option<Network>> {
    let p = record_path(root, name);
    match std::fs::read(&p) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(std::io::Error::other)
            .ctx(|| format!("parsing {}", p.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).ctx(|| format!("reading {}", p.display())),
    }
}

/// Writes a network's record.
pub fn save(root: &Path, n: &Network) -> crate::Result<()> {
    let json = serde_json::to_vec_pretty(n).map_err(std::io::Error::other);
    write_atomic(
        &record_path(root, &n.name),
        &json.ctx(|| "serialising a network".into())?,
    )
}

/// Every network of the root, by name.
pub fn all(root: &Path) -> Vec<Network> {
    let mut v: Vec<Network> = std::fs::read_dir(networks_dir(root))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let name = name.strip_suffix(".json")?;
                    if name.ends_with(".ipam") {
                        return None;
                    }
                    load(root, name).ok().flatten()
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

/// Finds a network by name, full id or unique id prefix.
pub fn find(root: &Path, key: &str) -> Result<Network, NetworkError> {
    let all = all(root);
    if let Some(n) = all.iter().find(|n| n.name == key || n.id == key) {
        return Ok(n.clone());
    }
    let m: Vec<_> = all.iter().filter(|n| n.id.starts_with(key)).collect();
    match m.as_slice() {
        [one] if key.len() >= 3 => Ok((*one).clone()),
        _ => Err(NetworkError::NoSuchNetwork(key.to_string())),
    }
}

/// Removes a network's record and allocations.
pub fn delete(root: &Path, name: &str) -> crate::Result<()> {
    for p in [record_path(root, name), ipam_path(root, name)] {
        match std::fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).ctx(|| format!("removing {}", p.display()))
            }
            _ => {}
        }
    }
    Ok(())
}

/// The addresses handed out on a network.
pub fn load_ipam(root: &Path, name: &str) -> crate::Result<Allocations> {
    let p = ipam_path(root, name);
    match std::fs::read(&p) {
        Ok(b) => serde_json::from_slice(&b)
            .map_err(std::io::Error::other)
            .ctx(|| format!("parsing {}", p.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Allocations::default()),
        Err(e) => Err(e).ctx(|| format!("reading {}", p.display())),
    }
}

/// Writes a network's allocations.
pub fn save_ipam(root: &Path, name: &str, a: &Allocations) -> crate::Result<()> {
    let json = serde_json::to_vec_pretty(a).map_err(std::io::Error::other);
    write_atomic(
        &ipam_path(root, name),
        &json.ctx(|| "serialising allocations".into())?,
    )
}
