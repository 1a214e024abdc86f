//! Published ports on real containers on the default bridge: `-p` answers
//! from the host over 127.0.0.1 (TCP and UDP), `-P` takes the image's
//! EXPOSEd ports, a port in use names who holds it and leaves nothing
//! behind, both drivers (the userland proxy and nftables DNAT), `port`,
//! `explain port`, and no listener, proxy or nft rule outlives a container.
//! The tests only talk to 127.0.0.1 and to their own containers.

use crate::run::busybox_root;
use crate::support::{assert_explained, bin, Root};
use glassbox::network::port::{nat, sockets, Proto};
use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::{Duration, Instant};

/// Force-removes the named containers when the test ends, pass or fail.
pub(crate) struct Cleanup<'a> {
    root: &'a Root,
    names: Vec<String>,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        for n in &self.names {
            let _ = self.root.run(&["rm", "-f", n]);
        }
    }
}

pub(crate) fn cleanup<'a>(root: &'a Root, names: &[&str]) -> Cleanup<'a> {
    Cleanup {
        root,
        names: names.iter().map(|s| s.to_string()).collect(),
    }
}

/// The shell line of a busybox web server serving `text` on port 80.
pub(crate) fn httpd(text: &str) -> String {
    format!("mkdir -p /www && echo '{text}' > /www/index.html && exec httpd -f -p 80 -h /www")
}

/// Retries `f` for up to 10 s.
pub(crate) fn until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// GET / on 127.0.0.1:port with a plain std TcpStream.
pub(crate) fn http_get(port: u16) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET /index.html HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.contains("200 OK").then_some(out)
}

/// The host port of `private` (e.g. `80`, `53/udp`) from `glassbox port`.
pub(crate) fn host_port(root: &Root, name: &str, private: &str) -> u16 {
    let out = root.ok(&["port", name, private]);
    out.trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no host port in {out:?}"))
}

pub(crate) fn inspect(root: &Root, name: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(&root.ok(&["inspect", name])).unwrap();
    v[0].clone()
}

/// Asserts that nothing is left of a published port: no socket on it, no
/// nft rule of the container, no supervisor.
pub(crate) fn assert_nothing_left(port: u16, proto: Proto, id: &str, shim: Option<i64>) {
    until("the host port to close", || {
        // Connections in TIME_WAIT may stay on the port a while; what
        // matters is that nothing listens (or, for UDP, is bound) there.
        sockets::table(proto, None)
            .iter()
            .all(|e| e.local_port != port || !e.is_listening(proto))
            .then_some(())
    });
    let tag = nat::tag(id);
    assert!(
        nat::installed()
            .iter()
            .all(|r| !r.comment.starts_with(&tag)),
        "nft rules of {id} are left: {:?}",
        nat::list_table()
    );
    if let Some(pid) = shim {
        until("the supervisor to end", || {
            (!std::path::Path::new(&format!("/proc/{pid}")).exists()).then_some(())
        });
    }
}

#[test]
fn a_published_tcp_port_answers_from_the_host() {
    let root = busybox_root();
    let _c = cleanup(&root, &["web"]);
    let id = root
        .ok(&[
            "run",
            "-d",
            "--name",
            "web",
            "-p",
            "127.0.0.1::80",
            "busybox",
            "sh",
            "-c",
            &httpd("hello through the proxy"),
        ])
        .trim()
        .to_string();
    let port = host_port(&root, "web", "80");
    let page = until("the page", || http_get(port));
    assert!(page.contains("hello through the proxy"), "{page}");

    assert_eq!(
        root.ok(&["port", "web"]).trim(),
        format!("80/tcp -> 127.0.0.1:{port}")
    );
    let ps = root.ok(&["ps"]);
    assert!(ps.contains(&format!("127.0.0.1:{port}->80/tcp")), "{ps}");
    let i = inspect(&root, "web");
    assert_eq!(
        i["HostConfig"]["PortBindings"]["80/tcp"],
        serde_json::json!([{"HostIp": "127.0.0.1", "HostPort": ""}])
    );
    assert_eq!(
        i["NetworkSettings"]["Ports"]["80/tcp"],
        serde_json::json!([{"HostIp": "127.0.0.1", "HostPort": port.to_string()}])
    );
    // The supervisor holds the listening socket.
    let state = root.path().join("containers").join(&id).join("state.json");
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(state).unwrap()).unwrap();
    let shim = state["shim_pid"].as_i64();
    let holders: Vec<i32> = sockets::listening_on(Proto::Tcp, port)
        .iter()
        .flat_map(|e| sockets::holders(e.inode))
        .map(|h| h.pid)
        .collect();
    assert_eq!(holders, vec![shim.unwrap() as i32]);

    // Stopped, it publishes nothing; started again, it does.
    root.ok(&["stop", "-t", "1", "web"]);
    assert_nothing_left(port, Proto::Tcp, &id, shim);
    assert_eq!(root.ok(&["port", "web"]), "");
    assert_eq!(
        inspect(&root, "web")["NetworkSettings"]["Ports"],
        serde_json::json!({})
    );
    root.ok(&["start", "web"]);
    let port2 = host_port(&root, "web", "80/tcp");
    until("the page after start", || http_get(port2));
    root.ok(&["rm", "-f", "web"]);
    assert_nothing_left(port2, Proto::Tcp, &id, None);
}

/// The `ss -tin` lines (address line and info line joined) of the
/// established TCP connections matching `filter`, in the host's namespace.
fn ss_info(filter: &[&str]) -> Vec<String> {
    let out = std::process::Command::new("ss")
        .args(["-H", "-t", "-i", "-n", "state", "established"])
        .args(filter)
        .output()
        .expect("ss (iproute2)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    lines.chunks(2).map(|c| c.join(" ")).collect()
}

#[test]
fn the_proxys_connection_to_the_container_uses_cubic_and_the_clients_keeps_the_hosts_choice() {
    let root = busybox_root();
    let _c = cleanup(&root, &["cc"]);
    let mut args = vec!["run", "-d", "--name", "cc", "-p", "127.0.0.1::5001"];
    let inside = glassbox_inside();
    args.extend(inside.iter().map(String::as_str));
    args.extend(["busybox", "/gb", "__bench-sink", "--tcp", "5001"]);
    let (_, events) = root.traced(&args);
    assert_explained(&events);
    let proxy = events
        .iter()
        .find(|e| e["kind"] == "port" && e["action"] == "proxy")
        .expect("a port.proxy event");
    assert_eq!(proxy["fields"]["container_cc"], "cubic", "{proxy}");

    let port = host_port(&root, "cc", "5001");
    let ip = inspect(&root, "cc")["NetworkSettings"]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();
    // A client that stays connected: the sink reads until the end.
    let mut client = until("the sink behind the proxy", || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
        s.write_all(b"some bytes").ok()?;
        Some(s)
    });
    let host_cc = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_congestion_control")
        .unwrap()
        .trim()
        .to_string();
    let to_container = until("the proxy's connection to the container", || {
        let l = ss_info(&["dst", &format!("{ip}:5001")]);
        (!l.is_empty()).then_some(l)
    });
    assert_eq!(to_container.len(), 1, "{to_container:?}");
    assert!(
        to_container[0].split_whitespace().any(|w| w == "cubic"),
        "{to_container:?}"
    );
    let from_client = ss_info(&["src", &format!("127.0.0.1:{port}")]);
    assert_eq!(from_client.len(), 1, "{from_client:?}");
    assert!(
        from_client[0].split_whitespace().any(|w| w == host_cc),
        "the client's connection keeps the host's {host_cc}: {from_client:?}"
    );
    // And the bytes still get through.
    client.shutdown(std::net::Shutdown::Write).unwrap();
    let mut answer = String::new();
    client.read_to_string(&mut answer).unwrap();
    assert_eq!(answer.trim(), "10");
}

#[test]
fn a_foreground_run_proxies_while_it_waits_and_stops_with_it() {
    let root = busybox_root();
    let _c = cleanup(&root, &["fg"]);
    // The container runs until the test drops a file into its /ctl.
    let ctl = tempfile::tempdir().unwrap();
    let mount = format!("{}:/ctl", ctl.path().display());
    let script = format!(
        "{} & while [ ! -e /ctl/stop ]; do sleep 0.1; done",
        httpd("hello in the foreground").replace("exec ", "")
    );
    let mut child = root
        .cmd(&[
            "run",
            "--rm",
            "--name",
            "fg",
            "-v",
            &mount,
            "-p",
            "127.0.0.1::80",
            "busybox",
            "sh",
            "-c",
            &script,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let port = until("the foreground container's port", || {
        let out = root.run(&["port", "fg", "80"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.trim().rsplit(':').next()?.parse::<u16>().ok()
    });
    let page = until("the page", || http_get(port));
    assert!(page.contains("hello in the foreground"));
    // The CLI itself is the supervisor here.
    let holders: Vec<i32> = sockets::listening_on(Proto::Tcp, port)
        .iter()
        .flat_map(|e| sockets::holders(e.inode))
        .map(|h| h.pid)
        .collect();
    assert_eq!(holders, vec![child.id() as i32]);
    std::fs::write(ctl.path().join("stop"), b"").unwrap();
    assert!(child.wait().unwrap().success());
    // No proxy thread outlives the run: the port is closed at once.
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}

/// The run options that let the glassbox binary itself run in a busybox
/// container (its C library from the host, read-only) as `/gb`.
pub(crate) fn glassbox_inside() -> Vec<String> {
    vec![
        "-v".into(),
        "/usr/lib/x86_64-linux-gnu:/lib/x86_64-linux-gnu:ro".into(),
        "-v".into(),
        "/usr/lib64:/lib64:ro".into(),
        "-v".into(),
        format!("{}:/gb:ro", bin().display()),
    ]
}

#[test]
fn udp_goes_through_a_published_port() {
    let root = busybox_root();
    let _c = cleanup(&root, &["echo"]);
    let mut args: Vec<String> = ["run", "-d", "--name", "echo", "-p", "127.0.0.1::53/udp"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(glassbox_inside());
    args.extend(["busybox", "/gb", "__bench-sink", "--udp", "53"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let id = root.ok(&args).trim().to_string();
    let port = host_port(&root, "echo", "53/udp");
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 64];
    let n = until("a UDP echo", || {
        sock.send_to(b"ping over udp", ("127.0.0.1", port)).ok()?;
        let (n, from) = sock.recv_from(&mut buf).ok()?;
        (from.port() == port).then_some(n)
    });
    assert_eq!(&buf[..n], b"ping over udp");
    // A second client gets its own flow.
    let other = UdpSocket::bind("127.0.0.1:0").unwrap();
    other
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    other.send_to(b"second", ("127.0.0.1", port)).unwrap();
    let (n, _) = other.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"second");
    root.ok(&["rm", "-f", "echo"]);
    assert_nothing_left(port, Proto::Udp, &id, None);
}

#[test]
fn publish_all_takes_the_images_exposed_ports() {
    let root = busybox_root();
    let _c = cleanup(&root, &["exposed"]);
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nEXPOSE 80\nEXPOSE 9999/udp\n",
    )
    .unwrap();
    root.ok(&["build", "-t", "exposed:1", ctx.path().to_str().unwrap()]);
    root.ok(&[
        "run",
        "-d",
        "--name",
        "exposed",
        "-P",
        "exposed:1",
        "sh",
        "-c",
        &httpd("published by -P"),
    ]);
    let lines = root.ok(&["port", "exposed"]);
    assert!(lines.contains("80/tcp -> 0.0.0.0:"), "{lines}");
    assert!(lines.contains("9999/udp -> 0.0.0.0:"), "{lines}");
    let port = host_port(&root, "exposed", "80");
    let page = until("the page", || http_get(port));
    assert!(page.contains("published by -P"));
    let i = inspect(&root, "exposed");
    assert_eq!(i["Config"]["ExposedPorts"]["80/tcp"], serde_json::json!({}));
    assert_eq!(i["HostConfig"]["PublishAllPorts"], true);
    let id = i["Id"].as_str().unwrap().to_string();
    root.ok(&["rm", "-f", "exposed"]);
    assert_nothing_left(port, Proto::Tcp, &id, None);
}

#[test]
fn a_port_in_use_names_the_container_holding_it_and_leaves_nothing() {
    let root = busybox_root();
    let _c = cleanup(&root, &["holder", "loser"]);
    root.ok(&[
        "run",
        "-d",
        "--name",
        "holder",
        "-p",
        "127.0.0.1::80",
        "busybox",
        "sleep",
        "300",
    ]);
    let port = host_port(&root, "holder", "80");
    let spec = format!("127.0.0.1:{port}:80");
    for detach in [true, false] {
        let mut args = vec!["run", "--name", "loser", "-p", &spec];
        if detach {
            args.insert(1, "-d");
        }
        args.extend(["busybox", "true"]);
        let out = root.run(&args);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("host port 127.0.0.1:{port}/tcp is already in use"))
                && err.contains("the glassbox container holder"),
            "{err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "one clear line: {err}");
        assert!(!root.ok(&["ps", "-a"]).contains("loser"));
    }
    // Another process: the error says which.
    let mine = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = mine.local_addr().unwrap().port();
    let out = root.run(&[
        "run",
        "-d",
        "-p",
        &format!("127.0.0.1:{busy}:80"),
        "busybox",
        "true",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "another process holds it (pid {}",
            std::process::id()
        )),
        "{err}"
    );
    assert_eq!(root.ok(&["ps", "-a", "-q"]).lines().count(), 1);
}

#[test]
fn the_nat_driver_rewrites_packets_and_removes_its_rules() {
    if std::process::Command::new("nft")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("nft is missing: run scripts/install-deps.sh");
    }
    let root = busybox_root();
    let _c = cleanup(&root, &["natweb"]);
    let (out, events) = root.traced(&[
        "run",
        "-d",
        "--name",
        "natweb",
        "--port-driver",
        "nat",
        "-p",
        "127.0.0.1::80",
        "busybox",
        "sh",
        "-c",
        &httpd("hello through DNAT"),
    ]);
    assert_explained(&events);
    let id = out.trim().to_string();
    let port = host_port(&root, "natweb", "80");
    let page = until("the page through DNAT", || http_get(port));
    assert!(page.contains("hello through DNAT"));
    let table = nat::list_table().expect("table ip glassbox exists");
    assert!(
        table.contains(&format!("tcp dport {port} dnat to")),
        "{table}"
    );
    assert!(table.contains(&nat::tag(&id)), "{table}");
    // Nothing listens on the host port: the kernel rewrites the packets.
    assert!(sockets::listening_on(Proto::Tcp, port).is_empty());
    let path = root.ok(&["explain", "port", "natweb", &port.to_string()]);
    assert!(
        path.contains("DNAT rule") && path.contains("dnat to"),
        "{path}"
    );
    root.ok(&["rm", "-f", "natweb"]);
    assert_nothing_left(port, Proto::Tcp, &id, None);
}

#[test]
fn explain_port_draws_the_path_from_live_state() {
    let root = busybox_root();
    let _c = cleanup(&root, &["pathweb"]);
    root.ok(&[
        "run",
        "-d",
        "--name",
        "pathweb",
        "-p",
        "127.0.0.1::80",
        "busybox",
        "sh",
        "-c",
        &httpd("path"),
    ]);
    let port = host_port(&root, "pathweb", "80");
    until("the page", || http_get(port));
    let out = root.ok(&["explain", "port", "pathweb", &port.to_string()]);
    for want in [
        "1. host socket",
        "2. userland proxy",
        "3. bridge",
        "4. veth (host end)",
        "5. container socket",
        &format!("ss -ltnp 'sport = :{port}'"),
        ":80 LISTEN by pid",
        "ip link show master",
        "nsenter -t",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    assert!(!out.contains("\n!"), "every hop looks right:\n{out}");
    // Explaining a template still works beside it.
    assert!(root.ok(&["explain", "layer.apply"]).contains("layer"));
    let err = root.run(&["explain", "port", "pathweb", "1"]);
    assert!(String::from_utf8_lossy(&err.stderr).contains("no public port"));
}

#[test]
fn run_p_trace_snapshot() {
    let root = busybox_root();
    let _c = cleanup(&root, &["snap"]);
    let (_, events) = root.traced(&[
        "run",
        "-d",
        "--name",
        "snap",
        "-p",
        "127.0.0.1::80",
        "-p",
        "127.0.0.1::53/udp",
        "busybox",
        "sleep",
        "300",
    ]);
    assert_explained(&events);
    let port_events: Vec<serde_json::Value> = events
        .into_iter()
        .filter(|e| e["kind"] == "port")
        .map(|mut e| {
            let o = e.as_object_mut().unwrap();
            for k in ["seq", "ts_us", "duration_us", "pid"] {
                o.remove(k);
            }
            if let Some(f) = o.get_mut("fields").and_then(|f| f.as_object_mut()) {
                f.remove("fd");
                if f.contains_key("pid") {
                    f.insert("pid".into(), "[pid]".into());
                }
            }
            e
        })
        .collect();
    assert!(!port_events.is_empty());
    insta::with_settings!({filters => vec![
        (r"127\.0\.0\.1:\d+", "127.0.0.1:[port]"),
        (r"sport = :\d+", "sport = :[port]"),
        // Each root's default network has its own subnet.
        (r"\b10\.\d+\.\d+\.\d+", "[container-ip]"),
        (r"\b[0-9a-f]{12}\b", "[short-id]"),
    ]}, {
        insta::assert_json_snapshot!("run_d_p_port_events", port_events);
    });
}
