//! How published ports are shown: the PORTS column of `ps`, Docker's port
//! fields in `inspect`, and the lines of `glassbox port`.

use super::{Binding, PortError};
use std::path::Path;

/// Whether the container runs (or is paused, or restarting): only then
/// are its ports published.
pub(super) fn is_live(st: &crate::store::container::State) -> bool {
    use crate::store::container::Status;
    matches!(
        st.observed(),
        Status::Running | Status::Paused | Status::Restarting
    )
}

/// The PORTS column of `ps`: `0.0.0.0:8080->80/tcp, 53/udp`.
pub fn ps_column(st: &crate::store::container::State) -> String {
    let live = is_live(st);
    let mut out: Vec<String> = Vec::new();
    if live {
        for b in &st.ports.bindings {
            if b.host_port.is_some() {
                out.push(b.display());
            }
        }
    }
    for e in &st.ports.exposed {
        let key = normalise_key(e);
        let published = live && st.ports.bindings.iter().any(|b| b.key() == key);
        if !published && !out.contains(&key) {
            out.push(key);
        }
    }
    out.join(", ")
}

fn normalise_key(e: &str) -> String {
    if e.contains('/') {
        e.to_ascii_lowercase()
    } else {
        format!("{e}/tcp")
    }
}

/// Adds Docker's port fields to an `inspect` object:
/// `HostConfig.PortBindings` (what was asked), `Config.ExposedPorts`,
/// `NetworkSettings.Ports` (what is bound now; exposed-only ports are
/// `null`) and `HostConfig.PortDriver` (glassbox's own).
pub fn annotate_inspect(v: &mut serde_json::Value, st: &crate::store::container::State) {
    use serde_json::{json, Map, Value};
    let mut asked: Map<String, Value> = Map::new();
    // What was asked: a `[::]` twin was not.
    for b in st.ports.bindings.iter().filter(|b| !b.ipv6_twin) {
        let entry = asked.entry(b.key()).or_insert_with(|| json!([]));
        if let Some(a) = entry.as_array_mut() {
            a.push(json!({
                "HostIp": if b.host_ip.is_unspecified() { String::new() } else { b.host_ip.to_string() },
                "HostPort": b.host_port_spec,
            }));
        }
    }
    let mut now: Map<String, Value> = Map::new();
    if is_live(st) {
        for e in &st.ports.exposed {
            now.insert(normalise_key(e), Value::Null);
        }
        for b in &st.ports.bindings {
            let Some(p) = b.host_port else { continue };
            let entry = now.entry(b.key()).or_insert(Value::Null);
            if entry.is_null() {
                *entry = json!([]);
            }
            if let Some(a) = entry.as_array_mut() {
                a.push(json!({"HostIp": b.host_ip.to_string(), "HostPort": p.to_string()}));
            }
        }
    }
    let exposed: Map<String, Value> = st
        .ports
        .exposed
        .iter()
        .map(|e| (normalise_key(e), json!({})))
        .chain(st.ports.bindings.iter().map(|b| (b.key(), json!({}))))
        .collect();
    let Some(obj) = v.as_object_mut() else { return };
    let host = obj.entry("HostConfig").or_insert_with(|| json!({}));
    if let Some(h) = host.as_object_mut() {
        h.insert("PortBindings".into(), Value::Object(asked));
        h.insert("PublishAllPorts".into(), json!(st.ports.publish_all));
        h.insert("PortDriver".into(), json!(st.ports.driver.as_str()));
    }
    if let Some(c) = obj
        .entry("Config")
        .or_insert_with(|| json!({}))
        .as_object_mut()
    {
        c.insert("ExposedPorts".into(), Value::Object(exposed));
    }
    if let Some(n) = obj
        .entry("NetworkSettings")
        .or_insert_with(|| json!({}))
        .as_object_mut()
    {
        n.insert("Ports".into(), Value::Object(now));
    }
}

/// `glassbox port CONTAINER [PRIVATE_PORT[/PROTO]]`: lines like Docker's
/// (`80/tcp -> 0.0.0.0:8080`, or only `0.0.0.0:8080` for one port).
pub fn port_lines(root: &Path, key: &str, private: Option<&str>) -> crate::Result<Vec<String>> {
    let (_, st) = crate::store::container::find(root, key)?;
    if !is_live(&st) {
        return Ok(Vec::new());
    }
    let bound: Vec<&Binding> = st
        .ports
        .bindings
        .iter()
        .filter(|b| b.host_port.is_some())
        .collect();
    match private {
        None => Ok(bound
            .iter()
            .map(|b| {
                format!(
                    "{} -> {}:{}",
                    b.key(),
                    b.host_ip_text(),
                    b.host_port.unwrap_or(0)
                )
            })
            .collect()),
        Some(p) => {
            let key = normalise_key(p);
            let lines: Vec<String> = bound
                .iter()
                .filter(|b| b.key() == key)
                .map(|b| format!("{}:{}", b.host_ip_text(), b.host_port.unwrap_or(0)))
                .collect();
            if lines.is_empty() {
                return Err(PortError::NotPublished {
                    port: key,
                    container: st.name,
                }
                .into());
            }
            Ok(lines)
        }
    }
}
