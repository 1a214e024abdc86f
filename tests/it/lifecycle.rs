//! Detached containers under their shim: logs, ps, stop, rm, inspect, and
//! the truth about a container whose supervisor died.

use crate::run::busybox_root;
use crate::support::Root;
use std::time::Duration;

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

fn detached(root: &Root, name: &str, script: &str) -> String {
    root.ok(&["run", "-d", "--name", name, "busybox", "sh", "-c", script])
        .trim()
        .to_string()
}

fn inspect(root: &Root, name: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(&root.ok(&["inspect", name])).unwrap();
    v[0].clone()
}

fn wait_for(mut f: impl FnMut() -> bool) {
    for _ in 0..200 {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("condition not reached in 5s");
}

#[test]
fn a_detached_container_logs_runs_stops_and_is_removed() {
    let root = busybox_root();
    let _c = Cleanup {
        root: &root,
        names: vec!["web"],
    };
    let id = detached(
        &root,
        "web",
        "echo started; echo oops >&2; while true; do sleep 1; done",
    );
    assert_eq!(id.len(), 64);
    wait_for(|| root.ok(&["logs", "web"]).contains("started"));
    let out = root.run(&["logs", "web"]);
    assert_eq!(String::from_utf8_lossy(&out.stderr), "oops\n");
    assert_eq!(root.ok(&["ps", "-q"]).trim(), &id[..12]);
    let i = inspect(&root, "web");
    assert_eq!(i["State"]["Status"], "running");
    assert_eq!(i["Name"], "/web");
    let pid = i["State"]["Pid"].as_i64().unwrap();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());

    // rm without -f refuses and says what would work.
    let out = root.run(&["rm", "web"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is running") && err.contains("glassbox stop web"),
        "{err}"
    );

    // sh as PID 1 ignores SIGTERM, so stop falls back to SIGKILL.
    root.ok(&["stop", "-t", "1", "web"]);
    let i = inspect(&root, "web");
    assert_eq!(i["State"]["Status"], "exited");
    assert_eq!(i["State"]["ExitCode"], 137);
    assert!(root.ok(&["ps", "-q"]).trim().is_empty());
    assert!(root.ok(&["ps", "-a", "-q"]).contains(&id[..12]));
    // As with docker, stopping an exited container is already done.
    assert_eq!(root.ok(&["stop", "web"]).trim(), "web");
    assert_eq!(inspect(&root, "web")["State"]["ExitCode"], 137);
    root.ok(&["rm", "web"]);
    assert!(root.ok(&["ps", "-a", "-q"]).trim().is_empty());
    for c in ["memory", "pids", "cpu", "freezer"] {
        assert!(!std::path::Path::new(&format!("/sys/fs/cgroup/{c}/glassbox/{id}")).exists());
    }
}

#[test]
fn a_container_whose_shim_died_is_reported_dead_and_rm_f_cleans_up() {
    let root = busybox_root();
    let _c = Cleanup {
        root: &root,
        names: vec!["orphan"],
    };
    let id = detached(&root, "orphan", "while true; do sleep 1; done");
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root.path().join("containers").join(&id).join("state.json")).unwrap(),
    )
    .unwrap();
    let shim = state["shim_pid"].as_i64().unwrap() as i32;
    let pid = state["pid"].as_i64().unwrap() as i32;
    // End the shim this test started, by its PID.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(shim),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_for(|| inspect(&root, "orphan")["State"]["Status"] == "dead");
    let ps = root.ok(&["ps", "-a"]);
    assert!(ps.contains("supervisor is gone"), "{ps}");
    root.ok(&["rm", "-f", "orphan"]);
    wait_for(|| !std::path::Path::new(&format!("/proc/{pid}/cgroup")).exists());
    assert!(!root.path().join("containers").join(&id).exists());
}

#[test]
fn pause_freezes_the_container_and_unpause_resumes_it() {
    let root = busybox_root();
    let _c = Cleanup {
        root: &root,
        names: vec!["ticker"],
    };
    detached(
        &root,
        "ticker",
        "while true; do echo tick; sleep 0.05; done",
    );
    let count = || root.ok(&["logs", "ticker"]).lines().count();
    wait_for(|| count() > 2);
    root.ok(&["pause", "ticker"]);
    let state = &inspect(&root, "ticker")["State"];
    assert_eq!(state["Status"], "paused");
    // As in docker inspect: a paused container is still running, frozen.
    assert_eq!(state["Running"], true);
    assert_eq!(state["Paused"], true);
    // Let any line already in the pipe land, then nothing more may come.
    std::thread::sleep(Duration::from_millis(200));
    let frozen = count();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(count(), frozen, "a paused container kept printing");
    let out = root.run(&["pause", "ticker"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("is paused"));
    root.ok(&["unpause", "ticker"]);
    wait_for(|| count() > frozen);
    root.ok(&["kill", "ticker"]);
    assert_eq!(root.ok(&["wait", "ticker"]).trim(), "137");
}

#[test]
fn exec_sees_the_same_files_and_pid_namespace() {
    let root = busybox_root();
    let _c = Cleanup {
        root: &root,
        names: vec!["box"],
    };
    detached(&root, "box", "echo hi > /shared; exec sleep 100");
    wait_for(|| {
        root.run(&["exec", "box", "cat", "/shared"])
            .status
            .success()
    });
    let out = root.ok(&[
        "exec",
        "box",
        "sh",
        "-c",
        "cat /shared; cat /proc/1/cmdline | tr '\\0' ' '",
    ]);
    assert_eq!(out, "hi\nsleep 100 ");
    assert_eq!(
        root.run(&["exec", "box", "no-such"]).status.code(),
        Some(127)
    );
}

#[test]
fn nothing_is_left_behind_no_mounts_cgroups_or_processes() {
    let root = busybox_root();
    let _c = Cleanup {
        root: &root,
        names: vec!["gone"],
    };
    root.ok(&["run", "--rm", "busybox", "true"]);
    let id = detached(&root, "gone", "exec sleep 100");
    root.ok(&["rm", "-f", "gone"]);
    let r = root.path().to_str().unwrap();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(r), "a mount of {r} is left");
    for c in ["memory", "pids", "cpu", "freezer"] {
        assert!(!std::path::Path::new(&format!("/sys/fs/cgroup/{c}/glassbox/{id}")).exists());
    }
    // No process (shim or container) mentions this root any more.
    wait_for(|| {
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok())
            .all(|e| {
                std::fs::read(e.path().join("cmdline"))
                    .map(|c| !String::from_utf8_lossy(&c).contains(r))
                    .unwrap_or(true)
            })
    });
}

#[test]
fn an_unknown_image_is_one_clear_line_and_creates_nothing() {
    let root = busybox_root();
    let out = root.run(&["run", "--rm", "no-such-image", "true"]);
    // 125: run itself failed, as docker says it.
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no-such-image"), "{err}");
    assert!(!root.path().join("containers").exists());
}

#[test]
fn create_then_start_keeps_the_writable_layer_across_restarts() {
    let root = busybox_root();
    let _c = Cleanup {
        root: &root,
        names: vec!["c1"],
    };
    root.ok(&[
        "create",
        "--name",
        "c1",
        "busybox",
        "sh",
        "-c",
        "echo x >> /count; wc -l < /count",
    ]);
    assert_eq!(inspect(&root, "c1")["State"]["Status"], "created");
    let out = root.run(&["unpause", "c1"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("is created"));
    root.ok(&["start", "c1"]);
    assert_eq!(root.ok(&["wait", "c1"]).trim(), "0");
    root.ok(&["start", "c1"]);
    assert_eq!(root.ok(&["wait", "c1"]).trim(), "0");
    assert_eq!(root.ok(&["logs", "c1"]), "1\n2\n");
}

#[test]
fn stop_and_kill_reach_a_paused_container_and_start_on_a_running_one_is_a_no_op() {
    let root = busybox_root();
    let _c = Cleanup {
        root: &root,
        names: vec!["frozen-a", "frozen-b"],
    };
    detached(&root, "frozen-a", "exec sleep 100");
    detached(
        &root,
        "frozen-b",
        "trap 'exit 7' TERM; while :; do sleep 0.05; done",
    );
    // As with docker: start on a running container succeeds and changes nothing.
    let pid = inspect(&root, "frozen-a")["State"]["Pid"].clone();
    assert_eq!(root.ok(&["start", "frozen-a"]).trim(), "frozen-a");
    assert_eq!(inspect(&root, "frozen-a")["State"]["Pid"], pid);
    // kill of a paused container: the signal is delivered once it is thawed.
    root.ok(&["pause", "frozen-a"]);
    root.ok(&["kill", "frozen-a"]);
    assert_eq!(root.ok(&["wait", "frozen-a"]).trim(), "137");
    // stop of a paused container: SIGTERM, thaw, and its trap runs.
    root.ok(&["pause", "frozen-b"]);
    assert_eq!(inspect(&root, "frozen-b")["State"]["Status"], "paused");
    root.ok(&["stop", "-t", "5", "frozen-b"]);
    let state = &inspect(&root, "frozen-b")["State"];
    assert_eq!(state["Status"], "exited");
    assert_eq!(state["ExitCode"], 7);
    // Stopping it again is done already; killing it says why not.
    assert_eq!(root.ok(&["stop", "frozen-b"]).trim(), "frozen-b");
    let out = root.run(&["kill", "frozen-b"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is exited") && err.contains("glassbox start frozen-b"),
        "{err}"
    );
}
