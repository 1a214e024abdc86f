//! Describing images: `image inspect` is shaped like docker's, `history`
//! lists newest first, `layers` lists bottom to top with what each added.

use crate::support::Root;

#[test]
fn inspect_history_and_layers_describe_busybox() {
    let r = Root::new();
    let id = r
        .ok(&["setup"])
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();
    let v: serde_json::Value =
        serde_json::from_str(&r.ok(&["image", "inspect", "busybox"])).unwrap();
    assert_eq!(v.pointer("/0/Id").unwrap(), id.as_str());
    assert_eq!(v.pointer("/0/RepoTags/0").unwrap(), "busybox:latest");
    assert_eq!(v.pointer("/0/RootFS/Type").unwrap(), "layers");
    assert_eq!(
        v.pointer("/0/RootFS/Layers")
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(v.pointer("/0/Config/Cmd/0").unwrap(), "sh");
    assert_eq!(v.pointer("/0/Os").unwrap(), "linux");
    assert!(v.pointer("/0/Size").unwrap().as_u64().unwrap() > 1_000_000);

    let h: serde_json::Value =
        serde_json::from_str(&r.ok(&["history", "busybox", "--format", "json"])).unwrap();
    assert_eq!(h.pointer("/0/ID").unwrap(), id.as_str());
    assert_eq!(h.pointer("/0/EmptyLayer").unwrap(), false);
    assert_eq!(
        h.pointer("/0/DiffID").unwrap(),
        v.pointer("/0/RootFS/Layers/0").unwrap()
    );
    let table = r.ok(&["history", "busybox"]);
    assert!(table.starts_with("IMAGE"), "{table}");
    assert!(table.contains("glassbox setup"), "{table}");

    let l: serde_json::Value =
        serde_json::from_str(&r.ok(&["layers", "busybox", "--format", "json"])).unwrap();
    assert_eq!(
        l.pointer("/0/DiffID").unwrap(),
        v.pointer("/0/RootFS/Layers/0").unwrap()
    );
    assert!(l.pointer("/0/Files").unwrap().as_u64().unwrap() > 100);
    let top = l.pointer("/0/TopLevel").unwrap().as_array().unwrap();
    assert!(top.iter().any(|t| t == "bin") && top.iter().any(|t| t == "etc"));
    assert!(r.ok(&["layers", "busybox"]).contains("adds: bin"));

    let missing = r.run(&["image", "inspect", "nope:1"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no such image: nope:1"));
}

#[test]
fn history_marks_empty_layers_and_lists_newest_first() {
    let root = tempfile::tempdir().unwrap();
    let tree = tempfile::tempdir().unwrap();
    std::fs::write(tree.path().join("a.txt"), "a").unwrap();
    let store = glassbox::store::Store::open(root.path()).unwrap();
    let d = store
        .layer_from_dir(tree.path(), glassbox::image::pack::PackOptions::default())
        .unwrap();
    let config: oci_spec::image::ImageConfiguration = serde_json::from_value(serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {"Env": ["A=1"]},
        "rootfs": {"type": "layers", "diff_ids": [d.diff_id]},
        "history": [{"created_by": "COPY a.txt /"},
                    {"created_by": "ENV A=1", "empty_layer": true}]
    }))
    .unwrap();
    let tag = glassbox::reference::Reference::parse("two:1").unwrap();
    let img = store
        .commit_image(&config, &[(d.digest, d.size)], Some(&tag))
        .unwrap();
    let rows = glassbox::image::inspect::history(&store, &img).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].created_by, "ENV A=1");
    assert!(rows[0].empty_layer && rows[0].size == 0 && rows[0].diff_id.is_none());
    assert_eq!(rows[0].id, img.id);
    assert_eq!(rows[1].id, "<missing>");
    assert_eq!(
        rows[1].diff_id.as_deref(),
        Some(img.layers[0].diff_id.as_str())
    );
    assert!(rows[1].size >= 1024);
}

#[test]
fn completions_and_the_man_page_come_from_the_command_line_definitions() {
    let root = crate::support::Root::new();
    let bash = root.ok(&["completions", "bash"]);
    assert!(
        bash.contains("_glassbox()") && bash.contains("daemon"),
        "the daemon command is completed"
    );
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source <({} completions bash) && complete -p glassbox",
            crate::support::bin().display()
        ))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("-F _glassbox glassbox"));
    let man = root.ok(&["man"]);
    assert!(
        man.contains(".TH glassbox 1") && man.contains("daemon"),
        "{}",
        &man[..man.len().min(300)]
    );
}
