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
use std::os::fd::AsFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn has_tty(root: &std::path::Path, id: &str) -> bool {
    crate::store::container::find(root, id)
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

/// A hijacked connection, used from plain threads: one writes the output,
/// one may read what the client sends (its stdin), until the output ends.
struct Hijacked {
    rt: tokio::runtime::Handle,
    rd: std::sync::Mutex<tokio::io::ReadHalf<Io>>,
    wr: std::sync::Mutex<tokio::io::WriteHalf<Io>>,
    done: tokio::sync::Notify,
}

type Io = hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>;

impl Hijacked {
    fn take(
        rt: tokio::runtime::Handle,
        up: hyper::upgrade::OnUpgrade,
    ) -> Option<std::sync::Arc<Hijacked>> {
        let io = rt.block_on(up).ok()?;
        let (rd, wr) = tokio::io::split(hyper_util::rt::TokioIo::new(io));
        Some(std::sync::Arc::new(Hijacked {
            rt,
            rd: std::sync::Mutex::new(rd),
            wr: std::sync::Mutex::new(wr),
            done: tokio::sync::Notify::new(),
        }))
    }
    fn write(&self, b: &[u8]) -> bool {
        let Ok(mut io) = self.wr.lock() else {
            return false;
        };
        let io = &mut *io;
        self.rt
            .block_on(async { io.write_all(b).await.and(io.flush().await) })
            .is_ok()
    }
    /// What the client sends next; `None` at its end (a half-close, or it
    /// left) or once the output is finished.
    fn read(&self, buf: &mut [u8]) -> Option<usize> {
        let mut io = self.rd.lock().ok()?;
        let io = &mut *io;
        self.rt.block_on(async {
            tokio::select! {
                r = io.read(buf) => r.ok().filter(|n| *n > 0),
                _ = self.done.notified() => None,
            }
        })
    }
    /// Half-close: no more output; the client may still be sending, but
    /// nothing reads it any more.
    fn finish(&self) {
        if let Ok(mut io) = self.wr.lock() {
            let io = &mut *io;
            let _ = self.rt.block_on(io.shutdown());
        }
        self.done.notify_one();
    }
}

/// Whether a container's stdio goes through its shim's attach socket
/// (`-t` or `-i`), and with a terminal.
fn console_of(root: &std::path::Path, id: &str) -> Option<(std::path::PathBuf, bool)> {
    let (dir, st) = crate::store::container::find(root, id).ok()?;
    let tty = has_tty(root, id);
    crate::runtime::console::wanted(tty, st.open_stdin).then_some((dir, tty))
}

/// `POST /containers/ID/attach?stream=1&stdin=&stdout=1&stderr=1`.
pub fn attach(d: &Daemon, id: &str, r: &Req, up: Option<hyper::upgrade::OnUpgrade>) -> Resp {
    let Some(up) = up else {
        return error(
            StatusCode::BAD_REQUEST,
            "attach needs an upgradable connection",
        );
    };
    if let Some((dir, tty)) = console_of(&d.root, id) {
        return attach_console(d, id, r, up, dir, tty);
    }
    let follower = match crate::runtime::attach::Follower::open(&d.root, id) {
        Ok(f) => f,
        Err(e) => return engine_error(&e),
    };
    let raw = has_tty(&d.root, id);
    let (want_out, want_err) = (r.flag("stdout"), r.flag("stderr"));
    let rt = tokio::runtime::Handle::current();
    std::thread::spawn(move || {
        let Some(conn) = Hijacked::take(rt, up) else {
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

/// How long an attach made before the start waits for the container's
/// shim to listen (the client sends start right after attach).
const START_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Attach to a container with a terminal or an open stdin: through its
/// shim's attach socket, both ways. What the client sends is buffered
/// until the shim listens (a client attaches before it starts the
/// container, and `echo hi | docker run -i` sends at once).
fn attach_console(
    d: &Daemon,
    id: &str,
    r: &Req,
    up: hyper::upgrade::OnUpgrade,
    dir: std::path::PathBuf,
    tty: bool,
) -> Resp {
    use crate::store::container::{State, Status};
    let Ok((_, st)) = crate::store::container::find(&d.root, id) else {
        return error(StatusCode::NOT_FOUND, &format!("No such container: {id}"));
    };
    let want_in = r.flag("stdin") && (st.open_stdin || tty);
    let (want_out, want_err) = (r.flag("stdout"), r.flag("stderr"));
    let running = matches!(st.observed(), Status::Running | Status::Paused);
    if !running {
        crate::runtime::console::announce(&dir);
    }
    let started_before = if running { None } else { st.started_at };
    let name = st.name.clone();
    let stdin_once = st.stdin_once;
    let rt = tokio::runtime::Handle::current();
    std::thread::spawn(move || {
        let _p = crate::trace::phase("api");
        let Some(conn) = Hijacked::take(rt, up) else {
            return;
        };
        // The client's stdin, read as it comes, until the shim takes it.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(64);
        if want_in {
            let c = conn.clone();
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 16 * 1024];
                while let Some(n) = c.read(&mut buf) {
                    if tx.send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            });
        } else {
            drop(tx);
        }
        let until = std::time::Instant::now() + START_WAIT;
        let shim = loop {
            if let Ok(s) = crate::runtime::console::connect(&dir, want_in) {
                break Some(s);
            }
            let over = match State::load(&dir) {
                Err(_) => true,
                Ok(now) => {
                    let started = started_before.is_none() || now.started_at != started_before;
                    started
                        && !matches!(
                            now.observed(),
                            Status::Running | Status::Paused | Status::Restarting | Status::Created
                        )
                }
            };
            if over || std::time::Instant::now() > until {
                break None;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        if let Some(mut shim) = shim {
            crate::trace::fact(
                crate::trace::Kind::Api,
                "attach",
                format!("container {name}"),
            )
            .field("tty", tty)
            .field("stdin", want_in)
            .field("stdin_once", stdin_once)
            .field(
                "socket",
                dir.join(crate::runtime::console::SOCKET)
                    .display()
                    .to_string(),
            )
            .equivalent(format!(
                "socat - UNIX-CONNECT:{}",
                dir.join(crate::runtime::console::SOCKET).display()
            ))
            .syscall("connect(2) on a unix socket")
            .info();
            if want_in {
                if let Ok(mut to_shim) = shim.try_clone() {
                    let name = name.clone();
                    std::thread::spawn(move || {
                        let _p = crate::trace::phase("api");
                        for piece in rx {
                            if to_shim.write_all(&piece).is_err() {
                                return;
                            }
                        }
                        let _ = to_shim.shutdown(std::net::Shutdown::Write);
                        stdin_closed(&format!("container {name}"), tty, stdin_once);
                    });
                }
            }
            while let Ok(Some((stream, data))) = crate::runtime::console::read_frame(&mut shim) {
                let wanted = if stream == 2 { want_err } else { want_out };
                if !wanted {
                    continue;
                }
                let ok = if tty {
                    conn.write(&data)
                } else {
                    let name = if stream == 2 { "stderr" } else { "stdout" };
                    conn.write(&frame(name, &data))
                };
                if !ok {
                    break;
                }
            }
        }
        conn.finish();
    });
    upgraded(tty)
}

/// The `api.stdin_close` fact: the client closed its stdin.
fn stdin_closed(subject: &str, tty: bool, once: bool) {
    let effect = if tty {
        "nothing: on a terminal, EOF is the Ctrl-D byte the line discipline acts on"
    } else if once {
        "the container's stdin pipe is closed: it reads EOF"
    } else {
        "nothing: the container's stdin stays open for the next client (no StdinOnce)"
    };
    crate::trace::fact(crate::trace::Kind::Api, "stdin_close", subject.to_string())
        .field("tty", tty)
        .field("stdin_once", once)
        .field("effect", effect)
        .syscall("shutdown(SHUT_WR)")
        .info();
}

/// `POST /containers/ID/resize?h=&w=`: the shim sets the pty's size.
pub fn resize(d: &Daemon, id: &str, r: &Req) -> Resp {
    let (rows, cols) = match size(r) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let (dir, st) = match crate::store::container::find(&d.root, id) {
        Ok(x) => x,
        Err(e) => return engine_error(&e.into()),
    };
    if !has_tty(&d.root, id) {
        return error(
            StatusCode::CONFLICT,
            &format!(
                "container {} has no terminal: it was created without -t, so there is no size to set",
                st.name
            ),
        );
    }
    if !matches!(
        st.observed(),
        crate::store::container::Status::Running | crate::store::container::Status::Paused
    ) {
        return error(
            StatusCode::CONFLICT,
            &format!(
                "container {} is not running ({}): its terminal has no size until it starts",
                st.name,
                st.observed().as_str()
            ),
        );
    }
    match crate::runtime::console::resize(&dir, rows, cols) {
        Ok(()) => {
            resized(&format!("container {}", st.name), rows, cols);
            super::routes::empty(StatusCode::OK)
        }
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("cannot resize the terminal of {}: {e}", st.name),
        ),
    }
}

/// `POST /exec/ID/resize?h=&w=`.
pub fn exec_resize(d: &Daemon, id: &str, r: &Req) -> Resp {
    let (rows, cols) = match size(r) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let Ok(mut m) = d.execs.lock() else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the exec table is poisoned",
        );
    };
    let Some(rec) = m.get_mut(id) else {
        return error(
            StatusCode::NOT_FOUND,
            &format!("No such exec instance: {id}"),
        );
    };
    if !rec.tty {
        return error(
            StatusCode::CONFLICT,
            &format!("exec {id} has no terminal: it was created without Tty"),
        );
    }
    rec.size = Some((rows, cols));
    if let Some(master) = &rec.master {
        if let Err(e) = crate::runtime::tty::resize(master.as_fd(), rows, cols) {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("cannot resize the terminal of exec {id}: {e}"),
            );
        }
    }
    resized(&format!("exec {}", &id[..id.len().min(12)]), rows, cols);
    super::routes::empty(StatusCode::OK)
}

fn size(r: &Req) -> Result<(u16, u16), Resp> {
    let n = |k: &str| r.q(k).and_then(|v| v.parse::<u16>().ok());
    match (n("h"), n("w")) {
        (Some(h), Some(w)) => Ok((h, w)),
        _ => Err(error(
            StatusCode::BAD_REQUEST,
            "resize needs h and w, the rows and columns, as numbers from 0 to 65535",
        )),
    }
}

/// The `api.resize` fact.
fn resized(subject: &str, rows: u16, cols: u16) {
    crate::trace::fact(crate::trace::Kind::Api, "resize", subject.to_string())
        .field("rows", rows)
        .field("cols", cols)
        .equivalent(format!("stty rows {rows} cols {cols}"))
        .syscall("ioctl(TIOCSWINSZ)")
        .info();
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
    if let Err(e) = crate::store::container::find(&d.root, id) {
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
/// and streams its output. With `Tty`, `glassbox exec -t` sends the pty
/// master here (`SCM_RIGHTS`) and the daemon copies both ways and sets
/// its size; with `AttachStdin` alone, the client's bytes go to a pipe.
pub fn exec_start(d: &Daemon, id: &str, r: &Req, up: Option<hyper::upgrade::OnUpgrade>) -> Resp {
    let Some(rec) = d.execs.lock().ok().and_then(|m| m.get(id).cloned()) else {
        return error(
            StatusCode::NOT_FOUND,
            &format!("No such exec instance: {id}"),
        );
    };
    if rec.running || rec.exit_code.is_some() {
        return error(
            StatusCode::CONFLICT,
            &format!("exec {id} has already run; create another with POST /containers/ID/exec"),
        );
    }
    let detach = r
        .json()
        .ok()
        .and_then(|v| v["Detach"].as_bool())
        .unwrap_or(false);
    let tty = rec.tty;
    let mut child = match spawn_exec(&d.root, &rec, detach) {
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
            e.pid = Some(child.child.id());
        }
    }
    let execs = d.execs.clone();
    let exec_id = id.to_string();
    let rt = tokio::runtime::Handle::current();
    std::thread::spawn(move || {
        let _p = crate::trace::phase("api");
        let conn = if detach {
            None
        } else {
            up.and_then(|u| Hijacked::take(rt, u))
        };
        let events = child.events.take();
        let relay = std::thread::spawn(move || {
            if let Some(ev) = events {
                relay_events(ev);
            }
        });
        let mut pumps: Vec<std::thread::JoinHandle<()>> = Vec::new();
        let send =
            move |conn: &Option<std::sync::Arc<Hijacked>>, stream: &'static str, b: &[u8]| {
                conn.as_ref().is_none_or(|c| {
                    if tty {
                        c.write(b)
                    } else {
                        c.write(&frame(stream, b))
                    }
                })
            };
        for (name, s) in [
            (
                "stdout",
                child
                    .child
                    .stdout
                    .take()
                    .map(|s| Box::new(s) as Box<dyn Read + Send>),
            ),
            (
                "stderr",
                child
                    .child
                    .stderr
                    .take()
                    .map(|s| Box::new(s) as Box<dyn Read + Send>),
            ),
        ] {
            let Some(mut s) = s else { continue };
            let conn = conn.clone();
            pumps.push(std::thread::spawn(move || {
                let mut buf = [0u8; 16 * 1024];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 || !send(&conn, name, &buf[..n]) {
                        break;
                    }
                }
            }));
        }
        // The client's stdin: to the pipe, or to the pty master below.
        let mut stdin = child.child.stdin.take();
        if let (Some(mut pipe), Some(c)) = (stdin.take(), conn.clone()) {
            let subject = format!("exec {}", &exec_id[..12]);
            std::thread::spawn(move || {
                let _p = crate::trace::phase("api");
                let mut buf = vec![0u8; 16 * 1024];
                while let Some(n) = c.read(&mut buf) {
                    if pipe.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
                drop(pipe);
                stdin_closed(&subject, false, true);
            });
        }
        if let Some(sock) = child.tty.take() {
            if let Some(master) = crate::runtime::tty::receive_master(&sock) {
                let master = std::sync::Arc::new(master);
                if let Ok(mut m) = execs.lock() {
                    if let Some(e) = m.get_mut(&exec_id) {
                        if let Some((rows, cols)) = e.size {
                            let _ = crate::runtime::tty::resize(master.as_fd(), rows, cols);
                        }
                        e.master = Some(master.clone());
                    }
                }
                crate::trace::fact(
                    crate::trace::Kind::Api,
                    "exec_tty",
                    format!("exec {}", &exec_id[..12]),
                )
                .field("stdin", rec.stdin)
                .syscall("recvmsg(SCM_RIGHTS)")
                .info();
                if let (true, Some(c)) = (rec.stdin, conn.clone()) {
                    let m = master.clone();
                    std::thread::spawn(move || {
                        let mut buf = vec![0u8; 16 * 1024];
                        while let Some(n) = c.read(&mut buf) {
                            if !crate::runtime::shim::write_all_fd(&*m, &buf[..n]) {
                                return;
                            }
                        }
                    });
                }
                let mut buf = [0u8; 16 * 1024];
                loop {
                    match nix::unistd::read(&*master, &mut buf) {
                        Ok(0) | Err(nix::errno::Errno::EIO) => break,
                        Err(nix::errno::Errno::EINTR) => continue,
                        Err(_) => break,
                        Ok(n) => {
                            if !send(&conn, "stdout", &buf[..n]) {
                                // The client left: the process goes on,
                                // its output unread, as with docker.
                                while nix::unistd::read(&*master, &mut buf).is_ok_and(|n| n > 0) {}
                                break;
                            }
                        }
                    }
                }
            }
        }
        let _ = relay.join();
        for p in pumps {
            let _ = p.join();
        }
        let code = child
            .child
            .wait()
            .ok()
            .and_then(|s| s.code())
            .unwrap_or(126);
        if let Ok(mut m) = execs.lock() {
            if let Some(e) = m.get_mut(&exec_id) {
                e.running = false;
                e.exit_code = Some(code);
                e.master = None;
            }
        }
        if let Some(c) = conn {
            c.finish();
        }
    });
    if detach {
        super::routes::empty(StatusCode::OK)
    } else {
        upgraded(tty)
    }
}

/// A `glassbox exec` child: the process, the pipe its events come on and,
/// with a terminal, the socket its pty master comes on.
struct Child {
    child: std::process::Child,
    events: Option<std::fs::File>,
    tty: Option<std::os::fd::OwnedFd>,
}

fn spawn_exec(
    root: &std::path::Path,
    rec: &super::containers::ExecRecord,
    detach: bool,
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
    let stdin = rec.stdin && !detach;
    if rec.tty {
        cmd.arg("-t");
    }
    if stdin {
        cmd.arg("-i");
    }
    cmd.arg(&rec.container).args(&rec.cmd);
    cmd.stdin(if stdin && !rec.tty {
        std::process::Stdio::piped()
    } else {
        std::process::Stdio::null()
    })
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    let tty = if rec.tty {
        let (ours, theirs) = nix::sys::socket::socketpair(
            nix::sys::socket::AddressFamily::Unix,
            nix::sys::socket::SockType::Stream,
            None,
            nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        )?;
        cmd.env(crate::runtime::exec::TTY_FORWARD_FD_ENV, "4");
        Some((ours, theirs))
    } else {
        None
    };
    let w = events_w.as_raw_fd();
    let t = tty.as_ref().map_or(-1, |(_, theirs)| theirs.as_raw_fd());
    // SAFETY: between fork and exec the closure only calls dup2, which is
    // async-signal-safe; it makes the event pipe the child's fd 3 and the
    // terminal socket its fd 4 (dup2 clears close-on-exec on the copies).
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(w, 3) < 0 || (t >= 0 && libc::dup2(t, 4) < 0) {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    drop(events_w);
    Ok(Child {
        child,
        events: Some(std::fs::File::from(events_r)),
        tty: tty.map(|(ours, _)| ours),
    })
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
