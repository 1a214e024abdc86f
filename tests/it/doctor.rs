//! `glassbox doctor` on real containers: for every finding, one test makes
//! the broken state for real and asserts the finding and its evidence, and
//! one makes the healthy state and asserts no finding. The tests talk only
//! to 127.0.0.1 and their own containers.

use crate::ports::{cleanup, http_get, httpd, until};
use crate::run::busybox_root;
use crate::support::{assert_explained, Root};
use serde_json::Value;

/// `doctor NAME --format json`: (exit code, report).
fn doctor(root: &Root, name: &str) -> (i32, Value) {
    let out = root.run(&["doctor", name, "--format", "json"]);
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor {name} printed no JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), v)
}

fn codes(v: &Value) -> Vec<String> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_string())
        .collect()
}

/// Waits until `doctor NAME` reports `code`; returns that finding.
fn finds(root: &Root, name: &str, code: &str) -> Value {
    let mut last = Value::Null;
    let f = until(&format!("doctor {name} to find {code}"), || {
        let (rc, v) = doctor(root, name);
        last = v.clone();
        let f = v["findings"]
            .as_array()?
            .iter()
            .find(|f| f["code"] == code)
            .cloned()?;
        assert_eq!(rc, 1, "a finding exits 1: {v}");
        Some(f)
    });
    assert_eq!(f["container"], name, "{last}");
    f
}

fn evidence(f: &Value) -> String {
    f["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Asserts `doctor NAME` finds nothing and exits 0.
fn clean(root: &Root, name: &str) {
    let (rc, v) = doctor(root, name);
    assert_eq!(codes(&v), Vec::<String>::new(), "{v}");
    assert_eq!(rc, 0);
}

fn run_d(root: &Root, name: &str, extra: &[&str], image_and_cmd: &[&str]) {
    let mut args = vec!["run", "-d", "--name", name];
    args.extend_from_slice(extra);
    args.extend_from_slice(image_and_cmd);
    root.ok(&args);
}

fn loopback_server(root: &Root) {
    run_d(
        root,
        "web",
        &["-p", "127.0.0.1::80"],
        &[
            "busybox",
            "sh",
            "-c",
            "mkdir -p /www && echo hi > /www/index.html && exec httpd -f -p 127.0.0.1:80 -h /www",
        ],
    );
}

#[test]
fn a_server_on_127_0_0_1_inside_is_found_in_the_containers_socket_table() {
    let root = busybox_root();
    let _c = cleanup(&root, &["web"]);
    loopback_server(&root);
    let f = finds(&root, "web", "port_loopback");
    let ev = evidence(&f);
    assert!(ev.contains("/net/tcp{,6}: 127.0.0.1:80 LISTEN"), "{ev}");
    assert!(f["fix"].as_str().unwrap().contains("0.0.0.0:80"), "{f}");
    let port = crate::ports::host_port(&root, "web", "80");
    assert!(http_get(port).is_none(), "truly unreachable from the host");
}

#[test]
fn a_server_on_every_address_is_no_finding() {
    let root = busybox_root();
    let _c = cleanup(&root, &["web"]);
    run_d(
        &root,
        "web",
        &["-p", "127.0.0.1::80"],
        &["busybox", "sh", "-c", &httpd("ok")],
    );
    let port = crate::ports::host_port(&root, "web", "80");
    until("the page", || http_get(port));
    clean(&root, "web");
}

#[test]
fn the_text_report_of_a_loopback_server_snapshot() {
    let root = busybox_root();
    let _c = cleanup(&root, &["web"]);
    loopback_server(&root);
    finds(&root, "web", "port_loopback");
    let file = root.path().join("doctor-trace.jsonl");
    let out = root.run(&[
        "--trace",
        "json",
        "--trace-file",
        file.to_str().unwrap(),
        "doctor",
        "web",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let events: Vec<Value> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_explained(&events);
    let finding = events
        .iter()
        .find(|e| e["kind"] == "doctor" && e["action"] == "finding")
        .expect("a doctor.finding event");
    assert_eq!(finding["fields"]["code"], "port_loopback");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let root_re = regex_lite_escape(root.path().to_str().unwrap());
    insta::with_settings!({filters => vec![
        (root_re.as_str(), "[ROOT]"),
        (r"\b[0-9a-f]{64}\b", "[id]"),
        (r"/proc/\d+/", "/proc/[pid]/"),
        (r"socket:\[\d+\]", "socket:[inode]"),
        (r"127\.0\.0\.1:\d{4,5}", "127.0.0.1:[port]"),
    ]}, {
        insta::assert_snapshot!("doctor_loopback_text", text);
    });
}

fn regex_lite_escape(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '/' || c == '_' {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}

#[test]
fn a_server_on_another_port_than_the_published_one_is_found() {
    let root = busybox_root();
    let _c = cleanup(&root, &["web"]);
    run_d(
        &root,
        "web",
        &["-p", "127.0.0.1::80"],
        &["busybox", "httpd", "-f", "-p", "8000"],
    );
    let f = finds(&root, "web", "port_wrong");
    assert!(
        evidence(&f).contains("nothing listens on port 80; listening: [::]:8000"),
        "{f}"
    );
    assert!(
        f["fix"].as_str().unwrap().contains("-p 127.0.0.1::8000"),
        "{f}"
    );
}

#[test]
fn a_published_port_nothing_listens_on_is_found() {
    let root = busybox_root();
    let _c = cleanup(&root, &["web"]);
    run_d(
        &root,
        "web",
        &["-p", "127.0.0.1::80"],
        &["busybox", "sleep", "1000"],
    );
    let f = finds(&root, "web", "port_not_listening");
    assert!(evidence(&f).contains("no listening TCP socket"), "{f}");
}

#[test]
fn a_run_d_shell_that_exited_at_once_is_found_with_its_pid_1() {
    let root = busybox_root();
    let _c = cleanup(&root, &["box"]);
    run_d(
        &root,
        "box",
        &[],
        &["busybox", "sh", "-c", "echo starting; exit 3"],
    );
    let f = finds(&root, "box", "exited_at_once");
    let ev = evidence(&f);
    assert!(
        ev.contains("PID 1 was `sh -c 'echo starting; exit 3'`, exited with code 3"),
        "{ev}"
    );
    assert!(ev.contains("log.json: starting"), "the last log line: {ev}");
}

#[test]
fn a_container_that_stays_up_is_no_finding() {
    let root = busybox_root();
    let _c = cleanup(&root, &["box"]);
    run_d(&root, "box", &[], &["busybox", "sleep", "1000"]);
    clean(&root, "box");
}

#[test]
fn a_command_the_image_does_not_have_is_found_with_the_images_path() {
    let root = busybox_root();
    let _c = cleanup(&root, &["box"]);
    let _ = root.run(&["run", "-d", "--name", "box", "busybox", "nosuchprog"]);
    let f = finds(&root, "box", "command_not_found");
    let ev = evidence(&f);
    assert!(ev.contains("exited with code 127"), "{ev}");
    assert!(ev.contains("the image's PATH is /usr/local/sbin:"), "{ev}");
    assert!(ev.contains("programs in those directories"), "{ev}");
}

#[test]
fn a_file_that_is_not_executable_is_found_with_126() {
    let root = busybox_root();
    let _c = cleanup(&root, &["box"]);
    let _ = root.run(&["run", "-d", "--name", "box", "busybox", "/etc/passwd"]);
    let f = finds(&root, "box", "command_not_executable");
    assert!(evidence(&f).contains("exited with code 126"), "{f}");
}

#[test]
fn an_oom_killed_process_is_found_with_the_limit_and_the_cgroups_counter() {
    let root = busybox_root();
    let _c = cleanup(&root, &["hog"]);
    run_d(
        &root,
        "hog",
        &["--memory", "8m"],
        &[
            "busybox",
            "sh",
            "-c",
            "head -c 64m /dev/zero | tail > /dev/null; sleep 1000",
        ],
    );
    let f = finds(&root, "hog", "oom_killed");
    let ev = evidence(&f);
    assert!(ev.contains("memory limit 8.0 MiB"), "{ev}");
    assert!(
        ev.contains("oom_kill 1") || ev.contains("oom_killed: true"),
        "{ev}"
    );
}

#[test]
fn a_container_within_its_memory_limit_is_no_finding() {
    let root = busybox_root();
    let _c = cleanup(&root, &["hog"]);
    run_d(
        &root,
        "hog",
        &["--memory", "64m"],
        &[
            "busybox",
            "sh",
            "-c",
            "head -c 1m /dev/zero | tail > /dev/null; sleep 1000",
        ],
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    clean(&root, "hog");
}

#[test]
fn forks_the_pids_limit_refused_are_found_in_pids_events() {
    let root = busybox_root();
    let _c = cleanup(&root, &["forks"]);
    run_d(
        &root,
        "forks",
        &["--pids-limit", "3"],
        &[
            "busybox",
            "sh",
            "-c",
            "sh -c 'sleep 1000 & sleep 1000 & sleep 1000 &'; exec sleep 1000",
        ],
    );
    let f = finds(&root, "forks", "pids_limit");
    let ev = evidence(&f);
    assert!(ev.contains("pids.events: max "), "{ev}");
    assert!(ev.contains("limit 3"), "{ev}");
}

#[test]
fn forks_within_the_pids_limit_are_no_finding() {
    let root = busybox_root();
    let _c = cleanup(&root, &["forks"]);
    run_d(
        &root,
        "forks",
        &["--pids-limit", "20"],
        &[
            "busybox",
            "sh",
            "-c",
            "sh -c 'sleep 1000 & sleep 1000 & sleep 1000 &'; exec sleep 1000",
        ],
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    clean(&root, "forks");
}

/// Builds `app:1`: busybox with /app/index.html, EXPOSE 80, serving /app.
fn app_image(root: &Root) {
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("index.html"), "the app\n").unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nCOPY index.html /app/index.html\nEXPOSE 80\nCMD [\"httpd\", \"-f\", \"-p\", \"80\", \"-h\", \"/app\"]\n",
    )
    .unwrap();
    root.ok(&["build", "-t", "app:1", ctx.path().to_str().unwrap()]);
}

#[test]
fn an_empty_bind_mount_over_the_app_dir_is_found_with_what_it_hides() {
    let root = busybox_root();
    app_image(&root);
    let _c = cleanup(&root, &["app"]);
    let empty = tempfile::tempdir().unwrap();
    let bind = format!("{}:/app", empty.path().display());
    run_d(
        &root,
        "app",
        &["-p", "127.0.0.1::80", "-v", &bind],
        &["app:1"],
    );
    let f = finds(&root, "app", "mount_hides_image");
    let ev = evidence(&f);
    assert!(ev.contains("(an image layer): index.html"), "{ev}");
    assert!(
        ev.contains(&format!("{}: empty", empty.path().display())),
        "{ev}"
    );
}

#[test]
fn a_bind_mount_with_the_apps_files_is_no_finding() {
    let root = busybox_root();
    app_image(&root);
    let _c = cleanup(&root, &["app"]);
    let full = tempfile::tempdir().unwrap();
    std::fs::write(full.path().join("index.html"), "from the host\n").unwrap();
    let bind = format!("{}:/app", full.path().display());
    run_d(
        &root,
        "app",
        &["-p", "127.0.0.1::80", "-v", &bind],
        &["app:1"],
    );
    let port = crate::ports::host_port(&root, "app", "80");
    until("the page", || http_get(port));
    clean(&root, "app");
}

#[test]
fn an_exposed_port_left_unpublished_is_found() {
    let root = busybox_root();
    app_image(&root);
    let _c = cleanup(&root, &["app"]);
    run_d(&root, "app", &[], &["app:1"]);
    let f = finds(&root, "app", "exposed_unpublished");
    assert!(
        evidence(&f).contains("ports.exposed has 80/tcp, ports.bindings has none"),
        "{f}"
    );
    assert!(f["fix"].as_str().unwrap().contains("-p 8080:80"), "{f}");
}

#[test]
fn a_host_port_another_process_holds_is_found_with_its_pid() {
    let root = busybox_root();
    let _c = cleanup(&root, &["late"]);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let spec = format!("127.0.0.1:{port}:80");
    root.ok(&[
        "create", "--name", "late", "-p", &spec, "busybox", "sleep", "1000",
    ]);
    let f = finds(&root, "late", "host_port_held");
    let ev = evidence(&f);
    assert!(
        ev.contains(&format!("/proc/{}/fd: holds socket", std::process::id())),
        "{ev}"
    );
    assert!(ev.contains(&format!("127.0.0.1:{port} LISTEN")), "{ev}");
}

#[test]
fn a_created_container_whose_host_port_is_free_is_no_finding() {
    let root = busybox_root();
    let _c = cleanup(&root, &["late"]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let spec = format!("127.0.0.1:{port}:80");
    root.ok(&[
        "create", "--name", "late", "-p", &spec, "busybox", "sleep", "1000",
    ]);
    clean(&root, "late");
}

#[test]
fn a_name_looked_up_on_the_default_bridge_is_found_in_the_log() {
    let root = busybox_root();
    let _c = cleanup(&root, &["app", "db"]);
    run_d(&root, "db", &[], &["busybox", "sleep", "1000"]);
    run_d(
        &root,
        "app",
        &[],
        &["busybox", "sh", "-c", "ping -c1 -W1 db; exec sleep 1000"],
    );
    let f = finds(&root, "app", "default_bridge_name");
    let ev = evidence(&f);
    assert!(ev.contains("bad address 'db'"), "{ev}");
    assert!(ev.contains("hosts: no line names db"), "{ev}");
}

#[test]
fn names_on_a_user_network_are_no_finding() {
    let root = busybox_root();
    let _c = cleanup(&root, &["app", "db"]);
    root.ok(&["network", "create", "docnet"]);
    run_d(
        &root,
        "db",
        &["--network", "docnet"],
        &["busybox", "sleep", "1000"],
    );
    run_d(
        &root,
        "app",
        &["--network", "docnet"],
        &[
            "busybox",
            "sh",
            "-c",
            "ping -c1 -W2 db && echo reached; exec sleep 1000",
        ],
    );
    until("app to reach db", || {
        root.ok(&["logs", "app"]).contains("reached").then_some(())
    });
    clean(&root, "app");
}

#[test]
fn doctor_of_no_such_container_says_what_to_do_and_an_empty_store_is_clean() {
    let root = Root::new();
    let out = root.run(&["doctor", "nosuch"]);
    assert_eq!(out.status.code(), Some(2), "an error is not a finding");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nosuch"), "{err}");
    let out = root.run(&["doctor"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing to examine"));
    let out = root.run(&["doctor", "--format", "yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("use --format text"));
}
