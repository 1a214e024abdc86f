//! Cgroup limits on the real kernel: memory, pids and cpu writes take
//! effect, and the cgroup directories are gone when the container is.

use crate::run::{busybox_root, run_args};

fn cgroup_paths(events: &[serde_json::Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["kind"] == "cgroup" && e["action"] == "create" && e["stage"] == "done")
        .map(|e| e["fields"]["path"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_memory_hog_is_oom_killed_and_the_trace_says_so() {
    let root = busybox_root();
    let file = root.path().join("oom.jsonl");
    let args = [
        vec!["--trace", "json", "--trace-file", file.to_str().unwrap()],
        run_args(&["--rm", "--memory", "16m"], &["tail", "/dev/zero"]),
    ]
    .concat();
    let out = root.run(&args);
    assert_eq!(out.status.code(), Some(137));
    let events: Vec<serde_json::Value> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let exit = events.iter().find(|e| e["action"] == "exit").unwrap();
    assert_eq!(exit["fields"]["oom_killed"], true);
    assert_eq!(exit["fields"]["signal"], "SIGKILL");
    let limit = events
        .iter()
        .find(|e| e["action"] == "limit" && e["stage"] == "done")
        .unwrap();
    assert_eq!(limit["fields"]["value"], (16 << 20).to_string());
    for p in cgroup_paths(&events) {
        assert!(!std::path::Path::new(&p).exists(), "cgroup {p} left behind");
    }
}

#[test]
fn a_fork_bomb_stops_at_the_pids_limit() {
    let root = busybox_root();
    let out = root.run(&run_args(
        &["--rm", "--pids-limit", "8"],
        &[
            "sh",
            "-c",
            "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 3 & done; echo all forked",
        ],
    ));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("can't fork"), "{err}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("all forked"));
}

#[test]
fn cpus_become_a_cfs_quota_and_cgroups_are_removed() {
    let root = busybox_root();
    let (_, events) = root.traced(&run_args(&["--rm", "--cpus", "0.5"], &["true"]));
    let quota: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e["action"] == "limit" && e["stage"] == "done")
        .map(|e| {
            (
                e["subject"].as_str().unwrap(),
                e["fields"]["value"].as_str().unwrap(),
            )
        })
        .collect();
    // This host is cgroup v1; a v2-only host writes cpu.max "50000 100000".
    assert!(
        quota.contains(&("cpu.cfs_quota_us", "50000"))
            || quota.contains(&("cpu.max", "50000 100000")),
        "{quota:?}"
    );
    let paths = cgroup_paths(&events);
    assert!(!paths.is_empty());
    for p in paths {
        assert!(!std::path::Path::new(&p).exists(), "cgroup {p} left behind");
    }
}

#[test]
fn a_memory_limit_below_6m_is_refused_before_anything_is_made() {
    let root = busybox_root();
    let out = root.run(&run_args(&["--rm", "--memory", "1m"], &["true"]));
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("give at least 6m"), "{err}");
    assert!(!root.path().join("containers").exists());
}
