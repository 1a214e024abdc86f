//! `glassbox daemon` driven by the real docker CLI (28.2, /usr/local/bin/docker)
//! and by raw HTTP on its unix socket: the request sequence of `docker run`,
//! one store shared with the glassbox CLI, the error shapes clients map,
//! `wait`'s early headers, many clients at once, and bad input.

use crate::registry_client::free_port;
use crate::run::busybox_root;
use crate::support::Root;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

/// A daemon this test started, on a socket in its root; ended by its PID
/// on drop, after the root's containers are removed.
pub struct Daemon<'a> {
    root: &'a Root,
    child: Child,
    sock: PathBuf,
    config: tempfile::TempDir,
}

impl<'a> Daemon<'a> {
    pub fn start(root: &'a Root) -> Daemon<'a> {
        let sock = root.path().join("docker.sock");
        let trace = root.path().join("daemon.jsonl");
        let child = root
            .cmd(&[
                "--trace",
                "json",
                "--trace-file",
                trace.to_str().unwrap(),
                "daemon",
                "-H",
            ])
            .arg(format!("unix://{}", sock.display()))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("glassbox daemon starts");
        let d = Daemon {
            root,
            child,
            sock,
            config: tempfile::tempdir().expect("a docker config dir"),
        };
        let until = Instant::now() + Duration::from_secs(10);
        while UnixStream::connect(&d.sock).is_err() {
            assert!(Instant::now() < until, "the daemon listens within 10 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }

    /// `docker ARGS` against this daemon, with a config dir of its own.
    pub fn docker(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("docker runs")
    }

    /// The command `docker ARGS` against this daemon, not yet run.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(docker_cli());
        c.args(args)
            .env("DOCKER_HOST", format!("unix://{}", self.sock.display()))
            .env("DOCKER_CONFIG", self.config.path())
            .env("DOCKER_BUILDKIT", "0")
            .env_remove("DOCKER_CONTEXT");
        c
    }

    /// `docker ARGS`, which must succeed; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// One raw HTTP/1.1 request; the status, headers and body.
    pub fn raw(&self, method: &str, path: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
        let mut s = UnixStream::connect(&self.sock).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).unwrap();
        let _ = s.write_all(body);
        let mut all = Vec::new();
        let _ = s.read_to_end(&mut all);
        let text = String::from_utf8_lossy(&all).into_owned();
        let (head, _) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let at = all
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|p| p + 4)
            .unwrap_or(all.len());
        (
            status,
            head.to_string(),
            dechunk(&head.to_ascii_lowercase(), &all[at..]),
        )
    }

    /// The daemon's events so far.
    pub fn events(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.root.path().join("daemon.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

impl Drop for Daemon<'_> {
    fn drop(&mut self) {
        let ids = self.root.run(&["ps", "-a", "-q"]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = self.root.run(&["rm", "-f", id]);
        }
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
    }
}

fn dechunk(head: &str, body: &[u8]) -> Vec<u8> {
    if !head.contains("transfer-encoding: chunked") {
        return body.to_vec();
    }
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(p) = rest.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(String::from_utf8_lossy(&rest[..p]).trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < p + 2 + n {
            break;
        }
        out.extend_from_slice(&rest[p + 2..p + 2 + n]);
        rest = &rest[(p + 4 + n).min(rest.len())..];
    }
    out
}

/// `GET /` on a published port of 127.0.0.1, retried for up to 2.5 s
/// until the answer contains `want`; the last answer.
fn page_from(port: u16, want: &str) -> String {
    let mut got = String::new();
    for _ in 0..50 {
        got.clear();
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.write_all(b"GET / HTTP/1.0\r\n\r\n");
            let _ = s.read_to_string(&mut got);
            if got.contains(want) {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    got
}

pub fn docker_cli() -> PathBuf {
    let p = PathBuf::from("/usr/local/bin/docker");
    if p.exists() {
        p
    } else {
        PathBuf::from("docker")
    }
}

fn requests(events: &[serde_json::Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["kind"] == "api" && e["action"] == "request" && e["stage"] != "announce")
        .map(|e| e["subject"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn the_docker_cli_negotiates_api_1_41_and_ping_carries_the_headers_it_reads() {
    let root = busybox_root();
    let d = Daemon::start(&root);
    let v = d.ok(&[
        "version",
        "--format",
        "{{.Server.APIVersion}} {{.Client.APIVersion}}",
    ]);
    assert_eq!(
        v.trim(),
        "1.41 1.41",
        "the client downgrades to the server's version"
    );
    let (status, head, body) = d.raw("GET", "/_ping", b"");
    assert_eq!(status, 200);
    assert_eq!(body, b"OK");
    let head = head.to_ascii_lowercase();
    for h in [
        "api-version: 1.41",
        "ostype: linux",
        "docker-experimental: false",
        "builder-version: 1",
    ] {
        assert!(head.contains(h), "{h} in {head}");
    }
    let (status, ..) = d.raw("HEAD", "/_ping", b"");
    assert_eq!(status, 200);
    let (status, _, body) = d.raw("GET", "/v1.41/version", b"");
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["ApiVersion"], "1.41");
    assert_eq!(v["MinAPIVersion"], "1.24");
    let (status, _, body) = d.raw("GET", "/v1.12/version", b"");
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
}

#[test]
fn docker_run_rm_sends_create_attach_wait_start_and_returns_the_output_and_exit_code() {
    let root = busybox_root();
    let d = Daemon::start(&root);
    assert_eq!(
        d.ok(&["run", "--rm", "busybox", "echo", "hello"]),
        "hello\n"
    );
    let out = d.docker(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
    // The CLI waited for condition=removed: nothing is left.
    assert_eq!(root.ok(&["ps", "-a", "-q"]).trim(), "");
    let events = d.events();
    let reqs = requests(&events);
    let kinds: Vec<&str> = reqs
        .iter()
        .filter(|r| r.starts_with("POST /containers/"))
        .map(|r| r.rsplit('/').next().unwrap())
        .take(4)
        .collect();
    assert_eq!(kinds, ["create", "attach", "wait", "start"], "{reqs:?}");
    // The engine's steps nest under the requests.
    assert!(events
        .iter()
        .any(|e| e["kind"] == "process" && e["action"] == "shim" && e["phase"][0] == "api"));
    crate::support::assert_explained(&events);
}

#[test]
fn a_container_docker_runs_is_listed_by_glassbox_ps_and_the_other_way_round() {
    let root = busybox_root();
    let d = Daemon::start(&root);
    let port = free_port();
    let publish = format!("{port}:80");
    let id = d
        .ok(&[
            "run",
            "-d",
            "--name",
            "web",
            "-p",
            &publish,
            "-e",
            "A=1",
            "-v",
            "data:/srv",
            "-w",
            "/srv",
            "busybox",
            "sh",
            "-c",
            "hostname > index.html; exec httpd -f -p 80 -h /srv",
        ])
        .trim()
        .to_string();
    assert_eq!(id.len(), 64);
    assert!(
        root.ok(&["ps"]).contains("web"),
        "glassbox ps lists docker's container"
    );
    root.ok(&["run", "-d", "--name", "other", "busybox", "sleep", "60"]);
    let names = d.ok(&["ps", "--format", "{{.Names}}"]);
    assert!(names.contains("web") && names.contains("other"), "{names}");
    // The published port answers from the host.
    let got = page_from(port, "200");
    assert!(got.contains(&id[..12]), "{got}");
    let env = d.ok(&["exec", "web", "sh", "-c", "echo $A; pwd"]);
    assert_eq!(env, "1\n/srv\n");
    let f = d.ok(&["inspect", "web", "--format", "{{.Name}} {{.State.Status}} {{.Config.WorkingDir}} {{.HostConfig.NetworkMode}} {{len .NetworkSettings.Networks}}"]);
    assert_eq!(f.trim(), "/web running /srv bridge 1");
    d.ok(&["stop", "-t", "1", "web"]);
    assert!(d
        .ok(&[
            "ps",
            "-a",
            "--filter",
            "name=web",
            "--format",
            "{{.Status}}"
        ])
        .starts_with("Exited"));
    d.ok(&["start", "web"]);
    assert!(d
        .ok(&["ps", "--filter", "name=web", "--format", "{{.Status}}"])
        .starts_with("Up"));
    d.ok(&["rm", "-f", "web", "other"]);
    assert_eq!(root.ok(&["ps", "-a", "-q"]).trim(), "");
    assert!(d
        .ok(&["volume", "ls", "--format", "{{.Name}}"])
        .contains("data"));
    d.ok(&["volume", "rm", "data"]);
}

#[test]
fn errors_are_json_messages_with_the_status_codes_the_cli_maps() {
    let root = busybox_root();
    let d = Daemon::start(&root);
    let (status, head, body) = d.raw("GET", "/v1.41/no/such/route", b"");
    assert_eq!(status, 404);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(v["message"].as_str().unwrap().contains("/no/such/route"));
    let (status, _, body) = d.raw("POST", "/containers/create", b"{not json");
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    let (status, _, body) = d.raw(
        "POST",
        "/containers/create",
        br#"{"Image":"nosuchimage:1"}"#,
    );
    assert_eq!(status, 404);
    assert!(
        String::from_utf8_lossy(&body).contains("No such image"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    let out = d.docker(&["rm", "nosuchcontainer"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("No such container"));
    // A body far beyond what the route reads is refused, and the daemon
    // goes on serving.
    let big = vec![b' '; 20 << 20];
    let (status, ..) = d.raw("POST", "/containers/create", &big);
    assert_eq!(status, 413);
    let (status, ..) = d.raw("GET", "/_ping", b"");
    assert_eq!(status, 200);
    d.ok(&["create", "--name", "c", "busybox", "true"]);
    let out = d.docker(&["create", "--name", "c", "busybox", "true"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("already in use"));
    // A network mode glassbox does not do is the client's mistake (400),
    // with what to do instead.
    let (status, _, body) = d.raw(
        "POST",
        "/containers/create",
        br#"{"Image":"busybox","HostConfig":{"NetworkMode":"container:c"}}"#,
    );
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("network create"));
    let (status, ..) = d.raw("POST", "/containers/c/stop", b"");
    assert_eq!(
        status, 304,
        "stopping a container that does not run changes nothing"
    );
}

#[test]
fn wait_sends_its_headers_before_the_container_starts() {
    let root = busybox_root();
    let d = Daemon::start(&root);
    let id = d
        .ok(&["create", "busybox", "sh", "-c", "exit 7"])
        .trim()
        .to_string();
    let mut s = UnixStream::connect(&d.sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "POST /v1.41/containers/{id}/wait?condition=next-exit HTTP/1.1\r\nHost: d\r\nContent-Length: 0\r\n\r\n").unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b)
            .expect("wait's headers arrive before start");
        head.push(b[0]);
    }
    assert!(String::from_utf8_lossy(&head).starts_with("HTTP/1.1 200"));
    d.ok(&["start", &id]);
    let mut rest = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&rest).contains('}') {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0);
        rest.extend_from_slice(&buf[..n]);
    }
    assert!(
        String::from_utf8_lossy(&rest).contains(r#""StatusCode":7"#),
        "{}",
        String::from_utf8_lossy(&rest)
    );
}

#[test]
fn networks_and_volumes_through_the_docker_cli() {
    let root = busybox_root();
    let d = Daemon::start(&root);
    d.ok(&["network", "create", "--subnet", "10.77.91.0/24", "apinet"]);
    assert!(d
        .ok(&["network", "ls", "--format", "{{.Name}}"])
        .contains("apinet"));
    let subnet = d.ok(&[
        "network",
        "inspect",
        "apinet",
        "--format",
        "{{range .IPAM.Config}}{{.Subnet}}{{end}}",
    ]);
    assert_eq!(subnet.trim(), "10.77.91.0/24");
    d.ok(&[
        "run",
        "-d",
        "--name",
        "db",
        "--network",
        "apinet",
        "--network-alias",
        "database",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ]);
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "apinet",
        "busybox",
        "wget",
        "-qO-",
        "http://database/hostname",
    ]);
    assert!(!out.trim().is_empty(), "found by its alias");
    d.ok(&["rm", "-f", "db"]);
    d.ok(&["network", "rm", "apinet"]);
    assert!(!d
        .ok(&["network", "ls", "--format", "{{.Name}}"])
        .contains("apinet"));
    d.ok(&["volume", "create", "v1"]);
    let mp = d.ok(&["volume", "inspect", "v1", "--format", "{{.Mountpoint}}"]);
    assert!(mp.trim().starts_with(root.path().to_str().unwrap()), "{mp}");
    d.ok(&["volume", "rm", "v1"]);
    assert!(d.ok(&["volume", "ls", "-q"]).trim().is_empty());
}

#[test]
fn twenty_docker_runs_at_once_all_succeed_and_leave_nothing() {
    let root = busybox_root();
    let d = Daemon::start(&root);
    let outs: Vec<Output> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..20)
            .map(|i| {
                let d = &d;
                s.spawn(move || d.docker(&["run", "--rm", "busybox", "echo", &format!("n{i}")]))
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (i, o) in outs.iter().enumerate() {
        assert!(
            o.status.success(),
            "run {i}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&o.stdout), format!("n{i}\n"));
    }
    assert_eq!(root.ok(&["ps", "-a", "-q"]).trim(), "");
}

/// A `glassbox registry serve` on a free loopback port; ended on drop,
/// and its storage (the last field, kept for its Drop) removed.
struct Registry(Child, u16, #[allow(dead_code)] tempfile::TempDir);

impl Registry {
    fn start() -> Registry {
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new(crate::support::bin())
            .args(["--trace", "off", "registry", "serve", "--addr"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--storage")
            .arg(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let until = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < until, "the registry listens");
            std::thread::sleep(Duration::from_millis(20));
        }
        Registry(child, port, dir)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn docker_build_push_and_pull_go_through_the_daemon_to_a_registry() {
    let root = busybox_root();
    let d = Daemon::start(&root);
    let reg = Registry::start();
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nRUN echo built > /msg\nCMD [\"cat\", \"/msg\"]\n",
    )
    .unwrap();
    let out = d.ok(&["build", "-t", "app:1", ctx.path().to_str().unwrap()]);
    assert!(
        out.contains("Successfully built "),
        "compose v1 reads this line: {out}"
    );
    assert!(out.contains("Successfully tagged app:1"), "{out}");
    assert_eq!(d.ok(&["run", "--rm", "app:1"]), "built\n");
    let name = format!("localhost:{}/app:1", reg.1);
    d.ok(&["tag", "app:1", &name]);
    d.ok(&["push", &name]);
    assert!(d.ok(&["rmi", &name]).contains("Untagged"));
    d.ok(&["pull", &name]);
    let ids = d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]);
    let id_of = |n: &str| {
        ids.lines()
            .find(|l| l.starts_with(&format!("{n} ")))
            .map(|l| l.split(' ').nth(1).unwrap().to_string())
    };
    assert_eq!(
        id_of(&name),
        id_of("app:1"),
        "the same image came back: {ids}"
    );
    assert!(root
        .ok(&["images"])
        .contains(&format!("localhost:{}/app", reg.1)));
}

/// Runs `docker-compose` (1.29, docker-py underneath) on a copy of the
/// fixture against this daemon.
fn compose(d: &Daemon, dir: &std::path::Path, port: u16, args: &[&str]) -> Output {
    Command::new("docker-compose")
        .args(["-p", "gbtodo"])
        .args(args)
        .current_dir(dir)
        .env("DOCKER_HOST", format!("unix://{}", d.sock.display()))
        .env("DOCKER_CONFIG", d.config.path())
        .env("TODO_PORT", port.to_string())
        .output()
        .expect("docker-compose runs (apt-get install docker-compose)")
}

#[test]
fn docker_compose_brings_up_two_services_on_a_network_and_tears_them_down() {
    let root = busybox_root();
    let d = Daemon::start(&root);
    let app = tempfile::tempdir().unwrap();
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/apps/compose-todo");
    std::fs::copy(
        fixture.join("docker-compose.yml"),
        app.path().join("docker-compose.yml"),
    )
    .unwrap();
    std::fs::create_dir(app.path().join("site")).unwrap();
    std::fs::copy(
        fixture.join("site/index.html"),
        app.path().join("site/index.html"),
    )
    .unwrap();
    let port = free_port();
    let ok = |args: &[&str]| {
        let out = compose(&d, app.path(), port, args);
        assert!(
            out.status.success(),
            "docker-compose {args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    ok(&["up", "-d"]);
    let ps = ok(&["ps"]);
    assert!(
        ps.contains("gbtodo_db_1") && ps.contains("gbtodo_web_1"),
        "{ps}"
    );
    // glassbox sees compose's containers, with their network and volume.
    assert!(root.ok(&["ps"]).contains("gbtodo_web_1"));
    assert!(root.ok(&["network", "ls"]).contains("gbtodo_todo"));
    assert!(root.ok(&["volume", "ls"]).contains("gbtodo_todo-data"));
    // web finds db by its alias; env and the bind mount reach web.
    assert_eq!(
        ok(&[
            "exec",
            "-T",
            "web",
            "wget",
            "-qO-",
            "http://database:3306/todo.txt"
        ]),
        "todo - learn compose\n"
    );
    assert_eq!(ok(&["exec", "-T", "web", "cat", "/tmp/mode"]), "mode dev\n");
    let page = page_from(port, "<h1>todo</h1>");
    assert!(page.contains("<h1>todo</h1>"), "{page}");
    ok(&["logs"]);
    ok(&["down", "-v"]);
    assert_eq!(root.ok(&["ps", "-a", "-q"]).trim(), "");
    assert!(!root.ok(&["network", "ls"]).contains("gbtodo_todo"));
    assert!(!root.ok(&["volume", "ls"]).contains("gbtodo_todo-data"));
}

#[test]
fn docker_py_runs_reads_logs_execs_and_makes_networks() {
    let root = busybox_root();
    let d = Daemon::start(&root);
    let script = r#"
import docker, sys
c = docker.DockerClient(base_url=sys.argv[1], version="auto")
assert c.version()["ApiVersion"] == "1.41"
out = c.containers.run("busybox", ["echo", "from docker-py"], remove=True)
assert out == b"from docker-py\n", out
net = c.networks.create("pynet")
box = c.containers.run("busybox", ["sleep", "60"], detach=True, name="pybox", network="pynet")
code, res = box.exec_run(["sh", "-c", "echo $((6*7))"])
assert code == 0 and res == b"42\n", (code, res)
logger = c.containers.run("busybox", ["sh", "-c", "echo one; echo two"], detach=True)
assert logger.wait()["StatusCode"] == 0
assert logger.logs() == b"one\ntwo\n", logger.logs()
assert "pybox" in [x.name for x in c.containers.list()]
box.remove(force=True)
logger.remove()
net.remove()
print("ok")
"#;
    let out = docker_py(script, &d.sock);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("ok"),
        "docker-py: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Debian's docker.io CLI (20.10), which negotiates from API 1.41 itself.
#[test]
fn the_docker_20_10_cli_runs_the_same_commands() {
    let cli = std::path::Path::new("/usr/bin/docker");
    assert!(
        cli.exists(),
        "Debian's docker.io CLI is installed (scripts/install-deps.sh)"
    );
    let root = busybox_root();
    let d = Daemon::start(&root);
    let old = |args: &[&str]| {
        let out = Command::new(cli)
            .args(args)
            .env("DOCKER_HOST", format!("unix://{}", d.sock.display()))
            .env("DOCKER_CONFIG", d.config.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "docker 20.10 {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(old(&["version", "--format", "{{.Client.Version}}"]).starts_with("20.10"));
    assert_eq!(
        old(&["version", "--format", "{{.Server.APIVersion}}"]).trim(),
        "1.41"
    );
    assert_eq!(
        old(&["run", "--rm", "busybox", "echo", "old client"]),
        "old client\n"
    );
    old(&["run", "-d", "--name", "k", "busybox", "sleep", "60"]);
    assert!(old(&["ps", "--format", "{{.Names}}"]).contains('k'));
    assert_eq!(old(&["exec", "k", "echo", "in"]), "in\n");
    old(&["rm", "-f", "k"]);
    assert!(root.ok(&["ps", "-a", "-q"]).trim().is_empty());
}

#[test]
fn a_client_that_leaves_mid_attach_or_mid_follow_harms_neither_the_container_nor_the_daemon() {
    let root = busybox_root();
    let d = Daemon::start(&root);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "chatty",
        "busybox",
        "sh",
        "-c",
        "while true; do echo tick; sleep 0.1; done",
    ]);
    for path in [
        "/v1.41/containers/chatty/attach?stream=1&stdout=1&stderr=1",
        "/v1.41/containers/chatty/logs?follow=1&stdout=1",
    ] {
        let mut s = UnixStream::connect(&d.sock).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let method = if path.contains("attach") {
            "POST"
        } else {
            "GET"
        };
        write!(s, "{method} {path} HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n").unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 512];
        while !String::from_utf8_lossy(&got).contains("tick") {
            let n = s.read(&mut buf).expect("output arrives");
            assert!(n > 0);
            got.extend_from_slice(&buf[..n]);
        }
        drop(s);
    }
    std::thread::sleep(Duration::from_millis(300));
    let (status, ..) = d.raw("GET", "/_ping", b"");
    assert_eq!(status, 200);
    assert!(d
        .ok(&["ps", "--format", "{{.Names}} {{.Status}}"])
        .contains("chatty Up"));
    assert!(d.ok(&["logs", "chatty"]).contains("tick"));
    d.ok(&["rm", "-f", "chatty"]);
}

/// Runs a docker-py `script` with the daemon's socket `sock` as its
/// argv[1] (`unix://SOCK`): Debian's python3 with Debian's python3-docker
/// (install-deps.sh).
pub(crate) fn docker_py(script: &str, sock: &std::path::Path) -> std::process::Output {
    let python = if std::path::Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    };
    Command::new(python)
        .args(["-c", script])
        .arg(format!("unix://{}", sock.display()))
        .output()
        .expect("python3 runs")
}
