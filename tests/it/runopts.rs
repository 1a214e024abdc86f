//! Options of run and the commands around a running container: `logs -f`
//! that follows, `top` that lists host PIDs from the cgroup, `--env-file`,
//! `-u NAME` resolved in the image, and a missing `-w` created like Docker.

use crate::run::{busybox_root, run_args};
use crate::support::Root;
use std::io::BufRead;
use std::time::{Duration, Instant};

/// Force-removes the named containers when the test ends, pass or fail.
struct Cleanup<'a> {
    root: &'a Root,
    names: Vec<&'static str>,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        for n in &self.names {
            let _ = self.root.run(&["rm", "-f", n]);
        }
    }
}

/// Kills a child this test started, by its PID, if it still runs.
struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn status(root: &Root, name: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(&root.ok(&["inspect", name])).unwrap();
    v[0]["State"]["Status"].as_str().unwrap().to_string()
}

#[test]
fn logs_follow_prints_new_lines_and_ends_when_the_container_exits() {
    let root = busybox_root();
    let _c = Cleanup {
        root: &root,
        names: vec!["talker"],
    };
    root.ok(&[
        "run",
        "-d",
        "--name",
        "talker",
        "busybox",
        "sh",
        "-c",
        "echo one; sleep 1; echo two; sleep 1; echo three",
    ]);
    let child = root
        .cmd(&["logs", "-f", "talker"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut guard = ChildGuard(child);
    let mut lines = std::io::BufReader::new(guard.0.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "one");
    // The container still runs: what comes next is followed, not replayed.
    assert_eq!(status(&root, "talker"), "running");
    assert_eq!(lines.next().unwrap().unwrap(), "two");
    assert_eq!(lines.next().unwrap().unwrap(), "three");
    assert!(lines.next().is_none(), "logs -f ends with the container");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(s) = guard.0.try_wait().unwrap() {
            assert!(s.success());
            break;
        }
        assert!(Instant::now() < deadline, "logs -f did not end");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(status(&root, "talker"), "exited");
}

#[test]
fn top_lists_the_cgroup_processes_with_host_pids() {
    let root = busybox_root();
    let _c = Cleanup {
        root: &root,
        names: vec!["busy"],
    };
    root.ok(&[
        "run",
        "-d",
        "--name",
        "busy",
        "busybox",
        "sh",
        "-c",
        "sleep 100 & sleep 200; echo done",
    ]);
    let v: serde_json::Value = serde_json::from_str(&root.ok(&["inspect", "busy"])).unwrap();
    let init = v[0]["State"]["Pid"].as_i64().unwrap();
    let mut out = String::new();
    for _ in 0..200 {
        out = root.ok(&["top", "busy"]);
        if out.contains("sleep 100") && out.contains("sleep 200") {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let rows: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(rows.len(), 3, "sh and two sleeps:\n{out}");
    let pids: Vec<i64> = rows
        .iter()
        .map(|r| r.split_whitespace().nth(1).unwrap().parse().unwrap())
        .collect();
    assert!(
        pids.contains(&init),
        "the init's host PID {init} is listed:\n{out}"
    );
    assert!(
        pids.iter().all(|p| *p > 1),
        "host PIDs, not the namespace's"
    );
    root.ok(&["stop", "-t", "0", "busy"]);
    assert!(!root.run(&["top", "busy"]).status.success());
}

#[test]
fn env_file_is_read_and_dash_e_overrides_it() {
    let root = busybox_root();
    let f = root.path().join("app.env");
    std::fs::write(&f, "# settings\nA=from-file\nB=from-file\n\n").unwrap();
    let out = root.ok(&run_args(
        &[
            "--rm",
            "--env-file",
            f.to_str().unwrap(),
            "-e",
            "B=from-flag",
        ],
        &["sh", "-c", "echo $A $B"],
    ));
    assert_eq!(out, "from-file from-flag\n");
}

#[test]
fn user_name_is_resolved_in_the_image() {
    let root = busybox_root();
    let out = root.ok(&run_args(
        &["--rm", "-u", "www-data"],
        &["sh", "-c", "echo $(id -u):$(id -g)"],
    ));
    assert_eq!(out, "33:33\n");
    let out = root.ok(&run_args(&["--rm", "-u", "daemon:nogroup"], &["id", "-g"]));
    assert_eq!(out, "65534\n");
    let out = root.run(&run_args(&["--rm", "-u", "alice"], &["true"]));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unable to find user \"alice\""),
        "stderr: {err}"
    );
    assert!(
        !root.path().join("containers").exists()
            || root
                .path()
                .join("containers")
                .read_dir()
                .unwrap()
                .next()
                .is_none()
    );
}

#[test]
fn missing_workdir_is_created() {
    let root = busybox_root();
    let (out, events) = root.traced(&run_args(&["--rm", "-w", "/srv/app"], &["pwd"]));
    assert_eq!(out, "/srv/app\n");
    let chdir = events.iter().find(|e| e["action"] == "chdir").unwrap();
    assert_eq!(chdir["fields"]["created"], true);
}

fn inspect(root: &Root, name: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(&root.ok(&["inspect", name])).unwrap();
    v[0].clone()
}

#[test]
fn on_failure_restarts_up_to_its_limit() {
    let root = busybox_root();
    let _c = Cleanup {
        root: &root,
        names: vec!["flaky"],
    };
    root.ok(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "echo attempt; exit 3",
    ]);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let i = inspect(&root, "flaky");
        if i["State"]["Status"] == "exited" && i["RestartCount"] == 2 {
            assert_eq!(i["State"]["ExitCode"], 3);
            assert_eq!(i["HostConfig"]["RestartPolicy"]["Name"], "on-failure");
            assert_eq!(i["HostConfig"]["RestartPolicy"]["MaximumRetryCount"], 2);
            break;
        }
        assert!(Instant::now() < deadline, "not done restarting: {i}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Three runs: the first and two restarts, each writing to the one log.
    assert_eq!(root.ok(&["logs", "flaky"]), "attempt\nattempt\nattempt\n");
}

#[test]
fn always_restarts_until_stopped() {
    let root = busybox_root();
    let _c = Cleanup {
        root: &root,
        names: vec!["phoenix"],
    };
    root.ok(&[
        "run",
        "-d",
        "--name",
        "phoenix",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "sleep 0.2",
    ]);
    let deadline = Instant::now() + Duration::from_secs(15);
    while inspect(&root, "phoenix")["RestartCount"].as_u64().unwrap() < 2 {
        assert!(Instant::now() < deadline, "no restarts");
        std::thread::sleep(Duration::from_millis(50));
    }
    root.ok(&["stop", "-t", "1", "phoenix"]);
    let i = inspect(&root, "phoenix");
    assert_eq!(i["State"]["Status"], "exited");
    let count = i["RestartCount"].as_u64().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let i = inspect(&root, "phoenix");
    assert_eq!(
        i["State"]["Status"], "exited",
        "stop prevents further restarts"
    );
    assert_eq!(i["RestartCount"].as_u64().unwrap(), count);
    let out = root.run(&["run", "--rm", "--restart", "always", "busybox", "true"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("conflict"));
}

#[test]
fn init_is_pid_1_and_reaps_orphans() {
    let root = busybox_root();
    let (out, events) = root.traced(&run_args(
        &["--rm", "--init"],
        &[
            "sh",
            "-c",
            // The inner sh exits at once, orphaning its sleep: only an init
            // that reaps leaves no zombie behind.
            "cat /proc/1/comm; echo $$; sh -c 'sleep 0.1 &'; sleep 0.5; ps -o stat | grep -c Z || true",
        ],
    ));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "glassbox-init");
    assert_ne!(lines[1], "1", "the command is not PID 1");
    assert_eq!(lines[2], "0", "no zombies");
    assert!(events.iter().any(|e| e["action"] == "init"));
}

#[test]
fn init_forwards_stop_signal_to_the_command() {
    let root = busybox_root();
    let _c = Cleanup {
        root: &root,
        names: vec!["graceful"],
    };
    root.ok(&[
        "run",
        "-d",
        "--init",
        "--name",
        "graceful",
        "busybox",
        "sh",
        "-c",
        "trap 'echo got TERM; exit 7' TERM; echo ready; while true; do sleep 0.1; done",
    ]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !root.ok(&["logs", "graceful"]).contains("ready") {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(25));
    }
    root.ok(&["stop", "-t", "5", "graceful"]);
    let i = inspect(&root, "graceful");
    assert_eq!(i["State"]["ExitCode"], 7, "{i}");
    assert!(root.ok(&["logs", "graceful"]).contains("got TERM"));
}

/// Runs glassbox with `input` on its stdin; returns (status, stdout).
fn with_stdin(root: &Root, args: &[&str], input: &[u8]) -> (bool, String) {
    use std::io::Write;
    let mut c = root
        .cmd(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn glassbox");
    c.stdin.take().unwrap().write_all(input).unwrap();
    let out = c.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn stdin_reaches_the_container_only_with_dash_i() {
    let root = busybox_root();
    let _c = Cleanup {
        root: &root,
        names: vec!["stdin-box"],
    };
    let cat = ["run", "--rm", "--network", "none", "busybox", "cat"];
    let with_i = ["run", "-i", "--rm", "--network", "none", "busybox", "cat"];
    assert_eq!(
        with_stdin(&root, &with_i, b"piped in\n"),
        (true, "piped in\n".into())
    );
    // Without -i, cat sees /dev/null: an immediate end of input.
    assert_eq!(
        with_stdin(&root, &cat, b"piped in\n"),
        (true, String::new())
    );
    root.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "stdin-box",
        "busybox",
        "sleep",
        "60",
    ]);
    assert_eq!(
        with_stdin(&root, &["exec", "-i", "stdin-box", "cat"], b"to exec\n"),
        (true, "to exec\n".into())
    );
    assert_eq!(
        with_stdin(&root, &["exec", "stdin-box", "cat"], b"to exec\n"),
        (true, String::new())
    );
}

#[test]
fn a_foreground_run_with_a_restart_policy_goes_on_in_the_background() {
    let root = busybox_root();
    let _c = Cleanup {
        root: &root,
        names: vec!["fg-flaky"],
    };
    let trace = root.path().join("fg.jsonl");
    let out = root.run(&[
        "--trace",
        "json",
        "--trace-file",
        trace.to_str().unwrap(),
        "run",
        "--name",
        "fg-flaky",
        "--network",
        "none",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "echo attempt; exit 3",
    ]);
    // The first exit code, as docker run returns it.
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "attempt\n");
    let events: Vec<serde_json::Value> = std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    crate::support::assert_explained(&events);
    assert!(
        events
            .iter()
            .any(|e| e["kind"] == "process" && e["action"] == "hand_over" && e["stage"] == "done"),
        "no hand_over event"
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let i = inspect(&root, "fg-flaky");
        if i["State"]["Status"] == "exited" && i["RestartCount"] == 2 {
            assert_eq!(i["State"]["ExitCode"], 3);
            break;
        }
        assert!(Instant::now() < deadline, "not done restarting: {i}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The first run's output is in the log, as docker's, and so are the
    // two restarts, which ran under the supervisor.
    assert_eq!(
        root.ok(&["logs", "fg-flaky"]),
        "attempt\nattempt\nattempt\n"
    );
    // Without a policy that asks for it, nothing runs again.
    let out = root.run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "exit 4",
    ]);
    assert_eq!(out.status.code(), Some(4));
}

#[test]
fn a_network_mode_glassbox_cannot_do_is_refused_before_anything_is_made() {
    let root = busybox_root();
    for (bad, says) in [
        ("container:web", "network create"),
        ("no such net!", "not valid"),
    ] {
        let out = root.run(&["run", "--rm", "--network", bad, "busybox", "true"]);
        assert_eq!(out.status.code(), Some(125), "--network {bad:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("--network") && err.contains(says), "{err}");
    }
    assert_eq!(root.ok(&["ps", "-a", "-q"]), "");
}

#[test]
fn an_env_entry_without_a_name_is_refused_like_docker() {
    let root = busybox_root();
    for bad in ["=x", ""] {
        let out = root.run(&["run", "--rm", "-e", bad, "busybox", "true"]);
        assert_eq!(out.status.code(), Some(125), "-e {bad:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("KEY=VALUE"), "{err}");
    }
    assert_eq!(root.ok(&["ps", "-a", "-q"]), "");
}

#[test]
fn the_command_starts_with_stdin_stdout_and_stderr_only() {
    let root = busybox_root();
    let _c = Cleanup {
        root: &root,
        names: vec!["fd-box"],
    };
    // A descriptor the caller leaves open across exec, as shells do.
    let mut ends = [0i32; 2];
    // SAFETY: pipe(2) fills the two-element array; both ends are closed below.
    assert_eq!(unsafe { libc::pipe(ends.as_mut_ptr()) }, 0);
    // `ls` opens the directory itself: it lists 0 1 2 and its own 3.
    let list = ["ls", "/proc/self/fd"];
    let out = root.ok(&run_args(&["--rm", "--network", "none"], &list));
    assert_eq!(out, "0\n1\n2\n3\n", "leaked into run: {out}");
    root.ok(&run_args(
        &["-d", "--name", "fd-box", "--network", "none"],
        &["sleep", "60"],
    ));
    let out = root.ok(&["exec", "fd-box", "ls", "/proc/self/fd"]);
    assert_eq!(out, "0\n1\n2\n3\n", "leaked into exec: {out}");
    // SAFETY: closing the two pipe ends this test opened.
    unsafe {
        libc::close(ends[0]);
        libc::close(ends[1]);
    }
}
