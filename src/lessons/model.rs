//! The lesson data model: what a `lessons/NN-slug/lesson.toml` file holds.
//!
//! Lessons are data, not code: a new lesson needs no Rust. A step is a
//! glassbox command line plus what to notice; an exercise is a task, the
//! checks that grade it against real state (never the student's typed
//! commands), a hint per check, and a reference solution.

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// One lesson, as written in its `lesson.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lesson {
    /// Its number (`glassbox lessons start N`).
    pub number: u32,
    /// Its title.
    pub title: String,
    /// What the student will be able to explain afterwards.
    #[serde(default)]
    pub goals: Vec<String>,
    /// Commands to run first, quietly (e.g. `setup` for the base image).
    #[serde(default)]
    pub prepare: Vec<String>,
    /// The guided steps.
    #[serde(default, rename = "step")]
    pub steps: Vec<LessonStep>,
    /// Exercises graded by `glassbox lessons check N`.
    #[serde(default, rename = "exercise")]
    pub exercises: Vec<Exercise>,
    /// Commands that remove what the lesson made (`lessons reset N`).
    #[serde(default)]
    pub cleanup: Vec<String>,
    /// Its steps use something the whole host shares (a fixed host port):
    /// two runs of its steps on one machine take turns.
    #[serde(default)]
    pub exclusive: bool,
    /// Where the lesson was loaded from.
    #[serde(skip)]
    pub dir: PathBuf,
}

/// One guided step.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LessonStep {
    /// What the step is about, said before it runs.
    pub say: String,
    /// The glassbox command line (without `glassbox`).
    pub run: String,
    /// What to notice in its events and output.
    #[serde(default)]
    pub notice: Option<String>,
    /// Text the command's output must contain; a step whose outcome differs
    /// fails loudly instead of teaching something untrue.
    #[serde(default)]
    pub expect: Option<String>,
    /// The exit status the command must end with (default 0).
    #[serde(default)]
    pub status: Option<i32>,
    /// Keep the command running in the background (a server a later step
    /// talks to); `lessons reset` stops it.
    #[serde(default)]
    pub background: bool,
    /// For a background step: the `host:port` it listens on; the lesson
    /// goes on once it accepts connections there.
    #[serde(default)]
    pub ready: Option<String>,
    /// This step starts a new part of the lesson, with this title (a
    /// heading in the book; `lessons next` prints it first).
    #[serde(default)]
    pub part: Option<String>,
    /// One line given to the command on its standard input (a password for
    /// `login --password-stdin`); shown as `echo LINE | glassbox ...`.
    #[serde(default)]
    pub input: Option<String>,
}

impl LessonStep {
    /// The command line as the student would type it: `glassbox` before a
    /// glassbox line, `echo LINE |` before one with `input`, `&` after a
    /// background one.
    pub fn shown(&self) -> String {
        format!(
            "{}{}{}{}",
            self.input
                .as_deref()
                .map(|i| format!("echo {i} | "))
                .unwrap_or_default(),
            if super::client::is_docker(&self.run) {
                ""
            } else {
                "glassbox "
            },
            self.run,
            if self.background { " &" } else { "" }
        )
    }
}

/// One exercise.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exercise {
    /// What the student must do.
    pub task: String,
    /// How it is graded, in order; the first failing check gives its hint.
    #[serde(rename = "check")]
    pub checks: Vec<Check>,
    /// A reference solution (glassbox command lines).
    #[serde(default)]
    pub solution: Vec<String>,
}

/// One check: run a glassbox command that *reads* state, then look at it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// What is checked, in words (`the image app:1 exists`).
    pub what: String,
    /// The read-only glassbox command whose output is inspected.
    #[serde(default)]
    pub run: String,
    /// Instead of `run`: an HTTP GET from the host of this URL on
    /// 127.0.0.1 (`http://127.0.0.1:8090/`); the body is the output, and
    /// a 2xx answer is status 0.
    #[serde(default)]
    pub http: Option<String>,
    /// Expected exit status (default 0).
    #[serde(default)]
    pub status: Option<i32>,
    /// A JSON pointer into the command's JSON output.
    #[serde(default)]
    pub pointer: Option<String>,
    /// The value at `pointer` (or the whole output) must equal this.
    #[serde(default)]
    pub equals: Option<toml::Value>,
    /// The text at `pointer` (or the whole output) must contain this.
    #[serde(default)]
    pub contains: Option<String>,
    /// The array (or object, or string) at `pointer` must have this length.
    #[serde(default)]
    pub length: Option<usize>,
    /// What to tell the student when this check fails.
    pub hint: String,
}

/// Reads every `lessons/*/lesson.toml` under `dir`, sorted by number.
pub fn load_all(dir: &Path) -> Result<Vec<Lesson>, String> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read the lessons folder {}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let file = entry.path().join("lesson.toml");
        if !file.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let mut lesson: Lesson =
            toml::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
        lesson.dir = entry.path();
        out.push(lesson);
    }
    out.sort_by_key(|l| l.number);
    for w in out.windows(2) {
        if w[0].number == w[1].number {
            return Err(format!(
                "two lessons have number {}: {} and {}",
                w[0].number,
                w[0].dir.display(),
                w[1].dir.display()
            ));
        }
    }
    Ok(out)
}

/// Splits a command line into words: whitespace separates, single and
/// double quotes group, backslash escapes the next character.
pub fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') | (None, '\\') => match chars.next() {
                Some(n) => {
                    cur.push(n);
                    in_word = true;
                }
                None => return Err(format!("trailing backslash in `{line}`")),
            },
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err(format!("unclosed quote in `{line}`"));
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_like_a_shell() {
        assert_eq!(
            split_words(r#"run --rm busybox sh -c 'echo "hi there"' x\ y"#).unwrap(),
            [
                "run",
                "--rm",
                "busybox",
                "sh",
                "-c",
                "echo \"hi there\"",
                "x y"
            ]
        );
        assert!(split_words("echo 'open").is_err());
    }

    #[test]
    fn the_shipped_lessons_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("lessons");
        let lessons = load_all(&dir).unwrap();
        assert!(!lessons.is_empty());
        for l in &lessons {
            assert!(!l.steps.is_empty(), "lesson {} has no steps", l.number);
            for s in &l.steps {
                split_words(&s.run).unwrap();
            }
            for c in l.exercises.iter().flat_map(|e| &e.checks) {
                assert!(
                    c.run.is_empty() != c.http.is_none(),
                    "lesson {}: check {:?} needs exactly one of run and http",
                    l.number,
                    c.what
                );
            }
        }
    }
}
