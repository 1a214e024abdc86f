//! Container routes: create (the create body turned into the same
//! [`RunOptions`] `glassbox run` builds), list, inspect, the lifecycle
//! moves, wait with its conditions, top, remove, prune, and exec records.

use super::routes::{empty, engine_error, error, json, Req, Resp};
use super::Daemon;
use crate::runtime::{ProcessOptions, Rootfs, RunOptions};
use crate::store::container::{self, Status};
use hyper::StatusCode;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// Containers the daemon removes when they exit, and the exit codes of
/// those it removed, for `wait?condition=removed`.
#[derive(Default)]
pub struct AutoRemove {
    codes: Mutex<HashMap<String, Option<i32>>>,
    changed: Condvar,
}

impl AutoRemove {
    fn wants(&self, id: &str) -> bool {
        self.codes
            .lock()
            .map(|m| m.contains_key(id))
            .unwrap_or(false)
    }
    fn code(&self, id: &str) -> Option<i32> {
        self.codes
            .lock()
            .ok()
            .and_then(|m| m.get(id).copied().flatten())
    }
}

/// One `docker exec` instance.
#[derive(Debug, Clone)]
pub struct ExecRecord {
    /// The container's id.
    pub container: String,
    /// The command.
    pub cmd: Vec<String>,
    /// Extra environment.
    pub env: Vec<String>,
    /// `WorkingDir`, when given.
    pub workdir: Option<String>,
    /// `User`, when given.
    pub user: Option<String>,
    /// Whether it runs now.
    pub running: bool,
    /// Its exit code, once it ended.
    pub exit_code: Option<i32>,
    /// `Tty`: a pseudo-terminal.
    pub tty: bool,
    /// `AttachStdin`: the client's stdin goes to the process.
    pub stdin: bool,
    /// The pty master while it runs, for resizing.
    pub master: Option<std::sync::Arc<std::os::fd::OwnedFd>>,
    /// The last size asked for, set when the master arrives.
    pub size: Option<(u16, u16)>,
    /// The `glassbox exec` process serving it.
    pub pid: Option<u32>,
}

/// A string field, `None` when absent or empty (Docker's clients send "").
fn text(v: &Value) -> Option<String> {
    v.as_str().filter(|w| !w.is_empty()).map(String::from)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// `-p` specs from `HostConfig.PortBindings`
/// (`{"80/tcp":[{"HostIp":"","HostPort":"8080"}]}` → `8080:80/tcp`).
fn publish_specs(bindings: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(m) = bindings.as_object() {
        for (port, hosts) in m {
            let list = hosts.as_array().cloned().unwrap_or_default();
            if list.is_empty() {
                out.push(port.clone());
            }
            for h in list {
                let ip = h["HostIp"].as_str().unwrap_or("");
                let hp = h["HostPort"].as_str().unwrap_or("");
                out.push(match (ip.is_empty(), hp.is_empty()) {
                    (true, true) => port.clone(),
                    (true, false) => format!("{hp}:{port}"),
                    (false, _) => format!("{ip}:{hp}:{port}"),
                });
            }
        }
    }
    out
}

/// The create body as the options `glassbox run` would build.
fn run_options(
    d: &Daemon,
    name: Option<String>,
    v: &Value,
) -> crate::Result<(
    Rootfs,
    oci_spec::image::ImageConfiguration,
    RunOptions,
    bool,
)> {
    let hc = &v["HostConfig"];
    let image_ref = v["Image"].as_str().unwrap_or("").to_string();
    if image_ref.is_empty() {
        return Err(crate::Error::Usage(
            "the create body names no Image; give one such as busybox".into(),
        ));
    }
    let store = crate::store::Store::open(&d.root)?;
    let img = crate::image::registry_image::resolve_building_fixture(&store, &image_ref)?;
    let rootfs = Rootfs::from_image(&store, &img)?;
    let image = img.config;
    let mut command = strings(&v["Cmd"]);
    let entrypoint = if v["Entrypoint"].is_array() {
        let ep = strings(&v["Entrypoint"]);
        let first = ep.first().cloned().unwrap_or_default();
        command = ep.into_iter().skip(1).chain(command).collect();
        Some(first)
    } else {
        v["Entrypoint"].as_str().map(String::from)
    };
    let mut exposed: Vec<String> = image
        .config()
        .as_ref()
        .and_then(|c| c.exposed_ports().clone())
        .unwrap_or_default();
    if let Some(m) = v["ExposedPorts"].as_object() {
        exposed.extend(
            m.keys()
                .filter(|k| !exposed.contains(k))
                .cloned()
                .collect::<Vec<_>>(),
        );
    }
    let mut binds = strings(&hc["Binds"]);
    for m in hc["Mounts"].as_array().cloned().unwrap_or_default() {
        let src = m["Source"].as_str().unwrap_or("");
        let dst = m["Target"].as_str().unwrap_or("");
        let ro = if m["ReadOnly"].as_bool().unwrap_or(false) {
            ":ro"
        } else {
            ""
        };
        binds.push(if src.is_empty() {
            dst.to_string()
        } else {
            format!("{src}:{dst}{ro}")
        });
    }
    let volumes = binds
        .iter()
        .map(|b| crate::volume::parse(b))
        .collect::<Result<Vec<_>, _>>()?;
    let mode = match hc["NetworkMode"].as_str().unwrap_or("default") {
        "" | "default" => "bridge".to_string(),
        m => m.to_string(),
    };
    let endpoint = v["NetworkingConfig"]["EndpointsConfig"]
        .as_object()
        .and_then(|m| m.get(&mode).or_else(|| m.values().next()).cloned())
        .unwrap_or(Value::Null);
    let ports = crate::network::port::PortState::from_args(
        &publish_specs(&hc["PortBindings"]),
        hc["PublishAllPorts"].as_bool().unwrap_or(false),
        exposed,
        crate::network::port::Driver::Proxy,
    )?;
    let restart = match hc["RestartPolicy"]["Name"].as_str().unwrap_or("") {
        "" | "no" => "no".to_string(),
        "on-failure" => match hc["RestartPolicy"]["MaximumRetryCount"]
            .as_u64()
            .unwrap_or(0)
        {
            0 => "on-failure".to_string(),
            n => format!("on-failure:{n}"),
        },
        p => p.to_string(),
    };
    let auto_remove = hc["AutoRemove"].as_bool().unwrap_or(false);
    let opts = RunOptions {
        process: ProcessOptions {
            command,
            entrypoint,
            env: strings(&v["Env"]),
            workdir: text(&v["WorkingDir"]),
            user: text(&v["User"]),
            hostname: text(&v["Hostname"]),
            read_only: hc["ReadonlyRootfs"].as_bool().unwrap_or(false),
            host_network: mode == "host",
            init: hc["Init"].as_bool().unwrap_or(false),
            home: None,
            additional_gids: Vec::new(),
            cap_add: strings(&hc["CapAdd"]),
            cap_drop: strings(&hc["CapDrop"]),
        },
        // The daemon removes AutoRemove containers itself, as dockerd
        // does, so that it still knows the exit code for `wait`.
        // HostConfig.Tmpfs: {"/scratch": "size=64m"}, as `docker run --tmpfs`.
        tmpfs: hc["Tmpfs"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(d, o)| match o.as_str().unwrap_or("") {
                        "" => d.clone(),
                        o => format!("{d}:{o}"),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        remove: false,
        name: name
            .map(|n| n.trim_start_matches('/').to_string())
            .filter(|n| !n.is_empty()),
        image_ref,
        limits: crate::runtime::cgroup::Limits {
            memory: hc["Memory"].as_u64().filter(|m| *m > 0),
            cpus: hc["NanoCpus"]
                .as_u64()
                .filter(|c| *c > 0)
                .map(|c| c as f64 / 1e9),
            pids: hc["PidsLimit"].as_i64().filter(|p| *p != 0),
        },
        tty: v["Tty"].as_bool().unwrap_or(false),
        interactive: v["OpenStdin"].as_bool().unwrap_or(false),
        restart: crate::runtime::restart::RestartPolicy::parse(&restart)?,
        volumes,
        ports,
        network: crate::network::Request {
            mode: crate::network::Mode::parse(&mode)?,
            aliases: strings(&endpoint["Aliases"]),
            links: strings(&hc["Links"]),
            ip: endpoint["IPAMConfig"]["IPv4Address"]
                .as_str()
                .and_then(|s| s.parse().ok()),
        },
    };
    Ok((rootfs, image, opts, auto_remove))
}

/// Labels are kept beside the container's record, for `ps --filter label=`.
fn labels_path(d: &Daemon, id: &str) -> std::path::PathBuf {
    d.root.join("containers").join(id).join("labels.json")
}

fn labels(d: &Daemon, id: &str) -> Value {
    std::fs::read(labels_path(d, id))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_else(|| json!({}))
}

/// `POST /containers/create?name=`.
pub fn create(d: &Daemon, r: &Req) -> Resp {
    let v = match r.json() {
        Ok(v) => v,
        Err(e) => return e,
    };
    let made = run_options(d, r.q("name").map(String::from), &v).and_then(
        |(rootfs, image, opts, auto)| {
            if auto && opts.restart != crate::runtime::restart::RestartPolicy::No {
                return Err(crate::runtime::RuntimeError::RestartWithRm.into());
            }
            let id = crate::runtime::lifecycle::create_only(&d.root, &rootfs, &image, &opts)?;
            Ok((id, auto))
        },
    );
    match made {
        Ok((id, auto)) => {
            if auto {
                if let Ok(mut m) = d.auto_remove.codes.lock() {
                    m.insert(id.clone(), None);
                }
            }
            if let Some(l) = v["Labels"].as_object() {
                let _ = std::fs::write(labels_path(d, &id), Value::Object(l.clone()).to_string());
            }
            // `docker run -i` sets StdinOnce: the container's stdin closes
            // with the first attached client's.
            if v["StdinOnce"].as_bool().unwrap_or(false) {
                if let Ok((dir, mut st)) = container::find(&d.root, &id) {
                    st.stdin_once = true;
                    let _ = st.save(&dir);
                }
            }
            json(StatusCode::CREATED, &json!({"Id": id, "Warnings": []}))
        }
        Err(e) => engine_error(&e),
    }
}

fn unix_time(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| t.timestamp())
        .unwrap_or(0)
}

/// One container as `GET /containers/json` lists it; `rows` are the
/// store's `ps -a` rows, read once for the whole list.
pub(crate) fn summary(
    d: &Daemon,
    st: &container::State,
    rows: &[crate::runtime::lifecycle::PsRow],
) -> Value {
    let inspect = crate::runtime::lifecycle::inspect(&d.root, &st.id).unwrap_or_default();
    let row = rows.iter().find(|p| st.id.starts_with(&p.id)).cloned();
    let ports: Vec<Value> = st
        .ports
        .bindings
        .iter()
        .map(|b| {
            let v = serde_json::to_value(b).unwrap_or_default();
            json!({
                "IP": v["host_ip"].as_str().unwrap_or("0.0.0.0"),
                "PrivatePort": v["container_port"],
                "PublicPort": v["host_port"],
                "Type": v["proto"].as_str().unwrap_or("tcp"),
            })
        })
        .collect();
    json!({
        "Id": st.id,
        "Names": [format!("/{}", st.name)],
        "Image": st.image,
        "ImageID": inspect["ImageID"].as_str().unwrap_or(""),
        "Command": row.as_ref().map(|r| r.command.clone()).unwrap_or_default(),
        "Created": unix_time(&st.created),
        "Ports": ports,
        "Labels": labels(d, &st.id),
        "State": st.observed().as_str(),
        "Status": row.map(|r| r.status).unwrap_or_default(),
        "HostConfig": {"NetworkMode": st.network_mode},
        "NetworkSettings": {"Networks": inspect["NetworkSettings"]["Networks"]},
        "Mounts": inspect["Mounts"],
    })
}

/// `GET /containers/json?all=&filters=`.
pub fn list(d: &Daemon, r: &Req) -> Resp {
    let all = r.flag("all");
    let filters = r.filters();
    let mut states = container::all(&d.root);
    let rows = crate::runtime::lifecycle::ps(&d.root, true);
    states.sort_by(|a, b| b.1.created.cmp(&a.1.created));
    let rows: Vec<Value> = states
        .iter()
        .filter(|(_, st)| {
            let s = st.observed();
            all || matches!(s, Status::Running | Status::Paused | Status::Restarting)
                || filters.iter().any(|(k, _)| k == "status")
        })
        .filter(|(_, st)| {
            filters.iter().all(|(k, want)| match k.as_str() {
                "name" => st.name.contains(want.trim_start_matches('/')),
                "id" => st.id.starts_with(want.as_str()),
                "status" => st.observed().as_str() == want,
                "label" => {
                    let l = labels(d, &st.id);
                    match want.split_once('=') {
                        Some((k, v)) => l[k].as_str() == Some(v),
                        None => l.get(want).is_some(),
                    }
                }
                "network" => st.networks.iter().any(|e| &e.network == want),
                _ => true,
            })
        })
        .map(|(_, st)| summary(d, st, &rows))
        .collect();
    json(StatusCode::OK, &Value::Array(rows))
}

/// `GET /containers/ID/json`: docker inspect's shape; Config, HostConfig,
/// State and NetworkSettings always there (clients index into them).
pub fn inspect(d: &Daemon, id: &str) -> Resp {
    match crate::runtime::lifecycle::inspect(&d.root, id) {
        Ok(mut v) => {
            let full = v["Id"].as_str().unwrap_or("").to_string();
            let st = container::find(&d.root, &full).ok().map(|(_, s)| s);
            let exposed: serde_json::Map<String, Value> = st
                .as_ref()
                .map(|s| {
                    s.ports
                        .exposed
                        .iter()
                        .map(|p| (p.clone(), json!({})))
                        .collect()
                })
                .unwrap_or_default();
            let mut bindings = serde_json::Map::new();
            for b in st
                .as_ref()
                .map(|s| s.ports.bindings.clone())
                .unwrap_or_default()
            {
                let b = serde_json::to_value(b).unwrap_or_default();
                let key = format!(
                    "{}/{}",
                    b["container_port"],
                    b["proto"].as_str().unwrap_or("tcp")
                );
                bindings.insert(key, json!([{"HostIp": b["host_ip"].as_str().unwrap_or(""), "HostPort": b["host_port"].to_string()}]));
            }
            v["Config"]["Labels"] = labels(d, &full);
            v["Config"]["ExposedPorts"] = Value::Object(exposed);
            let tty = oci_spec::runtime::Spec::load(
                d.root.join("containers").join(&full).join("config.json"),
            )
            .ok()
            .and_then(|s| s.process().as_ref().and_then(|p| p.terminal()))
            .unwrap_or(false);
            let open_stdin = st.as_ref().is_some_and(|s| s.open_stdin);
            v["Config"]["Tty"] = json!(tty);
            v["Config"]["OpenStdin"] = json!(open_stdin);
            v["Config"]["StdinOnce"] = json!(st.as_ref().is_some_and(|s| s.stdin_once));
            v["Config"]["AttachStdin"] = json!(open_stdin);
            v["Config"]["AttachStdout"] = json!(true);
            v["Config"]["AttachStderr"] = json!(true);
            v["HostConfig"]["NetworkMode"] = json!(st
                .as_ref()
                .map(|s| s.network_mode.clone())
                .unwrap_or_default());
            v["HostConfig"]["PortBindings"] = Value::Object(bindings);
            v["HostConfig"]["LogConfig"] = json!({"Type": "json-file", "Config": {}});
            if d.auto_remove.wants(&full) {
                v["HostConfig"]["AutoRemove"] = json!(true);
            }
            v["Driver"] = json!("overlay2");
            v["Platform"] = json!("linux");
            json(StatusCode::OK, &v)
        }
        Err(e) => engine_error(&e),
    }
}

fn observed(d: &Daemon, id: &str) -> Result<(String, Status), Resp> {
    container::find(&d.root, id)
        .map(|(_, st)| (st.id.clone(), st.observed()))
        .map_err(|e| engine_error(&e.into()))
}

/// `POST /containers/ID/start`: 204, or 304 when it runs already.
pub fn start(d: &Daemon, id: &str) -> Resp {
    let (full, now) = match observed(d, id) {
        Ok(x) => x,
        Err(e) => return e,
    };
    if now == Status::Running {
        return empty(StatusCode::NOT_MODIFIED);
    }
    match crate::runtime::lifecycle::start(&d.root, &full) {
        Ok(_) => {
            if d.auto_remove.wants(&full) {
                reap_when_exited(d, full);
            }
            empty(StatusCode::NO_CONTENT)
        }
        Err(e) => {
            // As dockerd: an AutoRemove container that cannot start goes,
            // so that a client waiting for its removal is answered.
            if d.auto_remove.wants(&full) {
                if let Ok(mut m) = d.auto_remove.codes.lock() {
                    m.insert(full.clone(), Some(125));
                }
                let _ = crate::runtime::lifecycle::remove(&d.root, &full, true, true);
            }
            engine_error(&e)
        }
    }
}

/// Removes an AutoRemove container once it exited, keeping its code.
fn reap_when_exited(d: &Daemon, id: String) {
    let root = d.root.clone();
    let ar = d.auto_remove.clone();
    std::thread::spawn(move || {
        let _p = crate::trace::phase("api");
        let code = loop {
            match container::State::load(&root.join("containers").join(&id)) {
                Ok(st) if st.observed() == Status::Exited || st.observed() == Status::Dead => {
                    break st.exit_code.unwrap_or(0)
                }
                Ok(_) => std::thread::sleep(Duration::from_millis(10)),
                Err(_) => break 0,
            }
        };
        if let Ok(mut m) = ar.codes.lock() {
            m.insert(id.clone(), Some(code));
        }
        let _ = crate::runtime::lifecycle::remove(&root, &id, true, true);
        ar.changed.notify_all();
    });
}

fn timeout(r: &Req) -> u64 {
    r.q("t").and_then(|t| t.parse().ok()).unwrap_or(10)
}

/// `POST /containers/ID/stop?t=`: 204, or 304 when it is not running.
pub fn stop(d: &Daemon, id: &str, r: &Req) -> Resp {
    let (full, now) = match observed(d, id) {
        Ok(x) => x,
        Err(e) => return e,
    };
    if !matches!(now, Status::Running | Status::Paused | Status::Restarting) {
        return empty(StatusCode::NOT_MODIFIED);
    }
    match crate::runtime::lifecycle::stop(&d.root, &full, timeout(r)) {
        Ok(_) => empty(StatusCode::NO_CONTENT),
        Err(e) => engine_error(&e),
    }
}

/// `POST /containers/ID/restart?t=`.
pub fn restart(d: &Daemon, id: &str, r: &Req) -> Resp {
    match crate::runtime::lifecycle::restart(&d.root, id, timeout(r)) {
        Ok(_) => empty(StatusCode::NO_CONTENT),
        Err(e) => engine_error(&e),
    }
}

/// `POST /containers/ID/kill?signal=`.
pub fn kill(d: &Daemon, id: &str, r: &Req) -> Resp {
    let sig = r.q("signal").filter(|s| !s.is_empty()).unwrap_or("KILL");
    let sig = match sig.parse::<i32>() {
        Ok(n) => nix::sys::signal::Signal::try_from(n)
            .map(|s| s.as_str().to_string())
            .unwrap_or_else(|_| sig.to_string()),
        Err(_) => sig.to_string(),
    };
    match crate::runtime::lifecycle::kill(&d.root, id, &sig) {
        Ok(_) => empty(StatusCode::NO_CONTENT),
        Err(e) => engine_error(&e),
    }
}

/// `POST /containers/ID/pause` and `unpause`.
pub fn pause(d: &Daemon, id: &str, frozen: bool) -> Resp {
    match crate::runtime::lifecycle::pause(&d.root, id, frozen) {
        Ok(_) => empty(StatusCode::NO_CONTENT),
        Err(e) => engine_error(&e),
    }
}

/// `POST /containers/ID/wait?condition=not-running|next-exit|removed`.
/// The headers go at once (the CLI starts the container only after it
/// has them); the body, `{"StatusCode": N}`, when the condition is met.
pub fn wait(d: &Daemon, id: &str, r: &Req) -> Resp {
    let (dir, st) = match container::find(&d.root, id) {
        Ok(x) => x,
        Err(e) => return engine_error(&e.into()),
    };
    let condition = r.q("condition").unwrap_or("not-running").to_string();
    let ar = d.auto_remove.clone();
    let (tx, body) = super::Body::channel();
    let finished_before = st.finished_at.clone();
    let full = st.id.clone();
    std::thread::spawn(move || {
        let code = loop {
            if tx.closed() {
                return;
            }
            if let Some(c) = ar.code(&full) {
                if condition != "removed" || !dir.exists() {
                    break c;
                }
            }
            match container::State::load(&dir) {
                Ok(now) => {
                    let s = now.observed();
                    let stopped = matches!(s, Status::Exited | Status::Dead | Status::Created);
                    let done = match condition.as_str() {
                        "next-exit" => {
                            stopped
                                && now.finished_at != finished_before
                                && now.finished_at.is_some()
                        }
                        "removed" => false,
                        _ => stopped,
                    };
                    if done && (!ar.wants(&full) || condition == "not-running") {
                        break now.exit_code.unwrap_or(0);
                    }
                }
                Err(_) => break ar.code(&full).unwrap_or(0),
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        tx.json(&json!({"StatusCode": code, "Error": null}));
    });
    hyper::Response::builder()
        .status(StatusCode::OK)
        .header("Content-Type", "application/json")
        .body(body)
        .expect("a response from fixed parts")
}

/// `GET /containers/ID/top`.
pub fn top(d: &Daemon, id: &str) -> Resp {
    match crate::runtime::top::top(&d.root, id) {
        Ok(rows) => {
            let procs: Vec<Value> = rows
                .iter()
                .map(|p| {
                    let v = serde_json::to_value(p).unwrap_or_default();
                    json!([
                        v["uid"].to_string(),
                        v["pid"].to_string(),
                        v["ppid"].to_string(),
                        v["cmd"].as_str().unwrap_or("")
                    ])
                })
                .collect();
            json(
                StatusCode::OK,
                &json!({"Titles": ["UID", "PID", "PPID", "CMD"], "Processes": procs}),
            )
        }
        Err(e) => engine_error(&e),
    }
}

/// `DELETE /containers/ID?force=&v=`.
pub fn remove(d: &Daemon, id: &str, r: &Req) -> Resp {
    match crate::runtime::lifecycle::remove(&d.root, id, r.flag("force"), r.flag("v")) {
        Ok(_) => empty(StatusCode::NO_CONTENT),
        Err(e) => engine_error(&e),
    }
}

/// `POST /containers/prune`: every stopped container.
pub fn prune(d: &Daemon) -> Resp {
    let mut deleted = Vec::new();
    for (_, st) in container::all(&d.root) {
        if matches!(
            st.observed(),
            Status::Exited | Status::Created | Status::Dead
        ) && crate::runtime::lifecycle::remove(&d.root, &st.id, true, true).is_ok()
        {
            deleted.push(st.id);
        }
    }
    json(
        StatusCode::OK,
        &json!({"ContainersDeleted": deleted, "SpaceReclaimed": 0}),
    )
}

/// `POST /containers/ID/exec`: records the command; nothing runs yet.
pub fn exec_create(d: &Daemon, id: &str, r: &Req) -> Resp {
    let v = match r.json() {
        Ok(v) => v,
        Err(e) => return e,
    };
    let (full, now) = match observed(d, id) {
        Ok(x) => x,
        Err(e) => return e,
    };
    if now != Status::Running {
        return error(
            StatusCode::CONFLICT,
            &format!(
                "container {id} is not running: {}; start it first",
                now.as_str()
            ),
        );
    }
    let cmd = strings(&v["Cmd"]);
    if cmd.is_empty() {
        return error(StatusCode::BAD_REQUEST, "no exec command specified");
    }
    let exec_id = match crate::store::container::new_id() {
        Ok(i) => i,
        Err(e) => return engine_error(&e),
    };
    if let Ok(mut m) = d.execs.lock() {
        m.insert(
            exec_id.clone(),
            ExecRecord {
                container: full,
                cmd,
                env: strings(&v["Env"]),
                workdir: text(&v["WorkingDir"]),
                user: text(&v["User"]),
                running: false,
                exit_code: None,
                tty: v["Tty"].as_bool().unwrap_or(false),
                stdin: v["AttachStdin"].as_bool().unwrap_or(false),
                master: None,
                size: None,
                pid: None,
            },
        );
    }
    json(StatusCode::CREATED, &json!({"Id": exec_id}))
}

/// `GET /exec/ID/json`.
pub fn exec_inspect(d: &Daemon, id: &str) -> Resp {
    let rec = d.execs.lock().ok().and_then(|m| m.get(id).cloned());
    match rec {
        None => error(
            StatusCode::NOT_FOUND,
            &format!("No such exec instance: {id}"),
        ),
        Some(e) => json(
            StatusCode::OK,
            &json!({
                "ID": id,
                "ContainerID": e.container,
                "Running": e.running,
                "ExitCode": e.exit_code,
                "ProcessConfig": {"entrypoint": e.cmd.first(), "arguments": e.cmd.iter().skip(1).collect::<Vec<_>>(), "tty": e.tty, "privileged": false, "user": e.user.clone().unwrap_or_default()},
                "OpenStdin": e.stdin, "OpenStdout": true, "OpenStderr": true,
                "CanRemove": false,
                "Pid": e.pid.unwrap_or(0),
            }),
        ),
    }
}
