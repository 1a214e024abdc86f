//! What `network inspect` and a container's `inspect` show, shaped like
//! Docker's JSON.

use super::{store, DEFAULT_NETWORK};
use crate::store::container::{self, State};
use std::path::Path;

/// `network inspect`: a JSON object shaped like Docker's.
pub fn inspect(root: &Path, key: &str) -> crate::Result<serde_json::Value> {
    let net = store::find(root, key)?;
    let mut containers = serde_json::Map::new();
    for (_, st) in container::all(root) {
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
