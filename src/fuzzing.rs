//! The entry points the fuzz targets in `fuzz/` call, one per target, and
//! the corpus replay test (`tests/it/fuzz_replay.rs`) calls too, so a
//! target and its replay cannot drift apart.
//!
//! Each takes arbitrary bytes and must never panic. The ones that write
//! (layer apply, archive load, the registry, the lesson loader) work in a
//! fresh temp dir holding `root/` and an empty `sentinel/` beside it, and
//! panic if anything appears outside `root/`: the sentinel must stay empty
//! and nothing may be made next to the two. A panic here is a bug in the
//! engine, found by the fuzzer or by the replayed corpus.

use crate::image::apply::{apply_tar, ApplyMode};
use std::path::{Path, PathBuf};

/// A temp dir with `root/` (where the code under test may write) and an
/// empty `sentinel/` beside it; [`Sandbox::check`] panics if anything was
/// written outside `root/`.
pub struct Sandbox {
    top: tempfile::TempDir,
}

impl Sandbox {
    /// Makes the temp dir, `root/` and `sentinel/`.
    pub fn new() -> Sandbox {
        let top = tempfile::tempdir().expect("a temp dir");
        std::fs::create_dir(top.path().join("root")).expect("root dir");
        std::fs::create_dir(top.path().join("sentinel")).expect("sentinel dir");
        Sandbox { top }
    }

    /// Where the code under test may write.
    pub fn root(&self) -> PathBuf {
        self.top.path().join("root")
    }

    /// The directory that must stay empty.
    pub fn sentinel(&self) -> PathBuf {
        self.top.path().join("sentinel")
    }

    /// Panics if the sentinel holds anything or anything but `root/` and
    /// `sentinel/` is in the temp dir.
    pub fn check(&self, what: &str) {
        let in_sentinel: Vec<_> = std::fs::read_dir(self.sentinel())
            .expect("the sentinel dir is still there")
            .map(|e| e.map(|e| e.file_name()))
            .collect();
        assert!(
            in_sentinel.is_empty(),
            "{what} wrote into the sentinel beside its root: {in_sentinel:?}"
        );
        let mut beside: Vec<_> = std::fs::read_dir(self.top.path())
            .expect("the temp dir is still there")
            .map(|e| e.expect("a dir entry").file_name())
            .collect();
        beside.sort();
        assert_eq!(
            beside,
            ["root", "sentinel"],
            "{what} made files beside its root"
        );
    }
}

impl Default for Sandbox {
    fn default() -> Sandbox {
        Sandbox::new()
    }
}

/// Target `image_reference`: parsing may refuse, never panic, and what it
/// accepts prints back to a reference that parses to the same thing.
pub fn image_reference(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(r) = crate::reference::Reference::parse(s) {
        let again = crate::reference::Reference::parse(&r.to_string())
            .unwrap_or_else(|e| panic!("the printed reference {r} does not parse: {e}"));
        assert_eq!(again.to_string(), r.to_string());
    }
}

/// Target `dockerfile`: the parser, here-document pre-pass included, gives
/// a diagnostic or a syntax tree.
pub fn dockerfile(data: &[u8]) {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = crate::build::dockerfile::parse("Dockerfile", s);
    }
}

/// Target `layer_apply`: arbitrary tar bytes applied into a temp root (the
/// first byte's low bit picks overlay or flatten mode): apply may refuse
/// or fail, never write outside its root.
pub fn layer_apply(data: &[u8]) {
    let sb = Sandbox::new();
    let mode = if data.first().is_some_and(|b| b & 1 == 1) {
        ApplyMode::Overlay
    } else {
        ApplyMode::Flatten
    };
    let _ = apply_tar(data, &sb.root(), mode);
    sb.check("layer apply");
}

/// Target `archive_load`: arbitrary bytes loaded as `glassbox load` loads
/// a docker-archive or OCI archive (gzipped or not) into a store in a temp
/// root. A load may refuse; one that succeeds must leave a store whose
/// images unpack and that `store verify` finds sound.
pub fn archive_load(data: &[u8]) {
    let sb = Sandbox::new();
    if let Ok(store) = crate::store::Store::open(&sb.root()) {
        let loaded = crate::image::archive::load(&store, "fuzz.tar", data);
        if let Ok(loaded) = loaded {
            for (_, img) in &loaded {
                // Unpacking may refuse a layer's hostile entries; it must
                // stay inside the root either way.
                let _ = crate::image::lowerdirs(&store, img);
            }
            let v = crate::image::verify(&store).expect("store verify runs");
            assert!(
                v.problems.is_empty(),
                "store verify finds problems after a successful load: {:?}",
                v.problems
            );
        }
        drop(store);
    }
    sb.check("archive load");
}

/// Target `registry_http`: arbitrary bytes sent to the registry server as
/// one connection's requests (request lines, headers, Content-Length or
/// chunked bodies, ranges, queries), served by the real handlers with
/// storage in a temp root. Answers must be well-formed (no header carries
/// a line break, so a client's input cannot forge headers) and nothing may
/// be written outside the storage.
pub fn registry_http(data: &[u8]) {
    let sb = Sandbox::new();
    let served = crate::registry::server::serve_bytes(&open_upload(&sb.root()), data);
    if let Ok((_, heads)) = served {
        for (status, headers) in heads {
            assert!((100..600).contains(&status), "status {status}");
            for (n, v) in headers {
                assert!(
                    !n.is_empty() && !n.contains([':', '\r', '\n']) && !v.contains(['\r', '\n']),
                    "a malformed response header {n:?}: {v:?}"
                );
            }
        }
    }
    sb.check("the registry");
}

/// The id of the upload session to repository `a` that every fuzzed
/// registry starts with (real ids are random, which a fuzzer cannot guess):
/// `PATCH /v2/a/blobs/uploads/<this>` reaches the chunked-upload code.
pub const UPLOAD_ID: &str = "0123456789abcdef0123456789abcdef";

/// Leaves an empty upload session [`UPLOAD_ID`] to `a` in `storage`, as a
/// restarted server finds one, and returns `storage`.
fn open_upload(storage: &Path) -> PathBuf {
    let dir = storage.join("_uploads").join(UPLOAD_ID);
    std::fs::create_dir_all(&dir).expect("upload dir");
    std::fs::write(dir.join("repo"), "a").expect("upload repo");
    std::fs::write(dir.join("data"), "").expect("upload data");
    storage.to_path_buf()
}

/// What the registry (storage in `storage`) writes back for the raw
/// requests in `data`, as [`registry_http`] serves them; empty when the
/// storage cannot be made.
pub fn registry_output(storage: &Path, data: &[u8]) -> Vec<u8> {
    crate::registry::server::serve_bytes(&open_upload(storage), data)
        .map(|(out, _)| out)
        .unwrap_or_default()
}

/// Target `lesson_file`: the bytes before the first NUL are a
/// `lesson.toml`, loaded from a temp lessons folder as `glassbox lessons`
/// loads them; the bytes after it are a command's output, which every
/// check of the lesson grades and the transcript redaction rewrites.
pub fn lesson_file(data: &[u8]) {
    let (toml, output) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let output = String::from_utf8_lossy(output).into_owned();
    let sb = Sandbox::new();
    let dir = sb.root().join("lessons");
    let folder = dir.join("01-fuzz");
    std::fs::create_dir_all(&folder).expect("lesson folder");
    std::fs::write(folder.join("lesson.toml"), toml).expect("lesson file");
    if let Ok(lessons) = crate::lessons::load_all(&dir) {
        for l in &lessons {
            let lines = l
                .prepare
                .iter()
                .chain(l.steps.iter().map(|s| &s.run))
                .chain(l.cleanup.iter())
                .chain(l.exercises.iter().flat_map(|e| &e.solution))
                .chain(l.exercises.iter().flat_map(|e| &e.checks).map(|c| &c.run));
            for line in lines {
                let _ = crate::lessons::split_words(line);
                let _ = crate::lessons::client::is_docker(line);
                let _ = crate::lessons::client::with_root(line, &sb.root());
            }
            for c in l.exercises.iter().flat_map(|e| &e.checks) {
                for status in [0, 1] {
                    let ran = crate::lessons::Ran {
                        status,
                        stdout: output.clone(),
                    };
                    let _ = crate::lessons::evaluate(c, &ran);
                }
            }
            let _ = crate::lessons::transcript::chapter_path(l);
        }
    }
    let root = sb.root().display().to_string();
    let stable = std::collections::BTreeSet::new();
    let _ = crate::lessons::transcript::redact(&output, &root, &stable);
    sb.check("the lesson loader");
}

/// Target `api_route`: the bytes as `METHOD TARGET` (split at the first
/// space) routed as the Engine API routes a request: version prefix,
/// segments, query and filters. Must not panic, and a routed request's
/// path keeps the version prefix off.
pub fn api_route(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let (method, target) = s.split_once(' ').unwrap_or(("GET", s));
    if let Some(r) = crate::api::routes::resolve(method, target) {
        if r.version.is_some() {
            assert!(r.req.path.starts_with('/'), "path {:?}", r.req.path);
        }
        let _ = (r.too_old, r.pattern, r.filters, r.all);
    }
}

/// Runs `target` on every file under `dir` (a corpus), returning how many
/// it ran; for the replay test.
pub fn replay(dir: &Path, target: fn(&[u8])) -> std::io::Result<usize> {
    let mut n = 0;
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        if e.file_type()?.is_file() {
            target(&std::fs::read(e.path())?);
            n += 1;
        }
    }
    Ok(n)
}

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// Every target by name, as `fuzz/fuzz_targets/NAME.rs` and
/// `fuzz/corpus/NAME/` are named.
pub const TARGETS: &[(&str, Target)] = &[
    ("image_reference", image_reference),
    ("dockerfile", dockerfile),
    ("layer_apply", layer_apply),
    ("archive_load", archive_load),
    ("registry_http", registry_http),
    ("lesson_file", lesson_file),
    ("api_route", api_route),
];
