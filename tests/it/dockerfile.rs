//! The Dockerfile language through the library: every sample app parses
//! cleanly, and every broken Dockerfile in fixtures/dockerfiles/broken/ gets
//! the diagnostics a student should see (one snapshot per file).

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
        let (df, warnings) = dockerfile::parse("Dockerfile", &text)
            .unwrap_or_else(|d| panic!("{}:\n{}", f.display(), d.render()));
        assert!(df.stages().len() >= 1);
        let rendered: Vec<String> = warnings.iter().map(|w| w.render()).collect();
        assert!(rendered.is_empty(), "{}: {rendered:#?}", f.display());
    }
}

#[test]
fn broken_dockerfiles_get_teaching_diagnostics() {
    let files = fixture_files("fixtures/dockerfiles/broken", ".Dockerfile");
    assert!(files.len() >= 8);
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&f).unwrap();
        let rendered = match dockerfile::parse(&name, &text) {
            Err(d) => d.render(),
            Ok((df, warnings)) => {
                if let Err(e) = glassbox::build::plan::Plan::new(&text, &df) {
                    let rendered = e.to_diagnostic(&name, &text).render();
                    insta::assert_snapshot!(
                        name.trim_end_matches(".Dockerfile").to_string(),
                        rendered
                    );
                    continue;
                }
                assert!(
                    !warnings.is_empty(),
                    "{name} is in the broken corpus but raised nothing"
                );
                warnings
                    .iter()
                    .map(|w| w.render())
                    .collect::<Vec<_>>()
                    .join("\n")
            }
        };
        insta::assert_snapshot!(name.trim_end_matches(".Dockerfile").to_string(), rendered);
    }
}
