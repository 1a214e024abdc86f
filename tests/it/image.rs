//! Images: packing a directory reproducibly, committing config + manifest,
//! resolving tags back to images.

use glassbox::image::pack::PackOptions;
use glassbox::reference::Reference;
use glassbox::store::Store;
use std::os::unix::fs::PermissionsExt;

fn sample_tree(dir: &std::path::Path) {
    std::fs::create_dir_all(dir.join("etc")).unwrap();
    std::fs::create_dir_all(dir.join("tmp")).unwrap();
    std::fs::set_permissions(dir.join("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::fs::write(dir.join("etc/hostname"), "glassbox\n").unwrap();
    std::os::unix::fs::symlink("/etc/hostname", dir.join("name")).unwrap();
}

fn commit(store: &Store, dir: &std::path::Path) -> glassbox::store::Image {
    let d = store.layer_from_dir(dir, PackOptions::default()).unwrap();
    let config: oci_spec::image::ImageConfiguration = serde_json::from_value(serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [d.diff_id]},
        "history": [{"created_by": "test"}]
    }))
    .unwrap();
    store
        .commit_image(
            &config,
            &[(d.digest, d.size)],
            Some(&Reference::parse("sample:v1").unwrap()),
        )
        .unwrap()
}

#[test]
fn the_same_tree_gives_the_same_image_digest_in_two_roots() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (ta, tb) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    sample_tree(ta.path());
    sample_tree(tb.path());
    let ia = commit(&Store::open(a.path()).unwrap(), ta.path());
    let ib = commit(&Store::open(b.path()).unwrap(), tb.path());
    assert_eq!(ia.id, ib.id);
    assert_eq!(ia.manifest_digest, ib.manifest_digest);
    assert_eq!(ia.layers, ib.layers);
}

#[test]
fn a_committed_image_resolves_by_tag_and_by_digest() {
    let root = tempfile::tempdir().unwrap();
    let tree = tempfile::tempdir().unwrap();
    sample_tree(tree.path());
    let store = Store::open(root.path()).unwrap();
    let cap = glassbox::trace::capture();
    let img = commit(&store, tree.path());
    let events: Vec<serde_json::Value> = cap
        .events()
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .collect();
    crate::support::assert_explained(&events);
    assert_eq!(img.repo_tags, vec!["sample:v1".to_string()]);
    assert_eq!(img.layers.len(), 1);
    assert_eq!(img.layers[0].chain_id, img.layers[0].diff_id);
    let again = store.resolve("sample:v1").unwrap();
    assert_eq!(again.id, img.id);
    let by_digest = store
        .resolve(&format!("sample@{}", img.manifest_digest))
        .unwrap();
    assert_eq!(by_digest.id, img.id);
    let missing = store.resolve("sample:v2").unwrap_err().to_string();
    assert!(missing.contains("no such image: sample:v2"), "{missing}");
    let bad = store.resolve("Bad:Tag").unwrap_err().to_string();
    assert!(bad.contains("invalid image reference"), "{bad}");
    // The layer blob is a gzip tar holding exactly the tree, owners 0, mtime 0.
    let blob = store.blob_path(&img.layers[0].digest).unwrap();
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(
        std::fs::File::open(blob).unwrap(),
    ));
    let names: Vec<String> = ar
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            assert_eq!(e.header().mtime().unwrap(), 0);
            assert_eq!(e.header().uid().unwrap(), 0);
            e.path().unwrap().display().to_string()
        })
        .collect();
    assert_eq!(names, ["etc", "etc/hostname", "name", "tmp"]);
    // Unpacked once into layers/<chain-id>/ for overlay.
    let lower = glassbox::image::lowerdirs(&store, &img).unwrap();
    assert_eq!(lower.len(), 1);
    assert!(lower[0].ends_with(&img.layers[0].chain_id[7..]));
    assert_eq!(
        std::fs::read_to_string(lower[0].join("etc/hostname")).unwrap(),
        "glassbox\n"
    );
    assert_eq!(glassbox::image::lowerdirs(&store, &img).unwrap(), lower);
    // Removing the tag leaves the image unresolvable by it.
    assert_eq!(
        store.remove_tag("sample:v1").unwrap(),
        Some(img.manifest_digest)
    );
    assert!(store.resolve("sample:v1").is_err());
}
