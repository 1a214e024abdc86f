//! System routes: `_ping`, `version`, `info`, `auth`, `events`, `system/df`.

use super::routes::{error, json, Req, Resp};
use super::Daemon;
use hyper::StatusCode;

/// `GET|HEAD /_ping`: "OK", with the headers the CLI negotiates from
/// (added to every answer) and `Builder-Version: 1` (the classic builder:
/// the CLI then sends `/build` a tar instead of starting BuildKit).
pub fn ping() -> Resp {
    hyper::Response::builder()
        .status(StatusCode::OK)
        .header("Content-Type", "text/plain; charset=utf-8")
        .header("Builder-Version", "1")
        .header("Cache-Control", "no-cache, no-store, must-revalidate")
        .header("Pragma", "no-cache")
        .body(super::Body::full("OK"))
        .expect("a response from fixed parts")
}

fn kernel() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    }
}

/// `GET /version`.
pub fn version() -> Resp {
    let v = env!("CARGO_PKG_VERSION");
    json(
        StatusCode::OK,
        &serde_json::json!({
            "Platform": {"Name": "glassbox"},
            "Components": [{
                "Name": "Engine",
                "Version": v,
                "Details": {
                    "ApiVersion": super::API_VERSION,
                    "MinAPIVersion": super::MIN_API_VERSION,
                    "Os": "linux",
                    "Arch": arch(),
                    "KernelVersion": kernel(),
                }
            }],
            "Version": v,
            "ApiVersion": super::API_VERSION,
            "MinAPIVersion": super::MIN_API_VERSION,
            "GitCommit": "",
            "GoVersion": "",
            "Os": "linux",
            "Arch": arch(),
            "KernelVersion": kernel(),
            "BuildTime": "",
        }),
    )
}

/// `docker info`'s security line: rootless, as dockerd says it, when the
/// daemon runs without root.
fn security_options() -> Vec<&'static str> {
    let mut v = vec!["name=seccomp,profile=unconfined"];
    if crate::rootless::active().is_some() {
        v.push("name=rootless");
    }
    v
}

/// `GET /info`: what `docker info` prints.
pub fn info(d: &Daemon) -> Resp {
    let all = crate::store::container::all(&d.root);
    let count = |want: &[crate::store::container::Status]| {
        all.iter()
            .filter(|(_, s)| want.contains(&s.observed()))
            .count()
    };
    use crate::store::container::Status as S;
    let images = crate::store::Store::open(&d.root)
        .and_then(|s| s.tags())
        .map(|t| t.len())
        .unwrap_or(0);
    let cgroup = crate::runtime::cgroup::Layout::detect()
        .map(|l| l.version().trim_start_matches('v').to_string())
        .unwrap_or_default();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| {
                    l.split_whitespace()
                        .nth(1)
                        .and_then(|k| k.parse::<u64>().ok())
                })
        })
        .unwrap_or(0)
        * 1024;
    let host = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    json(
        StatusCode::OK,
        &serde_json::json!({
            "ID": "glassbox",
            "Containers": all.len(),
            "ContainersRunning": count(&[S::Running, S::Restarting]),
            "ContainersPaused": count(&[S::Paused]),
            "ContainersStopped": count(&[S::Exited, S::Created, S::Dead]),
            "Images": images,
            "Driver": "overlay2",
            "DriverStatus": [["Backing Filesystem", "overlayfs"], ["Store", d.root.display().to_string()]],
            "DockerRootDir": d.root.display().to_string(),
            "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "null"], "Log": ["json-file"]},
            "MemoryLimit": true,
            "SwapLimit": false,
            "CpuCfsPeriod": true,
            "CpuCfsQuota": true,
            "PidsLimit": true,
            "IPv4Forwarding": false,
            "Debug": false,
            "LoggingDriver": "json-file",
            "CgroupDriver": "cgroupfs",
            "CgroupVersion": cgroup,
            "KernelVersion": kernel(),
            "OperatingSystem": "glassbox on Linux",
            "OSType": "linux",
            "Architecture": std::env::consts::ARCH,
            "NCPU": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            "MemTotal": mem,
            "Name": host,
            "ServerVersion": env!("CARGO_PKG_VERSION"),
            "Runtimes": {"glassbox": {"path": "glassbox"}},
            "DefaultRuntime": "glassbox",
            "Swarm": {"LocalNodeState": "inactive", "NodeID": "", "NodeAddr": "", "ControlAvailable": false, "Error": "", "RemoteManagers": null},
            "SecurityOptions": security_options(),
            "Labels": [],
            "ExperimentalBuild": false,
            "RegistryConfig": {"InsecureRegistryCIDRs": ["127.0.0.0/8"], "IndexConfigs": {}, "Mirrors": []},
            "Warnings": [],
        }),
    )
}

/// `POST /auth`: checks credentials against the registry's `/v2/`, as
/// `glassbox login` does.
pub fn auth(r: &Req) -> Resp {
    let v = match r.json() {
        Ok(v) => v,
        Err(e) => return e,
    };
    let server = v["serveraddress"].as_str().unwrap_or("").to_string();
    let user = v["username"].as_str().unwrap_or("").to_string();
    let pass = v["password"].as_str().unwrap_or("").to_string();
    let host = server
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .trim_end_matches("/v1")
        .to_string();
    let creds = crate::registry::client::http::Credentials {
        username: user,
        password: pass,
    };
    match crate::registry::client::login(&host, creds) {
        Ok(_) => json(
            StatusCode::OK,
            &serde_json::json!({"Status": "Login Succeeded", "IdentityToken": ""}),
        ),
        Err(e) => error(StatusCode::UNAUTHORIZED, &e.to_string()),
    }
}

/// Bytes of the regular files and symlinks under `dir` (apparent sizes,
/// as `du --apparent-size -b`), each hard-linked file counted once;
/// symlinks are not followed.
pub(crate) fn tree_size(dir: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut seen = std::collections::HashSet::new();
    let mut total = 0;
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(m) = e.path().symlink_metadata() else {
                continue;
            };
            if m.is_dir() {
                todo.push(e.path());
            } else if m.nlink() <= 1 || seen.insert((m.dev(), m.ino())) {
                total += m.len();
            }
        }
    }
    total
}

/// `GET /system/df`: what `docker system df [-v]` prints, measured from
/// the store's files: an image's size is its layers' unpacked trees
/// (`layers/<chain id>/`, or the compressed blob of a layer not yet
/// unpacked), its shared size the part of that in layers other images
/// use too; a container's `SizeRw` is its writable layer (`upper/`),
/// `SizeRootFs` that plus its image's layers; a volume's size is its
/// `_data` tree. glassbox has no BuildKit cache: `BuildCache` is empty.
pub fn df(d: &Daemon) -> Resp {
    use serde_json::{json, Value};
    let store = match crate::store::Store::open(&d.root) {
        Ok(s) => s,
        Err(e) => return super::routes::engine_error(&e),
    };
    // Each layer measured once, by chain id.
    let mut layer_size: std::collections::BTreeMap<String, u64> = Default::default();
    let mut measure = |l: &crate::store::LayerRef| -> u64 {
        if let Some(n) = layer_size.get(&l.chain_id) {
            return *n;
        }
        let dir = crate::store::digest_hex(&l.chain_id)
            .map(|h| store.layers_dir().join(h))
            .ok()
            .filter(|p| p.is_dir());
        let n = match dir {
            Some(p) => tree_size(&p),
            None => store
                .blob_path(&l.digest)
                .ok()
                .and_then(|p| p.metadata().ok())
                .map(|m| m.len())
                .unwrap_or(l.size),
        };
        layer_size.insert(l.chain_id.clone(), n);
        n
    };
    let mut images: Vec<(crate::store::Image, Vec<String>)> = Vec::new();
    for (tag, digest) in store.tags().unwrap_or_default() {
        let Ok(img) = store.image_from_manifest(&digest) else {
            continue;
        };
        match images.iter_mut().find(|(i, _)| i.id == img.id) {
            Some((_, tags)) => tags.push(tag),
            None => images.push((img, vec![tag])),
        }
    }
    let containers = crate::store::container::all(&d.root);
    let layer_dir = |chain: &str| {
        crate::store::digest_hex(chain)
            .map(|h| store.layers_dir().join(h))
            .ok()
    };
    let mut image_rows = Vec::new();
    for (img, tags) in &images {
        let size: u64 = img.layers.iter().map(&mut measure).sum();
        let shared: u64 = img
            .layers
            .iter()
            .filter(|l| {
                images.iter().any(|(o, _)| {
                    o.id != img.id && o.layers.iter().any(|x| x.chain_id == l.chain_id)
                })
            })
            .map(&mut measure)
            .sum();
        let top = img.layers.last().and_then(|l| layer_dir(&l.chain_id));
        let users = containers
            .iter()
            .filter(|(_, st)| {
                top.is_some() && st.lowers.first().map(|(p, _)| Some(p)) == Some(top.as_ref())
            })
            .count();
        let created = img.config.created().clone().unwrap_or_default();
        image_rows.push(json!({
            "Id": img.id,
            "ParentId": "",
            "RepoTags": tags,
            "RepoDigests": [],
            "Created": chrono::DateTime::parse_from_rfc3339(&created).map(|t| t.timestamp()).unwrap_or(0),
            "Size": size,
            "VirtualSize": size,
            "SharedSize": shared,
            "Labels": img.config.config().as_ref().and_then(|c| c.labels().clone()).unwrap_or_default(),
            "Containers": users,
        }));
    }
    let rows = crate::runtime::lifecycle::ps(&d.root, true);
    let mut container_rows = Vec::new();
    for (dir, st) in &containers {
        let rw = tree_size(&dir.join("upper"));
        let lower: u64 = st.lowers.iter().map(|(p, _)| tree_size(p)).sum();
        let mut v = super::containers::summary(d, st, &rows);
        v["SizeRw"] = json!(rw);
        v["SizeRootFs"] = json!(rw + lower);
        container_rows.push(v);
    }
    let volumes: Vec<Value> = crate::volume::list(&d.root)
        .iter()
        .map(|v| {
            let mut j = super::objects::volume_json(d, v);
            j["UsageData"]["Size"] = json!(tree_size(&v.mountpoint));
            j
        })
        .collect();
    super::routes::json(
        StatusCode::OK,
        &json!({
            "LayersSize": layer_size.values().sum::<u64>(),
            "Images": image_rows,
            "Containers": container_rows,
            "Volumes": volumes,
            "BuildCache": [],
        }),
    )
}
