//! Benchmark: a published port versus the container's own address, side
//! by side in one run — throughput and connection rate through the
//! userland proxy (`-p`, the default driver), through nftables DNAT
//! (`--port-driver nat`), and straight to `container_ip:port` over the
//! bridge; plus what the bridge network adds to `glassbox run --rm`
//! compared with `--network none`.
//!
//! Run with `cargo bench --bench net_proxy`. Options (after `--`):
//! `--mib N` (bytes per throughput round, default 512), `--rounds N`
//! (default 9), `--conns N` (connections per rate round, default 1000),
//! `--runs N` (`run --rm` timings per network, default 20), `--cc-rounds N`
//! (default 5: direct and proxied again with the client on cubic, when the
//! host's default congestion control is another), `--glassbox PATH`
//! (default: the binary cargo built for this bench).
//!
//! The server is real traffic through the real proxy and bridge: the
//! glassbox binary itself, bind-mounted read-only into a busybox container
//! with the host's C library, serving `__bench-sink` (it reads every
//! connection to its end and answers the byte count). The client is this
//! program, on the host. Everything lives in one temporary root; the
//! containers are removed at the end, even on panic (a Drop guard).
//!
//! Fairness: one warm-up transfer per path first (not counted); then each
//! round measures every path back to back, in the opposite order every
//! other round; the goal is judged on the median of the rounds' own
//! proxy/direct ratios, printed with their spread. Beside the throughput it
//! prints the CPU time each path costs per GiB — the client (this
//! process), the sink, the supervisor holding the proxy and the kernel's
//! softirq threads, read from /proc/PID/stat — which, unlike the
//! throughput, hardly depends on what else the machine is running.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn arg(name: &str) -> Option<String> {
    let a: Vec<String> = std::env::args().collect();
    a.iter()
        .position(|x| x == name)
        .and_then(|i| a.get(i + 1).cloned())
}

fn num(name: &str, default: usize) -> usize {
    arg(name).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The load average and the CPU pressure (PSI "some avg10").
fn loadavg() -> String {
    format!(
        "{} (cpu PSI some avg10 {}%)",
        common::load_average(),
        common::pressure_avg10("cpu")
    )
}

/// CPU time (user + system, in clock ticks) `pid` has used, its exited
/// threads included.
fn cpu_ticks(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name (which may hold spaces).
    let f: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
    n(11) + n(12)
}

/// The kernel's softirq threads: network receive work they take over is
/// part of a path's cost.
fn softirq_threads() -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let pid = e.file_name().to_string_lossy().into_owned();
        if pid.parse::<u32>().is_err() {
            continue;
        }
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        if comm.starts_with("ksoftirqd/") {
            out.push(pid);
        }
    }
    out
}

/// The processes whose CPU time a transfer costs.
struct Meter {
    pids: Vec<String>,
    tick: f64,
}

impl Meter {
    fn now(&self) -> u64 {
        self.pids.iter().map(|p| cpu_ticks(p)).sum()
    }

    /// CPU milliseconds per GiB of a transfer of `bytes` that used `ticks`.
    fn ms_per_gib(&self, ticks: u64, bytes: usize) -> f64 {
        ticks as f64 * 1000.0 / self.tick / (bytes as f64 / (1u64 << 30) as f64)
    }
}

struct Glassbox {
    bin: PathBuf,
    root: tempfile::TempDir,
    containers: Vec<String>,
}

impl Glassbox {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root")
            .arg(self.root.path())
            .args(["--trace", "off"])
            .args(args);
        c
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args).output().expect("run glassbox");
        assert!(
            out.status.success(),
            "glassbox {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts a sink container; returns (host port, container address,
    /// [sink pid, supervisor pid]).
    fn sink(&mut self, name: &str, driver: &str) -> (u16, SocketAddr, Vec<String>) {
        let bin = format!("{}:/gb:ro", self.bin.display());
        self.ok(&[
            "run",
            "-d",
            "--name",
            name,
            "--port-driver",
            driver,
            "-p",
            "127.0.0.1::5001",
            "-v",
            "/usr/lib/x86_64-linux-gnu:/lib/x86_64-linux-gnu:ro",
            "-v",
            "/usr/lib64:/lib64:ro",
            "-v",
            &bin,
            "busybox",
            "/gb",
            "__bench-sink",
            "--tcp",
            "5001",
        ]);
        self.containers.push(name.to_string());
        let port: u16 = self
            .ok(&["port", name, "5001"])
            .trim()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a host port");
        let v: serde_json::Value =
            serde_json::from_str(&self.ok(&["inspect", name])).expect("inspect JSON");
        let id = v[0]["Id"].as_str().expect("id").to_string();
        let state: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(
                self.root
                    .path()
                    .join("containers")
                    .join(id)
                    .join("state.json"),
            )
            .expect("state"),
        )
        .expect("state JSON");
        let ip = state["networks"][0]["ip"]
            .as_str()
            .expect("the container's address")
            .to_string();
        let pids = ["pid", "shim_pid"]
            .iter()
            .filter_map(|k| state[*k].as_i64())
            .map(|p| p.to_string())
            .collect();
        (port, format!("{ip}:5001").parse().expect("address"), pids)
    }
}

impl Drop for Glassbox {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = self.cmd(&["rm", "-f", c]).output();
        }
        // The root's bridges would outlive its directory.
        glassbox::network::teardown_root(self.root.path());
    }
}

/// Sends `bytes` over one connection, half-closes, reads the count back.
/// `cc`: the client's congestion control, if not the host's default.
fn push(addr: SocketAddr, bytes: usize, cc: Option<&str>) -> std::io::Result<Duration> {
    let buf = vec![0x5au8; 1 << 20];
    let t = Instant::now();
    let mut s = TcpStream::connect(addr)?;
    if let Some(cc) = cc {
        use nix::sys::socket::{setsockopt, sockopt};
        setsockopt(&s, sockopt::TcpCongestion, &std::ffi::OsString::from(cc))?;
    }
    let mut left = bytes;
    while left > 0 {
        let n = left.min(buf.len());
        s.write_all(&buf[..n])?;
        left -= n;
    }
    s.shutdown(Shutdown::Write)?;
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line)?;
    let d = t.elapsed();
    assert_eq!(line.trim(), bytes.to_string(), "the sink got every byte");
    Ok(d)
}

/// Opens, half-closes and reads the answer of `n` connections, one after
/// another; returns connections per second.
fn connect_rate(addr: SocketAddr, n: usize) -> std::io::Result<f64> {
    let t = Instant::now();
    for _ in 0..n {
        let s = TcpStream::connect(addr)?;
        s.shutdown(Shutdown::Write)?;
        let mut line = String::new();
        BufReader::new(&s).read_line(&mut line)?;
        assert_eq!(line.trim(), "0");
    }
    Ok(n as f64 / t.elapsed().as_secs_f64())
}

/// Each round's proxied/direct ratio.
fn ratios(proxied: &[f64], direct: &[f64]) -> Vec<f64> {
    proxied.iter().zip(direct).map(|(p, d)| p / d).collect()
}

/// `76% 102% ...`.
fn percents(v: &[f64]) -> String {
    v.iter()
        .map(|r| format!("{:.0}%", 100.0 * r))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Throughput of `bytes` moved in `d`.
fn mib_per_s(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / (1 << 20) as f64 / d.as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).expect("numbers"));
    v[v.len() / 2]
}

/// The lower and upper quartile of `v`.
fn quartiles(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(|a, b| a.partial_cmp(b).expect("numbers"));
    (v[v.len() / 4], v[(v.len() * 3) / 4])
}

fn wait_ready(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while push(addr, 1, None).is_err() {
        assert!(Instant::now() < deadline, "{addr} never answered");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn time_runs(g: &Glassbox, runs: usize) -> (f64, f64) {
    let mut none = Vec::new();
    let mut bridge = Vec::new();
    for i in 0..runs * 2 {
        // Interleaved, so both see the same background load.
        let net = if i % 2 == 0 { "none" } else { "bridge" };
        let t = Instant::now();
        g.ok(&["run", "--rm", "--network", net, "busybox", "true"]);
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        if net == "none" {
            none.push(ms);
        } else {
            bridge.push(ms);
        }
    }
    (median(none), median(bridge))
}

fn main() {
    let mib = num("--mib", 512);
    let rounds = num("--rounds", 9);
    let conns = num("--conns", 1000);
    let runs = num("--runs", 20);
    let cc_rounds = num("--cc-rounds", 5);
    let bin = arg("--glassbox")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_glassbox")));
    assert!(
        Path::new(&bin).exists(),
        "no glassbox binary at {}",
        bin.display()
    );
    // It is bind-mounted into the container: the path must be absolute.
    let bin = std::fs::canonicalize(&bin).expect("the glassbox binary's path");
    let mut g = Glassbox {
        bin,
        root: tempfile::Builder::new()
            .prefix("glassbox-netbench-")
            .tempdir()
            .expect("temp root"),
        containers: Vec::new(),
    };
    g.ok(&["setup"]);
    let load_before = loadavg();
    let (proxy_port, direct, proxy_pids) = g.sink("sink-proxy", "proxy");
    let (nat_port, nat_direct, nat_pids) = g.sink("sink-nat", "nat");
    let mut pids = vec!["self".to_string()];
    pids.extend(proxy_pids);
    pids.extend(nat_pids);
    pids.extend(softirq_threads());
    // SAFETY: sysconf only reads a system constant.
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let meter = Meter { pids, tick };
    let proxied: SocketAddr = format!("127.0.0.1:{proxy_port}").parse().expect("address");
    let natted: SocketAddr = format!("127.0.0.1:{nat_port}").parse().expect("address");
    for a in [direct, proxied, nat_direct, natted] {
        wait_ready(a);
    }
    let bytes = mib << 20;
    let paths = [
        ("direct to the container (bridge)", direct),
        ("published, userland proxy", proxied),
        ("published, nftables DNAT", natted),
    ];
    let mut tput: Vec<Vec<f64>> = vec![Vec::new(); paths.len()];
    let mut cpu: Vec<Vec<f64>> = vec![Vec::new(); paths.len()];
    let mut rate: Vec<Vec<f64>> = vec![Vec::new(); paths.len()];
    // Warm-up: the first transfer on a path pays for growing its socket
    // buffers and faulting its pages in.
    for (_, a) in &paths {
        push(*a, bytes.min(64 << 20), None).expect("warm-up");
    }
    for round in 0..rounds {
        // Every other round in the opposite order, so that no path always
        // follows the same one.
        let order: Vec<usize> = if round % 2 == 0 {
            (0..paths.len()).collect()
        } else {
            (0..paths.len()).rev().collect()
        };
        for &i in &order {
            let before = meter.now();
            let d = push(paths[i].1, bytes, None).expect("throughput round");
            cpu[i].push(meter.ms_per_gib(meter.now() - before, bytes));
            tput[i].push(mib_per_s(bytes, d));
        }
        for &i in &order {
            rate[i].push(connect_rate(paths[i].1, conns).expect("connection round"));
        }
    }
    // The proxy's connection to the container uses cubic whatever the
    // host's default; a client on a pacing default (bbr) pays for pacing
    // on the direct path. The same comparison with the client on cubic
    // too shows what a host whose default is cubic would measure.
    let host_cc = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_congestion_control")
        .unwrap_or_default()
        .trim()
        .to_string();
    let mut same_cc: Vec<Vec<f64>> = vec![Vec::new(); 2];
    if host_cc != "cubic" {
        for round in 0..cc_rounds {
            let order: [usize; 2] = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for i in order {
                let d = push(paths[i].1, bytes, Some("cubic")).expect("cubic round");
                same_cc[i].push(mib_per_s(bytes, d));
            }
        }
    }
    let (none_ms, bridge_ms) = time_runs(&g, runs);
    let load_after = loadavg();

    println!("net_proxy: {mib} MiB per throughput round, {conns} connections per rate round, {rounds} rounds (medians)");
    println!("load before: {load_before}");
    println!();
    println!(
        "{:<36} {:>8} {:>10} {:>12} {:>10} {:>14} {:>10}",
        "path", "MiB/s", "of direct", "CPU ms/GiB", "of direct", "connections/s", "of direct"
    );
    let (t0, r0) = (median(tput[0].clone()), median(rate[0].clone()));
    let c0 = median(cpu[0].clone());
    for (i, (name, _)) in paths.iter().enumerate() {
        let (t, r) = (median(tput[i].clone()), median(rate[i].clone()));
        let c = median(cpu[i].clone());
        println!(
            "{name:<36} {t:>8.0} {:>9.0}% {c:>12.0} {:>9.0}% {r:>14.0} {:>9.0}%",
            100.0 * t / t0,
            100.0 * c / c0,
            100.0 * r / r0
        );
    }
    // Each round measures direct and proxied back to back, so the ratio
    // within a round is the least disturbed by the machine's other load.
    let per_round = ratios(&tput[1], &tput[0]);
    let ratio = median(per_round.clone());
    let (q1, q3) = quartiles(per_round.clone());
    let lo = per_round.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = per_round.iter().cloned().fold(0.0, f64::max);
    println!();
    println!(
        "proxy/direct throughput per round: {}",
        percents(&per_round)
    );
    println!(
        "  spread: min {:.0}%, quartiles {:.0}%-{:.0}%, max {:.0}%",
        100.0 * lo,
        100.0 * q1,
        100.0 * q3,
        100.0 * hi
    );
    println!(
        "CPU per GiB, each path's median (client + sink + supervisor + softirq threads): direct {:.0} ms, proxy {:.0} ms, DNAT {:.0} ms",
        c0,
        median(cpu[1].clone()),
        median(cpu[2].clone())
    );
    println!(
        "goal: the proxy carries >= 80% of direct throughput (median of the rounds' ratios): {:.0}% — {}",
        100.0 * ratio,
        if ratio >= 0.8 { "met" } else { "NOT met" }
    );
    if !same_cc[0].is_empty() {
        let per_round = ratios(&same_cc[1], &same_cc[0]);
        println!(
            "  the host's default congestion control is {host_cc}; the proxy's leg to the container uses cubic. With the client on cubic too ({} rounds): direct {:.0} MiB/s, proxy {:.0} MiB/s, median ratio {:.0}% ({})",
            per_round.len(),
            median(same_cc[0].clone()),
            median(same_cc[1].clone()),
            100.0 * median(per_round.clone()),
            percents(&per_round)
        );
    }
    println!();
    println!("glassbox run --rm busybox true, median of {runs} each (interleaved):");
    println!("  --network none    {none_ms:>7.1} ms");
    println!("  --network bridge  {bridge_ms:>7.1} ms");
    let extra = bridge_ms - none_ms;
    println!(
        "goal: the bridge adds <= 5 ms: {extra:+.1} ms — {}",
        if extra <= 5.0 { "met" } else { "NOT met" }
    );
    println!();
    println!("load after: {load_after}");
}
