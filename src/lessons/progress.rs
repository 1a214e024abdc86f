//! The student's progress, kept in the glassbox root
//! (`lessons/progress.json`), written atomically, and the moves between
//! its states: `start` begins a lesson, `next` and `run` step it, `check`
//! passes it (or not), `reset` forgets it. The CLI prints; the moves are
//! here, so any other front door (the API, a test) makes the same ones.

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

    /// `lessons start N`: N becomes the lesson `next` continues, from its
    /// first step.
    pub fn begin(&mut self, n: u32) {
        self.current = Some(n);
        *self.of(n) = LessonProgress {
            status: Status::InProgress,
            next_step: 0,
        };
    }

    /// `lessons run N`: goes on where N stopped, or begins it again when it
    /// was never started, another lesson is current, or it was played to
    /// its end (running the README's main job twice shows the lesson
    /// twice). Returns whether it began afresh (the caller prepares the
    /// lesson's state then).
    pub fn resume_or_begin(&mut self, n: u32, steps: usize) -> bool {
        let finished = self.lessons.get(&n).map_or(0, |l| l.next_step) >= steps;
        let fresh = self.status(n) == Status::NotStarted || self.current != Some(n) || finished;
        if fresh {
            self.begin(n);
        }
        fresh
    }

    /// The lesson `next` continues.
    pub fn current_lesson(&self) -> Result<u32, super::LessonError> {
        self.current.ok_or(super::LessonError::NothingStarted)
    }

    /// The step of lesson `n` to run next, or `None` when all `steps` ran.
    pub fn next_step(&self, n: u32, steps: usize) -> Option<usize> {
        let i = self.lessons.get(&n).map_or(0, |l| l.next_step);
        (i < steps).then_some(i)
    }

    /// Step `i` of lesson `n` ran.
    pub fn stepped(&mut self, n: u32, i: usize) {
        self.of(n).next_step = i + 1;
    }

    /// `lessons check N` graded every exercise: N passed when all did.
    pub fn checked(&mut self, n: u32, all_passed: bool) {
        self.of(n).status = if all_passed {
            Status::Passed
        } else {
            Status::InProgress
        };
    }

    /// `lessons reset N`: N is as if never started.
    pub fn forget(&mut self, n: u32) {
        self.lessons.remove(&n);
        if self.current == Some(n) {
            self.current = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lesson_moves_from_start_through_its_steps_to_passed_and_back() {
        let mut p = Progress::default();
        assert!(p.current_lesson().is_err(), "next before any start");
        p.begin(3);
        assert_eq!(p.current_lesson().unwrap(), 3);
        assert_eq!(p.status(3), Status::InProgress);
        assert_eq!(p.next_step(3, 2), Some(0));
        p.stepped(3, 0);
        assert_eq!(p.next_step(3, 2), Some(1));
        p.stepped(3, 1);
        assert_eq!(p.next_step(3, 2), None);
        p.checked(3, false);
        assert_eq!(p.status(3), Status::InProgress);
        p.checked(3, true);
        assert_eq!(p.status(3), Status::Passed);
        p.forget(3);
        assert_eq!(p.status(3), Status::NotStarted);
        assert!(p.current_lesson().is_err());
    }

    #[test]
    fn run_goes_on_where_it_stopped_and_starts_over_once_finished() {
        let mut p = Progress::default();
        assert!(p.resume_or_begin(1, 3), "never started: fresh");
        p.stepped(1, 0);
        assert!(!p.resume_or_begin(1, 3), "midway: goes on");
        assert_eq!(p.next_step(1, 3), Some(1));
        p.begin(2);
        assert!(p.resume_or_begin(1, 3), "another lesson is current: fresh");
        p.stepped(1, 0);
        p.stepped(1, 1);
        p.stepped(1, 2);
        assert!(p.resume_or_begin(1, 3), "played to its end: again");
        assert_eq!(p.next_step(1, 3), Some(0));
    }
}
