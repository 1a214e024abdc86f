//! Steps that keep running: a lesson step with `background = true` (a
//! registry a later step pushes to) is started as a child in its own
//! process group, with its output in `ROOT/lessons/bg-N-STEP.log`, and the
//! lesson goes on once it accepts connections on the step's `ready`
//! address. Its PID and start time are recorded in
//! `ROOT/lessons/background-N.json`; `glassbox lessons reset N` (and the
//! book's transcript run) stop exactly those processes, by PID, after
//! checking the start time so a reused PID is never signalled.
//!
//! Two runs of the same lesson at once (a test and a transcript) would
//! both want the same port: a run waits (up to a minute) for the port to be
//! free before it starts its own.

use super::{Lesson, LessonError, LessonStep, Runner};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One process a lesson left running.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Started {
    pid: i32,
    /// Field 22 of `/proc/PID/stat`: when it started, in clock ticks.
    start_time: u64,
    run: String,
}

fn record_path(root: &Path, lesson: u32) -> PathBuf {
    root.join("lessons")
        .join(format!("background-{lesson}.json"))
}

fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; count from after ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

fn accepting(addr: &str) -> bool {
    use std::net::ToSocketAddrs;
    if let Some(path) = addr.strip_prefix("unix://") {
        return std::os::unix::net::UnixStream::connect(path).is_ok();
    }
    addr.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|a| {
            std::net::TcpStream::connect_timeout(&a, Duration::from_millis(200)).is_ok()
        })
}

/// Starts step `index` of `lesson` in the background and waits until its
/// `ready` address accepts connections; returns what it printed so far and
/// its PID.
pub fn start(
    runner: &Runner,
    lesson: &Lesson,
    index: usize,
    step: &LessonStep,
) -> Result<(String, i32), LessonError> {
    let words = super::split_words(&super::client::with_root(&step.run, &runner.root))
        .map_err(LessonError::Data)?;
    let ready = step
        .ready
        .as_deref()
        .map(|r| super::client::with_root(r, &runner.root));
    let dir = runner.root.join("lessons");
    std::fs::create_dir_all(&dir).map_err(LessonError::Spawn)?;
    let log = dir.join(format!("bg-{}-{}.log", lesson.number, index + 1));
    let fail = |problem: String| LessonError::StepFailed {
        lesson: lesson.number,
        step: index + 1,
        run: step.run.clone(),
        problem,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(addr) = &ready {
            if accepting(addr) {
                if Instant::now() > deadline {
                    return Err(fail(format!(
                        "cannot start: something already listens on {addr}; stop it (or `glassbox lessons reset {}`) and try again",
                        lesson.number
                    )));
                }
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
        }
        let out = std::fs::File::create(&log).map_err(LessonError::Spawn)?;
        let err = out.try_clone().map_err(LessonError::Spawn)?;
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(&runner.exe);
        if let Some(c) = &runner.config_home {
            cmd.env("XDG_CONFIG_HOME", c);
        }
        let mut child = cmd
            .arg("--root")
            .arg(&runner.root)
            .args(["--trace", "off"])
            .args(&words)
            .current_dir(&lesson.dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .map_err(LessonError::Spawn)?;
        let pid = child.id() as i32;
        let mut records = read(&runner.root, lesson.number);
        records.push(Started {
            pid,
            start_time: start_time(pid).unwrap_or(0),
            run: step.run.clone(),
        });
        write(&runner.root, lesson.number, &records)?;
        let started = Instant::now();
        let exited = loop {
            if let Ok(Some(status)) = child.try_wait() {
                break Some(status);
            }
            let ready = match &ready {
                Some(addr) => accepting(addr),
                None => started.elapsed() > Duration::from_millis(500),
            };
            if ready {
                // Ours, not another run's that won the port: still alive?
                std::thread::sleep(Duration::from_millis(100));
                match child.try_wait() {
                    Ok(Some(status)) => break Some(status),
                    _ => break None,
                }
            }
            if started.elapsed() > Duration::from_secs(15) {
                stop_one(pid, start_time(pid).unwrap_or(0));
                return Err(fail("did not become ready within 15 seconds".into()));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let printed = std::fs::read_to_string(&log).unwrap_or_default();
        match exited {
            None => return Ok((printed, pid)),
            Some(status) => {
                let mut records = read(&runner.root, lesson.number);
                records.retain(|r| r.pid != pid);
                write(&runner.root, lesson.number, &records)?;
                // Lost the port to another run of this lesson: wait, retry.
                if ready.as_deref().is_some_and(accepting) && Instant::now() < deadline {
                    continue;
                }
                return Err(fail(format!(
                    "exited at once ({status}): {}",
                    printed.trim()
                )));
            }
        }
    }
}

fn read(root: &Path, lesson: u32) -> Vec<Started> {
    std::fs::read(record_path(root, lesson))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn write(root: &Path, lesson: u32, records: &[Started]) -> Result<(), LessonError> {
    let path = record_path(root, lesson);
    if records.is_empty() {
        let _ = std::fs::remove_file(&path);
        return Ok(());
    }
    std::fs::write(&path, serde_json::to_vec_pretty(records).expect("json"))
        .map_err(LessonError::Spawn)
}

/// SIGTERM, a few seconds' grace, then SIGKILL — only if `pid` is still
/// the process that was started (same start time).
fn stop_one(pid: i32, started: u64) {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    if start_time(pid) != Some(started) {
        return;
    }
    let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    let t = Instant::now();
    while start_time(pid) == Some(started) && t.elapsed() < Duration::from_secs(5) {
        // Reap it if it is our child (a transcript run); harmless otherwise.
        let _ = nix::sys::wait::waitpid(
            Pid::from_raw(pid),
            Some(nix::sys::wait::WaitPidFlag::WNOHANG),
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    if start_time(pid) == Some(started) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(Pid::from_raw(pid), None);
    }
}

/// Stops every process lesson `lesson` left running under `root`.
pub fn stop_all(root: &Path, lesson: u32) {
    for r in read(root, lesson) {
        stop_one(r.pid, r.start_time);
    }
    let _ = std::fs::remove_file(record_path(root, lesson));
}
