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

mod common;

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
    /// User + system CPU time of the command and what it waited for.
    cpu: Vec<Duration>,
    error: Option<String>,
}

impl Tool {
    fn new(name: &'static str, cmd: Vec<String>) -> Self {
        Tool {
            name,
            cmd,
            times: Vec::new(),
            cpu: Vec::new(),
            error: None,
        }
    }

    /// Runs the command once; records the wall time, or the first failure.
    fn time_once(&mut self) {
        if self.error.is_some() {
            return;
        }
        let c = children_cpu();
        let t = Instant::now();
        let out = run(&self.cmd);
        let d = t.elapsed();
        let c = children_cpu().saturating_sub(c);
        match out {
            Ok(o) if o.status.success() => {
                self.times.push(d);
                self.cpu.push(c);
            }
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
        median(&self.times)
    }
}

fn median(v: &[Duration]) -> Option<Duration> {
    let mut t = v.to_vec();
    t.sort();
    (!t.is_empty()).then(|| t[t.len() / 2])
}

/// User + system CPU time of every waited-for child so far.
fn children_cpu() -> Duration {
    // SAFETY: getrusage only writes the rusage struct we pass, which is
    // plain data and zero-initialised.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_CHILDREN with a valid pointer to an rusage.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
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

/// The load average and the CPU and I/O pressure (PSI "some avg10").
fn loadavg() -> String {
    let psi = common::pressure_avg10;
    format!(
        "{} (cpu PSI {}%, io PSI {}%)",
        common::load_average(),
        psi("cpu"),
        psi("io")
    )
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
    /// Directories outside `dir` that the peers create: removed if empty.
    empty_dirs: Vec<PathBuf>,
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
        for d in &self.empty_dirs {
            let _ = fs::remove_dir(d);
        }
    }
}

/// The hard limit of one row of /proc/self/limits ("Max open files").
fn hard_limit(row: &str) -> Option<u64> {
    let text = fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with(row))?;
    line[row.len()..].split_whitespace().nth(1)?.parse().ok()
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

/// Durations in microseconds by name.
type Spans = Vec<(String, u64)>;

/// Summary of a Chrome trace file: the wall span it covers, its phases
/// (B/E pairs, summed by name) and its steps (X events, summed by
/// `kind.action`, so ids and paths do not split them), in microseconds.
fn summarise_timeline(path: &Path) -> (u64, Spans, Spans) {
    let doc: serde_json::Value = serde_json::from_slice(&fs::read(path).unwrap()).unwrap();
    let evs = doc["traceEvents"].as_array().cloned().unwrap_or_default();
    let mut open: Vec<(String, u64, u64)> = Vec::new();
    let mut phases: Spans = Vec::new();
    let mut steps: Spans = Vec::new();
    let add = |v: &mut Spans, k: String, d: u64| match v.iter_mut().find(|(n, _)| *n == k) {
        Some(e) => e.1 += d,
        None => v.push((k, d)),
    };
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
                    add(&mut phases, n, ts - b);
                }
            }
            Some("X") => {
                let d = e["dur"].as_u64().unwrap_or(0);
                hi = hi.max(ts + d);
                let cat = e["cat"].as_str().unwrap_or("");
                let action = name.split(' ').next().unwrap_or("");
                add(&mut steps, format!("{cat}.{action}"), d);
            }
            _ => hi = hi.max(ts),
        }
    }
    // Gaps: stretches of the traced span that no step covers (waiting for
    // the child, untraced work), labelled by the steps on either side.
    let mut iv: Vec<(u64, u64, String)> = evs
        .iter()
        .filter(|e| e["ph"] == "X")
        .map(|e| {
            let ts = e["ts"].as_u64().unwrap_or(0);
            let name = e["name"].as_str().unwrap_or("");
            let label = format!(
                "{}.{}",
                e["cat"].as_str().unwrap_or(""),
                name.split(' ').next().unwrap_or("")
            );
            (ts, ts + e["dur"].as_u64().unwrap_or(0), label)
        })
        .collect();
    iv.sort_by_key(|e| e.0);
    let (mut until, mut prev) = (lo, "start".to_string());
    for (b, e, label) in iv {
        if b > until {
            add(&mut steps, format!("(gap) {prev} -> {label}"), b - until);
        }
        if e > until {
            until = e;
            prev = label;
        }
    }
    if hi > until {
        add(&mut steps, format!("(gap) {prev} -> end"), hi - until);
    }
    (hi.saturating_sub(lo), phases, steps)
}

/// Median per name over several runs' spans, longest first.
fn median_spans(runs: &[Spans]) -> Spans {
    let mut names: Vec<String> = Vec::new();
    for r in runs {
        for (n, _) in r {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
    }
    let mut out: Spans = names
        .into_iter()
        .map(|n| {
            let mut v: Vec<u64> = runs
                .iter()
                .map(|r| r.iter().find(|(k, _)| *k == n).map(|e| e.1).unwrap_or(0))
                .collect();
            v.sort();
            (n, v[v.len() / 2])
        })
        .collect();
    out.sort_by_key(|e| std::cmp::Reverse(e.1));
    out
}

/// The supervisor's memory: (VmRSS, RssAnon, RssFile, Pss) in KiB, of a
/// detached container running `cmd`, `settle` after `run -d` returned.
fn shim_memory(
    glassbox: &str,
    root: &Path,
    cmd: &[&str],
    settle: Duration,
) -> Result<(u64, u64, u64, u64), String> {
    let root_s = root.to_string_lossy().into_owned();
    let mut args = strs(&[
        glassbox,
        "--root",
        &root_s,
        "--trace",
        "off",
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "m",
        "busybox",
    ]);
    args.extend(strs(cmd));
    let out = run(&args).map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    // Let the shim settle into its wait loop (it releases its start-up pages once this command has exited).
    std::thread::sleep(settle);
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

    // A short path in /tmp: podman refuses a runroot longer than 50 bytes.
    let dir = tempfile::Builder::new()
        .prefix("runbench-")
        .tempdir()
        .unwrap()
        .keep();
    let mut scratch = Scratch {
        dir: dir.clone(),
        podman: None,
        empty_dirs: Vec::new(),
    };
    let root = dir.join("root");
    let root_s = root.to_string_lossy().into_owned();
    must(&[&glassbox, "--root", &root_s, "setup"]);

    // glassbox: trace off, then trace json to a file.
    let trace_file = dir.join("trace.jsonl").to_string_lossy().into_owned();
    let gb = |extra: &[&str]| {
        let mut c = strs(&[&glassbox, "--root", &root_s]);
        c.extend(strs(extra));
        // No network, as in the peers' bundle (an empty net namespace).
        c.extend(strs(&[
            "run",
            "--rm",
            "--network",
            "none",
            "busybox",
            "true",
        ]));
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

    let mut podman_note = None;
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
            "--tmpdir",
            &pr.join("tmp").to_string_lossy(),
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
        // podman tells crun to keep its state in /run/crun, whatever our
        // --root: remove that directory afterwards if we made it.
        if !Path::new("/run/crun").exists() {
            scratch.empty_dirs.push(PathBuf::from("/run/crun"));
        }
        let podman_run = |ulimits: &[String]| {
            let mut cmd = podman.clone();
            cmd.extend(strs(&["run", "--rm", "--network", "none"]));
            cmd.extend(ulimits.iter().cloned());
            cmd.extend(strs(&["localhost/busybox:latest", "true"]));
            cmd
        };
        // podman asks for RLIMIT_NOFILE 1048576 by default, above this host's
        // hard limit, and the bounding set lacks CAP_SYS_RESOURCE: record
        // that failure, then time it with limits the host can grant
        // (NOFILE: our hard limit; NPROC: podman lowers its own and conmon's
        // hard limit to 32768, so no more than that).
        let nofile = hard_limit("Max open files").unwrap_or(1024);
        let nproc = hard_limit("Max processes").unwrap_or(1024).min(32768);
        let mut t = Tool::new(
            "podman run --rm",
            podman_run(&[
                "--ulimit".into(),
                format!("nofile={nofile}:{nofile}"),
                "--ulimit".into(),
                format!("nproc={nproc}:{nproc}"),
            ]),
        );
        match copy {
            Ok(o) if o.status.success() => {
                if let Ok(o) = run(&podman_run(&[])) {
                    if !o.status.success() {
                        podman_note = Some(format!(
                            "podman run without --ulimit: {}",
                            String::from_utf8_lossy(&o.stderr).trim()
                        ));
                    }
                }
            }
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
    // sees the same background load, in a fresh shuffled order each round
    // (fixed seed): what ran just before matters (the first cgroup attach
    // after a quiet spell waits for an RCU grace period, see RUN.md), so no
    // tool may always follow the same one.
    let n = tools.len();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 0..=runs {
        let mut order: Vec<usize> = (0..n).collect();
        for k in (1..n).rev() {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            order.swap(k, (seed >> 33) as usize % (k + 1));
        }
        for i in order {
            let t = &mut tools[i];
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

    // Timeline runs (several, so one slow sample does not tell the story).
    let tl = dir.join("timeline.json");
    let tl_runs = 7;
    let (mut walls, mut spans, mut phase_runs, mut step_runs) = (vec![], vec![], vec![], vec![]);
    for _ in 0..tl_runs {
        let _ = fs::remove_file(&tl);
        let c = gb(&["--trace", "off", "--timeline", &tl.to_string_lossy()]);
        let t0 = Instant::now();
        let ok = run(&c).map(|o| o.status.success()).unwrap_or(false);
        let wall = t0.elapsed();
        if ok && tl.exists() {
            let (span, phases, steps) = summarise_timeline(&tl);
            walls.push(wall);
            spans.push(span);
            phase_runs.push(phases);
            step_runs.push(steps);
        }
    }
    walls.sort();
    spans.sort();

    let mem = shim_memory(&glassbox, &root, &["sleep", "60"], Duration::from_secs(1));
    // A container that prints ten log lines a second: the shim's log
    // writer runs all the time.
    let mem_logging = shim_memory(
        &glassbox,
        &root,
        &["sh", "-c", "while :; do echo a log line; sleep 0.1; done"],
        Duration::from_secs(3),
    );
    let load_after = loadavg();

    // Report.
    let crun_median = crun.and_then(|i| tools[i].median());
    println!("glassbox binary: {glassbox}");
    println!(
        "runs: {runs} each, interleaved; load average before {load_before}, after {load_after}"
    );
    println!();
    println!(
        "{:<24} {:>9} {:>9} {:>9} {:>8} {:>10}",
        "command", "median ms", "min ms", "max ms", "vs crun", "CPU ms med"
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
                    "{:<24} {:>9.1} {:>9.1} {:>9.1} {:>8} {:>10.1}",
                    t.name,
                    ms(m),
                    ms(min),
                    ms(max),
                    rel,
                    ms(median(&t.cpu).unwrap_or_default())
                );
            }
            (err, _) => println!(
                "{:<24} failed: {}",
                t.name,
                err.as_deref().unwrap_or("no runs")
            ),
        }
    }
    if let Some(n) = &podman_note {
        println!("(podman: {n})");
    }
    if let (Some(off), Some(json)) = (tools[0].median(), tools[1].median()) {
        let cpu = |t: &Tool| median(&t.cpu).unwrap_or_default().as_secs_f64();
        println!(
            "\njson trace to a file adds {:+.1}% wall, {:+.1}% CPU (goal: at most +10%)",
            (json.as_secs_f64() / off.as_secs_f64() - 1.0) * 100.0,
            (cpu(&tools[1]) / cpu(&tools[0]) - 1.0) * 100.0
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

    if walls.is_empty() {
        println!("\ntimeline: every --timeline run failed");
    } else {
        let wall = ms(walls[walls.len() / 2]);
        let span = spans[spans.len() / 2] as f64 / 1000.0;
        println!(
            "\ntimeline, median of {} runs with --timeline: {wall:.1} ms wall from outside, \
             {span:.1} ms traced, {:.1} ms outside the trace (exec, loading, exit)",
            walls.len(),
            wall - span
        );
        println!("  phases:");
        for (n, d) in median_spans(&phase_runs).iter().take(8) {
            println!("    {:>7.2} ms  {n}", *d as f64 / 1000.0);
        }
        println!("  steps by kind.action, and (gaps) no step covers (top 16):");
        for (n, d) in median_spans(&step_runs).iter().take(16) {
            println!("    {:>7.2} ms  {n}", *d as f64 / 1000.0);
        }
    }

    for (what, mem) in [
        ("an idle `sleep 60`", mem),
        ("a container logging 10 lines/s", mem_logging),
    ] {
        match mem {
            Ok((rss, anon, file, pss)) => println!(
                "\nsupervisor (__shim) of {what}: VmRSS {:.2} MiB (anon {:.2}, file {:.2}), Pss {:.2} MiB (goal: VmRSS < 2 MiB)",
                rss as f64 / 1024.0,
                anon as f64 / 1024.0,
                file as f64 / 1024.0,
                pss as f64 / 1024.0
            ),
            Err(e) => println!("\nsupervisor memory of {what}: failed: {e}"),
        }
    }
    drop(scratch);
}
