//! `-it`: a real pseudo-terminal, driven from a tmux pane the way a person
//! types: the shell is PID 1, `tty` names the container's own pty, the
//! window size arrives and follows a resize, Ctrl-C interrupts only the
//! foreground job, and `exit` ends the container with its status.

use crate::run::busybox_root;
use std::process::Command;
use std::time::{Duration, Instant};

/// A detached tmux session this test started; killed when the test ends.
struct Tmux {
    name: String,
}

impl Tmux {
    fn start(command: &str) -> Tmux {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("glassbox-tty-{}-{n}", std::process::id());
        let st = Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-s",
                &name,
                "-x",
                "100",
                "-y",
                "30",
                command,
            ])
            .status()
            .expect("tmux is installed (scripts/install-deps.sh)");
        assert!(st.success());
        Tmux { name }
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", self.name.as_str()];
        args.extend_from_slice(keys);
        assert!(Command::new("tmux").args(&args).status().unwrap().success());
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.name])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn wait_for(&self, what: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let s = self.screen();
            if what(&s) {
                return s;
            }
            assert!(Instant::now() < deadline, "screen never matched:\n{s}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.name])
            .status();
    }
}

fn lines(screen: &str) -> Vec<String> {
    screen.lines().map(|l| l.trim_end().to_string()).collect()
}

#[test]
fn run_it_gives_the_shell_a_real_terminal() {
    let root = busybox_root();
    let cmd = format!(
        "{} --root {} --trace off run -it --rm busybox sh; echo EXITED=$?; sleep 60",
        crate::support::bin().display(),
        root.path().display()
    );
    let t = Tmux::start(&cmd);
    t.wait_for(|s| s.contains("/ #"));
    t.keys(&["echo $$", "Enter"]);
    t.wait_for(|s| lines(s).iter().any(|l| l == "1"));
    t.keys(&["stty size; tty", "Enter"]);
    let s = t.wait_for(|s| s.contains("/dev/pts/"));
    assert!(lines(&s).iter().any(|l| l == "30 100"), "window size:\n{s}");
    assert!(
        lines(&s).iter().any(|l| l == "/dev/pts/0"),
        "the container's own pty:\n{s}"
    );
    Command::new("tmux")
        .args(["resize-window", "-t", &t.name, "-x", "120", "-y", "40"])
        .status()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    t.keys(&["clear; stty size", "Enter"]);
    t.wait_for(|s| lines(s).iter().any(|l| l == "40 120"));
    t.keys(&["sleep 100", "Enter"]);
    std::thread::sleep(Duration::from_millis(300));
    t.keys(&["C-c"]);
    t.keys(&["echo still-here", "Enter"]);
    t.wait_for(|s| lines(s).iter().any(|l| l == "still-here"));
    t.keys(&["exit 3", "Enter"]);
    t.wait_for(|s| s.contains("EXITED=3"));
    assert!(
        !root.path().join("containers").exists()
            || root
                .path()
                .join("containers")
                .read_dir()
                .unwrap()
                .next()
                .is_none(),
        "--rm removed the container"
    );
}

#[test]
fn exec_it_joins_a_running_container_with_a_terminal() {
    let root = busybox_root();
    root.ok(&[
        "run",
        "-d",
        "--name",
        "host-of-exec",
        "busybox",
        "sleep",
        "100",
    ]);
    struct Rm<'a>(&'a crate::support::Root);
    impl Drop for Rm<'_> {
        fn drop(&mut self) {
            let _ = self.0.run(&["rm", "-f", "host-of-exec"]);
        }
    }
    let _rm = Rm(&root);
    let cmd = format!(
        "{} --root {} --trace off exec -it host-of-exec sh; echo EXITED=$?; sleep 60",
        crate::support::bin().display(),
        root.path().display()
    );
    let t = Tmux::start(&cmd);
    t.wait_for(|s| s.contains("/ #"));
    t.keys(&["tty; cat /proc/1/cmdline; echo", "Enter"]);
    let s = t.wait_for(|s| s.contains("sleep100"));
    assert!(lines(&s).iter().any(|l| l.starts_with("/dev/pts/")), "{s}");
    t.keys(&["exit 4", "Enter"]);
    t.wait_for(|s| s.contains("EXITED=4"));
}

#[test]
fn run_t_without_i_reads_nothing_and_ctrl_c_reaches_the_container() {
    let root = busybox_root();
    // As docker's `-t` alone: a terminal for the output, no input; the
    // outer terminal stays as it was, so Ctrl-C signals the command, which
    // passes SIGINT on.
    let cmd = format!(
        "{} --root {} --trace off run -t --rm busybox sh -c 'trap \"echo got-INT; exit 5\" INT; echo ready; read x; echo read-$x'; echo EXITED=$?; sleep 60",
        crate::support::bin().display(),
        root.path().display()
    );
    let t = Tmux::start(&cmd);
    t.wait_for(|s| s.contains("ready"));
    t.keys(&["typed", "Enter"]);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !t.screen().contains("read-typed"),
        "the container read the terminal:\n{}",
        t.screen()
    );
    t.keys(&["C-c"]);
    let s = t.wait_for(|s| s.contains("EXITED="));
    assert!(s.contains("got-INT"), "{s}");
    assert!(s.contains("EXITED=5"), "{s}");
}
