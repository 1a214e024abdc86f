//! The spec's hooks: programs the runtime runs at fixed points of the
//! lifecycle with the container's state JSON on their stdin
//! (prestart then createRuntime once the container exists, poststart after
//! `start`, poststop at `delete`). A failing createRuntime, prestart or
//! poststart hook fails the command; a poststop one is only reported.

use super::OciError;
use crate::trace::{self, Kind};
use oci_spec::runtime::{Hook, Spec};
use std::io::Write;
use std::time::{Duration, Instant};

/// Which hooks.
#[derive(Debug, Clone, Copy)]
pub enum Point {
    /// `hooks.createRuntime`.
    CreateRuntime,
    /// `hooks.prestart` (deprecated by the spec, still used).
    Prestart,
    /// `hooks.poststart`.
    Poststart,
    /// `hooks.poststop`.
    Poststop,
}

impl Point {
    fn name(self) -> &'static str {
        match self {
            Point::CreateRuntime => "createRuntime",
            Point::Prestart => "prestart",
            Point::Poststart => "poststart",
            Point::Poststop => "poststop",
        }
    }

    fn of(self, spec: &Spec) -> Vec<Hook> {
        let Some(h) = spec.hooks() else {
            return Vec::new();
        };
        #[allow(deprecated)]
        let list = match self {
            Point::CreateRuntime => h.create_runtime(),
            Point::Prestart => h.prestart(),
            Point::Poststart => h.poststart(),
            Point::Poststop => h.poststop(),
        };
        list.clone().unwrap_or_default()
    }
}

/// Runs the hooks of `point`, each with `state` on its stdin.
pub fn run(point: Point, spec: &Spec, state: &serde_json::Value) -> crate::Result<()> {
    for hook in point.of(spec) {
        let path = hook.path().display().to_string();
        let s = trace::step(
            Kind::Process,
            "hook",
            format!("{} hook {path}", point.name()),
        )
        .field("point", point.name())
        .field("path", &path)
        .field("args", hook.args())
        .field("timeout", hook.timeout())
        .equivalent(format!("echo STATE_JSON | {path}"))
        .syscall("fork(2), execve(2)")
        .announce()?;
        s.finish_with(run_one(&hook, state).map_err(|e| OciError::Hook(point.name(), path, e)))?;
    }
    Ok(())
}

fn run_one(hook: &Hook, state: &serde_json::Value) -> Result<(), String> {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new(hook.path());
    if let Some(args) = hook.args() {
        if let Some((first, rest)) = args.split_first() {
            cmd.arg0(first).args(rest);
        }
    }
    if let Some(env) = hook.env() {
        cmd.env_clear();
        for e in env {
            if let Some((k, v)) = e.split_once('=') {
                cmd.env(k, v);
            }
        }
    }
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(state.to_string().as_bytes());
    }
    let limit = hook
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Duration::from_secs(t as u64));
    let began = Instant::now();
    loop {
        match child.try_wait().map_err(|e| e.to_string())? {
            Some(st) if st.success() => return Ok(()),
            Some(st) => return Err(format!("it exited with {st}")),
            None => {}
        }
        if limit.is_some_and(|l| began.elapsed() > l) {
            // Our own child, by its PID.
            let _ = child.kill();
            let _ = child.wait();
            return Err("it ran past its timeout and was killed".into());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
