//! `glassbox build` beside `buildah bud`: the same Dockerfile and context
//! (a fixture app from fixtures/apps/), the same busybox base (glassbox's
//! own, saved with `glassbox save` and pulled into buildah's storage with
//! `buildah pull oci-archive:…`), both on the overlay driver, both run as
//! root. Cold builds are interleaved run by run so every tool sees the same
//! background load; then a fully cached glassbox rebuild is timed (median
//! of `--cached-runs`, default 20; the goal is under 50 ms).
//!
//! ```text
//! cargo bench --bench build                       # multistage app, 5 cold runs each
//! cargo bench --bench build -- --app todo --runs 9 --cached-runs 40
//! cargo bench --bench build -- --no-buildah       # glassbox only
//! cargo bench --bench build -- --timeline FILE    # also: one cached rebuild's timeline
//! ```
//!
//! "Cold" means: the base image is in the store (unpacked once, untimed)
//! but no build cache is used — glassbox with `--no-cache`, buildah with
//! `--layers=false --no-cache`. buildah runs twice per round, with
//! `--isolation chroot` and with its default (`oci`, through runc/crun), so
//! neither gets a setting the other lacks. Everything lives in a temp dir
//! under /tmp that is removed at the end (buildah's storage first, with
//! `buildah rm --all` / `rmi --all` and an unmount of its overlay).

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn run(cmd: &[String], cwd: Option<&Path>) -> std::io::Result<Output> {
    let mut c = Command::new(&cmd[0]);
    c.args(&cmd[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(d) = cwd {
        c.current_dir(d);
    }
    c.output()
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Runs a setup command; panics with its stderr on failure.
fn must(cmd: &[String], cwd: Option<&Path>) -> String {
    let o = run(cmd, cwd).unwrap_or_else(|e| panic!("{}: {e}", cmd[0]));
    assert!(
        o.status.success(),
        "{:?} failed: {}",
        cmd,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn timed(cmd: &[String], cwd: Option<&Path>) -> Duration {
    let t = Instant::now();
    must(cmd, cwd);
    t.elapsed()
}

fn median(v: &[Duration]) -> Duration {
    let mut t = v.to_vec();
    t.sort();
    t[t.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The load average and the CPU and I/O pressure (PSI "some avg10").
fn loadavg() -> String {
    let psi = common::pressure_avg10;
    format!(
        "{} (cpu PSI some avg10 {}%, io {}%)",
        common::load_average(),
        psi("cpu"),
        psi("io")
    )
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Removes the temp dir; buildah's containers, images and overlay mounts
/// first, so nothing stays mounted.
struct Scratch {
    dir: PathBuf,
    buildah: Option<Vec<String>>,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(b) = &self.buildah {
            for extra in [&["rm", "--all"][..], &["rmi", "--all", "--force"][..]] {
                let mut c = b.clone();
                c.extend(strs(extra));
                let _ = run(&c, None);
            }
            let overlay = self.dir.join("buildah/root/overlay");
            let _ = Command::new("umount")
                .arg(&overlay)
                .stderr(Stdio::null())
                .status();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
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
    let runs: usize = value("--runs").and_then(|v| v.parse().ok()).unwrap_or(5);
    let cached_runs: usize = value("--cached-runs")
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let app = value("--app").unwrap_or_else(|| "multistage".into());
    let glassbox = value("--glassbox").unwrap_or_else(|| env!("CARGO_BIN_EXE_glassbox").into());
    let ctx = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/apps")
        .join(&app);
    assert!(ctx.join("Dockerfile").is_file(), "no fixture app {app}");
    let load_before = loadavg();

    let dir = tempfile::Builder::new()
        .prefix("buildbench-")
        .tempdir()
        .unwrap()
        .keep();
    let mut scratch = Scratch {
        dir: dir.clone(),
        buildah: None,
    };
    let root = dir.join("root").to_string_lossy().into_owned();
    let gb = |extra: &[&str]| {
        let mut c = strs(&[&glassbox, "--root", &root, "--trace", "off"]);
        c.extend(strs(extra));
        c
    };
    must(&gb(&["setup"]), None);
    let ctx_s = ctx.to_string_lossy().into_owned();
    // Untimed: unpacks busybox's layer once.
    must(
        &gb(&["build", "--no-cache", "-t", "app:warm", &ctx_s]),
        None,
    );

    let use_buildah = !flag("--no-buildah") && have("buildah");
    let buildah = if use_buildah {
        let archive = dir.join("busybox.tar").to_string_lossy().into_owned();
        must(&gb(&["save", "busybox", "-o", &archive]), None);
        let b = strs(&[
            "buildah",
            "--root",
            &dir.join("buildah/root").to_string_lossy(),
            "--runroot",
            &dir.join("buildah/run").to_string_lossy(),
            "--storage-driver",
            "overlay",
        ]);
        scratch.buildah = Some(b.clone());
        let mut pull = b.clone();
        pull.extend(strs(&["pull", &format!("oci-archive:{archive}")]));
        must(&pull, None);
        Some(b)
    } else {
        if !flag("--no-buildah") {
            println!("buildah not found: install it with `apt-get install buildah` (or bash scripts/bench-deps.sh)");
        }
        None
    };
    let bud = |isolation: Option<&str>| {
        let mut c = buildah.clone().expect("buildah");
        c.extend(strs(&[
            "bud",
            "--pull=never",
            "--layers=false",
            "--no-cache",
            "-q",
            "-t",
            "app:bud",
        ]));
        if let Some(i) = isolation {
            c.extend(strs(&["--isolation", i]));
        }
        c.push(".".into());
        c
    };
    if buildah.is_some() {
        // Untimed warm-up: buildah's first build sets up its storage.
        must(&bud(Some("chroot")), Some(&ctx));
    }

    let mut cold_gb = Vec::new();
    let mut cold_chroot = Vec::new();
    let mut cold_oci = Vec::new();
    for _ in 0..runs {
        cold_gb.push(timed(
            &gb(&["build", "--no-cache", "-t", "app:cold", &ctx_s]),
            None,
        ));
        if buildah.is_some() {
            cold_chroot.push(timed(&bud(Some("chroot")), Some(&ctx)));
            cold_oci.push(timed(&bud(None), Some(&ctx)));
        }
    }
    // One build fills the cache; then the cached rebuilds are timed.
    must(&gb(&["build", "-t", "app:cached", &ctx_s]), None);
    let cached: Vec<Duration> = (0..cached_runs)
        .map(|_| timed(&gb(&["build", "-t", "app:cached", &ctx_s]), None))
        .collect();
    if let Some(file) = value("--timeline") {
        let mut c = strs(&[
            &glassbox,
            "--root",
            &root,
            "--trace",
            "off",
            "--timeline",
            &file,
        ]);
        c.extend(strs(&["build", "-t", "app:cached", &ctx_s]));
        must(&c, None);
        println!("timeline of one cached rebuild: {file}");
    }
    let load_after = loadavg();

    println!("build benchmark: fixtures/apps/{app}, {runs} cold runs each (interleaved), {cached_runs} cached rebuilds");
    println!("load before: {load_before}");
    println!("load after:  {load_after}");
    println!();
    println!("| tool | median ms | min ms | max ms | all runs ms |");
    println!("|---|---|---|---|---|");
    let row = |name: &str, v: &[Duration]| {
        if v.is_empty() {
            return;
        }
        let all: Vec<String> = v.iter().map(|d| format!("{:.0}", ms(*d))).collect();
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} | {} |",
            ms(median(v)),
            ms(*v.iter().min().unwrap()),
            ms(*v.iter().max().unwrap()),
            all.join(" ")
        );
    };
    row("glassbox build --no-cache (cold)", &cold_gb);
    row("buildah bud --isolation chroot (cold)", &cold_chroot);
    row("buildah bud, default isolation (cold)", &cold_oci);
    row("glassbox build, fully cached", &cached);
    println!();
    if !cold_chroot.is_empty() {
        let best_buildah = median(&cold_chroot).min(median(&cold_oci));
        println!(
            "cold: glassbox {:.0} ms vs buildah's faster setting {:.0} ms: {:.2}x ({})",
            ms(median(&cold_gb)),
            ms(best_buildah),
            best_buildah.as_secs_f64() / median(&cold_gb).as_secs_f64(),
            if median(&cold_gb) <= best_buildah {
                "goal met: at least as fast"
            } else {
                "goal NOT met"
            }
        );
    }
    let m = median(&cached);
    println!(
        "cached rebuild median {:.1} ms: {}",
        ms(m),
        if m < Duration::from_millis(50) {
            "goal met (< 50 ms)"
        } else {
            "goal NOT met (>= 50 ms)"
        }
    );
    drop(scratch);
}
