//! A build SIGKILLed in the middle of a RUN leaves temp directories in
//! ROOT/tmp and a tmpfs mounted under ROOT/build-cache/work. The next build
//! removes them — even while another command holds the store open, so the
//! store's own sweep of tmp/ cannot run — and leaves a live build's
//! entries alone.

use crate::build::{context, events_of};
use crate::support::{assert_explained, Root};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Kills a build we started, by its PID, if the test ends first.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// On the way out (pass or fail): kill the RUN containers' inits the
/// killed builds left, unmount and remove their temp entries (the same
/// library calls the next build makes).
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Ok(store) = glassbox::store::Store::open(&self.0) {
            glassbox::build::run::sweep_orphans(&store);
            glassbox::build::sweep::sweep(&store);
        }
    }
}

/// True once a RUN container of build `pid` runs.
fn runs_a_container(root: &Path, pid: u32) -> bool {
    std::fs::read_dir(root.join("containers"))
        .map(|d| {
            d.filter_map(|e| e.ok()).any(|e| {
                std::fs::read(e.path().join("state.json"))
                    .ok()
                    .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                    .is_some_and(|st| st["status"] == "running" && st["shim_pid"] == pid)
            })
        })
        .unwrap_or(false)
}

/// Starts a build whose RUN sleeps, and waits until that RUN runs.
fn start_build(r: &Root, dir: &str, secret: &Path) -> KillOnDrop {
    let child = KillOnDrop(
        r.cmd(&[
            "build",
            "--secret",
            &format!("id=s,src={}", secret.display()),
            dir,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !runs_a_container(r.path(), child.0.id()) {
        assert!(Instant::now() < deadline, "the RUN never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    child
}

/// Entry names in `dir` that name `pid` as their maker.
pub(crate) fn entries_of(dir: &Path, pid: u32) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| glassbox::build::sweep::maker(n).map(|m| m.0) == Some(pid))
                .collect()
        })
        .unwrap_or_default()
}

fn mounts_of(root: &Path, pid: u32) -> usize {
    let needle = format!("{}/build-cache/work/build-{pid}.", root.display());
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(&needle))
        .count()
}

#[test]
fn the_next_build_sweeps_a_killed_builds_temp_files_and_mounts_but_not_a_live_ones() {
    let r = Root::new();
    r.ok(&["setup"]);
    let _cleanup = Cleanup(r.path().to_path_buf());
    let secret = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(secret.path(), "not for layers").unwrap();
    let slow = context(
        "FROM busybox\n\
         RUN --mount=type=tmpfs,target=/scratch --mount=type=secret,id=s sh -c 'echo started; sleep 30'\n",
        &[],
    );
    let dir = slow.path().to_str().unwrap();
    let (tmp, work) = (r.path().join("tmp"), r.path().join("build-cache/work"));

    // Build B: alive while the sweep runs (started first, so A's own
    // sweep at its start has nothing of A's to find).
    let b = start_build(&r, dir, secret.path());
    let b_pid = b.0.id();
    let b_tmp = entries_of(&tmp, b_pid);
    let b_work = entries_of(&work, b_pid);
    assert!(!b_tmp.is_empty() && b_work.len() == 2);

    // Build A: SIGKILLed mid-RUN.
    let mut a = start_build(&r, dir, secret.path());
    let a_pid = a.0.id();
    assert_eq!(entries_of(&tmp, a_pid).len(), 1, "A marked its temp dir");
    assert_eq!(
        entries_of(&work, a_pid).len(),
        2,
        "A's tmpfs and secret dirs"
    );
    assert_eq!(
        mounts_of(r.path(), a_pid),
        2,
        "both are mounted on the host"
    );
    a.0.kill().unwrap();
    a.0.wait().unwrap();

    // Another command holds the store open, so only the build's sweep can
    // clean tmp/ now.
    let _holder = glassbox::store::Store::open(r.path()).unwrap();
    let next = context("FROM busybox\nLABEL next=yes\n", &[]);
    let (_, events) = r.traced(&["build", next.path().to_str().unwrap()]);
    assert_explained(&events);
    assert!(
        entries_of(&tmp, a_pid).is_empty(),
        "A's temp dir and marker are gone"
    );
    assert!(
        entries_of(&work, a_pid).is_empty(),
        "A's mount dirs are gone"
    );
    assert_eq!(
        mounts_of(r.path(), a_pid),
        0,
        "A's tmpfs mounts are unmounted"
    );
    let swept = events_of(&events, "sweep_tmp");
    assert!(
        swept
            .iter()
            .any(|e| e["fields"]["mounts"] == 1 && e["fields"]["builder_pid"] == a_pid),
        "each removal is an event that says why: {swept:?}"
    );
    assert!(swept.iter().all(|e| e["fields"]["builder_pid"] != b_pid));
    assert_eq!(
        entries_of(&tmp, b_pid),
        b_tmp,
        "the live build's entries stay"
    );
    assert_eq!(entries_of(&work, b_pid), b_work);
    assert_eq!(mounts_of(r.path(), b_pid), 2, "and its mounts");

    // Once B is killed too, its leftovers go the same way.
    drop(b);
    let (_, events) = r.traced(&["build", next.path().to_str().unwrap()]);
    assert!(entries_of(&tmp, b_pid).is_empty() && entries_of(&work, b_pid).is_empty());
    assert_eq!(mounts_of(r.path(), b_pid), 0);
    assert!(!events_of(&events, "sweep_tmp").is_empty());
    assert_eq!(
        std::fs::read_dir(r.path().join("containers"))
            .unwrap()
            .count(),
        0,
        "the RUN containers were swept too"
    );
}
