//! `glassbox setup` builds busybox:latest reproducibly, and tools nobody
//! here wrote (skopeo, umoci) read the store. Missing tools fail the test.

use crate::support::{assert_explained, Root};
use std::process::Command;

#[test]
fn setup_is_reproducible_across_roots_and_explained() {
    let (a, b) = (Root::new(), Root::new());
    let (out_a, events) = a.traced(&["setup"]);
    assert_explained(&events);
    let creates: Vec<_> = events
        .iter()
        .filter(|e| {
            e["kind"] == "layer" && e["action"] == "create" && e["fields"]["digest"].is_string()
        })
        .collect();
    assert_eq!(
        creates.len(),
        1,
        "the layer's digest is shown being computed"
    );
    let out_b = b.ok(&["setup"]);
    assert_eq!(out_a.trim(), out_b.trim());
    // Idempotent.
    assert_eq!(a.ok(&["setup"]).trim(), out_a.trim());
    let images = a.ok(&["images"]);
    assert!(
        images.contains("busybox") && images.contains("latest"),
        "{images}"
    );
}

#[test]
fn skopeo_and_umoci_read_the_store() {
    let r = Root::new();
    r.ok(&["setup"]);
    let layout = format!("oci:{}:busybox:latest", r.path().display());
    let out = Command::new("skopeo")
        .args(["inspect", &layout])
        .output()
        .expect("skopeo is installed (scripts/install-deps.sh)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["Os"], "linux");
    let dest = tempfile::tempdir().unwrap();
    let bundle = dest.path().join("b");
    let out = Command::new("umoci")
        .args([
            "unpack",
            "--image",
            &format!("{}:busybox:latest", r.path().display()),
        ])
        .arg(&bundle)
        .output()
        .expect("umoci is installed (scripts/install-deps.sh)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let echo = Command::new(bundle.join("rootfs/bin/busybox"))
        .args(["echo", "hi"])
        .output()
        .unwrap();
    assert_eq!(echo.stdout, b"hi\n");
}

#[test]
fn tag_then_rmi_keeps_shared_blobs_until_the_last_tag_goes() {
    let r = Root::new();
    r.ok(&["setup"]);
    r.ok(&["tag", "busybox", "mybox:dev"]);
    assert!(r.ok(&["images"]).contains("mybox"));
    let blobs = || {
        std::fs::read_dir(r.path().join("blobs/sha256"))
            .unwrap()
            .count()
    };
    let before = blobs();
    r.ok(&["rmi", "mybox:dev"]);
    assert_eq!(blobs(), before, "busybox:latest still uses them");
    let bad = r.run(&["rmi", "Bad:Tag"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid image reference"));
    r.ok(&["rmi", "busybox"]);
    assert_eq!(blobs(), 0);
}
