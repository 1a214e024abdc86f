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
        self.cmd_on(&self.dir.path().join("glassbox-runc"), args)
    }

    /// The same podman (store, runroot, cgroup manager) with `runtime`.
    fn cmd_on(&self, runtime: &std::path::Path, args: &[&str]) -> Command {
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
            .arg(runtime)
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

/// What podman's network setup leaves on the host that names one
/// container: veths whose peer is in its network namespace, iptables and
/// nftables rules naming its ID or its published port, and the namespace
/// file itself.
fn network_traces(netns: &str, id: &str, port: u16) -> Vec<String> {
    let text = |prog: &str, args: &[&str]| {
        Command::new(prog)
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    let mut left = Vec::new();
    for l in text("ip", &["-o", "link"]).lines() {
        if l.contains(&format!("link-netns {netns}")) {
            left.push(format!("link: {l}"));
        }
    }
    let dport = port.to_string();
    let names_it = |l: &str| {
        l.contains(id)
            || l.split(|c: char| !c.is_ascii_alphanumeric() && c != '-')
                .collect::<Vec<_>>()
                .windows(2)
                .any(|w| {
                    let opt = w[0].trim_start_matches('-');
                    (opt == "dport" || opt == "dports") && w[1] == dport
                })
    };
    for l in text("iptables-save", &[]).lines().filter(|l| names_it(l)) {
        left.push(format!("iptables: {l}"));
    }
    for l in text("nft", &["list", "ruleset"])
        .lines()
        .filter(|l| names_it(l))
    {
        left.push(format!("nft: {l}"));
    }
    if std::path::Path::new("/run/netns").join(netns).exists() {
        left.push(format!("netns: /run/netns/{netns}"));
    }
    left
}

/// `podman run -d -p 127.0.0.1:PORT:80` on podman's default (CNI) network,
/// once with runc and once with glassbox-runc: podman makes the network
/// namespace, its veth and the port's DNAT rules and names the namespace
/// in config.json; the runtime joins it. Each serves its own page on
/// 127.0.0.1, and after `stop` and `rm -f` neither leaves a veth, a rule
/// or a namespace of its container (podman's shared chains and its
/// bridge stay, as podman leaves them with either runtime).
#[test]
fn podman_publishes_a_port_through_glassbox_runc_as_through_runc() {
    let Some(runc) = ["/usr/sbin/runc", "/usr/bin/runc"]
        .into_iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.exists())
    else {
        panic!("runc (scripts/install-deps.sh installs it with podman)");
    };
    let p = Podman::new();
    let ours = p.dir.path().join("glassbox-runc");
    for (name, rt) in [("runc", runc.as_path()), ("glassbox-runc", ours.as_path())] {
        let port = crate::registry_client::free_port();
        let publish = format!("127.0.0.1:{port}:80");
        let script = format!(
            "mkdir /www && echo served-by-{name} > /www/index.html && exec httpd -f -p 80 -h /www"
        );
        // Limits this host lets runc set (its root lacks CAP_SYS_RESOURCE:
        // podman's defaults fail every runc container here).
        let run = |args: &[&str]| p.cmd_on(rt, args).output().unwrap();
        let out = run(&[
            "run",
            "-d",
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
            "-p",
            &publish,
            "localhost/busybox",
            "sh",
            "-c",
            &script,
        ]);
        assert!(out.status.success(), "{name}: podman run -p: {}", err(&out));
        let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let key = run(&[
            "inspect",
            "--format",
            "{{.NetworkSettings.SandboxKey}}",
            &id,
        ]);
        let key = String::from_utf8_lossy(&key.stdout).trim().to_string();
        let netns = key.rsplit('/').next().unwrap_or_default().to_string();
        assert!(key.starts_with("/run/netns/"), "{name}: sandbox {key:?}");
        let page = crate::ports::until(&format!("{name}'s page on {publish}"), || {
            crate::ports::http_get(port)
        });
        assert!(
            page.contains(&format!("served-by-{name}")),
            "{name}: {page}"
        );
        let during = network_traces(&netns, &id, port);
        assert!(
            during.iter().any(|l| l.starts_with("link: ")),
            "{name}: podman's veth into {netns}: {during:#?}"
        );
        assert!(
            during
                .iter()
                .any(|l| l.starts_with("iptables: ") && l.contains("DNAT")),
            "{name}: podman's DNAT for {port}: {during:#?}"
        );
        if name == "glassbox-runc" {
            // The runtime joined podman's namespace, by the path podman gave.
            let replay = Command::new(bin())
                .args(["trace", "--runc-root"])
                .arg(p.dir.path().join("rt"))
                .arg(&id)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&replay.stdout);
            assert!(
                text.contains("setns net namespace") && text.contains(&key),
                "no join of {key} in {text}"
            );
        }
        let stop = run(&["stop", "--time", "1", &id]);
        assert!(stop.status.success(), "{name}: stop: {}", err(&stop));
        let rm = run(&["rm", "-f", &id]);
        assert!(rm.status.success(), "{name}: rm -f: {}", err(&rm));
        let after = network_traces(&netns, &id, port);
        assert!(after.is_empty(), "{name} left: {after:#?}");
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "{name}: {port} still answers"
        );
    }
    assert!(p.runtime_containers().is_empty(), "rm deleted it");
}
