//! Images in and out of the store as files: `import` of rootfs tarballs,
//! `save` to OCI archives and `load` of them. Bad input gets one clear
//! error and leaves the store as it was. (Other archive formats:
//! `load_formats`; killed loads and full disks: `archive_crash`.)

use crate::support::Root;
use std::path::Path;

/// A deterministic tar of a small rootfs, plus one hostile entry that the
/// import must refuse.
pub fn rootfs_tar(path: &Path) {
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    let mut add = |name: &str, data: &[u8], dir: bool| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(if dir {
            tar::EntryType::Directory
        } else {
            tar::EntryType::Regular
        });
        h.set_mode(if dir { 0o755 } else { 0o644 });
        h.set_size(data.len() as u64);
        h.set_mtime(1_700_000_000);
        // Bypass the tar crate's path checks so `..` really is in the tar.
        h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        b.append(&h, data).unwrap();
    };
    add("etc/", b"", true);
    add("etc/hello.txt", b"hello from a tarball\n", false);
    add("../escape.txt", b"should never land\n", false);
    add("usr/", b"", true);
    add("usr/bin/", b"", true);
    b.finish().unwrap();
}

fn blobs(root: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root.join("blobs/sha256"))
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Everything that says what the store holds: blob names and index.json.
pub fn store_state(root: &Path) -> (Vec<String>, String) {
    (
        blobs(root),
        std::fs::read_to_string(root.join("index.json")).unwrap_or_default(),
    )
}

/// Asserts a command fails with exactly one line on stderr containing `want`.
pub fn fails_with_one_line(r: &Root, args: &[&str], want: &str) {
    let out = r.run(args);
    assert!(!out.status.success(), "{args:?} succeeded");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    assert!(err.contains(want), "{args:?}: {err}");
}

/// Snapshots a trace with what varies redacted: the root path, temp names,
/// timestamps, durations and PIDs. Kinds, actions, subjects, fields and
/// digests stay.
fn snapshot_trace(name: &str, root: &Path, events: &[serde_json::Value]) {
    let mut settings = insta::Settings::clone_current();
    let root_re = root.display().to_string().replace('.', r"\.");
    settings.add_filter(&root_re, "[ROOT]");
    settings.add_filter(r"\.tmp[A-Za-z0-9]{6}", "[TMP]");
    settings.bind(|| {
        insta::assert_json_snapshot!(name, events, {
            "[].ts_us" => "[ts]",
            "[].duration_us" => "[duration]",
            "[].pid" => "[pid]",
        });
    });
}

#[test]
fn setup_trace_matches_the_snapshot() {
    let r = Root::new();
    let (_, events) = r.traced(&["setup"]);
    crate::support::assert_explained(&events);
    snapshot_trace("setup-trace", r.path(), &events);
}

#[test]
fn import_makes_one_reproducible_layer_and_refuses_hostile_entries() {
    let r = Root::new();
    let tar = r.path().join("rootfs.tar");
    rootfs_tar(&tar);
    let (out, events) = r.traced(&["import", tar.to_str().unwrap(), "hello:1"]);
    crate::support::assert_explained(&events);
    assert!(events
        .iter()
        .any(|e| e["action"] == "refuse" && e["fields"]["path"] == "../escape.txt"));
    snapshot_trace("import-trace", r.path(), &events);
    assert!(!r.path().parent().unwrap().join("escape.txt").exists());
    let id = out.trim().to_string();
    let v: serde_json::Value =
        serde_json::from_str(&r.ok(&["image", "inspect", "hello:1"])).unwrap();
    assert_eq!(v.pointer("/0/RepoTags/0").unwrap(), "hello:1");
    assert_eq!(v.pointer("/0/Id").unwrap(), id.as_str());
    assert_eq!(
        v.pointer("/0/RootFS/Layers")
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(v.pointer("/0/Comment").unwrap(), "Imported from rootfs.tar");
    let l: serde_json::Value =
        serde_json::from_str(&r.ok(&["layers", "hello:1", "--format", "json"])).unwrap();
    assert_eq!(l.pointer("/0/FirstFiles/0").unwrap(), "etc/hello.txt");

    // Gzip and stdin give the same layer; another root gives the same ID.
    let gz = r.path().join("rootfs.tar.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::fast(),
    );
    std::io::copy(&mut std::fs::File::open(&tar).unwrap(), &mut enc).unwrap();
    enc.finish().unwrap();
    let out = r
        .cmd(&["import", "-", "hello:gz"])
        .stdin(std::fs::File::open(&gz).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let a: serde_json::Value =
        serde_json::from_str(&r.ok(&["image", "inspect", "hello:1", "hello:gz"])).unwrap();
    assert_eq!(a[0]["RootFS"], a[1]["RootFS"]);
    let other = Root::new();
    assert_eq!(
        other
            .ok(&["import", tar.to_str().unwrap(), "hello:1"])
            .trim(),
        id
    );
}

#[test]
fn a_truncated_or_non_tar_file_is_refused_and_the_store_is_unchanged() {
    let r = Root::new();
    r.ok(&["setup"]);
    let before = store_state(r.path());
    let junk = r.path().join("junk.tar");
    std::fs::write(&junk, b"this is not a tar file\n").unwrap();
    let good = r.path().join("rootfs.tar");
    rootfs_tar(&good);
    let bytes = std::fs::read(&good).unwrap();
    let cut = r.path().join("cut.tar");
    std::fs::write(&cut, &bytes[..700]).unwrap();
    let saved = r.path().join("bb.tar");
    r.ok(&["save", "busybox", "-o", saved.to_str().unwrap()]);
    let bb = std::fs::read(&saved).unwrap();
    let cut_archive = r.path().join("cut-archive.tar");
    std::fs::write(&cut_archive, &bb[..bb.len() / 2]).unwrap();
    let gz_cut = r.path().join("cut.tar.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, &bytes).unwrap();
    let gz = enc.finish().unwrap();
    std::fs::write(&gz_cut, &gz[..gz.len() - 20]).unwrap();

    for f in [&junk, &cut, &gz_cut] {
        fails_with_one_line(
            &r,
            &["import", f.to_str().unwrap(), "x:1"],
            "is truncated or not a tar",
        );
    }
    for f in [&junk, &cut_archive] {
        fails_with_one_line(
            &r,
            &["load", "-i", f.to_str().unwrap()],
            "is truncated or not a tar",
        );
    }
    fails_with_one_line(
        &r,
        &["load", "-i", good.to_str().unwrap()],
        "neither index.json",
    );
    assert_eq!(store_state(r.path()), before);
    assert!(r.ok(&["store", "verify"]).contains("sound"));
}

#[test]
fn save_then_load_into_another_root_gives_the_same_image() {
    let r = Root::new();
    r.ok(&["setup"]);
    let tar = r.path().join("rootfs.tar");
    rootfs_tar(&tar);
    r.ok(&["import", tar.to_str().unwrap(), "hello:1"]);
    let archive = r.path().join("both.tar");
    let (_, events) = r.traced(&[
        "save",
        "busybox",
        "hello:1",
        "-o",
        archive.to_str().unwrap(),
    ]);
    crate::support::assert_explained(&events);
    // Readable like any file the user makes (0666 less the umask), as
    // `docker save -o` writes it — not a temp file's private 0600.
    {
        use std::os::unix::fs::PermissionsExt;
        let plain = r.path().join("plain");
        std::fs::write(&plain, b"").unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&archive), mode(&plain));
    }
    // Saving again gives the same bytes.
    let again = r.path().join("again.tar");
    r.ok(&["save", "busybox", "hello:1", "-o", again.to_str().unwrap()]);
    assert_eq!(
        std::fs::read(&archive).unwrap(),
        std::fs::read(&again).unwrap()
    );

    let other = Root::new();
    let (out, events) = other.traced(&["load", "-i", archive.to_str().unwrap()]);
    crate::support::assert_explained(&events);
    assert!(out.contains("Loaded image: busybox:latest"), "{out}");
    let a: serde_json::Value =
        serde_json::from_str(&r.ok(&["image", "inspect", "busybox", "hello:1"])).unwrap();
    let b: serde_json::Value =
        serde_json::from_str(&other.ok(&["image", "inspect", "busybox", "hello:1"])).unwrap();
    for i in 0..2 {
        assert_eq!(a[i]["Id"], b[i]["Id"]);
        assert_eq!(a[i]["RootFS"], b[i]["RootFS"]);
        assert_eq!(a[i]["Metadata"], b[i]["Metadata"]);
    }
    assert!(other.ok(&["store", "verify"]).contains("sound"));

    // Other tools read the archive: skopeo is part of the project's setup.
    let sk = std::process::Command::new("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!("oci-archive:{}:busybox:latest", archive.display()))
        .output()
        .expect("skopeo is installed by scripts/install-deps.sh");
    assert!(sk.status.success(), "{sk:?}");
    let m: serde_json::Value = serde_json::from_slice(&sk.stdout).unwrap();
    assert_eq!(m["config"]["digest"], a[0]["Id"]);
}

#[test]
fn a_corrupt_blob_in_an_archive_is_refused_and_the_store_is_unchanged() {
    let r = Root::new();
    let tar = r.path().join("rootfs.tar");
    rootfs_tar(&tar);
    r.ok(&["import", tar.to_str().unwrap(), "hello:1"]);
    let archive = r.path().join("hello.tar");
    r.ok(&["save", "hello:1", "-o", archive.to_str().unwrap()]);
    let layer = serde_json::from_str::<serde_json::Value>(&r.ok(&["image", "inspect", "hello:1"]))
        .unwrap()
        .pointer("/0/Id")
        .unwrap()
        .as_str()
        .unwrap()
        .to_string();
    // Rewrite the archive with the config blob's bytes changed.
    let bad = r.path().join("bad.tar");
    let mut out = tar::Builder::new(std::fs::File::create(&bad).unwrap());
    let mut ar = tar::Archive::new(std::fs::File::open(&archive).unwrap());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        let path = e.path().unwrap().into_owned();
        if path.ends_with(&layer[7..]) {
            data[10] ^= 0x20;
        }
        let mut h = e.header().clone();
        out.append_data(&mut h, &path, &data[..]).unwrap();
    }
    out.finish().unwrap();
    let other = Root::new();
    other.ok(&["images"]);
    let before = store_state(other.path());
    fails_with_one_line(&other, &["load", "-i", bad.to_str().unwrap()], "is corrupt");
    assert_eq!(store_state(other.path()), before);
    other.ok(&["load", "-i", archive.to_str().unwrap()]);
}
