//! Network and volume routes: list, inspect, create, connect and
//! disconnect, remove, prune — each the engine function `glassbox network`
//! and `glassbox volume` call.

use super::routes::{empty, engine_error, json, Req, Resp};
use super::Daemon;
use hyper::StatusCode;
use serde_json::{json, Value};

fn or_error<T>(r: crate::Result<T>, ok: impl FnOnce(T) -> Resp) -> Resp {
    match r {
        Ok(v) => ok(v),
        Err(e) => engine_error(&e),
    }
}

/// `GET /networks?filters=`.
pub fn networks(d: &Daemon, r: &Req) -> Resp {
    let filters = r.filters();
    let list: Vec<Value> = crate::network::store::all(&d.root)
        .iter()
        .filter_map(|n| crate::network::inspect(&d.root, &n.name).ok())
        .filter(|v| {
            filters.iter().all(|(k, want)| match k.as_str() {
                "name" => v["Name"]
                    .as_str()
                    .is_some_and(|n| n.contains(want.as_str())),
                "id" => v["Id"]
                    .as_str()
                    .is_some_and(|n| n.starts_with(want.as_str())),
                _ => true,
            })
        })
        .map(|mut v| {
            v["Scope"] = json!("local");
            v["EnableIPv6"] = json!(false);
            v["Attachable"] = json!(false);
            v["Labels"] = json!({});
            v
        })
        .collect();
    json(StatusCode::OK, &Value::Array(list))
}

/// `GET /networks/ID`.
pub fn network_inspect(d: &Daemon, id: &str) -> Resp {
    or_error(crate::network::inspect(&d.root, id), |mut v| {
        v["Scope"] = json!("local");
        v["Labels"] = json!({});
        json(StatusCode::OK, &v)
    })
}

/// `POST /networks/create`: `{"Name": ..., "IPAM": {"Config": [{"Subnet": ...}]}, "Internal": ...}`.
pub fn network_create(d: &Daemon, r: &Req) -> Resp {
    let v = match r.json() {
        Ok(v) => v,
        Err(e) => return e,
    };
    let name = v["Name"].as_str().unwrap_or("").to_string();
    let cfg = &v["IPAM"]["Config"][0];
    let made = (|| -> crate::Result<crate::network::Network> {
        let subnet = cfg["Subnet"]
            .as_str()
            .map(crate::network::Subnet::parse)
            .transpose()?;
        let gateway = cfg["Gateway"].as_str().and_then(|g| g.parse().ok());
        let o = crate::network::CreateOptions {
            subnet,
            gateway,
            internal: v["Internal"].as_bool().unwrap_or(false),
        };
        crate::network::create(&d.root, &name, &o)
    })();
    or_error(made, |n| {
        json(StatusCode::CREATED, &json!({"Id": n.id, "Warning": ""}))
    })
}

/// `POST /networks/ID/connect` and `disconnect`: `{"Container": ..., "EndpointConfig": {"Aliases": [...]}}`.
pub fn network_connect(d: &Daemon, id: &str, r: &Req, connect: bool) -> Resp {
    let v = match r.json() {
        Ok(v) => v,
        Err(e) => return e,
    };
    let container = v["Container"].as_str().unwrap_or("").to_string();
    let done = if connect {
        let aliases = v["EndpointConfig"]["Aliases"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let ip = v["EndpointConfig"]["IPAMConfig"]["IPv4Address"]
            .as_str()
            .and_then(|s| s.parse().ok());
        crate::network::connect(&d.root, id, &container, aliases, ip).map(|_| ())
    } else {
        crate::network::disconnect(&d.root, id, &container)
    };
    or_error(done, |_| empty(StatusCode::OK))
}

/// `DELETE /networks/ID`.
pub fn network_remove(d: &Daemon, id: &str) -> Resp {
    or_error(crate::network::remove(&d.root, id), |_| {
        empty(StatusCode::NO_CONTENT)
    })
}

/// `POST /networks/prune`.
pub fn network_prune(d: &Daemon) -> Resp {
    or_error(crate::network::prune(&d.root), |gone| {
        json(StatusCode::OK, &json!({"NetworksDeleted": gone.networks}))
    })
}

pub(crate) fn volume_json(d: &Daemon, v: &crate::volume::Volume) -> Value {
    json!({
        "Name": v.name,
        "Driver": "local",
        "Mountpoint": v.mountpoint.display().to_string(),
        "CreatedAt": v.meta.created,
        "Labels": {},
        "Scope": "local",
        "Options": {},
        "UsageData": {"RefCount": crate::runtime::volumes::users(&d.root, &v.name).len(), "Size": -1},
    })
}

/// `GET /volumes`.
pub fn volumes(d: &Daemon) -> Resp {
    let list: Vec<Value> = crate::volume::list(&d.root)
        .iter()
        .map(|v| volume_json(d, v))
        .collect();
    json(StatusCode::OK, &json!({"Volumes": list, "Warnings": []}))
}

/// `GET /volumes/NAME`.
pub fn volume_inspect(d: &Daemon, name: &str) -> Resp {
    match crate::volume::get(&d.root, name) {
        Ok(v) => json(StatusCode::OK, &volume_json(d, &v)),
        Err(_) => super::routes::error(
            StatusCode::NOT_FOUND,
            &format!("get {name}: no such volume"),
        ),
    }
}

/// `POST /volumes/create`: `{"Name": ...}` (a generated name when empty).
pub fn volume_create(d: &Daemon, r: &Req) -> Resp {
    let v = match r.json() {
        Ok(v) => v,
        Err(e) => return e,
    };
    let made = (|| -> crate::Result<crate::volume::Volume> {
        let name = match v["Name"].as_str().filter(|n| !n.is_empty()) {
            Some(n) => n.to_string(),
            None => crate::runtime::volumes::new_name()?,
        };
        crate::volume::check_name(&name)?;
        crate::volume::ensure(&d.root, &name)?;
        crate::volume::get(&d.root, &name)
    })();
    or_error(made, |vol| json(StatusCode::CREATED, &volume_json(d, &vol)))
}

/// `DELETE /volumes/NAME`.
pub fn volume_remove(d: &Daemon, name: &str, _r: &Req) -> Resp {
    if crate::volume::get(&d.root, name).is_err() {
        return super::routes::error(
            StatusCode::NOT_FOUND,
            &format!("get {name}: no such volume"),
        );
    }
    match crate::runtime::volumes::remove(&d.root, name) {
        Ok(()) => empty(StatusCode::NO_CONTENT),
        Err(e) => super::routes::error(StatusCode::CONFLICT, &e.to_string()),
    }
}

/// `POST /volumes/prune`.
pub fn volume_prune(d: &Daemon) -> Resp {
    or_error(crate::runtime::volumes::prune(&d.root), |gone| {
        json(
            StatusCode::OK,
            &json!({"VolumesDeleted": gone, "SpaceReclaimed": 0}),
        )
    })
}
