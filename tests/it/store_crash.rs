//! Store commands SIGKILLed midway — `load`, `import`, the first `run` of
//! an image (its layer unpack), `pull` — leave a half-done temp entry in
//! ROOT/tmp.
//! The next command removes it, even while another command holds the
//! store open (so the store's exclusive sweep cannot run), says so in a
//! `store.sweep_tmp` event, leaves the images and tags as they were, and
//! never touches a live command's temp entries.

use crate::archive::store_state;
use crate::archive_crash::{random_tar, KillOnDrop};
use crate::build_sweep::entries_of;
use crate::registry_client::{big_image, gb, GlassboxRegistry};
use crate::support::{assert_explained, Root};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Polls `done` every millisecond for up to 30 s.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "{what} never happened");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Starts `cmd` (a glassbox command on root `r`, stdin as given), and
/// waits until it has made a temp entry in ROOT/tmp marked with its PID.
fn start(r: &Root, mut cmd: Command, stdin: Stdio) -> KillOnDrop {
    let child = KillOnDrop(
        cmd.stdin(stdin)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (tmp, pid) = (r.path().join("tmp"), child.0.id());
    wait_for(&format!("a temp entry of {cmd:?}"), || {
        !entries_of(&tmp, pid).is_empty()
    });
    child
}

/// Bytes of the files at or under `p`.
fn size_of(p: &Path) -> u64 {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => std::fs::read_dir(p)
            .map(|d| d.flatten().map(|e| size_of(&e.path())).sum())
            .unwrap_or(0),
        Ok(m) => m.len(),
        Err(_) => 0,
    }
}

/// Runs `cmd` (on root `r`) and SIGKILLs it by its PID once it has
/// written into its temp entry in ROOT/tmp; returns the PID, or `None`
/// when it finished first.
fn try_kill_midway(r: &Root, mut cmd: Command) -> Option<u32> {
    let mut child = KillOnDrop(
        cmd.stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let pid = child.0.id();
    let tmp = r.path().join("tmp");
    let mut ended = false;
    wait_for(&format!("PID {pid} writing or ending"), || {
        ended = child.0.try_wait().unwrap().is_some();
        ended
            || entries_of(&tmp, pid).iter().any(|m| {
                let entry = m.split(".by-").next().unwrap();
                size_of(&tmp.join(entry)) > 0
            })
    });
    if ended {
        return None;
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let status = child.0.wait().unwrap();
    (std::os::unix::process::ExitStatusExt::signal(&status) == Some(9)).then_some(pid)
}

/// [`try_kill_midway`] on `glassbox ARGS`, which must not finish first.
fn kill_midway(r: &Root, args: &[&str]) -> u32 {
    try_kill_midway(r, r.cmd(args)).unwrap_or_else(|| {
        panic!("{args:?} finished before it could be killed; make the image bigger")
    })
}

/// Checks that `pid` left marked temp entries, then that the next command
/// (`images`) removes them — each removal an event naming `pid` — while
/// the live `holder` keeps its own, and the store stays as `before`.
fn next_command_sweeps(
    r: &Root,
    pid: u32,
    holder: (u32, &[String]),
    before: &(Vec<String>, String),
) {
    let tmp = r.path().join("tmp");
    let markers = entries_of(&tmp, pid);
    assert!(
        !markers.is_empty(),
        "PID {pid} left its marked temp entries"
    );
    for m in &markers {
        let entry = m.split(".by-").next().unwrap();
        assert!(tmp.join(entry).exists(), "PID {pid} left {entry}");
    }
    assert!(
        std::fs::read_dir(r.path().join("layers")).map_or(true, |mut d| d.next().is_none()),
        "no half-unpacked layer appears under layers/"
    );
    // Any command that opens the store removes them, though the holder
    // has the store open.
    let (_, events) = r.traced(&["images"]);
    assert_explained(&events);
    let swept: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["kind"] == "store" && e["action"] == "sweep_tmp")
        .collect();
    assert!(entries_of(&tmp, pid).is_empty(), "PID {pid}'s leftovers go");
    assert!(
        !swept.is_empty() && swept.iter().all(|e| e["fields"]["owner_pid"] == pid),
        "each removal is an event naming the dead command: {swept:?}"
    );
    assert!(
        swept
            .iter()
            .any(|e| e["fields"]["bytes"].as_u64() > Some(0)),
        "{swept:?}"
    );
    assert_eq!(
        entries_of(&tmp, holder.0),
        holder.1,
        "the live command's temp entry stays"
    );
    assert_eq!(unmarked(&tmp).len(), 1, "and nothing else is left");
    assert_eq!(&store_state(r.path()), before, "blobs and tags as before");
}

/// The entries in `tmp` that are not markers.
fn unmarked(tmp: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(tmp)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.contains(".by-"))
        .collect();
    v.sort();
    v
}

#[test]
fn the_next_command_removes_what_killed_store_commands_left_but_not_a_live_ones() {
    let r = Root::new();
    let src = tempfile::tempdir().unwrap();
    let tar = src.path().join("big.tar");
    random_tar(&tar, 48);
    let tar = tar.to_str().unwrap();
    r.ok(&["import", tar, "big:1"]);
    let archive = src.path().join("big-archive.tar");
    let archive = archive.to_str().unwrap();
    r.ok(&["save", "big:1", "-o", archive]);
    let tmp = r.path().join("tmp");
    let before = store_state(r.path());

    // A live command holds the store open: a load waiting for its stdin,
    // with its own temp dir.
    let mut holder = start(&r, r.cmd(&["load", "-i", "-"]), Stdio::piped());
    let holder_pid = holder.0.id();
    let holder_entries = entries_of(&tmp, holder_pid);
    assert_eq!(holder_entries.len(), 1, "its temp dir's marker");

    for args in [
        &["load", "-i", archive][..],
        &["import", tar, "other:1"],
        // The image's first run unpacks its layer under tmp/ first.
        &["run", "big:1", "/data/random.bin"],
    ] {
        let pid = kill_midway(&r, args);
        next_command_sweeps(&r, pid, (holder_pid, &holder_entries), &before);
    }
    assert!(r.ok(&["store", "verify"]).contains("sound"));

    // The live load still works: it reads its archive from the pipe.
    let mut stdin = holder.0.stdin.take().unwrap();
    stdin.write_all(&std::fs::read(archive).unwrap()).unwrap();
    drop(stdin);
    assert!(holder.0.wait().unwrap().success());
    assert!(entries_of(&tmp, holder_pid).is_empty());

    // And so does the import that was killed, from the start.
    r.ok(&["import", tar, "other:1"]);
    assert!(r.ok(&["images"]).contains("other"));
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0, "tmp/ is empty");
}

#[test]
fn a_pull_killed_mid_blob_is_swept_by_the_next_command_while_another_holds_the_store() {
    let reg = GlassboxRegistry::start();
    let cfg = tempfile::tempdir().unwrap();
    let reference = format!("{}/big:1", reg.addr.replace("127.0.0.1", "localhost"));
    let src = Root::new();
    big_image(&src, &reference, 48);
    let out = gb(&src, cfg.path(), &["push", &reference])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let r = Root::new();
    r.ok(&["images"]);
    let before = store_state(r.path());
    let holder = start(&r, r.cmd(&["load", "-i", "-"]), Stdio::piped());
    let holder_entries = entries_of(&r.path().join("tmp"), holder.0.id());
    // The pull may win the race on a fast machine: try a few times.
    let pid = (0..5)
        .find_map(|_| {
            let pid = try_kill_midway(&r, gb(&r, cfg.path(), &["pull", "--jobs", "1", &reference]));
            if pid.is_none() {
                r.ok(&["rmi", &reference]);
            }
            pid
        })
        .expect("never caught the pull mid-blob");
    next_command_sweeps(&r, pid, (holder.0.id(), &holder_entries), &before);
    drop(holder);
    let out = gb(&r, cfg.path(), &["pull", &reference]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(r.ok(&["store", "verify"]).contains("sound"));
}
