//! `-it` through the daemon: the real docker CLI (28.2) runs on a
//! pseudo-terminal of the test's own, as it does in a person's terminal,
//! and talks to `glassbox daemon`. Typed bytes reach the container's pty
//! over the hijacked attach connection; the window size arrives (and
//! follows a resize); Ctrl-C interrupts only the foreground job; Ctrl-D
//! ends the shell; `docker exec -it` does the same in a running container;
//! a piped stdin reaches `docker run -i` and its end is EOF inside; a
//! client killed mid-attach leaves the container and the daemon running.

use crate::daemon::Daemon;
use crate::run::busybox_root;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A docker command on a pty this test opened: the test holds the master,
/// as a terminal emulator does. The command is killed (by its PID) on drop
/// if it still runs.
struct Terminal {
    master: std::fs::File,
    child: Child,
    seen: Arc<Mutex<Vec<u8>>>,
}

fn winsize(rows: u16, cols: u16) -> nix::pty::Winsize {
    nix::pty::Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
}

impl Terminal {
    fn open(d: &Daemon, args: &[&str], rows: u16, cols: u16) -> Terminal {
        let pty = nix::pty::openpty(Some(&winsize(rows, cols)), None).expect("openpty");
        let slave: OwnedFd = pty.slave;
        let mut cmd = d.command(args);
        cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        // SAFETY: setsid and ioctl are async-signal-safe; the child makes
        // the pty (its stdin) its controlling terminal, as a shell does.
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("docker starts");
        drop(cmd);
        let master = std::fs::File::from(pty.master);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut r = master.try_clone().unwrap();
        let s = seen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // EIO once the command and everything it started are gone.
            while let Ok(n) = r.read(&mut buf) {
                if n == 0 {
                    break;
                }
                s.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Terminal {
            master,
            child,
            seen,
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).unwrap();
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.seen.lock().unwrap()).into_owned()
    }

    /// Waits until what the terminal showed *after* `from` bytes holds
    /// `want`; returns the whole screen text.
    fn wait_for(&self, from: usize, want: &str) -> String {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            let s = self.screen();
            if s.get(from..).is_some_and(|t| t.contains(want)) {
                return s;
            }
            assert!(
                Instant::now() < until,
                "the terminal never showed {want:?}; it shows:\n{s:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn len(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    /// Types `line` and a return; waits for `want` in what follows.
    fn line(&mut self, line: &str, want: &str) -> String {
        let from = self.len();
        self.send(format!("{line}\r").as_bytes());
        self.wait_for(from, want)
    }

    /// The window changes size: the kernel sends SIGWINCH to docker.
    fn resize(&self, rows: u16, cols: u16) {
        let ws = winsize(rows, cols);
        // SAFETY: TIOCSWINSZ reads one winsize from the valid struct.
        let r = unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
        assert_eq!(r, 0, "TIOCSWINSZ on the test's pty");
    }

    fn exit_code(&mut self) -> Option<i32> {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.code();
            }
            assert!(
                Instant::now() < until,
                "docker did not exit; the terminal shows:\n{:?}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn names_up(d: &Daemon) -> String {
    d.ok(&["ps", "--format", "{{.Names}} {{.Status}}"])
}

fn has_event(d: &Daemon, kind: &str, action: &str) -> bool {
    d.events()
        .iter()
        .any(|e| e["kind"] == kind && e["action"] == action)
}

#[test]
fn docker_run_it_gives_the_shell_a_terminal_with_the_clients_size_and_keys() {
    let root = busybox_root();
    let d = Daemon::start(&root);
    let mut t = Terminal::open(&d, &["run", "-it", "--rm", "busybox", "sh"], 33, 111);
    t.wait_for(0, "# ");
    let s = t.line("stty size; echo $((6*7))", "42");
    assert!(s.contains("33 111"), "the pty has the client's size: {s:?}");
    let s = t.line("tty", "/dev/pts/");
    assert!(!s.contains("not a tty"), "{s:?}");
    // The window changes: docker sends POST /containers/ID/resize.
    t.resize(40, 120);
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let from = t.len();
        t.send(b"stty size\r");
        std::thread::sleep(Duration::from_millis(300));
        if t.screen()[from..].contains("40 120") {
            break;
        }
        assert!(
            Instant::now() < until,
            "the new size never arrived: {:?}",
            t.screen()
        );
    }
    // Ctrl-C is a byte the container's line discipline turns into SIGINT
    // for the foreground job only: the shell goes on.
    let from = t.len();
    t.send(b"sleep 60\r");
    t.wait_for(from, "sleep 60");
    std::thread::sleep(Duration::from_millis(300));
    t.send(b"\x03");
    t.line("echo after-$((1+1))", "after-2");
    // Ctrl-D: EOF for the shell, which exits 0; --rm leaves nothing.
    t.send(b"\x04");
    assert_eq!(t.exit_code(), Some(0), "{:?}", t.screen());
    assert_eq!(root.ok(&["ps", "-a", "-q"]).trim(), "");
    for (kind, action) in [
        ("api", "attach"),
        ("api", "resize"),
        ("process", "attach_socket"),
        ("process", "tty"),
    ] {
        assert!(has_event(&d, kind, action), "no {kind}.{action} event");
    }
    crate::support::assert_explained(&d.events());
}

#[test]
fn a_piped_stdin_reaches_docker_run_i_and_its_end_is_eof_inside() {
    let root = busybox_root();
    let d = Daemon::start(&root);
    let mut c = d
        .command(&["run", "-i", "--rm", "busybox", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(b"hi\n").unwrap();
    let out = c.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n");
    assert_eq!(out.status.code(), Some(0), "{:?}", out);
    // More than one pipe's worth, and a command that reads to the end.
    let big: String = (0..20000).map(|i| format!("{i}\n")).collect();
    let mut c = d
        .command(&["run", "-i", "--rm", "busybox", "wc", "-l"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut w = c.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || w.write_all(big.as_bytes()));
    let out = c.wait_with_output().unwrap();
    feeder.join().unwrap().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "20000");
    assert_eq!(root.ok(&["ps", "-a", "-q"]).trim(), "");
    assert!(d.events().iter().any(|e| e["kind"] == "api"
        && e["action"] == "stdin_close"
        && e["fields"]["stdin_once"] == true));
    // Without -i the container reads nothing, as with docker.
    let out = d
        .command(&["run", "--rm", "busybox", "cat"])
        .stdin(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    crate::support::assert_explained(&d.events());
}

#[test]
fn docker_exec_it_runs_an_interactive_shell_in_a_running_container() {
    let root = busybox_root();
    let d = Daemon::start(&root);
    d.ok(&["run", "-d", "--name", "web", "busybox", "sleep", "300"]);
    let mut t = Terminal::open(&d, &["exec", "-it", "web", "sh"], 27, 91);
    t.wait_for(0, "# ");
    let s = t.line("stty size; echo $((6*7))", "42");
    assert!(
        s.contains("27 91"),
        "the exec's pty has the client's size: {s:?}"
    );
    t.resize(30, 100);
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let from = t.len();
        t.send(b"stty size\r");
        std::thread::sleep(Duration::from_millis(300));
        if t.screen()[from..].contains("30 100") {
            break;
        }
        assert!(
            Instant::now() < until,
            "the new size never arrived: {:?}",
            t.screen()
        );
    }
    // The shell is in the container: it sees the container's PID 1.
    t.line("tr \"\\\\0\" _ < /proc/1/cmdline; echo", "sleep_300_");
    t.send(b"exit 3\r");
    assert_eq!(t.exit_code(), Some(3), "{:?}", t.screen());
    assert!(names_up(&d).contains("web Up"));
    // Without a terminal, a piped stdin.
    let mut c = d
        .command(&["exec", "-i", "web", "sh", "-c", "read x; echo got-$x"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(b"abc\n").unwrap();
    let out = c.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "got-abc\n");
    assert!(has_event(&d, "api", "exec_tty"));
    assert!(has_event(&d, "process", "tty_forward"));
    crate::support::assert_explained(&d.events());
    d.ok(&["rm", "-f", "web"]);
}

#[test]
fn a_client_killed_mid_attach_leaves_the_container_running_and_the_daemon_serving() {
    let root = busybox_root();
    let d = Daemon::start(&root);
    let mut t = Terminal::open(&d, &["run", "-it", "--name", "k", "busybox", "sh"], 24, 80);
    t.wait_for(0, "# ");
    t.line("echo alive-$((2*3))", "alive-6");
    // SIGKILL: the client cannot say goodbye; its connection just ends.
    let _ = t.child.kill();
    let _ = t.child.wait();
    std::thread::sleep(Duration::from_millis(500));
    let (status, ..) = d.raw("GET", "/_ping", b"");
    assert_eq!(status, 200);
    assert!(names_up(&d).contains("k Up"), "{}", names_up(&d));
    assert_eq!(d.ok(&["exec", "k", "echo", "still"]), "still\n");
    // A new client attaches to the same shell and ends it.
    let mut a = Terminal::open(&d, &["attach", "k"], 24, 80);
    std::thread::sleep(Duration::from_millis(500));
    a.line("echo back-$((3*3))", "back-9");
    a.send(b"exit 5\r");
    assert_eq!(a.exit_code(), Some(5), "{:?}", a.screen());
    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}} {{.Config.Tty}} {{.Config.OpenStdin}}",
            "k"
        ])
        .trim(),
        "exited 5 true true"
    );
    d.ok(&["rm", "k"]);
}

#[test]
fn resize_refuses_bad_sizes_containers_without_a_terminal_and_unknown_execs() {
    let root = busybox_root();
    let d = Daemon::start(&root);
    d.ok(&["run", "-d", "--name", "plain", "busybox", "sleep", "60"]);
    d.ok(&[
        "run", "-d", "-t", "--name", "withtty", "busybox", "sleep", "60",
    ]);
    let message = |body: &[u8]| -> String {
        serde_json::from_slice::<serde_json::Value>(body).unwrap()["message"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    let (status, _, body) = d.raw("POST", "/v1.41/containers/withtty/resize?h=x&w=80", b"");
    assert_eq!(status, 400, "{}", message(&body));
    assert!(message(&body).contains("h and w"));
    let (status, _, body) = d.raw("POST", "/v1.41/containers/plain/resize?h=24&w=80", b"");
    assert_eq!(status, 409);
    assert!(message(&body).contains("no terminal"), "{}", message(&body));
    let (status, ..) = d.raw("POST", "/v1.41/containers/nosuch/resize?h=24&w=80", b"");
    assert_eq!(status, 404);
    let (status, ..) = d.raw("POST", "/v1.41/exec/nosuch/resize?h=24&w=80", b"");
    assert_eq!(status, 404);
    // A detached -t container's pty takes the size; what runs inside sees it.
    let (status, _, body) = d.raw("POST", "/v1.41/containers/withtty/resize?h=21&w=77", b"");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        d.ok(&["exec", "withtty", "sh", "-c", "stty size < /proc/1/fd/0"]),
        "21 77\n"
    );
    // Both still run; the daemon still answers.
    let up = names_up(&d);
    assert!(up.contains("plain Up") && up.contains("withtty Up"), "{up}");
    d.ok(&["rm", "-f", "plain", "withtty"]);
}
