//! Every file of every fuzz corpus (`fuzz/corpus/TARGET/`) run through the
//! same entry function its fuzz target calls (`glassbox::fuzzing`), so CI
//! replays what the fuzzer found without cargo-fuzz or a nightly
//! toolchain. The entry functions panic on a crash, on a write outside
//! their temp root (a sentinel directory beside it must stay empty), and on
//! their own invariants (a malformed registry answer, a load that verify
//! calls unsound).

use glassbox::fuzzing::{self, TARGETS};
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn corpus(target: &str) -> PathBuf {
    fuzz_dir().join("corpus").join(target)
}

#[test]
fn every_fuzz_target_has_an_entry_function_and_a_corpus() {
    let mut on_disk: Vec<String> = std::fs::read_dir(fuzz_dir().join("fuzz_targets"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = TARGETS.iter().map(|(n, _)| n.to_string()).collect();
    listed.sort();
    assert_eq!(
        on_disk, listed,
        "fuzz/fuzz_targets and fuzzing::TARGETS differ"
    );
    for name in &listed {
        let src =
            std::fs::read_to_string(fuzz_dir().join(format!("fuzz_targets/{name}.rs"))).unwrap();
        assert!(
            src.contains(&format!("glassbox::fuzzing::{name}(data)")),
            "fuzz target {name} does not call glassbox::fuzzing::{name}"
        );
    }
}

fn replay(target: &str) {
    let (_, f) = TARGETS.iter().find(|(n, _)| *n == target).unwrap();
    let n = fuzzing::replay(&corpus(target), *f).unwrap();
    assert!(n >= 3, "fuzz/corpus/{target} holds only {n} files");
}

#[test]
fn image_reference_corpus_never_panics() {
    replay("image_reference");
}

#[test]
fn dockerfile_corpus_never_panics() {
    replay("dockerfile");
}

#[test]
fn layer_apply_corpus_never_panics_nor_writes_outside_its_root() {
    replay("layer_apply");
}

#[test]
fn archive_load_corpus_never_panics_nor_writes_outside_its_root() {
    replay("archive_load");
}

#[test]
fn registry_http_corpus_never_panics_nor_writes_outside_its_storage() {
    replay("registry_http");
}

#[test]
fn lesson_file_corpus_never_panics() {
    replay("lesson_file");
}

#[test]
fn api_route_corpus_never_panics() {
    replay("api_route");
}

/// The seeds reach past the first refusal: a corpus of inputs that every
/// parser rejects at byte one would replay green and prove nothing.
#[test]
fn archive_seeds_load_as_images() {
    for seed in [
        "seed-docker",
        "seed-docker-gz",
        "seed-oci",
        "seed-docker-hardlink-out",
    ] {
        let data = std::fs::read(corpus("archive_load").join(seed)).unwrap();
        let sb = fuzzing::Sandbox::new();
        let store = glassbox::store::Store::open(&sb.root()).unwrap();
        let loaded = glassbox::image::archive::load(&store, seed, &data[..])
            .unwrap_or_else(|e| panic!("{seed} does not load: {e}"));
        assert_eq!(loaded[0].0, ["fuzz:1"], "{seed}");
        drop(store);
        sb.check(seed);
    }
}

#[test]
fn registry_seed_stores_a_blob_and_serves_a_range_of_it() {
    let data = std::fs::read(corpus("registry_http").join("seed-monolithic")).unwrap();
    let text = String::from_utf8_lossy(&data);
    assert!(text.starts_with("POST "), "the seed changed: {text}");
    let sb = fuzzing::Sandbox::new();
    let out = served(&sb, &data);
    assert!(out.contains("HTTP/1.1 201 Created\r\n"), "{out}");
    assert!(out.contains("HTTP/1.1 206 Partial Content\r\n"), "{out}");
    assert!(out.contains("\r\n\r\nell"), "bytes 1-3 of hello: {out}");
    sb.check("the registry");
}

fn served(sb: &fuzzing::Sandbox, data: &[u8]) -> String {
    String::from_utf8_lossy(&fuzzing::registry_output(&sb.root(), data)).into_owned()
}

#[test]
fn registry_seed_uploads_in_chunks_to_the_open_session() {
    let data = std::fs::read(corpus("registry_http").join("seed-chunked")).unwrap();
    let sb = fuzzing::Sandbox::new();
    let out = served(&sb, &data);
    assert!(out.contains("HTTP/1.1 100 Continue\r\n"), "{out}");
    assert!(out.contains("HTTP/1.1 202 Accepted\r\n"), "{out}");
    assert!(
        out.contains("Range: 0-4\r\n"),
        "the chunk was appended: {out}"
    );
    assert!(out.contains("HTTP/1.1 201 Created\r\n"), "{out}");
    assert!(
        out.ends_with("\r\n\r\nlo"),
        "the last 2 bytes of hello: {out}"
    );
    sb.check("the registry");
}
