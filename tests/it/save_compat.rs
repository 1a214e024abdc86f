//! `save` archives that older tools load too: beside the OCI layout
//! (`index.json`) the tar carries docker's own indexes, `manifest.json` and
//! `repositories`, pointing at the same blobs, as `docker save` 25+ writes
//! them. Checked here with the archive's bytes, with skopeo's
//! `docker-archive:` reader (podman's reader is the same library), and with
//! our own `load`, which prefers `index.json`. Docker 20.10 itself is tried
//! by hand (see the branch report); CI runs no dockerd.

use crate::support::Root;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

/// The archive's members in order: (name, is a directory, bytes).
fn members(archive: &Path) -> Vec<(String, bool, Vec<u8>)> {
    let mut ar = tar::Archive::new(std::fs::File::open(archive).unwrap());
    ar.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            (
                e.path().unwrap().display().to_string(),
                e.header().entry_type().is_dir(),
                data,
            )
        })
        .collect()
}

fn files(archive: &Path) -> BTreeMap<String, Vec<u8>> {
    members(archive)
        .into_iter()
        .filter(|(_, dir, _)| !dir)
        .map(|(n, _, d)| (n, d))
        .collect()
}

/// Writes `files` as a plain tar (for archives edited by a test).
fn write_tar(to: &Path, files: &BTreeMap<String, Vec<u8>>) {
    let mut b = tar::Builder::new(std::fs::File::create(to).unwrap());
    for (name, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, name, &data[..]).unwrap();
    }
    b.finish().unwrap();
}

fn sha(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

fn inspect(r: &Root, refs: &[&str]) -> Value {
    let mut args = vec!["image", "inspect"];
    args.extend_from_slice(refs);
    serde_json::from_str(&r.ok(&args)).unwrap()
}

/// The layer blob digests of `reference`, bottom to top.
fn layer_digests(r: &Root, reference: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(&r.ok(&["layers", reference, "--format", "json"])).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|l| l["Digest"].as_str().unwrap().to_string())
        .collect()
}

/// A root holding busybox and `hello:1` (busybox's layer plus a COPY
/// layer), also tagged `localhost:5001/app:latest`.
fn root_with_images() -> Root {
    let r = Root::new();
    r.ok(&["setup"]);
    let ctx = format!("{}/fixtures/apps/static-site", env!("CARGO_MANIFEST_DIR"));
    r.ok(&["build", "-t", "hello:1", &ctx]);
    r.ok(&["tag", "hello:1", "localhost:5001/app:latest"]);
    r
}

fn skopeo(args: &[&str]) -> Vec<u8> {
    let out = std::process::Command::new("skopeo")
        .args(args)
        .output()
        .expect("skopeo is installed by scripts/install-deps.sh");
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn save_writes_manifest_json_and_repositories_pointing_at_its_own_blobs() {
    let r = root_with_images();
    let archive = r.path().join("all.tar");
    let (_, events) = r.traced(&[
        "save",
        "hello:1",
        "localhost:5001/app:latest",
        "busybox",
        "-o",
        archive.to_str().unwrap(),
    ]);
    crate::support::assert_explained(&events);

    // The fixed order: the three indexes right after oci-layout, then blobs.
    let m = members(&archive);
    let names: Vec<&str> = m.iter().take(6).map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "oci-layout",
            "index.json",
            "manifest.json",
            "repositories",
            "blobs/",
            "blobs/sha256/"
        ]
    );
    let f = files(&archive);
    for (name, data) in &f {
        if let Some(hex) = name.strip_prefix("blobs/sha256/") {
            assert_eq!(sha(data), format!("sha256:{hex}"), "{name}");
        }
    }

    let img = inspect(&r, &["hello:1", "busybox"]);
    let manifest: Value = serde_json::from_slice(&f["manifest.json"]).unwrap();
    let blob = |d: &str| format!("blobs/sha256/{}", &d[7..]);
    let hello_layers = layer_digests(&r, "hello:1");
    let bb_layers = layer_digests(&r, "busybox");
    assert_eq!(hello_layers.len(), 2);
    assert_eq!(
        manifest,
        json!([
            {"Config": blob(img[0]["Id"].as_str().unwrap()),
             "RepoTags": ["hello:1", "localhost:5001/app:latest"],
             "Layers": hello_layers.iter().map(|d| blob(d)).collect::<Vec<_>>()},
            {"Config": blob(img[1]["Id"].as_str().unwrap()),
             "RepoTags": ["busybox:latest"],
             "Layers": bb_layers.iter().map(|d| blob(d)).collect::<Vec<_>>()},
        ])
    );
    // Every file it names is in the archive, and the config is the image's.
    for e in manifest.as_array().unwrap() {
        let cfg = &f[e["Config"].as_str().unwrap()];
        let v: Value = serde_json::from_slice(cfg).unwrap();
        assert_eq!(
            v["rootfs"]["diff_ids"].as_array().unwrap().len(),
            e["Layers"].as_array().unwrap().len()
        );
        for l in e["Layers"].as_array().unwrap() {
            assert!(f.contains_key(l.as_str().unwrap()), "{l}");
        }
    }
    // repositories: repo -> tag -> the top layer's file name, as docker 25.
    let repos: Value = serde_json::from_slice(&f["repositories"]).unwrap();
    let top = |ls: &[String]| ls.last().unwrap()[7..].to_string();
    assert_eq!(
        repos,
        json!({
            "busybox": {"latest": top(&bb_layers)},
            "hello": {"1": top(&hello_layers)},
            "localhost:5001/app": {"latest": top(&hello_layers)},
        })
    );

    // By digest only: in the archive, but with no tag (docker tags nothing
    // then) and so no repositories file.
    let index: Value = serde_json::from_slice(&f["index.json"]).unwrap();
    let mdig = index["manifests"][0]["digest"].as_str().unwrap();
    let by_digest = r.path().join("by-digest.tar");
    r.ok(&[
        "save",
        &format!("hello@{mdig}"),
        "-o",
        by_digest.to_str().unwrap(),
    ]);
    let f = files(&by_digest);
    let manifest: Value = serde_json::from_slice(&f["manifest.json"]).unwrap();
    assert_eq!(manifest[0]["RepoTags"], json!([]));
    assert_eq!(
        manifest[0]["Config"],
        json!(blob(img[0]["Id"].as_str().unwrap()))
    );
    assert!(!f.contains_key("repositories"));

    // The same images in another root give the same bytes.
    let other = root_with_images();
    let again = other.path().join("all.tar");
    other.ok(&[
        "save",
        "hello:1",
        "localhost:5001/app:latest",
        "busybox",
        "-o",
        again.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read(&archive).unwrap(),
        std::fs::read(&again).unwrap()
    );
}

#[test]
fn skopeo_reads_the_archive_as_a_docker_archive_with_the_same_config_and_layers() {
    let r = root_with_images();
    let archive = r.path().join("app.tar");
    r.ok(&[
        "save",
        "localhost:5001/app:latest",
        "-o",
        archive.to_str().unwrap(),
    ]);
    let img = inspect(&r, &["hello:1"]);
    let id = img[0]["Id"].as_str().unwrap();
    let diff_ids = img[0]["RootFS"]["Layers"].clone();
    let src = format!("docker-archive:{}", archive.display());

    // docker-archive readers name layers by diff_id (they unpack them to
    // check), and keep the config byte for byte: its digest is the image ID.
    let raw: Value = serde_json::from_slice(&skopeo(&["inspect", "--raw", &src])).unwrap();
    assert_eq!(raw["config"]["digest"], id);
    let reported: Vec<&Value> = raw["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| &l["digest"])
        .collect();
    assert_eq!(json!(reported), diff_ids);
    let config = skopeo(&["inspect", "--config", "--raw", &src]);
    assert_eq!(sha(&config), id);
    let named = format!("{src}:localhost:5001/app:latest");
    let v: Value = serde_json::from_slice(&skopeo(&["inspect", &named])).unwrap();
    assert_eq!(v["Layers"], diff_ids);

    // Copied out to an OCI layout: skopeo recompresses the layers with its
    // own gzip and rewrites the config in OCI form (same fields), so the
    // layers are checked by what they unpack to and the config by content.
    let dir = tempfile::tempdir().unwrap();
    let dest = format!("oci:{}:app", dir.path().display());
    skopeo(&["copy", "-q", &named, &dest]);
    let read = |d: &str| std::fs::read(dir.path().join("blobs/sha256").join(&d[7..])).unwrap();
    let index: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("index.json")).unwrap()).unwrap();
    let m: Value =
        serde_json::from_slice(&read(index["manifests"][0]["digest"].as_str().unwrap())).unwrap();
    let copied: Value =
        serde_json::from_slice(&read(m["config"]["digest"].as_str().unwrap())).unwrap();
    let ours: Value =
        serde_json::from_slice(&files(&archive)[&format!("blobs/sha256/{}", &id[7..])]).unwrap();
    assert_eq!(copied, ours);
    let unpacked: Vec<String> = m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let gz = read(l["digest"].as_str().unwrap());
            let mut plain = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut plain)
                .unwrap();
            sha(&plain)
        })
        .collect();
    assert_eq!(json!(unpacked), diff_ids);
}

#[test]
fn load_prefers_index_json_and_either_index_alone_gives_the_same_images() {
    let r = root_with_images();
    let archive = r.path().join("both.tar");
    r.ok(&[
        "save",
        "hello:1",
        "localhost:5001/app:latest",
        "busybox",
        "-o",
        archive.to_str().unwrap(),
    ]);
    let want = inspect(&r, &["hello:1", "busybox"]);
    let same_images = |other: &Root, refs: [&str; 2]| {
        let got = inspect(other, &refs);
        for i in 0..2 {
            assert_eq!(got[i]["Id"], want[i]["Id"]);
            assert_eq!(got[i]["RootFS"], want[i]["RootFS"]);
        }
        assert_eq!(layer_digests(other, refs[0]), layer_digests(&r, "hello:1"));
        assert_eq!(layer_digests(other, refs[1]), layer_digests(&r, "busybox"));
        assert!(other.ok(&["store", "verify"]).contains("sound"));
    };

    // The archive as saved: read through index.json.
    let other = Root::new();
    let (out, events) = other.traced(&["load", "-i", archive.to_str().unwrap()]);
    crate::support::assert_explained(&events);
    assert!(
        out.contains("Loaded image: localhost:5001/app:latest"),
        "{out}"
    );
    let load = events.iter().rfind(|e| e["action"] == "load").unwrap();
    assert_eq!(load["fields"]["format"], "oci-archive");
    same_images(&other, ["localhost:5001/app:latest", "busybox"]);

    // With manifest.json naming something else, index.json still wins.
    let mut f = files(&archive);
    let mut manifest: Value = serde_json::from_slice(&f["manifest.json"]).unwrap();
    manifest[0]["RepoTags"] = json!(["decoy:1"]);
    f.insert(
        "manifest.json".into(),
        serde_json::to_vec(&manifest).unwrap(),
    );
    let decoy = r.path().join("decoy.tar");
    write_tar(&decoy, &f);
    let other = Root::new();
    other.ok(&["load", "-i", decoy.to_str().unwrap()]);
    same_images(&other, ["hello:1", "busybox"]);
    assert!(!other.run(&["image", "inspect", "decoy:1"]).status.success());

    // Without the OCI layout, manifest.json alone brings the same images:
    // the gzipped layers are unpacked, checked against the diff_ids and
    // gzipped again the reproducible way, to the same blobs.
    let mut f = files(&archive);
    f.remove("index.json");
    f.remove("oci-layout");
    let docker_only = r.path().join("docker-only.tar");
    write_tar(&docker_only, &f);
    let other = Root::new();
    let (_, events) = other.traced(&["load", "-i", docker_only.to_str().unwrap()]);
    let load = events.iter().rfind(|e| e["action"] == "load").unwrap();
    assert_eq!(load["fields"]["format"], "docker-archive");
    same_images(&other, ["localhost:5001/app:latest", "busybox"]);
    same_images(&other, ["hello:1", "busybox"]);
}
