//! The registry client against the reference server: Debian's
//! `docker-registry` (distribution 2.8, the code of `registry:2`), run as a
//! child on 127.0.0.1 with its own config and storage and killed by PID
//! when the test ends. glassbox pushes to it, pulls back byte-identical
//! manifests and blobs, skips what is there, logs in with htpasswd, meets a
//! bearer-token service, and fails with one clear line when the registry is
//! down or lacks what is asked for. A pull killed mid-blob leaves the
//! store unchanged and a retry completes.

use crate::archive::store_state;
use crate::support::{assert_explained, Root};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A free port on 127.0.0.1 (bound, then released for the server to take).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `docker-registry` child with its own storage; killed on drop.
pub struct DockerRegistry {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// Holds the config and the storage (removed on drop).
    _dir: tempfile::TempDir,
}

impl DockerRegistry {
    /// Starts one; with `htpasswd` = Some((user, password)) it wants basic auth.
    pub fn start(htpasswd: Option<(&str, &str)>) -> DockerRegistry {
        let dir = tempfile::Builder::new()
            .prefix("glassbox-registry-")
            .tempdir()
            .unwrap();
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut cfg = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            dir.path().join("storage").display()
        );
        if let Some((user, password)) = htpasswd {
            let file = dir.path().join("htpasswd");
            let out = Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output()
                .expect("htpasswd (apache2-utils; run scripts/install-deps.sh)");
            assert!(out.status.success());
            std::fs::write(&file, &out.stdout).unwrap();
            cfg.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: glassbox-test\n    path: {}\n",
                file.display()
            ));
        }
        let config = dir.path().join("config.yml");
        std::fs::write(&config, cfg).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry (run scripts/install-deps.sh)");
        let reg = DockerRegistry {
            child,
            addr,
            _dir: dir,
        };
        wait_for(&reg.addr);
        reg
    }

    /// `localhost:PORT`, the name references use.
    pub fn name(&self) -> String {
        self.addr.replace("127.0.0.1", "localhost")
    }
}

impl Drop for DockerRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until something answers HTTP on `addr`.
pub fn wait_for(addr: &str) {
    let start = Instant::now();
    loop {
        if let Ok((status, _, _)) = http("GET", addr, "/v2/", None) {
            if status == 200 || status == 401 {
                return;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "no registry on {addr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An HTTP answer: status, headers (names lower-cased), body.
pub type Answer = (u16, Vec<(String, String)>, Vec<u8>);

/// One raw HTTP/1.1 request.
pub fn http(method: &str, addr: &str, path: &str, accept: Option<&str>) -> std::io::Result<Answer> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let accept = accept
        .map(|a| format!("Accept: {a}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{accept}Connection: close\r\n\r\n"
    )?;
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut headers = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let mut body = Vec::new();
    if method != "HEAD" {
        let len = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse::<u64>().ok());
        match len {
            Some(n) => {
                r.take(n).read_to_end(&mut body)?;
            }
            None => {
                r.read_to_end(&mut body)?;
            }
        }
    }
    Ok((status, headers, body))
}

/// A glassbox command with its own config dir (for auth.json), so no test
/// reads or writes the real user's credentials.
pub fn gb(root: &Root, config: &Path, args: &[&str]) -> Command {
    let mut c = root.cmd(args);
    c.env("XDG_CONFIG_HOME", config)
        .env("GLASSBOX_NO_PROGRESS", "1");
    c
}

/// Runs with a JSON trace; asserts success; returns (stdout, events).
pub fn traced(root: &Root, config: &Path, args: &[&str]) -> (String, Vec<serde_json::Value>) {
    let file = root.path().join(format!("trace-{}.jsonl", free_port()));
    let mut full = vec!["--trace", "json", "--trace-file", file.to_str().unwrap()];
    full.extend_from_slice(args);
    let out = gb(root, config, &full).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    let _ = std::fs::remove_file(&file);
    let events = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (String::from_utf8_lossy(&out.stdout).into_owned(), events)
}

/// Finished `registry.<action>` events.
pub fn done<'a>(events: &'a [serde_json::Value], action: &str) -> Vec<&'a serde_json::Value> {
    events
        .iter()
        .filter(|e| e["kind"] == "registry" && e["action"] == action && e["stage"] == "done")
        .collect()
}

/// Asserts a failed command printed exactly one line containing `want`
/// and no panic or backtrace.
pub fn one_line_error(out: &Output, want: &str) -> String {
    assert!(!out.status.success(), "it succeeded");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains(want), "wanted {want:?} in: {err}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
    err
}

/// busybox in a fresh root, also tagged `REGISTRY/busybox:1`.
pub fn busybox_for(registry: &str) -> (Root, tempfile::TempDir) {
    let r = Root::new();
    r.ok(&["setup"]);
    r.ok(&["tag", "busybox", &format!("{registry}/busybox:1")]);
    (r, tempfile::tempdir().unwrap())
}

/// The store's bytes of blob `digest`.
pub fn blob(root: &Path, digest: &str) -> Vec<u8> {
    std::fs::read(root.join("blobs/sha256").join(&digest[7..])).unwrap()
}

fn inspect(root: &Root, reference: &str) -> serde_json::Value {
    let v: serde_json::Value =
        serde_json::from_str(&root.ok(&["image", "inspect", reference])).unwrap();
    v[0].clone()
}

/// The round trip of the lesson: push, list in `_catalog`, pull into a
/// fresh root; same image, byte-identical manifest and blobs, RepoDigests
/// on both sides; every event explained. Shared with the test against
/// glassbox's own server.
pub fn round_trip(registry_addr: &str, name: &str) {
    let (src, cfg) = busybox_for(name);
    let reference = format!("{name}/busybox:1");
    let (out, events) = traced(&src, cfg.path(), &["push", &reference]);
    assert!(out.contains("2 blobs uploaded"), "{out}");
    assert_explained(&events);
    let checks = done(&events, "blob_check");
    assert_eq!(checks.len(), 2);
    assert!(
        checks.iter().all(|e| e["fields"]["status"] == 404),
        "{checks:?}"
    );
    assert_eq!(done(&events, "blob_upload").len(), 2);
    let put = done(&events, "manifest_put");
    assert_eq!(put[0]["fields"]["status"], 201);
    assert_eq!(put[0]["fields"]["method"], "PUT");

    let (status, _, body) = http("GET", registry_addr, "/v2/_catalog", None).unwrap();
    assert_eq!(status, 200);
    let catalog: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(
        catalog["repositories"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "busybox"),
        "{catalog}"
    );

    let pushed = inspect(&src, &reference);
    let digest = pushed["Metadata"]["ManifestDigest"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        pushed["RepoDigests"],
        serde_json::json!([format!("{name}/busybox@{digest}")])
    );
    // What the registry serves is byte for byte what the store holds.
    let (status, headers, manifest) = http(
        "GET",
        registry_addr,
        "/v2/busybox/manifests/1",
        Some("application/vnd.oci.image.manifest.v1+json"),
    )
    .unwrap();
    assert_eq!(status, 200);
    assert_eq!(manifest, blob(src.path(), &digest));
    assert!(headers
        .iter()
        .any(|(k, v)| k == "docker-content-digest" && *v == digest));
    let layer = pushed["RootFS"]["Layers"].as_array().unwrap().len();
    assert_eq!(layer, 1);

    let dst = Root::new();
    let (out, events) = traced(&dst, cfg.path(), &["pull", &reference]);
    assert!(out.contains("2 blobs fetched"), "{out}");
    assert_explained(&events);
    assert_eq!(done(&events, "blob_verify").len(), 1);
    let pulled = inspect(&dst, &reference);
    assert_eq!(pulled["Id"], pushed["Id"]);
    assert_eq!(pulled["Metadata"], pushed["Metadata"]);
    assert_eq!(pulled["RepoDigests"], pushed["RepoDigests"]);
    let m: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    for d in std::iter::once(&m["config"]).chain(m["layers"].as_array().unwrap()) {
        let d = d["digest"].as_str().unwrap();
        assert_eq!(blob(dst.path(), d), blob(src.path(), d), "blob {d}");
        let (status, _, bytes) = http(
            "GET",
            registry_addr,
            &format!("/v2/busybox/blobs/{d}"),
            None,
        )
        .unwrap();
        assert_eq!(status, 200);
        assert_eq!(bytes, blob(src.path(), d), "registry blob {d}");
    }
    assert_eq!(blob(dst.path(), &digest), manifest);
    dst.ok(&["store", "verify"]);

    // Pushing again sends nothing: every HEAD answers 200.
    let (out, events) = traced(&src, cfg.path(), &["push", &reference]);
    assert!(out.contains("0 blobs uploaded, 2 already there"), "{out}");
    assert!(done(&events, "blob_check")
        .iter()
        .all(|e| e["fields"]["status"] == 200));
    assert!(done(&events, "blob_upload").is_empty());
}

#[test]
fn push_then_pull_through_docker_registry_is_byte_identical() {
    let reg = DockerRegistry::start(None);
    round_trip(&reg.addr, &reg.name());
}

#[test]
fn a_push_to_another_repository_mounts_the_blobs_it_already_sent() {
    let reg = DockerRegistry::start(None);
    let (src, cfg) = busybox_for(&reg.name());
    gb(
        &src,
        cfg.path(),
        &["push", &format!("{}/busybox:1", reg.name())],
    )
    .output()
    .unwrap();
    let other = format!("{}/team/tools:2", reg.name());
    src.ok(&["tag", "busybox", &other]);
    let (out, events) = traced(&src, cfg.path(), &["push", &other]);
    assert!(out.contains("2 mounted"), "{out}");
    let mounts = done(&events, "blob_mount");
    assert_eq!(mounts.len(), 2);
    assert!(mounts
        .iter()
        .all(|e| e["fields"]["status"] == 201 && e["fields"]["from"] == "busybox"));
    assert!(done(&events, "blob_upload").is_empty());
}

#[test]
fn unknown_repository_and_tag_are_one_line_with_the_spec_code() {
    let reg = DockerRegistry::start(None);
    let (src, cfg) = busybox_for(&reg.name());
    let before = store_state(src.path());
    let out = gb(
        &src,
        cfg.path(),
        &["pull", &format!("{}/nothing:1", reg.name())],
    )
    .output()
    .unwrap();
    // distribution answers an unknown repository's manifest with
    // MANIFEST_UNKNOWN; the spec also allows NAME_UNKNOWN.
    let err = one_line_error(&out, "answered GET /v2/nothing/manifests/1 with 404 ");
    assert!(
        err.contains("MANIFEST_UNKNOWN") || err.contains("NAME_UNKNOWN"),
        "{err}"
    );
    gb(
        &src,
        cfg.path(),
        &["push", &format!("{}/busybox:1", reg.name())],
    )
    .output()
    .unwrap();
    let before_tag = store_state(src.path());
    let out = gb(
        &src,
        cfg.path(),
        &["pull", &format!("{}/busybox:nope", reg.name())],
    )
    .output()
    .unwrap();
    one_line_error(&out, "404 MANIFEST_UNKNOWN");
    assert_eq!(store_state(src.path()), before_tag);
    assert_eq!(before.0, store_state(src.path()).0);
}

#[test]
fn a_registry_that_is_down_is_one_clear_line() {
    let port = free_port();
    let (src, cfg) = busybox_for(&format!("127.0.0.1:{port}"));
    let out = gb(
        &src,
        cfg.path(),
        &["push", &format!("127.0.0.1:{port}/busybox:1")],
    )
    .output()
    .unwrap();
    one_line_error(
        &out,
        &format!("cannot reach 127.0.0.1:{port}: connection refused — is the registry running?"),
    );
    let out = gb(
        &src,
        cfg.path(),
        &["pull", &format!("127.0.0.1:{port}/busybox:1")],
    )
    .output()
    .unwrap();
    one_line_error(&out, "connection refused");
}

#[test]
fn login_with_htpasswd_wrong_password_and_logout() {
    let reg = DockerRegistry::start(Some(("student", "s3cret")));
    let (src, cfg) = busybox_for(&reg.name());
    let reference = format!("{}/busybox:1", reg.name());
    let auth = cfg.path().join("glassbox/auth.json");

    let out = gb(&src, cfg.path(), &["push", &reference])
        .output()
        .unwrap();
    one_line_error(&out, &format!("run `glassbox login {}` first", reg.name()));

    let login = |password: &str| {
        let mut c = gb(
            &src,
            cfg.path(),
            &["login", &reg.name(), "-u", "student", "--password-stdin"],
        );
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{password}\n").as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let out = login("wrong");
    one_line_error(
        &out,
        "refused the credentials for student (401 UNAUTHORIZED)",
    );
    assert!(!auth.exists(), "a refused login stored nothing");

    let out = login("s3cret");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&auth).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&auth).unwrap()).unwrap();
    assert_eq!(v["auths"][reg.name()]["auth"], "c3R1ZGVudDpzM2NyZXQ="); // base64("student:s3cret")

    let (out, events) = traced(&src, cfg.path(), &["push", &reference]);
    assert!(out.contains("2 blobs uploaded"), "{out}");
    assert_explained(&events);
    let challenge = events
        .iter()
        .find(|e| e["action"] == "challenge")
        .expect("a 401 challenge event");
    assert_eq!(challenge["fields"]["scheme"], "basic");
    let dst = Root::new();
    let (_, _) = traced(&dst, cfg.path(), &["pull", &reference]);

    let out = gb(&src, cfg.path(), &["logout", &reg.name()])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&auth).unwrap()).unwrap();
    assert!(v["auths"].get(reg.name()).is_none(), "{v}");
    let out = gb(&dst, cfg.path(), &["pull", &reference])
        .output()
        .unwrap();
    one_line_error(&out, "401 UNAUTHORIZED");
}

/// A token service and gate in front of a docker-registry: requests need
/// `Authorization: Bearer TOKEN` (else 401 with a Bearer challenge naming
/// the realm `/token` on this same address); `/token` hands out TOKEN for
/// the right basic credentials; authorised requests are forwarded to the
/// registry. This is the token dance of the distribution spec, done by the
/// test: distribution's own token auth needs a signing certificate and
/// JWTs, which this gate does not reproduce.
struct TokenGate {
    addr: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The token for `/v2/` alone (a login), and the one for `busybox`.
const LOGIN_TOKEN: &str = "token-login";
const REPO_TOKEN: &str = "token-busybox";

impl TokenGate {
    fn start(upstream: String) -> TokenGate {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        listener.set_nonblocking(true).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (stop2, addr2) = (stop.clone(), addr.clone());
        let thread = std::thread::spawn(move || {
            while !stop2.load(std::sync::atomic::Ordering::SeqCst) {
                match listener.accept() {
                    Ok((s, _)) => {
                        let (up, me) = (upstream.clone(), addr2.clone());
                        std::thread::spawn(move || {
                            let _ = gate(s, &up, &me);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        TokenGate {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for TokenGate {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn gate(client: TcpStream, upstream: &str, me: &str) -> std::io::Result<()> {
    client.set_nonblocking(false)?;
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        if line == "\r\n" {
            break;
        }
        head.push(line);
    }
    let target = head[0].split_whitespace().nth(1).unwrap_or("/").to_string();
    let header = |name: &str| {
        head.iter().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    };
    let auth = header("authorization").unwrap_or_default();
    let mut out = client.try_clone()?;
    if target.starts_with("/token") {
        let ok = auth == "Basic c3R1ZGVudDpzM2NyZXQ="; // student:s3cret
        let token = if target.contains("scope=repository%3Abusybox%3A") {
            REPO_TOKEN
        } else {
            LOGIN_TOKEN
        };
        let body = if ok {
            format!("{{\"token\":\"{token}\"}}")
        } else {
            "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"bad credentials\"}]}".into()
        };
        let status = if ok { "200 OK" } else { "401 Unauthorized" };
        write!(
            out,
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        return Ok(());
    }
    let allowed = auth == format!("Bearer {REPO_TOKEN}")
        || (target == "/v2/" && auth == format!("Bearer {LOGIN_TOKEN}"));
    if !allowed {
        let scope = if target.starts_with("/v2/busybox/") {
            ",scope=\"repository:busybox:pull,push\""
        } else {
            ""
        };
        let body =
            "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"authentication required\"}]}";
        write!(
            out,
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"http://{me}/token\",service=\"glassbox-test\"{scope}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        // Drain a request body the client may still be sending.
        let _ = reader.get_ref().shutdown(std::net::Shutdown::Write);
        return Ok(());
    }
    // Forward the request, one per connection.
    let mut up = TcpStream::connect(upstream)?;
    let mut fwd = String::new();
    for l in &head {
        let lower = l.to_ascii_lowercase();
        if lower.starts_with("connection:") || lower.starts_with("authorization:") {
            continue;
        }
        fwd.push_str(l);
    }
    fwd.push_str("Connection: close\r\n\r\n");
    up.write_all(fwd.as_bytes())?;
    let len: u64 = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    std::io::copy(&mut (&mut reader).take(len), &mut up)?;
    std::io::copy(&mut up, &mut out)?;
    out.shutdown(std::net::Shutdown::Both)?;
    Ok(())
}

#[test]
fn the_bearer_token_dance_fetches_a_token_and_retries() {
    let reg = DockerRegistry::start(None);
    let gate = TokenGate::start(reg.addr.clone());
    let port = gate.addr.rsplit(':').next().unwrap().to_string();
    let name = format!("localhost:{port}");
    let (src, cfg) = busybox_for(&name);
    let reference = format!("{name}/busybox:1");

    let mut c = gb(
        &src,
        cfg.path(),
        &["login", &name, "-u", "student", "--password-stdin"],
    );
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"wrong\n").unwrap();
    one_line_error(
        &child.wait_with_output().unwrap(),
        "refused the credentials for student",
    );
    let mut c = gb(
        &src,
        cfg.path(),
        &["login", &name, "-u", "student", "--password-stdin"],
    );
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"s3cret\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (out, events) = traced(&src, cfg.path(), &["push", &reference]);
    assert!(out.contains("2 blobs uploaded"), "{out}");
    assert_explained(&events);
    let challenges: Vec<_> = events
        .iter()
        .filter(|e| e["action"] == "challenge")
        .collect();
    assert!(challenges.iter().all(|c| c["fields"]["scheme"] == "bearer"));
    let tokens = done(&events, "token");
    assert!(!tokens.is_empty(), "a token was fetched");
    assert!(tokens.iter().any(|t| t["fields"]["status"] == 200
        && t["fields"]["scopes"] == serde_json::json!(["repository:busybox:pull,push"])));

    let dst = Root::new();
    let (out, _) = traced(&dst, cfg.path(), &["pull", &reference]);
    assert!(out.contains("2 blobs fetched"), "{out}");
    let want = inspect(&src, &reference);
    assert_eq!(inspect(&dst, &reference)["Id"], want["Id"]);
}

/// `mib` MiB of seeded, incompressible bytes as a one-layer image `tag`.
pub fn big_image(root: &Root, tag: &str, mib: usize) -> PathBuf {
    let tree = root.path().join("big.tar");
    crate::archive_crash::random_tar(&tree, mib);
    root.ok(&["import", tree.to_str().unwrap(), tag]);
    tree
}

#[test]
fn a_pull_killed_mid_blob_leaves_the_store_unchanged_and_a_retry_completes() {
    let reg = DockerRegistry::start(None);
    let src = Root::new();
    let cfg = tempfile::tempdir().unwrap();
    let reference = format!("{}/big:1", reg.name());
    big_image(&src, &reference, 48);
    let out = gb(&src, cfg.path(), &["push", &reference])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pushed = inspect(&src, &reference);
    let manifest: serde_json::Value = serde_json::from_slice(&blob(
        src.path(),
        pushed["Metadata"]["ManifestDigest"].as_str().unwrap(),
    ))
    .unwrap();
    let layer_size = manifest["layers"][0]["size"].as_u64().unwrap();

    let dst = Root::new();
    dst.ok(&["setup"]);
    let before = store_state(dst.path());
    let tmp = dst.path().join("tmp");
    let mut killed_mid_blob = false;
    for _attempt in 0..5 {
        let mut child = KillOnDrop(
            gb(&dst, cfg.path(), &["pull", "--jobs", "1", &reference])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        // Wait until a blob is streaming into tmp/, then kill the pull.
        let start = Instant::now();
        let partial = loop {
            let biggest = std::fs::read_dir(&tmp)
                .unwrap()
                .filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .max()
                .unwrap_or(0);
            if biggest > 1 << 20 {
                break biggest;
            }
            if start.elapsed() > Duration::from_secs(30) || child.0.try_wait().unwrap().is_some() {
                break 0;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.0.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        let status = child.0.wait().unwrap();
        if partial > 0 && partial < layer_size && !status.success() {
            killed_mid_blob = true;
            break;
        }
        // The pull won the race; start over from an unchanged store.
        dst.ok(&["rmi", &reference]);
    }
    assert!(killed_mid_blob, "never caught the pull mid-blob");
    // The next command sweeps the killed pull's temp files; nothing else moved.
    dst.ok(&["images"]);
    assert_eq!(store_state(dst.path()), before);
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
    dst.ok(&["store", "verify"]);

    let out = gb(&dst, cfg.path(), &["pull", &reference])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        inspect(&dst, &reference)["Id"],
        inspect(&src, &reference)["Id"]
    );
    dst.ok(&["store", "verify"]);
}

/// Kills the child on drop unless it was already waited for.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `glassbox registry serve` as a child on a free port; killed on drop.
pub struct GlassboxRegistry {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    _dir: tempfile::TempDir,
}

impl GlassboxRegistry {
    /// Starts one with its own storage.
    pub fn start() -> GlassboxRegistry {
        GlassboxRegistry::start_with(&[])
    }

    /// Starts one with its own storage that asks for the logins in the
    /// htpasswd file `htpasswd`.
    pub fn start_with_htpasswd(htpasswd: &Path) -> GlassboxRegistry {
        GlassboxRegistry::start_with(&["--htpasswd".as_ref(), htpasswd.as_os_str()])
    }

    fn start_with(extra: &[&std::ffi::OsStr]) -> GlassboxRegistry {
        let dir = tempfile::Builder::new()
            .prefix("glassbox-own-registry-")
            .tempdir()
            .unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let child = Command::new(crate::support::bin())
            .args([
                "--trace",
                "off",
                "registry",
                "serve",
                "--addr",
                &addr,
                "--storage",
            ])
            .arg(dir.path().join("storage"))
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let reg = GlassboxRegistry {
            child,
            addr,
            _dir: dir,
        };
        wait_for(&reg.addr);
        reg
    }
}

impl Drop for GlassboxRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn push_then_pull_through_glassboxs_own_registry_is_byte_identical() {
    let reg = GlassboxRegistry::start();
    round_trip(&reg.addr, &reg.addr.replace("127.0.0.1", "localhost"));
}

/// The biggest upload in progress under a distribution storage dir.
fn biggest_upload(storage: &Path) -> u64 {
    fn walk(p: &Path, in_uploads: bool, best: &mut u64) {
        let Ok(rd) = std::fs::read_dir(p) else { return };
        for e in rd.flatten() {
            let path = e.path();
            let up = in_uploads || e.file_name() == "_uploads";
            match e.metadata() {
                Ok(m) if m.is_dir() => walk(&path, up, best),
                Ok(m) if up && e.file_name() == "data" => *best = (*best).max(m.len()),
                _ => {}
            }
        }
    }
    let mut best = 0;
    walk(storage, false, &mut best);
    best
}

/// A push killed while a layer streams leaves the local store as it was
/// and no tag on the registry; pushing again completes it.
#[test]
fn a_push_killed_mid_blob_changes_nothing_and_a_retry_completes() {
    let reg = DockerRegistry::start(None);
    let storage = reg._dir.path().join("storage");
    let src = Root::new();
    let cfg = tempfile::tempdir().unwrap();
    let reference = format!("{}/bigpush:1", reg.name());
    big_image(&src, &reference, 48);
    let before = store_state(src.path());
    let mut killed_mid_blob = false;
    for _attempt in 0..5 {
        let mut child = KillOnDrop(
            gb(&src, cfg.path(), &["push", "--jobs", "1", &reference])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let start = Instant::now();
        let partial = loop {
            let n = biggest_upload(&storage);
            if n > 1 << 20 {
                break n;
            }
            if start.elapsed() > Duration::from_secs(30) || child.0.try_wait().unwrap().is_some() {
                break 0;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.0.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        let status = child.0.wait().unwrap();
        let (tag_status, _, _) = http(
            "GET",
            &reg.addr,
            "/v2/bigpush/manifests/1",
            Some(OCI_MANIFEST),
        )
        .unwrap();
        if partial > 0 && !status.success() && tag_status == 404 {
            killed_mid_blob = true;
            break;
        }
    }
    assert!(killed_mid_blob, "never caught the push mid-blob");
    assert_eq!(store_state(src.path()), before);
    src.ok(&["store", "verify"]);

    let out = gb(&src, cfg.path(), &["push", &reference])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, _, _) = http(
        "GET",
        &reg.addr,
        "/v2/bigpush/manifests/1",
        Some(OCI_MANIFEST),
    )
    .unwrap();
    assert_eq!(status, 200);
    let dst = Root::new();
    let out = gb(&dst, cfg.path(), &["pull", &reference])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        inspect(&dst, &reference)["Id"],
        inspect(&src, &reference)["Id"]
    );
}

/// The manifest type glassbox pushes (distribution answers 404 to a GET
/// that does not accept it).
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
