//! Benchmark: push and pull of a 100 MiB image, glassbox beside skopeo, in
//! one run, and 20 concurrent pulls.
//!
//! Run with `cargo bench --bench registry`. Options (after `--`): `--mib N`
//! (default 100), `--runs N` (default 5), `--pulls N` (concurrent pulls,
//! default 20), `--glassbox PATH` (default: the binary cargo built for this
//! bench), `--server PATH` (the glassbox binary that runs `registry serve`;
//! default: the same one). Figures and reasoning: benches/README.md,
//! "registry".
//!
//! The image is one layer of seeded pseudo-random (incompressible) bytes,
//! imported with `glassbox import`, so every run pushes the same digests.
//! Each timed push goes to a fresh, empty registry (nothing to skip, no
//! blob to mount), each timed pull into a fresh root (or OCI directory):
//!
//! - **skopeo → docker-registry**: `skopeo copy oci:ROOT:bench:1
//!   docker://…` and back into an OCI directory (skopeo verifies digests
//!   too), against Debian's docker-registry (distribution 2.8);
//! - **glassbox → glassbox's server** (`glassbox registry serve`) when the
//!   binary has it, else against docker-registry (said in the output);
//! - **glassbox → docker-registry**: the client alone on the same server
//!   as skopeo.
//!
//! Then N pulls at once from the glassbox side's server, each into its own
//! root; every one must succeed. The load average and the CPU and I/O
//! pressure are printed before and after. Everything lives in one temp dir
//! under target/tmp, removed at the end; servers are killed by PID.

mod common;

use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A registry child process, killed by PID on drop.
struct Server {
    child: Child,
    port: u16,
    what: &'static str,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn docker_registry(dir: &Path) -> Server {
        let port = free_port();
        let storage = dir.join(format!("dr-{port}"));
        let cfg = dir.join(format!("dr-{port}.yml"));
        fs::write(
            &cfg,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                storage.display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry (scripts/install-deps.sh installs it)");
        let s = Server {
            child,
            port,
            what: "docker-registry 2.8",
        };
        s.wait();
        s
    }

    fn glassbox(gb: &Path, dir: &Path) -> Server {
        let port = free_port();
        let storage = dir.join(format!("gb-{port}"));
        let child = Command::new(gb)
            .args(["--trace", "off", "registry", "serve", "--addr"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--storage")
            .arg(&storage)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("glassbox registry serve");
        let s = Server {
            child,
            port,
            what: "glassbox registry serve",
        };
        s.wait();
        s
    }

    fn wait(&self) {
        let t = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(15),
                "{} did not start",
                self.what
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn run(cmd: &mut Command) -> Duration {
    let t = Instant::now();
    let out = cmd.output().expect("spawn");
    let d = t.elapsed();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    d
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
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

fn value(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// `mib` MiB of seeded xorshift bytes in one file, as a tar.
fn write_tar(path: &Path, mib: usize) {
    let mut b = tar::Builder::new(fs::File::create(path).unwrap());
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let data: Vec<u8> = (0..mib * 1024 * 1024 / 8)
        .flat_map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()
        })
        .collect();
    let mut h = tar::Header::new_ustar();
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    b.append_data(&mut h, "data/random.bin", &data[..]).unwrap();
    b.finish().unwrap();
}

fn main() {
    let mib: usize = value("--mib").and_then(|v| v.parse().ok()).unwrap_or(100);
    let runs: usize = value("--runs").and_then(|v| v.parse().ok()).unwrap_or(5);
    let pulls: usize = value("--pulls").and_then(|v| v.parse().ok()).unwrap_or(20);
    let gb: PathBuf = value("--glassbox")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_glassbox").into())
        .into();
    let base = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/tmp");
    fs::create_dir_all(&base).unwrap();
    let dir = tempfile::Builder::new()
        .prefix("registry-bench-")
        .tempdir_in(&base)
        .unwrap();
    let d = dir.path();
    let cfg = d.join("config");
    let glassbox = |root: &Path| {
        let mut c = Command::new(&gb);
        c.arg("--root")
            .arg(root)
            .args(["--trace", "off"])
            .env("XDG_CONFIG_HOME", &cfg)
            .env("GLASSBOX_NO_PROGRESS", "1");
        c
    };
    let server_bin: PathBuf = value("--server")
        .map(PathBuf::from)
        .unwrap_or_else(|| gb.clone());
    let has_server = Command::new(&server_bin)
        .args(["registry", "serve", "--help"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());

    println!(
        "registry benchmark: {mib} MiB image, median of {runs} runs; load before: {}",
        loadavg()
    );
    let src = d.join("src");
    let tarball = d.join("layer.tar");
    write_tar(&tarball, mib);
    run(glassbox(&src).arg("import").arg(&tarball).arg("bench:1"));
    fs::remove_file(&tarball).unwrap();
    let inspect = String::from_utf8(
        glassbox(&src)
            .args(["image", "inspect", "bench:1"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(
        &fs::read(
            src.join("blobs/sha256")
                .join(&v[0]["Metadata"]["ManifestDigest"].as_str().unwrap()[7..]),
        )
        .unwrap(),
    )
    .unwrap();
    let bytes: u64 = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["size"].as_u64().unwrap())
        .sum::<u64>()
        + manifest["config"]["size"].as_u64().unwrap();
    let mbs = |t: Duration| bytes as f64 / 1e6 / t.as_secs_f64();
    println!(
        "image: {} bytes of blobs ({:.1} MB)",
        bytes,
        bytes as f64 / 1e6
    );

    // The sides, interleaved run by run so all see the same background load.
    struct Side {
        name: &'static str,
        push: Vec<Duration>,
        pull: Vec<Duration>,
    }
    let mut names = vec!["skopeo 1.9 → docker-registry 2.8"];
    if has_server {
        names.push("glassbox → glassbox registry serve");
    }
    names.push("glassbox → docker-registry 2.8");
    let mut sides: Vec<Side> = names
        .into_iter()
        .map(|name| Side {
            name,
            push: vec![],
            pull: vec![],
        })
        .collect();
    for i in 0..runs {
        for (k, side) in sides.iter_mut().enumerate() {
            let s = if has_server && k == 1 {
                Server::glassbox(&server_bin, d)
            } else {
                Server::docker_registry(d)
            };
            if k == 0 {
                let dest = format!("docker://localhost:{}/bench:1", s.port);
                side.push.push(run(Command::new("skopeo")
                    .args(["copy", "-q", "--dest-tls-verify=false"])
                    .arg(format!("oci:{}:bench:1", src.display()))
                    .arg(&dest)));
                let out = d.join(format!("skopeo-out-{i}"));
                side.pull.push(run(Command::new("skopeo")
                    .args(["copy", "-q", "--src-tls-verify=false"])
                    .arg(&dest)
                    .arg(format!("oci:{}:bench:1", out.display()))));
                let _ = fs::remove_dir_all(&out);
            } else {
                let reference = format!("localhost:{}/bench:1", s.port);
                run(glassbox(&src).args(["tag", "bench:1", &reference]));
                side.push
                    .push(run(glassbox(&src).args(["push", &reference])));
                let out = d.join(format!("gb-out-{i}"));
                side.pull
                    .push(run(glassbox(&out).args(["pull", &reference])));
                let _ = fs::remove_dir_all(&out);
                run(glassbox(&src).args(["rmi", &reference]));
            }
        }
    }
    let rows: Vec<(&str, Duration, Duration)> = sides
        .into_iter()
        .map(|s| (s.name, median(s.push), median(s.pull)))
        .collect();
    println!();
    println!(
        "{:<44} {:>10} {:>10} {:>10} {:>10}",
        "", "push s", "push MB/s", "pull s", "pull MB/s"
    );
    for (name, push, pull) in &rows {
        println!(
            "{name:<44} {:>10.3} {:>10.1} {:>10.3} {:>10.1}",
            push.as_secs_f64(),
            mbs(*push),
            pull.as_secs_f64(),
            mbs(*pull)
        );
    }

    // Concurrent pulls from the glassbox side's server.
    let s = if has_server {
        Server::glassbox(&server_bin, d)
    } else {
        Server::docker_registry(d)
    };
    let reference = format!("localhost:{}/bench:1", s.port);
    run(glassbox(&src).args(["tag", "bench:1", &reference]));
    run(glassbox(&src).args(["push", &reference]));
    let t = Instant::now();
    let children: Vec<(PathBuf, Child)> = (0..pulls)
        .map(|i| {
            let root = d.join(format!("many-{i}"));
            let c = glassbox(&root)
                .args(["pull", &reference])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            (root, c)
        })
        .collect();
    let mut failed = 0;
    for (root, c) in children {
        let out = c.wait_with_output().unwrap();
        if !out.status.success() {
            failed += 1;
            eprintln!(
                "a pull failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let _ = fs::remove_dir_all(root);
    }
    let took = t.elapsed();
    println!(
        "\n{pulls} concurrent pulls from {}: {} ok, {failed} failed, {:.2} s ({:.1} MB/s served in all)",
        s.what,
        pulls - failed,
        took.as_secs_f64(),
        bytes as f64 * (pulls - failed) as f64 / 1e6 / took.as_secs_f64()
    );
    println!("load after: {}", loadavg());
    let _ = std::io::stdout().flush();
    drop(s);
    assert_eq!(failed, 0, "every concurrent pull must succeed");
}
