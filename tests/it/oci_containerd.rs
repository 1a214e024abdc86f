//! containerd 1.6 (Debian) with `ctr run --runc-binary glassbox-runc`:
//! containerd's runc shim (io.containerd.runc.v2) calls glassbox's runc
//! CLI for run, exec, kill and delete. The test starts its own containerd
//! (its own root, state dir and socket in a temp dir, CRI off) in its own
//! containerd namespace, imports glassbox's busybox saved by glassbox (no
//! network), and tears all of it down by PID when it drops.

use crate::support::{bin, Root};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Where the shim puts its sockets and ctr its fifos: fixed paths of
/// containerd 1.6, not under its --root or --state.
const HOST_DIRS: [&str; 3] = [
    "/run/containerd/s",
    "/run/containerd/fifo",
    "/run/containerd",
];

struct Containerd {
    dir: tempfile::TempDir,
    daemon: Option<Child>,
    ns: String,
    /// The fixed host dirs that were not there before this test.
    new_host_dirs: Vec<&'static str>,
}

impl Containerd {
    fn start() -> Containerd {
        let dir = tempfile::Builder::new()
            .prefix("glassbox-ctrd-test-")
            .tempdir()
            .unwrap();
        let d = dir.path();
        let config = format!(
            r#"version = 2
root = "{root}"
state = "{state}"
# CRI wants CNI plugins and a pause image; the others want filesystems or
# services this host lacks. Only the task, image and overlayfs plugins are used.
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
"#,
            root = d.join("root").display(),
            state = d.join("state").display(),
            sock = d.join("c.sock").display(),
        );
        std::fs::write(d.join("config.toml"), config).unwrap();
        std::os::unix::fs::symlink(bin(), d.join("glassbox-runc")).unwrap();
        let new_host_dirs = HOST_DIRS
            .into_iter()
            .filter(|p| !Path::new(p).exists())
            .collect();
        let daemon = Command::new("containerd")
            .arg("--config")
            .arg(d.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(d.join("containerd.log")).unwrap())
            .stderr(std::fs::File::create(d.join("containerd.log")).unwrap())
            .spawn()
            .expect("containerd (scripts/install-deps.sh installs it)");
        let c = Containerd {
            ns: format!("glassbox-test-{}", std::process::id()),
            dir,
            daemon: Some(daemon),
            new_host_dirs,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while c.run(&["version"]).status.code() != Some(0) {
            assert!(
                Instant::now() < deadline,
                "containerd did not serve on its socket: {}",
                c.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        c
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }

    fn runtime(&self) -> PathBuf {
        self.dir.path().join("glassbox-runc")
    }

    /// The runtime's --root as the shim passes it: --runc-root plus the
    /// containerd namespace.
    fn runc_root(&self) -> PathBuf {
        self.dir.path().join("rt").join(&self.ns)
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ctr");
        c.arg("-a")
            .arg(self.dir.path().join("c.sock"))
            .arg("-n")
            .arg(&self.ns)
            .args(args)
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("ctr")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "ctr {args:?} failed: {}\nstdout: {}\nstderr: {}\ncontainerd: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `ctr run` through glassbox-runc, with the runtime's root here.
    fn run_args<'a>(&'a self, rt: &'a str, rt_root: &'a str) -> Vec<&'a str> {
        vec!["run", "--runc-binary", rt, "--runc-root", rt_root]
    }

    fn tasks(&self) -> Vec<String> {
        let out = self.run(&["task", "ls", "-q"]);
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(String::from)
            .collect()
    }

    fn trace(&self, id: &str) -> Vec<serde_json::Value> {
        let file = self.runc_root().join("traces").join(format!("{id}.jsonl"));
        std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("no glassbox trace {}: {e}", file.display()))
            .lines()
            .map(|l| serde_json::from_str(l).expect("trace line is JSON"))
            .collect()
    }
}

fn pid_alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
}

fn kill_pid(pid: i32, sig: i32) {
    if pid > 1 {
        unsafe { libc::kill(pid, sig) };
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let d = self.dir.path().to_path_buf();
        // Tasks still there (a failed assertion): kill, delete, remove.
        for id in self.tasks() {
            let _ = self.run(&["task", "kill", "-a", "-s", "KILL", &id]);
            let _ = self.run(&["task", "rm", "-f", &id]);
        }
        let out = self.run(&["container", "ls", "-q"]);
        for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            let _ = self.run(&["container", "rm", id]);
        }
        // Containers glassbox-runc still lists (containerd gone wrong).
        let rt = self.runc_root();
        if rt.is_dir() {
            let out = Command::new(self.runtime())
                .arg("--root")
                .arg(&rt)
                .args(["list", "-q"])
                .output();
            if let Ok(out) = out {
                for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = Command::new(self.runtime())
                        .arg("--root")
                        .arg(&rt)
                        .args(["delete", "--force", id])
                        .output();
                }
            }
        }
        // The shims this containerd started: each writes shim.pid into
        // its task's bundle under this state dir.
        let bundles = d.join("state/io.containerd.runtime.v2.task").join(&self.ns);
        let mut shims = vec![];
        if let Ok(entries) = std::fs::read_dir(&bundles) {
            for e in entries.flatten() {
                if let Ok(p) = std::fs::read_to_string(e.path().join("shim.pid")) {
                    if let Ok(pid) = p.trim().parse::<i32>() {
                        shims.push(pid);
                    }
                }
            }
        }
        if let Some(mut daemon) = self.daemon.take() {
            kill_pid(daemon.id() as i32, libc::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(5);
            while daemon.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = daemon.kill();
            let _ = daemon.wait();
        }
        for pid in shims {
            if pid_alive(pid) {
                kill_pid(pid, libc::SIGKILL);
            }
        }
        // Mounts under the temp dir (rootfs overlays), deepest first.
        let mut mounts: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4).map(String::from))
            .filter(|m| Path::new(m).starts_with(&d))
            .collect();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
        // The cgroups of this namespace (ctr's cgroupsPath is /NS/ID):
        // rmdir removes only empty ones.
        if let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") {
            for h in hierarchies.flatten() {
                let ns = h.path().join(&self.ns);
                if let Ok(kids) = std::fs::read_dir(&ns) {
                    for k in kids.flatten() {
                        if k.path().is_dir() {
                            let _ = std::fs::remove_dir(k.path());
                        }
                    }
                }
                let _ = std::fs::remove_dir(&ns);
            }
        }
        for dir in &self.new_host_dirs {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

#[test]
fn ctr_runs_execs_and_kills_through_glassbox_runc() {
    let c = Containerd::start();
    let store = Root::new();
    store.ok(&["setup"]);
    let tar = c.dir.path().join("busybox.tar");
    store.ok(&["save", "busybox:latest", "-o", tar.to_str().unwrap()]);
    let out = c.ok(&["images", "import", tar.to_str().unwrap()]);
    assert!(out.contains("busybox:latest"), "{out}");
    let image = "busybox:latest";
    let runtime = c.runtime();
    let rt = runtime.to_str().unwrap();
    let rt_root = c.dir.path().join("rt");
    let rt_root = rt_root.to_str().unwrap();

    let mut args = c.run_args(rt, rt_root);
    args.extend(["--rm", image, "t1", "echo", "hello"]);
    assert_eq!(c.ok(&args), "hello\n");
    assert!(c.tasks().is_empty(), "--rm removed t1");
    // glassbox-runc ran it (runc writes no trace): its events, each
    // explained, end with exec echo.
    let events = c.trace("t1");
    crate::support::assert_explained(&events);
    let exec = events
        .iter()
        .filter(|e| e["kind"] == "process" && e["action"] == "exec")
        .any(|e| e.to_string().contains("echo"));
    assert!(exec, "no exec of echo in glassbox's trace: {events:?}");
    assert!(
        !c.runc_root().join("t1").exists(),
        "the shim's delete removed t1's state"
    );

    // A command the image lacks: the shim reports the init's reason, as
    // it does runc's, and nothing of the container stays in the runtime.
    let mut args = c.run_args(rt, rt_root);
    args.extend(["--rm", image, "f1", "nope"]);
    let out = c.run(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(r#"exec: "nope": executable file not found in $PATH"#),
        "{stderr}"
    );
    let _ = c.run(&["container", "rm", "f1"]);
    assert!(!c.runc_root().join("f1").exists(), "f1's state is gone");
    assert!(c.tasks().is_empty());

    // Detached, then an exec beside it, then kill.
    let mut args = c.run_args(rt, rt_root);
    args.extend([
        "-d",
        image,
        "t2",
        "sh",
        "-c",
        "trap 'exit 3' TERM; while true; do sleep 0.1; done",
    ]);
    c.ok(&args);
    let state = c.runc_root().join("t2");
    assert!(state.is_dir(), "glassbox-runc keeps t2's state");
    let ls = c.ok(&["task", "ls"]);
    assert!(ls.contains("t2") && ls.contains("RUNNING"), "{ls}");
    let out = c.ok(&[
        "task",
        "exec",
        "--exec-id",
        "e1",
        "t2",
        "sh",
        "-c",
        "echo in-t2; cat /proc/1/cmdline",
    ]);
    assert!(out.starts_with("in-t2\n"), "{out}");
    assert!(out.contains("while true"), "PID 1 is t2's sh: {out}");
    c.ok(&["task", "kill", "t2"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ls = c.ok(&["task", "ls"]);
        if ls.contains("STOPPED") {
            break;
        }
        assert!(Instant::now() < deadline, "t2 did not stop: {ls}");
        std::thread::sleep(Duration::from_millis(50));
    }
    c.ok(&["task", "rm", "t2"]);
    c.ok(&["container", "rm", "t2"]);
    assert!(c.tasks().is_empty());
    assert!(!state.exists(), "task rm deleted t2's runtime state");
    let events = c.trace("t2");
    crate::support::assert_explained(&events);
    let text = events
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    for step in ["\"setns\"", "in-t2", "\"kill\"", "remove_state"] {
        assert!(text.contains(step), "no {step} in glassbox's trace of t2");
    }
}
