//! What a bridge network adds to `run`: `glassbox run --rm busybox true`
//! on the default bridge against the same with `--network none`,
//! interleaved run by run on one temporary root, plus the time the network
//! steps themselves took, read from each run's JSON trace (so background
//! load on the other steps does not blur it).
//!
//! `cargo bench --bench network_run [-- --runs 30]`

use std::path::Path;
use std::process::Command;
use std::time::Instant;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn run(exe: &str, root: &Path, network: &str, trace: &Path) -> f64 {
    let t = Instant::now();
    let st = Command::new(exe)
        .arg("--root")
        .arg(root)
        .args(["--trace", "json", "--trace-file"])
        .arg(trace)
        .args(["run", "--rm", "--network", network, "busybox", "true"])
        .status()
        .expect("run glassbox");
    assert!(st.success());
    t.elapsed().as_secs_f64() * 1e3
}

/// Milliseconds spent in the network steps of one trace (done events).
fn network_ms(trace: &Path) -> f64 {
    std::fs::read_to_string(trace)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["kind"] == "network" && e["stage"] == "done" && e["action"] != "link_up")
        .filter_map(|e| e["duration_us"].as_f64())
        .sum::<f64>()
        / 1e3
}

/// Deletes the root's bridges even when a run fails half-way.
struct Teardown<'a>(&'a Path);

impl Drop for Teardown<'_> {
    fn drop(&mut self) {
        glassbox::network::teardown_root(self.0);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runs: usize = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let exe = env!("CARGO_BIN_EXE_glassbox");
    let root = tempfile::Builder::new()
        .prefix("glassbox-netbench-")
        .tempdir()
        .expect("temp root");
    let _teardown = Teardown(root.path());
    let trace = root.path().join("trace.jsonl");
    let ok = Command::new(exe)
        .arg("--root")
        .arg(root.path())
        .args(["--trace", "off", "setup"])
        .status()
        .expect("setup");
    assert!(ok.success());
    // Warm up: unpack the layers, make the default network and its bridge.
    run(exe, root.path(), "none", &trace);
    run(exe, root.path(), "bridge", &trace);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let (mut none, mut bridge, mut steps) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        none.push(run(exe, root.path(), "none", &trace));
        bridge.push(run(exe, root.path(), "bridge", &trace));
        steps.push(network_ms(&trace));
    }
    let (n, b, s) = (median(&mut none), median(&mut bridge), median(&mut steps));
    println!("glassbox run --rm busybox true, median of {runs} interleaved runs");
    println!("  --network none      {n:8.2} ms");
    println!("  --network bridge    {b:8.2} ms   (+{:.2} ms)", b - n);
    println!("  network steps alone {s:8.2} ms   (allocate, hosts, veth, port, addresses, route, veth removal, release)");
    println!("  load average before: {}", load.trim());
}
