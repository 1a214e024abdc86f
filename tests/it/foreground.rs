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
    /// Its stdout, until the test closes it.
    out: Option<BufReader<std::process::ChildStdout>>,
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
        let out = Some(BufReader::new(child.stdout.take().unwrap()));
        Job { child, out }
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        self.out.as_mut().unwrap().read_line(&mut l).unwrap();
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
        self.out.as_mut().unwrap().read_to_string(&mut s).unwrap();
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
            "run", "--rm", "--init", "--name", "tiny", "busybox", "sleep", "300",
        ],
    );
    // With --init the first process is glassbox's small init, and sleep
    // its child. The init is a clone of this very command, so its own
    // command line ends in `sleep 300` too, from before it has blocked the
    // signals it forwards: wait for the row that is sleep itself, which
    // the init forks only once it forwards them.
    let deadline = Instant::now() + Duration::from_secs(10);
    let sleep_row = |top: &str| {
        top.lines()
            .any(|l| l.split_whitespace().skip(3).collect::<Vec<_>>() == ["sleep", "300"])
    };
    while !sleep_row(&String::from_utf8_lossy(&root.run(&["top", "tiny"]).stdout)) {
        assert!(Instant::now() < deadline, "sleep never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    job.key(Signal::SIGINT);
    // The small init passes SIGINT to sleep, which dies of it: 128 + 2.
    assert_eq!(job.exit_within(10), Some(130));
}

#[test]
fn a_foreground_runs_output_reaches_its_caller_and_the_log() {
    let root = busybox_root();
    let out = root.run(&[
        "run",
        "--name",
        "talker",
        "busybox",
        "sh",
        "-c",
        "echo to-out; echo to-err >&2; printf no-newline",
    ]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "to-out\nno-newline");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "to-err\n");
    // `logs` shows it afterwards, each stream where it was, as docker's
    // json-file log does: the last line as it was, without a newline.
    let logs = root.run(&["logs", "talker"]);
    assert_eq!(String::from_utf8_lossy(&logs.stdout), "to-out\nno-newline");
    assert_eq!(String::from_utf8_lossy(&logs.stderr), "to-err\n");
    let id = root.ok(&["inspect", "talker"]);
    let v: serde_json::Value = serde_json::from_str(&id).unwrap();
    let log = std::fs::read_to_string(v[0]["LogPath"].as_str().unwrap()).unwrap();
    let streams: Vec<(String, String)> = log
        .lines()
        .map(|l| {
            let e: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                e["log"].as_str().unwrap().into(),
                e["stream"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(
        streams.contains(&("to-out\n".into(), "stdout".into())),
        "{log}"
    );
    assert!(
        streams.contains(&("to-err\n".into(), "stderr".into())),
        "{log}"
    );
    assert!(
        streams.contains(&("no-newline".into(), "stdout".into())),
        "{log}"
    );
    root.ok(&["rm", "talker"]);
}

#[test]
fn logs_follow_a_foreground_container_from_another_command() {
    let root = busybox_root();
    let mut job = Job::start(
        &root,
        &[
            "run",
            "--rm",
            "--name",
            "ticker",
            "busybox",
            "sh",
            "-c",
            "echo tick; echo ready; sleep 300",
        ],
    );
    assert_eq!(job.line(), "tick\n");
    assert_eq!(job.line(), "ready\n");
    // While it runs, a second command reads what it printed so far.
    let logs = root.ok(&["logs", "ticker"]);
    assert_eq!(logs, "tick\nready\n");
    root.ok(&["stop", "-t", "1", "ticker"]);
    assert!(job.exit_within(10).is_some());
}

#[test]
fn a_terminals_output_is_logged_as_stdout() {
    let root = busybox_root();
    // -t without a terminal on this side: the container still gets a pty.
    let out = root.run(&[
        "run",
        "-t",
        "--name",
        "tl",
        "busybox",
        "sh",
        "-c",
        "tty; echo on-a-tty",
    ]);
    assert!(out.status.success(), "{out:?}");
    let logs = root.ok(&["logs", "tl"]);
    // The pty's line discipline ends lines with \r\n, and docker logs
    // them so too.
    assert!(logs.contains("/dev/pts/0\r\n"), "{logs:?}");
    assert!(logs.contains("on-a-tty\r\n"), "{logs:?}");
    root.ok(&["rm", "tl"]);
}

/// The `SigIgn` and `SigBlk` lines of the container command's own status.
fn ignored_and_blocked(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| l.starts_with("SigIgn") || l.starts_with("SigBlk"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
fn the_containers_command_starts_with_every_signal_at_its_default() {
    let root = busybox_root();
    // glassbox ignores SIGPIPE (as Rust programs do); an ignored signal
    // survives execve, so without a reset the container would inherit it.
    let zeros = vec![
        "SigBlk: 0000000000000000".to_string(),
        "SigIgn: 0000000000000000".to_string(),
    ];
    let grep = ["grep", "^Sig", "/proc/self/status"];
    let mut run = vec!["run", "--rm", "--network", "none", "busybox"];
    run.extend(grep);
    assert_eq!(ignored_and_blocked(&root.ok(&run)), zeros, "run");
    let mut init = vec!["run", "--rm", "--init", "--network", "none", "busybox"];
    init.extend(grep);
    assert_eq!(ignored_and_blocked(&root.ok(&init)), zeros, "run --init");
    root.ok(&[
        "run",
        "-d",
        "--name",
        "sig-box",
        "--network",
        "none",
        "busybox",
        "sleep",
        "60",
    ]);
    let mut exec = vec!["exec", "sig-box"];
    exec.extend(grep);
    let out = root.ok(&exec);
    root.ok(&["rm", "-f", "sig-box"]);
    assert_eq!(ignored_and_blocked(&out), zeros, "exec");
}

#[test]
fn a_reader_that_goes_away_ends_the_containers_output_like_a_pipe() {
    let root = busybox_root();
    // `glassbox run busybox yes | head -1`: once head has gone, yes's
    // writes fail as they would have into head's pipe itself.
    let mut job = Job::start(
        &root,
        &["run", "--rm", "--network", "none", "busybox", "yes"],
    );
    assert_eq!(job.line(), "y\n");
    drop(job.out.take());
    // yes is PID 1 of its namespace: no SIGPIPE kills it, it sees the
    // write fail (EPIPE) and exits 1, as under docker.
    assert_eq!(
        job.exit_within(10),
        Some(1),
        "the run went on after its reader left"
    );
    assert_eq!(root.ok(&["ps", "-a", "-q"]), "");
}
