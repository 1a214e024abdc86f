//! Published ports that follow the container: the proxy forwards to the
//! container's address *now*, so `network disconnect` and `network connect`
//! move the ports along (and a container with no address closes new
//! connections at once; DNAT rules are written again for the new address);
//! and `-p PORT` with no host address answers on
//! IPv6 (`[::1]`) as well as IPv4, as Docker does. The tests only talk to
//! 127.0.0.1, ::1 and their own containers.

use crate::ports::{
    assert_nothing_left, cleanup, glassbox_inside, host_port, http_get, httpd, inspect, until,
};
use crate::run::busybox_root;
use crate::support::{assert_explained, Root};
use glassbox::network::port::{host_has_ipv6, nat, sockets, Proto};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

/// The `port.retarget` event of a traced command.
fn retarget(events: &[serde_json::Value]) -> serde_json::Value {
    events
        .iter()
        .find(|e| e["kind"] == "port" && e["action"] == "retarget")
        .cloned()
        .unwrap_or_else(|| panic!("no port.retarget event in {events:#?}"))
}

/// The container's address on `network`, from `inspect`.
fn address_on(root: &Root, name: &str, network: &str) -> String {
    inspect(root, name)["NetworkSettings"]["Networks"][network]["IPAddress"]
        .as_str()
        .unwrap_or_else(|| panic!("{name} has no address on {network}"))
        .to_string()
}

/// How a connection to the published port ends when nobody is behind it:
/// `true` when the proxy closed it within `within`.
fn closed_within(port: u16, within: Duration) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return true;
    };
    s.set_read_timeout(Some(within)).unwrap();
    let _ = s.write_all(b"GET / HTTP/1.0\r\n\r\n");
    let mut b = [0u8; 64];
    match s.read(&mut b) {
        Ok(n) => n == 0,
        // A read timeout: the connection is still open.
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

/// Removes the user network at the end, after the containers went.
struct NetworkGone<'a>(&'a Root, &'a str);

impl Drop for NetworkGone<'_> {
    fn drop(&mut self) {
        let _ = self.0.run(&["network", "rm", self.1]);
    }
}

#[test]
fn the_proxy_follows_network_disconnect_and_connect() {
    let root = busybox_root();
    let _n = NetworkGone(&root, "elsewhere");
    let _c = cleanup(&root, &["moving"]);
    root.ok(&["network", "create", "elsewhere"]);
    root.ok(&[
        "run",
        "-d",
        "--name",
        "moving",
        "-p",
        "127.0.0.1::80",
        "busybox",
        "sh",
        "-c",
        &httpd("still here"),
    ]);
    let port = host_port(&root, "moving", "80");
    until("the page", || http_get(port));
    let on_bridge = address_on(&root, "moving", "bridge");

    // A second network: the first one still carries the ports.
    let (_, events) = root.traced(&["network", "connect", "elsewhere", "moving"]);
    assert_explained(&events);
    let e = retarget(&events);
    assert_eq!(e["fields"]["container_ip"], on_bridge.as_str(), "{e:#}");
    let elsewhere = address_on(&root, "moving", "elsewhere");
    assert_ne!(elsewhere, on_bridge);

    // A client connected through the proxy to the bridge address...
    let mut held = TcpStream::connect(("127.0.0.1", port)).unwrap();
    held.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    until("the held connection to reach the container", || {
        sockets::table(Proto::Tcp, None)
            .iter()
            .any(|s| s.remote_ip.to_string() == on_bridge && s.remote_port == 80)
            .then_some(())
    });

    // ...and the bridge goes: the ports lead to the other network now.
    let (_, events) = root.traced(&["network", "disconnect", "bridge", "moving"]);
    assert_explained(&events);
    let e = retarget(&events);
    assert_eq!(e["fields"]["container_ip"], elsewhere.as_str(), "{e:#}");
    assert_eq!(e["fields"]["network"], "elsewhere");
    let routes = e["fields"]["routes"].to_string();
    assert!(
        routes.contains(&format!("-> {elsewhere}:80")),
        "the routes name the new address: {routes}"
    );
    // The connection to the old address is closed at once, not left to
    // time out.
    let began = Instant::now();
    let mut b = [0u8; 16];
    assert!(matches!(held.read(&mut b), Ok(0) | Err(_)));
    assert!(
        began.elapsed() < Duration::from_secs(3),
        "the stale connection took {:?} to close",
        began.elapsed()
    );
    let page = until("the page through the other network", || http_get(port));
    assert!(page.contains("still here"), "{page}");
    // (Closed sockets may linger in FIN_WAIT while the kernel retries
    // their FIN to the vanished address; none is established.)
    const ESTABLISHED: u8 = 0x01;
    assert!(
        sockets::table(Proto::Tcp, None)
            .iter()
            .all(|s| s.state != ESTABLISHED
                || s.remote_ip.to_string() != on_bridge
                || s.remote_port != 80),
        "no connection of the proxy goes to the old address"
    );

    // No network left: a clear event, and new connections are closed at
    // once instead of hanging.
    let (_, events) = root.traced(&["network", "disconnect", "elsewhere", "moving"]);
    assert_explained(&events);
    let e = retarget(&events);
    let why = e["fields"]["no_address"].as_str().unwrap_or_default();
    assert!(
        why.contains("has no address on a bridge network") && why.contains("network connect"),
        "{e:#}"
    );
    let began = Instant::now();
    assert!(closed_within(port, Duration::from_secs(3)));
    assert!(began.elapsed() < Duration::from_secs(3));
    assert!(http_get(port).is_none());

    // Connected again: the ports lead to the new address.
    let (_, events) = root.traced(&["network", "connect", "bridge", "moving"]);
    assert_explained(&events);
    let again = address_on(&root, "moving", "bridge");
    assert_eq!(retarget(&events)["fields"]["container_ip"], again.as_str());
    let page = until("the page after connecting again", || http_get(port));
    assert!(page.contains("still here"), "{page}");
}

/// GET / on `addr` (IPv4 or IPv6).
fn http_get_at(addr: SocketAddr) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET /index.html HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.contains("200 OK").then_some(out)
}

#[test]
fn a_port_without_host_address_answers_on_ipv6_too() {
    if !host_has_ipv6() {
        eprintln!("skipped: this host has no IPv6 (/proc/net/if_inet6 is empty or missing)");
        return;
    }
    let root = busybox_root();
    let _c = cleanup(&root, &["dual"]);
    let (id, events) = root.traced(&[
        "run",
        "-d",
        "--name",
        "dual",
        "-p",
        "80",
        "busybox",
        "sh",
        "-c",
        &httpd("both families"),
    ]);
    assert_explained(&events);
    let id = id.trim().to_string();
    let published: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["kind"] == "port" && e["action"] == "publish" && e["stage"] == "done")
        .collect();
    assert_eq!(published.len(), 2, "{published:#?}");
    assert_eq!(published[1]["fields"]["ipv6_twin"], true);

    let lines = root.ok(&["port", "dual"]);
    let port = host_port(&root, "dual", "80");
    assert_eq!(
        lines.lines().collect::<Vec<_>>(),
        [
            format!("80/tcp -> 0.0.0.0:{port}"),
            format!("80/tcp -> [::]:{port}")
        ],
        "like `docker port`"
    );
    let six = SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port);
    let page = until("the page over ::1", || http_get_at(six));
    assert!(page.contains("both families"), "{page}");
    let four: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(http_get_at(four).is_some_and(|p| p.contains("both families")));

    let ps = root.ok(&["ps"]);
    assert!(
        ps.contains(&format!("0.0.0.0:{port}->80/tcp, [::]:{port}->80/tcp")),
        "{ps}"
    );
    let i = inspect(&root, "dual");
    assert_eq!(
        i["HostConfig"]["PortBindings"]["80/tcp"],
        serde_json::json!([{"HostIp": "", "HostPort": ""}]),
        "what was asked: one binding"
    );
    assert_eq!(
        i["NetworkSettings"]["Ports"]["80/tcp"],
        serde_json::json!([
            {"HostIp": "0.0.0.0", "HostPort": port.to_string()},
            {"HostIp": "::", "HostPort": port.to_string()}
        ])
    );
    let path = root.ok(&["explain", "port", "dual", &port.to_string()]);
    assert!(
        path.contains(&format!("[::]:{port}")),
        "the path shows the IPv6 socket: {path}"
    );
    root.ok(&["rm", "-f", "dual"]);
    // Neither family's socket is left (the tables list both).
    assert_nothing_left(port, Proto::Tcp, &id, None);
    assert!(http_get_at(six).is_none());
}

#[test]
fn udp_without_host_address_answers_on_ipv6_too() {
    if !host_has_ipv6() {
        eprintln!("skipped: this host has no IPv6 (/proc/net/if_inet6 is empty or missing)");
        return;
    }
    let root = busybox_root();
    let _c = cleanup(&root, &["echo6"]);
    let mut args: Vec<String> = ["run", "-d", "--name", "echo6", "-p", "53/udp"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(glassbox_inside());
    args.extend(["busybox", "/gb", "__bench-sink", "--udp", "53"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let id = root.ok(&args).trim().to_string();
    let port = host_port(&root, "echo6", "53/udp");
    assert_eq!(
        root.ok(&["port", "echo6", "53/udp"])
            .lines()
            .collect::<Vec<_>>(),
        [format!("0.0.0.0:{port}"), format!("[::]:{port}")]
    );
    let sock = UdpSocket::bind("[::1]:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 64];
    let (n, from) = until("a UDP echo over ::1", || {
        sock.send_to(b"ping over ipv6", ("::1", port)).ok()?;
        sock.recv_from(&mut buf).ok()
    });
    assert_eq!(&buf[..n], b"ping over ipv6");
    assert_eq!(
        from,
        SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port),
        "the answer comes from the published port"
    );
    root.ok(&["rm", "-f", "echo6"]);
    assert_nothing_left(port, Proto::Udp, &id, None);
}

#[test]
fn nat_rules_follow_network_disconnect() {
    let root = busybox_root();
    let _n = NetworkGone(&root, "natother");
    let _c = cleanup(&root, &["natmove"]);
    root.ok(&["network", "create", "natother"]);
    let id = root
        .ok(&[
            "run",
            "-d",
            "--name",
            "natmove",
            "--port-driver",
            "nat",
            "-p",
            "127.0.0.1::80",
            "busybox",
            "sh",
            "-c",
            &httpd("rewritten"),
        ])
        .trim()
        .to_string();
    let port = host_port(&root, "natmove", "80");
    until("the page through DNAT", || http_get(port));
    root.ok(&["network", "connect", "natother", "natmove"]);
    let other = address_on(&root, "natmove", "natother");
    let (_, events) = root.traced(&["network", "disconnect", "bridge", "natmove"]);
    assert_explained(&events);
    assert_eq!(retarget(&events)["fields"]["container_ip"], other.as_str());
    // The rules were written again for the new address.
    let rules = nat::rules_for_port(port, Proto::Tcp).join("\n");
    assert!(
        rules.contains(&format!("dnat to {other}:80")),
        "the DNAT rule names {other}: {rules}"
    );
    let page = until("the page through DNAT to the other network", || {
        http_get(port)
    });
    assert!(page.contains("rewritten"), "{page}");
    root.ok(&["rm", "-f", "natmove"]);
    assert_nothing_left(port, Proto::Tcp, &id, None);
}
