//! Networks with real containers: the default bridge, user networks with
//! aliases, names in /etc/hosts that follow containers joining and leaving,
//! --link, --internal, twenty containers at once, and nothing left behind.
//! Tests talk only to their own containers on their own bridges.

use crate::run::busybox_root;
use crate::support::Root;
use std::collections::BTreeSet;

/// Removes the test's containers (by name) and networks even when the test
/// panics; the root's own Drop then deletes its bridges. Checks at the end
/// that no link of this root is left.
struct Guard<'a> {
    root: &'a Root,
    containers: Vec<String>,
    networks: Vec<String>,
}

impl<'a> Guard<'a> {
    fn new(root: &'a Root) -> Self {
        Guard {
            root,
            containers: Vec::new(),
            networks: Vec::new(),
        }
    }
    fn container(&mut self, name: &str) -> String {
        self.containers.push(name.to_string());
        name.to_string()
    }
    fn network(&mut self, name: &str) -> String {
        self.networks.push(name.to_string());
        name.to_string()
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = self.root.run(&["rm", "-f", c]);
        }
        for n in &self.networks {
            let _ = self.root.run(&["network", "rm", n]);
        }
    }
}

/// Every link name on the host.
fn links() -> BTreeSet<String> {
    let out = std::process::Command::new("ip")
        .args(["-o", "link"])
        .output()
        .expect("ip link");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .collect()
}

/// The bridges of the root's networks and the veth host ends of its
/// containers (`gbxv` + 8 hex of the id) that still exist.
fn bridges_of(root: &Root) -> BTreeSet<String> {
    let mut mine: BTreeSet<String> = BTreeSet::new();
    if let Ok(d) = std::fs::read_dir(root.path().join("networks")) {
        for e in d.flatten() {
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(
                &std::fs::read(e.path()).unwrap_or_default(),
            ) {
                if let Some(b) = v["bridge"].as_str() {
                    mine.insert(b.to_string());
                }
            }
        }
    }
    mine
}

fn leftovers(mine: &BTreeSet<String>, ids: &[String]) -> Vec<String> {
    links()
        .into_iter()
        .filter(|l| {
            mine.contains(l)
                || ids
                    .iter()
                    .any(|id| l.starts_with(&format!("gbxv{}", &id[..8])))
        })
        .collect()
}

fn inspect(root: &Root, what: &[&str]) -> serde_json::Value {
    let mut args = what.to_vec();
    args.insert(0, "inspect");
    let v: serde_json::Value = serde_json::from_str(&root.ok(&args)).expect("inspect JSON");
    match v {
        serde_json::Value::Array(mut a) => a.remove(0),
        v => v,
    }
}

#[test]
fn the_default_bridge_gives_eth0_an_address_that_state_and_inspect_record() {
    let root = busybox_root();
    let mut g = Guard::new(&root);
    let name = g.container("web");
    let id = root
        .ok(&["run", "-d", "--name", &name, "busybox", "sleep", "30"])
        .trim()
        .to_string();
    let c = inspect(&root, &["web"]);
    let ip = c["NetworkSettings"]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();
    let gw = c["NetworkSettings"]["Gateway"]
        .as_str()
        .unwrap()
        .to_string();
    let ep = &c["NetworkSettings"]["Networks"]["bridge"];
    assert_eq!(ep["IPAddress"], ip.as_str());
    assert_eq!(ep["Interface"], "eth0");
    assert!(ep["MacAddress"].as_str().unwrap().starts_with("02:42:"));
    let net: serde_json::Value =
        serde_json::from_str(&root.ok(&["network", "inspect", "bridge"])).unwrap();
    let subnet = net[0]["IPAM"]["Config"][0]["Subnet"].as_str().unwrap();
    assert_eq!(net[0]["IPAM"]["Config"][0]["Gateway"], gw.as_str());
    let bridge = ep["Bridge"].as_str().unwrap();
    assert!(links().contains(bridge), "bridge {bridge} exists");
    assert!(net[0]["Containers"][&id]["Name"] == "web");
    // A second container sees its own eth0 in the same subnet, with the
    // default route via the gateway, and reaches the first one.
    let out = root.ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        &format!("ip -4 -o addr show eth0; ip route; ping -c1 -W2 {ip} >/dev/null && echo reached"),
    ]);
    let prefix = subnet.split('/').nth(1).unwrap();
    let base: Vec<&str> = subnet.split('.').collect();
    assert!(
        out.contains(&format!("inet {}.{}.", base[0], base[1])),
        "{out}"
    );
    assert!(out.contains(&format!("/{prefix} ")), "{out}");
    assert!(out.contains(&format!("default via {gw} dev eth0")), "{out}");
    assert!(out.contains("reached"), "{out}");
    // The host reaches the container through the bridge's address.
    let ping = std::process::Command::new("busybox")
        .args(["ping", "-c1", "-W2", &ip])
        .output()
        .expect("busybox ping on the host");
    assert!(ping.status.success(), "host → {ip}");
    drop(g);
    // rm -f returned the address and removed the veth.
    let ipam = std::fs::read_to_string(root.path().join("networks/bridge.ipam.json")).unwrap();
    assert!(!ipam.contains(&ip), "{ipam}");
    network_teardown_leaves_nothing(&root, &[id]);
}

/// After the containers went: delete the root's bridges and check that no
/// link of it is left.
fn network_teardown_leaves_nothing(root: &Root, ids: &[String]) {
    let mine = bridges_of(root);
    glassbox::network::teardown_root(root.path());
    assert_no_leftovers(&mine, ids);
}

/// The kernel deletes a stopped container's veth pair in the background,
/// a few milliseconds after its namespace is freed: wait up to 5 s.
fn assert_no_leftovers(mine: &BTreeSet<String>, ids: &[String]) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let left = leftovers(mine, ids);
        if left.is_empty() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "left behind: {left:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// `sh -c` script of a "db" container: busybox httpd serving one file.
const DB: &str =
    "mkdir -p /www && echo hello-from-db > /www/index.html && exec httpd -f -p 3306 -h /www";

/// `sh -c` script fetching `url`, retrying while the server starts.
fn fetch(url: &str) -> String {
    format!("for i in $(seq 50); do wget -qO- {url} && exit 0; sleep 0.1; done; exit 1")
}

#[test]
fn two_containers_talk_by_alias_on_a_user_network_and_hosts_follow_joins() {
    let root = busybox_root();
    let mut g = Guard::new(&root);
    let net = g.network("todo-app");
    root.ok(&["network", "create", &net]);
    let app = g.container("app");
    let app_id = root
        .ok(&[
            "run",
            "-d",
            "--network",
            &net,
            "--name",
            &app,
            "busybox",
            "sleep",
            "60",
        ])
        .trim()
        .to_string();
    // The app started first: its hosts file does not know db yet.
    let before = root.ok(&["exec", &app, "cat", "/etc/hosts"]);
    assert!(!before.contains(" db"), "{before}");
    let db = g.container("todo-db");
    let db_id = root
        .ok(&[
            "run",
            "-d",
            "--network",
            &net,
            "--network-alias",
            "db",
            "--name",
            &db,
            "busybox",
            "sh",
            "-c",
            DB,
        ])
        .trim()
        .to_string();
    // db joined later: app's hosts file was rewritten in place, and the
    // bind mount shows it.
    let after = root.ok(&["exec", &app, "cat", "/etc/hosts"]);
    let db_ip = inspect(&root, &[&db])["NetworkSettings"]["Networks"][&net]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(after.contains(&format!("{db_ip}\ttodo-db db")), "{after}");
    assert_eq!(
        root.ok(&["exec", &app, "sh", "-c", &fetch("http://db:3306/")]),
        "hello-from-db\n"
    );
    // A fresh container on the network finds it by alias and by name.
    let out = root.ok(&[
        "run",
        "--rm",
        "--network",
        &net,
        "busybox",
        "sh",
        "-c",
        &format!(
            "({}) && ({})",
            fetch("http://db:3306/"),
            fetch("http://todo-db:3306/")
        ),
    ]);
    assert_eq!(out, "hello-from-db\nhello-from-db\n");
    // The network is in use: rm says by whom, and changes nothing.
    let out = root.run(&["network", "rm", &net]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("in use") && err.contains("todo-db") && err.contains("app"),
        "{err}"
    );
    assert!(root.ok(&["network", "ls", "-q"]).contains(&net));
    // db leaves: app's hosts file forgets it.
    root.ok(&["rm", "-f", &db]);
    let gone = root.ok(&["exec", &app, "cat", "/etc/hosts"]);
    assert!(!gone.contains("todo-db"), "{gone}");
    root.ok(&["rm", "-f", &app]);
    let bridges = bridges_of(&root);
    root.ok(&["network", "rm", &net]);
    assert_no_leftovers(&bridges, &[app_id, db_id]);
    drop(g);
    network_teardown_leaves_nothing(&root, &[]);
}

#[test]
fn twenty_containers_started_at_once_get_twenty_distinct_addresses_that_come_back() {
    let root = busybox_root();
    let mut g = Guard::new(&root);
    let names: Vec<String> = (0..20).map(|i| g.container(&format!("p{i}"))).collect();
    let children: Vec<_> = names
        .iter()
        .map(|n| {
            root.cmd(&["run", "-d", "--name", n, "busybox", "sleep", "60"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn run -d")
        })
        .collect();
    let mut ids = Vec::new();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        ids.push(String::from_utf8_lossy(&out.stdout).trim().to_string());
    }
    let ips: BTreeSet<String> = names
        .iter()
        .map(|n| {
            inspect(&root, &[n])["NetworkSettings"]["IPAddress"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(ips.len(), 20, "{ips:?}");
    let ipam: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root.path().join("networks/bridge.ipam.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(ipam["addresses"].as_object().unwrap().len(), 20);
    // Each really has its address: the last one reaches the first.
    let first = ips.iter().next().unwrap();
    root.ok(&["exec", "p19", "ping", "-c1", "-W2", first]);
    for n in &names {
        root.ok(&["rm", "-f", n]);
    }
    let ipam: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root.path().join("networks/bridge.ipam.json")).unwrap(),
    )
    .unwrap();
    assert!(ipam["addresses"].as_object().unwrap().is_empty(), "{ipam}");
    drop(g);
    network_teardown_leaves_nothing(&root, &ids);
}

#[test]
fn link_gives_an_alias_on_the_default_bridge_where_names_are_not_shared() {
    let root = busybox_root();
    let mut g = Guard::new(&root);
    let db = g.container("db");
    let id = root
        .ok(&["run", "-d", "--name", &db, "busybox", "sh", "-c", DB])
        .trim()
        .to_string();
    let out = root.ok(&[
        "run",
        "--rm",
        "--link",
        "db:database",
        "busybox",
        "sh",
        "-c",
        &format!("cat /etc/hosts; {}", fetch("http://database:3306/")),
    ]);
    assert!(out.ends_with("hello-from-db\n"), "{out}");
    assert!(out.contains("\tdatabase db\n"), "{out}");
    // Without --link the default bridge gives no names (Docker's rule).
    let out = root.run(&[
        "run",
        "--rm",
        "busybox",
        "wget",
        "-qO-",
        "-T",
        "2",
        "http://db:3306/",
    ]);
    assert!(!out.status.success());
    // A link to a container that does not exist is refused.
    let out = root.run(&["run", "--rm", "--link", "nosuch:x", "busybox", "true"]);
    assert!(!out.status.success());
    drop(g);
    network_teardown_leaves_nothing(&root, &[id]);
}

#[test]
fn an_internal_network_reaches_its_peers_but_not_the_host() {
    let root = busybox_root();
    let mut g = Guard::new(&root);
    // A host service on every address, as a published port would be.
    let listener = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let serve = std::thread::spawn(move || {
        use std::io::Write;
        listener.set_nonblocking(false).unwrap();
        // One connection: from the container on the default bridge.
        if let Ok((mut s, _)) = listener.accept() {
            let _ = s.write_all(b"hello-from-host\n");
        }
    });
    let gw = {
        let out = root.ok(&["run", "--rm", "busybox", "ip", "route"]);
        out.split_whitespace()
            .skip_while(|w| *w != "via")
            .nth(1)
            .unwrap()
            .to_string()
    };
    let out = root.ok(&[
        "run",
        "--rm",
        "busybox",
        "nc",
        "-w",
        "3",
        &gw,
        &port.to_string(),
    ]);
    assert_eq!(out, "hello-from-host\n");
    serve.join().unwrap();
    let net = g.network("backend");
    root.ok(&["network", "create", "--internal", &net]);
    let n = &serde_json::from_str::<serde_json::Value>(&root.ok(&["network", "inspect", &net]))
        .unwrap()[0];
    assert_eq!(n["Internal"], true);
    assert_eq!(n["IPAM"]["Config"][0]["Gateway"], "");
    let db = g.container("idb");
    let id = root
        .ok(&[
            "run",
            "-d",
            "--network",
            &net,
            "--name",
            &db,
            "busybox",
            "sh",
            "-c",
            DB,
        ])
        .trim()
        .to_string();
    // Peers on the internal network talk; there is no default route, so
    // the host's address on the other bridge is unreachable.
    let script = format!(
        "ip route; ({}) ; nc -w 2 {gw} {port} && echo REACHED-HOST; true",
        fetch("http://idb:3306/")
    );
    let out = root.ok(&[
        "run",
        "--rm",
        "--network",
        &net,
        "busybox",
        "sh",
        "-c",
        &script,
    ]);
    assert!(!out.contains("default"), "{out}");
    assert!(out.contains("hello-from-db"), "{out}");
    assert!(!out.contains("REACHED-HOST"), "{out}");
    // Nor does the host reach into it: its bridge has no address.
    let ip = inspect(&root, &[&db])["NetworkSettings"]["Networks"][&net]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();
    let ping = std::process::Command::new("busybox")
        .args(["ping", "-c1", "-W1", &ip])
        .output()
        .unwrap();
    assert!(!ping.status.success());
    drop(g);
    network_teardown_leaves_nothing(&root, &[id]);
}

#[test]
fn connect_and_disconnect_add_and_remove_an_interface_of_a_running_container() {
    let root = busybox_root();
    let mut g = Guard::new(&root);
    let net = g.network("extra");
    root.ok(&["network", "create", "--subnet", "10.71.250.0/24", &net]);
    let c = g.container("multi");
    let id = root
        .ok(&["run", "-d", "--name", &c, "busybox", "sleep", "60"])
        .trim()
        .to_string();
    root.ok(&["network", "connect", "--alias", "second", &net, &c]);
    let out = root.ok(&["exec", &c, "ip", "-4", "-o", "addr"]);
    assert!(
        out.contains("eth1") && out.contains("inet 10.71.250.2/24"),
        "{out}"
    );
    let hosts = root.ok(&["exec", &c, "cat", "/etc/hosts"]);
    assert!(hosts.contains("10.71.250.2\tsecond"), "{hosts}");
    let c2 = inspect(&root, &[&c]);
    assert_eq!(
        c2["NetworkSettings"]["Networks"][&net]["Aliases"][0],
        "second"
    );
    let err = root.run(&["network", "connect", &net, &c]);
    assert!(String::from_utf8_lossy(&err.stderr).contains("already connected"));
    root.ok(&["network", "disconnect", &net, &c]);
    let out = root.ok(&["exec", &c, "ip", "-o", "link"]);
    assert!(!out.contains("eth1"), "{out}");
    assert!(!links().iter().any(|l| l == &format!("gbxv{}1", &id[..8])));
    root.ok(&["network", "rm", &net]);
    drop(g);
    network_teardown_leaves_nothing(&root, &[id]);
}

#[test]
fn run_on_the_default_bridge_narrates_every_network_step() {
    let root = busybox_root();
    let (_, events) = root.traced(&["run", "--rm", "busybox", "true"]);
    crate::support::assert_explained(&events);
    let nets = glassbox::network::store::all(root.path());
    let network: Vec<serde_json::Value> = events
        .iter()
        .filter(|e| e["kind"] == "network" && e["stage"] != "done")
        .map(|e| {
            serde_json::json!({
                "phase": e["phase"],
                "action": e["action"],
                "subject": e["subject"],
                "fields": e["fields"],
                "equivalent": e["equivalent"],
            })
        })
        .collect();
    let text = serde_json::to_string_pretty(&network).unwrap();
    let text = glassbox::network::redact::redact(&text, &nets)
        .replace(&root.path().display().to_string(), "[root]");
    insta::with_settings!({filters => vec![
        (r"containers/[0-9a-f]{64}", "containers/[id]"),
        (r"\b[0-9a-f]{12}\b", "[short-id]"),
        (r#""pid": \d+"#, r#""pid": [pid]"#),
        (r"netns \d+", "netns [pid]"),
        (r"-t \d+ -n", "-t [pid] -n"),
    ]}, {
        insta::assert_snapshot!("run_default_bridge_network_events", text);
    });
    drop(root);
}

#[test]
fn failed_starts_and_refused_addresses_leak_nothing() {
    let root = busybox_root();
    let mut g = Guard::new(&root);
    let net = g.network("fixed");
    root.ok(&["network", "create", "--subnet", "10.71.251.0/24", &net]);
    let a = g.container("a");
    let id = root
        .ok(&[
            "run",
            "-d",
            "--network",
            &net,
            "--ip",
            "10.71.251.50",
            "--name",
            &a,
            "busybox",
            "sleep",
            "60",
        ])
        .trim()
        .to_string();
    let out = root.ok(&["exec", &a, "ip", "-4", "-o", "addr", "show", "eth0"]);
    assert!(out.contains("inet 10.71.251.50/24"), "{out}");
    // The same address again: refused, naming who holds it; nothing made.
    let out = root.run(&[
        "run",
        "--rm",
        "--network",
        &net,
        "--ip",
        "10.71.251.50",
        "busybox",
        "true",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("already in use") && err.contains(&id[..12]),
        "{err}"
    );
    let out = root.run(&[
        "run",
        "--rm",
        "--network",
        &net,
        "--ip",
        "10.9.9.9",
        "busybox",
        "true",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not in network"));
    // A command that cannot start (127) still gives its address back.
    let out = root.run(&[
        "run",
        "--rm",
        "--network",
        &net,
        "busybox",
        "no-such-command",
    ]);
    assert_eq!(out.status.code(), Some(127));
    // An unknown network is a clear error.
    let out = root.run(&["run", "--rm", "--network", "nowhere", "busybox", "true"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("network nowhere not found"));
    let ipam: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root.path().join(format!("networks/{net}.ipam.json"))).unwrap(),
    )
    .unwrap();
    let held: Vec<&String> = ipam["addresses"].as_object().unwrap().keys().collect();
    assert_eq!(held, ["10.71.251.50"]);
    assert_eq!(
        std::fs::read_dir(root.path().join("containers"))
            .unwrap()
            .count(),
        1
    );
    // Bad subnets and names are refused without a trace in the root.
    for bad in [
        vec!["network", "create", "--subnet", "10.71.251.7/24", "x1"],
        vec!["network", "create", "--subnet", "10.71.251.0/24", "x2"],
        vec!["network", "create", "bad name"],
        vec!["network", "create", &net],
    ] {
        let out = root.run(&bad);
        assert!(!out.status.success(), "{bad:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).lines().count(),
            1,
            "{bad:?}"
        );
    }
    assert_eq!(root.ok(&["network", "ls", "-q"]).lines().count(), 1);
    drop(g);
    network_teardown_leaves_nothing(&root, &[id]);
}

#[test]
fn prune_removes_unused_networks_and_their_bridges() {
    let root = busybox_root();
    let mut g = Guard::new(&root);
    let used = g.network("used");
    let unused = g.network("unused");
    root.ok(&["network", "create", &used]);
    root.ok(&["network", "create", &unused]);
    let bridges = bridges_of(&root);
    assert_eq!(bridges.len(), 2);
    assert!(bridges.iter().all(|b| links().contains(b)));
    let c = g.container("holder");
    let id = root
        .ok(&[
            "run",
            "-d",
            "--network",
            &used,
            "--name",
            &c,
            "busybox",
            "sleep",
            "60",
        ])
        .trim()
        .to_string();
    let out = root.ok(&["network", "prune", "-f"]);
    let pruned: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(pruned, ["unused"], "{out}");
    assert_eq!(root.ok(&["network", "ls", "-q"]).trim(), "used");
    let now = links();
    assert_eq!(bridges.iter().filter(|b| now.contains(*b)).count(), 1);
    drop(g);
    network_teardown_leaves_nothing(&root, &[id]);
    assert!(bridges.iter().all(|b| !links().contains(b)));
}

/// Deletes a link this test made, even when the test fails.
struct LinkGuard(String);

impl Drop for LinkGuard {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.0])
            .output();
    }
}

/// The kernel deletes an exited container's veth pair in the background,
/// and on a loaded host a `start` soon after could find the old host end
/// still there. A start must not depend on that timing: it takes the next
/// free name and says nothing about the one that lingers. The lingering
/// end is played here by a veth pair (this kernel has no dummy links)
/// whose one end has the usual name.
#[test]
fn a_start_whose_old_veth_still_lingers_takes_a_fresh_name_and_removes_nothing() {
    let root = busybox_root();
    let mut g = Guard::new(&root);
    let name = g.container("lingering");
    let id = root
        .ok(&["create", "--name", &name, "busybox", "sleep", "60"])
        .trim()
        .to_string();
    let usual = format!("gbxv{}0", &id[..8]);
    let _dummy = LinkGuard(usual.clone());
    let made = std::process::Command::new("ip")
        .args(["link", "add", &usual, "type", "veth", "peer", "name"])
        .arg(format!("gbxt{}", std::process::id()))
        .status()
        .expect("ip link add");
    assert!(made.success(), "made the stand-in link {usual}");
    let (_, events) = root.traced(&["start", &name]);
    let actions: Vec<String> = events.iter().map(crate::support::key).collect();
    assert!(
        !actions.iter().any(|a| a == "network.veth_remove"),
        "start removed nothing: {actions:?}"
    );
    let fresh = format!("{usual}1");
    // The shim made the pair: wait until the container runs.
    let mut up = false;
    for _ in 0..100 {
        if links().contains(&fresh) {
            up = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(up, "the fresh host end {fresh} exists: {:?}", links());
    assert!(
        links().contains(&usual),
        "the lingering link was left alone"
    );
    let net: serde_json::Value =
        serde_json::from_str(&root.ok(&["network", "inspect", "bridge"])).unwrap();
    assert_eq!(
        net[0]["Containers"][&id]["HostVeth"],
        fresh.as_str(),
        "the record names the end this start made"
    );
    let out = root.ok(&["exec", &name, "ip", "-4", "-o", "addr", "show", "eth0"]);
    assert!(out.contains("inet "), "{out}");
    root.ok(&["rm", "-f", &name]);
}
