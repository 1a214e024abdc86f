//! glassbox-runc's confinement of a bundle's process, on the real kernel:
//! `linux.seccomp` (a profile denying mkdir, an argument rule on chmod,
//! the filter on `exec` too, and podman's default profile), `process.rlimits`
//! and `--no-pivot`. Every container is deleted by the helpers' guards.

use crate::oci_podman::{err, Podman};
use crate::oci_runtime::{has, stderr, Runc};
use crate::support::assert_explained;

fn set(r: &Runc, f: impl FnOnce(&mut serde_json::Value)) {
    let mut c = r.config();
    f(&mut c);
    r.set_config(&c);
}

fn out(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The first event of `kind.action` in the container's kept trace.
fn event(r: &Runc, id: &str, kind: &str, action: &str) -> serde_json::Value {
    let events = r.events(&r.state_root().join(format!("traces/{id}.jsonl")));
    assert_explained(&events);
    events
        .into_iter()
        .rfind(|e| e["kind"] == kind && e["action"] == action)
        .unwrap_or_else(|| panic!("no {kind}.{action} in the trace of {id}"))
}

#[test]
fn a_profile_denying_mkdir_fails_it_with_eperm_while_other_calls_work() {
    let r = Runc::new();
    r.set_args(&[
        "sh",
        "-c",
        "mkdir /tmp/denied; echo mkdir=$?; touch /tmp/allowed && echo touched; \
         grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status",
    ]);
    set(&r, |c| {
        c["process"]["noNewPrivileges"] = serde_json::json!(true);
        c["linux"]["seccomp"] = serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
                {"names": ["no_such_call_anywhere"], "action": "SCMP_ACT_ERRNO"}
            ]
        });
    });
    let b = r.bundle();
    let o = r.run(&["run", "--bundle", b.to_str().unwrap(), "s1"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = out(&o);
    assert!(
        stderr(&o).contains("Operation not permitted"),
        "mkdir is refused: {}",
        stderr(&o)
    );
    assert!(text.contains("mkdir=1"), "{text}");
    assert!(text.contains("touched"), "an allowed call works: {text}");
    assert!(text.contains("Seccomp:\t2"), "filter mode: {text}");
    assert!(text.contains("NoNewPrivs:\t1"), "{text}");
    assert!(!r.bundle().join("rootfs/tmp/denied").exists());
    let ev = event(&r, "s1", "security", "seccomp");
    assert_eq!(ev["fields"]["rules"], 2, "{ev}");
    assert_eq!(ev["fields"]["default_action"], "SCMP_ACT_ALLOW");
    assert_eq!(ev["fields"]["unknown_syscalls"], 1);
    assert_eq!(ev["fields"]["no_new_privs"], true);
    assert!(ev["syscall"]
        .as_str()
        .unwrap()
        .starts_with("seccomp(SECCOMP_SET_MODE_FILTER"));

    // A process exec'd into the container is under the same filter.
    r.set_args(&["sleep", "100"]);
    r.ok(&["create", "--bundle", b.to_str().unwrap(), "s2"]);
    r.ok(&["start", "s2"]);
    let e = r.run(&["exec", "s2", "sh", "-c", "mkdir /tmp/e; echo rc=$?"]);
    assert!(out(&e).contains("rc=1"), "{} {}", out(&e), stderr(&e));
    assert!(
        stderr(&e).contains("Operation not permitted"),
        "{}",
        stderr(&e)
    );
    let st = r.ok(&["exec", "s2", "grep", "Seccomp:", "/proc/self/status"]);
    assert!(st.contains("Seccomp:\t2"), "{st}");
    r.ok(&["delete", "--force", "s2"]);
}

/// An argument rule: chmod to 0777 is refused, any other mode is not.
/// Without no_new_privs the filter is loaded before capabilities drop.
#[test]
fn an_argument_rule_refuses_only_the_matching_call() {
    let r = Runc::new();
    r.set_args(&[
        "sh",
        "-c",
        "touch /tmp/f; chmod 644 /tmp/f && echo chmod644=ok; chmod 777 /tmp/f; echo chmod777=$?; \
         stat -c %a /tmp/f; grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status",
    ]);
    set(&r, |c| {
        c["process"]["noNewPrivileges"] = serde_json::json!(false);
        c["linux"]["seccomp"] = serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["chmod"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 1, "value": 0o777, "op": "SCMP_CMP_EQ"}]},
                {"names": ["fchmodat"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 2, "value": 0o777, "op": "SCMP_CMP_EQ"}]}
            ]
        });
    });
    let b = r.bundle();
    let o = r.run(&["run", "--bundle", b.to_str().unwrap(), "a1"]);
    let text = out(&o);
    assert!(text.contains("chmod644=ok"), "{text} {}", stderr(&o));
    assert!(text.contains("chmod777=1"), "{text}");
    assert!(
        text.contains("\n644\n"),
        "the refused chmod changed nothing: {text}"
    );
    assert!(text.contains("Seccomp:\t2"), "{text}");
    assert!(text.contains("NoNewPrivs:\t0"), "{text}");
    let ev = event(&r, "a1", "security", "seccomp");
    assert_eq!(ev["fields"]["no_new_privs"], false);
}

#[test]
fn a_notify_profile_is_refused_clearly_and_leaves_nothing() {
    let r = Runc::new();
    set(&r, |c| {
        c["linux"]["seccomp"] = serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_NOTIFY"}]
        });
    });
    let b = r.bundle();
    let o = r.run(&["create", "--bundle", b.to_str().unwrap(), "n1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("SCMP_ACT_NOTIFY"), "{}", stderr(&o));
    assert!(!r.state_root().join("n1").exists());
}

#[test]
fn rlimits_from_the_spec_are_what_the_process_gets() {
    let r = Runc::new();
    r.set_args(&[
        "sh",
        "-c",
        "ulimit -n; ulimit -Hn; grep 'Max open files' /proc/self/limits",
    ]);
    set(&r, |c| {
        c["process"]["rlimits"] = serde_json::json!([
            {"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 2048},
            {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}
        ]);
    });
    let b = r.bundle();
    let o = r.run(&["run", "--bundle", b.to_str().unwrap(), "l1"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = out(&o);
    assert!(text.starts_with("1024\n2048\n"), "{text}");
    assert!(
        text.split_whitespace()
            .collect::<Vec<_>>()
            .ends_with(&["Max", "open", "files", "1024", "2048", "files"]),
        "{text}"
    );
    let ev = event(&r, "l1", "process", "rlimits");
    assert_eq!(ev["fields"]["count"], 2);
    assert!(ev["equivalent"]
        .as_str()
        .unwrap()
        .contains("prlimit --nofile=1024:2048"));

    // A type runc does not know is an error, and nothing is left.
    set(&r, |c| {
        c["process"]["rlimits"] =
            serde_json::json!([{"type": "RLIMIT_NOPE", "soft": 1, "hard": 1}]);
    });
    let bad = r.run(&["create", "--bundle", b.to_str().unwrap(), "l2"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("RLIMIT_NOPE"), "{}", stderr(&bad));
    assert!(!r.state_root().join("l2").exists());
}

#[test]
fn no_pivot_moves_the_root_and_the_container_sees_its_rootfs() {
    let r = Runc::new();
    std::fs::write(r.bundle().join("rootfs/marker"), "in-the-bundle\n").unwrap();
    r.set_args(&["sh", "-c", "cat /marker; ls /bin/busybox"]);
    let b = r.bundle();
    let o = r.run(&["run", "--no-pivot", "--bundle", b.to_str().unwrap(), "p1"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(out(&o), "in-the-bundle\n/bin/busybox\n");
    let ev = event(&r, "p1", "mount", "move_root");
    let sys = ev["syscall"].as_str().unwrap();
    assert!(
        sys.contains(r#"mount(".", "/", NULL, MS_MOVE, NULL); chroot(".")"#),
        "{sys}"
    );
    let events = r.events(&r.state_root().join("traces/p1.jsonl"));
    assert!(!has(&events, "mount", "pivot_root"));
}

/// podman passes its default profile (hundreds of rules, with argument
/// compares): the container runs in filter mode.
#[test]
fn podman_containers_run_under_podmans_default_seccomp_profile() {
    let p = Podman::new();
    let o = p.ok(&[
        "run",
        "--rm",
        "busybox",
        "grep",
        "Seccomp:",
        "/proc/self/status",
    ]);
    assert!(o.contains("Seccomp:\t2"), "{o}");
    // The runtime's kept trace says what was loaded: podman's allowlist,
    // refusing the rest with ENOSYS.
    let traces = p.dir.path().join("rt/traces");
    let ev = std::fs::read_dir(&traces)
        .unwrap()
        .flatten()
        .flat_map(|f| {
            std::fs::read_to_string(f.path())
                .unwrap_or_default()
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .collect::<Vec<_>>()
        })
        .find(|e| e["kind"] == "security" && e["action"] == "seccomp")
        .expect("a seccomp event in the runtime's traces");
    assert_eq!(ev["fields"]["default_action"], "SCMP_ACT_ERRNO", "{ev}");
    assert!(ev["fields"]["rules"].as_u64().unwrap() > 200, "{ev}");
    // With seccomp=unconfined podman passes no profile: the container's
    // PID 1 (grep itself) is in filter mode 0.
    let plain = p.run(&[
        "run",
        "--rm",
        "--security-opt",
        "seccomp=unconfined",
        "busybox",
        "grep",
        "Seccomp:",
        "/proc/1/status",
    ]);
    assert!(plain.status.success(), "{}", err(&plain));
    assert!(
        String::from_utf8_lossy(&plain.stdout).contains("Seccomp:\t0"),
        "seccomp=unconfined passes no profile"
    );
}
