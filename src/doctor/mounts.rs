//! The mount check: a bind mount or volume laid over a path where the
//! image has files, with nothing in it, hides the image's files (the
//! classic "my app directory is gone").

use super::{in_image, Finding, Subject};

fn names(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The mount checks of one container.
pub(super) fn check(c: &Subject) -> Vec<Finding> {
    let mut out = Vec::new();
    for m in &c.st.mounts {
        let Some(image_dir) = in_image(c.st, &m.destination) else {
            continue;
        };
        let has = names(&image_dir);
        if has.is_empty() || !m.source.is_dir() || !names(&m.source).is_empty() {
            continue;
        }
        let what = match &m.name {
            Some(n) => format!("volume {n}"),
            None => format!("bind mount {}", m.source.display()),
        };
        let shown: Vec<String> = has.iter().take(6).cloned().collect();
        out.push(Finding {
            code: "mount_hides_image",
            container: c.st.name.clone(),
            summary: format!(
                "the {what} is mounted over {} and is empty: it hides the image's {} there",
                m.destination,
                match has.len() {
                    1 => "1 entry".to_string(),
                    n => format!("{n} entries"),
                }
            ),
            evidence: vec![
                format!(
                    "{} (an image layer): {}{}",
                    image_dir.display(),
                    shown.join(", "),
                    if has.len() > shown.len() { ", ..." } else { "" }
                ),
                format!("{}: empty", m.source.display()),
            ],
            fix: match &m.name {
                Some(n) => format!(
                    "glassbox rm -f {} && glassbox run -d --name {} -v {n}:/data {} ...   # mount it elsewhere, or fill the volume first",
                    c.st.name, c.st.name, c.st.image
                ),
                None => format!(
                    "cp -a <the app files> {} && glassbox restart {}   # or mount it elsewhere than {}, or mount a new named volume there (-v NAME:{}): the image's files fill it",
                    m.source.display(),
                    c.st.name,
                    m.destination,
                    m.destination
                ),
            },
        });
    }
    out
}
