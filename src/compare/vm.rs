//! The VM half of `glassbox compare vm`: qemu-system-x86_64 boots a Linux
//! kernel from /boot with an initramfs made from the image's layers
//! ([`super::initramfs`]); the guest's init prints marker lines on the
//! serial console, which qemu hands to us on its stdout.
//!
//! KVM is used only when it really works: /dev/kvm can exist while the
//! hypervisor cannot run a guest (no nested virtualisation), so `auto`
//! boots with KVM under a short deadline and, if the guest says nothing in
//! time, kills that qemu and boots again with TCG (software emulation).
//! Whatever happened is said in the result, never hidden.
//!
//! qemu is only ever ended by its own PID ([`Qemu`]'s Drop kills it if it is
//! still running), and the initramfs lives in a temporary directory that
//! goes with the run.

use super::initramfs::{self, CpioWriter, INIT_PATH, MARK_BEGIN, MARK_END, MARK_READY};
use super::{AccelChoice, CompareError, Options};
use crate::error::IoContext;
use crate::store::{Image, Store};
use crate::trace::{self, Kind};
use serde::Serialize;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a KVM guest may take to reach its init before `auto` decides
/// KVM does not work here. A working KVM gets there in well under a second.
pub const KVM_DEADLINE: Duration = Duration::from_secs(5);

/// The qemu binary's name.
pub const QEMU: &str = "qemu-system-x86_64";

/// What the VM side measured.
#[derive(Debug, Clone, Serialize)]
pub struct VmSide {
    /// `uname -r` inside the guest.
    pub kernel: String,
    /// The command's output on the guest's console.
    pub output: String,
    /// Its exit code.
    pub exit_code: i32,
    /// From spawning qemu to the command's first byte of output, ms.
    pub first_output_ms: f64,
    /// From spawning qemu to qemu's exit, ms.
    pub total_ms: f64,
    /// The guest's own clock when its init started (`/proc/uptime`), s.
    pub guest_uptime_at_init_s: f64,
    /// `kvm` or `tcg`.
    pub accel: String,
    /// How the accelerator was chosen (and what was tried).
    pub accel_note: String,
    /// qemu's peak resident memory (VmHWM), bytes.
    pub memory_peak_bytes: Option<u64>,
    /// Where the peak was read.
    pub memory_source: String,
    /// The guest's RAM as given to qemu (-m), MiB.
    pub guest_memory_mib: u32,
    /// What PID 1 is inside the guest.
    pub pid1: String,
    /// qemu's PID on the host.
    pub qemu_pid: i32,
    /// How many host processes the whole VM is (qemu itself).
    pub host_processes: u32,
    /// qemu's threads on the host (vCPU, I/O).
    pub host_threads: u64,
    /// Processes the guest's /proc lists (its own kernel threads included).
    pub guest_processes: u64,
    /// The kernel booted.
    pub kernel_path: String,
    /// Its size, bytes.
    pub kernel_bytes: u64,
    /// The initramfs built from the image, bytes.
    pub initramfs_bytes: u64,
    /// Entries in it.
    pub initramfs_entries: u64,
    /// How long building it took, ms.
    pub initramfs_build_ms: f64,
    /// kernel + initramfs, bytes.
    pub disk_bytes: u64,
    /// The qemu binary.
    pub qemu: String,
    /// Its arguments.
    pub qemu_args: Vec<String>,
}

/// qemu and the kernel, found.
#[derive(Debug, Clone)]
pub struct Tools {
    /// The qemu binary.
    pub qemu: PathBuf,
    /// The kernel image.
    pub kernel: PathBuf,
}

/// Looks for qemu in PATH and the kernel (given, or the newest readable
/// /boot/vmlinuz-*).
pub fn find_tools(kernel: Option<&Path>) -> crate::Result<Tools> {
    let qemu = find_qemu().ok_or(CompareError::NoQemu)?;
    let kernel = match kernel {
        Some(k) => {
            std::fs::File::open(k)
                .map_err(|e| CompareError::BadKernel(k.display().to_string(), e.to_string()))?;
            k.to_path_buf()
        }
        None => find_kernel(Path::new("/boot")).ok_or(CompareError::NoKernel)?,
    };
    trace::fact(Kind::Compare, "tools", QEMU)
        .field("qemu", qemu.display().to_string())
        .field("kernel", kernel.display().to_string())
        .equivalent(format!("command -v {QEMU}; ls /boot/vmlinuz-*"))
        .info();
    Ok(Tools { qemu, kernel })
}

/// qemu-system-x86_64 in PATH.
pub fn find_qemu() -> Option<PathBuf> {
    std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(QEMU))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .into_iter()
        .find(|p| p.is_file())
}

/// The newest readable `vmlinuz-*` in `boot` (by version order).
pub fn find_kernel(boot: &Path) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(boot)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
                && std::fs::File::open(p).is_ok()
        })
        .collect();
    found.sort_by_key(|p| version_key(&p.to_string_lossy()));
    found.pop()
}

/// `6.1.0-56-amd64` → [6, 1, 0, 56, ...] for ordering.
fn version_key(s: &str) -> Vec<u64> {
    s.split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect()
}

/// A running qemu, killed by its PID if it is still running when dropped.
pub struct Qemu {
    child: Child,
}

impl Qemu {
    /// Its PID.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// The initramfs, in a temporary directory removed with it.
pub struct Initramfs {
    /// The archive.
    pub path: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// Entries in it.
    pub entries: u64,
    _dir: crate::store::tmp::TempDir,
}

/// Builds the initramfs: the image's layers flattened, the init script,
/// /dev/console and the mount points.
pub fn build_initramfs(
    store: &Store,
    image: &Image,
    image_ref: &str,
    command: &[String],
) -> crate::Result<Initramfs> {
    let blobs = super::container::layer_blobs(store, image)?;
    // Marked as this command's, so a killed `compare` leaves nothing that
    // the next command does not remove.
    let dir = store.tempdir()?;
    let tree = dir.path().join("rootfs");
    let path = dir.path().join("initramfs.cpio");
    let mut s = trace::step(Kind::Compare, "initramfs", format!("initramfs from {image_ref}"))
        .field("image", image_ref)
        .field("layers", image.layers.len())
        .field("path", path.display().to_string())
        .field("init", INIT_PATH)
        .equivalent(format!(
            "for l in LAYERS; do tar -xzf $l -C rootfs; done; (cd rootfs && find . | cpio -o -H newc) > {}",
            path.display()
        ))
        .announce()?;
    let r = (|| -> crate::Result<(u64, u64)> {
        std::fs::create_dir(&tree).ctx(|| format!("creating {}", tree.display()))?;
        initramfs::flatten_layers(&blobs, &tree)?;
        let sh = tree.join("bin/sh");
        if std::fs::symlink_metadata(&sh).is_err() {
            return Err(CompareError::NoShell(image_ref.to_string()).into());
        }
        let env = image
            .config
            .config()
            .as_ref()
            .and_then(|c| c.env().clone())
            .unwrap_or_default();
        let workdir = image
            .config
            .config()
            .as_ref()
            .and_then(|c| c.working_dir().clone());
        let script = initramfs::init_script(command, &env, workdir.as_deref());
        let out = std::fs::File::create(&path).ctx(|| format!("creating {}", path.display()))?;
        let mut cpio = CpioWriter::new(std::io::BufWriter::new(out));
        let w = |e: std::io::Error| crate::Error::Io {
            context: format!("writing {}", path.display()),
            source: e,
        };
        let init_name = INIT_PATH.trim_start_matches('/');
        let skip = ["dev", "proc", "sys", init_name];
        let mut entries = initramfs::write_tree(&mut cpio, &tree, &skip)?;
        // The kernel opens /dev/console for PID 1's stdin, stdout and stderr
        // before it starts it: without this node the init has no output.
        cpio.dir("dev", 0o755, 0, 0).map_err(w)?;
        cpio.chardev("dev/console", 0o600, 5, 1).map_err(w)?;
        cpio.dir("proc", 0o555, 0, 0).map_err(w)?;
        cpio.dir("sys", 0o555, 0, 0).map_err(w)?;
        cpio.file(init_name, 0o755, 0, 0, script.as_bytes())
            .map_err(w)?;
        entries += 5;
        let (_, bytes) = cpio.finish().map_err(w)?;
        Ok((bytes, entries))
    })();
    let _ = std::fs::remove_dir_all(&tree);
    match r {
        Ok((bytes, entries)) => {
            s.field("bytes", bytes).field("entries", entries);
            s.done();
            Ok(Initramfs {
                path,
                bytes,
                entries,
                _dir: dir,
            })
        }
        Err(e) => {
            s.failed(&e);
            Err(e)
        }
    }
}

/// What one boot saw.
#[derive(Debug, Default)]
struct Boot {
    pid: i32,
    host_processes: u32,
    kernel: String,
    pid1: String,
    guest_uptime: f64,
    guest_procs: u64,
    output: String,
    code: Option<i32>,
    first_output: Option<Duration>,
    total: Duration,
    vm_hwm: Option<u64>,
    threads: u64,
    console: Vec<String>,
}

enum BootEnd {
    Done(Boot),
    /// No init line before the KVM deadline.
    KvmSilent(i32),
}

fn qemu_args(tools: &Tools, initrd: &Path, accel: &str, memory_mib: u32) -> Vec<String> {
    let mut a: Vec<String> = vec!["-accel".into(), accel.into()];
    if accel == "kvm" {
        a.extend(["-cpu".into(), "host".into()]);
    }
    a.extend(
        [
            "-m",
            &memory_mib.to_string(),
            "-smp",
            "1",
            "-nodefaults",
            "-no-user-config",
            "-no-reboot",
            "-display",
            "none",
            "-serial",
            "stdio",
            "-kernel",
            &tools.kernel.display().to_string(),
            "-initrd",
            &initrd.display().to_string(),
            "-append",
            // loglevel=1: only emergencies reach the console, so a kernel
            // warning on a slow, emulated machine (a clocksource judged
            // unstable) cannot land between the command's output lines.
            // no_timer_check: under software emulation on a busy host the
            // kernel's IO-APIC timer check can miss its ticks and panic.
            &format!("console=ttyS0 quiet loglevel=1 no_timer_check rdinit={INIT_PATH} panic=-1"),
        ]
        .map(String::from),
    );
    a
}

/// Reads `VmHWM` (bytes) and `Threads` from /proc/PID/status.
fn proc_status(pid: i32) -> (Option<u64>, Option<u64>) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let mut hwm = None;
    let mut threads = None;
    for l in text.lines() {
        if let Some(v) = l.strip_prefix("VmHWM:") {
            hwm = v
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
                .map(|k| k * 1024);
        }
        if let Some(v) = l.strip_prefix("Threads:") {
            threads = v.trim().parse().ok();
        }
    }
    (hwm, threads)
}

/// How many host processes have `pid` as their parent.
fn children_of(pid: i32) -> u32 {
    let mut n = 0;
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let name = e.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let status = std::fs::read_to_string(e.path().join("status")).unwrap_or_default();
        let ppid = status
            .lines()
            .find_map(|l| l.strip_prefix("PPid:"))
            .and_then(|v| v.trim().parse::<i32>().ok());
        if ppid == Some(pid) {
            n += 1;
        }
    }
    n
}

/// Parses `key=value` words of a marker line.
fn marker_field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
}

/// Boots once. `kvm_deadline`: give up (and kill qemu) when the init has
/// not spoken by then.
fn boot(
    tools: &Tools,
    accel: &str,
    args: &[String],
    timeout: Duration,
    kvm_deadline: Option<Duration>,
) -> crate::Result<BootEnd> {
    use std::os::unix::process::CommandExt;
    let spawned = Instant::now();
    let mut cmd = Command::new(&tools.qemu);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe and touches only
    // the child's own state: if glassbox dies (even by SIGKILL, when no Drop
    // runs), the kernel kills this qemu rather than leave a VM running.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .ctx(|| format!("starting {}", tools.qemu.display()))?;
    let mut qemu = Qemu { child };
    let pid = qemu.pid();
    trace::fact(Kind::Compare, "spawn", format!("qemu pid {pid}"))
        .field("pid", pid)
        .field("accel", accel)
        .equivalent(format!("ps -o pid,rss,nlwp,cmd -p {pid}"))
        .info();
    let mut out = qemu.child.stdout.take().expect("piped stdout");
    let mut err = qemu.child.stderr.take().expect("piped stderr");
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match out.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send((Instant::now(), buf[..n].to_vec())).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let errs = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let mut b = Boot {
        pid,
        ..Default::default()
    };
    let mut pending = String::new();
    let mut ready = false;
    let mut begun = false;
    let mut ended = false;
    let mut eof = false;
    let outcome = loop {
        let (hwm, threads) = proc_status(pid);
        b.vm_hwm = hwm.or(b.vm_hwm);
        b.threads = threads.unwrap_or(b.threads);
        if !eof {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok((at, bytes)) => {
                    pending.push_str(&String::from_utf8_lossy(&bytes).replace('\r', ""));
                    while let Some(i) = pending.find('\n') {
                        let line: String = pending.drain(..=i).collect();
                        let line = line.trim_end_matches('\n');
                        if line.starts_with(MARK_READY) {
                            ready = true;
                            // The guest is running its init now: whatever it
                            // does, the host sees qemu and nothing under it.
                            b.host_processes = 1 + children_of(pid);
                            b.kernel = marker_field(line, "kernel").unwrap_or_default().to_string();
                            b.pid1 = marker_field(line, "pid1").unwrap_or_default().to_string();
                            b.guest_uptime = marker_field(line, "uptime")
                                .and_then(|v| v.parse().ok())
                                .unwrap_or_default();
                            b.guest_procs = marker_field(line, "procs")
                                .and_then(|v| v.parse().ok())
                                .unwrap_or_default();
                            // Said as it happens, while the guest runs.
                            trace::fact(Kind::Compare, "init", format!("guest PID 1 {}", b.pid1))
                                .field("pid1", &b.pid1)
                                .field("kernel", &b.kernel)
                                .field("guest_uptime_s", b.guest_uptime)
                                .field("guest_processes", b.guest_procs)
                                .field("host_processes", b.host_processes)
                                .info();
                        } else if line.starts_with(MARK_BEGIN) {
                            begun = true;
                        } else if line.starts_with(MARK_END) {
                            ended = true;
                            b.first_output.get_or_insert(at.duration_since(spawned));
                            b.code = marker_field(line, "code").and_then(|v| v.parse().ok());
                        } else if begun && !ended {
                            b.first_output.get_or_insert(at.duration_since(spawned));
                            b.output.push_str(line);
                            b.output.push('\n');
                        } else {
                            b.console.push(line.to_string());
                        }
                    }
                    // A partial line after the begin marker is output too.
                    if begun && !ended && !pending.is_empty() && !pending.starts_with("@@") {
                        b.first_output.get_or_insert(at.duration_since(spawned));
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => eof = true,
            }
        } else {
            std::thread::sleep(Duration::from_millis(20));
        }
        let elapsed = spawned.elapsed();
        if let Some(d) = kvm_deadline {
            if !ready && elapsed > d {
                break Ok(BootEnd::KvmSilent(pid));
            }
        }
        if let Ok(Some(status)) = qemu.child.try_wait() {
            b.total = spawned.elapsed();
            if ended {
                break Ok(BootEnd::Done(b));
            }
            // Let the reader drain what qemu wrote last.
            if !eof {
                continue;
            }
            let tail: Vec<String> = errs
                .join()
                .unwrap_or_default()
                .lines()
                .chain(b.console.iter().map(String::as_str))
                .rev()
                .take(5)
                .map(str::to_string)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            let _ = reader.join();
            return Err(CompareError::QemuFailed {
                status: status.to_string(),
                detail: if tail.is_empty() {
                    "no output".into()
                } else {
                    tail.join(" / ")
                },
            }
            .into());
        }
        if elapsed > timeout {
            break Err(CompareError::Timeout(timeout.as_secs()).into());
        }
    };
    // Kills qemu if it still runs (the KVM probe, a timeout), by its PID.
    drop(qemu);
    let _ = reader.join();
    let _ = errs.join();
    outcome
}

/// Boots the image in a VM and measures it.
pub fn measure(
    store: &Store,
    image: &Image,
    image_ref: &str,
    command: &[String],
    tools: &Tools,
    opts: &Options,
) -> crate::Result<VmSide> {
    let _p = trace::phase("vm");
    let built = Instant::now();
    let initrd = build_initramfs(store, image, image_ref, command)?;
    let initramfs_build_ms = built.elapsed().as_secs_f64() * 1000.0;
    // The kernel unpacks the initramfs into RAM next to the archive itself:
    // a guest with too little memory panics half-way.
    let need_mib = initrd.bytes.div_ceil(1 << 20) * 2 + 64;
    if u64::from(opts.memory_mib) < need_mib {
        return Err(CompareError::BadOption(format!(
            "the initramfs of {image_ref} is {} and the guest unpacks it into RAM; give it at least --memory {need_mib}",
            crate::explain::human_bytes(initrd.bytes)
        ))
        .into());
    }
    let kernel_bytes = std::fs::metadata(&tools.kernel)
        .ctx(|| format!("reading {}", tools.kernel.display()))?
        .len();
    trace::fact(Kind::Compare, "kernel", tools.kernel.display().to_string())
        .field("path", tools.kernel.display().to_string())
        .field("bytes", kernel_bytes)
        .equivalent(format!("file {}", tools.kernel.display()))
        .info();
    let kvm_usable = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .map_err(|e| e.to_string());
    let mut tries: Vec<(&str, Option<Duration>)> = Vec::new();
    let mut note = String::new();
    match (opts.accel, &kvm_usable) {
        (AccelChoice::Tcg, _) => {
            note = "TCG as asked (--accel tcg)".into();
            tries.push(("tcg", None));
        }
        (AccelChoice::Kvm, Err(e)) => {
            return Err(CompareError::NoKvm(format!("/dev/kvm cannot be opened ({e})")).into())
        }
        (AccelChoice::Kvm, Ok(_)) => {
            note = "KVM as asked (--accel kvm)".into();
            tries.push(("kvm", Some(opts.timeout)));
        }
        (AccelChoice::Auto, Err(e)) => {
            note = format!("TCG: /dev/kvm cannot be opened ({e})");
            tries.push(("tcg", None));
        }
        (AccelChoice::Auto, Ok(_)) => {
            tries.push(("kvm", Some(KVM_DEADLINE)));
            tries.push(("tcg", None));
        }
    }
    drop(kvm_usable);
    let mut result = None;
    for (accel, deadline) in tries {
        let args = qemu_args(tools, &initrd.path, accel, opts.memory_mib);
        let mut s = trace::step(
            Kind::Compare,
            "boot",
            format!("{} with {}", tools.kernel.display(), accel.to_uppercase()),
        )
        .field("accel", accel)
        .field("kernel", tools.kernel.display().to_string())
        .field("initramfs", initrd.path.display().to_string())
        .field("memory_mib", opts.memory_mib)
        .field("deadline_s", deadline.map(|d| d.as_secs()))
        .equivalent(format!(
            "{} {}",
            tools.qemu.display(),
            args.iter()
                .map(|a| if a.contains(' ') {
                    format!("'{a}'")
                } else {
                    a.clone()
                })
                .collect::<Vec<_>>()
                .join(" ")
        ))
        .announce()?;
        let end = boot(
            tools,
            accel,
            &args,
            opts.timeout,
            deadline.filter(|_| opts.accel == AccelChoice::Auto),
        );
        match end {
            Ok(BootEnd::KvmSilent(pid)) => {
                s.field("pid", pid).field("outcome", "silent");
                s.done();
                note = format!(
                    "TCG: /dev/kvm is there, but a KVM guest printed nothing within {} s (no nested virtualisation?), so qemu pid {pid} was killed",
                    KVM_DEADLINE.as_secs()
                );
                trace::fact(Kind::Compare, "accel", "KVM does not run guests here")
                    .field("pid", pid)
                    .field("deadline_s", KVM_DEADLINE.as_secs())
                    .field("fallback", "tcg")
                    .equivalent(format!("kill {pid}"))
                    .info();
                continue;
            }
            Ok(BootEnd::Done(b)) => {
                s.field("pid", b.pid)
                    .field("outcome", "finished")
                    .field("guest_uptime_at_init_s", b.guest_uptime)
                    .field("console_lines", b.console.len());
                s.done();
                if note.is_empty() {
                    note = "KVM: hardware virtualisation worked".into();
                }
                result = Some((accel, args, b));
                break;
            }
            // In auto mode a KVM boot that breaks (qemu aborts when the
            // hypervisor refuses the guest's CPU state) is a verdict on KVM,
            // not on the comparison: fall back to TCG.
            Err(crate::Error::Compare(CompareError::QemuFailed { status, detail }))
                if accel == "kvm" && opts.accel == AccelChoice::Auto =>
            {
                s.field("outcome", "failed");
                s.done();
                let first = detail.split(" / ").next().unwrap_or_default();
                note =
                    format!("TCG: /dev/kvm is there, but qemu with KVM failed ({status}: {first})");
                trace::fact(Kind::Compare, "accel", "KVM does not run guests here")
                    .field("deadline_s", KVM_DEADLINE.as_secs())
                    .field("error", &detail)
                    .field("fallback", "tcg")
                    .info();
                continue;
            }
            Err(e) => {
                s.failed(&e);
                return Err(e);
            }
        }
    }
    let (accel, args, b) = result.ok_or(CompareError::Timeout(opts.timeout.as_secs()))?;
    trace::fact(Kind::Compare, "exit", format!("qemu pid {}", b.pid))
        .field("pid", b.pid)
        .field("code", b.code)
        .field("vm_hwm", b.vm_hwm)
        .field("threads", b.threads)
        .info();
    Ok(VmSide {
        kernel: b.kernel,
        output: b.output,
        exit_code: b.code.unwrap_or(-1),
        first_output_ms: b.first_output.unwrap_or(b.total).as_secs_f64() * 1000.0,
        total_ms: b.total.as_secs_f64() * 1000.0,
        guest_uptime_at_init_s: b.guest_uptime,
        accel: accel.to_string(),
        accel_note: note,
        memory_peak_bytes: b.vm_hwm,
        memory_source: "VmHWM in qemu's /proc/PID/status".into(),
        guest_memory_mib: opts.memory_mib,
        pid1: b.pid1,
        qemu_pid: b.pid,
        host_processes: b.host_processes,
        host_threads: b.threads,
        guest_processes: b.guest_procs,
        kernel_path: tools.kernel.display().to_string(),
        kernel_bytes,
        initramfs_bytes: initrd.bytes,
        initramfs_entries: initrd.entries,
        initramfs_build_ms,
        disk_bytes: kernel_bytes + initrd.bytes,
        qemu: tools.qemu.display().to_string(),
        qemu_args: args,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_kernel_is_chosen_by_version_not_by_name() {
        let d = tempfile::tempdir().unwrap();
        for v in ["6.1.0-9-amd64", "6.1.0-56-amd64", "5.10.0-30-amd64"] {
            std::fs::write(d.path().join(format!("vmlinuz-{v}")), b"x").unwrap();
        }
        std::fs::write(d.path().join("config-9.9.9"), b"x").unwrap();
        let k = find_kernel(d.path()).unwrap();
        assert!(k.ends_with("vmlinuz-6.1.0-56-amd64"), "{}", k.display());
    }

    #[test]
    fn no_kernel_in_boot_is_none() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("config-6.1.0"), b"x").unwrap();
        assert_eq!(find_kernel(d.path()), None);
    }

    #[test]
    fn marker_fields_are_read_by_key() {
        let l = "@@glassbox-ready kernel=6.1.0-56-amd64 pid1=glassbox-init uptime=4.56 procs=61";
        assert_eq!(marker_field(l, "kernel"), Some("6.1.0-56-amd64"));
        assert_eq!(marker_field(l, "procs"), Some("61"));
        assert_eq!(marker_field(l, "nope"), None);
    }
}
