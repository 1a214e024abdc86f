//! Loads killed midway and disks that fill up: the store stays sound and
//! unchanged, and a retry succeeds.

use crate::archive::store_state;
use crate::support::Root;

/// Kills the child on drop unless it was already waited for.
pub(crate) struct KillOnDrop(pub(crate) std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Writes a rootfs tarball at `path` holding one file of `mib` MiB of
/// incompressible (xorshift) bytes, `data/random.bin`.
pub(crate) fn random_tar(path: &std::path::Path, mib: usize) {
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
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

#[test]
fn a_load_killed_midway_leaves_a_sound_store_and_no_image() {
    let r = Root::new();
    // 48 MiB of incompressible bytes make a load that takes a while.
    let tree = r.path().join("big.tar");
    random_tar(&tree, 48);
    r.ok(&["import", tree.to_str().unwrap(), "big:1"]);
    let archive = r.path().join("big-archive.tar");
    r.ok(&["save", "big:1", "-o", archive.to_str().unwrap()]);
    let want = r.ok(&["image", "inspect", "big:1"]);

    let other = Root::new();
    other.ok(&["images"]);
    let tmp = other.path().join("tmp");
    let mut child = KillOnDrop(
        other
            .cmd(&["load", "-i", archive.to_str().unwrap()])
            .spawn()
            .unwrap(),
    );
    // Wait until the load has started writing inside the root, then kill it.
    let start = std::time::Instant::now();
    while std::fs::read_dir(&tmp).unwrap().count() == 0 {
        assert!(start.elapsed().as_secs() < 30, "load never started");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    std::thread::sleep(std::time::Duration::from_millis(20));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.0.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let status = child.0.wait().unwrap();
    assert!(
        std::os::unix::process::ExitStatusExt::signal(&status) == Some(9),
        "the load finished before it could be killed ({status}); make the archive bigger"
    );
    assert!(other.ok(&["store", "verify"]).contains("sound"));
    assert!(!other.run(&["image", "inspect", "big:1"]).status.success());
    assert!(!other.ok(&["images"]).contains("big"));
    // A retry loads the whole image.
    other.ok(&["load", "-i", archive.to_str().unwrap()]);
    let got = other.ok(&["image", "inspect", "big:1"]);
    let (a, b): (serde_json::Value, serde_json::Value) = (
        serde_json::from_str(&want).unwrap(),
        serde_json::from_str(&got).unwrap(),
    );
    assert_eq!(a[0]["Id"], b[0]["Id"]);
    assert!(other.ok(&["store", "verify"]).contains("sound"));
}

/// A small tmpfs, unmounted on drop.
struct SmallDisk(tempfile::TempDir);

impl SmallDisk {
    fn new(size: &str) -> SmallDisk {
        let d = tempfile::tempdir().unwrap();
        nix::mount::mount(
            Some("tmpfs"),
            d.path(),
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            Some(format!("size={size}").as_str()),
        )
        .expect("mount a tmpfs (the tests run as root)");
        SmallDisk(d)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(self.0.path(), nix::mount::MntFlags::MNT_DETACH);
    }
}

#[test]
fn a_full_disk_gives_one_clear_error_and_leaves_the_store_unchanged() {
    let disk = SmallDisk::new("1m");
    let root = disk.0.path();
    let run = |args: &[&str]| {
        std::process::Command::new(crate::support::bin())
            .arg("--root")
            .arg(root)
            .args(args)
            .env_remove("GLASSBOX_ROOT")
            .output()
            .unwrap()
    };
    assert!(run(&["images"]).status.success());
    let before = store_state(root);
    let src = tempfile::tempdir().unwrap();
    let tar = src.path().join("big.tar");
    {
        let mut b = tar::Builder::new(std::fs::File::create(&tar).unwrap());
        let data = vec![7u8; 3 * 1024 * 1024];
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, "big.bin", &data[..]).unwrap();
        b.finish().unwrap();
    }
    let out = run(&["import", tar.to_str().unwrap(), "big:1"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(!err.contains("not a tar"), "{err}");
    assert_eq!(store_state(root), before);
    assert!(run(&["store", "verify"]).status.success());
}
