//! Benchmark: `docker run --rm busybox true` through glassbox's daemon,
//! the same through dockerd 20.10 (when installed: Debian's docker.io), and
//! `glassbox run --rm busybox true`, interleaved run by run in one run; and
//! the resident memory of the idle daemon.
//!
//! Run with `cargo bench --bench daemon`. Options (after `--`): `--runs N`
//! (default 20), `--no-dockerd`. Everything lives in one temporary
//! directory (glassbox root, dockerd's data and exec roots, sockets), and
//! both daemons are stopped by PID at the end, even on panic; what dockerd
//! leaves (its cgroups named docker) is removed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn glassbox() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_glassbox"))
}

fn docker_cli() -> &'static str {
    if Path::new("/usr/local/bin/docker").exists() {
        "/usr/local/bin/docker"
    } else {
        "docker"
    }
}

/// A child ended by its PID on drop.
struct Guard(Child, &'static str);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.0.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
        if self.1 == "dockerd" {
            for c in [
                "cpu",
                "memory",
                "pids",
                "freezer",
                "blkio",
                "devices",
                "cpuset",
                "net_cls",
                "perf_event",
                "hugetlb",
                "systemd",
            ] {
                let _ = std::fs::remove_dir(format!("/sys/fs/cgroup/{c}/docker"));
            }
            let _ = std::fs::remove_dir("/sys/fs/cgroup/docker");
        }
    }
}

fn wait_for(sock: &Path) {
    let until = Instant::now() + Duration::from_secs(30);
    while std::os::unix::net::UnixStream::connect(sock).is_err() {
        assert!(Instant::now() < until, "{} listens", sock.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn time(cmd: &mut Command) -> Option<Duration> {
    let t = Instant::now();
    let ok = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    ok.then(|| t.elapsed())
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runs: usize = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(20);
    let want_dockerd =
        !args.iter().any(|a| a == "--no-dockerd") && Path::new("/usr/sbin/dockerd").exists();
    let tmp = tempfile::Builder::new()
        .prefix("glassbox-bench-daemon-")
        .tempdir()
        .unwrap();
    let root = tmp.path().join("root");
    let gb = |a: &[&str]| {
        let mut c = Command::new(glassbox());
        c.arg("--root").arg(&root).args(["--trace", "off"]).args(a);
        c
    };
    assert!(gb(&["setup"]).status().unwrap().success(), "glassbox setup");
    let sock = tmp.path().join("gb.sock");
    let daemon = Guard(
        gb(&["daemon", "-H", &format!("unix://{}", sock.display())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
        "glassbox",
    );
    wait_for(&sock);
    std::thread::sleep(Duration::from_millis(300));
    let idle = rss_kib(daemon.0.id());
    let dockerd = want_dockerd.then(|| {
        let dsock = tmp.path().join("dockerd.sock");
        let g = Guard(
            Command::new("/usr/sbin/dockerd")
                .arg("--data-root")
                .arg(tmp.path().join("docker-data"))
                .arg("--exec-root")
                .arg(tmp.path().join("docker-exec"))
                .arg("--pidfile")
                .arg(tmp.path().join("dockerd.pid"))
                .arg("-H")
                .arg(format!("unix://{}", dsock.display()))
                .args(["--bridge=none", "--iptables=false", "--ip-forward=false"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
            "dockerd",
        );
        wait_for(&dsock);
        let tar = tmp.path().join("busybox.tar");
        assert!(gb(&["save", "busybox", "-o", tar.to_str().unwrap()])
            .status()
            .unwrap()
            .success());
        let loaded = Command::new(docker_cli())
            .env("DOCKER_HOST", format!("unix://{}", dsock.display()))
            .args(["load", "-i", tar.to_str().unwrap()])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(loaded.success(), "dockerd loads busybox");
        (g, dsock)
    });
    let docker = |sock: &Path, net: &str| {
        let mut c = Command::new(docker_cli());
        c.env("DOCKER_HOST", format!("unix://{}", sock.display()))
            .env("DOCKER_CONFIG", tmp.path().join("docker-config"))
            .args(["run", "--rm", "--network", net, "busybox", "true"]);
        c
    };
    let (mut via_gb, mut via_dockerd, mut cli) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        via_gb.extend(time(&mut docker(&sock, "none")));
        if let Some((_, dsock)) = &dockerd {
            via_dockerd.extend(time(&mut docker(dsock, "none")));
        }
        cli.extend(time(&mut gb(&[
            "run",
            "--rm",
            "--network",
            "none",
            "busybox",
            "true",
        ])));
    }
    let (g, d, c) = (
        median(&mut via_gb),
        median(&mut via_dockerd),
        median(&mut cli),
    );
    let ms = |x: Duration| x.as_secs_f64() * 1000.0;
    println!("docker run --rm busybox true, --network none, median of {runs} (interleaved):");
    println!(
        "  via glassbox daemon   {:8.1} ms  ({} ok)",
        ms(g),
        via_gb.len()
    );
    if dockerd.is_some() {
        println!(
            "  via dockerd 20.10     {:8.1} ms  ({} ok)",
            ms(d),
            via_dockerd.len()
        );
        println!(
            "  dockerd / glassbox    {:8.2}x  (goal: at least 5x)",
            ms(d) / ms(g)
        );
    }
    println!(
        "  glassbox run --rm     {:8.1} ms  ({} ok)",
        ms(c),
        cli.len()
    );
    println!(
        "  daemon - CLI          {:+8.1} ms  (goal: at most +5 ms)",
        ms(g) - ms(c)
    );
    println!(
        "idle daemon VmRSS       {:8.1} MiB  (goal: at most 10 MiB)",
        idle as f64 / 1024.0
    );
    drop(dockerd);
    drop(daemon);
}
