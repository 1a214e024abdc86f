//! Shared helpers: temporary roots, running the built binary, redaction.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Held while a test plays a lesson from start to reset: lessons publish
/// fixed host ports (8088, ...), so two tests must not play one at once.
pub static LESSONS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Takes [`LESSONS`], even after a test that held it panicked.
pub fn lesson_turn() -> std::sync::MutexGuard<'static, ()> {
    LESSONS.lock().unwrap_or_else(|e| e.into_inner())
}

/// The glassbox binary cargo built for these tests.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_glassbox"))
}

/// A temporary glassbox root, removed on drop.
pub struct Root {
    pub dir: tempfile::TempDir,
}

impl Root {
    pub fn new() -> Root {
        Root {
            dir: tempfile::Builder::new()
                .prefix("glassbox-test-")
                .tempdir()
                .expect("temp root"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `glassbox --root ROOT ARGS...` with tracing off unless asked.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.arg("--root").arg(self.path()).args(args);
        c.env_remove("GLASSBOX_ROOT");
        // `login` (lesson 11 logs in to its registry) keeps credentials in
        // the user's config directory: the root's own, so a test neither
        // reads nor changes the user's.
        c.env("XDG_CONFIG_HOME", self.path().join(".config"));
        c
    }

    /// Runs and returns the output, whatever the status.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run glassbox")
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "glassbox {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs with `--trace json --trace-file` and returns (stdout, events).
    pub fn traced(&self, args: &[&str]) -> (String, Vec<serde_json::Value>) {
        let file = self
            .path()
            .join(format!("trace-{}.jsonl", std::process::id()));
        let mut full = vec!["--trace", "json", "--trace-file", file.to_str().unwrap()];
        full.extend_from_slice(args);
        let out = self.ok(&full);
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let _ = std::fs::remove_file(&file);
        let events = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("trace line is JSON"))
            .collect();
        (out, events)
    }
}

impl Drop for Root {
    /// Bridges are the host's, not the root's: delete the ones this root
    /// made (its default network's included) before its directory goes.
    fn drop(&mut self) {
        // A test that failed midway may have left containers running:
        // their supervisors would outlive the root (and hold its ports).
        if self.path().join("containers").is_dir() {
            let ids = self.run(&["ps", "-a", "-q"]);
            for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
                let _ = self.run(&["rm", "-f", id]);
            }
        }
        glassbox::network::teardown_root(self.path());
    }
}

/// An event's `kind.action`, as its template is named.
pub fn key(ev: &serde_json::Value) -> String {
    format!(
        "{}.{}",
        ev["kind"].as_str().unwrap(),
        ev["action"].as_str().unwrap()
    )
}

/// Asserts every event has an explanation template.
pub fn assert_explained(events: &[serde_json::Value]) {
    for ev in events {
        let key = key(ev);
        assert!(
            glassbox::explain::template(&key).is_some(),
            "event {key} has no template under src/explain/templates/"
        );
    }
}
