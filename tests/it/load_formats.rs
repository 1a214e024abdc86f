//! Loading archives other tools write: docker-archives (`docker save`,
//! skopeo's docker-archive:) and OCI archives laid out like docker 25's,
//! with plain tar layers. Image IDs survive; layers are gzipped the same
//! reproducible way glassbox packs them.

use crate::archive::{fails_with_one_line, rootfs_tar, store_state};
use crate::support::Root;
use sha2::{Digest, Sha256};
use std::path::Path;

/// Builds a docker-archive the way `docker save` lays it out: one dir per
/// layer holding layer.tar, a `<config digest>.json`, and manifest.json.
/// The second layer repeats the first through a symlink, as docker does.
fn docker_archive(path: &Path, corrupt: bool) -> String {
    let mut layer = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_mode(0o644);
    h.set_size(6);
    h.set_mtime(0);
    layer
        .append_data(&mut h, "srv/hand.txt", &b"handy\n"[..])
        .unwrap();
    let layer = layer.into_inner().unwrap();
    let diff = format!("sha256:{}", hex::encode(Sha256::digest(&layer)));
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux", "docker_version": "20.10.24",
        "config": {"Cmd": ["cat", "/srv/hand.txt"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [diff, diff]},
        "history": [{"created_by": "COPY hand.txt /srv/"}, {"created_by": "COPY hand.txt /srv/ again"}]
    }))
    .unwrap();
    let cfg_hex = hex::encode(Sha256::digest(&config));
    let manifest = serde_json::to_vec(&serde_json::json!([{
        "Config": format!("{cfg_hex}.json"),
        "RepoTags": ["docker.io/library/handmade:1"],
        "Layers": ["aaa/layer.tar", "bbb/layer.tar"],
    }]))
    .unwrap();
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    let mut file = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, name, data).unwrap();
    };
    let mut stored = layer.clone();
    if corrupt {
        let n = stored.len();
        stored[n / 3] ^= 1;
    }
    file("aaa/layer.tar", &stored);
    file(&format!("{cfg_hex}.json"), &config);
    file("manifest.json", &manifest);
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    b.append_link(&mut h, "bbb/layer.tar", "../aaa/layer.tar")
        .unwrap();
    b.finish().unwrap();
    format!("sha256:{cfg_hex}")
}

#[test]
fn a_docker_archive_loads_with_its_image_id_and_tags() {
    let r = Root::new();
    let good = r.path().join("docker.tar");
    let id = docker_archive(&good, false);
    let bad = r.path().join("docker-bad.tar");
    docker_archive(&bad, true);
    r.ok(&["images"]);
    let before = store_state(r.path());
    fails_with_one_line(&r, &["load", "-i", bad.to_str().unwrap()], "is corrupt");
    assert_eq!(store_state(r.path()), before);

    let (out, events) = r.traced(&["load", "-i", good.to_str().unwrap()]);
    crate::support::assert_explained(&events);
    assert!(events.iter().any(|e| e["action"] == "convert"));
    assert_eq!(out.trim(), format!("Loaded image: handmade:1 ({id})"));
    let v: serde_json::Value =
        serde_json::from_str(&r.ok(&["image", "inspect", "handmade:1"])).unwrap();
    assert_eq!(v.pointer("/0/Id").unwrap(), id.as_str());
    assert_eq!(v.pointer("/0/Config/Cmd/0").unwrap(), "cat");
    assert_eq!(
        v.pointer("/0/RootFS/Layers")
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let h: serde_json::Value =
        serde_json::from_str(&r.ok(&["history", "handmade:1", "--format", "json"])).unwrap();
    assert_eq!(
        h.pointer("/0/CreatedBy").unwrap(),
        "COPY hand.txt /srv/ again"
    );
    assert!(r.ok(&["store", "verify"]).contains("sound"));
    // The converted layers unpack and hold the file.
    let store = glassbox::store::Store::open(r.path()).unwrap();
    let img = store.resolve("handmade:1").unwrap();
    let lower = glassbox::image::lowerdirs(&store, &img).unwrap();
    assert_eq!(
        std::fs::read_to_string(lower[0].join("srv/hand.txt")).unwrap(),
        "handy\n"
    );
}

#[test]
fn a_docker_archive_written_by_skopeo_loads_with_the_same_image_id() {
    let r = Root::new();
    let id = r
        .ok(&["setup"])
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();
    let archive = r.path().join("skopeo-docker.tar");
    let sk = std::process::Command::new("skopeo")
        .args(["copy", "-q"])
        .arg(format!("oci:{}:busybox:latest", r.path().display()))
        .arg(format!(
            "docker-archive:{}:busybox:skopeo",
            archive.display()
        ))
        .output()
        .expect("skopeo is installed by scripts/install-deps.sh");
    assert!(sk.status.success(), "{sk:?}");
    let other = Root::new();
    let out = other.ok(&["load", "-i", archive.to_str().unwrap()]);
    assert_eq!(out.trim(), format!("Loaded image: busybox:skopeo ({id})"));
    // The uncompressed layer is gzipped the reproducible way: the same
    // blob digest as the original store's.
    let a: serde_json::Value =
        serde_json::from_str(&r.ok(&["layers", "busybox", "--format", "json"])).unwrap();
    let b: serde_json::Value =
        serde_json::from_str(&other.ok(&["layers", "busybox:skopeo", "--format", "json"])).unwrap();
    assert_eq!(a[0]["Digest"], b[0]["Digest"]);
    assert!(other.ok(&["store", "verify"]).contains("sound"));
}

/// Rewrites a glassbox OCI archive of one image the way docker 25+ writes
/// `docker save`: layers as plain tars, and names in
/// `io.containerd.image.name` with only the tag in `ref.name`.
fn as_docker25_oci(from: &Path, to: &Path) {
    let mut files: std::collections::BTreeMap<String, Vec<u8>> = Default::default();
    let mut ar = tar::Archive::new(std::fs::File::open(from).unwrap());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.header().entry_type().is_dir() {
            continue;
        }
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        files.insert(e.path().unwrap().display().to_string(), data);
    }
    let blob = |d: &str| format!("blobs/sha256/{}", &d[7..]);
    let sha = |b: &[u8]| format!("sha256:{}", hex::encode(Sha256::digest(b)));
    let mut index: serde_json::Value = serde_json::from_slice(&files["index.json"]).unwrap();
    let mdig = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let mut manifest: serde_json::Value = serde_json::from_slice(&files[&blob(&mdig)]).unwrap();
    for l in manifest["layers"].as_array_mut().unwrap() {
        let gz = files.remove(&blob(l["digest"].as_str().unwrap())).unwrap();
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut plain).unwrap();
        l["digest"] = sha(&plain).into();
        l["size"] = plain.len().into();
        l["mediaType"] = "application/vnd.oci.image.layer.v1.tar".into();
        files.insert(blob(&sha(&plain)), plain);
    }
    let mbytes = serde_json::to_vec(&manifest).unwrap();
    files.remove(&blob(&mdig));
    files.insert(blob(&sha(&mbytes)), mbytes.clone());
    index["manifests"][0]["digest"] = sha(&mbytes).into();
    index["manifests"][0]["size"] = mbytes.len().into();
    index["manifests"][0]["annotations"] = serde_json::json!({
        "io.containerd.image.name": "docker.io/library/plain:1",
        "org.opencontainers.image.ref.name": "1"
    });
    files.insert("index.json".into(), serde_json::to_vec(&index).unwrap());
    let mut b = tar::Builder::new(std::fs::File::create(to).unwrap());
    for (name, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, name, &data[..]).unwrap();
    }
    b.finish().unwrap();
}

#[test]
fn an_oci_archive_with_plain_tar_layers_loads_as_gzip_with_the_same_id() {
    let r = Root::new();
    let tar = r.path().join("rootfs.tar");
    rootfs_tar(&tar);
    let id = r
        .ok(&["import", tar.to_str().unwrap(), "hello:1"])
        .trim()
        .to_string();
    let saved = r.path().join("hello.tar");
    r.ok(&["save", "hello:1", "-o", saved.to_str().unwrap()]);
    let docker25 = r.path().join("docker25.tar");
    as_docker25_oci(&saved, &docker25);
    let other = Root::new();
    let (out, events) = other.traced(&["load", "-i", docker25.to_str().unwrap()]);
    crate::support::assert_explained(&events);
    assert!(events.iter().any(|e| e["action"] == "convert"));
    assert_eq!(out.trim(), format!("Loaded image: plain:1 ({id})"));
    let a: serde_json::Value =
        serde_json::from_str(&r.ok(&["layers", "hello:1", "--format", "json"])).unwrap();
    let b: serde_json::Value =
        serde_json::from_str(&other.ok(&["layers", "plain:1", "--format", "json"])).unwrap();
    assert_eq!(a[0]["Digest"], b[0]["Digest"], "gzipped the same way");
    assert!(other.ok(&["store", "verify"]).contains("sound"));
}
