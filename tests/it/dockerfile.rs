//! The Dockerfile language through the library: every sample app parses
//! cleanly, with no build-check warnings. (The broken corpus is built, and
//! its diagnostics snapshotted, in `build_diag.rs`.)

use glassbox::build::dockerfile;
use std::path::Path;

fn fixture_files(dir: &str, name_ends: &str) -> Vec<std::path::PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(name_ends) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_fixture_app_dockerfile_parses_without_errors_or_warnings() {
    let files = fixture_files("fixtures/apps", "Dockerfile");
    assert!(
        files.len() >= 3,
        "expected three sample apps, found {files:?}"
    );
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let parsed = dockerfile::parse("Dockerfile", &text)
            .unwrap_or_else(|d| panic!("{}:\n{}", f.display(), d.render()));
        let (df, warnings) = (parsed.dockerfile(), parsed.warnings());
        assert!(df.stages().len() >= 1);
        let rendered: Vec<String> = warnings.iter().map(|w| w.render()).collect();
        assert!(rendered.is_empty(), "{}: {rendered:#?}", f.display());
    }
}
