//! The student's progress, kept in the glassbox root
//! (`lessons/progress.json`), written atomically.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Where a student is with one lesson.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Never started.
    #[default]
    NotStarted,
    /// Started; some steps or the exercise remain.
    InProgress,
    /// Every exercise check passed.
    Passed,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::NotStarted => "not started",
            Status::InProgress => "in progress",
            Status::Passed => "passed",
        })
    }
}

/// One lesson's record.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LessonProgress {
    /// Its status.
    pub status: Status,
    /// The next step to run, from 0.
    pub next_step: usize,
}

/// All records, plus which lesson `next` continues.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Progress {
    /// The lesson `glassbox lessons next` continues.
    pub current: Option<u32>,
    /// Per lesson number.
    pub lessons: BTreeMap<u32, LessonProgress>,
}

impl Progress {
    /// Reads the file (an absent file is a fresh start).
    pub fn load(path: &Path) -> Progress {
        std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Writes the file atomically (temp file, then rename).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self)?)?;
        std::fs::rename(tmp, path)
    }

    /// The record of lesson `n` (created on first use).
    pub fn of(&mut self, n: u32) -> &mut LessonProgress {
        self.lessons.entry(n).or_default()
    }

    /// The status of lesson `n`.
    pub fn status(&self, n: u32) -> Status {
        self.lessons.get(&n).map(|l| l.status).unwrap_or_default()
    }
}
