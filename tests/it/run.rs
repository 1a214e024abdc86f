//! `glassbox run` on the real kernel: a container from a busybox lowerdir
//! prints, returns its exit code, leaves nothing behind, and its trace has
//! every step explained.

use crate::support::{assert_explained, Root};

use std::path::{Path, PathBuf};

/// A one-layer root filesystem made from the host's static busybox, the
/// way `busybox --install -s` would lay it out. Removed on drop.
pub struct BusyboxLayer {
    pub dir: tempfile::TempDir,
}

impl BusyboxLayer {
    pub fn new() -> BusyboxLayer {
        let dir = tempfile::Builder::new()
            .prefix("glassbox-layer-")
            .tempdir()
            .expect("layer dir");
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::copy("/bin/busybox", bin.join("busybox")).expect("host has /bin/busybox");
        let out = std::process::Command::new("/bin/busybox")
            .arg("--list")
            .output()
            .unwrap();
        for name in String::from_utf8_lossy(&out.stdout).lines() {
            if name != "busybox" {
                std::os::unix::fs::symlink("busybox", bin.join(name)).unwrap();
            }
        }
        for d in ["etc", "tmp", "proc", "sys", "dev", "root"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        std::fs::write(dir.path().join("etc/marker"), "from the image\n").unwrap();
        BusyboxLayer { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// A temporary root holding `busybox:latest`, built by `glassbox setup`.
pub fn busybox_root() -> Root {
    let root = Root::new();
    root.ok(&["setup"]);
    root
}

/// `glassbox run EXTRA... busybox CMD...`.
pub fn run_args<'a>(extra: &[&'a str], cmd: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["run"];
    v.extend_from_slice(extra);
    v.push("busybox");
    v.extend_from_slice(cmd);
    v
}

fn mounts_mentioning(p: &Path) -> usize {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(p.to_str().unwrap()))
        .count()
}

fn containers(root: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(root.join("containers"))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default()
}

#[test]
fn run_rm_echo_hello_prints_hello_and_explains_every_step() {
    let root = busybox_root();
    // --network none: the bridge network's steps have their own snapshot
    // (tests/it/network.rs); this one stays about the runtime itself.
    let (out, events) = root.traced(&run_args(
        &["--rm", "--network", "none"],
        &["echo", "hello"],
    ));
    assert_eq!(out, "hello\n");
    assert_explained(&events);
    let keys: Vec<String> = events
        .iter()
        .filter(|e| e["stage"] != "done")
        .map(crate::support::key)
        .collect();
    // In order: spec, clone, six namespaces, the init's steps, exec, exit.
    let pos = |k: &str| {
        keys.iter()
            .position(|x| x == k)
            .unwrap_or_else(|| panic!("{k} in {keys:?}"))
    };
    assert!(pos("process.spec") < pos("process.clone"));
    assert!(pos("cgroup.create") < pos("process.clone"));
    assert!(pos("process.clone") < pos("cgroup.join"));
    // The init unshares its cgroup namespace after it has joined its cgroup.
    assert!(pos("cgroup.join") < pos("namespace.unshare"));
    assert!(pos("process.clone") < pos("mount.overlay"));
    assert!(pos("mount.overlay") < pos("mount.pivot_root"));
    assert!(pos("mount.pivot_root") < pos("security.capabilities"));
    assert!(pos("security.no_new_privs") < pos("process.exec"));
    assert!(pos("process.exec") < pos("process.exit"));
    assert!(pos("process.exit") < pos("cgroup.remove"));
    let ns: Vec<&str> = events
        .iter()
        .filter(|e| e["kind"] == "namespace" && e["stage"] != "done")
        .filter(|e| e["action"] == "create" || e["action"] == "unshare")
        .map(|e| e["fields"]["flag"].as_str().unwrap())
        .collect();
    assert_eq!(
        ns,
        [
            "CLONE_NEWPID",
            "CLONE_NEWNS",
            "CLONE_NEWUTS",
            "CLONE_NEWIPC",
            "CLONE_NEWNET",
            "CLONE_NEWCGROUP"
        ]
    );
    // --rm leaves nothing: no container dir, no mount of the root.
    assert!(containers(root.path()).is_empty());
    assert_eq!(mounts_mentioning(root.path()), 0);

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
    let root_s = root.path().display().to_string();
    insta::with_settings!({filters => vec![
        (root_s.as_str(), "[root]"),
        // Container ids vary; layer digests and chain ids are reproducible
        // and stay in the snapshot.
        (r"(containers|glassbox)/[0-9a-f]{64}", "$1/[id]"),
        (r#""id": "[0-9a-f]{64}""#, r#""id": "[id]""#),
        (r"\b[0-9a-f]{12}\b", "[short-id]"),
        (r"(pid|mnt|uts|ipc|net|cgroup):\[\d+\]", "$1:[inode]"),
        (r"lsns -p \d+", "lsns -p [pid]"),
        (r"pid \d+", "pid [pid]"),
        (r"echo \d+ >", "echo [pid] >"),
        (r"kill -INT \d+", "kill -INT [pid]"),
    ]}, {
        insta::assert_json_snapshot!("run_rm_echo_hello_trace", redacted);
    });
}

#[test]
fn exit_codes_follow_docker() {
    let root = busybox_root();
    let code = |cmd: &[&str]| {
        let out = root.run(&run_args(&["--rm"], cmd));
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert_eq!(code(&["sh", "-c", "exit 3"]).0, Some(3));
    let (c, err) = code(&["no-such-command"]);
    assert_eq!(c, Some(127));
    assert!(err.contains("executable file not found in $PATH"), "{err}");
    let (c, err) = code(&["/etc/passwd"]);
    assert_eq!(c, Some(126));
    assert!(err.contains("not an executable file"), "{err}");
    assert!(containers(root.path()).is_empty());
}

#[test]
fn env_workdir_user_and_hostname_reach_the_process() {
    let root = busybox_root();
    let out = root.ok(&run_args(
        &[
            "--rm",
            "-e",
            "GREETING=hi",
            "-w",
            "/tmp",
            "-u",
            "1000:1001",
            "--hostname",
            "box",
        ],
        &[
            "sh",
            "-c",
            "echo $GREETING $(pwd) $(id -u):$(id -g) $(hostname)",
        ],
    ));
    assert_eq!(out, "hi /tmp 1000:1001 box\n");
}

#[test]
fn rootfs_dir_runs_a_container_on_a_plain_directory() {
    let root = Root::new();
    let layer = BusyboxLayer::new();
    let out = root.ok(&[
        "run",
        "--rm",
        "--rootfs-dir",
        layer.path().to_str().unwrap(),
        "scratch-dir",
        "cat",
        "/etc/marker",
    ]);
    assert_eq!(out, "from the image\n");
}
