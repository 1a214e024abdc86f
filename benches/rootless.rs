//! Benchmark: `glassbox run --rm busybox true` rootless beside the same
//! command as root, and beside rootless `podman run --rm --network none`
//! (same user, same image), in one run. The bar: rootless glassbox
//! within 2x of its root path, and faster than rootless podman.
//!
//! Run with `cargo bench --bench rootless` (as root: it runs the rootless
//! sides as the unprivileged user `gbxstudent`, made by the rootless test
//! or by hand with subordinate ranges). Options (after `--`): `--runs N`
//! (default 20), `--no-podman`.
//!
//! Every side runs the same way: one `sh -c` loop of N runs, started by
//! `runuser` for the user's sides and directly for root's, after one
//! untimed warm-up run (which makes the rootless keeper). Per run = the
//! loop's wall time / N. Everything lives in one temporary directory,
//! removed at the end, after a prune of each side (the root side's bridge,
//! the user's keeper) has run, even when the bench fails.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

const USER: &str = "gbxstudent";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runs: u32 = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(20);
    let podman = !args.iter().any(|a| a == "--no-podman");
    let Some(user) = nix::unistd::User::from_name(USER).ok().flatten() else {
        eprintln!("no user {USER}: run `cargo test --test it -- rootless::` once, which makes it");
        std::process::exit(1);
    };
    let dir = tempfile::Builder::new()
        .prefix("glassbox-bench-rootless-")
        .tempdir()
        .unwrap();
    let d = dir.path();
    for sub in ["bin", "data", "run", "root", "podman"] {
        std::fs::create_dir(d.join(sub)).unwrap();
    }
    set_mode(d, 0o755);
    let bin = d.join("bin/glassbox");
    std::fs::copy(env!("CARGO_BIN_EXE_glassbox"), &bin).unwrap();
    for sub in ["data", "run", "podman"] {
        std::os::unix::fs::chown(
            d.join(sub),
            Some(user.uid.as_raw()),
            Some(user.gid.as_raw()),
        )
        .unwrap();
    }
    set_mode(&d.join("run"), 0o700);
    let env = format!(
        "env -i HOME={} XDG_DATA_HOME={} XDG_RUNTIME_DIR={} PATH={}:/usr/sbin:/usr/bin:/sbin:/bin",
        user.dir.display(),
        d.join("data").display(),
        d.join("run").display(),
        d.join("bin").display()
    );
    let root = d.join("root");
    let _cleanup = Cleanup {
        env: env.clone(),
        run: d.join("run"),
        root_prune: format!(
            "{} --root {} system prune -f >/dev/null",
            bin.display(),
            root.display()
        ),
    };
    must(
        &format!(
            "{} --root {} setup >/dev/null",
            bin.display(),
            root.display()
        ),
        None,
    );
    must(&format!("{env} glassbox setup >/dev/null"), Some(USER));
    let podman_flags = format!(
        // crun (podman's default) refuses this host's hybrid cgroups; runc
        // runs rootless podman here with cgroups left to cgroupfs.
        "--root {0}/storage --runroot {0}/run --storage-driver overlay --runtime runc --cgroup-manager cgroupfs",
        d.join("podman").display()
    );
    let mut sides = vec![
        (
            "glassbox (root)".to_string(),
            format!(
                "{} --root {} run --rm busybox true",
                bin.display(),
                root.display()
            ),
            None,
        ),
        (
            "glassbox (rootless)".to_string(),
            format!("{env} glassbox run --rm busybox true"),
            Some(USER),
        ),
    ];
    if podman {
        let archive = d.join("busybox.tar");
        must(
            &format!(
                "{} --root {} save -o {} busybox:latest && chmod 644 {}",
                bin.display(),
                root.display(),
                archive.display(),
                archive.display()
            ),
            None,
        );
        let load = format!(
            "{env} podman {podman_flags} load -q -i {} >/dev/null",
            archive.display()
        );
        if sh(&load, Some(USER)) {
            sides.push((
                "podman (rootless)".to_string(),
                format!("{env} podman {podman_flags} run --rm --network none localhost/busybox:latest true"),
                Some(USER),
            ));
        } else {
            eprintln!("podman could not load busybox as {USER}; podman is left out");
        }
    }
    println!(
        "rootless bench: {runs} runs each; load {}; cpu pressure {}%",
        common::load_average(),
        common::pressure_avg10("cpu")
    );
    let mut results = Vec::new();
    for (name, cmd, who) in &sides {
        // Warm-up: the keeper, caches.
        if !sh(&format!("{cmd} >/dev/null"), *who) {
            println!("{name:22} failed: {cmd}");
            continue;
        }
        let lp = format!("for i in $(seq {runs}); do {cmd} >/dev/null || exit 1; done");
        let t = Instant::now();
        must(&lp, *who);
        let per = t.elapsed().as_secs_f64() * 1000.0 / runs as f64;
        println!("{name:22} {per:8.1} ms per run");
        results.push((name.clone(), per));
    }
    let of = |n: &str| results.iter().find(|(k, _)| k == n).map(|(_, v)| *v);
    if let (Some(r), Some(u)) = (of("glassbox (root)"), of("glassbox (rootless)")) {
        println!(
            "rootless / root: {:.2}x (the bar: within 2x) {}",
            u / r,
            if u <= 2.0 * r { "ok" } else { "MISSED" }
        );
    }
    if let (Some(u), Some(p)) = (of("glassbox (rootless)"), of("podman (rootless)")) {
        println!(
            "rootless podman / rootless glassbox: {:.2}x (the bar: glassbox faster) {}",
            p / u,
            if u < p { "ok" } else { "MISSED" }
        );
    }
    if podman {
        sh(
            &format!("{env} podman {podman_flags} system reset -f >/dev/null 2>&1"),
            Some(USER),
        );
    }
}

/// Ends the user's keeper, even when the bench fails: a prune, then by the
/// PID in its pid file if it still runs.
struct Cleanup {
    env: String,
    run: std::path::PathBuf,
    /// Root's side: the prune that removes its default network's bridge.
    root_prune: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        sh(&self.root_prune, None);
        sh(
            &format!("{} glassbox system prune -f >/dev/null", self.env),
            Some(USER),
        );
        let pid = std::fs::read_to_string(self.run.join("glassbox/keeper.pid"))
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok());
        if let Some(pid) = pid {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if cmd.split(|b| *b == 0).any(|a| a == b"__rootless-keeper") {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
}

fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Runs `script` with sh, as `who` (runuser) or as this user.
fn sh(script: &str, who: Option<&str>) -> bool {
    let mut c = match who {
        Some(u) => {
            let mut c = Command::new("runuser");
            c.args(["-u", u, "--", "sh", "-c", script]);
            c
        }
        None => {
            let mut c = Command::new("sh");
            c.args(["-c", script]);
            c
        }
    };
    c.current_dir("/tmp")
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn must(script: &str, who: Option<&str>) {
    assert!(sh(script, who), "failed: {script}");
}
