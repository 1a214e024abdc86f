//! The container half of `glassbox compare vm`: the command runs in a real
//! glassbox container (the runtime's own clone, namespaces, overlay root
//! and cgroup), with its output caught on a pipe so the first byte can be
//! timed. While it runs, the host's /proc is read to show that the
//! workload is an ordinary host process (its host PID, and `NSpid`: the
//! same process numbered 1 inside its PID namespace); after it exits, the
//! cgroup's peak memory is read before the cgroup is removed.

use super::LayerSize;
use crate::error::IoContext;
use crate::runtime::{self, cgroup, ProcessOptions, Rootfs, RunOptions};
use crate::store::{Image, Store};
use crate::trace::{self, Kind};
use serde::Serialize;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::time::Instant;

/// What the container side measured.
#[derive(Debug, Clone, Serialize)]
pub struct ContainerSide {
    /// `uname -r` inside the container.
    pub kernel: String,
    /// The command's output (stdout and stderr, in order).
    pub output: String,
    /// Its exit code.
    pub exit_code: i32,
    /// From the start of `run` (create, clone, rootfs) to the command's
    /// first byte of output, milliseconds.
    pub first_output_ms: f64,
    /// From the start of `run` to the container's removal, milliseconds.
    pub total_ms: f64,
    /// The cgroup's peak memory, bytes (None if the kernel keeps none).
    pub memory_peak_bytes: Option<u64>,
    /// Which file the peak was read from.
    pub memory_source: String,
    /// What PID 1 is inside: the command itself.
    pub pid1: String,
    /// The container's init as the host numbers it.
    pub host_pid: i32,
    /// `NSpid` from /proc/PID/status: the host's number, then the
    /// container's.
    pub nspid: Vec<i64>,
    /// Whether /proc/PID was there on the host while it ran.
    pub host_visible: bool,
    /// The process's name in the host's /proc while it started.
    pub host_comm: String,
    /// The image's layers: what the container's root is made of.
    pub layers: Vec<LayerSize>,
    /// Their total, bytes.
    pub disk_bytes: u64,
    /// The namespaces the container got.
    pub namespaces: Vec<String>,
    /// `v1` or `v2`.
    pub cgroup_version: String,
    /// The cgroup controllers that account for and limit it.
    pub cgroup_controllers: Vec<String>,
}

/// One run's raw measurements.
struct Run {
    output: String,
    code: i32,
    first_output_ms: f64,
    total_ms: f64,
    memory: Option<(u64, std::path::PathBuf)>,
    host_pid: i32,
    nspid: Vec<i64>,
    host_visible: bool,
    host_comm: String,
    namespaces: Vec<&'static str>,
    controllers: Vec<String>,
    version: &'static str,
}

fn run_once(
    root: &Path,
    rootfs: &Rootfs,
    image: &Image,
    image_ref: &str,
    command: &[String],
) -> crate::Result<Run> {
    let opts = RunOptions {
        process: ProcessOptions {
            command: command.to_vec(),
            ..Default::default()
        },
        remove: true,
        image_ref: image_ref.to_string(),
        ..Default::default()
    };
    let (r, w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| crate::Error::Io {
            context: "making the output pipe".into(),
            source: e.into(),
        })?;
    let io = runtime::Stdio::Log(w.as_raw_fd(), w.as_raw_fd());
    let mut writer: Option<OwnedFd> = Some(w);
    let mut reader: Option<OwnedFd> = Some(r);
    let mut pump: Option<std::thread::JoinHandle<(Vec<u8>, Option<Instant>)>> = None;
    let (mut host_pid, mut nspid, mut visible, mut comm) = (0, Vec::new(), false, String::new());
    let mut memory = None;
    let mut controllers = Vec::new();
    let mut version = "";
    let start = Instant::now();
    let observed = runtime::run_observed(
        root,
        rootfs,
        &image.config,
        &opts,
        io,
        &mut |pid| {
            // The init has its copy of the write end; ours would keep the
            // pump from ever seeing the end of the output.
            drop(writer.take());
            if let Some(r) = reader.take() {
                pump = Some(std::thread::spawn(move || {
                    let mut f = std::fs::File::from(r);
                    let mut all = Vec::new();
                    let mut first = None;
                    let mut buf = [0u8; 4096];
                    loop {
                        match f.read(&mut buf) {
                            Ok(0) => break,
                            Ok(n) => {
                                first.get_or_insert_with(Instant::now);
                                all.extend_from_slice(&buf[..n]);
                            }
                            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                            Err(_) => break,
                        }
                    }
                    (all, first)
                }));
            }
            host_pid = pid;
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            visible = !status.is_empty();
            for line in status.lines() {
                if let Some(v) = line.strip_prefix("NSpid:") {
                    nspid = v
                        .split_whitespace()
                        .filter_map(|n| n.parse().ok())
                        .collect();
                }
                if let Some(v) = line.strip_prefix("Name:") {
                    comm = v.trim().to_string();
                }
            }
        },
        &mut |cg: &cgroup::Cgroup| {
            memory = cg.memory_peak(&mut cgroup::HostFs);
            version = cg.layout.version();
            controllers = match &cg.layout {
                cgroup::Layout::V1 { .. } => cg.dirs().into_iter().map(|(c, _)| c).collect(),
                cgroup::Layout::V2 { .. } => cg
                    .dirs()
                    .first()
                    .and_then(|(_, d)| std::fs::read_to_string(d.join("cgroup.controllers")).ok())
                    .map(|t| t.split_whitespace().map(str::to_string).collect())
                    .unwrap_or_default(),
                cgroup::Layout::Off { .. } => Vec::new(),
            };
        },
    );
    drop(writer.take());
    let (bytes, first) = match pump.take() {
        Some(p) => p.join().unwrap_or_default(),
        None => (Vec::new(), None),
    };
    let end = Instant::now();
    let observed = observed?;
    let ms = |t: Instant| t.duration_since(start).as_secs_f64() * 1000.0;
    Ok(Run {
        output: String::from_utf8_lossy(&bytes).into_owned(),
        code: observed.code,
        first_output_ms: ms(first.unwrap_or(end)),
        total_ms: ms(end),
        memory,
        host_pid,
        nspid,
        host_visible: visible,
        host_comm: comm,
        namespaces: observed.namespaces,
        controllers,
        version,
    })
}

/// Runs `command` in a container of `image` and measures it.
pub fn measure(
    root: &Path,
    store: &Store,
    image: &Image,
    image_ref: &str,
    command: &[String],
) -> crate::Result<ContainerSide> {
    let _p = trace::phase("container");
    let rootfs = Rootfs::from_image(store, image)?;
    let s = trace::step(
        Kind::Compare,
        "container",
        format!("{} in a container", command.join(" ")),
    )
    .field("image", image_ref)
    .field("command", command)
    .equivalent(format!(
        "glassbox run --rm {image_ref} {}",
        command.join(" ")
    ))
    .announce()?;
    let run = match run_once(root, &rootfs, image, image_ref, command) {
        Ok(r) => r,
        Err(e) => {
            s.failed(&e);
            return Err(e);
        }
    };
    let mut s = s;
    // The kernel row is `uname -r` inside; when the command is something
    // else, a second container asks.
    let kernel = if command == super::DEFAULT_COMMAND {
        run.output.trim().to_string()
    } else {
        let _k = trace::phase("kernel");
        let uname = vec!["uname".to_string(), "-r".to_string()];
        run_once(root, &rootfs, image, image_ref, &uname)?
            .output
            .trim()
            .to_string()
    };
    let layers: Vec<LayerSize> = image
        .layers
        .iter()
        .map(|l| LayerSize {
            digest: l.digest.clone(),
            size: l.size,
        })
        .collect();
    let pid1 = command.first().cloned().unwrap_or_default();
    let side = ContainerSide {
        kernel,
        output: run.output,
        exit_code: run.code,
        first_output_ms: run.first_output_ms,
        total_ms: run.total_ms,
        memory_peak_bytes: run.memory.as_ref().map(|m| m.0),
        memory_source: run
            .memory
            .as_ref()
            .and_then(|m| {
                m.1.file_name()
                    .map(|f| format!("cgroup {} {}", run.version, f.to_string_lossy()))
            })
            .unwrap_or_else(|| format!("cgroup {} (no peak file)", run.version)),
        pid1,
        host_pid: run.host_pid,
        nspid: run.nspid,
        host_visible: run.host_visible,
        host_comm: run.host_comm,
        disk_bytes: layers.iter().map(|l| l.size).sum(),
        layers,
        namespaces: run.namespaces.iter().map(|n| n.to_string()).collect(),
        cgroup_version: run.version.to_string(),
        cgroup_controllers: run.controllers,
    };
    s.field("first_output_ms", side.first_output_ms)
        .field("memory_peak", side.memory_peak_bytes)
        .field("host_pid", side.host_pid)
        .field("nspid", &side.nspid)
        .field("kernel", &side.kernel)
        .field("namespaces", &side.namespaces)
        .field("controllers", &side.cgroup_controllers);
    s.done();
    Ok(side)
}

/// The image's layer blobs, bottom to top (for the VM's initramfs).
pub fn layer_blobs(store: &Store, image: &Image) -> crate::Result<Vec<std::path::PathBuf>> {
    image
        .layers
        .iter()
        .map(|l| {
            let p = store.blob_path(&l.digest)?;
            std::fs::metadata(&p).ctx(|| format!("layer blob {}", l.digest))?;
            Ok(p)
        })
        .collect()
}
