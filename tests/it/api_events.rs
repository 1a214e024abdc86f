//! `docker events` and `docker system df` against `glassbox daemon`, with
//! the real clients (docker CLI 28.2, Debian's 20.10, docker-py), and the
//! store's journal behind them: a container made by `glassbox run` shows
//! in a `docker events` started before it. Also `doctor`'s store-wide
//! findings read from the same journal: a push to a registry that is not
//! running, or that wants a login.

use crate::daemon::Daemon;
use crate::registry_client::{free_port, gb, GlassboxRegistry};
use crate::run::busybox_root;
use crate::support::Root;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child this test started (a `docker events`, a registry), killed by
/// its PID on drop.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn lines_json(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn docker_events_started_first_sees_the_die_of_a_glassbox_run() {
    let root = busybox_root();
    let d = Daemon::start(&root);
    let mut watch = Killed(
        d.command(&["events", "--filter", "event=die", "--format", "{{json .}}"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker events starts"),
    );
    let out = watch.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                return;
            }
        }
    });
    // The stream is open once the daemon has answered; give the CLI a
    // moment to subscribe before the container runs.
    std::thread::sleep(Duration::from_millis(500));
    let run = root.run(&[
        "run", "--rm", "--name", "brief", "busybox", "sh", "-c", "exit 3",
    ]);
    assert_eq!(run.status.code(), Some(3));
    let line = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("docker events prints the die of the CLI's container");
    let ev: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(ev["Type"], "container");
    assert_eq!(ev["Action"], "die");
    assert_eq!(ev["Actor"]["Attributes"]["name"], "brief");
    assert_eq!(ev["Actor"]["Attributes"]["exitCode"], "3");
    assert_eq!(ev["Actor"]["Attributes"]["image"], "busybox");
    assert_eq!(ev["status"], "die");
    assert_eq!(ev["from"], "busybox");
    assert_eq!(ev["scope"], "local");
    assert!(ev["timeNano"].as_i64().unwrap() / 1_000_000_000 == ev["time"].as_i64().unwrap());
    // Only die events passed the filter: nothing else arrived.
    assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
}

#[test]
fn events_since_until_replay_a_run_in_order_for_both_clis_and_filter() {
    let root = busybox_root();
    let d = Daemon::start(&root);
    let since = format!("{:.3}", now_secs() - 0.5);
    d.ok(&["volume", "create", "evdata"]);
    d.ok(&["network", "create", "evnet"]);
    d.ok(&[
        "run",
        "--rm",
        "--name",
        "ev1",
        "--network",
        "evnet",
        "-v",
        "evdata:/d",
        "busybox",
        "true",
    ]);
    d.ok(&["network", "rm", "evnet"]);
    d.ok(&["volume", "rm", "evdata"]);
    std::thread::sleep(Duration::from_millis(50));
    let until = format!("{:.3}", now_secs());
    let window = [
        "events",
        "--since",
        since.as_str(),
        "--until",
        until.as_str(),
    ];
    let actions = |filters: &[&str]| -> Vec<String> {
        let mut args: Vec<&str> = window.to_vec();
        args.extend_from_slice(filters);
        args.extend_from_slice(&["--format", "{{.Type}} {{.Action}}"]);
        let start = Instant::now();
        let out = d.command(&args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "--until ends the stream"
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(String::from)
            .collect()
    };
    let all = actions(&[]);
    let want = [
        "volume create",
        "network create",
        "container create",
        "network connect",
        "container start",
        "container die",
        "network disconnect",
        "container destroy",
        "network destroy",
        "volume destroy",
    ];
    let seen: Vec<&str> = all
        .iter()
        .map(String::as_str)
        .filter(|l| want.contains(l))
        .collect();
    assert_eq!(seen, want, "all events: {all:?}");
    assert!(all.contains(&"volume mount".to_string()), "{all:?}");
    let containers = actions(&["--filter", "type=container", "--filter", "container=ev1"]);
    assert_eq!(
        containers,
        [
            "container create",
            "container attach",
            "container start",
            "container die",
            "container destroy"
        ]
    );
    let nets = actions(&["--filter", "network=evnet"]);
    assert!(nets.iter().all(|l| l.starts_with("network ")), "{nets:?}");
    assert_eq!(nets.len(), 4, "{nets:?}");

    // Debian's docker.io 20.10 CLI over the same window.
    let old = Command::new("/usr/bin/docker")
        .args(window)
        .args(["--filter", "event=start", "--format", "{{json .}}"])
        .env(
            "DOCKER_HOST",
            format!("unix://{}", root.path().join("docker.sock").display()),
        )
        .env("DOCKER_CONFIG", root.path())
        .output()
        .expect("/usr/bin/docker (docker.io 20.10) runs");
    assert!(
        old.status.success(),
        "{}",
        String::from_utf8_lossy(&old.stderr)
    );
    let evs = lines_json(&String::from_utf8_lossy(&old.stdout));
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!(evs[0]["Actor"]["Attributes"]["name"], "ev1");

    // The old filter shape, by raw HTTP.
    let q = format!(
        "/v1.41/events?since={since}&until={until}&filters=%7B%22event%22%3A%7B%22die%22%3Atrue%7D%7D"
    );
    let (status, _, body) = d.raw("GET", &q, b"");
    assert_eq!(status, 200);
    let evs = lines_json(&String::from_utf8_lossy(&body));
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0]["Actor"]["Attributes"]["exitCode"], "0");

    // A time that is not one is a clear 400.
    let (status, _, body) = d.raw("GET", "/events?since=yesterday", b"");
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("not a time"));
}

#[test]
fn docker_py_reads_events_with_the_old_fields() {
    let root = busybox_root();
    let d = Daemon::start(&root);
    let script = r#"
import sys, time, docker
c = docker.DockerClient(base_url=sys.argv[1], version="1.41")
since = time.time() - 1
c.containers.run("busybox", ["true"], remove=True, name="pyev")
seen = []
for ev in c.events(since=since, until=time.time() + 1, decode=True, filters={"container": "pyev"}):
    seen.append((ev["status"], ev["id"][:12], ev["from"], ev["Actor"]["Attributes"]["name"]))
actions = [s[0] for s in seen]
assert "create" in actions and "start" in actions and "die" in actions and "destroy" in actions, seen
assert all(s[2] == "busybox" and s[3] == "pyev" for s in seen), seen
print("ok")
"#;
    let out = crate::daemon::docker_py(script, &root.path().join("docker.sock"));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("ok"),
        "docker-py: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    drop(d);
}

#[test]
fn system_df_measures_images_containers_and_volumes_from_the_store() {
    let root = busybox_root();
    let d = Daemon::start(&root);
    d.ok(&["volume", "create", "dfvol"]);
    d.ok(&[
        "run",
        "--rm",
        "-v",
        "dfvol:/data",
        "busybox",
        "sh",
        "-c",
        "dd if=/dev/zero of=/data/f bs=1024 count=100 2>/dev/null",
    ]);
    d.ok(&[
        "run",
        "--name",
        "dfc",
        "busybox",
        "sh",
        "-c",
        "dd if=/dev/zero of=/big bs=1024 count=50 2>/dev/null",
    ]);
    let (status, _, body) = d.raw("GET", "/v1.41/system/df", b"");
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let images = v["Images"].as_array().unwrap();
    assert_eq!(images.len(), 1);
    let img = &images[0];
    assert_eq!(img["RepoTags"][0], "busybox:latest");
    assert_eq!(img["Containers"], 1, "dfc uses it");
    assert_eq!(img["SharedSize"], 0);
    // The image's size is its unpacked layers: busybox is a megabyte or two.
    let size = img["Size"].as_u64().unwrap();
    assert!(size > 500_000 && size < 10_000_000, "{size}");
    assert_eq!(v["LayersSize"].as_u64().unwrap(), size);
    let c = &v["Containers"].as_array().unwrap()[0];
    assert_eq!(c["Names"][0], "/dfc");
    assert_eq!(c["SizeRw"].as_u64().unwrap(), 50 * 1024);
    assert_eq!(c["SizeRootFs"].as_u64().unwrap(), 50 * 1024 + size);
    let vol = &v["Volumes"].as_array().unwrap()[0];
    assert_eq!(vol["Name"], "dfvol");
    assert_eq!(vol["UsageData"]["Size"].as_u64().unwrap(), 100 * 1024);
    assert_eq!(vol["UsageData"]["RefCount"], 0);
    assert_eq!(v["BuildCache"], serde_json::json!([]));

    let table = d.ok(&["system", "df"]);
    assert!(
        table.contains("Images") && table.contains("Local Volumes"),
        "{table}"
    );
    assert!(table.contains("102.4kB"), "the volume's 100 KiB: {table}");
    let verbose = d.ok(&["system", "df", "-v"]);
    assert!(
        verbose.contains("busybox") && verbose.contains("dfvol") && verbose.contains("dfc"),
        "{verbose}"
    );
    assert!(
        verbose.contains("51.2kB"),
        "dfc's writable layer: {verbose}"
    );
    d.ok(&["rm", "dfc"]);
}

/// `glassbox registry serve --htpasswd` with one login, teacher:s3cret.
fn registry_with_login(dir: &std::path::Path) -> GlassboxRegistry {
    let out = Command::new("htpasswd")
        .args(["-Bbn", "teacher", "s3cret"])
        .output()
        .expect("htpasswd (apache2-utils)");
    let file = dir.join("htpasswd");
    std::fs::write(&file, &out.stdout).unwrap();
    GlassboxRegistry::start_with_htpasswd(&file)
}

fn doctor_json(root: &Root, config: &std::path::Path) -> (i32, serde_json::Value) {
    let out = gb(root, config, &["doctor", "--format", "json"])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_slice(&out.stdout).unwrap(),
    )
}

#[test]
fn doctor_finds_a_push_to_a_registry_that_is_not_running() {
    let root = busybox_root();
    let config = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let reference = format!("{addr}/app:1");
    root.ok(&["tag", "busybox", &reference]);
    let out = gb(&root, config.path(), &["push", &reference])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let (code, report) = doctor_json(&root, config.path());
    assert_eq!(code, 1);
    let f = &report["findings"][0];
    assert_eq!(f["code"], "registry_unreachable");
    assert_eq!(f["container"], format!("registry {addr}"));
    let evidence = f["evidence"][0].as_str().unwrap();
    let journal = root.path().join("events.jsonl");
    assert!(
        evidence.starts_with(&format!("{} line ", journal.display())),
        "{evidence}"
    );
    assert!(evidence.contains("connection refused"), "{evidence}");
    let port = addr.rsplit(':').next().unwrap();
    assert_eq!(
        f["fix"],
        format!(
            "glassbox registry serve --addr 127.0.0.1:{port} & sleep 1; glassbox push {reference}"
        )
    );
    // The line the evidence names is the failed push.
    let n: usize = evidence
        .split(" line ")
        .nth(1)
        .and_then(|s| s.split(':').next())
        .and_then(|s| s.parse().ok())
        .unwrap();
    let text = std::fs::read_to_string(&journal).unwrap();
    let line: serde_json::Value = serde_json::from_str(text.lines().nth(n - 1).unwrap()).unwrap();
    assert_eq!(line["Action"], "push_failed");
    assert_eq!(line["Actor"]["Attributes"]["reason"], "unreachable");
}

#[test]
fn doctor_finds_a_push_that_needs_a_login_and_is_clean_after_a_good_push() {
    let root = busybox_root();
    let config = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let reg = registry_with_login(dir.path());
    let addr = reg.addr.clone();
    let reference = format!("{addr}/app:1");
    root.ok(&["tag", "busybox", &reference]);
    let out = gb(&root, config.path(), &["push", &reference])
        .output()
        .unwrap();
    assert!(!out.status.success(), "a push without login is refused");
    let (code, report) = doctor_json(&root, config.path());
    assert_eq!(code, 1);
    let f = &report["findings"][0];
    assert_eq!(f["code"], "registry_needs_login");
    assert!(f["evidence"][1].as_str().unwrap().contains("401"), "{f}");
    assert_eq!(
        f["fix"],
        format!("glassbox login {addr} -u USER && glassbox push {reference}")
    );

    // The fix, followed: login, push; the journal's last transfer worked.
    let mut login = gb(
        &root,
        config.path(),
        &["login", &addr, "-u", "teacher", "--password-stdin"],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    use std::io::Write;
    login.stdin.take().unwrap().write_all(b"s3cret\n").unwrap();
    assert!(login.wait().unwrap().success());
    let out = gb(&root, config.path(), &["push", &reference])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, report) = doctor_json(&root, config.path());
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["findings"], serde_json::json!([]));
    let text = String::from_utf8_lossy(
        &gb(&root, config.path(), &["doctor"])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    assert!(text.contains("nothing to examine"), "{text}");
}
