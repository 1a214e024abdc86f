//! A foreground `run` as a user at a terminal has it: Ctrl-C and the other
//! signals the command gets reach the container once, through the
//! command's signal proxy, and the command returns the container's exit
//! code instead of dying and leaving the container behind.

use crate::run::busybox_root;
use crate::support::Root;
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// A foreground job: `glassbox ARGS` in a process group of its own, as a
/// shell starts it. Killed (by its PID) if the test fails before it ends.
struct Job {
    child: Child,
    out: BufReader<std::process::ChildStdout>,
}

impl Job {
    fn start(root: &Root, args: &[&str]) -> Job {
        let mut child = root
            .cmd(args)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        Job { child, out }
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        self.out.read_line(&mut l).unwrap();
        l
    }

    /// What a key at the terminal does: the signal goes to the job's
    /// process group.
    fn key(&self, sig: Signal) {
        killpg(Pid::from_raw(self.child.id() as i32), sig).unwrap();
    }

    /// Waits up to `secs` for the command's exit code.
    fn exit_within(&mut self, secs: u64) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    fn rest(&mut self) -> String {
        let mut s = String::new();
        self.out.read_to_string(&mut s).unwrap();
        s
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A script that reports `ready` once its trap is set, then waits.
fn trapping(sig: &str, code: u8) -> String {
    format!("trap 'echo got {sig}; exit {code}' {sig}; echo ready; while true; do sleep 0.05; done")
}

#[test]
fn ctrl_c_reaches_the_container_once_and_the_run_returns_its_exit_code() {
    let root = busybox_root();
    let script = trapping("INT", 3);
    let mut job = Job::start(
        &root,
        &[
            "run", "--rm", "--name", "fg", "busybox", "sh", "-c", &script,
        ],
    );
    assert_eq!(job.line(), "ready\n");
    job.key(Signal::SIGINT);
    assert_eq!(job.exit_within(10), Some(3));
    // Once: the container's session is its own, so the terminal's SIGINT
    // reached the command only, which passed it on.
    assert_eq!(job.rest(), "got INT\n");
    assert_eq!(root.ok(&["ps", "-a", "-q"]), "");
}

#[test]
fn sigterm_to_the_command_is_passed_on_too() {
    let root = busybox_root();
    let script = trapping("TERM", 4);
    let mut job = Job::start(&root, &["run", "--rm", "busybox", "sh", "-c", &script]);
    assert_eq!(job.line(), "ready\n");
    kill(Pid::from_raw(job.child.id() as i32), Signal::SIGTERM).unwrap();
    assert_eq!(job.exit_within(10), Some(4));
    assert_eq!(job.rest(), "got TERM\n");
}

/// Waits until the container's first process runs `comm` (its shell has
/// exec'd it): before that a shell, which handles SIGINT, would take it.
fn wait_for_exec(root: &Root, name: &str, comm: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = root.run(&["inspect", name]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let pid = v[0]["State"]["Pid"].as_i64().unwrap_or(0);
        let now = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if pid > 0 && now.trim() == comm {
            return;
        }
        assert!(Instant::now() < deadline, "{name} never ran {comm}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_pid_1_without_a_handler_ignores_ctrl_c_and_the_run_waits_for_stop() {
    let root = busybox_root();
    let mut job = Job::start(
        &root,
        &["run", "--name", "sleeper", "busybox", "sleep", "300"],
    );
    wait_for_exec(&root, "sleeper", "sleep");
    job.key(Signal::SIGINT);
    // As under docker: the kernel applies no default action to a PID
    // namespace's init, so `sleep` goes on, and so does the command.
    assert_eq!(job.exit_within(1), None);
    let v: serde_json::Value = serde_json::from_str(&root.ok(&["inspect", "sleeper"])).unwrap();
    assert_eq!(v[0]["State"]["Status"], "running");
    root.ok(&["stop", "-t", "1", "sleeper"]);
    assert_eq!(job.exit_within(10), Some(137));
    root.ok(&["rm", "sleeper"]);
}

#[test]
fn with_init_ctrl_c_ends_the_command_inside() {
    let root = busybox_root();
    let mut job = Job::start(
        &root,
        &[
            "run",
            "--rm",
            "--init",
            "busybox",
            "sh",
            "-c",
            "echo ready; exec sleep 300",
        ],
    );
    assert_eq!(job.line(), "ready\n");
    job.key(Signal::SIGINT);
    // The small init passes SIGINT to sleep, which dies of it: 128 + 2.
    assert_eq!(job.exit_within(10), Some(130));
}
