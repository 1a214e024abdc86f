//! The supervisor of a detached container: `glassbox __shim ID`, a re-exec
//! of glassbox in its own session that outlives the command that started
//! it. It starts the container with its stdout and stderr on pipes, writes
//! them to the log as JSON lines (`{"log","stream","time"}` like docker's
//! json-file driver), records the start and the exit in `state.json`, and
//! removes `--rm` containers when they end.

use super::state::{self, State};
use super::{restart, ContainerDir, Lower, Rootfs};
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The log file of a container directory.
pub fn log_path(dir: &Path) -> std::path::PathBuf {
    dir.join("log.json")
}

fn pump(
    r: OwnedFd,
    stream: &'static str,
    log: Arc<Mutex<std::fs::File>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(std::fs::File::from(r));
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let line = serde_json::json!({
                "log": String::from_utf8_lossy(&buf),
                "stream": stream,
                "time": state::now(),
            });
            let mut f = log.lock().unwrap_or_else(|e| e.into_inner());
            let _ = writeln!(f, "{line}");
        }
    })
}

/// Runs the shim for container `id`; returns its exit status. It starts
/// the process again as long as the restart policy says so.
pub fn run(root: &Path, id: &str) -> crate::Result<i32> {
    relay_to_starter();
    let path = state::containers_dir(root).join(id);
    let dir = ContainerDir {
        id: id.to_string(),
        path,
    };
    let mut delay = std::time::Duration::ZERO;
    // The published ports' sockets, bound by the command that started us.
    let mut ports =
        crate::network::port::Supervisor::new(&dir.path, crate::network::port::Held::inherited());
    loop {
        let began = std::time::Instant::now();
        let result = run_once(&dir, ports.as_mut())?;
        let mut st = State::load(&dir.path)?;
        super::lifecycle::record_exit(&mut st, &result);
        let code = result.as_ref().map(|(c, _)| *c).unwrap_or(125);
        let stopped = restart::stop_marker(&dir.path).exists();
        if result.is_ok()
            && st
                .restart_policy
                .should_restart(code, st.restart_count, stopped)
        {
            delay = restart::next_delay(delay, began.elapsed());
            st.status = state::Status::Restarting;
            st.restart_count += 1;
            st.save(&dir.path)?;
            crate::trace::fact(
                crate::trace::Kind::Process,
                "restart",
                format!("container {}", &id[..12]),
            )
            .field("policy", st.restart_policy.name())
            .field("exit_code", code)
            .field("restart_count", st.restart_count)
            .field("delay_ms", delay.as_millis() as u64)
            .info();
            // Sleep in slices so that `stop` during the back-off wins.
            let until = std::time::Instant::now() + delay;
            while std::time::Instant::now() < until && !restart::stop_marker(&dir.path).exists() {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            if !restart::stop_marker(&dir.path).exists() {
                continue;
            }
            let mut st = State::load(&dir.path)?;
            st.status = state::Status::Exited;
            st.save(&dir.path)?;
            return Ok(code);
        }
        if st.auto_remove {
            super::remove_dir(&dir);
            super::volumes::remove_anonymous(root, &st);
        } else {
            st.save(&dir.path)?;
        }
        return Ok(code);
    }
}

/// Starts the container once with its output on the log; returns how it
/// ended (an `Err` when it could not start).
fn run_once(
    dir: &ContainerDir,
    mut ports: Option<&mut crate::network::port::Supervisor>,
) -> crate::Result<crate::Result<(i32, bool)>> {
    // Its steps show under this heading in the starting command's trace.
    let _p = crate::trace::phase("shim");
    let id = &dir.id;
    let mut st = State::load(&dir.path)?;
    let spec = oci_spec::runtime::Spec::load(dir.config())
        .map_err(|e| super::RuntimeError::StartFailed(id[..12].to_string(), e.to_string()))?;
    let rootfs = Rootfs {
        lowers: st
            .lowers
            .iter()
            .map(|(d, g)| Lower {
                dir: d.clone(),
                digest: g.clone(),
            })
            .collect(),
    };
    let (out_r, out_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(std::io::Error::from)
        .map_err(|e| crate::Error::Io {
            context: "making the log pipe".into(),
            source: e,
        })?;
    let (err_r, err_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(std::io::Error::from)
        .map_err(|e| crate::Error::Io {
            context: "making the log pipe".into(),
            source: e,
        })?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path(&dir.path))
        .map_err(|e| crate::Error::Io {
            context: "opening the log".into(),
            source: e,
        })?;
    let log = Arc::new(Mutex::new(log));
    let io = super::Stdio::Log(out_w.as_raw_fd(), err_w.as_raw_fd());
    let mut writers = Some((out_w, err_w));
    let mut readers = Some((out_r, err_r));
    let mut threads = Vec::new();
    let limits: super::cgroup::Limits = st.limits.into();
    let mut released = false;
    let mut on_start = |pid: i32| {
        // The init has its own copies now; ours would keep the pumps from
        // ever seeing the end of the stream.
        drop(writers.take());
        if let Some((o, e)) = readers.take() {
            threads.push(pump(o, "stdout", log.clone()));
            threads.push(pump(e, "stderr", log.clone()));
        }
        if let Some(p) = ports.as_deref_mut() {
            p.container_started(pid);
        }
        st.status = state::Status::Running;
        st.pid = Some(pid);
        st.shim_pid = Some(std::process::id() as i32);
        st.started_at = Some(state::now());
        let _ = st.save(&dir.path);
        if !released {
            released = true;
            // Not joined: it must not hold up recording the exit.
            std::thread::spawn(release_startup_pages);
        }
    };
    let result = super::start_and_wait(dir, &spec, &rootfs, &limits, io, &mut on_start);
    if let Some(p) = ports {
        p.container_exited();
    }
    drop(writers.take());
    for t in threads {
        let _ = t.join();
    }
    Ok(result)
}

/// The environment variable naming the pipe on which the command that
/// started the shim (`run -d`, `start`) reads the shim's events.
pub(crate) const RELAY_FD_ENV: &str = "GLASSBOX_SHIM_RELAY_FD";

/// Sends this shim's events — and, through it, the container init's — to
/// the command that started it, until the container's command runs.
fn relay_to_starter() {
    use std::os::fd::FromRawFd;
    let Some(fd) = std::env::var(RELAY_FD_ENV)
        .ok()
        .and_then(|v| v.parse::<i32>().ok())
    else {
        return;
    };
    std::env::remove_var(RELAY_FD_ENV);
    // SAFETY: fcntl only changes the descriptor's flags: close-on-exec, so
    // the container's command does not inherit the pipe.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } < 0 {
        return;
    }
    // SAFETY: the starter passed this descriptor to us for this purpose
    // alone; nothing else in this process owns it.
    let pipe = unsafe { std::fs::File::from_raw_fd(fd) };
    crate::trace::set_relay_until_started(crate::trace::relay::RelayWriter::new(pipe, None));
}

/// Gives back the pages of glassbox's code and read-only data the shim
/// touched only to start the container (argument parsing, the spec, the
/// runtime), once the command that started it has exited: from then on the
/// shim only waits and copies the log, and the few pages that needs fault
/// back in from the page cache. `madvise(MADV_PAGEOUT)` drops a page only
/// when no other process maps it and never loses data (dirty private pages
/// stay), so this is safe on every mapping; it lowers the shim's resident
/// set from ~7 MiB to well under 2 MiB.
fn release_startup_pages() {
    let parent = nix::unistd::getppid();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while nix::unistd::getppid() == parent && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return;
    };
    let mut bytes = 0u64;
    let mut regions = 0u32;
    for line in maps.lines() {
        let mut f = line.split_whitespace();
        let (Some(range), Some(perms)) = (f.next(), f.next()) else {
            continue;
        };
        // File-backed, not writable: code and read-only data. Writable and
        // anonymous mappings (heap, stacks, .data) are left alone.
        let path = f.nth(3).unwrap_or("");
        if !path.starts_with('/') || perms.as_bytes().get(1) == Some(&b'w') {
            continue;
        }
        let Some((a, b)) = range.split_once('-') else {
            continue;
        };
        let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) else {
            continue;
        };
        // SAFETY: the range is one of this process's own mappings as the
        // kernel lists it; MADV_PAGEOUT only reclaims clean or swappable
        // pages and never changes their contents, so no memory the process
        // uses is invalidated.
        let r = unsafe { libc::madvise(a as *mut libc::c_void, b - a, libc::MADV_PAGEOUT) };
        if r == 0 {
            bytes += (b - a) as u64;
            regions += 1;
        }
    }
    crate::trace::fact(
        crate::trace::Kind::Process,
        "release_pages",
        "shim startup code",
    )
    .field("regions", regions)
    .field("bytes", bytes)
    .syscall("madvise(MADV_PAGEOUT)")
    .info();
}
