//! The streaming routes: attach (the connection is hijacked with `101
//! UPGRADED` and carries the container's output), logs, and exec start.
//!
//! Without a TTY the output goes as multiplexed frames (an 8-byte header
//! naming stdout or stderr and the length); with one, raw, as the pty
//! wrote it. When the output ends the daemon half-closes its side, which
//! tells the client there is no more.

use super::body::{frame, Sender};
use super::routes::{engine_error, error, Req, Resp};
use super::Daemon;
use hyper::StatusCode;
use std::io::{BufRead, Read, Write};
use tokio::io::AsyncWriteExt;

fn has_tty(root: &std::path::Path, id: &str) -> bool {
    crate::runtime::state::find(root, id)
        .ok()
        .and_then(|(dir, _)| oci_spec::runtime::Spec::load(dir.join("config.json")).ok())
        .and_then(|s| s.process().as_ref().and_then(|p| p.terminal()))
        .unwrap_or(false)
}

fn upgraded(raw: bool) -> Resp {
    let kind = if raw {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    hyper::Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header("Content-Type", kind)
        .header("Connection", "Upgrade")
        .header("Upgrade", "tcp")
        .body(super::Body::empty())
        .expect("a response from fixed parts")
}

/// Writes pieces of output onto a hijacked connection from a plain thread.
struct Hijacked {
    rt: tokio::runtime::Handle,
    io: hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>,
}

impl Hijacked {
    fn take(rt: tokio::runtime::Handle, up: hyper::upgrade::OnUpgrade) -> Option<Hijacked> {
        let io = rt.block_on(up).ok()?;
        Some(Hijacked {
            rt,
            io: hyper_util::rt::TokioIo::new(io),
        })
    }
    fn write(&mut self, b: &[u8]) -> bool {
        let io = &mut self.io;
        self.rt
            .block_on(async { io.write_all(b).await.and(io.flush().await) })
            .is_ok()
    }
    /// Half-close: no more output; the client may still be sending.
    fn finish(mut self) {
        let io = &mut self.io;
        let _ = self.rt.block_on(io.shutdown());
    }
}

/// `POST /containers/ID/attach?stream=1&stdout=1&stderr=1`.
pub fn attach(d: &Daemon, id: &str, r: &Req, up: Option<hyper::upgrade::OnUpgrade>) -> Resp {
    let Some(up) = up else {
        return error(
            StatusCode::BAD_REQUEST,
            "attach needs an upgradable connection",
        );
    };
    let follower = match crate::runtime::attach::Follower::open(&d.root, id) {
        Ok(f) => f,
        Err(e) => return engine_error(&e),
    };
    let raw = has_tty(&d.root, id);
    let (want_out, want_err) = (r.flag("stdout"), r.flag("stderr"));
    let rt = tokio::runtime::Handle::current();
    std::thread::spawn(move || {
        let Some(mut conn) = Hijacked::take(rt, up) else {
            return;
        };
        let mut emit = |stream: &str, data: &[u8]| {
            let wanted = if stream == "stderr" {
                want_err
            } else {
                want_out
            };
            if !wanted {
                return true;
            }
            if raw {
                conn.write(data)
            } else {
                conn.write(&frame(stream, data))
            }
        };
        follower.follow(&mut emit, &|| false);
        conn.finish();
    });
    upgraded(raw)
}

/// Sends what is written to it as frames (or raw) on a streamed body.
struct Framed {
    tx: Sender,
    stream: &'static str,
    raw: bool,
    wanted: bool,
}

impl Write for Framed {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if !self.wanted {
            return Ok(b.len());
        }
        let chunk = if self.raw {
            bytes::Bytes::copy_from_slice(b)
        } else {
            frame(self.stream, b)
        };
        if self.tx.send(chunk) {
            Ok(b.len())
        } else {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `GET /containers/ID/logs?stdout=&stderr=&follow=&tail=`.
pub fn logs(d: &Daemon, id: &str, r: &Req) -> Resp {
    if let Err(e) = crate::runtime::state::find(&d.root, id) {
        return engine_error(&e.into());
    }
    let raw = has_tty(&d.root, id);
    let (tx, body) = super::Body::channel();
    let tail = r
        .q("tail")
        .filter(|t| *t != "all")
        .and_then(|t| t.parse::<usize>().ok());
    let follow = r.flag("follow");
    let mut out = Framed {
        tx: tx.clone(),
        stream: "stdout",
        raw,
        wanted: r.flag("stdout"),
    };
    let mut err = Framed {
        tx,
        stream: "stderr",
        raw,
        wanted: r.flag("stderr"),
    };
    let (root, id) = (d.root.clone(), id.to_string());
    std::thread::spawn(move || {
        let _ = crate::runtime::lifecycle::logs(&root, &id, tail, follow, &mut out, &mut err);
    });
    let kind = if raw {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    hyper::Response::builder()
        .status(StatusCode::OK)
        .header("Content-Type", kind)
        .body(body)
        .expect("a response from fixed parts")
}

/// `POST /exec/ID/start`: runs the recorded command with `glassbox exec`
/// (the same code as the CLI's, in a child so that its standard streams
/// are this connection's), relays its events into the daemon's trace,
/// and streams its output.
pub fn exec_start(d: &Daemon, id: &str, r: &Req, up: Option<hyper::upgrade::OnUpgrade>) -> Resp {
    let Some(rec) = d.execs.lock().ok().and_then(|m| m.get(id).cloned()) else {
        return error(
            StatusCode::NOT_FOUND,
            &format!("No such exec instance: {id}"),
        );
    };
    let detach = r
        .json()
        .ok()
        .and_then(|v| v["Detach"].as_bool())
        .unwrap_or(false);
    let mut child = match spawn_exec(&d.root, &rec) {
        Ok(c) => c,
        Err(e) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("cannot start glassbox exec: {e}"),
            )
        }
    };
    if let Ok(mut m) = d.execs.lock() {
        if let Some(e) = m.get_mut(id) {
            e.running = true;
        }
    }
    let execs = d.execs.clone();
    let exec_id = id.to_string();
    let rt = tokio::runtime::Handle::current();
    std::thread::spawn(move || {
        let conn = if detach {
            None
        } else {
            up.and_then(|u| Hijacked::take(rt, u))
        };
        let conn = std::sync::Arc::new(std::sync::Mutex::new(conn));
        let pumps: Vec<_> = [
            (
                "stdout",
                child
                    .0
                    .stdout
                    .take()
                    .map(|s| Box::new(s) as Box<dyn Read + Send>),
            ),
            (
                "stderr",
                child
                    .0
                    .stderr
                    .take()
                    .map(|s| Box::new(s) as Box<dyn Read + Send>),
            ),
        ]
        .into_iter()
        .filter_map(|(name, s)| s.map(|s| (name, s)))
        .map(|(name, mut s)| {
            let conn = conn.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 16 * 1024];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut c) = conn.lock() {
                        if let Some(c) = c.as_mut() {
                            if !c.write(&frame(name, &buf[..n])) {
                                break;
                            }
                        }
                    }
                }
            })
        })
        .collect();
        relay_events(child.1);
        for p in pumps {
            let _ = p.join();
        }
        let code = child.0.wait().ok().and_then(|s| s.code()).unwrap_or(126);
        if let Ok(mut m) = execs.lock() {
            if let Some(e) = m.get_mut(&exec_id) {
                e.running = false;
                e.exit_code = Some(code);
            }
        }
        if let Some(c) = conn.lock().ok().and_then(|mut c| c.take()) {
            c.finish();
        }
    });
    if detach {
        super::routes::empty(StatusCode::OK)
    } else {
        upgraded(false)
    }
}

type Child = (std::process::Child, std::fs::File);

fn spawn_exec(
    root: &std::path::Path,
    rec: &super::containers::ExecRecord,
) -> std::io::Result<Child> {
    use std::os::fd::{AsRawFd, OwnedFd};
    use std::os::unix::process::CommandExt;
    let (events_r, events_w): (OwnedFd, OwnedFd) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let exe = crate::runtime::lifecycle::own_binary()?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("--root").arg(root).args([
        "--trace",
        "json",
        "--trace-file",
        "/proc/self/fd/3",
        "exec",
    ]);
    for e in &rec.env {
        cmd.arg("-e").arg(e);
    }
    if let Some(w) = &rec.workdir {
        cmd.arg("-w").arg(w);
    }
    if let Some(u) = &rec.user {
        cmd.arg("-u").arg(u);
    }
    cmd.arg(&rec.container).args(&rec.cmd);
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let w = events_w.as_raw_fd();
    // SAFETY: between fork and exec the closure only calls dup2, which is
    // async-signal-safe; it makes the event pipe the child's fd 3 (dup2
    // clears close-on-exec on the copy).
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(w, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    drop(events_w);
    Ok((child, std::fs::File::from(events_r)))
}

/// Re-emits the child's events here, so they show in the daemon's trace
/// under the request that caused them.
fn relay_events(events: std::fs::File) {
    let _p = crate::trace::phase("api");
    for line in std::io::BufReader::new(events)
        .lines()
        .map_while(Result::ok)
    {
        if let Ok(ev) = serde_json::from_str::<crate::trace::Event>(&line) {
            let _ = crate::trace::reemit(ev);
        }
    }
}
