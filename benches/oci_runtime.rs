//! Benchmark: glassbox as an OCI runtime beside crun and runc, in one run,
//! interleaved round by round so all see the same background load:
//! `RUNTIME run --bundle B ID` on the same busybox bundle (unpacked by
//! umoci from glassbox's own image), and `podman run --rm --network none
//! busybox true` with `--runtime` each of them.
//!
//! Run with `cargo bench --bench oci_runtime`; options after `--`:
//! `--runs N` (default 10), `--no-podman`. A runtime that is not installed
//! is reported as missing, not timed. Everything lives in one temporary
//! directory (store, bundle, every runtime's --root, podman's storage),
//! removed at the end; podman containers are removed with `rm -af`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Tool {
    name: String,
    cmd: Vec<String>,
    times: Vec<Duration>,
    error: Option<String>,
}

impl Tool {
    fn time_once(&mut self, round: usize) {
        if self.error.is_some() {
            return;
        }
        let args: Vec<String> = self
            .cmd
            .iter()
            .map(|a| a.replace("{n}", &round.to_string()))
            .collect();
        let t = Instant::now();
        let out = Command::new(&args[0])
            .args(&args[1..])
            .stdin(Stdio::null())
            .output();
        let d = t.elapsed();
        match out {
            Ok(o) if o.status.success() => self.times.push(d),
            Ok(o) => {
                self.error = Some(format!(
                    "{}: {}",
                    o.status,
                    String::from_utf8_lossy(&o.stderr).trim()
                ))
            }
            Err(e) => self.error = Some(e.to_string()),
        }
    }

    fn median(&self) -> Option<Duration> {
        let mut t = self.times.clone();
        t.sort();
        t.get(t.len() / 2).copied()
    }
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runs: usize = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(10);
    let podman = !args.iter().any(|a| a == "--no-podman") && which("podman").is_some();
    let glassbox = PathBuf::from(env!("CARGO_BIN_EXE_glassbox"));
    let tmp = tempfile::Builder::new()
        .prefix("glassbox-bench-oci-")
        .tempdir()
        .expect("temp dir");
    let d = tmp.path();
    let ok = |c: &mut Command| {
        let o = c.output().expect("spawn");
        assert!(
            o.status.success(),
            "{c:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    ok(Command::new(&glassbox)
        .arg("--root")
        .arg(d.join("store"))
        .arg("setup"));
    ok(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:busybox:latest", s(&d.join("store"))))
        .arg(d.join("bundle")));
    let cfg = d.join("bundle/config.json");
    let mut spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cfg).unwrap()).unwrap();
    spec["process"]["args"] = serde_json::json!(["true"]);
    spec["process"]["terminal"] = serde_json::json!(false);
    std::fs::write(&cfg, serde_json::to_vec(&spec).unwrap()).unwrap();
    let wrapper = d.join("glassbox-runc");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/bash\nexec -a glassbox-runc {} --root {} \"$@\"\n",
            s(&glassbox),
            s(&d.join("rt-glassbox"))
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut runtimes: Vec<(String, Option<PathBuf>)> =
        vec![("glassbox-runc".into(), Some(wrapper))];
    for r in ["crun", "runc"] {
        runtimes.push((r.into(), which(r)));
    }
    let mut tools = Vec::new();
    for (name, path) in &runtimes {
        let Some(path) = path else {
            println!("{name}: not installed, not timed");
            continue;
        };
        let mut cmd = vec![s(path)];
        if name != "glassbox-runc" {
            cmd.extend(["--root".into(), s(&d.join(format!("rt-{name}")))]);
        }
        cmd.extend([
            "run".into(),
            "--bundle".into(),
            s(&d.join("bundle")),
            "b{n}".to_string(),
        ]);
        tools.push(Tool {
            name: format!("{name} run"),
            cmd,
            times: Vec::new(),
            error: None,
        });
    }
    let podman_base = vec![
        "podman".to_string(),
        "--root".into(),
        s(&d.join("p/root")),
        "--runroot".into(),
        s(&d.join("p/runroot")),
        "--tmpdir".into(),
        s(&d.join("p/tmp")),
        "--cgroup-manager".into(),
        "cgroupfs".into(),
        "--events-backend".into(),
        "none".into(),
        "--storage-driver".into(),
        "vfs".into(),
    ];
    if podman {
        ok(Command::new(&glassbox)
            .arg("--root")
            .arg(d.join("store"))
            .args(["save", "busybox:latest", "-o"])
            .arg(d.join("busybox.tar")));
        let mut load = podman_base.clone();
        load.extend(["load".into(), "-i".into(), s(&d.join("busybox.tar"))]);
        ok(Command::new(&load[0]).args(&load[1..]));
        for (name, path) in &runtimes {
            let Some(path) = path else { continue };
            let mut cmd = podman_base.clone();
            cmd.extend(["--runtime".into(), s(path)]);
            cmd.extend(
                [
                    "run",
                    "--rm",
                    "--network",
                    "none",
                    "localhost/busybox",
                    "true",
                ]
                .map(String::from),
            );
            tools.push(Tool {
                name: format!("podman --runtime {name}"),
                cmd,
                times: Vec::new(),
                error: None,
            });
        }
    }
    for round in 0..runs {
        for t in tools.iter_mut() {
            t.time_once(round);
        }
    }
    println!("{runs} rounds, interleaved; median wall time");
    let median = |n: &str| tools.iter().find(|t| t.name == n).and_then(Tool::median);
    for t in &tools {
        match (&t.error, t.median()) {
            (Some(e), _) => println!("  {:<34} failed: {e}", t.name),
            (None, Some(m)) => println!("  {:<34} {:>8.1} ms", t.name, m.as_secs_f64() * 1e3),
            _ => {}
        }
    }
    for prefix in ["", "podman --runtime "] {
        let (g, c, r) = if prefix.is_empty() {
            (
                median("glassbox-runc run"),
                median("crun run"),
                median("runc run"),
            )
        } else {
            (
                median("podman --runtime glassbox-runc"),
                median("podman --runtime crun"),
                median("podman --runtime runc"),
            )
        };
        if let Some(g) = g {
            let label = if prefix.is_empty() {
                "direct"
            } else {
                "podman"
            };
            if let Some(c) = c {
                println!(
                    "  {label}: glassbox-runc / crun = {:.2}",
                    g.as_secs_f64() / c.as_secs_f64()
                );
            }
            if let Some(r) = r {
                println!(
                    "  {label}: glassbox-runc / runc = {:.2}",
                    g.as_secs_f64() / r.as_secs_f64()
                );
            }
        }
    }
    if podman {
        let mut rm = podman_base.clone();
        rm.extend(["rm", "-af"].map(String::from));
        let _ = Command::new(&rm[0]).args(&rm[1..]).output();
    }
}
