//! Rootless glassbox, used as a student without root uses it: an
//! unprivileged user with subordinate ranges (made here when missing) runs
//! the built binary with its own data and runtime dirs, so it gets its own
//! store and its own keeper. Each test ends every container, prunes (which
//! ends the keeper) and checks that nothing of the user is left running.

use crate::registry_client::GlassboxRegistry;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::process::{Command, Output};

/// The unprivileged user the tests run as.
const USER: &str = "gbxstudent";

/// Makes [`USER`] (with a home and subordinate uid/gid ranges) if missing;
/// returns its uid and gid.
fn student() -> (u32, u32) {
    static MADE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _g = MADE.lock().unwrap_or_else(|e| e.into_inner());
    if nix::unistd::User::from_name(USER).unwrap().is_none() {
        let st = Command::new("useradd")
            .args(["-m", "-s", "/bin/sh", USER])
            .status()
            .unwrap();
        assert!(st.success(), "useradd {USER}");
    }
    for (file, flag) in [
        ("/etc/subuid", "--add-subuids"),
        ("/etc/subgid", "--add-subgids"),
    ] {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if !text.lines().any(|l| l.starts_with(&format!("{USER}:"))) {
            let st = Command::new("usermod")
                .args([flag, "200000-265535", USER])
                .status()
                .unwrap();
            assert!(st.success(), "usermod {flag}");
        }
    }
    let u = nix::unistd::User::from_name(USER).unwrap().unwrap();
    (u.uid.as_raw(), u.gid.as_raw())
}

/// One student's glassbox: the binary copied where the user may run it
/// (the checkout may be in root's home), a data dir for the store and a
/// runtime dir for the keeper, all in one temp dir removed on drop after
/// every container is gone and the keeper has ended.
struct Student {
    dir: tempfile::TempDir,
    uid: u32,
}

impl Student {
    fn new() -> Student {
        let (uid, gid) = student();
        let dir = tempfile::Builder::new()
            .prefix("glassbox-rootless-")
            .tempdir()
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        for d in ["bin", "data", "run", "work"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        std::fs::copy(crate::support::bin(), dir.path().join("bin/glassbox")).unwrap();
        for d in ["data", "run", "work"] {
            std::os::unix::fs::chown(dir.path().join(d), Some(uid), Some(gid)).unwrap();
        }
        std::fs::set_permissions(
            dir.path().join("run"),
            std::fs::Permissions::from_mode(0o700),
        )
        .unwrap();
        Student { dir, uid }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// `glassbox ARGS` as the student, in `work/`.
    fn cmd(&self, args: &[&str]) -> Command {
        self.cmd_with(&[], args)
    }

    /// [`Student::cmd`] with `env` (`KEY=VALUE`) added to its environment.
    fn cmd_with(&self, env: &[&str], args: &[&str]) -> Command {
        let mut c = Command::new("runuser");
        c.args(["-u", USER, "--", "env", "-i"])
            .args(env)
            .arg(format!("HOME=/home/{USER}"))
            .arg(format!("XDG_DATA_HOME={}", self.path("data").display()))
            .arg(format!("XDG_RUNTIME_DIR={}", self.path("run").display()))
            .arg(format!(
                "PATH={}:/usr/sbin:/usr/bin:/sbin:/bin",
                self.path("bin").display()
            ))
            .arg("glassbox")
            .args(args)
            .current_dir(self.path("work"));
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "glassbox {args:?} as {USER} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs with a JSON trace and returns (stdout, events).
    fn traced(&self, args: &[&str]) -> (String, Vec<serde_json::Value>) {
        let file = self.path("work/trace.jsonl");
        let mut full = vec!["--trace", "json", "--trace-file", file.to_str().unwrap()];
        full.extend_from_slice(args);
        let out = self.ok(&full);
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let _ = std::fs::remove_file(&file);
        let events = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("trace line is JSON"))
            .collect();
        (out, events)
    }

    fn keeper(&self) -> Option<i32> {
        std::fs::read_to_string(self.path("run/glassbox/keeper.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// The processes (zombies excluded) in user namespace `ns` (as
    /// `readlink /proc/PID/ns/user` names it): the keeper, shims and
    /// containers of this student.
    fn processes_in(ns: &str) -> Vec<String> {
        let mut out = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let link = std::fs::read_link(format!("/proc/{pid}/ns/user")).unwrap_or_default();
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let zombie = stat
                .rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'));
            if link.to_string_lossy() == ns && !zombie {
                let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                out.push(format!(
                    "{pid} {}",
                    String::from_utf8_lossy(&cmd).replace('\0', " ")
                ));
            }
        }
        out
    }

    /// Removes every container and prunes, which ends the keeper.
    fn clean(&self) {
        if let Ok(o) = self.cmd(&["ps", "-a", "-q"]).output() {
            for id in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                let _ = self.run(&["rm", "-f", id]);
            }
        }
        let _ = self.run(&["system", "prune", "-f", "--volumes"]);
    }
}

impl Drop for Student {
    fn drop(&mut self) {
        self.clean();
        // A keeper the prune could not end (a test failed midway) goes by
        // its PID, once it is sure to be ours.
        if let Some(pid) = self.keeper() {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if cmd
                .split(|b| *b == 0)
                .any(|a| a == glassbox::rootless::KEEPER_ARG.as_bytes())
            {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
}

fn keys(events: &[serde_json::Value]) -> Vec<String> {
    events.iter().map(crate::support::key).collect()
}

/// Lesson 1's first command, as a user without root: the user namespace is
/// made and mapped from /etc/subuid, the store is in the user's data dir,
/// devices are bound rather than made, the run says it has no cgroup, and
/// the host's mount table never sees the container's mounts.
#[test]
fn a_user_without_root_runs_lesson_ones_hello() {
    let s = Student::new();
    s.ok(&["setup"]);
    let (out, events) = s.traced(&["run", "--rm", "busybox", "echo", "hello"]);
    assert_eq!(out, "hello\n");
    crate::support::assert_explained(&events);
    let k = keys(&events);
    for want in [
        "namespace.rootless",
        "mount.bind_devices",
        "cgroup.unavailable",
        "mount.overlay",
    ] {
        assert!(k.contains(&want.to_string()), "no {want} in {k:?}");
    }
    assert!(!k.contains(&"mount.mknod".to_string()), "{k:?}");
    let (_, quiet) = s.traced(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "echo",
        "hello",
    ]);
    snapshot_trace(&s, &quiet);
    let overlay = events
        .iter()
        .find(|e| crate::support::key(e) == "mount.overlay")
        .unwrap();
    assert!(
        overlay["syscall"].as_str().unwrap().contains("userxattr"),
        "{overlay}"
    );
    // Root inside is the user outside.
    let inside = s.ok(&["run", "--rm", "busybox", "cat", "/proc/self/uid_map"]);
    let first: Vec<&str> = inside.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(first, ["0", &s.uid.to_string(), "1"], "{inside}");
    // The store is in the data dir, owned by the user.
    let store = s.path("data/glassbox");
    assert_eq!(
        std::fs::metadata(store.join("index.json")).unwrap().uid(),
        s.uid
    );
    let info: serde_json::Value =
        serde_json::from_str(&s.ok(&["info", "--format", "json"])).unwrap();
    assert_eq!(info["mode"], "rootless", "{info}");
    assert_eq!(info["root"], store.display().to_string());
    assert_eq!(info["cgroup"], "none");
    // The host sees none of it: no mount of the store, no bridge.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(&s.path("data").display().to_string()),
        "{mounts}"
    );
    let links = Command::new("ip").args(["-o", "link"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&links.stdout).contains(&store.display().to_string()));
}

/// The rootless `run --rm busybox echo hello` trace beside the root one
/// (tests/it/run.rs): what a grader's snapshot of it looks like, with the
/// user's ids, the keeper's PID and the temp paths redacted.
fn snapshot_trace(s: &Student, events: &[serde_json::Value]) {
    let redacted: Vec<serde_json::Value> = events
        .iter()
        .cloned()
        .map(|mut e| {
            let o = e.as_object_mut().unwrap();
            for k in ["seq", "ts_us", "duration_us", "pid"] {
                o.remove(k);
            }
            if let Some(f) = o.get_mut("fields").and_then(|f| f.as_object_mut()) {
                for k in ["pid", "keeper", "host_uid", "uid_map"] {
                    if f.contains_key(k) {
                        f.insert(k.into(), format!("[{k}]").into());
                    }
                }
            }
            e
        })
        .collect();
    let data = s.path("data/glassbox").display().to_string();
    let work = s.path("work").display().to_string();
    insta::with_settings!({filters => vec![
        (data.as_str(), "[root]"),
        (work.as_str(), "[work]"),
        (r"netns \d+", "netns [pid]"),
        (r"nsenter -t \d+", "nsenter -t [pid]"),
        (r"lsns -p \d+", "lsns -p [pid]"),
        (r"(containers|glassbox)/[0-9a-f]{64}", "$1/[id]"),
        (r#""id": "[0-9a-f]{64}""#, r#""id": "[id]""#),
        (r"\b[0-9a-f]{12}\b", "[short-id]"),
        (r"/proc/\d+/", "/proc/[pid]/"),
        (r"(pid|mnt|uts|ipc|net|cgroup|user):\[\d+\]", "$1:[inode]"),
        (r"pid \d+", "pid [pid]"),
        (r"keeper \d+", "keeper [pid]"),
        (r"kill -INT \d+", "kill -INT [pid]"),
    ]}, {
        insta::assert_json_snapshot!("rootless_run_rm_echo_hello_trace", redacted);
    });
}

/// The image id of a build's `Successfully built ID` line.
fn built_id(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("Successfully built "))
        .unwrap_or_else(|| panic!("no Successfully built line in {out}"))
        .trim()
        .to_string()
}

/// The same Dockerfile gives the same image digest rootless as as root:
/// layers are unpacked and packed with the image's own owners.
#[test]
fn a_rootless_build_gives_roots_digest_and_pushes_to_a_local_registry() {
    let s = Student::new();
    s.ok(&["setup"]);
    let df = "FROM busybox\nRUN mkdir -p /www && echo hi > /www/index.html && chown 1234:1234 /www/index.html && rm -f /etc/motd\nCOPY hello.txt /www/\n";
    std::fs::write(s.path("work/Dockerfile"), df).unwrap();
    std::fs::write(s.path("work/hello.txt"), "hello\n").unwrap();
    let reg = GlassboxRegistry::start();
    let tag = format!("{}/app:1", reg.addr);
    let built = built_id(&s.ok(&["build", "-t", &tag, "."]));
    let owners = s.ok(&[
        "run",
        "--rm",
        &tag,
        "stat",
        "-c",
        "%u:%g",
        "/www/index.html",
    ]);
    assert_eq!(owners, "1234:1234\n");
    let root = crate::support::Root::new();
    root.ok(&["setup"]);
    let ctx = root.path().join("ctx");
    std::fs::create_dir(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), df).unwrap();
    std::fs::write(ctx.join("hello.txt"), "hello\n").unwrap();
    let as_root = built_id(&root.ok(&["build", "-t", "app", ctx.to_str().unwrap()]));
    assert_eq!(built, as_root, "rootless and root builds differ");
    s.ok(&["push", &tag]);
    root.ok(&["pull", &tag]);
    let pulled = root.ok(&["run", "--rm", &tag, "cat", "/www/hello.txt"]);
    assert_eq!(pulled, "hello\n");
}

/// Ports, user networks, volumes and the host's files, as a student meets
/// them: `-p` answers on the host's 127.0.0.1, an alias resolves on a user
/// network, a volume's files are the user's own on the host, the host's
/// root-only files stay closed, and what rootless cannot do says why.
#[test]
fn rootless_ports_networks_and_volumes_work_and_their_limits_are_explained() {
    let s = Student::new();
    s.ok(&["setup"]);
    let port = crate::registry_client::free_port();
    s.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        &format!("127.0.0.1:{port}:80"),
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ]);
    let mut body = String::new();
    for _ in 0..100 {
        if let Ok(mut c) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            c.write_all(b"GET /hostname HTTP/1.0\r\n\r\n").unwrap();
            body.clear();
            let _ = c.read_to_string(&mut body);
            if body.contains("200") {
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        body.starts_with("HTTP/1.") && body.contains(" 200 "),
        "{body}"
    );

    s.ok(&["network", "create", "appnet"]);
    s.ok(&[
        "run",
        "-d",
        "--name",
        "db",
        "--network",
        "appnet",
        "--network-alias",
        "database",
        "busybox",
        "sleep",
        "600",
    ]);
    let ping = s.ok(&[
        "run",
        "--rm",
        "--network",
        "appnet",
        "busybox",
        "ping",
        "-c",
        "1",
        "-W",
        "5",
        "database",
    ]);
    assert!(ping.contains("1 packets received"), "{ping}");

    s.ok(&["volume", "create", "data"]);
    s.ok(&[
        "run",
        "--rm",
        "-v",
        "data:/srv",
        "busybox",
        "sh",
        "-c",
        "echo x > /srv/f",
    ]);
    let f = s.path("data/glassbox/volumes/data/_data/f");
    assert_eq!(
        std::fs::metadata(&f).unwrap().uid(),
        s.uid,
        "{}",
        f.display()
    );

    let shadow = s.run(&[
        "run",
        "--rm",
        "-v",
        "/etc/shadow:/s:ro",
        "busybox",
        "cat",
        "/s",
    ]);
    assert!(!shadow.status.success());
    assert!(
        String::from_utf8_lossy(&shadow.stderr).contains("Permission denied"),
        "{}",
        String::from_utf8_lossy(&shadow.stderr)
    );

    let low = s.run(&["run", "--rm", "-p", "80:80", "busybox", "true"]);
    assert_eq!(low.status.code(), Some(125));
    let err = String::from_utf8_lossy(&low.stderr);
    assert!(
        err.contains("below 1024") && err.contains("-p 8080:80"),
        "{err}"
    );
    let nat = s.run(&[
        "run",
        "--rm",
        "-p",
        "8089:80",
        "--port-driver",
        "nat",
        "busybox",
        "true",
    ]);
    assert!(String::from_utf8_lossy(&nat.stderr).contains("host's root"));
    let ps = s.ok(&["ps", "-a", "-q"]);
    assert_eq!(
        ps.lines().count(),
        2,
        "a refused run left a container: {ps}"
    );

    // Everything goes, and with the prune the keeper: nothing of the
    // student runs.
    s.ok(&["rm", "-f", "web", "db"]);
    s.ok(&["network", "rm", "appnet"]);
    let keeper = s.keeper().expect("a keeper pid file");
    let ns = std::fs::read_link(format!("/proc/{keeper}/ns/user")).unwrap();
    let ns = ns.to_string_lossy().into_owned();
    let pruned = s.ok(&["system", "prune", "-f"]);
    assert!(pruned.contains("Ended the rootless keeper"), "{pruned}");
    let mut left = Student::processes_in(&ns);
    for _ in 0..100 {
        if left.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        left = Student::processes_in(&ns);
    }
    assert!(left.is_empty(), "still running in {ns}: {left:?}");
    assert!(
        !left.iter().any(|l| l.starts_with(&format!("{keeper} "))),
        "the keeper {keeper} still runs"
    );
}

/// The lessons a student without root meets first play to their end and
/// their exercises check, as that student: lesson 5's `pause` stops the
/// container's processes with SIGSTOP, as there is no freezer to use.
#[test]
fn lessons_1_2_4_and_5_run_and_check_as_a_user_without_root() {
    let _turn = crate::support::lesson_turn();
    let s = Student::new();
    s.ok(&["setup"]);
    for n in ["1", "2", "4", "5"] {
        s.ok(&["lessons", "start", n]);
        s.ok(&["lessons", "run", n]);
        s.ok(&["lessons", "reset", n]);
        s.ok(&["lessons", "start", n]);
        s.ok(&["lessons", "solve", n]);
        let out = s.run(&["lessons", "check", n]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && text.contains(&format!("Lesson {n} passed")),
            "lesson {n} as {USER}: {text}"
        );
        if n == "5" {
            // The paused container's processes are stopped (T), seen from
            // the host.
            let v: serde_json::Value = serde_json::from_str(&s.ok(&["inspect", "frozen"])).unwrap();
            let pid = v[0]["State"]["Pid"].as_i64().unwrap();
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
            let state = stat.rsplit_once(") ").unwrap().1.chars().next();
            assert_eq!(state, Some('T'), "{stat}");
        }
        s.ok(&["lessons", "reset", n]);
    }
}

/// A TCP server on the host's 127.0.0.1 that answers each connection
/// with `body` (as HTTP/1.0), until dropped.
struct HostServer {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl HostServer {
    fn start(body: &'static str) -> HostServer {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let port = l.local_addr().unwrap().port();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let done = stop.clone();
        std::thread::spawn(move || {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                match l.accept() {
                    Ok((mut c, _)) => {
                        let _ = c.set_nonblocking(false);
                        let mut req = [0u8; 1024];
                        let _ = c.read(&mut req);
                        let _ = write!(
                            c,
                            "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        );
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
                }
            }
        });
        HostServer { port, stop }
    }
}

impl Drop for HostServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Whether `pid` still runs (a zombie does not).
fn runs(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, r)| !r.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// The keeper's way out: slirp4netns starts with the keeper, a container
/// on a bridge reaches a server on the host's 127.0.0.1 through 10.0.2.2
/// (masqueraded in the keeper's namespace), its resolv.conf names slirp's
/// DNS forwarder, `info` shows the network mode, and slirp4netns ends with
/// the keeper at `system prune`.
#[test]
fn a_rootless_container_reaches_the_hosts_loopback_through_slirp4netns() {
    let s = Student::new();
    let server = HostServer::start("hello from the host\n");
    let (_, events) = s.traced(&["setup"]);
    crate::support::assert_explained(&events);
    let k = keys(&events);
    for want in ["network.slirp", "network.sysctl", "network.masquerade"] {
        assert!(k.contains(&want.to_string()), "no {want} in {k:?}");
    }
    let slirp: i32 = std::fs::read_to_string(s.path("run/glassbox/slirp4netns.pid"))
        .expect("a slirp4netns pid file")
        .trim()
        .parse()
        .unwrap();
    assert!(runs(slirp), "slirp4netns {slirp} is not running");
    let started = events
        .iter()
        .rfind(|e| crate::support::key(e) == "network.slirp")
        .unwrap();
    assert_eq!(started["fields"]["pid"], slirp, "{started}");
    let info: serde_json::Value =
        serde_json::from_str(&s.ok(&["info", "--format", "json"])).unwrap();
    assert_eq!(info["network"], "slirp4netns", "{info}");

    let url = format!("http://10.0.2.2:{}/", server.port);
    let (got, events) = s.traced(&["run", "--rm", "busybox", "wget", "-qO-", &url]);
    assert_eq!(got, "hello from the host\n");
    crate::support::assert_explained(&events);
    let fwd = events
        .iter()
        .find(|e| crate::support::key(e) == "network.forwarding")
        .expect("a network.forwarding event");
    assert_eq!(fwd["fields"]["value"], 1, "{fwd}");
    // A user network gets out the same way.
    s.ok(&["network", "create", "outnet"]);
    let got = s.ok(&[
        "run",
        "--rm",
        "--network",
        "outnet",
        "busybox",
        "wget",
        "-qO-",
        &url,
    ]);
    assert_eq!(got, "hello from the host\n");
    // Forwarding goes to the tap only: another glassbox network stays out
    // of reach, as it is as root.
    s.ok(&["network", "create", "othernet"]);
    s.ok(&[
        "run",
        "-d",
        "--name",
        "other",
        "--network",
        "othernet",
        "busybox",
        "sleep",
        "600",
    ]);
    let v: serde_json::Value = serde_json::from_str(&s.ok(&["inspect", "other"])).unwrap();
    let ip = v[0]["NetworkSettings"]["Networks"]["othernet"]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!ip.is_empty(), "{v}");
    let across = s.run(&[
        "run",
        "--rm",
        "--network",
        "outnet",
        "busybox",
        "ping",
        "-c",
        "1",
        "-W",
        "1",
        &ip,
    ]);
    assert!(
        !across.status.success(),
        "outnet reached {ip} on othernet: {}",
        String::from_utf8_lossy(&across.stdout)
    );
    s.ok(&["rm", "-f", "other"]);
    s.ok(&["network", "rm", "outnet", "othernet"]);
    let resolv = s.ok(&["run", "--rm", "busybox", "cat", "/etc/resolv.conf"]);
    assert!(resolv.contains("nameserver 10.0.2.3"), "{resolv}");

    let pruned = s.ok(&["system", "prune", "-f"]);
    assert!(pruned.contains("Ended the rootless keeper"), "{pruned}");
    for _ in 0..100 {
        if !runs(slirp) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(!runs(slirp), "slirp4netns {slirp} outlived the keeper");
}

/// Where slirp4netns is missing, rootless glassbox still runs, and says
/// the containers have no way out (an event and `info`).
#[test]
fn without_slirp4netns_rootless_runs_and_says_there_is_no_way_out() {
    let s = Student::new();
    let trace = s.path("work/trace.jsonl");
    let mut c = s.cmd_with(
        &["GLASSBOX_SLIRP4NETNS=/nonexistent/slirp4netns"],
        &["--trace", "json", "--trace-file", trace.to_str().unwrap()],
    );
    c.arg("setup");
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&trace).unwrap();
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    crate::support::assert_explained(&events);
    let none = events
        .iter()
        .find(|e| crate::support::key(e) == "network.no_uplink")
        .expect("a network.no_uplink event");
    assert!(
        none["fields"]["why"]
            .as_str()
            .unwrap()
            .contains("/nonexistent/slirp4netns"),
        "{none}"
    );
    assert!(!s.path("run/glassbox/slirp4netns.pid").exists());
    // Everything local still works: a container on the default bridge.
    assert_eq!(s.ok(&["run", "--rm", "busybox", "echo", "hi"]), "hi\n");
    let info: serde_json::Value =
        serde_json::from_str(&s.ok(&["info", "--format", "json"])).unwrap();
    assert_eq!(info["network"], "none", "{info}");
}

/// The fuse-overlayfs fallback (forced with GLASSBOX_OVERLAY=fuse, as a
/// kernel before 5.11 would need it) shows the same files as the kernel's
/// overlay: a file a later layer deleted (a 0/0 whiteout) stays hidden and
/// an opaque directory hides what lower layers had in it. The event says
/// which overlay was used, and fuse-overlayfs ends with its container.
#[test]
fn a_forced_fuse_overlayfs_shows_what_the_kernels_overlay_shows() {
    let s = Student::new();
    s.ok(&["setup"]);
    let df = "FROM busybox\n\
              RUN mkdir -p /x /y && echo a > /x/a && echo b > /x/b && echo c > /y/c\n\
              RUN rm /x/a && rm -rf /y && mkdir /y && echo d > /y/d\n";
    std::fs::write(s.path("work/Dockerfile"), df).unwrap();
    s.ok(&["build", "-t", "wh", "."]);
    let list = [
        "run",
        "--rm",
        "wh",
        "sh",
        "-c",
        "ls -a /x /y && cat /x/b /y/d",
    ];
    let kernel = s.ok(&list);
    assert_eq!(kernel, "/x:\n.\n..\nb\n\n/y:\n.\n..\nd\nb\nd\n");
    // The first container's probe found the kernel's overlay working, and
    // the run dir remembers it.
    let info: serde_json::Value =
        serde_json::from_str(&s.ok(&["info", "--format", "json"])).unwrap();
    assert_eq!(info["overlay"], "overlayfs", "{info}");
    assert_eq!(
        std::fs::read_to_string(s.path("run/glassbox/overlay-driver")).unwrap(),
        "kernel\n"
    );
    let trace = s.path("work/fuse-trace.jsonl");
    let mut full = vec!["--trace", "json", "--trace-file", trace.to_str().unwrap()];
    full.extend_from_slice(&list);
    let out = s
        .cmd_with(&["GLASSBOX_OVERLAY=fuse"], &full)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), kernel);
    let events: Vec<serde_json::Value> = std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    crate::support::assert_explained(&events);
    let k = keys(&events);
    assert!(k.contains(&"mount.overlay_driver".to_string()), "{k:?}");
    let mount = events
        .iter()
        .rfind(|e| crate::support::key(e) == "mount.overlay")
        .unwrap();
    assert_eq!(mount["fields"]["driver"], "fuse-overlayfs", "{mount}");
    assert!(
        mount["equivalent"]
            .as_str()
            .unwrap()
            .contains("fuse-overlayfs -o lowerdir="),
        "{mount}"
    );
    // A container that writes through fuse-overlayfs keeps its changes in
    // its upper dir, as with the kernel's overlay.
    let w = s
        .cmd_with(
            &["GLASSBOX_OVERLAY=fuse"],
            &[
                "run",
                "--name",
                "w",
                "wh",
                "sh",
                "-c",
                "echo new > /x/n && rm /x/b",
            ],
        )
        .output()
        .unwrap();
    assert!(w.status.success(), "{}", String::from_utf8_lossy(&w.stderr));
    let v: serde_json::Value = serde_json::from_str(&s.ok(&["inspect", "w"])).unwrap();
    let upper = s.path(&format!(
        "data/glassbox/containers/{}/upper/x",
        v[0]["Id"].as_str().unwrap()
    ));
    assert_eq!(std::fs::read_to_string(upper.join("n")).unwrap(), "new\n");
    let b = std::fs::symlink_metadata(upper.join("b")).unwrap();
    use std::os::unix::fs::FileTypeExt;
    assert!(
        b.file_type().is_char_device() && b.rdev() == 0,
        "the deleted /x/b is a 0/0 whiteout in the upper dir"
    );
    s.ok(&["rm", "w"]);
    // Nothing of those containers runs on: in the user namespace only the
    // keeper is left (fuse-overlayfs ended with its container).
    let keeper = s.keeper().unwrap();
    let ns = std::fs::read_link(format!("/proc/{keeper}/ns/user")).unwrap();
    let ns = ns.to_string_lossy().into_owned();
    let mut left = Student::processes_in(&ns);
    for _ in 0..100 {
        if left.len() <= 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        left = Student::processes_in(&ns);
    }
    assert!(
        left.len() == 1 && left[0].starts_with(&format!("{keeper} ")),
        "{left:?}"
    );
}
