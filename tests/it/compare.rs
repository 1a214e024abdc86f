//! `glassbox compare vm`: the same busybox image run as a container and as a
//! real VM (qemu, the kernel from /boot, an initramfs from the image's
//! layers). The VM half uses software emulation when KVM does not work,
//! which is slow but real: one comparison per test binary run.

use crate::run::busybox_root;
use crate::support::Root;
use std::path::Path;

fn host_kernel() -> String {
    let out = std::process::Command::new("uname")
        .arg("-r")
        .output()
        .expect("uname -r");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Host processes whose command line mentions `needle` (a test root).
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(needle) {
                found.push(format!("{name}: {cmd}"));
            }
        }
    }
    found
}

/// No qemu (or anything else) of this root is left running, and the
/// initramfs went with the run.
fn assert_clean(root: &Root) {
    let left = processes_mentioning(&root.path().display().to_string());
    assert!(left.is_empty(), "processes left running: {left:?}");
    let tmp = root.path().join("tmp");
    if let Ok(entries) = std::fs::read_dir(&tmp) {
        let names: Vec<String> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            !names.iter().any(|n| n.starts_with("glassbox-vm-")),
            "initramfs temp dirs left: {names:?}"
        );
    }
}

fn text_between<'a>(svg: &'a str, open: &str) -> Vec<&'a str> {
    svg.split(open)
        .skip(1)
        .filter_map(|rest| {
            let start = rest.find('>')? + 1;
            let end = rest.find("</text>")?;
            Some(&rest[start..end])
        })
        .collect()
}

#[test]
fn the_vm_boots_its_own_kernel_while_the_container_shares_the_hosts() {
    let root = busybox_root();
    let chart = root.path().join("compare.svg");
    let (stdout, events) = root.traced(&[
        "compare",
        "vm",
        "busybox",
        "--format",
        "json",
        "--timeout",
        "100",
        "--chart",
        chart.to_str().unwrap(),
        "--",
        "uname",
        "-r",
    ]);
    assert_clean(&root);
    let j: serde_json::Value = serde_json::from_str(&stdout).expect("compare prints JSON");
    let host = host_kernel();
    assert_eq!(j["host_kernel"], host.as_str());
    assert_eq!(j["command"], serde_json::json!(["uname", "-r"]));
    assert!(j["vm_error"].is_null(), "{}", j["vm_error"]);

    let c = &j["container"];
    for key in [
        "kernel",
        "output",
        "exit_code",
        "first_output_ms",
        "total_ms",
        "memory_peak_bytes",
        "memory_source",
        "pid1",
        "host_pid",
        "nspid",
        "host_visible",
        "host_comm",
        "layers",
        "disk_bytes",
        "namespaces",
        "cgroup_version",
        "cgroup_controllers",
    ] {
        assert!(c.get(key).is_some(), "container.{key} missing: {c}");
    }
    // The container runs on the host's kernel: uname -r says so.
    assert_eq!(c["kernel"], host.as_str());
    assert_eq!(c["output"].as_str().unwrap().trim(), host);
    assert_eq!(c["exit_code"], 0);
    assert_eq!(c["pid1"], "uname");
    // The host numbers it like any process; inside it is PID 1.
    let nspid = c["nspid"].as_array().unwrap();
    assert_eq!(nspid.first().unwrap(), &c["host_pid"]);
    assert_eq!(nspid.last().unwrap(), 1);
    assert_eq!(c["host_visible"], true);
    // cgroup v2 before Linux 5.19 keeps no peak: then the table says so.
    match c["memory_peak_bytes"].as_u64() {
        Some(n) => assert!(n > 0),
        None => assert!(c["memory_source"].as_str().unwrap().contains("no peak")),
    }
    let ns: Vec<&str> = c["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for n in ["pid", "mount", "uts", "ipc", "net"] {
        assert!(ns.contains(&n), "{ns:?}");
    }
    assert!(c["cgroup_controllers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v == "memory"));
    assert!(c["disk_bytes"].as_u64().unwrap() > 0);

    let v = &j["vm"];
    for key in [
        "kernel",
        "output",
        "exit_code",
        "first_output_ms",
        "total_ms",
        "guest_uptime_at_init_s",
        "accel",
        "accel_note",
        "memory_peak_bytes",
        "memory_source",
        "guest_memory_mib",
        "pid1",
        "qemu_pid",
        "host_processes",
        "host_threads",
        "guest_processes",
        "kernel_path",
        "kernel_bytes",
        "initramfs_bytes",
        "initramfs_entries",
        "initramfs_build_ms",
        "disk_bytes",
        "qemu",
        "qemu_args",
    ] {
        assert!(v.get(key).is_some(), "vm.{key} missing: {v}");
    }
    // The guest booted its own kernel, and the command printed it.
    let guest = v["kernel"].as_str().unwrap();
    assert!(!guest.is_empty());
    assert_ne!(guest, host);
    assert_eq!(v["output"].as_str().unwrap().trim(), guest);
    assert_eq!(v["exit_code"], 0);
    assert_eq!(v["pid1"], "glassbox-init");
    // The whole machine is one host process: qemu, with no children.
    assert_eq!(v["host_processes"], 1);
    assert!(v["guest_processes"].as_u64().unwrap() > 1);
    assert!(["kvm", "tcg"].contains(&v["accel"].as_str().unwrap()));
    assert!(v["memory_peak_bytes"].as_u64().unwrap() > 16 << 20);
    assert!(v["first_output_ms"].as_f64().unwrap() > c["first_output_ms"].as_f64().unwrap());
    assert_eq!(
        v["disk_bytes"].as_u64().unwrap(),
        v["kernel_bytes"].as_u64().unwrap() + v["initramfs_bytes"].as_u64().unwrap()
    );
    assert!(Path::new(v["kernel_path"].as_str().unwrap()).is_file());

    // The narration tells both stories, every event explained.
    crate::support::assert_explained(&events);
    let actions: Vec<String> = events.iter().map(crate::support::key).collect();
    for a in [
        "process.clone",
        "mount.pivot_root",
        "compare.container",
        "compare.initramfs",
        "compare.kernel",
        "compare.boot",
        "compare.spawn",
        "compare.init",
        "compare.exit",
    ] {
        assert!(
            actions.iter().any(|x| x == a),
            "no {a} event in {actions:?}"
        );
    }

    // The chart is well-formed SVG with both sides' labels and values.
    let svg = std::fs::read_to_string(&chart).expect("the chart was written");
    assert!(svg.starts_with("<?xml") && svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
    let texts = text_between(&svg, "<text");
    let all = texts.join("\n");
    assert!(texts.contains(&"container"), "{all}");
    let vm_label = format!("VM ({})", v["accel"].as_str().unwrap().to_uppercase());
    assert!(texts.contains(&vm_label.as_str()), "{all}");
    let dur = glassbox::compare::report::duration;
    for ms in [&c["first_output_ms"], &v["first_output_ms"]] {
        let want = dur(ms.as_f64().unwrap());
        assert!(texts.contains(&want.as_str()), "{want} not in {all}");
    }
    for b in [&c["memory_peak_bytes"], &v["memory_peak_bytes"]] {
        let want = b
            .as_u64()
            .map(glassbox::explain::human_bytes)
            .unwrap_or_else(|| "not read".into());
        assert!(all.contains(&want), "{want} not in {all}");
    }
    assert!(all.contains(guest) && all.contains(&host), "{all}");
    assert_eq!(svg.matches("<rect").count(), 5, "background + four bars");
}

#[test]
fn without_qemu_the_error_names_the_packages_and_the_container_half_is_printed() {
    let root = busybox_root();
    let out = root
        .cmd(&["compare", "vm", "busybox"])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("apt-get install qemu-system-x86 linux-image-amd64")
            && stderr.contains("glassbox setup --vm"),
        "{stderr}"
    );
    // The container half was measured and printed all the same.
    let host = host_kernel();
    assert!(stdout.contains("container"), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("output of `uname -r`") && l.contains(&host)),
        "{stdout}"
    );
    assert!(stdout.contains("not measured"), "{stdout}");
    assert!(
        stdout.contains("VM not measured: the VM half needs qemu-system-x86_64"),
        "{stdout}"
    );
    assert_clean(&root);

    // JSON too: the VM side is null and the error is said.
    let out = root
        .cmd(&["compare", "vm", "busybox", "--format", "json"])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(j["vm"].is_null());
    assert!(j["vm_error"].as_str().unwrap().contains("qemu-system-x86"));
    assert_eq!(j["container"]["kernel"], host.as_str());
}

#[test]
fn a_bad_format_or_accel_is_refused_before_anything_runs() {
    let root = busybox_root();
    let out = root.run(&["compare", "vm", "busybox", "--format", "yaml"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("table or json"));
    let out = root.run(&["compare", "vm", "busybox", "--accel", "fast"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("auto, kvm or tcg"));
    assert!(std::fs::read_dir(root.path().join("containers"))
        .map(|d| d.count() == 0)
        .unwrap_or(true));
}

#[test]
fn setup_vm_finds_qemu_and_the_kernel_already_installed() {
    // install-deps.sh installs both, so this run only looks (no apt-get).
    let root = Root::new();
    let (out, events) = root.traced(&["setup", "--vm"]);
    assert!(out.contains("already installed"), "{out}");
    crate::support::assert_explained(&events);
    let tools = events
        .iter()
        .find(|e| e["kind"] == "compare" && e["action"] == "tools")
        .expect("a compare.tools event");
    assert_eq!(tools["fields"]["missing"], serde_json::json!([]));
    assert!(!events.iter().any(|e| e["action"] == "install"));
}

#[test]
fn a_vm_past_its_timeout_is_killed_and_the_container_half_still_printed() {
    let root = busybox_root();
    let out = root.run(&[
        "compare",
        "vm",
        "busybox",
        "--accel",
        "tcg",
        "--timeout",
        "2",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("within 2 s"), "{stderr}");
    assert!(stdout.contains(&host_kernel()), "{stdout}");
    // The Drop guard killed qemu by its PID; its initramfs is gone too.
    assert_clean(&root);
}

#[test]
fn a_kernel_that_cannot_be_read_is_named_with_what_to_give() {
    let root = busybox_root();
    let out = root.run(&[
        "compare",
        "vm",
        "busybox",
        "--kernel",
        "/nonexistent/vmlinuz",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("kernel /nonexistent/vmlinuz cannot be read"),
        "{stderr}"
    );
    // The container half is measured all the same.
    assert!(String::from_utf8_lossy(&out.stdout).contains(&host_kernel()));
    assert_clean(&root);
}
