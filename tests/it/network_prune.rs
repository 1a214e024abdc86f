//! A root's default bridge does not outlive its use: `network prune` and
//! `system prune` delete it when no container uses it (the network's
//! record stays, and the next container makes the bridge again).

use crate::run::busybox_root;
use crate::support::Root;

/// Does the host have a link called `name`?
fn link_exists(name: &str) -> bool {
    std::process::Command::new("ip")
        .args(["link", "show", name])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// The bridge device of the root's default network.
fn default_bridge(root: &Root) -> String {
    let v: serde_json::Value = serde_json::from_str(&root.ok(&["network", "inspect", "bridge"]))
        .expect("network inspect is JSON");
    let b = v[0]["Options"]["com.docker.network.bridge.name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(b.starts_with("gbx-"), "{v:#}");
    b
}

/// Removes the container this test started, even when the test fails.
struct Container<'a>(&'a Root, &'static str);

impl Drop for Container<'_> {
    fn drop(&mut self) {
        let _ = self.0.run(&["rm", "-f", self.1]);
    }
}

#[test]
fn prune_deletes_the_default_bridge_only_when_no_container_uses_it() {
    let root = busybox_root();
    let c = Container(&root, "prune-holder");
    root.ok(&["run", "-d", "--name", c.1, "busybox", "sleep", "60"]);
    let bridge = default_bridge(&root);
    assert!(link_exists(&bridge));

    // In use: both prunes leave it.
    let out = root.ok(&["network", "prune", "-f"]);
    assert!(!out.contains(&bridge), "{out}");
    let out = root.ok(&["system", "prune", "-f"]);
    assert!(!out.contains(&bridge), "{out}");
    assert!(link_exists(&bridge), "a used bridge stays");

    // Unused: system prune deletes the device and says so; the record stays.
    root.ok(&["rm", "-f", c.1]);
    let (out, events) = root.traced(&["system", "prune", "-f"]);
    crate::support::assert_explained(&events);
    assert!(
        out.contains(&format!(
            "Deleted Bridges (made again when next used):\n{bridge}"
        )),
        "{out}"
    );
    assert!(events.iter().any(|e| e["action"] == "bridge_remove"));
    assert!(!link_exists(&bridge), "the unused bridge is gone");
    assert!(root.ok(&["network", "ls"]).contains("bridge"));

    // The next container makes it again, on the same subnet.
    let out = root.ok(&["run", "--rm", "busybox", "ip", "-4", "addr", "show", "eth0"]);
    assert!(out.contains("inet "), "{out}");
    assert!(link_exists(&bridge));
    let out = root.ok(&["network", "prune", "-f"]);
    assert!(out.contains(&bridge), "{out}");
    assert!(!link_exists(&bridge));
}
