//! What a container cannot see: host processes, the host's name, network
//! interfaces and mounts; and what it cannot touch: the image's layers and
//! other containers' files.

use crate::run::{busybox_root, run_args};

#[test]
fn the_command_is_pid_1_and_sees_no_host_process() {
    let root = busybox_root();
    let out = root.ok(&run_args(
        &["--rm"],
        &["sh", "-c", "echo $$; ls /proc | grep -c '^[0-9]'"],
    ));
    // PID 1 is the shell; /proc lists it and the ls/grep it started.
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("1"));
    let n: usize = lines.next().unwrap().parse().unwrap();
    assert!(n <= 4, "container sees {n} processes");
}

#[test]
fn hostname_network_and_mounts_are_the_containers_own() {
    let root = busybox_root();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let out = root.ok(&run_args(
        &["--rm", "--network", "none"],
        &[
            "sh",
            "-c",
            "hostname; ls /sys/class/net; cat /proc/self/mountinfo",
        ],
    ));
    let mut lines = out.lines();
    assert_ne!(lines.next().unwrap(), host.trim());
    assert_eq!(lines.next(), Some("lo"));
    let mounts: Vec<&str> = lines.collect();
    // Mount points are the container's own paths; the host's directories
    // appear at most in the overlay's options, never as a mount point.
    let points: Vec<&str> = mounts
        .iter()
        .map(|l| l.split(' ').nth(4).unwrap())
        .collect();
    for host_only in ["/boot", "/home", "/tmp/", "/var/", "/work"] {
        assert!(
            !points.iter().any(|p| p.starts_with(host_only)),
            "{points:?}"
        );
    }
    assert!(
        points.contains(&"/") && points.contains(&"/proc"),
        "{points:?}"
    );
    assert!(mounts.len() < 30, "{mounts:?}");
}

#[test]
fn writes_stay_in_the_container_and_never_reach_the_layer() {
    let root = busybox_root();
    // Two containers from one image, kept (no --rm) so both uppers exist.
    root.ok(&run_args(
        &[],
        &["sh", "-c", "echo intruder >> /etc/passwd; echo a > /a"],
    ));
    let out = root.ok(&run_args(
        &[],
        &["sh", "-c", "grep -c intruder /etc/passwd; ls /a 2>&1; true"],
    ));
    assert!(out.starts_with("0\n"), "{out}");
    assert!(out.contains("No such file"), "{out}");
    // The unpacked layer is untouched.
    for layer in std::fs::read_dir(root.path().join("layers")).unwrap() {
        let layer = layer.unwrap().path();
        assert!(!std::fs::read_to_string(layer.join("etc/passwd"))
            .unwrap()
            .contains("intruder"));
        assert!(!layer.join("a").exists());
    }
    // The first container's change lives in its own upper dir.
    let uppers: Vec<_> = std::fs::read_dir(root.path().join("containers"))
        .unwrap()
        .map(|e| e.unwrap().path().join("upper/a"))
        .filter(|p| p.exists())
        .collect();
    assert_eq!(uppers.len(), 1);
}

#[test]
fn read_only_root_refuses_writes() {
    let root = busybox_root();
    let out = root.run(&run_args(&["--rm", "--read-only"], &["touch", "/x"]));
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Read-only"));
}

#[test]
fn default_capabilities_and_no_new_privs_are_docker_s() {
    let root = busybox_root();
    let out = root.ok(&run_args(
        &["--rm"],
        &[
            "sh",
            "-c",
            "grep -E '^(CapBnd|CapEff|NoNewPrivs)' /proc/self/status",
        ],
    ));
    assert!(out.contains("CapBnd:\t00000000a80425fb"), "{out}");
    assert!(out.contains("CapEff:\t00000000a80425fb"), "{out}");
    assert!(out.contains("NoNewPrivs:\t1"), "{out}");
}
