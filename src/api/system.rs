//! System routes: `_ping`, `version`, `info`, `auth`, `events`, `system/df`.

use super::routes::{empty, error, json, Req, Resp};
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
    let all = crate::runtime::state::all(&d.root);
    let count = |want: &[crate::runtime::state::Status]| {
        all.iter()
            .filter(|(_, s)| want.contains(&s.observed()))
            .count()
    };
    use crate::runtime::state::Status as S;
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

/// `GET /events`: a stream that stays open; glassbox sends nothing on it
/// yet (events of the daemon are narrated, not stored).
pub fn events(_d: &Daemon, r: &Req) -> Resp {
    let (tx, body) = super::Body::channel();
    let until = r.q("until").and_then(|u| u.parse::<i64>().ok());
    std::thread::spawn(move || loop {
        if tx.closed() {
            return;
        }
        if let Some(u) = until {
            if chrono::Utc::now().timestamp() >= u {
                return;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    });
    hyper::Response::builder()
        .status(StatusCode::OK)
        .header("Content-Type", "application/json")
        .body(body)
        .expect("a response from fixed parts")
}

/// `GET /system/df`.
pub fn df(d: &Daemon) -> Resp {
    let _ = d;
    empty(StatusCode::NOT_IMPLEMENTED)
}
