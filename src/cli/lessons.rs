//! `glassbox lessons ...`: list, start, next, run, check, hint, reset.

use super::{Ctx, TraceMode};
use crate::lessons::{Progress, Runner};
use crate::trace::{self, Kind};
use clap::{Args, Subcommand};
use std::io::Write;

/// Arguments of `glassbox lessons`.
#[derive(Debug, Args)]
pub struct LessonsArgs {
    #[command(subcommand)]
    cmd: LessonsCmd,
}

#[derive(Debug, Subcommand)]
enum LessonsCmd {
    /// Every lesson: number, title, your status
    List,
    /// Prepare a lesson's fixtures, show its goals and run its first step
    Start { n: u32 },
    /// Run the next step of the lesson in progress (add --step to pause inside it)
    Next,
    /// Run every remaining step of a lesson, one after another
    Run { n: u32 },
    /// Grade a lesson's exercises against the real state of this root
    Check { n: u32 },
    /// Show the exercises of a lesson and a hint for each
    Hint { n: u32 },
    /// Forget progress on a lesson and remove what it made
    Reset { n: u32 },
    /// Apply the reference solution of a lesson's exercises (for instructors)
    Solve { n: u32 },
    /// Run a lesson on a fresh root and print its book chapter (--write: into book/src/lessons/)
    Transcript {
        n: u32,
        /// Write book/src/lessons/<lesson folder>.md instead of printing
        #[arg(long)]
        write: bool,
    },
}

fn runner(ctx: &Ctx) -> crate::Result<Runner> {
    let exe = std::env::current_exe().map_err(|e| crate::Error::Io {
        context: "cannot find the glassbox binary".into(),
        source: e,
    })?;
    let g = &ctx.global;
    let mut flags = Vec::new();
    // A lesson is about the narration, so steps narrate unless told otherwise.
    {
        let t = g.trace.unwrap_or(TraceMode::Narrate);
        flags.push("--trace".to_string());
        flags.push(
            match t {
                TraceMode::Narrate => "narrate",
                TraceMode::Json => "json",
                TraceMode::Off => "off",
            }
            .into(),
        );
    }
    flags.push("--explain".into());
    flags.push(
        match g.explain {
            super::output::ExplainLevel::Brief => "brief",
            super::output::ExplainLevel::Full => "full",
            super::output::ExplainLevel::Off => "off",
        }
        .into(),
    );
    if g.step {
        flags.push("--step".into());
    }
    if g.no_color {
        flags.push("--no-color".into());
    }
    Runner::new(exe, ctx.root.clone(), flags).map_err(lesson_err)
}

fn lesson_err(e: crate::lessons::LessonError) -> crate::Error {
    match e {
        crate::lessons::LessonError::Quit { .. } => {
            crate::Error::Aborted(crate::trace::Aborted(e.to_string()))
        }
        e => crate::Error::Usage(e.to_string()),
    }
}

fn save(r: &Runner, p: &Progress) -> crate::Result<()> {
    p.save(&r.progress_path()).map_err(|e| crate::Error::Io {
        context: format!("cannot save progress to {}", r.progress_path().display()),
        source: e,
    })
}

/// Runs a `lessons` subcommand.
pub fn run(a: LessonsArgs, ctx: &Ctx) -> crate::Result<i32> {
    let r = runner(ctx)?;
    let mut progress = Progress::load(&r.progress_path());
    let mut out = std::io::stdout();
    match a.cmd {
        LessonsCmd::List => {
            println!("{:<4} {:<48} STATUS", "N", "TITLE");
            for l in &r.lessons {
                println!(
                    "{:<4} {:<48} {}",
                    l.number,
                    l.title,
                    progress.status(l.number)
                );
            }
            Ok(0)
        }
        LessonsCmd::Start { n } => {
            let lesson = r.lesson(n).map_err(lesson_err)?.clone();
            println!("Lesson {}: {}\n", lesson.number, lesson.title);
            if !lesson.goals.is_empty() {
                println!("By the end you can explain:");
                for g in &lesson.goals {
                    println!("  • {g}");
                }
            }
            r.prepare(&lesson).map_err(lesson_err)?;
            progress.begin(n);
            save(&r, &progress)?;
            step_once(&r, &mut progress, n, &mut out)
        }
        LessonsCmd::Next => {
            let n = progress.current_lesson().map_err(lesson_err)?;
            step_once(&r, &mut progress, n, &mut out)
        }
        LessonsCmd::Run { n } => {
            let lesson = r.lesson(n).map_err(lesson_err)?.clone();
            if progress.resume_or_begin(n, lesson.steps.len()) {
                println!("Lesson {}: {}", lesson.number, lesson.title);
                r.prepare(&lesson).map_err(lesson_err)?;
            }
            let _turn = r.exclusive(&lesson);
            while progress.next_step(n, lesson.steps.len()).is_some() {
                step_once(&r, &mut progress, n, &mut out)?;
            }
            Ok(0)
        }
        LessonsCmd::Check { n } => {
            let lesson = r.lesson(n).map_err(lesson_err)?.clone();
            if lesson.exercises.is_empty() {
                println!("Lesson {n} has no exercise to check.");
                return Ok(0);
            }
            let mut all = true;
            for (i, ex) in lesson.exercises.iter().enumerate() {
                let verdict = r.grade(ex).map_err(lesson_err)?;
                let s = trace::fact(
                    Kind::Lesson,
                    "check",
                    format!("lesson {n} exercise {}", i + 1),
                )
                .field("passed", verdict.is_none());
                match &verdict {
                    None => {
                        s.info();
                        println!("✓ exercise {}: {}", i + 1, first_line(&ex.task));
                    }
                    Some((c, problem)) => {
                        s.field("failed_check", &c.what)
                            .field("problem", problem)
                            .info();
                        all = false;
                        println!("✗ exercise {}: {}", i + 1, first_line(&ex.task));
                        println!("    not yet: {} — {problem}", c.what);
                        println!("    hint: {}", c.hint.trim());
                    }
                }
            }
            progress.checked(n, all);
            save(&r, &progress)?;
            if all {
                println!("Lesson {n} passed.");
                Ok(0)
            } else {
                Ok(1)
            }
        }
        LessonsCmd::Hint { n } => {
            let lesson = r.lesson(n).map_err(lesson_err)?;
            for (i, ex) in lesson.exercises.iter().enumerate() {
                println!("Exercise {}: {}", i + 1, ex.task.trim());
                if let Some(c) = ex.checks.first() {
                    println!("  hint: {}", c.hint.trim());
                }
            }
            Ok(0)
        }
        LessonsCmd::Reset { n } => {
            let lesson = r.lesson(n).map_err(lesson_err)?.clone();
            crate::lessons::background::stop_all(&r.root, n);
            for line in &lesson.cleanup {
                // Clean-up commands may find nothing to remove; that is fine.
                let _ = r.run(line, false).map_err(lesson_err)?;
            }
            progress.forget(n);
            save(&r, &progress)?;
            println!("Lesson {n} reset.");
            Ok(0)
        }
        LessonsCmd::Transcript { n, write } => {
            let lesson = r.lesson(n).map_err(lesson_err)?.clone();
            let md = crate::lessons::transcript::transcript(&r.exe, &lesson).map_err(lesson_err)?;
            if write {
                let path = crate::lessons::transcript::chapter_path(&lesson);
                std::fs::write(&path, &md).map_err(|e| crate::Error::Io {
                    context: format!("cannot write {}", path.display()),
                    source: e,
                })?;
                println!("wrote {}", path.display());
            } else {
                print!("{md}");
            }
            Ok(0)
        }
        LessonsCmd::Solve { n } => {
            let lesson = r.lesson(n).map_err(lesson_err)?.clone();
            for ex in &lesson.exercises {
                for line in &ex.solution {
                    let prog = if crate::lessons::client::is_docker(line) {
                        ""
                    } else {
                        "glassbox "
                    };
                    println!("$ {prog}{line}");
                    let ran = r
                        .run_in(line, false, Some(&lesson.dir))
                        .map_err(lesson_err)?;
                    print!("{}", ran.stdout);
                    if ran.status != 0 {
                        return Err(crate::Error::Usage(format!(
                            "the reference solution `glassbox {line}` failed with status {}",
                            ran.status
                        )));
                    }
                }
            }
            Ok(0)
        }
    }
}

fn step_once(r: &Runner, p: &mut Progress, n: u32, out: &mut dyn Write) -> crate::Result<i32> {
    let lesson = r.lesson(n).map_err(lesson_err)?.clone();
    let Some(i) = p.next_step(n, lesson.steps.len()) else {
        println!(
            "\nLesson {n} has no more steps. {}",
            if lesson.exercises.is_empty() {
                "Well done.".to_string()
            } else {
                format!("Now try the exercise: `glassbox lessons hint {n}`, then `glassbox lessons check {n}`.")
            }
        );
        return Ok(0);
    };
    r.run_step(&lesson, i, out).map_err(lesson_err)?;
    p.stepped(n, i);
    save(r, p)?;
    if i + 1 < lesson.steps.len() {
        let _ = writeln!(out, "\n(next: `glassbox lessons next`)");
    } else if !lesson.exercises.is_empty() {
        let _ = writeln!(
            out,
            "\nThat was the last step. Exercise time: `glassbox lessons hint {n}`, then `glassbox lessons check {n}`."
        );
    }
    Ok(0)
}

fn first_line(s: &str) -> &str {
    s.trim().lines().next().unwrap_or("")
}
