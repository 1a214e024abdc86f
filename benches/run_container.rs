//! Benchmark: `glassbox run --rm busybox true` beside `crun run`, `runc run`
//! (an equivalent prepared OCI bundle on the same rootfs), `podman run --rm
//! --network none` and a bare `unshare` of the same namespaces, in one run.
//!
//! Run with `cargo bench --bench run_container`. Options (after `--`):
//! `--runs N` (default 20), `--no-podman`, `--no-crun`, `--glassbox PATH`
//! (default: the binary cargo built for this bench, i.e. the release
//! profile). It also times glassbox with `--trace json --trace-file F`,
//! summarises one `--timeline F` (where the time goes), and reads the
//! resident memory of the supervisor (`__shim`) of a detached container.
//! Figures and reasoning: benches/RUN.md.
//!
//! Everything it makes lives in one temporary directory (glassbox root,
//! bundle, runc/crun state dirs, podman storage) and is removed at the end;
//! the hugetlb v1 mount crun needs on this host is made only around each
//! crun run and undone by a guard, even on panic.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// One tool's timed command line.
struct Tool {
    name: &'static str,
    cmd: Vec<String>,
    times: Vec<Duration>,
    error: Option<String>,
}

impl Tool {
    fn new(name: &'static str, cmd: Vec<String>) -> Self {
        Tool {
            name,
            cmd,
            times: Vec::new(),
            error: None,
        }
    }

    /// Runs the command once; records the wall time, or the first failure.
    fn time_once(&mut self) {
        if self.error.is_some() {
            return;
        }
        let t = Instant::now();
        let out = run(&self.cmd);
        let d = t.elapsed();
        match out {
            Ok(o) if o.status.success() => self.times.push(d),
            Ok(o) => {
                self.error = Some(format!(
                    "exit {:?}: {}",
                    o.status.code(),
                    String::from_utf8_lossy(&o.stderr).trim()
                ))
            }
            Err(e) => self.error = Some(e.to_string()),
        }
    }

    fn median(&self) -> Option<Duration> {
        let mut t = self.times.clone();
        t.sort();
        (!t.is_empty()).then(|| t[t.len() / 2])
    }
}

fn run(cmd: &[String]) -> io::Result<Output> {
    Command::new(&cmd[0])
        .args(&cmd[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
}

/// Runs a setup command; panics with its stderr on failure.
fn must(cmd: &[&str]) -> String {
    let cmd: Vec<String> = cmd.iter().map(|s| s.to_string()).collect();
    let o = run(&cmd).unwrap_or_else(|e| panic!("{}: {e}", cmd[0]));
    assert!(
        o.status.success(),
        "{:?} failed: {}",
        cmd,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn is_mounted(p: &Path) -> bool {
    let p = p.to_string_lossy();
    fs::read_to_string("/proc/self/mountinfo")
        .map(|m| m.lines().any(|l| l.split(' ').nth(4) == Some(&*p)))
        .unwrap_or(false)
}

/// Moves the hugetlb controller to a v1 hierarchy for as long as it lives
/// (crun refuses this host's hybrid layout otherwise). Drop undoes it:
/// child cgroups first (deepest first), then the mount, then the directory.
/// If hugetlb was already mounted by someone else, it touches nothing.
struct HugetlbV1 {
    dir: PathBuf,
    ours: bool,
}

impl HugetlbV1 {
    fn mount() -> io::Result<Self> {
        let dir = PathBuf::from("/sys/fs/cgroup/hugetlb");
        if is_mounted(&dir) {
            return Ok(HugetlbV1 { dir, ours: false });
        }
        let made_dir = !dir.exists();
        if made_dir {
            fs::create_dir(&dir)?;
        }
        let st = Command::new("mount")
            .args(["-t", "cgroup", "-o", "hugetlb", "cgroup"])
            .arg(&dir)
            .stderr(Stdio::piped())
            .output()?;
        if !st.status.success() {
            if made_dir {
                let _ = fs::remove_dir(&dir);
            }
            return Err(io::Error::other(format!(
                "mount hugetlb: {}",
                String::from_utf8_lossy(&st.stderr).trim()
            )));
        }
        Ok(HugetlbV1 { dir, ours: true })
    }
}

fn child_dirs_deepest_first(dir: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                child_dirs_deepest_first(&e.path(), out);
                out.push(e.path());
            }
        }
    }
}

impl Drop for HugetlbV1 {
    fn drop(&mut self) {
        if !self.ours {
            return;
        }
        let mut children = Vec::new();
        child_dirs_deepest_first(&self.dir, &mut children);
        for c in children {
            let _ = fs::remove_dir(&c);
        }
        let _ = Command::new("umount").arg(&self.dir).status();
        let _ = fs::remove_dir(&self.dir);
    }
}

/// Removes the bench's temporary directory: podman's storage first (its
/// overlay mounts), then any mount still under it, then the files.
struct Scratch {
    dir: PathBuf,
    podman: Option<Vec<String>>,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(p) = &self.podman {
            let mut c = p.clone();
            c.extend(strs(&["rmi", "-af"]));
            let _ = run(&c);
        }
        let prefix = self.dir.to_string_lossy().into_owned();
        if let Ok(m) = fs::read_to_string("/proc/self/mountinfo") {
            let mut under: Vec<&str> = m
                .lines()
                .filter_map(|l| l.split(' ').nth(4))
                .filter(|p| p.starts_with(&prefix))
                .collect();
            under.sort_by_key(|p| std::cmp::Reverse(p.len()));
            for p in under {
                let _ = Command::new("umount").args(["-l", p]).status();
            }
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn have(bin: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {bin}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Writes bundle/config.json from `runc spec`: /bin/true, no terminal, the
/// same namespaces glassbox makes (pid, mount, uts, ipc, net, cgroup).
fn prepare_bundle(bundle: &Path, rootfs_src: &Path) {
    fs::create_dir_all(bundle).unwrap();
    must(&[
        "cp",
        "-a",
        &rootfs_src.to_string_lossy(),
        &bundle.join("rootfs").to_string_lossy(),
    ]);
    must(&["runc", "spec", "--bundle", &bundle.to_string_lossy()]);
    let path = bundle.join("config.json");
    let mut spec: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    spec["process"]["args"] = serde_json::json!(["/bin/true"]);
    spec["process"]["terminal"] = serde_json::json!(false);
    spec["root"]["path"] = serde_json::json!("rootfs");
    let ns = spec["linux"]["namespaces"].as_array_mut().unwrap();
    if !ns.iter().any(|n| n["type"] == "cgroup") {
        ns.push(serde_json::json!({"type": "cgroup"}));
    }
    fs::write(&path, serde_json::to_vec_pretty(&spec).unwrap()).unwrap();
}

/// Summary of a Chrome trace file: (wall span of the trace, phases by
/// duration, steps by duration), in microseconds.
type Spans = Vec<(String, u64)>;

fn summarise_timeline(path: &Path) -> (u64, Spans, Spans) {
    let doc: serde_json::Value = serde_json::from_slice(&fs::read(path).unwrap()).unwrap();
    let evs = doc["traceEvents"].as_array().cloned().unwrap_or_default();
    let mut open: Vec<(String, u64, u64)> = Vec::new();
    let mut phases = Vec::new();
    let mut steps = Vec::new();
    let (mut lo, mut hi) = (u64::MAX, 0u64);
    for e in &evs {
        let ts = e["ts"].as_u64().unwrap_or(0);
        let name = e["name"].as_str().unwrap_or("").to_string();
        let tid = e["tid"].as_u64().unwrap_or(0);
        lo = lo.min(ts);
        match e["ph"].as_str() {
            Some("B") => open.push((name, tid, ts)),
            Some("E") => {
                hi = hi.max(ts);
                if let Some(i) = open.iter().rposition(|(n, t, _)| *n == name && *t == tid) {
                    let (n, _, b) = open.remove(i);
                    phases.push((n, ts - b));
                }
            }
            Some("X") => {
                let d = e["dur"].as_u64().unwrap_or(0);
                hi = hi.max(ts + d);
                let cat = e["cat"].as_str().unwrap_or("");
                steps.push((format!("{cat}.{name}"), d));
            }
            _ => hi = hi.max(ts),
        }
    }
    phases.sort_by_key(|p| std::cmp::Reverse(p.1));
    steps.sort_by_key(|p| std::cmp::Reverse(p.1));
    (hi.saturating_sub(lo), phases, steps)
}

/// The supervisor's memory: (VmRSS, RssAnon, RssFile, Pss) in KiB.
fn shim_memory(glassbox: &str, root: &Path) -> Result<(u64, u64, u64, u64), String> {
    let root_s = root.to_string_lossy().into_owned();
    let out = run(&strs(&[
        glassbox, "--root", &root_s, "--trace", "off", "run", "-d", "--name", "m", "busybox",
        "sleep", "60",
    ]))
    .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    // Let the shim settle into its wait loop.
    std::thread::sleep(Duration::from_millis(300));
    let state: serde_json::Value = fs::read(root.join("containers").join(&id).join("state.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let result = match state["shim_pid"].as_i64() {
        None => Err(format!("no shim_pid in state.json of {id}")),
        Some(pid) => {
            let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let field = |text: &str, k: &str| {
                text.lines()
                    .find(|l| l.starts_with(k))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0)
            };
            let rollup =
                fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
            Ok((
                field(&status, "VmRSS:"),
                field(&status, "RssAnon:"),
                field(&status, "RssFile:"),
                field(&rollup, "Pss:"),
            ))
        }
    };
    let _ = run(&strs(&[glassbox, "--root", &root_s, "rm", "-f", "m"]));
    result
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |f: &str| args.iter().any(|a| a == f);
    let value = |f: &str| {
        args.iter()
            .position(|a| a == f)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let runs: usize = value("--runs").and_then(|v| v.parse().ok()).unwrap_or(20);
    let glassbox = value("--glassbox").unwrap_or_else(|| env!("CARGO_BIN_EXE_glassbox").into());
    let load_before = loadavg();

    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    fs::create_dir_all(&base).unwrap();
    let dir = tempfile::Builder::new()
        .prefix("runbench-")
        .tempdir_in(&base)
        .unwrap()
        .keep();
    let mut scratch = Scratch {
        dir: dir.clone(),
        podman: None,
    };
    let root = dir.join("root");
    let root_s = root.to_string_lossy().into_owned();
    must(&[&glassbox, "--root", &root_s, "setup"]);

    // glassbox: trace off, then trace json to a file.
    let trace_file = dir.join("trace.jsonl").to_string_lossy().into_owned();
    let gb = |extra: &[&str]| {
        let mut c = strs(&[&glassbox, "--root", &root_s]);
        c.extend(strs(extra));
        c.extend(strs(&["run", "--rm", "busybox", "true"]));
        c
    };
    let mut tools = vec![
        Tool::new("glassbox --trace off", gb(&["--trace", "off"])),
        Tool::new(
            "glassbox --trace json",
            gb(&["--trace", "json", "--trace-file", &trace_file]),
        ),
    ];
    // The first run unpacks the layer; not part of the figure.
    must(
        &gb(&["--trace", "off"])
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>(),
    );

    // The same rootfs for runc and crun: a copy of glassbox's unpacked layer.
    let layer = fs::read_dir(root.join("layers"))
        .unwrap()
        .flatten()
        .next()
        .expect("an unpacked layer")
        .path();
    let bundle = dir.join("bundle");
    let bundle_s = bundle.to_string_lossy().into_owned();
    let mut crun = None;
    if have("runc") {
        prepare_bundle(&bundle, &layer);
        let state = dir.join("runc-state").to_string_lossy().into_owned();
        tools.push(Tool::new(
            "runc run",
            strs(&[
                "runc", "--root", &state, "run", "--bundle", &bundle_s, "rb-runc",
            ]),
        ));
        if have("crun") && !flag("--no-crun") {
            let state = dir.join("crun-state").to_string_lossy().into_owned();
            crun = Some(tools.len());
            tools.push(Tool::new(
                "crun run",
                strs(&[
                    "crun", "--root", &state, "run", "--bundle", &bundle_s, "rb-crun",
                ]),
            ));
        }
    } else {
        eprintln!("runc is not installed (scripts/bench-deps.sh): runc and crun skipped");
    }

    // podman with its own storage under the scratch dir, image copied in by skopeo.
    if have("podman") && !flag("--no-podman") {
        let pr = dir.join("podman");
        let (proot, prun) = (pr.join("root"), pr.join("runroot"));
        let podman = strs(&[
            "podman",
            "--root",
            &proot.to_string_lossy(),
            "--runroot",
            &prun.to_string_lossy(),
            "--storage-driver",
            "overlay",
            "--cgroup-manager",
            "cgroupfs",
            "--events-backend",
            "none",
        ]);
        let dest = format!(
            "containers-storage:[overlay@{}+{}]localhost/busybox:latest",
            proot.display(),
            prun.display()
        );
        let copy = run(&strs(&[
            "skopeo",
            "copy",
            "--quiet",
            &format!("oci:{root_s}:busybox:latest"),
            &dest,
        ]));
        scratch.podman = Some(podman.clone());
        let mut cmd = podman.clone();
        cmd.extend(strs(&[
            "run",
            "--rm",
            "--network",
            "none",
            "localhost/busybox:latest",
            "true",
        ]));
        let mut t = Tool::new("podman run --rm", cmd);
        match copy {
            Ok(o) if o.status.success() => {}
            Ok(o) => t.error = Some(format!("skopeo: {}", String::from_utf8_lossy(&o.stderr))),
            Err(e) => t.error = Some(format!("skopeo: {e}")),
        }
        tools.push(t);
    }
    tools.push(Tool::new(
        "unshare (all ns)",
        strs(&[
            "unshare", "--fork", "--pid", "--mount", "--uts", "--ipc", "--net", "--cgroup", "true",
        ]),
    ));

    // Warm up each tool once, then interleave the timed runs so every tool
    // sees the same background load.
    for round in 0..=runs {
        for (i, t) in tools.iter_mut().enumerate() {
            let _guard = if Some(i) == crun {
                match HugetlbV1::mount() {
                    Ok(g) => Some(g),
                    Err(e) => {
                        t.error.get_or_insert(e.to_string());
                        continue;
                    }
                }
            } else {
                None
            };
            if round == 0 {
                let _ = run(&t.cmd);
            } else {
                t.time_once();
            }
        }
    }

    // One run with the timeline.
    let tl = dir.join("timeline.json");
    let c = gb(&["--trace", "off", "--timeline", &tl.to_string_lossy()]);
    let t0 = Instant::now();
    let ok = run(&c).map(|o| o.status.success()).unwrap_or(false);
    let tl_wall = t0.elapsed();

    let mem = shim_memory(&glassbox, &root);
    let load_after = loadavg();

    // Report.
    let crun_median = crun.and_then(|i| tools[i].median());
    println!("glassbox binary: {glassbox}");
    println!(
        "runs: {runs} each, interleaved; load average before {load_before}, after {load_after}"
    );
    println!();
    println!(
        "{:<24} {:>9} {:>9} {:>9} {:>8}",
        "command", "median ms", "min ms", "max ms", "vs crun"
    );
    for t in &tools {
        match (&t.error, t.median()) {
            (None, Some(m)) => {
                let min = t.times.iter().min().copied().unwrap_or_default();
                let max = t.times.iter().max().copied().unwrap_or_default();
                let rel = crun_median
                    .map(|c| format!("{:.2}x", m.as_secs_f64() / c.as_secs_f64()))
                    .unwrap_or_else(|| "-".into());
                println!(
                    "{:<24} {:>9.1} {:>9.1} {:>9.1} {:>8}",
                    t.name,
                    ms(m),
                    ms(min),
                    ms(max),
                    rel
                );
            }
            (err, _) => println!(
                "{:<24} failed: {}",
                t.name,
                err.as_deref().unwrap_or("no runs")
            ),
        }
    }
    if let (Some(off), Some(json)) = (tools[0].median(), tools[1].median()) {
        println!(
            "\njson trace to a file adds {:+.1}% (goal: at most +10%)",
            (json.as_secs_f64() / off.as_secs_f64() - 1.0) * 100.0
        );
    }
    if let Some(c) = crun_median {
        if let Some(off) = tools[0].median() {
            println!(
                "glassbox (trace off) / crun = {:.2}x (goal: at most 1.5x)",
                off.as_secs_f64() / c.as_secs_f64()
            );
        }
    }

    println!(
        "\ntimeline of one run ({:.1} ms wall from outside):",
        ms(tl_wall)
    );
    if ok && tl.exists() {
        let (span, phases, steps) = summarise_timeline(&tl);
        println!(
            "  traced span {:.1} ms; outside it (exec, loading, exit) {:.1} ms",
            span as f64 / 1000.0,
            ms(tl_wall) - span as f64 / 1000.0
        );
        println!("  phases:");
        for (n, d) in phases.iter().take(10) {
            println!("    {:>7.2} ms  {n}", *d as f64 / 1000.0);
        }
        println!("  steps (top 12):");
        for (n, d) in steps.iter().take(12) {
            println!("    {:>7.2} ms  {n}", *d as f64 / 1000.0);
        }
    } else {
        println!("  the timeline run failed");
    }

    match mem {
        Ok((rss, anon, file, pss)) => println!(
            "\nsupervisor (__shim) of a detached `sleep 60`: VmRSS {:.2} MiB (anon {:.2}, file {:.2}), Pss {:.2} MiB (goal: VmRSS < 2 MiB)",
            rss as f64 / 1024.0,
            anon as f64 / 1024.0,
            file as f64 / 1024.0,
            pss as f64 / 1024.0
        ),
        Err(e) => println!("\nsupervisor memory: failed: {e}"),
    }
    drop(scratch);
}
