//! glassbox's registry server, checked from the outside: skopeo (a client
//! nobody here wrote) copies an image into it and back byte for byte (the
//! differential suite against distribution is in `registry_diff.rs`, with
//! the raw HTTP helpers from here); bad input (unknown names, digest mismatches, path traversal,
//! wrong passwords) is refused with the spec's codes and stores nothing;
//! 20 concurrent pulls all get the right bytes. Only 127.0.0.1 is used.

use crate::support::{assert_explained, Root};
use glassbox::registry::server::{serve, Options, Server};
use sha2::Digest as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------- helpers

/// One raw HTTP/1.1 exchange's answer.
#[derive(Debug)]
pub(crate) struct Resp {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Resp {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The spec's `errors[0].code`, if the body has one.
    pub(crate) fn code(&self) -> Option<String> {
        let v: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
        v["errors"][0]["code"].as_str().map(str::to_string)
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// Sends one request on a fresh connection (`Connection: close`) and reads
/// the whole answer. `target` may be a path or an absolute URL (as
/// distribution's `Location` headers are).
pub(crate) fn http(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let path = match target.strip_prefix("http://") {
        Some(rest) => &rest[rest.find('/').unwrap_or(rest.len())..],
        None => target,
    };
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    if !body.is_empty() || matches!(method, "PUT" | "POST" | "PATCH") {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .unwrap_or_else(|e| panic!("{method} {target} on {addr}: {e}"));
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete head");
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Resp {
        status,
        headers,
        body: raw[end + 4..].to_vec(),
    }
}

/// Sends a request with `Expect: 100-continue`, and its body only if the
/// server says go: a server that answers without reading the body (as
/// distribution 2.8 does for a POST with ?digest=) then never has unread
/// bytes on the socket, so it cannot reset the connection under the answer.
pub(crate) fn http_expect_continue(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &[u8],
) -> Resp {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = std::io::BufReader::new(s);
    write!(
        w,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/octet-stream\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    let first = read_response(&mut r, method == "HEAD");
    if first.status != 100 {
        return first;
    }
    w.write_all(body).unwrap();
    read_response(&mut r, method == "HEAD")
}

pub(crate) fn sha(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// Adds a query parameter to a Location that may already have some.
pub(crate) fn with_query(loc: &str, kv: &str) -> String {
    format!("{loc}{}{kv}", if loc.contains('?') { '&' } else { '?' })
}

/// glassbox's server on a free port with its own storage.
pub(crate) struct Glassbox {
    server: Server,
    dir: tempfile::TempDir,
}

impl Glassbox {
    pub(crate) fn start(htpasswd: Option<PathBuf>) -> Glassbox {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = Options::new(dir.path().join("storage"));
        opts.htpasswd = htpasswd;
        let server = serve("127.0.0.1:0", opts).expect("start the registry");
        Glassbox { server, dir }
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    pub(crate) fn storage(&self) -> PathBuf {
        self.dir.path().join("storage")
    }
}

/// Pushes one blob with a monolithic POST; asserts 201.
pub(crate) fn push_blob(addr: SocketAddr, repo: &str, bytes: &[u8]) -> String {
    let d = sha(bytes);
    let r = http(
        addr,
        "POST",
        &format!("/v2/{repo}/blobs/uploads/?digest={d}"),
        &[("Content-Type", "application/octet-stream")],
        bytes,
    );
    assert_eq!(r.status, 201, "monolithic upload: {r:?}");
    d
}

pub(crate) fn oci_manifest(config: &[u8], layer: &[u8]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha(layer), "size": layer.len()}]
    }))
    .unwrap()
}

pub(crate) const OCI: &str = "application/vnd.oci.image.manifest.v1+json";

pub(crate) fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().unwrap().is_dir() {
                out.extend(files_under(&e.path()));
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

// ------------------------------------------------------------------ tests

#[test]
fn skopeo_copies_an_image_in_and_out_byte_for_byte() {
    let root = Root::new();
    root.ok(&["setup"]);
    let capture = glassbox::trace::capture();
    let reg = Glassbox::start(None);
    let dest = format!("docker://{}/lessons/busybox:1", reg.addr());
    let out = Command::new("skopeo")
        .args(["copy", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:busybox:latest", root.path().display()))
        .arg(&dest)
        .output()
        .expect("skopeo is installed by scripts/install-deps.sh");
    assert!(
        out.status.success(),
        "skopeo push: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let back = tempfile::tempdir().unwrap();
    let out = Command::new("skopeo")
        .args(["copy", "--src-tls-verify=false"])
        .arg(&dest)
        .arg(format!("oci:{}:1", back.path().display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo pull: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The same manifest (same digest), and every blob identical.
    let index = |p: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(p.join("index.json")).unwrap()).unwrap()
    };
    let (src, dst) = (index(root.path()), index(back.path()));
    let src_digest = src["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == "busybox:latest")
        .unwrap()["digest"]
        .clone();
    assert_eq!(dst["manifests"][0]["digest"], src_digest);
    for f in files_under(&back.path().join("blobs/sha256")) {
        let mine = root
            .path()
            .join("blobs/sha256")
            .join(f.file_name().unwrap());
        assert_eq!(
            std::fs::read(&f).unwrap(),
            std::fs::read(&mine).unwrap(),
            "{}",
            f.display()
        );
    }
    // The catalog and tags list name what was pushed.
    let cat = http(reg.addr(), "GET", "/v2/_catalog", &[], b"");
    assert_eq!(
        cat.json(),
        serde_json::json!({"repositories": ["lessons/busybox"]})
    );
    let tags = http(reg.addr(), "GET", "/v2/lessons/busybox/tags/list", &[], b"");
    assert_eq!(tags.json()["tags"], serde_json::json!(["1"]));
    // Every request was an explained event, and the blobs were verified.
    drop(reg);
    let events: Vec<serde_json::Value> = capture
        .events()
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .collect();
    assert_explained(&events);
    let actions: Vec<&str> = events.iter().filter_map(|e| e["action"].as_str()).collect();
    for a in [
        "listen",
        "answer",
        "accept_blob",
        "accept_manifest",
        "shutdown",
    ] {
        assert!(actions.contains(&a), "no registry.{a} event in {actions:?}");
    }
    let put = events
        .iter()
        .find(|e| {
            e["action"] == "answer"
                && e["fields"]["method"] == "PUT"
                && e["fields"]["path"] == "/v2/lessons/busybox/manifests/1"
        })
        .expect("the manifest PUT is narrated");
    assert_eq!(put["fields"]["status"], 201);
    assert!(put["fields"]["meaning"]
        .as_str()
        .unwrap()
        .contains("now names manifest"));
}

#[test]
fn a_digest_mismatch_is_refused_and_stores_nothing() {
    let reg = Glassbox::start(None);
    let claimed = sha(b"the bytes the client promised");
    let r = http(
        reg.addr(),
        "POST",
        &format!("/v2/lab/app/blobs/uploads/?digest={claimed}"),
        &[],
        b"other bytes entirely",
    );
    assert_eq!(
        (r.status, r.code().as_deref()),
        (400, Some("DIGEST_INVALID"))
    );
    assert!(String::from_utf8_lossy(&r.body).contains(&sha(b"other bytes entirely")));
    assert!(
        files_under(&reg.storage().join("blobs")).is_empty(),
        "a blob was stored"
    );
    assert!(
        files_under(&reg.storage().join("_uploads")).is_empty(),
        "the upload was kept"
    );
    let r = http(
        reg.addr(),
        "HEAD",
        &format!("/v2/lab/app/blobs/{claimed}"),
        &[],
        b"",
    );
    assert_eq!(r.status, 404);
}

#[test]
fn a_chunk_at_the_wrong_offset_gets_416_and_the_upload_goes_on() {
    let reg = Glassbox::start(None);
    let a = reg.addr();
    let data = b"0123456789abcdefghij";
    let r = http(a, "POST", "/v2/lab/chunks/blobs/uploads/", &[], b"");
    let loc = r.header("Location").unwrap().to_string();
    let r = http(a, "PATCH", &loc, &[("Content-Range", "0-9")], &data[..10]);
    assert_eq!((r.status, r.header("Range")), (202, Some("0-9")));
    let r = http(a, "PATCH", &loc, &[("Content-Range", "5-14")], &data[5..15]);
    assert_eq!(
        (r.status, r.code().as_deref()),
        (416, Some("RANGE_INVALID"))
    );
    assert_eq!(
        r.header("Range"),
        Some("0-9"),
        "the refusal says where to resume"
    );
    let r = http(
        a,
        "PUT",
        &with_query(&loc, &format!("digest={}", sha(data))),
        &[("Content-Range", "10-19")],
        &data[10..],
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.header("Docker-Content-Digest"), Some(sha(data).as_str()));
}

#[test]
fn lists_paginate_with_link_headers() {
    let reg = Glassbox::start(None);
    let a = reg.addr();
    let config = b"{}".to_vec();
    let layer = b"layer".to_vec();
    for repo in ["p/one", "p/two", "p/three"] {
        push_blob(a, repo, &config);
        push_blob(a, repo, &layer);
    }
    let manifest = oci_manifest(&config, &layer);
    for t in ["a", "b", "c", "d", "e"] {
        let r = http(
            a,
            "PUT",
            &format!("/v2/p/one/manifests/{t}"),
            &[("Content-Type", OCI)],
            &manifest,
        );
        assert_eq!(r.status, 201);
    }
    let mut seen = Vec::new();
    let mut next = Some("/v2/p/one/tags/list?n=2".to_string());
    while let Some(url) = next.take() {
        let r = http(a, "GET", &url, &[], b"");
        assert_eq!(r.status, 200);
        for t in r.json()["tags"].as_array().unwrap() {
            seen.push(t.as_str().unwrap().to_string());
        }
        next = r.header("Link").map(|l| {
            l.trim_start_matches('<')
                .split('>')
                .next()
                .unwrap()
                .to_string()
        });
    }
    assert_eq!(seen, ["a", "b", "c", "d", "e"]);
    let r = http(a, "GET", "/v2/_catalog?n=2", &[], b"");
    assert_eq!(
        r.json()["repositories"],
        serde_json::json!(["p/one", "p/three"])
    );
    assert_eq!(
        r.header("Link"),
        Some("</v2/_catalog?last=p%2Fthree&n=2>; rel=\"next\"")
    );
    let r = http(a, "GET", "/v2/_catalog?n=2&last=p%2Fthree", &[], b"");
    assert_eq!(r.json()["repositories"], serde_json::json!(["p/two"]));
    assert!(r.header("Link").is_none());
}

#[test]
fn unknown_names_and_bad_names_get_the_spec_codes() {
    let reg = Glassbox::start(None);
    let cases = [
        (
            "GET",
            "/v2/nobody/tags/list".to_string(),
            404,
            "NAME_UNKNOWN",
        ),
        (
            "GET",
            "/v2/nobody/manifests/latest".to_string(),
            404,
            "MANIFEST_UNKNOWN",
        ),
        (
            "GET",
            format!("/v2/nobody/blobs/{}", sha(b"x")),
            404,
            "BLOB_UNKNOWN",
        ),
        (
            "GET",
            "/v2/nobody/blobs/sha256:nothex".to_string(),
            400,
            "DIGEST_INVALID",
        ),
        (
            "DELETE",
            "/v2/nobody/blobs/uploads/0123456789abcdef0123456789abcdef".to_string(),
            404,
            "BLOB_UPLOAD_UNKNOWN",
        ),
        (
            "PATCH",
            "/v2/nobody/blobs/uploads/0123456789abcdef0123456789abcdef".to_string(),
            404,
            "BLOB_UPLOAD_UNKNOWN",
        ),
        (
            "GET",
            "/v2/UPPER/tags/list".to_string(),
            400,
            "NAME_INVALID",
        ),
        (
            "GET",
            "/v2/a/../../../etc/tags/list".to_string(),
            400,
            "NAME_INVALID",
        ),
        (
            "POST",
            "/v2/%2e%2e/%2e%2e/escape/blobs/uploads/".to_string(),
            400,
            "NAME_INVALID",
        ),
        (
            "GET",
            "/v2/_catalog?n=lots".to_string(),
            400,
            "PAGINATION_NUMBER_INVALID",
        ),
        (
            "PUT",
            "/v2/x/manifests/latest".to_string(),
            400,
            "MANIFEST_INVALID",
        ),
        ("DELETE", "/v2/".to_string(), 405, "UNSUPPORTED"),
    ];
    for (m, path, status, code) in cases {
        let r = http(reg.addr(), m, &path, &[], b"");
        assert_eq!(
            (r.status, r.code()),
            (status, Some(code.to_string())),
            "{m} {path}"
        );
    }
    // Nothing was created outside (or inside) the storage directory.
    assert!(!reg.dir.path().join("escape").exists());
    assert!(
        files_under(&reg.storage()).is_empty(),
        "{:?}",
        files_under(&reg.storage())
    );
}

#[test]
fn htpasswd_users_get_in_and_wrong_passwords_get_401() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("htpasswd");
    std::fs::write(
        &file,
        format!("student:{}\n", bcrypt::hash("s3cret", 5).unwrap()),
    )
    .unwrap();
    let reg = Glassbox::start(Some(file));
    use base64::Engine as _;
    let basic = |up: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(up)
        )
    };
    let r = http(reg.addr(), "GET", "/v2/", &[], b"");
    assert_eq!((r.status, r.code().as_deref()), (401, Some("UNAUTHORIZED")));
    assert!(
        r.header("WWW-Authenticate")
            .unwrap()
            .starts_with("Basic realm="),
        "{r:?}"
    );
    let r = http(
        reg.addr(),
        "GET",
        "/v2/_catalog",
        &[("Authorization", &basic("student:wrong"))],
        b"",
    );
    assert_eq!(r.status, 401);
    assert!(r.header("WWW-Authenticate").is_some());
    let r = http(
        reg.addr(),
        "GET",
        "/v2/_catalog",
        &[("Authorization", &basic("student:s3cret"))],
        b"",
    );
    assert_eq!(r.status, 200);
    // skopeo with the right credentials pushes; with wrong ones it fails.
    let root = Root::new();
    root.ok(&["setup"]);
    let push = |creds: &str| {
        Command::new("skopeo")
            .args(["copy", "--dest-tls-verify=false", "--dest-creds", creds])
            .arg(format!("oci:{}:busybox:latest", root.path().display()))
            .arg(format!("docker://{}/auth/busybox:1", reg.addr()))
            .output()
            .unwrap()
    };
    assert!(!push("student:wrong").status.success());
    let ok = push("student:s3cret");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
}

#[test]
fn twenty_concurrent_pulls_get_the_right_bytes() {
    let reg = Glassbox::start(None);
    let blob: Vec<u8> = (0..8 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let d = push_blob(reg.addr(), "load/big", &blob);
    let addr = reg.addr();
    let threads: Vec<_> = (0..20)
        .map(|_| {
            let d = d.clone();
            std::thread::spawn(move || {
                let r = http(addr, "GET", &format!("/v2/load/big/blobs/{d}"), &[], b"");
                (r.status, sha(&r.body))
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), (200, d.clone()));
    }
}

#[test]
fn the_serve_command_answers_and_stops_on_sigterm() {
    let root = Root::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut child = root
        .cmd(&["registry", "serve", "--addr", &addr.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    struct Kill<'a>(&'a mut Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let guard = Kill(&mut child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "registry serve did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(http(addr, "GET", "/v2/", &[], b"").status, 200);
    // Storage defaults to ROOT/registry.
    push_blob(addr, "cli/test", b"hello");
    assert!(root
        .path()
        .join("registry/blobs/sha256")
        .join(&sha(b"hello")[7..])
        .exists());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(guard.0.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = guard.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let mut out = String::new();
    guard
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(
        out.contains("listening") && out.contains("stopped (SIGTERM)"),
        "{out}"
    );
}

/// `registry:2` from `glassbox setup --registry` runs as a container on the
/// default bridge and serves the same API at the container's own address
/// (port 5000, as the real registry:2) and through `-p HOST:5000`;
/// `glassbox stop` ends it cleanly and `glassbox logs` tells what each
/// request meant.
#[test]
fn the_registry_image_serves_as_a_container() {
    let root = Root::new();
    let out = root.ok(&["setup", "--registry"]);
    assert!(out.contains("registry:2 sha256:"), "{out}");
    // Reproducible: a second root gets the same image.
    let again = Root::new().ok(&["setup", "--registry"]);
    assert_eq!(out, again);
    struct Remove<'a>(&'a Root);
    impl Drop for Remove<'_> {
        fn drop(&mut self) {
            let _ = self.0.run(&["rm", "-f", "regtest"]);
        }
    }
    root.ok(&["run", "-d", "--name", "regtest", "registry:2"]);
    let _guard = Remove(&root);
    let inspect = |root: &Root| -> serde_json::Value {
        let v: serde_json::Value = serde_json::from_str(&root.ok(&["inspect", "regtest"])).unwrap();
        if v.is_array() {
            v[0].clone()
        } else {
            v
        }
    };
    let ip = inspect(&root)["NetworkSettings"]["IPAddress"]
        .as_str()
        .expect("the container has an address on the bridge")
        .to_string();
    let addr: SocketAddr = format!("{ip}:5000").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(
            Instant::now() < deadline,
            "the registry container did not answer at {addr}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let d = push_blob(addr, "boxed/app", b"from inside a container");
    let r = http(addr, "GET", &format!("/v2/boxed/app/blobs/{d}"), &[], b"");
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, &b"from inside a container"[..])
    );
    // Published as the issue's walk-through does it: -p HOST:5000.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    struct RemovePublished<'a>(&'a Root);
    impl Drop for RemovePublished<'_> {
        fn drop(&mut self) {
            let _ = self.0.run(&["rm", "-f", "regpub"]);
        }
    }
    root.ok(&[
        "run",
        "-d",
        "-p",
        &format!("{port}:5000"),
        "--name",
        "regpub",
        "registry:2",
    ]);
    let _published = RemovePublished(&root);
    let published: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    // Wait for the server itself (at its own address) before going
    // through the proxy, so the proxy never forwards to a port not yet open.
    let v: serde_json::Value = serde_json::from_str(&root.ok(&["inspect", "regpub"])).unwrap();
    let v = if v.is_array() { v[0].clone() } else { v };
    let own: SocketAddr = format!(
        "{}:5000",
        v["NetworkSettings"]["IPAddress"].as_str().unwrap()
    )
    .parse()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect_timeout(&own, Duration::from_millis(200)).is_err() {
        assert!(
            Instant::now() < deadline,
            "the published registry did not start at {own}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(http(published, "GET", "/v2/", &[], b"").status, 200);
    let d2 = push_blob(published, "published/app", b"through the published port");
    let r = http(
        published,
        "HEAD",
        &format!("/v2/published/app/blobs/{d2}"),
        &[],
        b"",
    );
    assert_eq!(r.status, 200);
    root.ok(&["rm", "-f", "regpub"]);
    root.ok(&["stop", "regtest"]);
    let logs = root.ok(&["logs", "regtest"]);
    assert!(logs.contains("stopped (SIGTERM)"), "{logs}");
    assert_eq!(inspect(&root)["State"]["ExitCode"], 0);
}

/// Reads one response from a kept-alive connection (by Content-Length).
pub(crate) fn read_response(r: &mut std::io::BufReader<TcpStream>, head_only: bool) -> Resp {
    use std::io::BufRead;
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status = line
        .split(' ')
        .nth(1)
        .expect("a status line")
        .parse()
        .unwrap();
    let mut headers = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (n, v) = l.split_once(':').unwrap();
        headers.push((n.trim().to_string(), v.trim().to_string()));
    }
    let mut resp = Resp {
        status,
        headers,
        body: Vec::new(),
    };
    let len: usize = resp
        .header("Content-Length")
        .unwrap_or("0")
        .parse()
        .unwrap();
    if !head_only {
        resp.body = vec![0; len];
        r.read_exact(&mut resp.body).unwrap();
    }
    resp
}

/// One connection, several requests: a chunked (Transfer-Encoding) PATCH,
/// an `Expect: 100-continue` PUT that waits for the go-ahead, a HEAD and a
/// GET, all answered in order on the same socket.
#[test]
fn one_connection_carries_chunked_bodies_and_expect_continue() {
    let reg = Glassbox::start(None);
    let a = reg.addr();
    let data = b"hello, chunked world";
    let d = sha(data);
    let loc = http(a, "POST", "/v2/wire/test/blobs/uploads/", &[], b"")
        .header("Location")
        .unwrap()
        .to_string();
    let s = TcpStream::connect(a).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = std::io::BufReader::new(s);
    // Two chunks of the first 12 bytes, then the terminating chunk.
    write!(
        w,
        "PATCH {loc} HTTP/1.1\r\nHost: {a}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7;ext=1\r\n, chunk\r\n0\r\n\r\n"
    )
    .unwrap();
    let resp = read_response(&mut r, false);
    assert_eq!(
        (resp.status, resp.header("Range")),
        (202, Some("0-11")),
        "{resp:?}"
    );
    // Expect: 100-continue: the server says go before the body is sent.
    let rest = &data[12..];
    write!(
        w,
        "PUT {loc}?digest={d} HTTP/1.1\r\nHost: {a}\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        rest.len()
    )
    .unwrap();
    let cont = read_response(&mut r, true);
    assert_eq!(cont.status, 100);
    w.write_all(rest).unwrap();
    let resp = read_response(&mut r, false);
    assert_eq!(
        (resp.status, resp.header("Docker-Content-Digest")),
        (201, Some(d.as_str()))
    );
    write!(
        w,
        "HEAD /v2/wire/test/blobs/{d} HTTP/1.1\r\nHost: {a}\r\n\r\n"
    )
    .unwrap();
    let resp = read_response(&mut r, true);
    assert_eq!(
        (resp.status, resp.header("Content-Length")),
        (200, Some("20"))
    );
    write!(
        w,
        "GET /v2/wire/test/blobs/{d} HTTP/1.1\r\nHost: {a}\r\n\r\n"
    )
    .unwrap();
    let resp = read_response(&mut r, false);
    assert_eq!(resp.body, data);
}

/// A push killed mid-chunk leaves the upload as it was before the chunk
/// (and no blob); the client resumes from the Range the server reports.
/// Two clients pushing the same blob at once both succeed.
#[test]
fn a_killed_chunk_is_cut_back_and_concurrent_pushes_of_one_blob_agree() {
    let reg = Glassbox::start(None);
    let a = reg.addr();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 241) as u8).collect();
    let d = sha(&data);
    let loc = http(a, "POST", "/v2/crash/test/blobs/uploads/", &[], b"")
        .header("Location")
        .unwrap()
        .to_string();
    let r = http(a, "PATCH", &loc, &[], &data[..50_000]);
    assert_eq!(r.header("Range"), Some("0-49999"));
    {
        // Promise 100000 bytes, send 30000, hang up.
        let mut s = TcpStream::connect(a).unwrap();
        write!(
            s,
            "PATCH {loc} HTTP/1.1\r\nHost: {a}\r\nContent-Length: 100000\r\n\r\n"
        )
        .unwrap();
        s.write_all(&data[50_000..80_000]).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        let r = http(a, "GET", &loc, &[], b"");
        if r.header("Range") == Some("0-49999") || Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        (status.status, status.header("Range")),
        (204, Some("0-49999"))
    );
    assert!(files_under(&reg.storage().join("blobs")).is_empty());
    let r = http(
        a,
        "PUT",
        &with_query(&loc, &format!("digest={d}")),
        &[],
        &data[50_000..],
    );
    assert_eq!(r.status, 201, "{r:?}");
    // Ten clients push one new blob at the same moment.
    let other: Vec<u8> = data.iter().rev().copied().collect();
    let threads: Vec<_> = (0..10)
        .map(|_| {
            let other = other.clone();
            std::thread::spawn(move || {
                let loc = http(a, "POST", "/v2/crash/race/blobs/uploads/", &[], b"")
                    .header("Location")
                    .unwrap()
                    .to_string();
                http(
                    a,
                    "PUT",
                    &with_query(&loc, &format!("digest={}", sha(&other))),
                    &[],
                    &other,
                )
                .status
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 201);
    }
    let r = http(
        a,
        "GET",
        &format!("/v2/crash/race/blobs/{}", sha(&other)),
        &[],
        b"",
    );
    assert_eq!(r.body, other);
    assert!(files_under(&reg.storage().join("_uploads")).is_empty());
    assert!(files_under(&reg.storage().join("_tmp")).is_empty());
}

/// What a student reads while a push and a pull happen: one explained
/// line per request, in order (upload ids and ports redacted).
#[test]
fn a_push_and_a_pull_read_as_a_story() {
    // The server runs as its own process with its trace in a file, as a
    // student runs it: an in-process capture shares tracing's per-call-site
    // caches with every other test thread of this binary, and lost its
    // events now and then under the full suite.
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace.jsonl");
    let port = crate::registry_client::free_port();
    let mut server = Command::new(crate::support::bin())
        .args(["--trace", "json", "--trace-file"])
        .arg(&trace)
        .args(["registry", "serve", "--addr"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--storage")
        .arg(dir.path().join("storage"))
        .spawn()
        .expect("glassbox registry serve");
    let a: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(a).is_err() {
        assert!(Instant::now() < until, "the registry listens");
        std::thread::sleep(Duration::from_millis(20));
    }
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let layer = b"a layer's bytes".to_vec();
    let manifest = oci_manifest(config, &layer);
    http(a, "GET", "/v2/", &[], b"");
    for blob in [&layer[..], &config[..]] {
        let d = sha(blob);
        http(a, "HEAD", &format!("/v2/story/app/blobs/{d}"), &[], b"");
        let loc = http(a, "POST", "/v2/story/app/blobs/uploads/", &[], b"")
            .header("Location")
            .unwrap()
            .to_string();
        http(a, "PATCH", &loc, &[], blob);
        http(
            a,
            "PUT",
            &with_query(&loc, &format!("digest={d}")),
            &[],
            b"",
        );
    }
    http(
        a,
        "PUT",
        "/v2/story/app/manifests/1",
        &[("Content-Type", OCI)],
        &manifest,
    );
    http(
        a,
        "POST",
        &format!(
            "/v2/story/copy/blobs/uploads/?mount={}&from=story/app",
            sha(&layer)
        ),
        &[],
        b"",
    );
    http(
        a,
        "GET",
        "/v2/story/app/manifests/1",
        &[("Accept", OCI)],
        b"",
    );
    http(
        a,
        "GET",
        &format!("/v2/story/app/blobs/{}", sha(&layer)),
        &[],
        b"",
    );
    http(a, "GET", "/v2/_catalog", &[], b"");
    http(
        a,
        "POST",
        &format!("/v2/story/app/blobs/uploads/?digest={}", sha(b"x")),
        &[],
        b"y",
    );
    http(
        a,
        "GET",
        "/v2/story/app/manifests/2",
        &[("Accept", OCI)],
        b"",
    );
    // SIGTERM: the server stops as it does for a student (its shutdown is
    // the story's last line) and writes out its trace.
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(server.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = server.wait();
    let events: Vec<glassbox::trace::Event> = std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a trace line is an event"))
        .collect();
    let text: String = events
        .iter()
        .map(|e| {
            format!(
                "{}.{}: {}\n",
                e.kind,
                e.action,
                glassbox::explain::render(e, glassbox::explain::Level::Brief).unwrap_or_default()
            )
        })
        .collect();
    insta::with_settings!({filters => vec![
        (r"uploads/[0-9a-f]{32}", "uploads/[ID]"),
        (r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]"),
        (r"in /tmp/\S+", "in [STORAGE]"),
    ]}, {
        insta::assert_snapshot!("registry_push_pull_story", text);
    });
}

/// After a plain `setup`, the first `run` of `registry:2` builds the
/// fixture, as docker would pull a missing image, and says so.
#[test]
fn the_first_run_of_registry_2_builds_it() {
    let root = Root::new();
    root.ok(&["setup"]);
    assert!(!root.ok(&["images"]).contains("registry"));
    struct Remove<'a>(&'a Root);
    impl Drop for Remove<'_> {
        fn drop(&mut self) {
            let _ = self.0.run(&["rm", "-f", "firstrun"]);
        }
    }
    let _guard = Remove(&root);
    let (_, events) = root.traced(&["create", "--name", "firstrun", "registry:2"]);
    assert!(
        events.iter().any(|e| e["kind"] == "image"
            && e["action"] == "fixture"
            && e["subject"] == "registry:2"),
        "no image.fixture event"
    );
    assert!(root.ok(&["images"]).contains("registry"));
    // The second time it is in the store: nothing is built.
    let (_, events) = root.traced(&["create", "--name", "secondrun", "registry:2"]);
    let _ = root.run(&["rm", "-f", "secondrun"]);
    assert!(!events.iter().any(|e| e["action"] == "fixture"));
}
