//! `--step` in a real terminal: a tmux session runs glassbox, the test
//! reads the screen and types the keys a student would.

use crate::support::{bin, Root};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A tmux server on its own socket inside the test root; killed on drop.
struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    fn start(root: &Path, command: &str) -> Tmux {
        let socket = root.join("tmux.sock");
        let status = Command::new("tmux")
            .arg("-S")
            .arg(&socket)
            .args(["new-session", "-d", "-x", "200", "-y", "60", command])
            .status()
            .expect("tmux is installed by scripts/install-deps.sh");
        assert!(status.success());
        Tmux { socket }
    }

    fn keys(&self, keys: &[&str]) {
        let status = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(["send-keys", "-t", "0"])
            .args(keys)
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(["capture-pane", "-p", "-S", "-2000", "-t", "0"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen shows `needle` `count` times.
    fn wait_for(&self, needle: &str, count: usize) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if s.matches(needle).count() >= count {
                return s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "timed out waiting for {count}× {needle:?}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .status();
    }
}

/// `glassbox --step run --rm busybox echo stepped` in a tmux pane, which
/// then prints the exit status as `EXIT=N`.
fn step_run_echo(root: &Root) -> Tmux {
    let cmd = format!(
        "{} --root {} --no-color --step run --rm busybox echo stepped; echo EXIT=$?; sleep 60",
        bin().display(),
        root.path().display()
    );
    Tmux::start(root.path(), &cmd)
}

/// No container directory and no mount under the root.
fn assert_nothing_left(root: &Root) {
    let containers = root.path().join("containers");
    let left: Vec<_> = std::fs::read_dir(&containers)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "containers left behind: {left:?}");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(root.path().to_str().unwrap()),
        "mounts left under the root"
    );
}

#[test]
fn step_pauses_before_each_step_and_q_aborts_leaving_nothing_behind() {
    let root = Root::new();
    root.ok(&["setup"]);
    let tmux = step_run_echo(&root);
    // The first pause comes before anything is touched.
    let s = tmux.wait_for("[q] quit >", 1);
    assert!(s.contains("⏸  next:"), "{s}");
    // Enter runs one step and pauses before the next one.
    tmux.keys(&["Enter"]);
    tmux.wait_for("[q] quit >", 2);
    tmux.keys(&["Enter"]);
    tmux.wait_for("[q] quit >", 3);
    tmux.keys(&["q", "Enter"]);
    let s = tmux.wait_for("EXIT=", 1);
    assert!(s.contains("EXIT=130"), "q must abort with status 130:\n{s}");
    assert!(
        !s.contains("stepped\n"),
        "the command must not have run:\n{s}"
    );
    assert!(s.contains("aborted"), "the abort is explained:\n{s}");
    // Nothing is left: no container directory, no mount under the root.
    assert_nothing_left(&root);
}

#[test]
fn c_continues_without_pausing_again() {
    let root = Root::new();
    root.ok(&["setup"]);
    let tmux = step_run_echo(&root);
    tmux.wait_for("[q] quit >", 1);
    tmux.keys(&["c", "Enter"]);
    let s = tmux.wait_for("EXIT=", 1);
    assert!(s.contains("EXIT=0"), "{s}");
    assert!(s.contains("stepped"), "{s}");
    assert_eq!(
        s.matches("⏸  next:").count(),
        1,
        "paused again after c:\n{s}"
    );
}

#[test]
fn step_without_a_terminal_is_a_clear_error() {
    let root = Root::new();
    let out = root
        .cmd(&["--step", "images"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--step") && err.contains("terminal"), "{err}");
}

#[test]
fn lessons_next_with_step_pauses_inside_the_step_and_q_keeps_the_step_for_later() {
    let root = Root::new();
    // Step 1 of lesson 1 runs without pauses; step 2 is taken with --step.
    root.ok(&["lessons", "start", "1"]);
    let cmd = format!(
        "{} --root {} --no-color --step lessons next; echo EXIT=$?; sleep 60",
        bin().display(),
        root.path().display()
    );
    let tmux = Tmux::start(root.path(), &cmd);
    let s = tmux.wait_for("⏸  next:", 1);
    assert!(s.contains("step 2/"), "{s}");
    tmux.keys(&["Enter"]);
    tmux.wait_for("[q] quit >", 2);
    tmux.keys(&["q", "Enter"]);
    let s = tmux.wait_for("EXIT=", 1);
    assert!(s.contains("EXIT=130"), "{s}");
    assert!(s.contains("lessons next` runs it again"), "{s}");
    let left: Vec<_> = std::fs::read_dir(root.path().join("containers"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "containers left behind: {left:?}");
    // The quit step is still the next one.
    let out = root.ok(&["lessons", "next"]);
    assert!(out.contains("step 2/"), "{out}");
}

#[test]
fn ctrl_c_at_a_pause_aborts_like_q_leaving_nothing_behind() {
    let root = Root::new();
    root.ok(&["setup"]);
    let tmux = step_run_echo(&root);
    tmux.wait_for("[q] quit >", 1);
    tmux.keys(&["Enter"]);
    tmux.wait_for("[q] quit >", 2);
    tmux.keys(&["Enter"]);
    tmux.wait_for("[q] quit >", 3);
    // Some steps ran (an address, the hosts file); Ctrl-C now used to end
    // the command there and leave them.
    tmux.keys(&["C-c"]);
    let s = tmux.wait_for("EXIT=", 1);
    assert!(
        s.contains("EXIT=130"),
        "Ctrl-C must abort with status 130:\n{s}"
    );
    assert!(s.contains("aborting: undoing"), "{s}");
    assert!(
        !s.contains("stepped\n"),
        "the command must not have run:\n{s}"
    );
    assert_nothing_left(&root);
}
