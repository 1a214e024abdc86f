//! Lesson lines that start with `docker`: the real docker CLI, pointed at
//! the daemon the lesson started in the background on `ROOT/docker.sock`
//! (`glassbox daemon -H unix://{root}/docker.sock`). What the daemon did for
//! the line is what it narrated into its log meanwhile.
//!
//! `{root}` in any lesson line stands for the lesson's glassbox root, so a
//! lesson can name a socket or a file of its own.

use super::{LessonError, Ran, Runner};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Whether `line` is a docker CLI line rather than a glassbox one.
pub fn is_docker(line: &str) -> bool {
    line.trim_start().starts_with("docker ")
}

/// `line` with `{root}` replaced by the lesson's root.
pub fn with_root(line: &str, root: &Path) -> String {
    line.replace("{root}", &root.display().to_string())
}

/// The socket a lesson's daemon listens on.
pub fn socket(root: &Path) -> PathBuf {
    root.join("docker.sock")
}

fn docker_cli() -> PathBuf {
    let p = PathBuf::from("/usr/local/bin/docker");
    if p.exists() {
        p
    } else {
        PathBuf::from("docker")
    }
}

/// The narration logs of the lesson's background steps, and their sizes.
fn logs(root: &Path) -> Vec<(PathBuf, u64)> {
    let mut v: Vec<(PathBuf, u64)> = std::fs::read_dir(root.join("lessons"))
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("bg-") && n.ends_with(".log"))
                })
                .map(|p| {
                    let n = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
                    (p, n)
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Runs one docker line; returns what it printed (stdout, stderr) and
/// what the daemon narrated while it ran.
pub fn run(
    runner: &Runner,
    line: &str,
    cwd: Option<&Path>,
) -> Result<(Ran, String, String), LessonError> {
    let words = super::split_words(&with_root(line, &runner.root)).map_err(LessonError::Data)?;
    let before = logs(&runner.root);
    let mut cmd = Command::new(docker_cli());
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    let config = runner.root.join("lessons").join("docker-config");
    let _ = std::fs::create_dir_all(&config);
    let out = cmd
        .args(&words[1..])
        .env(
            "DOCKER_HOST",
            format!("unix://{}", socket(&runner.root).display()),
        )
        .env("DOCKER_CONFIG", &config)
        .env("DOCKER_BUILDKIT", "0")
        .env_remove("DOCKER_CONTEXT")
        .stdin(Stdio::null())
        .output()
        .map_err(LessonError::Spawn)?;
    // Every request's step is told before its answer goes out, so once
    // the CLI is done the log stops growing; wait for it to settle.
    let mut last = logs(&runner.root);
    let mut still = Instant::now();
    let give_up = Instant::now() + Duration::from_secs(3);
    while still.elapsed() < Duration::from_millis(150) && Instant::now() < give_up {
        std::thread::sleep(Duration::from_millis(30));
        let now = logs(&runner.root);
        if now != last {
            last = now;
            still = Instant::now();
        }
    }
    let mut narration = String::new();
    for (path, size) in &last {
        let from = before
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, n)| *n)
            .unwrap_or(0);
        if *size > from {
            let all = std::fs::read(path).unwrap_or_default();
            narration.push_str(&String::from_utf8_lossy(
                &all[from as usize..*size as usize],
            ));
        }
    }
    Ok((
        Ran {
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        },
        String::from_utf8_lossy(&out.stderr).into_owned(),
        narration,
    ))
}
