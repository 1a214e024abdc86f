//! The direction of dependencies (design.md and ARCHITECTURE.md): a module
//! may use the modules below it and never one above, so the container
//! record, references and the trace stay where every layer can read them.
//! Read from the source itself, so a new upward `use` fails here.

use std::collections::BTreeMap;
use std::path::Path;

/// Each top module of src/ and its layer, lowest first.
///
/// `error` is still both ends at once: its `IoContext` helper and the
/// crate-wide `Result` are used by every layer, while its `Error` wraps each
/// module's own error type. So any module may use it, and it may use any
/// module. Typed errors below the top (a `StoreError`/`ImageError` in place
/// of `crate::Result` in store and image) would let it move up alone.
const LAYERS: &[&[&str]] = &[
    &["trace", "reference"],
    &["explain", "store", "kernel"],
    &["rootless", "sinks"],
    &["image", "network", "volume"],
    &["build", "registry", "runtime"],
    &["api", "doctor", "ocirt", "compare", "lessons"],
    &["cli", "fuzzing", "error", "main", "lib"],
];

fn rank(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// `crate::NAME` paths in code (not in comments) of one file.
fn uses(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + 7..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.push((n + 1, name));
            }
            rest = after;
        }
    }
    out
}

fn walk(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, files);
        } else if p.extension().is_some_and(|x| x == "rs") {
            files.push(p);
        }
    }
}

#[test]
fn no_module_uses_one_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    let mut upward = Vec::new();
    let mut unknown = BTreeMap::new();
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        let Some(mine) = rank(&top) else {
            unknown.insert(top, rel.display().to_string());
            continue;
        };
        for (line, used) in uses(&std::fs::read_to_string(f).unwrap()) {
            if used == "error" {
                continue;
            }
            match rank(&used) {
                Some(theirs) if theirs > mine => {
                    upward.push(format!("{}:{line}: {top} uses {used}", rel.display()))
                }
                Some(_) => {}
                // Items of lib.rs itself (crate::Result, crate::Error).
                None if used.chars().next().is_some_and(|c| c.is_ascii_lowercase()) => {
                    unknown.insert(used, rel.display().to_string());
                }
                None => {}
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "modules missing from LAYERS (add each where it belongs): {unknown:?}"
    );
    assert!(
        upward.is_empty(),
        "imports against the layering (move the shared piece down instead):\n{}",
        upward.join("\n")
    );
}

#[test]
fn the_check_sees_an_upward_use() {
    // The scanner itself: a use in code is found, one in a comment is not.
    let found = uses("use crate::runtime::x; // crate::cli\n/// crate::api\n");
    assert_eq!(found, vec![(1, "runtime".to_string())]);
    assert!(rank("runtime") > rank("network"));
}
