//! glassbox on a cgroup-v2-only machine, proven in a real VM: qemu boots
//! Debian's kernel with `cgroup_no_v1=all` (KVM when it really runs guests,
//! software emulation otherwise) from an initramfs holding the glassbox
//! binary, the libraries `ldd` names, static busybox, the kernel modules
//! containers need, and tests/vm/cgroup-v2-init.sh as its init. The init
//! runs the lessons' commands and limits there and reports each check on the
//! guest's second serial port, which qemu writes to a file here; this test
//! reads that file, fails on any failed or missing check, and snapshots the
//! v2 trace of `run --rm busybox echo hello` beside the v1 one.
//!
//! It takes about a minute, so `cargo test` skips it and
//! scripts/test-cgroup-v2.sh (which scripts/test.sh calls) runs it.

use crate::support::{assert_explained, bin};
use glassbox::compare::initramfs::{write_tree, CpioWriter};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Every check the init reports; a missing one fails like a failed one.
const CHECKS: [&str; 21] = [
    "v2_only",
    "setup",
    "lesson1_hello",
    "hello_traced",
    "memory_max_written",
    "cgroupfs_inside",
    "oom_killed_in_inspect",
    "oom_seen_in_memory_events",
    "pids_limit_holds",
    "cpu_max_written",
    "cpu_max_explained",
    "pause_freezes",
    "unpause_thaws",
    "exec_joins_cgroup",
    "narration_names_v2_files",
    "rm_leaves_no_cgroup",
    "rootless_hello",
    "rootless_limits_written",
    "rootless_pause_freezes",
    "rootless_oom_killed",
    "rootless_rm_leaves_no_cgroup",
];

/// The modules (in load order) the guest's containers need: bridge and
/// veth for the default network, overlay for the rootfs.
const MODULES: [&str; 5] = [
    "kernel/net/llc/llc.ko",
    "kernel/net/802/stp.ko",
    "kernel/net/bridge/bridge.ko",
    "kernel/drivers/net/veth.ko",
    "kernel/fs/overlayfs/overlay.ko",
];

/// The whole VM run may take this long (the issue allows 3 minutes for the
/// script, build included).
const TIMEOUT: Duration = Duration::from_secs(150);
/// A KVM guest that has not reached its init by then never will here.
const KVM_DEADLINE: Duration = Duration::from_secs(8);

/// A qemu this test started: killed by its own PID if still running.
struct Vm {
    child: Child,
}

impl Drop for Vm {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

fn copy_into(tree: &Path, from: &Path, to: &str) {
    let dest = tree.join(to.trim_start_matches('/'));
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::copy(from, &dest).unwrap_or_else(|e| panic!("copying {}: {e}", from.display()));
}

/// The shared libraries `ldd` names for `exe` (the loader included).
fn libraries(exe: &Path) -> Vec<PathBuf> {
    let out = Command::new("ldd").arg(exe).output().expect("ldd");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            l.split_whitespace()
                .find(|w| w.starts_with('/'))
                .map(PathBuf::from)
        })
        .collect()
}

/// Builds the initramfs for `kernel` in `dir`; returns its path.
fn initramfs(dir: &Path, kernel: &Path) -> PathBuf {
    let tree = dir.join("tree");
    for d in ["dev", "proc", "sys", "tmp", "newroot", "bin", "modules"] {
        std::fs::create_dir_all(tree.join(d)).unwrap();
    }
    // The debug binary without its debug info: a fifth of the size, so the
    // guest unpacks it quickly.
    let st = Command::new("strip")
        .arg("--strip-debug")
        .arg("-o")
        .arg(tree.join("bin/glassbox"))
        .arg(bin())
        .status()
        .expect("strip (binutils)");
    assert!(st.success(), "strip failed");
    for lib in libraries(&bin()) {
        copy_into(&tree, &lib, &lib.display().to_string());
    }
    copy_into(&tree, Path::new("/bin/busybox"), "bin/busybox");
    // Rootless glassbox's id-mapping helpers (made setuid root by the
    // init), and the student they map.
    for helper in ["/usr/bin/newuidmap", "/usr/bin/newgidmap"] {
        copy_into(&tree, Path::new(helper), helper);
        for lib in libraries(Path::new(helper)) {
            copy_into(&tree, &lib, &lib.display().to_string());
        }
    }
    std::fs::create_dir_all(tree.join("etc")).unwrap();
    for (file, text) in [
        (
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\nstudent:x:1000:1000:student:/home/student:/bin/sh\n",
        ),
        ("etc/group", "root:x:0:\nstudent:x:1000:\n"),
        ("etc/subuid", "student:100000:65536\n"),
        ("etc/subgid", "student:100000:65536\n"),
    ] {
        std::fs::write(tree.join(file), text).unwrap();
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vm/cgroup-v2-init.sh");
    copy_into(&tree, &script, "init");
    let version = kernel
        .file_name()
        .unwrap()
        .to_string_lossy()
        .trim_start_matches("vmlinuz-")
        .to_string();
    let modules = Path::new("/lib/modules").join(&version);
    for m in MODULES {
        let name = Path::new(m).file_name().unwrap().to_string_lossy();
        copy_into(&tree, &modules.join(m), &format!("modules/{name}"));
    }
    let path = dir.join("initramfs.cpio");
    let out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut cpio = CpioWriter::new(out);
    write_tree(&mut cpio, &tree, &[]).unwrap();
    // The kernel opens /dev/console for PID 1 before it starts it.
    cpio.chardev("dev/console", 0o600, 5, 1).unwrap();
    cpio.finish().unwrap();
    path
}

fn boot(kernel: &Path, initrd: &Path, dir: &Path, accel: &str) -> (Vm, PathBuf, PathBuf) {
    use std::os::unix::process::CommandExt;
    let console = dir.join(format!("console-{accel}.log"));
    let results = dir.join(format!("results-{accel}.txt"));
    let mut cmd = Command::new(glassbox::compare::vm::QEMU);
    cmd.args(["-accel", accel]);
    if accel == "kvm" {
        cmd.args(["-cpu", "host"]);
    }
    cmd.args(["-m", "1024", "-smp", "2", "-nodefaults", "-no-user-config"])
        .args(["-no-reboot", "-display", "none"])
        .arg("-serial")
        .arg(format!("file:{}", console.display()))
        .arg("-serial")
        .arg(format!("file:{}", results.display()))
        .arg("-kernel")
        .arg(kernel)
        .arg("-initrd")
        .arg(initrd)
        .arg("-append")
        // As compare vm: quiet, no_timer_check for a busy emulated machine,
        // and the one option that makes this machine v2 only.
        .arg("console=ttyS0 quiet loglevel=1 no_timer_check rdinit=/init panic=-1 cgroup_no_v1=all")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join(format!("qemu-{accel}.err"))).unwrap());
    // SAFETY: prctl(PR_SET_PDEATHSIG) only changes the child's own state and
    // is async-signal-safe: a killed test run takes its qemu with it.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().expect("starting qemu-system-x86_64");
    (Vm { child }, console, results)
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .replace('\r', "")
}

/// Boots (KVM if a guest gets to its init in time, TCG otherwise) and
/// waits for the guest to power off; returns what it reported and the
/// console.
fn run_vm(kernel: &Path, initrd: &Path, dir: &Path) -> (String, String) {
    let started = Instant::now();
    let kvm = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok();
    let mut accels = vec!["tcg"];
    if kvm {
        accels.insert(0, "kvm");
    }
    for accel in accels {
        let (mut vm, console, results) = boot(kernel, initrd, dir, accel);
        let t = Instant::now();
        loop {
            if let Ok(Some(_)) = vm.child.try_wait() {
                break;
            }
            if accel == "kvm"
                && t.elapsed() > KVM_DEADLINE
                && !read(&console).contains("@@vm-ready")
            {
                break;
            }
            assert!(
                started.elapsed() < TIMEOUT,
                "the VM did not finish in {} s; results so far:\n{}\nconsole:\n{}",
                TIMEOUT.as_secs(),
                read(&results),
                read(&console)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        drop(vm);
        let reached_init = read(&console).contains("@@vm-ready");
        if reached_init || accel == "tcg" {
            eprintln!("cgroup v2 VM ({accel}) took {:?}", t.elapsed());
            let qemu_err = read(&dir.join(format!("qemu-{accel}.err")));
            return (read(&results), read(&console) + &qemu_err);
        }
        // KVM that cannot run a guest either hangs silently or makes qemu
        // exit at once: both mean software emulation.
        eprintln!(
            "KVM guest did not reach its init ({}): booting with TCG",
            read(&dir.join("qemu-kvm.err")).trim()
        );
    }
    unreachable!("tcg is always tried last")
}

/// The JSON events between `@@trace-begin NAME` and `@@trace-end`.
fn trace_of(results: &str, name: &str) -> Vec<serde_json::Value> {
    let begin = format!("@@trace-begin {name}");
    results
        .lines()
        .skip_while(|l| *l != begin)
        .skip(1)
        .take_while(|l| *l != "@@trace-end")
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("trace line {l:?}: {e}")))
        .collect()
}

#[test]
#[ignore = "boots a VM for about a minute: scripts/test-cgroup-v2.sh runs it"]
fn a_cgroup_v2_only_vm_runs_the_lessons_with_limits_pause_and_exec() {
    let kernel = glassbox::compare::vm::find_kernel(Path::new("/boot"))
        .expect("no readable /boot/vmlinuz-*: apt-get install linux-image-amd64");
    let dir = tempfile::Builder::new()
        .prefix("glassbox-cgv2-")
        .tempdir()
        .unwrap();
    let initrd = initramfs(dir.path(), &kernel);
    let (results, console) = run_vm(&kernel, &initrd, dir.path());
    let checks: Vec<(&str, &str, &str)> = results
        .lines()
        .filter_map(|l| l.strip_prefix("@@check "))
        .map(|l| {
            let mut w = l.splitn(3, ' ');
            (
                w.next().unwrap_or(""),
                w.next().unwrap_or(""),
                w.next().unwrap_or(""),
            )
        })
        .collect();
    for (name, outcome, detail) in &checks {
        eprintln!("{outcome:4} {name} {detail}");
    }
    let bad: Vec<String> = CHECKS
        .iter()
        .filter(|c| !checks.iter().any(|(n, o, _)| n == *c && *o == "ok"))
        .map(|c| c.to_string())
        .chain(
            checks
                .iter()
                .filter(|(_, o, _)| *o != "ok")
                .map(|(n, _, d)| format!("{n}: {d}")),
        )
        .collect();
    let tail: Vec<&str> = console.lines().rev().take(30).collect();
    assert!(
        bad.is_empty() && results.contains("@@done"),
        "failed or missing checks in the VM: {bad:#?}\nconsole (last lines, newest first):\n{}",
        tail.join("\n")
    );

    let events = trace_of(&results, "hello");
    assert!(!events.is_empty(), "no trace came back from the VM");
    assert_explained(&events);
    // One unified cgroup, not one per v1 controller.
    let created: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e["kind"] == "cgroup" && e["action"] == "create" && e["stage"] == "done")
        .map(|e| {
            (
                e["fields"]["path"].as_str().unwrap_or_default(),
                e["fields"]["version"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(created.len(), 1, "{created:?}");
    assert!(
        created[0].0.starts_with("/sys/fs/cgroup/glassbox/"),
        "{created:?}"
    );
    assert_eq!(created[0].1, "v2");
    snapshot(events);
}

/// The same redactions as the v1 snapshot (tests/it/run.rs), with the
/// guest's default root as `[root]`.
fn snapshot(events: Vec<serde_json::Value>) {
    let redacted: Vec<serde_json::Value> = events
        .into_iter()
        .map(|mut e| {
            let o = e.as_object_mut().unwrap();
            for k in ["seq", "ts_us", "duration_us", "pid"] {
                o.remove(k);
            }
            if let Some(f) = o.get_mut("fields").and_then(|f| f.as_object_mut()) {
                if f.contains_key("pid") {
                    f.insert("pid".into(), "[pid]".into());
                }
            }
            e
        })
        .collect();
    insta::with_settings!({filters => vec![
        ("/var/lib/glassbox", "[root]"),
        (r"(containers|glassbox)/[0-9a-f]{64}", "$1/[id]"),
        (r#""id": "[0-9a-f]{64}""#, r#""id": "[id]""#),
        (r"\b[0-9a-f]{12}\b", "[short-id]"),
        (r"(pid|mnt|uts|ipc|net|cgroup):\[\d+\]", "$1:[inode]"),
        (r"lsns -p \d+", "lsns -p [pid]"),
        (r"pid \d+", "pid [pid]"),
        (r"echo \d+ >", "echo [pid] >"),
        (r"kill -INT \d+", "kill -INT [pid]"),
    ]}, {
        insta::assert_json_snapshot!("run_rm_echo_hello_trace_v2", redacted);
    });
}
