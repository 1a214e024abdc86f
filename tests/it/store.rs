//! The store: the root is an OCI image layout; blobs are verified and
//! written atomically; leftovers of a killed command are swept.

use glassbox::store::Store;
use std::io::Write;

#[test]
fn open_creates_an_oci_layout_and_explains_it() {
    let dir = tempfile::tempdir().unwrap();
    let (store, events) = {
        let cap = glassbox::trace::capture();
        let s = Store::open(dir.path()).unwrap();
        (s, cap.events())
    };
    let layout: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("oci-layout")).unwrap()).unwrap();
    assert_eq!(layout["imageLayoutVersion"], "1.0.0");
    assert!(dir.path().join("blobs/sha256").is_dir());
    assert_eq!(store.index().unwrap().manifests().len(), 0);
    assert!(events.iter().any(|e| e.action == "init"));
    let json: Vec<serde_json::Value> = events
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .collect();
    crate::support::assert_explained(&json);
    // A second open changes nothing and says nothing.
    let cap = glassbox::trace::capture();
    Store::open(dir.path()).unwrap();
    assert!(cap.events().is_empty());
}

#[test]
fn a_blob_with_the_wrong_digest_is_refused_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut w = store.blob_writer().unwrap();
    w.write_all(b"hello").unwrap();
    let wrong = format!("sha256:{}", "0".repeat(64));
    let err = w.commit(Some(&wrong)).unwrap_err().to_string();
    assert!(err.contains("corrupt"), "{err}");
    assert_eq!(std::fs::read_dir(store.blobs_dir()).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(store.tmp_dir()).unwrap().count(), 0);

    let d = store.put_blob(b"hello").unwrap();
    assert_eq!(
        d,
        "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    );
    assert_eq!(store.read_blob(&d).unwrap(), b"hello");
    // Corrupt it on disk: reading notices.
    std::fs::write(store.blob_path(&d).unwrap(), b"jello").unwrap();
    assert!(store
        .read_blob(&d)
        .unwrap_err()
        .to_string()
        .contains("corrupt"));
}

#[test]
fn temp_files_of_a_killed_command_are_swept_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let tmp = store.tmp_dir();
    std::fs::write(tmp.join(".tmpHALF"), b"half a blob").unwrap();
    // While a command has the store open, its temp files are left alone
    // (a student may run `glassbox images` while a load is paused).
    let second = Store::open(dir.path()).unwrap();
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 1);
    // Once no command has it open (a killed one's claim goes with it),
    // the next open sweeps.
    drop((store, second));
    Store::open(dir.path()).unwrap();
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
}

#[test]
fn store_verify_finds_a_corrupt_blob() {
    let r = crate::support::Root::new();
    r.ok(&["setup"]);
    assert!(r.ok(&["store", "verify"]).contains("sound"));
    let blobs = r.path().join("blobs/sha256");
    let biggest = std::fs::read_dir(&blobs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    std::fs::write(&biggest, b"not the layer").unwrap();
    let out = r.run(&["store", "verify"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("is corrupt"));
}

#[test]
fn store_verify_finds_an_edited_unpacked_layer() {
    let r = crate::support::Root::new();
    r.ok(&["setup"]);
    let store = Store::open(r.path()).unwrap();
    let img = store.resolve("busybox").unwrap();
    let lower = glassbox::image::lowerdirs(&store, &img).unwrap();
    drop(store);
    assert!(r.ok(&["store", "verify"]).contains("sound"));
    std::fs::write(lower[0].join("etc/passwd"), "root::0:0::/:/bin/sh\n").unwrap();
    std::fs::write(lower[0].join("planted"), "not from the blob").unwrap();
    std::fs::remove_file(lower[0].join("etc/group")).unwrap();
    let out = r.run(&["store", "verify"]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("etc/passwd differs from the layer blob"),
        "{text}"
    );
    assert!(text.contains("planted is not in the layer blob"), "{text}");
    assert!(text.contains("etc/group is missing"), "{text}");
    // Removing the dir is the cure: it is unpacked again when next used.
    std::fs::remove_dir_all(&lower[0]).unwrap();
    assert!(r.ok(&["store", "verify"]).contains("sound"));
}

#[test]
fn concurrent_first_runs_of_a_fresh_image_share_its_unpacked_layers() {
    let r = crate::support::Root::new();
    r.ok(&["setup"]);
    // No layer is unpacked yet: every one of these runs needs them at once.
    let children: Vec<_> = (0..8)
        .map(|_| {
            r.cmd(&["run", "--rm", "--network", "none", "busybox", "true"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn run")
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let store = Store::open(r.path()).unwrap();
    let img = store.resolve("busybox").unwrap();
    let unpacked: Vec<_> = std::fs::read_dir(store.layers_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(unpacked.len(), img.layers.len(), "{unpacked:?}");
    drop(store);
    // The losers' copies are gone, not left in tmp/.
    let tmp: Vec<_> = std::fs::read_dir(r.path().join("tmp"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| !n.to_string_lossy().ends_with(".lock"))
        .collect();
    assert!(tmp.is_empty(), "left in tmp: {tmp:?}");
    assert!(r.ok(&["store", "verify"]).contains("sound"));
}
