//! Diagnostics that teach, for the whole corpus of broken Dockerfiles in
//! fixtures/dockerfiles/broken/: each file is built for real (parse errors,
//! build checks, COPY sources outside the context or excluded by
//! .dockerignore, missing stages and images, a failing RUN) against one
//! root that holds busybox, with `context/` beside the files as the build
//! context, and everything the student sees on stderr goes into one
//! snapshot. No colour; the temp root is redacted.

use crate::support::Root;
use std::path::Path;

fn corpus_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/dockerfiles/broken")
}

#[test]
fn every_broken_dockerfile_gets_a_teaching_diagnostic() {
    let dir = corpus_dir();
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".Dockerfile"))
        .collect();
    files.sort();
    assert!(files.len() >= 30, "the corpus shrank: {files:?}");
    let r = Root::new();
    r.ok(&["setup"]);
    let mut report = String::new();
    for name in &files {
        let out = r
            .cmd(&["--trace", "off", "build", "-f", name, "context"])
            .current_dir(&dir)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let warning = name.starts_with("warn-");
        assert_eq!(
            out.status.success(),
            warning,
            "{name}: warn-* files must build and the others must fail:\n{stderr}"
        );
        assert!(
            stderr.contains("= hint: "),
            "{name} printed no hint:\n{stderr}"
        );
        assert!(
            stderr.contains(&format!("--> {name}:")),
            "{name} has no file:line:column:\n{stderr}"
        );
        let shown = stderr.replace(&r.path().display().to_string(), "[ROOT]");
        report.push_str(&format!(
            "=== {name} (exit {})\n{}\n",
            out.status.code().unwrap_or(-1),
            shown.trim_end()
        ));
    }
    insta::assert_snapshot!("broken_dockerfile_corpus", report);
}
