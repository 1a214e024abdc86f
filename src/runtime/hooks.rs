//! Running an OCI bundle's hooks: each program of one point of the
//! lifecycle with the container's state JSON on its stdin, one
//! `process.hook` event each. The same code runs the hooks the runtime
//! command runs on the host (prestart, createRuntime, poststart, poststop:
//! [`crate::ocirt::hooks`]) and the two the container's init runs inside
//! the container's namespaces (createContainer before pivot_root,
//! startContainer right before exec).
//!
//! As runc does, a hook's output is kept (not mixed into the container's
//! or the caller's) and shown only when the hook fails.

use crate::trace::{self, Kind};
use oci_spec::runtime::Hook;
use std::io::{Read, Seek, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// A hook that failed: its path and why.
#[derive(Debug)]
pub struct Failed {
    /// The hook's program.
    pub path: String,
    /// What went wrong (its exit status and output, or its timeout).
    pub why: String,
}

/// Runs `hooks` (the spec's list for the point named `point`) in order,
/// each with `state` on its stdin and, when given, `cwd` as its working
/// directory; stops at the first that fails.
pub fn run(
    point: &str,
    hooks: &[Hook],
    state: &serde_json::Value,
    cwd: Option<&Path>,
) -> Result<(), Failed> {
    for hook in hooks {
        let path = hook.path().display().to_string();
        let failed = |why: String| Failed {
            path: path.clone(),
            why,
        };
        let s = trace::step(Kind::Process, "hook", format!("{point} hook {path}"))
            .field("point", point)
            .field("path", &path)
            .field("args", hook.args())
            .field("timeout", hook.timeout())
            .field("status", state["status"].clone())
            .field("pid", state["pid"].clone())
            .equivalent(format!("echo STATE_JSON | {path}"))
            .syscall("fork(2), execve(2)")
            .announce()
            .map_err(|e| failed(e.0))?;
        s.finish_with(run_one(hook, state, cwd)).map_err(failed)?;
    }
    Ok(())
}

/// An anonymous in-memory file for a hook's output: no path on any
/// filesystem, which matters inside a container whose /tmp may be missing
/// or read-only.
fn output_file() -> Result<std::fs::File, String> {
    // SAFETY: memfd_create with a static name; the fd is owned below.
    let fd = unsafe { libc::memfd_create(c"hook-output".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(format!("memfd_create: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: fd was just opened and is owned by nothing else.
    Ok(unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) })
}

/// The first 4 KiB of what a hook wrote.
fn written(mut f: &std::fs::File) -> String {
    let mut buf = Vec::new();
    let _ = f.rewind();
    let _ = f.take(4096).read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).trim_end().to_string()
}

fn run_one(hook: &Hook, state: &serde_json::Value, cwd: Option<&Path>) -> Result<(), String> {
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
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    let (out, err) = (output_file()?, output_file()?);
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(out.try_clone().map_err(|e| e.to_string())?)
        .stderr(err.try_clone().map_err(|e| e.to_string())?)
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
            Some(st) => {
                return Err(format!(
                    "it exited with {st}, stdout: {:?}, stderr: {:?}",
                    written(&out),
                    written(&err)
                ))
            }
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
