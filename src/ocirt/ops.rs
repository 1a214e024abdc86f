//! The lifecycle commands on an existing container: `start`, `state`,
//! `kill`, `delete`, `pause`/`resume`, `ps`, `list`, and the two that need
//! none: `features` and `spec`.

use super::state::{self, Record, Status};
use super::{bundle, hooks, log, OciError};
use crate::error::IoContext;
use crate::runtime::cgroup::{self, Cgroup, Layout};
use crate::trace::{self, Kind};
use std::path::Path;

fn open(root: &Path, id: &str) -> crate::Result<(Record, Cgroup)> {
    let rec = Record::load(root, id)?;
    let cg = bundle::cgroup_at(Layout::detect()?, Some(&rec.cgroup), id);
    Ok((rec, cg))
}

/// Appends this command's events to the container's trace.
fn follow_trace(root: &Path, id: &str) {
    let _ = log::attach(&state::trace_file(root, id));
}

/// `start`: lets the parked init exec the process.
pub fn start(root: &Path, id: &str) -> crate::Result<()> {
    let _p = trace::phase("start");
    let (rec, cg) = open(root, id)?;
    let status = rec.status(root, &cg);
    if status != Status::Created {
        return Err(OciError::CannotStart(id.to_string(), status.as_str()).into());
    }
    follow_trace(root, id);
    let fifo = state::fifo(root, id);
    let s = trace::step(Kind::Process, "start", format!("container {id}"))
        .field("pid", rec.pid)
        .field("fifo", fifo.display().to_string())
        .equivalent(format!("echo > {}", fifo.display()))
        .syscall("open(exec.fifo, O_WRONLY|O_NONBLOCK), write(2)")
        .announce()?;
    let r = (|| -> std::io::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        // Non-blocking: with no reader (the init died) this fails at once
        // with ENXIO instead of hanging.
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)?;
        f.write_all(b"0")?;
        std::fs::remove_file(&fifo)
    })()
    .map_err(|e| OciError::NotRunning(id.to_string(), "stopped").to_string() + &format!(" ({e})"));
    s.finish_with(r).map_err(crate::Error::Usage)?;
    let spec = load_spec(&rec)?;
    if let Err(e) = hooks::run(
        hooks::Point::Poststart,
        &spec,
        &rec.oci_state(Status::Running),
    ) {
        super::warn(&e);
    }
    Ok(())
}

fn load_spec(rec: &Record) -> crate::Result<oci_spec::runtime::Spec> {
    let p = rec.bundle.join("config.json");
    let text = std::fs::read_to_string(&p).ctx(|| format!("reading {}", p.display()))?;
    serde_json::from_str(&text)
        .map_err(|e| OciError::BadConfig(rec.bundle.display().to_string(), e.to_string()).into())
}

/// `state`: the runtime spec's state JSON.
pub fn state_json(root: &Path, id: &str) -> crate::Result<serde_json::Value> {
    let (rec, cg) = open(root, id)?;
    Ok(rec.oci_state(rec.status(root, &cg)))
}

/// `list`: every container's state.
pub fn list(root: &Path) -> crate::Result<Vec<serde_json::Value>> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(root) else {
        return Ok(out);
    };
    let mut ids: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| state::check_id(n).is_ok())
        .collect();
    ids.sort();
    for id in ids {
        if let Ok(v) = state_json(root, &id) {
            out.push(v);
        }
    }
    Ok(out)
}

/// Parses a signal the way runc does: `KILL`, `SIGKILL` or `9`; `0` is
/// no signal (`None`): the kernel only checks the process is there.
pub fn parse_signal(s: &str) -> Result<Option<nix::sys::signal::Signal>, OciError> {
    use std::str::FromStr;
    let bad = || OciError::BadSignal(s.to_string());
    if let Ok(n) = s.parse::<i32>() {
        if n == 0 {
            return Ok(None);
        }
        return nix::sys::signal::Signal::try_from(n)
            .map(Some)
            .map_err(|_| bad());
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    nix::sys::signal::Signal::from_str(&name)
        .map(Some)
        .map_err(|_| bad())
}

/// `kill`: sends `signal` to the init, or with `all` to every process of
/// the container's cgroup.
pub fn kill(root: &Path, id: &str, signal: &str, all: bool) -> crate::Result<()> {
    let sig = parse_signal(signal)?;
    let (rec, cg) = open(root, id)?;
    let status = rec.status(root, &cg);
    if status == Status::Stopped && !all {
        return Err(OciError::NotRunning(id.to_string(), status.as_str()).into());
    }
    follow_trace(root, id);
    let pids = if all { cg.procs() } else { vec![rec.pid] };
    let name = sig.map_or("0", |s| s.as_str());
    let s = trace::step(Kind::Process, "kill", format!("container {id}"))
        .field("signal", name)
        .field("pid", rec.pid)
        .field("pids", &pids)
        .equivalent(format!("kill -{name} {}", rec.pid))
        .syscall("kill(2)")
        .announce()?;
    let mut r = Ok(());
    for p in &pids {
        match nix::sys::signal::kill(nix::unistd::Pid::from_raw(*p), sig) {
            Ok(()) | Err(nix::errno::Errno::ESRCH) if all => {}
            Ok(()) => {}
            Err(e) => {
                r = Err(crate::runtime::RuntimeError::Kernel {
                    what: format!("signalling pid {p}"),
                    errno: e,
                })
            }
        }
    }
    s.finish_with(r)?;
    Ok(())
}

/// `delete`: removes a stopped (or, with `force`, any) container: its
/// processes, cgroup and state. A created container's parked init is
/// ended without `force`, as runc does.
pub fn delete(root: &Path, id: &str, force: bool) -> crate::Result<()> {
    let _p = trace::phase("delete");
    let (rec, cg) = open(root, id)?;
    let status = rec.status(root, &cg);
    if matches!(status, Status::Running | Status::Paused) && !force {
        return Err(OciError::CannotDelete(id.to_string(), status.as_str()).into());
    }
    follow_trace(root, id);
    if status != Status::Stopped {
        if status == Status::Paused {
            cg.freeze(&mut cgroup::HostFs, false)?;
        }
        kill(root, id, "KILL", true)?;
        wait_gone(&rec);
    }
    {
        let _p = trace::phase("cgroup");
        cg.remove(&mut cgroup::HostFs)?;
    }
    if let Ok(spec) = load_spec(&rec) {
        if let Err(e) = hooks::run(
            hooks::Point::Poststop,
            &spec,
            &rec.oci_state(Status::Stopped),
        ) {
            super::warn(&e);
        }
    }
    let dir = state::dir(root, id);
    let s = trace::cleanup(Kind::Store, "remove_state", format!("container {id}"))
        .field("path", dir.display().to_string())
        .field("trace", state::kept_trace(root, id).display().to_string())
        .equivalent(format!("rm -rf {}", dir.display()))
        .announce()?;
    log::detach();
    // The trace outlives the container, so its last start can be explained.
    let kept = state::kept_trace(root, id);
    let _ = std::fs::create_dir_all(root.join("traces"));
    let _ = std::fs::rename(state::trace_file(root, id), &kept);
    s.finish_with(std::fs::remove_dir_all(&dir).ctx(|| format!("removing {}", dir.display())))?;
    prune_traces(root, 50);
    Ok(())
}

/// Keeps the newest `keep` traces of deleted containers.
fn prune_traces(root: &Path, keep: usize) {
    let Ok(d) = std::fs::read_dir(root.join("traces")) else {
        return;
    };
    let mut all: Vec<(std::time::SystemTime, std::path::PathBuf)> = d
        .filter_map(|e| {
            let e = e.ok()?;
            Some((e.metadata().ok()?.modified().ok()?, e.path()))
        })
        .collect();
    all.sort();
    let n = all.len().saturating_sub(keep);
    for (_, p) in all.into_iter().take(n) {
        let _ = std::fs::remove_file(p);
    }
}

/// Waits (up to 5 s) for a killed init to be gone: it is not our child,
/// its parent (the caller, or PID 1) reaps it.
fn wait_gone(rec: &Record) {
    for _ in 0..500 {
        if !rec.alive() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// `pause` (`true`) and `resume`: the cgroup freezer.
pub fn pause(root: &Path, id: &str, frozen: bool) -> crate::Result<()> {
    let (rec, cg) = open(root, id)?;
    let status = rec.status(root, &cg);
    let ok = if frozen {
        status == Status::Running
    } else {
        status == Status::Paused
    };
    if !ok {
        return Err(OciError::NotRunning(id.to_string(), status.as_str()).into());
    }
    follow_trace(root, id);
    cg.freeze(&mut cgroup::HostFs, frozen)
}

/// `ps`: the host PIDs in the container's cgroup.
pub fn ps(root: &Path, id: &str) -> crate::Result<Vec<i32>> {
    let (_, cg) = open(root, id)?;
    Ok(cg.procs())
}

/// `features`: what this runtime implements, in the shape of runc's
/// `features` (opencontainers/runtime-spec features.md).
pub fn features() -> serde_json::Value {
    let v1 = matches!(Layout::detect(), Ok(Layout::V1 { .. }));
    serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": state::OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": ["ro", "nosuid", "noexec", "nodev", "strictatime", "relatime", "bind", "rbind"],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"],
            "capabilities": crate::runtime::spec::DEFAULT_CAPABILITIES
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>(),
            "cgroup": {"v1": v1, "v2": !v1, "systemd": false, "systemdUser": false},
            "seccomp": {
                "enabled": true,
                "actions": crate::runtime::seccomp::ACTIONS,
                "operators": crate::runtime::seccomp::OPERATORS,
                "archs": crate::runtime::seccomp::ARCHES,
                "knownFlags": crate::runtime::seccomp::FLAGS,
                "supportedFlags": crate::runtime::seccomp::FLAGS
            },
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false}
        },
        "annotations": {"org.glassbox.runtime": "glassbox-runc"}
    })
}

/// `spec`: writes runc's default config.json (process `sh`, rootfs
/// `rootfs`) into `bundle`; refuses to overwrite one.
pub fn spec(bundle: &Path) -> crate::Result<std::path::PathBuf> {
    let p = bundle.join("config.json");
    if p.exists() {
        return Err(crate::Error::Usage(format!(
            "File {} exists. Remove it first",
            p.display()
        )));
    }
    let mut spec = oci_spec::runtime::Spec::default();
    if let Some(mut pr) = spec.process().clone() {
        pr.set_terminal(Some(false));
        spec.set_process(Some(pr));
    }
    let json = serde_json::to_vec_pretty(&spec).map_err(std::io::Error::other);
    std::fs::write(&p, json.ctx(|| "serialising config.json".into())?)
        .ctx(|| format!("writing {}", p.display()))?;
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_as_runc_takes_them() {
        use nix::sys::signal::Signal;
        assert_eq!(parse_signal("KILL").unwrap(), Some(Signal::SIGKILL));
        assert_eq!(parse_signal("SIGTERM").unwrap(), Some(Signal::SIGTERM));
        assert_eq!(parse_signal("9").unwrap(), Some(Signal::SIGKILL));
        assert_eq!(parse_signal("hup").unwrap(), Some(Signal::SIGHUP));
        assert_eq!(parse_signal("0").unwrap(), None, "0 probes, as kill(2)");
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("99").is_err());
    }

    #[test]
    fn features_name_only_what_is_implemented() {
        let f = features();
        assert_eq!(f["linux"]["seccomp"]["enabled"], true);
        let actions = f["linux"]["seccomp"]["actions"].as_array().unwrap();
        assert!(actions.iter().any(|a| a == "SCMP_ACT_ERRNO"));
        assert!(!actions.iter().any(|a| a == "SCMP_ACT_NOTIFY"));
        assert_eq!(
            f["linux"]["seccomp"]["archs"],
            serde_json::json!(["SCMP_ARCH_X86_64"])
        );
        assert_eq!(f["linux"]["cgroup"]["systemd"], false);
        assert!(f["hooks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h == "createRuntime"));
    }
}
