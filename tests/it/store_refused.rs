//! `store verify` judges an unpacked layer by apply's own policy: an entry
//! apply refused on purpose (a hard link to a host file, a device node, a
//! `..` path) is reported as refused, not as missing, so the store stays
//! sound; a file that really went missing is still a problem.

use crate::support::Root;
use sha2::{Digest, Sha256};
use std::path::Path;

/// Appends an entry with a raw name and link (bypassing the tar crate's checks).
fn raw(b: &mut tar::Builder<Vec<u8>>, name: &str, kind: tar::EntryType, link: &str, data: &[u8]) {
    let mut h = tar::Header::new_old();
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    h.set_cksum();
    b.append(&h, data).unwrap();
}

/// Writes a one-layer docker-archive tagged `refused:1` at `path`.
fn docker_archive(path: &Path, layer: Vec<u8>) {
    let diff = format!("sha256:{}", hex::encode(Sha256::digest(&layer)));
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [diff]},
    }))
    .unwrap();
    let cfg = format!("{}.json", hex::encode(Sha256::digest(&config)));
    let manifest = serde_json::to_vec(&serde_json::json!([{
        "Config": cfg, "RepoTags": ["refused:1"], "Layers": ["l/layer.tar"],
    }]))
    .unwrap();
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    for (name, data) in [
        ("l/layer.tar", &layer),
        (cfg.as_str(), &config),
        ("manifest.json", &manifest),
    ] {
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, name, &data[..]).unwrap();
    }
    b.finish().unwrap();
}

/// Loads the layer as an image and unpacks it; returns its unpacked dir.
fn load_and_unpack(r: &Root, layer: Vec<u8>) -> std::path::PathBuf {
    let archive = r.path().join("in.tar");
    docker_archive(&archive, layer);
    r.ok(&["load", "-i", archive.to_str().unwrap()]);
    let store = glassbox::store::Store::open(r.path()).unwrap();
    let img = store.resolve("refused:1").unwrap();
    glassbox::image::lowerdirs(&store, &img).unwrap().remove(0)
}

#[test]
fn store_verify_reports_a_refused_hard_link_as_refused_not_missing() {
    let r = Root::new();
    let mut b = tar::Builder::new(Vec::new());
    raw(&mut b, "ok.txt", tar::EntryType::Regular, "", b"fine");
    raw(&mut b, "h", tar::EntryType::Link, "/etc/passwd", b"");
    raw(&mut b, "sda", tar::EntryType::Block, "", b"");
    raw(&mut b, "inner", tar::EntryType::Link, "ok.txt", b"");
    let dir = load_and_unpack(&r, b.into_inner().unwrap());
    assert!(!dir.join("h").exists() && !dir.join("sda").exists());
    assert!(
        dir.join("inner").exists(),
        "a link within the layer is kept"
    );

    let out = r.ok(&["store", "verify"]);
    assert!(out.contains("is sound"), "{out}");
    assert!(!out.contains("missing"), "{out}");
    assert!(
        out.contains("entry h was refused when unpacked (a hard link must point at a file earlier in the same layer)"),
        "{out}"
    );
    assert!(out.contains("entry sda was refused"), "{out}");

    // A file the layer did write is still checked.
    std::fs::remove_file(dir.join("ok.txt")).unwrap();
    let bad = r.run(&["store", "verify"]);
    let text = String::from_utf8_lossy(&bad.stdout);
    assert!(!bad.status.success(), "{text}");
    assert!(text.contains("ok.txt is missing"), "{text}");
    assert!(!text.contains(": h is missing"), "{text}");
}

#[test]
fn store_verify_still_finds_files_whose_parent_directory_was_removed() {
    let r = Root::new();
    let mut b = tar::Builder::new(Vec::new());
    // No entry for `d/` itself: apply makes it as the file's parent.
    raw(&mut b, "d/f", tar::EntryType::Regular, "", b"x");
    let dir = load_and_unpack(&r, b.into_inner().unwrap());
    assert!(r.ok(&["store", "verify"]).contains("is sound"));
    std::fs::remove_dir_all(dir.join("d")).unwrap();
    let bad = r.run(&["store", "verify"]);
    let text = String::from_utf8_lossy(&bad.stdout);
    assert!(!bad.status.success(), "{text}");
    assert!(text.contains("d/f is missing"), "{text}");
    assert!(!text.contains("refused"), "{text}");
}
