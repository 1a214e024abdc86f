//! Hostile layer tars, generated here: nothing may be written outside the
//! destination (a sentinel directory beside it stays empty), and each
//! refusal is an explained event.

use glassbox::image::apply::{apply_tar, ApplyMode};
use std::path::Path;

/// Appends an entry with a raw name (bypassing the tar crate's checks).
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

#[test]
fn hostile_entries_are_refused_and_nothing_lands_outside_the_root() {
    let top = tempfile::tempdir().unwrap();
    let dest = top.path().join("root");
    let sentinel = top.path().join("sentinel");
    std::fs::create_dir_all(&dest).unwrap();
    std::fs::create_dir_all(&sentinel).unwrap();
    let s = sentinel.display().to_string();
    let mut b = tar::Builder::new(Vec::new());
    raw(
        &mut b,
        "../sentinel/dotdot",
        tar::EntryType::Regular,
        "",
        b"x",
    );
    raw(
        &mut b,
        &format!("{s}/absolute"),
        tar::EntryType::Regular,
        "",
        b"x",
    );
    raw(&mut b, "escape", tar::EntryType::Symlink, &s, b"");
    raw(
        &mut b,
        "escape/through-symlink",
        tar::EntryType::Regular,
        "",
        b"x",
    );
    raw(&mut b, "hostfile", tar::EntryType::Link, "/etc/passwd", b"");
    raw(&mut b, "sda", tar::EntryType::Block, "", b"");
    raw(&mut b, "ok.txt", tar::EntryType::Regular, "", b"fine");
    let bytes = b.into_inner().unwrap();

    let cap = glassbox::trace::capture();
    let stats = apply_tar(&bytes[..], &dest, ApplyMode::Flatten).unwrap();
    let events: Vec<serde_json::Value> = cap
        .events()
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .collect();
    crate::support::assert_explained(&events);

    assert_eq!(
        std::fs::read_dir(&sentinel).unwrap().count(),
        0,
        "sentinel was written"
    );
    assert_eq!(stats.refused, 4, "{events:#?}");
    // The write through `escape -> SENTINEL` was resolved inside the root,
    // as a chroot would resolve it.
    assert_eq!(
        std::fs::read_to_string(dest.join(s.trim_start_matches('/')).join("through-symlink"))
            .unwrap(),
        "x"
    );
    assert_eq!(
        std::fs::read_to_string(dest.join("ok.txt")).unwrap(),
        "fine"
    );
    assert!(!dest.join("sda").exists() && !dest.join("hostfile").exists());
    let reasons: Vec<&str> = events
        .iter()
        .filter(|e| e["action"] == "refuse")
        .map(|e| e["fields"]["reason"].as_str().unwrap())
        .collect();
    assert!(reasons.iter().any(|r| r.contains("'..'")));
    assert!(reasons.iter().any(|r| r.contains("absolute")));
    assert!(reasons.iter().any(|r| r.contains("hard link")));
    assert!(reasons.iter().any(|r| r.contains("device")));
}

fn lower_then_upper(dest: &Path, mode: ApplyMode) {
    let mut b = tar::Builder::new(Vec::new());
    raw(&mut b, "a/", tar::EntryType::Directory, "", b"");
    raw(&mut b, "a/keep", tar::EntryType::Regular, "", b"k");
    raw(&mut b, "a/gone", tar::EntryType::Regular, "", b"g");
    raw(&mut b, "o/", tar::EntryType::Directory, "", b"");
    raw(&mut b, "o/old", tar::EntryType::Regular, "", b"o");
    apply_tar(&b.into_inner().unwrap()[..], dest, ApplyMode::Flatten).unwrap();
    let mut b = tar::Builder::new(Vec::new());
    raw(&mut b, "a/.wh.gone", tar::EntryType::Regular, "", b"");
    raw(&mut b, "o/.wh..wh..opq", tar::EntryType::Regular, "", b"");
    raw(&mut b, "o/new", tar::EntryType::Regular, "", b"n");
    apply_tar(&b.into_inner().unwrap()[..], dest, mode).unwrap();
}

#[test]
fn whiteouts_delete_files_when_flattening() {
    let d = tempfile::tempdir().unwrap();
    lower_then_upper(d.path(), ApplyMode::Flatten);
    assert!(d.path().join("a/keep").exists());
    assert!(std::fs::symlink_metadata(d.path().join("a/gone")).is_err());
    assert!(!d.path().join("o/old").exists());
    assert!(d.path().join("o/new").exists());
}

#[test]
fn whiteouts_become_overlay_markers_in_lowerdir_form() {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let d = tempfile::tempdir().unwrap();
    lower_then_upper(d.path(), ApplyMode::Overlay);
    let m = std::fs::symlink_metadata(d.path().join("a/gone")).unwrap();
    assert!(m.file_type().is_char_device());
    assert_eq!(m.rdev(), 0);
    let path = std::ffi::CString::new(d.path().join("o").display().to_string()).unwrap();
    let mut buf = [0u8; 8];
    // SAFETY: valid NUL-terminated strings and a buffer of buf.len() bytes.
    let n = unsafe {
        libc::lgetxattr(
            path.as_ptr(),
            c"trusted.overlay.opaque".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    assert_eq!(n, 1, "opaque xattr missing");
    assert_eq!(buf[0], b'y');
}

#[test]
fn symlinked_parents_are_followed_but_never_out_of_the_root() {
    let top = tempfile::tempdir().unwrap();
    let dest = top.path().join("root");
    std::fs::create_dir_all(&dest).unwrap();
    let mut b = tar::Builder::new(Vec::new());
    raw(&mut b, "usr/", tar::EntryType::Directory, "", b"");
    raw(&mut b, "usr/lib/", tar::EntryType::Directory, "", b"");
    raw(&mut b, "lib", tar::EntryType::Symlink, "usr/lib", b"");
    raw(&mut b, "lib64", tar::EntryType::Symlink, "/usr/lib", b"");
    raw(&mut b, "lib/libc.so", tar::EntryType::Regular, "", b"c");
    raw(&mut b, "lib64/ld.so", tar::EntryType::Regular, "", b"l");
    raw(&mut b, "up", tar::EntryType::Symlink, "../../../..", b"");
    raw(&mut b, "up/escaped", tar::EntryType::Regular, "", b"e");
    raw(&mut b, "loop", tar::EntryType::Symlink, "loop", b"");
    raw(&mut b, "loop/x", tar::EntryType::Regular, "", b"x");
    raw(&mut b, "lib/link", tar::EntryType::Link, "lib64/ld.so", b"");
    let cap = glassbox::trace::capture();
    let stats = apply_tar(&b.into_inner().unwrap()[..], &dest, ApplyMode::Flatten).unwrap();
    let events = cap.events();
    assert_eq!(
        std::fs::read_to_string(dest.join("usr/lib/libc.so")).unwrap(),
        "c"
    );
    assert_eq!(
        std::fs::read_to_string(dest.join("usr/lib/ld.so")).unwrap(),
        "l"
    );
    // `..` stops at the root: the file lands at the root, not above it.
    assert_eq!(std::fs::read_to_string(dest.join("escaped")).unwrap(), "e");
    assert!(!top.path().join("escaped").exists());
    // A hard link through symlinked parents finds the file it names.
    assert_eq!(
        std::fs::read_to_string(dest.join("usr/lib/link")).unwrap(),
        "l"
    );
    assert_eq!(stats.refused, 1, "{events:#?}");
    assert!(events
        .iter()
        .any(|e| e.action == "refuse" && e.subject == "entry loop/x"));
}
