//! The lifecycle commands on recorded containers: start detached under a
//! shim, stop, remove, read logs, list and inspect. Each move checks the
//! state first; an illegal move names the state and the command that would
//! work.

use super::{ContainerDir, Rootfs, RunOptions, RuntimeError};
use crate::error::IoContext;
use crate::store::container::{self, State, Status};
use crate::trace::{self, Kind};
use oci_spec::image::ImageConfiguration;
use std::io::{BufRead, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// Writes the outcome of a run into `st` (the caller saves it) and
/// journals it: `oom` when the kernel's OOM killer ended it, then `die`
/// with the exit code.
pub fn record_exit(dir: &Path, st: &mut State, result: &crate::Result<(i32, bool)>) {
    st.status = Status::Exited;
    st.pid = None;
    st.finished_at = Some(container::now());
    match result {
        Ok((code, oom)) => {
            st.exit_code = Some(*code);
            st.oom_killed = *oom;
        }
        Err(e) => {
            st.exit_code = Some(125);
            st.error = Some(e.to_string());
        }
    }
    let root = container::root_of(dir);
    if st.oom_killed {
        st.journal(root, "oom", &[]);
    }
    let code = st.exit_code.unwrap_or(0).to_string();
    st.journal(root, "die", &[("exitCode", code)]);
    crate::network::journal_disconnects(root, st);
}

/// `run -d`: creates the container, starts its shim, waits until the shim
/// reports the start, returns the id.
pub fn run_detached(
    root: &Path,
    rootfs: &Rootfs,
    image: &ImageConfiguration,
    opts: &RunOptions,
) -> crate::Result<String> {
    let _p = trace::phase("run");
    // Bind the published ports first: a port in use leaves nothing behind.
    let mut opts = opts.clone();
    let held = crate::network::port::bind(root, &mut opts.ports)?;
    let (dir, _) = super::create(root, rootfs, image, &opts)?;
    start_shim(root, &dir, held)?;
    Ok(dir.id)
}

/// `create`: makes the container (config.json, state "created") without
/// starting it; returns the id.
pub fn create_only(
    root: &Path,
    rootfs: &Rootfs,
    image: &ImageConfiguration,
    opts: &RunOptions,
) -> crate::Result<String> {
    let _p = trace::phase("create");
    let (dir, _) = super::create(root, rootfs, image, opts)?;
    Ok(dir.id)
}

/// `start`: starts a created or exited container under a new shim. Its
/// writable layer is kept, as with Docker.
pub fn start(root: &Path, key: &str) -> crate::Result<String> {
    let (dir, mut st) = container::find(root, key)?;
    let now = st.observed();
    if now == Status::Running {
        // As with docker: starting a running container changes nothing.
        trace::fact(
            Kind::Process,
            "already_running",
            format!("container {}", st.name),
        )
        .field("pid", st.pid.unwrap_or(0))
        .info();
        return Ok(st.name);
    }
    if !matches!(now, Status::Created | Status::Exited) {
        return Err(RuntimeError::IllegalMove {
            name: st.name.clone(),
            state: now.as_str(),
            verb: "started",
            hint: match now {
                Status::Paused => format!("unpause it with `glassbox unpause {}`", st.name),
                Status::Dead => format!("remove it with `glassbox rm -f {}`", st.name),
                _ => format!(
                    "it already runs; restart it with `glassbox restart {}`",
                    st.name
                ),
            },
        }
        .into());
    }
    let _ = std::fs::remove_file(super::restart::stop_marker(&dir));
    st.status = Status::Created;
    st.error = None;
    st.exit_code = None;
    st.oom_killed = false;
    let held = crate::network::port::bind(root, &mut st.ports)?;
    st.save(&dir)?;
    let cd = ContainerDir {
        id: st.id.clone(),
        path: dir,
    };
    start_shim(root, &cd, held)?;
    Ok(st.name)
}

/// The binary to re-execute for a shim or an exec: this one. A daemon
/// outlives rebuilds of its binary; the kernel keeps the running image,
/// reachable as /proc/self/exe, after the file is replaced.
pub fn own_binary() -> std::io::Result<std::path::PathBuf> {
    let p = std::env::current_exe()?;
    Ok(if p.exists() {
        p
    } else {
        std::path::PathBuf::from("/proc/self/exe")
    })
}

/// `restart -t SECS`: stop (when running), then start.
pub fn restart(root: &Path, key: &str, timeout: u64) -> crate::Result<String> {
    let (_, st) = container::find(root, key)?;
    if st.observed() == Status::Running {
        stop(root, key, timeout)?;
    }
    let name = start(root, key)?;
    st.journal(root, "restart", &[]);
    Ok(name)
}

fn start_shim(
    root: &Path,
    dir: &ContainerDir,
    ports: crate::network::port::Held,
) -> crate::Result<()> {
    use std::os::unix::process::CommandExt;
    let exe = own_binary().ctx(|| "finding the glassbox binary".into())?;
    let errlog =
        std::fs::File::create(dir.path.join("shim.err")).ctx(|| "creating shim.err".into())?;
    let mut cmd = std::process::Command::new(&exe);
    cmd.arg("--root")
        .arg(root)
        .args(["--trace", "off", "__shim", &dir.id])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(errlog);
    // The shim's events come back on a pipe until the container runs.
    let (relay_r, relay_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(std::io::Error::from)
        .ctx(|| "making the shim's event pipe".into())?;
    let relay_fd = {
        use std::os::fd::AsRawFd;
        relay_w.as_raw_fd()
    };
    cmd.env(super::shim::RELAY_FD_ENV, relay_fd.to_string());
    // The published ports' sockets go to the shim, which keeps them.
    let port_fds = ports.raw_fds();
    if !ports.is_empty() {
        let (k, v) = ports.env();
        cmd.env(k, v);
    }
    // SAFETY: setsid and fcntl are async-signal-safe and touch no memory;
    // setsid puts the shim in its own session so the terminal's signals
    // and the CLI's exit do not reach it.
    unsafe {
        cmd.pre_exec(move || {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            crate::network::port::keep_across_exec(&port_fds)?;
            crate::network::port::keep_across_exec(&[relay_fd])?;
            Ok(())
        });
    }
    crate::network::port::before_supervisor(&dir.path)?;
    let s = trace::step(
        Kind::Process,
        "shim",
        format!("container {}", &dir.id[..12]),
    )
    .field(
        "command",
        format!(
            "{} --root {} __shim {}",
            exe.display(),
            root.display(),
            dir.id
        ),
    )
    .equivalent(format!("setsid glassbox __shim {} &", &dir.id[..12]))
    .syscall("fork(2), setsid(2), execve(2)")
    .announce()?;
    let child = cmd.spawn().ctx(|| "starting the shim".into());
    let mut s = s;
    if let Ok(c) = &child {
        s.field("pid", c.id());
    }
    drop(relay_w);
    let child = s.finish_with(child)?;
    // The shim is this process's child until this process ends: a
    // long-lived one (the daemon) reaps it when it exits, so no zombie
    // piles up per container; a CLI that exits first hands it to init.
    std::thread::spawn(move || {
        let mut child = child;
        let _ = child.wait();
    });
    drop(ports);
    // Re-emit the shim's setup (and its container init's) in this trace,
    // in order; the pipe ends when the container's command runs or the
    // shim exits.
    let _ = trace::relay::RelayReader::new(std::fs::File::from(relay_r), None).pump();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let st = State::load(&dir.path);
        match st {
            Ok(st) if st.status != Status::Created => {
                if let Some(e) = st.error {
                    return Err(RuntimeError::StartFailed(st.name, e).into());
                }
                crate::network::port::after_supervisor(&dir.path);
                return Ok(());
            }
            // --rm containers that ended at once are gone already.
            Err(_) if !dir.path.exists() => return Ok(()),
            _ => {}
        }
        if Instant::now() > deadline {
            let why = std::fs::read_to_string(dir.path.join("shim.err")).unwrap_or_default();
            return Err(RuntimeError::StartFailed(
                dir.id[..12].to_string(),
                format!("the shim did not report a start within 10s {}", why.trim()),
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn wait_exited(dir: &Path, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        match State::load(dir) {
            Ok(st) if st.status == Status::Exited => return true,
            Err(_) => return true,
            _ => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    false
}

fn signal(root: &Path, st: &State, sig: nix::sys::signal::Signal) -> crate::Result<()> {
    let Some(pid) = st.pid else { return Ok(()) };
    st.journal(root, "kill", &[("signal", (sig as i32).to_string())]);
    let s = trace::step(Kind::Process, "kill", format!("container {}", st.name))
        .field("pid", pid)
        .field("signal", sig.as_str())
        .equivalent(format!(
            "kill -{} {pid}",
            sig.as_str().trim_start_matches("SIG")
        ))
        .syscall("kill(2)")
        .announce()?;
    let r = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
    s.finish_with(r.map_err(|e| RuntimeError::Kernel {
        what: format!("signalling pid {pid}"),
        errno: e,
    }))?;
    Ok(())
}

/// `stop -t SECS`: SIGTERM, then SIGKILL after the timeout.
pub fn stop(root: &Path, key: &str, timeout: u64) -> crate::Result<String> {
    let (dir, mut st) = container::find(root, key)?;
    let paused = match st.observed() {
        Status::Running | Status::Restarting => false,
        Status::Paused => true,
        // As with docker: stopping a container that does not run is done.
        Status::Created | Status::Exited => return Ok(st.name),
        s => {
            return Err(RuntimeError::IllegalMove {
                name: st.name.clone(),
                state: s.as_str(),
                verb: "stopped",
                hint: format!(
                    "its supervisor is gone; remove it with `glassbox rm -f {}`",
                    st.name
                ),
            }
            .into())
        }
    };
    // Tell the shim not to apply the restart policy to this exit.
    std::fs::write(super::restart::stop_marker(&dir), b"")
        .ctx(|| "marking the container as stopped".into())?;
    signal(root, &st, nix::sys::signal::Signal::SIGTERM)?;
    if paused {
        thaw_to_deliver(&dir, &mut st)?;
    }
    if !wait_exited(&dir, Duration::from_secs(timeout)) {
        signal(root, &st, nix::sys::signal::Signal::SIGKILL)?;
        wait_exited(&dir, Duration::from_secs(10));
    }
    crate::network::port::report_released(&st);
    st.journal(root, "stop", &[]);
    Ok(st.name)
}

/// `rm [-f] [-v]`: with `volumes`, the container's anonymous volumes go too.
pub fn remove(root: &Path, key: &str, force: bool, volumes: bool) -> crate::Result<String> {
    let (dir, mut st) = container::find(root, key)?;
    let observed = st.observed();
    if matches!(
        observed,
        Status::Running | Status::Paused | Status::Restarting
    ) {
        if !force {
            return Err(RuntimeError::IllegalMove {
                name: st.name.clone(),
                state: observed.as_str(),
                verb: "removed",
                hint: format!(
                    "stop it first with `glassbox stop {0}`, or use `glassbox rm -f {0}`",
                    st.name
                ),
            }
            .into());
        }
        let _ = std::fs::write(super::restart::stop_marker(&dir), b"");
        signal(root, &st, nix::sys::signal::Signal::SIGKILL)?;
        if observed == Status::Paused {
            thaw_to_deliver(&dir, &mut st)?;
        }
        wait_exited(&dir, Duration::from_secs(10));
        crate::network::port::report_released(&st);
    }
    if observed == Status::Dead {
        // Nobody supervises it: end what is left, by its recorded PID.
        if st.pid.is_some() {
            let _ = signal(root, &st, nix::sys::signal::Signal::SIGKILL);
        }
        // Its cgroup was the shim's to remove. The killed processes leave
        // it asynchronously; `Cgroup::remove` waits for that (EBUSY).
        if let Ok(layout) = super::cgroup::Layout::detect() {
            let _ = super::cgroup::Cgroup::new(layout, &st.id).remove(&mut super::cgroup::HostFs);
        }
    }
    crate::network::port::cleanup(&st);
    let cd = ContainerDir {
        id: st.id.clone(),
        path: dir,
    };
    if cd.path.exists() {
        super::remove_dir(&cd);
    }
    if volumes {
        super::volumes::remove_anonymous(root, &st);
    }
    Ok(st.name)
}

/// `kill -s SIG`: sends a signal to the container's init.
pub fn kill(root: &Path, key: &str, sig: &str) -> crate::Result<String> {
    let (dir, mut st) = container::find(root, key)?;
    let name = if sig.starts_with("SIG") {
        sig.to_string()
    } else {
        format!("SIG{sig}")
    };
    let sig: nix::sys::signal::Signal = name.parse().map_err(|_| {
        crate::Error::Usage(format!(
            "unknown signal {name:?}; use a name such as TERM, KILL or HUP"
        ))
    })?;
    let now = st.observed();
    if !matches!(now, Status::Running | Status::Paused) {
        return Err(RuntimeError::IllegalMove {
            name: st.name.clone(),
            state: now.as_str(),
            verb: "signalled",
            hint: format!(
                "only running containers take signals; start it with `glassbox start {}`",
                st.name
            ),
        }
        .into());
    }
    signal(root, &st, sig)?;
    if now == Status::Paused {
        thaw_to_deliver(&dir, &mut st)?;
    }
    if sig == nix::sys::signal::Signal::SIGKILL {
        wait_gone(&dir, st.pid);
    }
    Ok(st.name)
}

/// After a SIGKILL, waits (up to 10 s, as dockerd does) until the
/// supervisor has recorded the exit of the process `pid`, so a `kill`
/// followed by `inspect` or `ps` finds the container exited, however busy
/// the machine is: the exit, the restart, or the removal of a `--rm`
/// container.
fn wait_gone(dir: &Path, pid: Option<i32>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        match State::load(dir) {
            Ok(st) if st.status == Status::Running && st.pid == pid => {}
            _ => return,
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A frozen process acts on a signal only once it is thawed, so after
/// signalling a paused container `stop`, `kill` and `rm -f` unpause it, as
/// docker does. The state says running before the thaw: the container cannot exit
/// (and its supervisor record that) while it is still frozen.
fn thaw_to_deliver(dir: &Path, st: &mut State) -> crate::Result<()> {
    st.status = Status::Running;
    st.save(dir)?;
    freeze(st, false)
}

/// Freezes or thaws the container's processes: through its cgroup's
/// freezer, or, where glassbox has no cgroup (rootless without a delegated
/// subtree), by stopping and continuing each process of its PID namespace.
fn freeze(st: &State, frozen: bool) -> crate::Result<()> {
    let layout = super::cgroup::Layout::detect()?;
    if let super::cgroup::Layout::Off { why } = &layout {
        return signal_freeze(st, frozen, why);
    }
    super::cgroup::Cgroup::new(layout, &st.id).freeze(&mut super::cgroup::HostFs, frozen)
}

/// Without a freezer: `SIGSTOP` (or `SIGCONT`) to every process whose PID
/// namespace is the container's. Unlike the freezer, the processes' parent
/// can see the stop (waitpid's WUNTRACED, SIGCHLD), and `ps` shows them in
/// state T rather than asleep; the event says so.
fn signal_freeze(st: &State, frozen: bool, why: &str) -> crate::Result<()> {
    use nix::sys::signal::Signal;
    let Some(pid) = st.pid else {
        return Err(RuntimeError::NoFreezer(why.to_string()).into());
    };
    let pids = crate::kernel::pids_sharing("pid", pid).map_err(|e| crate::Error::Io {
        context: format!("reading /proc/{pid}/ns/pid"),
        source: e,
    })?;
    let sig = if frozen {
        Signal::SIGSTOP
    } else {
        Signal::SIGCONT
    };
    let list: Vec<String> = pids.iter().map(i32::to_string).collect();
    let s = trace::step(
        Kind::Process,
        if frozen { "stop_all" } else { "continue_all" },
        format!("container {}", &st.id[..12]),
    )
    .field("pids", &pids)
    .field("signal", sig.as_str())
    .field("no_freezer", why)
    .equivalent(format!("kill -{} {}", &sig.as_str()[3..], list.join(" ")))
    .syscall(format!("kill(pid, {})", sig.as_str()))
    .announce()?;
    let r = pids.iter().try_for_each(|p| {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(*p), sig).map_err(|e| crate::Error::Io {
            context: format!("sending {} to {p}", sig.as_str()),
            source: e.into(),
        })
    });
    s.finish_with(r)
}

/// `wait`: blocks until the container exits; returns its exit code.
pub fn wait(root: &Path, key: &str) -> crate::Result<i32> {
    let (dir, st) = container::find(root, key)?;
    loop {
        match State::load(&dir) {
            Ok(st) if st.status == Status::Exited => return Ok(st.exit_code.unwrap_or(0)),
            Ok(st) if st.observed() == Status::Dead => {
                return Err(RuntimeError::IllegalMove {
                    name: st.name.clone(),
                    state: "dead",
                    verb: "waited for",
                    hint: format!(
                        "its supervisor is gone; remove it with `glassbox rm -f {}`",
                        st.name
                    ),
                }
                .into())
            }
            Ok(_) => std::thread::sleep(Duration::from_millis(20)),
            // --rm containers vanish when they end.
            Err(_) => return Ok(st.exit_code.unwrap_or(0)),
        }
    }
}

/// `pause` (`frozen = true`) and `unpause`.
pub fn pause(root: &Path, key: &str, frozen: bool) -> crate::Result<String> {
    let (dir, mut st) = container::find(root, key)?;
    let (need, verb, hint) = if frozen {
        (
            Status::Running,
            "paused",
            "only a running container can be paused; see `glassbox ps -a`".to_string(),
        )
    } else {
        (
            Status::Paused,
            "unpaused",
            format!(
                "it is not paused; pause it with `glassbox pause {}`",
                st.name
            ),
        )
    };
    let now = st.observed();
    if now != need {
        return Err(RuntimeError::IllegalMove {
            name: st.name.clone(),
            state: now.as_str(),
            verb,
            hint,
        }
        .into());
    }
    freeze(&st, frozen)?;
    st.status = if frozen {
        Status::Paused
    } else {
        Status::Running
    };
    st.save(&dir)?;
    st.journal(root, if frozen { "pause" } else { "unpause" }, &[]);
    Ok(st.name)
}

/// One log entry.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct LogLine {
    /// The text, with its newline.
    pub log: String,
    /// "stdout" or "stderr".
    pub stream: String,
    /// When it was written.
    pub time: String,
}

/// `logs [--tail N] [-f]`: writes the container's output to `out`/`err`.
pub fn logs(
    root: &Path,
    key: &str,
    tail: Option<usize>,
    follow: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> crate::Result<()> {
    let (dir, _) = container::find(root, key)?;
    let path = super::shim::log_path(&dir);
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(_) => return Ok(()),
    };
    let mut reader = std::io::BufReader::new(file);
    let mut lines = Vec::new();
    let mut buf = String::new();
    while reader.read_line(&mut buf).unwrap_or(0) > 0 {
        if buf.ends_with('\n') {
            lines.push(std::mem::take(&mut buf));
        }
    }
    let skip = tail.map(|n| lines.len().saturating_sub(n)).unwrap_or(0);
    let mut emit = |l: &str| {
        if let Ok(e) = serde_json::from_str::<LogLine>(l) {
            let w: &mut dyn Write = if e.stream == "stderr" { err } else { out };
            let _ = w.write_all(e.log.as_bytes());
            let _ = w.flush();
        }
    };
    for l in &lines[skip..] {
        emit(l);
    }
    if follow {
        loop {
            let n = reader.read_line(&mut buf).unwrap_or(0);
            if n > 0 && buf.ends_with('\n') {
                emit(&std::mem::take(&mut buf));
                continue;
            }
            let running = State::load(&dir)
                .map(|s| {
                    matches!(
                        s.observed(),
                        Status::Running | Status::Paused | Status::Restarting
                    )
                })
                .unwrap_or(false);
            if !running && n == 0 {
                // The shim writes every line before it records the exit:
                // what is left in the file now is the end of the log.
                while reader.read_line(&mut buf).unwrap_or(0) > 0 {
                    if buf.ends_with('\n') {
                        emit(&std::mem::take(&mut buf));
                    }
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(())
}

/// The command line of a container, from its config.json.
fn command_of(dir: &Path) -> Vec<String> {
    oci_spec::runtime::Spec::load(dir.join("config.json"))
        .ok()
        .and_then(|s| s.process().as_ref().and_then(|p| p.args().clone()))
        .unwrap_or_default()
}

/// One row of `ps`.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PsRow {
    /// Short id.
    #[serde(rename = "ID")]
    pub id: String,
    /// Image.
    pub image: String,
    /// Command.
    pub command: String,
    /// Creation time.
    pub created_at: String,
    /// How long ago it was created ("5 seconds ago"), as docker's CREATED.
    pub running_for: String,
    /// Status text as docker's: "Up 5 seconds", "Exited (0) 2 minutes ago".
    pub status: String,
    /// State name.
    pub state: String,
    /// Published ports (`0.0.0.0:8080->80/tcp`).
    pub ports: String,
    /// Name.
    pub names: String,
}

/// `ps [-a]`.
pub fn ps(root: &Path, all: bool) -> Vec<PsRow> {
    let mut all_states = container::all(root);
    // Newest first, as docker lists them.
    all_states.sort_by(|a, b| b.1.created.cmp(&a.1.created));
    all_states
        .into_iter()
        .filter_map(|(dir, st)| {
            let s = st.observed();
            if !all && !matches!(s, Status::Running | Status::Paused | Status::Restarting) {
                return None;
            }
            use crate::image::inspect::{human_age, human_duration, seconds_since};
            let up = || {
                st.started_at
                    .as_deref()
                    .and_then(seconds_since)
                    .map(human_duration)
                    .unwrap_or_default()
            };
            let ended = || human_age(st.finished_at.as_deref().unwrap_or_default());
            let status = match s {
                Status::Running => format!("Up {}", up()),
                Status::Paused => format!("Up {} (Paused)", up()),
                Status::Exited => format!("Exited ({}) {}", st.exit_code.unwrap_or(0), ended()),
                Status::Created => "Created".to_string(),
                Status::Restarting => {
                    format!("Restarting ({}) {}", st.exit_code.unwrap_or(0), ended())
                }
                Status::Dead => {
                    "Dead (its supervisor is gone; no exit code was recorded)".to_string()
                }
            };
            Some(PsRow {
                id: st.id[..12].to_string(),
                image: st.image.clone(),
                command: ps_command(&command_of(&dir)),
                created_at: st.created.clone(),
                running_for: human_age(&st.created),
                status,
                state: s.as_str().to_string(),
                ports: crate::network::port::ps_column(&st),
                names: st.name.clone(),
            })
        })
        .collect()
}

/// `inspect`: a JSON object shaped like `docker inspect`'s.
pub fn inspect(root: &Path, key: &str) -> crate::Result<serde_json::Value> {
    let (dir, st) = container::find(root, key)?;
    let spec = oci_spec::runtime::Spec::load(dir.join("config.json")).ok();
    let process = spec.as_ref().and_then(|s| s.process().clone());
    let args = process
        .as_ref()
        .and_then(|p| p.args().clone())
        .unwrap_or_default();
    let s = st.observed();
    let mut v = serde_json::json!({
        "Id": st.id,
        "Created": st.created,
        "Path": args.first().cloned().unwrap_or_default(),
        "Args": args.iter().skip(1).collect::<Vec<_>>(),
        "State": {
            "Status": s.as_str(),
            // Docker counts a paused container as running (its processes exist, frozen).
            "Running": s == Status::Running || s == Status::Paused,
            "Paused": s == Status::Paused,
            "Restarting": s == Status::Restarting,
            "OOMKilled": st.oom_killed,
            "Dead": s == Status::Dead,
            "Pid": st.pid.unwrap_or(0),
            "ExitCode": st.exit_code.unwrap_or(0),
            "Error": st.error.clone().unwrap_or_default(),
            "StartedAt": st.started_at.clone().unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
            "FinishedAt": st.finished_at.clone().unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
        },
        "Image": st.image,
        "RestartCount": st.restart_count,
        "Name": format!("/{}", st.name),
        "HostConfig": {
            "Memory": st.limits.memory.unwrap_or(0),
            "NanoCpus": st.limits.cpus.map(|c| (c * 1e9) as i64).unwrap_or(0),
            "PidsLimit": st.limits.pids,
            "AutoRemove": st.auto_remove,
            "RestartPolicy": {
                "Name": st.restart_policy.name(),
                "MaximumRetryCount": st.restart_policy.max_retries(),
            },
            "ReadonlyRootfs": spec.as_ref().and_then(|s| s.root().as_ref().and_then(|r| r.readonly())).unwrap_or(false),
        },
        "Config": {
            "Hostname": spec.as_ref().and_then(|s| s.hostname().clone()).unwrap_or_default(),
            "User": process.as_ref().map(|p| format!("{}:{}", p.user().uid(), p.user().gid())).unwrap_or_default(),
            "Env": process.as_ref().and_then(|p| p.env().clone()).unwrap_or_default(),
            "Cmd": args,
            "Image": st.image,
            "WorkingDir": process.as_ref().map(|p| p.cwd().display().to_string()).unwrap_or_default(),
        },
        "GraphDriver": {
            "Name": "overlay2",
            "Data": {
                "LowerDir": st.lowers.iter().map(|(d, _)| d.display().to_string()).collect::<Vec<_>>().join(":"),
                "UpperDir": dir.join("upper").display().to_string(),
                "WorkDir": dir.join("work").display().to_string(),
                "MergedDir": dir.join("rootfs").display().to_string(),
            }
        },
        "Mounts": st.mounts.iter().map(|m| serde_json::json!({
            "Type": m.kind,
            "Name": m.name,
            "Source": m.source.display().to_string(),
            "Destination": m.destination,
            "Driver": if m.kind == "volume" { "local" } else { "" },
            "Mode": if m.rw { "" } else { "ro" },
            "RW": m.rw,
            "Propagation": if m.kind == "bind" { "rprivate" } else { "" },
        })).collect::<Vec<_>>(),
        "LogPath": super::shim::log_path(&dir).display().to_string(),
        "NetworkSettings": crate::network::settings(&st),
        "NetworkMode": if st.network_mode.is_empty() { "none".to_string() } else { st.network_mode.clone() },
    });
    crate::network::port::annotate_inspect(&mut v, &st);
    Ok(v)
}

/// The shim's entry point (`glassbox __shim ID`).
pub fn shim(root: &Path, id: &str) -> crate::Result<i32> {
    super::shim::run(root, id)
}

/// The COMMAND column as dockerd writes it: the arguments joined by
/// spaces, an argument that holds a space in single quotes
/// (`sh -c 'echo hi'`), so the column reads like the command line typed.
pub fn ps_command(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if a.contains(' ') {
                format!("'{a}'")
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
