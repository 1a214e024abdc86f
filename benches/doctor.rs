//! How long `glassbox doctor` takes over a store of 20 running containers,
//! each publishing a port with a web server behind it (so every check runs:
//! the socket tables of 20 network namespaces, 20 cgroups, mounts, logs).
//! Times the whole command (process start included) and the library call
//! alone, medians of interleaved runs. The goal: under 300 ms.
//!
//! `cargo bench --bench doctor [-- --containers 20 --runs 15]`

use std::path::Path;
use std::process::Command;
use std::time::Instant;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Removes the bench's containers and bridges even when a run fails.
struct Teardown<'a> {
    exe: &'a str,
    root: &'a Path,
    names: Vec<String>,
}

impl Drop for Teardown<'_> {
    fn drop(&mut self) {
        for n in &self.names {
            let _ = Command::new(self.exe)
                .arg("--root")
                .arg(self.root)
                .args(["--trace", "off", "rm", "-f", n])
                .output();
        }
        glassbox::network::teardown_root(self.root);
    }
}

fn glassbox(exe: &str, root: &Path, args: &[&str]) -> std::process::Output {
    Command::new(exe)
        .arg("--root")
        .arg(root)
        .args(["--trace", "off"])
        .args(args)
        .output()
        .expect("run glassbox")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let count = arg(&args, "--containers", 20);
    let runs = arg(&args, "--runs", 15);
    let exe = env!("CARGO_BIN_EXE_glassbox");
    let dir = tempfile::Builder::new()
        .prefix("glassbox-doctorbench-")
        .tempdir()
        .expect("temp root");
    let root = dir.path();
    let mut teardown = Teardown {
        exe,
        root,
        names: Vec::new(),
    };
    assert!(glassbox(exe, root, &["setup"]).status.success());
    for i in 0..count {
        let name = format!("web{i}");
        teardown.names.push(name.clone());
        let out = glassbox(
            exe,
            root,
            &[
                "run",
                "-d",
                "--name",
                &name,
                "-p",
                "127.0.0.1::80",
                "busybox",
                "sh",
                "-c",
                "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 80 -h /www",
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Every server listens before the timing starts: doctor is clean.
    let deadline = Instant::now() + std::time::Duration::from_secs(20);
    while !glassbox(exe, root, &["doctor"]).status.success() {
        assert!(Instant::now() < deadline, "doctor never came out clean");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let (mut cmd, mut lib) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let t = Instant::now();
        let out = glassbox(exe, root, &["doctor", "--format", "json"]);
        cmd.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let t = Instant::now();
        let report = glassbox::doctor::examine(root, None).expect("examine");
        lib.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(report.examined.len(), count);
        assert!(report.clean(), "{:?}", report.findings);
    }
    let worst = cmd.iter().cloned().fold(0.0, f64::max);
    let (c, l) = (median(&mut cmd), median(&mut lib));
    println!("glassbox doctor over {count} running containers, median of {runs} interleaved runs");
    println!("  the command (`doctor --format json`) {c:8.2} ms   (worst {worst:.2} ms)");
    println!("  the library call (doctor::examine)   {l:8.2} ms");
    println!("  goal: under 300 ms; load average before: {}", load.trim());
}
