//! Layer apply on arbitrary tar bytes, into a fresh temp root beside an
//! empty sentinel directory: apply may refuse or fail, never panic, and
//! never write outside its root (the sentinel stays empty).
#![no_main]

use glassbox::image::apply::{apply_tar, ApplyMode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let top = tempfile::tempdir().expect("temp dir");
    let (root, sentinel) = (top.path().join("root"), top.path().join("sentinel"));
    std::fs::create_dir(&root).unwrap();
    std::fs::create_dir(&sentinel).unwrap();
    let mode = if data.first().is_some_and(|b| b & 1 == 1) {
        ApplyMode::Overlay
    } else {
        ApplyMode::Flatten
    };
    let _ = apply_tar(data, &root, mode);
    assert_eq!(
        std::fs::read_dir(&sentinel).unwrap().count(),
        0,
        "apply wrote outside its root"
    );
    let names: Vec<_> = std::fs::read_dir(top.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "apply made {names:?} beside its root");
});
