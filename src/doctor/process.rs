//! Checks on a container's PID 1 and its cgroup: it exited at once, its
//! command was not found (127) or not executable (126), the kernel
//! OOM-killed it, or the pids limit refused it new processes.

use super::{command_of, last_log_lines, path_of, shell_words, Finding, Subject};
use crate::runtime::cgroup::{Cgroup, HostFs, Layout};
use crate::store::container::Status;
use std::path::Path;

/// A container that ends within this many milliseconds of its start
/// "exited at once". The recorded end comes after the supervisor's
/// clean-up (veths, proxies), which can take seconds on a busy host.
const AT_ONCE_MS: i64 = 10_000;

/// The process checks of one container.
pub(super) fn check(c: &Subject) -> Vec<Finding> {
    let st = c.st;
    let mut out = Vec::new();
    let status = st.observed();
    if status == Status::Exited {
        let code = st.exit_code.unwrap_or(0);
        let cmd = command_of(c.dir);
        if st.oom_killed {
            out.push(oom(c, None));
        } else if let Some(f) = pids_in_log(c) {
            out.push(f);
        } else if code == 127 || code == 126 {
            out.push(not_found(c, &cmd, code));
        } else if let Some(ms) = lifetime_ms(c) {
            if ms < AT_ONCE_MS {
                out.push(at_once(c, &cmd, code, ms));
            }
        }
    }
    if matches!(status, Status::Running | Status::Paused) {
        let Ok(layout) = Layout::detect() else {
            return out;
        };
        let cg = Cgroup::new(layout, &st.id);
        if cg.oom_killed(&mut HostFs) {
            out.push(oom(c, Some(&cg)));
        }
        out.extend(pids_refused(c, &cg));
    }
    out
}

fn lifetime_ms(c: &Subject) -> Option<i64> {
    let parse = |s: &Option<String>| {
        s.as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
    };
    let (a, b) = (parse(&c.st.started_at)?, parse(&c.st.finished_at)?);
    Some((b - a).num_milliseconds())
}

fn state_file(c: &Subject) -> String {
    c.dir.join("state.json").display().to_string()
}

fn log_evidence(c: &Subject, out: &mut Vec<String>) {
    let log = crate::runtime::log_path(c.dir).display().to_string();
    let lines = last_log_lines(c.dir, 3);
    if lines.is_empty() {
        out.push(format!("{log}: empty (PID 1 wrote nothing)"));
    }
    for l in lines {
        out.push(format!("{log}: {l}"));
    }
}

fn at_once(c: &Subject, cmd: &[String], code: i32, ms: i64) -> Finding {
    let mut evidence = vec![format!(
        "{}: PID 1 was `{}`, exited with code {code} {ms} ms after it started",
        state_file(c),
        shell_words(cmd)
    )];
    log_evidence(c, &mut evidence);
    Finding {
        code: "exited_at_once",
        container: c.st.name.clone(),
        summary: format!(
            "exited {ms} ms after it started (code {code}): a container lives only as long as its PID 1"
        ),
        evidence,
        fix: format!(
            "glassbox rm {} && glassbox run -d --name {} {} sh -c 'while sleep 3600; do :; done'   # or `run -it` for a shell",
            c.st.name, c.st.name, c.st.image
        ),
    }
}

/// The programs in the image's PATH directories (through the container's
/// lower layers, topmost first) whose name starts like `want`, and how many
/// programs those directories hold in all.
fn programs_like(c: &Subject, path: &str, want: &str) -> (Vec<String>, usize) {
    let mut all = std::collections::BTreeSet::new();
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let rel = dir.trim_start_matches('/');
        let layers =
            std::iter::once(c.dir.join("upper")).chain(c.st.lowers.iter().map(|(p, _)| p.clone()));
        for l in layers {
            if let Ok(rd) = std::fs::read_dir(l.join(rel)) {
                all.extend(
                    rd.flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned()),
                );
            }
        }
    }
    let stem: String = want.chars().take(3).collect();
    let like = all
        .iter()
        .filter(|n| stem.chars().count() == 3 && n.starts_with(&stem))
        .take(8)
        .cloned()
        .collect();
    (like, all.len())
}

fn not_found(c: &Subject, cmd: &[String], code: i32) -> Finding {
    let prog = cmd.first().cloned().unwrap_or_default();
    let path = path_of(c.dir);
    let base = Path::new(&prog)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (like, total) = programs_like(c, &path, &base);
    let mut evidence = vec![
        format!(
            "{}: PID 1 `{}` exited with code {code}",
            state_file(c),
            shell_words(cmd)
        ),
        format!(
            "{}: the image's PATH is {path}",
            c.dir.join("config.json").display()
        ),
        format!(
            "the image's layers hold {total} programs in those directories{}",
            if like.is_empty() {
                String::new()
            } else {
                format!("; those starting like {base:?}: {}", like.join(", "))
            }
        ),
    ];
    log_evidence(c, &mut evidence);
    let (code_name, summary) = if code == 127 {
        (
            "command_not_found",
            format!("its command {prog:?} is not in the image (exit code 127: command not found)"),
        )
    } else {
        (
            "command_not_executable",
            format!("its command {prog:?} is in the image but cannot be executed (exit code 126)"),
        )
    };
    let fix = match code {
        127 => format!(
            "glassbox run --rm {} ls {}   # see what the image has; run one of those, or build an image that has {base}",
            c.st.image,
            path.replace(':', " ")
        ),
        _ => format!(
            "glassbox run --rm {} ls -l {prog}   # then `RUN chmod +x {prog}` in the Dockerfile, or run it with `sh {prog}`",
            c.st.image
        ),
    };
    Finding {
        code: code_name,
        container: c.st.name.clone(),
        summary,
        evidence,
        fix,
    }
}

fn oom(c: &Subject, cg: Option<&Cgroup>) -> Finding {
    let limit = c.st.limits.memory;
    let limit_text = limit
        .map(crate::explain::human_bytes)
        .unwrap_or_else(|| "no limit of its own".into());
    let mut evidence = vec![format!(
        "{}: exit code {} ({}), memory limit {limit_text}",
        state_file(c),
        c.st.exit_code
            .map(|x| x.to_string())
            .unwrap_or_else(|| "none yet".into()),
        if c.st.oom_killed {
            "oom_killed: true"
        } else {
            "still running"
        }
    )];
    if let Some(cg) = cg {
        for (_, d) in cg.dirs() {
            let events = d.join("memory.events");
            let control = d.join("memory.oom_control");
            for f in [events, control] {
                if let Ok(t) = std::fs::read_to_string(&f) {
                    if let Some(l) = t.lines().find(|l| l.starts_with("oom_kill ")) {
                        evidence.push(format!("{}: {l}", f.display()));
                    }
                }
            }
        }
        if let Some((peak, f)) = cg.memory_peak(&mut HostFs) {
            evidence.push(format!(
                "{}: peak {}",
                f.display(),
                crate::explain::human_bytes(peak)
            ));
        }
    }
    let bigger = limit.map(|l| l.saturating_mul(2)).unwrap_or(256 << 20);
    Finding {
        code: "oom_killed",
        container: c.st.name.clone(),
        summary: format!(
            "the kernel's OOM killer ended a process of it: it needed more than its memory limit ({limit_text})"
        ),
        evidence,
        fix: format!(
            "glassbox rm -f {} && glassbox run -d --name {} --memory {}m {} ...   # or make the program use less",
            c.st.name,
            c.st.name,
            bigger >> 20,
            c.st.image
        ),
    }
}

/// How a shell or a program says fork() failed.
const FORK_FAILED: [&str; 2] = ["can't fork", "resource temporarily unavailable"];

/// An exited container with a pids limit whose log says fork() failed (its
/// cgroup and counters are gone; the log line stays).
fn pids_in_log(c: &Subject) -> Option<Finding> {
    let limit = c.st.limits.pids?;
    let line = last_log_lines(c.dir, 20)
        .into_iter()
        .rev()
        .find(|l| FORK_FAILED.iter().any(|f| l.to_lowercase().contains(f)))?;
    Some(Finding {
        code: "pids_limit",
        container: c.st.name.clone(),
        summary: format!(
            "it ended when the pids limit ({limit}) made fork() fail inside (exit code {})",
            c.st.exit_code.unwrap_or(0)
        ),
        evidence: vec![
            format!("{}: {line}", crate::runtime::log_path(c.dir).display()),
            format!("{}: limits.pids {limit}", state_file(c)),
        ],
        fix: pids_fix(c, limit),
    })
}

fn pids_fix(c: &Subject, limit: i64) -> String {
    format!(
        "glassbox rm -f {} && glassbox run -d --name {} --pids-limit {} {} ...",
        c.st.name,
        c.st.name,
        limit * 4,
        c.st.image
    )
}

fn pids_refused(c: &Subject, cg: &Cgroup) -> Option<Finding> {
    let limit = c.st.limits.pids?;
    let dir = cg
        .dirs()
        .into_iter()
        .find(|(k, _)| k == "pids" || k == "unified")?
        .1;
    let events = dir.join("pids.events");
    let text = std::fs::read_to_string(&events).ok()?;
    let refused: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("max "))
        .and_then(|n| n.trim().parse().ok())?;
    if refused == 0 {
        return None;
    }
    let current = std::fs::read_to_string(dir.join("pids.current")).unwrap_or_default();
    let mut evidence = vec![
        format!("{}: max {refused} (forks refused)", events.display()),
        format!(
            "{}: {} processes now, limit {limit}",
            dir.join("pids.current").display(),
            current.trim()
        ),
    ];
    if let Ok(p) = std::fs::read_to_string(dir.join("pids.peak")) {
        evidence.push(format!(
            "{}: peak {}",
            dir.join("pids.peak").display(),
            p.trim()
        ));
    }
    log_evidence(c, &mut evidence);
    Some(Finding {
        code: "pids_limit",
        container: c.st.name.clone(),
        summary: format!(
            "the pids limit ({limit}) refused it {refused} new processes: fork() failed inside"
        ),
        evidence,
        fix: pids_fix(c, limit),
    })
}
