//! glassbox as an OCI runtime: the binary invoked as `glassbox-runc`
//! drives real containers from a bundle (busybox, made by `glassbox setup`
//! and unpacked by umoci) through runc's lifecycle, on the real kernel,
//! with its state in a temporary `--root`. The failure paths give runc's
//! errors, in the `--log` format the caller reads, and leave nothing.

use crate::support::{assert_explained, bin, Root};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A bundle and a runtime root in one temp dir; every container still
/// listed there is deleted with --force (by its PID) when it drops.
pub(crate) struct Runc {
    pub(crate) dir: tempfile::TempDir,
    _store: Root,
}

impl Runc {
    pub(crate) fn new() -> Runc {
        let store = Root::new();
        store.ok(&["setup"]);
        let dir = tempfile::Builder::new()
            .prefix("glassbox-runc-test-")
            .tempdir()
            .expect("temp dir");
        let image = format!("{}:busybox:latest", store.path().display());
        let out = Command::new("umoci")
            .args(["unpack", "--image", &image])
            .arg(dir.path().join("bundle"))
            .output()
            .expect("umoci (scripts/install-deps.sh installs it)");
        assert!(
            out.status.success(),
            "umoci unpack: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::os::unix::fs::symlink(bin(), dir.path().join("glassbox-runc")).unwrap();
        let r = Runc { dir, _store: store };
        r.set_args(&["sleep", "100"]);
        r
    }

    pub(crate) fn bundle(&self) -> PathBuf {
        self.dir.path().join("bundle")
    }

    pub(crate) fn state_root(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub(crate) fn config(&self) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(self.bundle().join("config.json")).unwrap()).unwrap()
    }

    pub(crate) fn set_config(&self, v: &serde_json::Value) {
        std::fs::write(
            self.bundle().join("config.json"),
            serde_json::to_vec_pretty(v).unwrap(),
        )
        .unwrap();
    }

    pub(crate) fn set_args(&self, args: &[&str]) {
        let mut c = self.config();
        c["process"]["args"] = serde_json::json!(args);
        c["process"]["terminal"] = serde_json::json!(false);
        self.set_config(&c);
    }

    pub(crate) fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(self.dir.path().join("glassbox-runc"));
        c.arg("--root").arg(self.state_root()).args(args);
        c.stdin(std::process::Stdio::null());
        c
    }

    /// Runs with stdout and stderr in files, as conmon and containerd's
    /// shim give them: a created container's init inherits them and holds
    /// them open, so pipes would never reach EOF.
    pub(crate) fn run(&self, args: &[&str]) -> Output {
        run_to_files(self.cmd(args), self.dir.path())
    }

    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "glassbox-runc {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn state(&self, id: &str) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["state", id])).expect("state is JSON")
    }

    fn create(&self, id: &str) {
        let b = self.bundle();
        self.ok(&["create", "--bundle", b.to_str().unwrap(), id]);
    }

    /// Waits up to 5 s for the container to reach `status`.
    fn wait_status(&self, id: &str, status: &str) {
        for _ in 0..500 {
            if self.state(id)["status"] == status {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("{id} never became {status}: {}", self.state(id));
    }

    pub(crate) fn events(&self, path: &Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("trace line is JSON"))
            .collect()
    }
}

impl Drop for Runc {
    fn drop(&mut self) {
        let ids = self.run(&["list", "-q"]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = self.run(&["delete", "--force", id]);
        }
    }
}

fn run_to_files(mut cmd: Command, dir: &Path) -> Output {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let k = SEQ.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let (o, e) = (dir.join(format!("out{k}")), dir.join(format!("err{k}")));
    let status = cmd
        .stdout(std::fs::File::create(&o).unwrap())
        .stderr(std::fs::File::create(&e).unwrap())
        .status()
        .expect("run glassbox-runc");
    Output {
        status,
        stdout: std::fs::read(&o).unwrap_or_default(),
        stderr: std::fs::read(&e).unwrap_or_default(),
    }
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub(crate) fn has(events: &[serde_json::Value], kind: &str, action: &str) -> bool {
    events
        .iter()
        .any(|e| e["kind"] == kind && e["action"] == action)
}

/// The cgroup directories a container's state names, on this host.
fn cgroup_dirs(name: &str) -> Vec<PathBuf> {
    let layout = glassbox::runtime::cgroup::Layout::detect().unwrap();
    glassbox::runtime::cgroup::Cgroup {
        layout,
        name: name.to_string(),
    }
    .dirs()
    .into_iter()
    .map(|(_, d)| d)
    .collect()
}

#[test]
fn create_parks_the_init_until_start_then_kill_and_delete_leave_nothing() {
    let r = Runc::new();
    let pid_file = r.dir.path().join("pid");
    let b = r.bundle();
    r.ok(&[
        "create",
        "--bundle",
        b.to_str().unwrap(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        "c1",
    ]);
    let st = r.state("c1");
    assert_eq!(st["status"], "created");
    assert_eq!(st["ociVersion"], "1.0.2");
    assert_eq!(st["bundle"], b.to_str().unwrap());
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    assert_eq!(st["pid"], pid);
    // The parked init is already in its own namespaces, not yet `sleep`.
    let own = std::fs::read_link("/proc/self/ns/pid").unwrap();
    let its = std::fs::read_link(format!("/proc/{pid}/ns/pid")).unwrap();
    assert_ne!(own, its, "the init has its own PID namespace");
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_ne!(comm.trim(), "sleep", "nothing runs before start");

    r.ok(&["start", "c1"]);
    r.wait_status("c1", "running");
    // start returns once the init is released; its exec follows at once.
    let mut comm = String::new();
    for _ in 0..500 {
        comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
        if comm.trim() == "sleep" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(comm.trim(), "sleep", "the same PID now runs the process");
    let pids: Vec<i32> = serde_json::from_str(&r.ok(&["ps", "--format", "json", "c1"])).unwrap();
    assert!(pids.contains(&pid), "{pids:?} holds the init {pid}");

    let out = r.ok(&["exec", "c1", "sh", "-c", "echo from-exec; hostname"]);
    assert!(out.starts_with("from-exec\n"), "{out}");
    let again = r.run(&["start", "c1"]);
    assert!(!again.status.success());
    assert!(stderr(&again).contains("cannot start a container that is running"));
    let live = r.run(&["delete", "c1"]);
    assert!(stderr(&live).contains("cannot delete container c1 that is not stopped: running"));

    r.ok(&["kill", "c1", "KILL"]);
    r.wait_status("c1", "stopped");
    assert_eq!(r.state("c1")["pid"], 0);
    let cg = r.state_root().join("c1/state.json");
    let cg: serde_json::Value = serde_json::from_slice(&std::fs::read(cg).unwrap()).unwrap();
    let dirs = cgroup_dirs(cg["cgroup"].as_str().unwrap());
    assert!(
        dirs.iter().all(|d| d.is_dir()),
        "the cgroup lives until delete"
    );
    r.ok(&["delete", "c1"]);
    assert!(dirs.iter().all(|d| !d.exists()), "delete removes {dirs:?}");
    assert!(!r.state_root().join("c1").exists());
    let gone = r.run(&["state", "c1"]);
    assert!(stderr(&gone).contains("container does not exist: c1"));

    // The whole life is in the kept trace, every event explained.
    let events = r.events(&r.state_root().join("traces/c1.jsonl"));
    for (kind, action) in [
        ("process", "bundle"),
        ("mount", "bind_root"),
        ("mount", "pivot_root"),
        ("process", "wait_start"),
        ("process", "start"),
        ("process", "exec"),
        ("process", "kill"),
        ("store", "remove_state"),
    ] {
        assert!(
            has(&events, kind, action),
            "no {kind}.{action} in the trace"
        );
    }
    assert_explained(&events);
}

#[test]
fn run_waits_for_the_process_and_returns_its_exit_code() {
    let r = Runc::new();
    r.set_args(&["sh", "-c", "echo hello from $(hostname); exit 7"]);
    let b = r.bundle();
    let out = r.run(&["run", "--bundle", b.to_str().unwrap(), "r1"]);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello from umoci-default\n"
    );
    assert!(
        !r.state_root().join("r1").exists(),
        "run deletes after exit"
    );

    // An instructor replays it with narration.
    let replay = Command::new(bin())
        .args(["trace", "--runc-root"])
        .arg(r.state_root())
        .args(["r1", "--explain", "brief"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&replay.stdout);
    assert!(replay.status.success(), "{}", stderr(&replay));
    assert!(text.contains("bind_root"), "{text}");
    assert!(
        text.contains("a mount point `pivot_root` can enter"),
        "the narration explains: {text}"
    );
    assert!(text.contains("exited with code 7"), "{text}");
}

#[test]
fn a_bad_config_json_is_refused_in_the_json_log_and_leaves_nothing() {
    let r = Runc::new();
    std::fs::write(r.bundle().join("config.json"), "{\"ociVersion\": ").unwrap();
    let log = r.dir.path().join("log.json");
    let b = r.bundle();
    let mut cmd = r.cmd(&["--log", log.to_str().unwrap(), "--log-format", "json"]);
    cmd.args(["create", "--bundle", b.to_str().unwrap(), "bad"]);
    let out = run_to_files(cmd, r.dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is not a valid OCI runtime spec"),
        "{}",
        stderr(&out)
    );
    let text = std::fs::read_to_string(&log).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["level"], "error");
    assert!(last["msg"]
        .as_str()
        .unwrap()
        .contains("is not a valid OCI runtime spec"));
    assert!(last["time"].is_string());
    assert!(!r.state_root().join("bad").exists());
    assert!(!cgroup_dirs("glassbox-runc/bad").iter().any(|d| d.exists()));

    std::fs::remove_file(r.bundle().join("config.json")).unwrap();
    let out = r.run(&["create", "--bundle", b.to_str().unwrap(), "bad"]);
    assert!(stderr(&out).contains("JSON specification file config.json not found"));
}

#[test]
fn a_missing_rootfs_is_refused_before_anything_is_made() {
    let r = Runc::new();
    let mut c = r.config();
    c["root"]["path"] = serde_json::json!("no-such-rootfs");
    r.set_config(&c);
    let log = r.dir.path().join("log.txt");
    let b = r.bundle();
    let mut cmd = r.cmd(&["--log", log.to_str().unwrap()]);
    cmd.args(["run", "--bundle", b.to_str().unwrap(), "nr"]);
    let out = run_to_files(cmd, r.dir.path());
    assert_eq!(out.status.code(), Some(1));
    let want = format!(
        "invalid rootfs: stat {}/no-such-rootfs: no such file or directory",
        b.display()
    );
    assert!(stderr(&out).contains(&want), "{}", stderr(&out));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("level=error msg="), "logrus text: {text}");
    assert!(!r.state_root().join("nr").exists());
}

#[test]
fn an_id_in_use_is_refused_and_the_first_container_is_untouched() {
    let r = Runc::new();
    r.create("dup");
    let first = r.state("dup");
    let b = r.bundle();
    let out = r.run(&["create", "--bundle", b.to_str().unwrap(), "dup"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("container with given ID already exists: dup"),
        "{}",
        stderr(&out)
    );
    let after = r.state("dup");
    assert_eq!(after["pid"], first["pid"]);
    assert_eq!(after["status"], "created");
    // A created container is deleted without --force, its init ended.
    r.ok(&["delete", "dup"]);
    let pid = first["pid"].as_i64().unwrap();
    for _ in 0..200 {
        if !Path::new(&format!("/proc/{pid}")).exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(stat.is_empty() || stat.contains(") Z"), "init {pid} ended");
    let bad = r.run(&["create", "--bundle", b.to_str().unwrap(), "../escape"]);
    assert!(stderr(&bad).contains("invalid container ID"));
}

#[test]
fn spec_and_features_describe_what_the_runtime_does() {
    let r = Runc::new();
    let fresh = r.dir.path().join("fresh");
    std::fs::create_dir(&fresh).unwrap();
    r.ok(&["spec", "--bundle", fresh.to_str().unwrap()]);
    let spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fresh.join("config.json")).unwrap()).unwrap();
    assert_eq!(spec["root"]["path"], "rootfs");
    assert_eq!(spec["process"]["args"], serde_json::json!(["sh"]));
    let again = r.run(&["spec", "--bundle", fresh.to_str().unwrap()]);
    assert!(stderr(&again).contains("exists. Remove it first"));
    let f: serde_json::Value = serde_json::from_str(&r.ok(&["features"])).unwrap();
    assert_eq!(f["ociVersionMax"], "1.0.2");
    assert_eq!(f["linux"]["seccomp"]["enabled"], true);
    let refused = r.run(&["--systemd-cgroup", "list"]);
    assert!(stderr(&refused).contains("--systemd-cgroup is not supported"));
}

#[test]
fn console_socket_receives_the_pty_master_of_the_container_terminal() {
    use std::io::Read;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
    let r = Runc::new();
    r.set_args(&["sh", "-c", "tty; echo on-the-terminal"]);
    let mut c = r.config();
    c["process"]["terminal"] = serde_json::json!(true);
    r.set_config(&c);
    let sock = r.dir.path().join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let b = r.bundle();
    r.ok(&[
        "create",
        "--bundle",
        b.to_str().unwrap(),
        "--console-socket",
        sock.to_str().unwrap(),
        "tty1",
    ]);
    let (conn, _) = listener.accept().unwrap();
    let mut buf = [0u8; 64];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!(RawFd);
    let msg = nix::sys::socket::recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        nix::sys::socket::MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .unwrap();
    let mut master = None;
    for cm in msg.cmsgs().unwrap() {
        if let nix::sys::socket::ControlMessageOwned::ScmRights(fds) = cm {
            // SAFETY: the kernel installed this descriptor for us alone.
            master = Some(unsafe { OwnedFd::from_raw_fd(fds[0]) });
        }
    }
    let mut master = std::fs::File::from(master.expect("a pty master came over the socket"));
    r.ok(&["start", "tty1"]);
    let mut seen = String::new();
    let mut chunk = [0u8; 256];
    while !seen.contains("on-the-terminal") {
        match master.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&chunk[..n])),
        }
    }
    assert!(
        seen.contains("/dev/pts/0"),
        "the process's stdio is the pty: {seen:?}"
    );
    assert!(seen.contains("on-the-terminal\r\n"), "{seen:?}");
    r.wait_status("tty1", "stopped");
    r.ok(&["delete", "tty1"]);
}

#[test]
fn preserve_fds_passes_the_callers_descriptor_3_to_the_process() {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let r = Runc::new();
    r.set_args(&["sh", "-c", "echo through-fd-3 >&3"]);
    let file = r.dir.path().join("fd3.txt");
    let f = std::fs::File::create(&file).unwrap();
    let raw = f.as_raw_fd();
    let b = r.bundle();
    let mut cmd = r.cmd(&[
        "run",
        "--preserve-fds",
        "1",
        "--bundle",
        b.to_str().unwrap(),
        "pf",
    ]);
    // SAFETY: between fork and exec the child only calls dup2 and fcntl
    // on a descriptor this test owns (async-signal-safe, no allocation).
    // dup2 of a descriptor onto itself keeps its close-on-exec flag, so
    // the flag is cleared explicitly.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(raw, 3) < 0 || libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = run_to_files(cmd, r.dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    drop(f);
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "through-fd-3\n",
        "{}",
        stderr(&out)
    );
}

#[test]
fn hooks_run_at_their_points_with_the_state_on_stdin() {
    let r = Runc::new();
    r.set_args(&["true"]);
    let out = r.dir.path().join("hooks.log");
    let hook = |point: &str| {
        serde_json::json!({
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("echo {point} $(cat) >> {}", out.display())],
        })
    };
    let mut c = r.config();
    c["hooks"] = serde_json::json!({
        "createRuntime": [hook("createRuntime")],
        "prestart": [hook("prestart")],
        "poststart": [hook("poststart")],
        "poststop": [hook("poststop")],
    });
    r.set_config(&c);
    let b = r.bundle();
    r.ok(&["run", "--bundle", b.to_str().unwrap(), "hk"]);
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // The spec's order, as runc: prestart before createRuntime, both while
    // the container is "creating".
    assert_eq!(lines.len(), 4, "{text}");
    for (line, (point, status)) in lines.iter().zip([
        ("prestart", "creating"),
        ("createRuntime", "creating"),
        ("poststart", "running"),
        ("poststop", "stopped"),
    ]) {
        let (name, json) = line.split_once(' ').unwrap();
        assert_eq!(name, point);
        let st: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(st["id"], "hk");
        assert_eq!(st["status"], status, "{line}");
    }

    // A failing createRuntime hook fails the run and leaves nothing.
    c["hooks"] = serde_json::json!({"createRuntime": [{"path": "/bin/false"}]});
    r.set_config(&c);
    let failed = r.run(&["run", "--bundle", b.to_str().unwrap(), "hk2"]);
    assert_eq!(failed.status.code(), Some(1));
    assert!(stderr(&failed).contains("createRuntime hook /bin/false failed"));
    assert!(!r.state_root().join("hk2").exists());
    assert!(!cgroup_dirs("glassbox-runc/hk2").iter().any(|d| d.exists()));
}
