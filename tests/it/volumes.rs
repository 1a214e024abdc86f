//! Volumes and bind mounts: data that outlives the container, `:ro` that
//! the kernel enforces, a host directory seen from both sides, and the
//! volume commands that refuse to delete what a container still uses.

use crate::run::busybox_root;
use crate::support::{assert_explained, Root};

/// Force-removes the named containers when the test ends, pass or fail.
struct Cleanup<'a> {
    root: &'a Root,
    names: Vec<&'static str>,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        for n in &self.names {
            let _ = self.root.run(&["rm", "-f", "-v", n]);
        }
    }
}

#[test]
fn named_volume_data_survives_the_container() {
    let root = busybox_root();
    let (_, events) = root.traced(&[
        "run",
        "--rm",
        "-v",
        "data:/srv",
        "busybox",
        "sh",
        "-c",
        "echo kept > /srv/note",
    ]);
    assert_explained(&events);
    let create = events
        .iter()
        .find(|e| e["kind"] == "volume" && e["action"] == "create")
        .expect("a volume.create event");
    assert_eq!(create["fields"]["name"], "data");
    assert!(events.iter().any(|e| e["kind"] == "volume"
        && e["action"] == "mount"
        && e["fields"]["target"] == "/srv"));
    // The container is gone; its data is not.
    assert!(root
        .ok(&["volume", "ls", "-q"])
        .lines()
        .any(|l| l == "data"));
    let data = root.path().join("volumes/data/_data/note");
    assert_eq!(std::fs::read_to_string(data).unwrap(), "kept\n");
    let out = root.ok(&[
        "run",
        "--rm",
        "-v",
        "data:/srv",
        "busybox",
        "cat",
        "/srv/note",
    ]);
    assert_eq!(out, "kept\n");
}

#[test]
fn a_new_volume_gets_the_image_content_at_its_path() {
    let root = busybox_root();
    let (out, events) = root.traced(&["run", "--rm", "-v", "etc:/etc", "busybox", "ls", "/etc"]);
    assert!(events
        .iter()
        .any(|e| e["kind"] == "volume" && e["action"] == "copy"));
    assert!(
        !out.trim().is_empty(),
        "the image's /etc was copied: {out:?}"
    );
    assert!(root
        .path()
        .join("volumes/etc/_data")
        .read_dir()
        .unwrap()
        .next()
        .is_some());
}

#[test]
fn read_only_volume_refuses_writes() {
    let root = busybox_root();
    let out = root.run(&[
        "run",
        "--rm",
        "-v",
        "data:/srv:ro",
        "busybox",
        "sh",
        "-c",
        "echo x > /srv/f",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Read-only file system"), "stderr: {err}");
    assert!(!root.path().join("volumes/data/_data/f").exists());
}

#[test]
fn bind_mount_is_visible_from_both_sides() {
    let root = busybox_root();
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("from-host"), "hello from the host\n").unwrap();
    let spec = format!("{}:/www", host.path().display());
    let out = root.ok(&[
        "run",
        "--rm",
        "-v",
        &spec,
        "busybox",
        "sh",
        "-c",
        "cat /www/from-host; echo hello from the container > /www/from-container",
    ]);
    assert_eq!(out, "hello from the host\n");
    assert_eq!(
        std::fs::read_to_string(host.path().join("from-container")).unwrap(),
        "hello from the container\n"
    );
    let ro = format!("{}:/www:ro", host.path().display());
    let out = root.run(&["run", "--rm", "-v", &ro, "busybox", "rm", "/www/from-host"]);
    assert!(!out.status.success());
    assert!(host.path().join("from-host").exists());
}

#[test]
fn volume_in_use_cannot_be_removed_and_rm_v_takes_anonymous_volumes() {
    let root = busybox_root();
    let _c = Cleanup {
        root: &root,
        names: vec!["keeper"],
    };
    root.ok(&[
        "run",
        "--name",
        "keeper",
        "-v",
        "data:/srv",
        "-v",
        "/cache",
        "busybox",
        "true",
    ]);
    let out = root.run(&["volume", "rm", "data"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("in use by container keeper"), "stderr: {err}");
    let v: serde_json::Value = serde_json::from_str(&root.ok(&["inspect", "keeper"])).unwrap();
    let mounts = v[0]["Mounts"].as_array().unwrap();
    assert_eq!(mounts.len(), 2);
    let anon = mounts
        .iter()
        .find(|m| m["Destination"] == "/cache")
        .unwrap();
    let anon_name = anon["Name"].as_str().unwrap().to_string();
    assert_eq!(anon_name.len(), 64);
    root.ok(&["rm", "-v", "keeper"]);
    let names = root.ok(&["volume", "ls", "-q"]);
    assert!(
        !names.contains(&anon_name),
        "anonymous volume removed by rm -v"
    );
    assert!(names.lines().any(|l| l == "data"), "named volume stays");
    root.ok(&["volume", "rm", "data"]);
    assert!(!root.path().join("volumes/data").exists());
    let out = root.run(&["volume", "rm", "data"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no volume named"));
}

#[test]
fn volume_commands_create_inspect_and_prune() {
    let root = busybox_root();
    root.ok(&["volume", "create", "v1"]);
    let out = root.run(&["volume", "create", "v1"]);
    assert!(!out.status.success());
    let v: serde_json::Value =
        serde_json::from_str(&root.ok(&["volume", "inspect", "v1"])).unwrap();
    assert_eq!(v[0]["Name"], "v1");
    assert!(v[0]["Mountpoint"]
        .as_str()
        .unwrap()
        .ends_with("volumes/v1/_data"));
    let out = root.run(&["run", "--rm", "-v", "bad name:/x", "busybox", "true"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid characters"));
    let pruned = root.ok(&["volume", "prune", "-f"]);
    assert!(pruned.contains("v1"));
    assert_eq!(root.ok(&["volume", "ls", "-q"]), "");
}

#[test]
fn system_prune_removes_only_what_is_unused() {
    let root = busybox_root();
    let _c = Cleanup {
        root: &root,
        names: vec!["alive", "done"],
    };
    root.ok(&["run", "--name", "done", "-v", "/scratch", "busybox", "true"]);
    root.ok(&[
        "run",
        "-d",
        "--name",
        "alive",
        "-v",
        "kept:/data",
        "busybox",
        "sleep",
        "100",
    ]);
    root.ok(&["volume", "create", "spare"]);
    let src = root.path().join("other-rootfs");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("hello"), "hi\n").unwrap();
    let tarball = root.path().join("other.tar");
    let st = std::process::Command::new("tar")
        .arg("-cf")
        .arg(&tarball)
        .arg("-C")
        .arg(&src)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    root.ok(&["import", tarball.to_str().unwrap(), "other:1"]);
    // Without a terminal and without -f it asks nothing and does nothing.
    assert!(!root.run(&["system", "prune"]).status.success());
    assert!(root.ok(&["ps", "-a"]).contains("done"));

    let out = root.ok(&["system", "prune", "-f"]);
    assert!(out.contains("done"), "{out}");
    let ps = root.ok(&["ps", "-a"]);
    assert!(!ps.contains("done") && ps.contains("alive"), "{ps}");
    assert!(
        root.ok(&["images"]).contains("other"),
        "images stay without -a"
    );
    let vols = root.ok(&["volume", "ls", "-q"]);
    assert!(vols.contains("spare") && vols.contains("kept"));
    assert_eq!(
        vols.lines().count(),
        2,
        "the stopped container's anonymous volume went: {vols}"
    );

    let out = root.ok(&["system", "prune", "-a", "--volumes", "-f"]);
    assert!(out.contains("other:1"), "{out}");
    let images = root.ok(&["images"]);
    assert!(
        !images.contains("other") && images.contains("busybox"),
        "{images}"
    );
    assert_eq!(root.ok(&["volume", "ls", "-q"]), "kept\n");
    assert_eq!(root.ok(&["store", "verify"]).lines().count(), 1);
}
