//! Lessons students run: a loader for the data in `lessons/`, a runner that
//! executes each step as a real glassbox command (so the narration is the
//! engine's own), checks that grade exercises against real state, and the
//! student's progress, kept in the glassbox root.
//!
//! Steps and checks run the glassbox binary itself as a child process with
//! the same root and trace flags: what the student sees in a lesson is
//! exactly what they would see typing the command.

pub mod background;
pub mod client;
mod http;
pub mod model;
mod progress;
pub mod transcript;

pub use model::{load_all, split_words, Check, Exercise, Lesson, LessonStep};
pub use progress::{Progress, Status};

use crate::trace::{self, Kind};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Errors of the lessons system.
#[derive(Debug, thiserror::Error)]
pub enum LessonError {
    /// The lesson data could not be read.
    #[error("{0}")]
    Data(String),
    /// No lesson has that number.
    #[error("there is no lesson {0}; `glassbox lessons list` shows them")]
    NoSuchLesson(u32),
    /// `next` with no lesson started.
    #[error("no lesson is in progress; start one with `glassbox lessons start N`")]
    NothingStarted,
    /// A step's command did not do what the lesson says it does.
    #[error("step {step} of lesson {lesson} (`glassbox {run}`) {problem}")]
    StepFailed {
        /// The lesson.
        lesson: u32,
        /// The step, from 1.
        step: usize,
        /// Its command line.
        run: String,
        /// What went wrong.
        problem: String,
    },
    /// The student quit at a step-through pause inside the step.
    #[error("you quit step {step} of lesson {lesson} at a pause; nothing was left behind, and `glassbox lessons next` runs it again")]
    Quit {
        /// The lesson.
        lesson: u32,
        /// The step, from 1.
        step: usize,
    },
    /// The glassbox binary could not be run.
    #[error("cannot run glassbox for the lesson: {0}")]
    Spawn(std::io::Error),
}

/// Where the lesson folders are: `GLASSBOX_LESSONS`, or the checkout's.
pub fn lessons_dir() -> PathBuf {
    std::env::var_os("GLASSBOX_LESSONS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("lessons"))
}

/// How steps are run: which binary, which root, which global flags.
pub struct Runner {
    /// The glassbox binary.
    pub exe: PathBuf,
    /// The root every step uses.
    pub root: PathBuf,
    /// Global flags passed on to each step (`--trace narrate`, `--step` …).
    pub flags: Vec<String>,
    /// All lessons.
    pub lessons: Vec<Lesson>,
    /// Where `login` keeps credentials, instead of the user's config
    /// directory (`XDG_CONFIG_HOME` for each command): a transcript run's
    /// own, so it neither reads nor changes the user's.
    pub config_home: Option<PathBuf>,
}

/// What one command printed and how it ended.
pub struct Ran {
    /// Exit status (-1 when killed by a signal).
    pub status: i32,
    /// Its standard output.
    pub stdout: String,
}

impl Runner {
    /// Loads the lessons and prepares to run them on `root`.
    pub fn new(exe: PathBuf, root: PathBuf, flags: Vec<String>) -> Result<Runner, LessonError> {
        let lessons = load_all(&lessons_dir()).map_err(LessonError::Data)?;
        Ok(Runner {
            exe,
            root,
            flags,
            lessons,
            config_home: None,
        })
    }

    /// The lesson numbered `n`.
    pub fn lesson(&self, n: u32) -> Result<&Lesson, LessonError> {
        self.lessons
            .iter()
            .find(|l| l.number == n)
            .ok_or(LessonError::NoSuchLesson(n))
    }

    /// For an `exclusive` lesson, waits for and holds the host-wide lock
    /// that lets one run of its steps at a time use the host's shared
    /// resources (fixed host ports); released when dropped.
    pub fn exclusive(&self, lesson: &Lesson) -> Option<std::fs::File> {
        if !lesson.exclusive {
            return None;
        }
        let path = std::env::temp_dir().join(format!("glassbox-lesson-{}.lock", lesson.number));
        let f = std::fs::File::create(path).ok()?;
        f.lock().ok()?;
        Some(f)
    }

    /// The progress file's path.
    pub fn progress_path(&self) -> PathBuf {
        self.root.join("lessons").join("progress.json")
    }

    /// Runs one glassbox command line. With `narrate`, the child's stderr
    /// (its narration) goes to ours and it gets our trace flags; otherwise
    /// it runs quietly (checks, preparation).
    pub fn run(&self, line: &str, narrate: bool) -> Result<Ran, LessonError> {
        self.run_in(line, narrate, None)
    }

    /// Like [`Runner::run`], with the lesson's folder as the working
    /// directory, so steps can name the lesson's fixture files.
    pub fn run_in(
        &self,
        line: &str,
        narrate: bool,
        cwd: Option<&Path>,
    ) -> Result<Ran, LessonError> {
        self.run_input(line, narrate, cwd, None)
    }

    /// Like [`Runner::run_in`]; with `input`, the command reads that line
    /// on its standard input instead of the terminal.
    pub fn run_input(
        &self,
        line: &str,
        narrate: bool,
        cwd: Option<&Path>,
        input: Option<&str>,
    ) -> Result<Ran, LessonError> {
        if client::is_docker(line) {
            if input.is_some() {
                return Err(LessonError::Data(format!(
                    "`{line}`: a docker line cannot have an input"
                )));
            }
            let (mut ran, stderr, narration) = client::run(self, line, cwd)?;
            if narrate {
                eprint!("{stderr}");
                if !narration.trim().is_empty() {
                    eprint!("\n── what the daemon did ──\n{narration}");
                }
            } else if ran.status != 0 {
                ran.stdout.push_str(&stderr);
            }
            return Ok(ran);
        }
        let words = split_words(&client::with_root(line, &self.root)).map_err(LessonError::Data)?;
        let mut cmd = Command::new(&self.exe);
        if let Some(dir) = cwd {
            cmd.current_dir(dir);
        }
        cmd.arg("--root").arg(&self.root);
        if let Some(c) = &self.config_home {
            cmd.env("XDG_CONFIG_HOME", c);
        }
        if narrate {
            cmd.args(&self.flags);
            cmd.stderr(Stdio::inherit());
        } else {
            cmd.args(["--trace", "off"]);
            cmd.stderr(Stdio::piped());
        }
        cmd.args(&words).stdout(Stdio::piped());
        let out = match input {
            None => cmd.stdin(Stdio::inherit()).output(),
            Some(text) => with_input(&mut cmd, text),
        }
        .map_err(LessonError::Spawn)?;
        let mut stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !narrate && !out.status.success() {
            stdout.push_str(&String::from_utf8_lossy(&out.stderr));
        }
        Ok(Ran {
            status: out.status.code().unwrap_or(-1),
            stdout,
        })
    }

    /// Runs the lesson's preparation commands quietly.
    pub fn prepare(&self, lesson: &Lesson) -> Result<(), LessonError> {
        for line in &lesson.prepare {
            let s = trace::step(Kind::Lesson, "prepare", line.clone())
                .equivalent(format!("glassbox {line}"))
                .announce()
                .map_err(|e| LessonError::Data(e.to_string()))?;
            let ran = self.run_in(line, false, Some(&lesson.dir))?;
            if ran.status != 0 {
                let err = format!("failed (exit {}): {}", ran.status, ran.stdout.trim());
                s.failed(&err);
                return Err(LessonError::StepFailed {
                    lesson: lesson.number,
                    step: 0,
                    run: line.clone(),
                    problem: err,
                });
            }
            s.done();
        }
        Ok(())
    }

    /// Runs step `index` (from 0) of `lesson`, writing the lesson's words
    /// and the command's output to `out`.
    pub fn run_step(
        &self,
        lesson: &Lesson,
        index: usize,
        out: &mut dyn Write,
    ) -> Result<(), LessonError> {
        let step = &lesson.steps[index];
        if let Some(part) = &step.part {
            let _ = writeln!(out, "\n══ Lesson {} · {} ══", lesson.number, part.trim());
        }
        let _ = writeln!(
            out,
            "\n── Lesson {} · step {}/{} ──\n{}\n\n$ {}",
            lesson.number,
            index + 1,
            lesson.steps.len(),
            step.say.trim(),
            step.shown()
        );
        let _ = out.flush();
        let ran = if step.background {
            let (printed, pid) = background::start(self, lesson, index, step)?;
            Ran {
                status: 0,
                stdout: format!(
                    "{printed}(running in the background as pid {pid}; `glassbox lessons reset {}` stops it)\n",
                    lesson.number
                ),
            }
        } else {
            self.run_input(&step.run, true, Some(&lesson.dir), step.input.as_deref())?
        };
        let _ = write!(out, "{}", ran.stdout);
        let want = step.status.unwrap_or(0);
        let fail = |problem: String| LessonError::StepFailed {
            lesson: lesson.number,
            step: index + 1,
            run: step.run.clone(),
            problem,
        };
        if ran.status == 130 && want != 130 {
            return Err(LessonError::Quit {
                lesson: lesson.number,
                step: index + 1,
            });
        }
        if ran.status != want {
            return Err(fail(format!(
                "ended with status {} instead of {want}",
                ran.status
            )));
        }
        if let Some(e) = &step.expect {
            if !ran.stdout.contains(e.as_str()) {
                return Err(fail(format!("did not print `{e}`")));
            }
        }
        if let Some(n) = &step.notice {
            let _ = writeln!(out, "\n👀 Notice: {}", n.trim());
        }
        Ok(())
    }

    /// Grades one exercise: `Ok(None)` if every check passes, else the
    /// first failing check.
    pub fn grade<'a>(&self, ex: &'a Exercise) -> Result<Option<(&'a Check, String)>, LessonError> {
        for c in &ex.checks {
            let ran = match &c.http {
                Some(url) => http::get(url),
                None => self.run(&c.run, false)?,
            };
            if let Some(problem) = evaluate(c, &ran) {
                return Ok(Some((c, problem)));
            }
        }
        Ok(None)
    }
}

/// Runs `cmd` with `line` and a newline on its standard input.
pub(crate) fn with_input(cmd: &mut Command, line: &str) -> std::io::Result<std::process::Output> {
    let mut child = cmd.stdin(Stdio::piped()).spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        // A command that exits without reading closes the pipe: not an error.
        let _ = writeln!(stdin, "{line}");
    }
    child.wait_with_output()
}

/// Applies one check to a command's result; `Some(problem)` when it fails.
pub fn evaluate(c: &Check, ran: &Ran) -> Option<String> {
    let want = c.status.unwrap_or(0);
    if let Some(url) = &c.http {
        if ran.status != want {
            return Some(format!("GET {url} failed: {}", abbreviate(&ran.stdout)));
        }
    }
    if ran.status != want {
        return Some(format!(
            "`glassbox {}` ended with status {} (expected {want})",
            c.run, ran.status
        ));
    }
    let value: serde_json::Value = match &c.pointer {
        Some(p) => {
            let doc: serde_json::Value = match serde_json::from_str(&ran.stdout) {
                Ok(d) => d,
                Err(_) => return Some(format!("`glassbox {}` did not print JSON", c.run)),
            };
            match doc.pointer(p) {
                Some(v) => v.clone(),
                None => return Some(format!("`glassbox {}` has nothing at {p}", c.run)),
            }
        }
        None => serde_json::Value::String(ran.stdout.trim_end().to_string()),
    };
    if let Some(eq) = &c.equals {
        let eq = serde_json::to_value(eq).unwrap_or_default();
        if value != eq {
            return Some(format!("found {value}, expected {eq}"));
        }
    }
    if let Some(len) = c.length {
        let have = match &value {
            serde_json::Value::Array(a) => a.len(),
            serde_json::Value::Object(o) => o.len(),
            serde_json::Value::String(s) => s.chars().count(),
            _ => 0,
        };
        if have != len {
            return Some(format!("found {have} entries, expected {len}"));
        }
    }
    if let Some(needle) = &c.contains {
        let hay = match &value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if !hay.contains(needle.as_str()) {
            return Some(format!("`{needle}` not found in {}", abbreviate(&hay)));
        }
    }
    None
}

fn abbreviate(s: &str) -> String {
    let s = s.trim();
    if s.chars().count() > 120 {
        format!("{}…", s.chars().take(120).collect::<String>())
    } else if s.is_empty() {
        "empty output".into()
    } else {
        format!("`{s}`")
    }
}
