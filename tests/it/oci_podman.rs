//! podman 4.3 with `--runtime glassbox-runc`: podman and conmon call
//! glassbox's runc CLI for run, exec, logs, pause, stop and rm. podman gets
//! its own --root, --runroot and --tmpdir in a temp dir, and the runtime
//! its own --root (through a wrapper script), so nothing touches the host's
//! podman or runtime state; the image is glassbox's busybox, saved by
//! glassbox and loaded into that podman store (no network).

use crate::support::{bin, Root};
use std::process::{Command, Output};

pub(crate) struct Podman {
    pub(crate) dir: tempfile::TempDir,
}

impl Podman {
    pub(crate) fn new() -> Podman {
        let store = Root::new();
        store.ok(&["setup"]);
        let dir = tempfile::Builder::new()
            .prefix("glassbox-podman-test-")
            .tempdir()
            .unwrap();
        // podman passes no --root to its runtime, and its clean-up process
        // (conmon's exit command) drops --runtime-flag: a wrapper gives
        // every call this test's runtime root.
        let wrapper = dir.path().join("glassbox-runc");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/bash\nexec -a glassbox-runc {} --root {} \"$@\"\n",
                bin().display(),
                dir.path().join("rt").display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let tar = dir.path().join("busybox.tar");
        store.ok(&["save", "busybox:latest", "-o", tar.to_str().unwrap()]);
        let p = Podman { dir };
        let out = p.run(&["load", "-i", tar.to_str().unwrap()]);
        assert!(out.status.success(), "podman load: {}", err(&out));
        p
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let d = self.dir.path();
        let mut c = Command::new("podman");
        c.arg("--root")
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("runroot"))
            .arg("--tmpdir")
            .arg(d.join("tmp"))
            .args([
                "--cgroup-manager",
                "cgroupfs",
                "--events-backend",
                "none",
                "--storage-driver",
                "vfs",
            ])
            .arg("--runtime")
            .arg(d.join("glassbox-runc"))
            .args(args)
            .stdin(std::process::Stdio::null());
        c
    }

    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.cmd(args)
            .output()
            .expect("podman (scripts/install-deps.sh installs it)")
    }

    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "podman {args:?} failed: {}\n{}",
            out.status,
            err(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The runtime's containers (directories under its --root).
    fn runtime_containers(&self) -> Vec<String> {
        std::fs::read_dir(self.dir.path().join("rt"))
            .map(|d| {
                d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .filter(|n| n != "traces")
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.run(&["rm", "--all", "--force", "--time", "0"]);
        // podman's cgroupfs manager leaves conmon's cgroup and its parent
        // behind; rmdir removes them only when empty (no process in them,
        // so no other podman's).
        if let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") {
            for h in hierarchies.flatten() {
                let parent = h.path().join("libpod_parent");
                let _ = std::fs::remove_dir(parent.join("conmon"));
                let _ = std::fs::remove_dir(&parent);
            }
        }
    }
}

pub(crate) fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn podman_runs_execs_logs_pauses_stops_and_removes_through_glassbox_runc() {
    let p = Podman::new();
    let out = p.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "localhost/busybox",
        "echo",
        "hello",
    ]);
    assert_eq!(out, "hello\n");
    assert!(p.runtime_containers().is_empty(), "--rm deleted it");

    let id = p.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "none",
        "localhost/busybox",
        "sh",
        "-c",
        "echo started; trap 'exit 0' TERM; while true; do sleep 0.1; done",
    ]);
    let id = id.trim().to_string();
    assert_eq!(p.runtime_containers(), vec![id.clone()]);
    let exec = p.ok(&[
        "exec",
        "web",
        "sh",
        "-c",
        "echo in-web; cat /proc/1/cmdline",
    ]);
    assert!(exec.starts_with("in-web\n"), "{exec}");
    assert!(
        exec.contains("while true"),
        "PID 1 is the container's sh: {exec}"
    );
    let logs = p.ok(&["logs", "web"]);
    assert!(logs.contains("started"), "{logs}");
    p.ok(&["pause", "web"]);
    let state = p.ok(&["inspect", "--format", "{{.State.Status}}", "web"]);
    assert_eq!(state.trim(), "paused");
    p.ok(&["unpause", "web"]);
    p.ok(&["stop", "--time", "5", "web"]);
    let state = p.ok(&["inspect", "--format", "{{.State.ExitCode}}", "web"]);
    assert_eq!(state.trim(), "0", "the trap ended it on SIGTERM");
    p.ok(&["rm", "web"]);
    assert!(p.runtime_containers().is_empty(), "rm deleted it");

    // The trace of podman's container is kept and narrated.
    let replay = Command::new(bin())
        .args(["trace", "--runc-root"])
        .arg(p.dir.path().join("rt"))
        .arg(&id)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&replay.stdout);
    assert!(replay.status.success(), "{}", err(&replay));
    for step in ["wait_start", "pivot_root", "start container", "exec sh"] {
        assert!(text.contains(step), "no {step} in {text}");
    }
}
