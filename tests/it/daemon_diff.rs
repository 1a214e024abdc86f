//! The differential suite: the same list of docker CLI commands
//! (`docker_diff.txt`) runs against dockerd 20.10 and against
//! `glassbox daemon`, with the same busybox image (glassbox's, saved and
//! `docker load`ed into dockerd), and the exit codes and redacted stdouts
//! are compared line by line.
//!
//! dockerd gets a data-root and exec-root of its own under a temp dir, no
//! bridge, no iptables and no ip_forward change, and is stopped by its PID;
//! the cgroups it made are removed afterwards. Every difference is either
//! fixed in glassbox or listed in [`KEPT`] with the reason it stays.

use crate::daemon::Daemon;
use crate::run::busybox_root;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

/// Differences that stay, for now, with the reason: each entry is the
/// command line as written in docker_diff.txt. A kept line that stops
/// differing fails the test too, so this list cannot rot.
const KEPT: &[(&str, &str)] = &[];

/// How long one docker command may take.
const CLI_LIMIT: Duration = Duration::from_secs(90);

/// One line of docker_diff.txt.
struct Line {
    text: String,
    args: Vec<String>,
    compare_stdout: bool,
}

/// Splits on spaces, with '...' and "..." quoting one argument.
fn split(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote = None;
    let mut any = false;
    for c in s.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (None, ' ') => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            (None, c) => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn lines() -> Vec<Line> {
    let text = include_str!("docker_diff.txt");
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|l| {
            let (mode, rest) = l.split_once(' ').expect("a mode and a command");
            let rest = rest.split("   #").next().unwrap_or(rest).trim();
            assert!(mode == "out" || mode == "exit", "unknown mode in {l:?}");
            Line {
                text: rest.to_string(),
                args: split(rest),
                compare_stdout: mode == "out",
            }
        })
        .collect()
}

/// Ids (64 and 12 hex digits) out of an output.
fn redact(s: &str) -> String {
    let mut out = String::new();
    for w in s.split_inclusive(|c: char| !c.is_ascii_hexdigit()) {
        let hex = w.trim_end_matches(|c: char| !c.is_ascii_hexdigit());
        if (hex.len() == 64 || hex.len() == 12) && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            out.push_str("<id>");
            out.push_str(&w[hex.len()..]);
        } else {
            out.push_str(w);
        }
    }
    out
}

/// A dockerd this test started; stopped by its PID on drop, its
/// containers removed first and its cgroups after.
struct Dockerd {
    child: Child,
    dir: tempfile::TempDir,
    config: tempfile::TempDir,
}

impl Dockerd {
    fn sock(&self) -> PathBuf {
        self.dir.path().join("docker.sock")
    }

    fn start() -> Dockerd {
        let dir = tempfile::tempdir().expect("a dir for dockerd");
        let p = |n: &str| dir.path().join(n);
        let log = std::fs::File::create(p("dockerd.log")).unwrap();
        let child = Command::new("dockerd")
            .arg("--data-root")
            .arg(p("data"))
            .arg("--exec-root")
            .arg(p("exec"))
            .arg("--pidfile")
            .arg(p("dockerd.pid"))
            .arg("-H")
            .arg(format!("unix://{}", p("docker.sock").display()))
            .args([
                "--bridge=none",
                "--iptables=false",
                "--ip6tables=false",
                "--ip-forward=false",
                "--ip-masq=false",
                "--userland-proxy=false",
            ])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("dockerd (docker.io) is installed by scripts/install-deps.sh");
        let d = Dockerd {
            child,
            dir,
            config: tempfile::tempdir().unwrap(),
        };
        let until = Instant::now() + Duration::from_secs(60);
        while !d.docker(&["version"]).status.success() {
            assert!(
                Instant::now() < until,
                "dockerd answers within 60 s; its log:\n{}",
                std::fs::read_to_string(p_log(&d)).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        d
    }

    /// Runs the docker CLI; one that has not ended after [`CLI_LIMIT`] is
    /// killed by its PID (a hang is a failure of the line, not of CI).
    fn docker(&self, args: &[&str]) -> Output {
        let mut child = Command::new(crate::daemon::docker_cli())
            .args(args)
            .env("DOCKER_HOST", format!("unix://{}", self.sock().display()))
            .env("DOCKER_CONFIG", self.config.path())
            .env("DOCKER_BUILDKIT", "0")
            .env_remove("DOCKER_CONTEXT")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("docker runs");
        // The pipes are read beside the wait, so a long output cannot
        // stall the CLI; the wait polls, so only a child not yet reaped is
        // ever killed.
        let drain = |r: Option<Box<dyn std::io::Read + Send>>| {
            std::thread::spawn(move || {
                let mut v = Vec::new();
                if let Some(mut r) = r {
                    let _ = r.read_to_end(&mut v);
                }
                v
            })
        };
        let so = drain(child.stdout.take().map(|r| Box::new(r) as _));
        let se = drain(child.stderr.take().map(|r| Box::new(r) as _));
        let deadline = Instant::now() + CLI_LIMIT;
        let status = loop {
            if let Some(st) = child.try_wait().expect("waiting for docker") {
                break st;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                break child.wait().expect("docker ends");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut out = Output {
            status,
            stdout: so.join().unwrap_or_default(),
            stderr: se.join().unwrap_or_default(),
        };
        if out.status.code().is_none() {
            out.stderr.extend_from_slice(
                format!("\n[killed after {} s]", CLI_LIMIT.as_secs()).as_bytes(),
            );
        }
        out
    }
}

fn p_log(d: &Dockerd) -> PathBuf {
    d.dir.path().join("dockerd.log")
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let ids = self.docker(&["ps", "-aq"]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = self.docker(&["rm", "-f", id]);
        }
        let _ = self.docker(&["volume", "prune", "-f"]);
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() > until => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        remove_docker_cgroups(Path::new("/sys/fs/cgroup"));
    }
}

/// dockerd leaves empty `docker` cgroup directories in each hierarchy.
fn remove_docker_cgroups(base: &Path) {
    let mut dirs = vec![base.join("docker")];
    if let Ok(rd) = std::fs::read_dir(base) {
        for e in rd.flatten() {
            dirs.push(e.path().join("docker"));
        }
    }
    for d in dirs {
        if let Ok(rd) = std::fs::read_dir(&d) {
            for e in rd.flatten() {
                if e.path().is_dir() {
                    let _ = std::fs::remove_dir(e.path());
                }
            }
        }
        let _ = std::fs::remove_dir(&d);
    }
}

/// (exit code, redacted stdout, stderr) of each line, in order.
fn play(lines: &[Line], docker: impl Fn(&[&str]) -> Output) -> Vec<(i32, String, String)> {
    lines
        .iter()
        .map(|l| {
            let args: Vec<&str> = l.args.iter().map(String::as_str).collect();
            let out = docker(&args);
            (
                out.status.code().unwrap_or(-1),
                redact(&String::from_utf8_lossy(&out.stdout)),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        })
        .collect()
}

#[test]
fn the_docker_cli_gets_the_same_answers_from_glassbox_as_from_dockerd() {
    let lines = lines();
    assert!(lines.len() >= 40, "the issue asks for at least 40 commands");
    let root = busybox_root();
    let tar = root.path().join("busybox.tar");
    root.ok(&["save", "busybox:latest", "-o", tar.to_str().unwrap()]);

    let dockerd = Dockerd::start();
    let loaded = dockerd.docker(&["load", "-i", tar.to_str().unwrap()]);
    assert!(
        loaded.status.success(),
        "dockerd loads glassbox's busybox: {loaded:?}"
    );
    let theirs = play(&lines, |a| dockerd.docker(a));
    drop(dockerd);

    let daemon = Daemon::start(&root);
    let ours = play(&lines, |a| daemon.docker(a));
    drop(daemon);

    let mut report = Vec::new();
    for ((l, t), o) in lines.iter().zip(&theirs).zip(&ours) {
        let same = t.0 == o.0 && (!l.compare_stdout || t.1 == o.1);
        let kept = KEPT.iter().any(|(k, _)| *k == l.text);
        match (same, kept) {
            (true, false) | (false, true) => {}
            (false, false) => report.push(format!(
                "docker {}\n  dockerd:  exit {} stdout {:?} stderr {:?}\n  glassbox: exit {} stdout {:?} stderr {:?}",
                l.text, t.0, t.1, t.2.trim(), o.0, o.1, o.2.trim()
            )),
            (true, true) => report.push(format!(
                "docker {}: listed in KEPT but no longer differs; take it out",
                l.text
            )),
        }
    }
    for (k, _) in KEPT {
        assert!(
            lines.iter().any(|l| l.text == *k),
            "KEPT names a line docker_diff.txt does not have: {k}"
        );
    }
    assert!(
        report.is_empty(),
        "{} of {} commands answer differently:\n{}",
        report.len(),
        lines.len(),
        report.join("\n")
    );
}

#[test]
fn the_command_list_splits_quoted_arguments_and_redacts_ids() {
    assert_eq!(
        split("run --rm busybox sh -c 'exit 3' \"a b\""),
        ["run", "--rm", "busybox", "sh", "-c", "exit 3", "a b"]
    );
    assert_eq!(
        redact("0123456789ab done\nsha256:0000000000000000000000000000000000000000000000000000000000000000\n"),
        "<id> done\nsha256:<id>\n"
    );
    assert_eq!(redact("c1 Exited (0)\n"), "c1 Exited (0)\n");
}
