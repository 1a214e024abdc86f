//! The keeper's way out: slirp4netns, a network stack in user space.
//!
//! The keeper's network namespace starts with only `lo`: a user without
//! root may not make a veth into the host's namespace, nor route or NAT
//! there. slirp4netns (from Debian's slirp4netns package) is the way out
//! podman's rootless mode has long used: started once per keeper, it joins
//! the keeper's namespaces, makes a tap device `tap0` there (10.0.2.100,
//! default route via 10.0.2.2), and turns every packet the namespace sends
//! out of it into an ordinary socket call of its own process on the host.
//! 10.0.2.2 is the host's own loopback (host services on 127.0.0.1 answer
//! there: the teaching case, so `--disable-host-loopback` is *not* given,
//! where podman gives it unless `allow_host_loopback=true`; the price is
//! that containers reach every service on the host's loopback that the
//! user could) and 10.0.2.3 a DNS forwarder to the host's resolver.
//!
//! Why slirp4netns and not pasta: both do the job; slirp4netns has the
//! smaller surface to explain (one tap, one fixed 10.0.2.0/24 plan that
//! podman's and Docker's rootless docs use), its `--exit-fd` ties its life
//! to the keeper without a supervisor of ours, and its `--ready-fd` says
//! exactly when the tap is up. pasta copies the host's addresses into the
//! namespace, which is faster but harder to draw on a whiteboard.
//!
//! Containers sit on glassbox bridges *inside* the keeper's namespace, one
//! hop further: the keeper's namespace forwards (ip_forward is per network
//! namespace, so this changes nothing on the host) only from the bridges
//! to `tap0`, and masquerades what leaves through `tap0` as 10.0.2.100, in
//! an nft table of its own (`table ip glassbox_uplink`, in the keeper's
//! namespace). Forwarding between two glassbox networks stays refused, as
//! it is as root.
//!
//! Without slirp4netns (a lab server may lack it) rootless glassbox still
//! runs: containers reach each other and `-p` still works, and an event
//! (`network.no_uplink`) and `glassbox info` say the containers have no
//! way out and what an administrator installs. `GLASSBOX_SLIRP4NETNS`
//! names another binary, or `none` for no uplink.

use crate::trace::{self, Kind};
use std::io::Read;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

/// Names the slirp4netns binary to use, or `none` for no uplink.
pub const BINARY_ENV: &str = "GLASSBOX_SLIRP4NETNS";

/// The tap device slirp4netns makes in the keeper's namespace.
pub const TAP: &str = "tap0";

/// Where the host's own 127.0.0.1 answers, seen from inside.
pub const HOST_LOOPBACK: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);

/// slirp4netns's DNS forwarder.
pub const DNS: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 3);

/// The tap's MTU: slirp4netns's largest, which is fastest (fewer packets
/// for slirp to copy).
pub const MTU: u32 = 65520;

/// The nft table the keeper's namespace masquerades with.
pub const TABLE: &str = "glassbox_uplink";

/// The file in the run dir that names slirp4netns's PID.
pub const PID_FILE: &str = "slirp4netns.pid";

const LOG_FILE: &str = "slirp4netns.log";

/// How long slirp4netns may take to say the tap is up.
const READY_TIMEOUT_MS: u16 = 10_000;

/// The slirp4netns to run, or why there is none.
pub fn binary() -> Result<PathBuf, String> {
    match std::env::var_os(BINARY_ENV) {
        Some(v) if v == "none" || v.is_empty() => {
            Err(format!("{BINARY_ENV}=none asks for no uplink"))
        }
        Some(v) => {
            let p = PathBuf::from(v);
            if p.is_file() {
                Ok(p)
            } else {
                Err(format!(
                    "{BINARY_ENV} names {}, which does not exist",
                    p.display()
                ))
            }
        }
        None => super::which("slirp4netns").ok_or_else(|| {
            "slirp4netns is not installed; an administrator installs it with \
             `apt-get install slirp4netns`"
                .to_string()
        }),
    }
}

/// A pipe with both ends close-on-exec: `(read, write)`.
pub fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array it is given.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just made and are owned by no one else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Lets `fd` survive `execve` (for use between fork and exec).
pub fn keep_across_exec(fd: RawFd) -> std::io::Result<()> {
    // SAFETY: fcntl on a descriptor number; async-signal-safe.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The slirp4netns command line for `keeper`.
pub fn args(keeper: i32, exit_fd: RawFd, ready_fd: RawFd) -> Vec<String> {
    vec![
        "--configure".into(),
        format!("--mtu={MTU}"),
        format!("--exit-fd={exit_fd}"),
        format!("--ready-fd={ready_fd}"),
        keeper.to_string(),
        TAP.into(),
    ]
}

/// Starts slirp4netns for the keeper `keeper` (which holds the write end
/// of `exit`, so slirp4netns ends when the keeper does) and waits until
/// the tap is up. Returns its PID, or `None` when there is no uplink
/// (missing or failed: an event says why and the containers stay local).
pub fn start(run_dir: &Path, keeper: i32, exit: OwnedFd) -> Option<i32> {
    let bin = match binary() {
        Ok(b) => b,
        Err(why) => {
            no_uplink(&why);
            return None;
        }
    };
    match spawn(&bin, run_dir, keeper, exit) {
        Ok(pid) => Some(pid),
        Err(why) => {
            no_uplink(&why);
            None
        }
    }
}

fn spawn(bin: &Path, run_dir: &Path, keeper: i32, exit: OwnedFd) -> Result<i32, String> {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    let (ready_r, ready_w) = pipe().map_err(|e| format!("making the ready pipe: {e}"))?;
    let (exit_fd, ready_fd) = (exit.as_raw_fd(), ready_w.as_raw_fd());
    let args = args(keeper, exit_fd, ready_fd);
    let s = trace::step(Kind::Network, "slirp", format!("{TAP} of keeper {keeper}"))
        .field("keeper", keeper)
        .field("tap", TAP)
        .field("mtu", MTU)
        .field("address", "10.0.2.100/24")
        .field("gateway", HOST_LOOPBACK.to_string())
        .field("dns", DNS.to_string())
        .field("host_loopback", true)
        .equivalent(format!("{} {}", bin.display(), args.join(" ")))
        .syscall("setns(CLONE_NEWUSER|CLONE_NEWNET) + open(\"/dev/net/tun\") + ioctl(TUNSETIFF)")
        .announce()
        .map_err(|e| e.to_string())?;
    let log_path = run_dir.join(LOG_FILE);
    let r = (|| {
        let log = std::fs::File::create(&log_path)
            .map_err(|e| format!("making {}: {e}", log_path.display()))?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        let mut cmd = Command::new(bin);
        cmd.args(&args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .current_dir("/");
        // SAFETY: setsid and fcntl are async-signal-safe and touch no
        // memory. Its own session keeps the terminal's ^C from reaching
        // it; the two pipe ends are the only descriptors it inherits.
        unsafe {
            cmd.pre_exec(move || {
                nix::unistd::setsid().map_err(std::io::Error::from)?;
                keep_across_exec(exit_fd)?;
                keep_across_exec(ready_fd)
            });
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("starting {}: {e}", bin.display()))?;
        drop(ready_w);
        drop(exit);
        let pid = child.id() as i32;
        if let Err(e) = wait_ready(ready_r) {
            // Nothing half-made stays: the slirp4netns we started goes, by
            // its PID.
            let _ = child.kill();
            let _ = child.wait();
            let said = std::fs::read_to_string(&log_path).unwrap_or_default();
            return Err(format!(
                "slirp4netns did not come up ({e}): {}",
                said.trim()
            ));
        }
        std::fs::write(run_dir.join(PID_FILE), format!("{pid}\n"))
            .map_err(|e| format!("writing {PID_FILE}: {e}"))?;
        Ok(pid)
    })();
    match &r {
        Ok(pid) => {
            let mut s = s;
            s.field("pid", pid);
            s.done();
        }
        Err(e) => s.failed(e),
    }
    r
}

/// Waits for slirp4netns to write to its ready pipe.
fn wait_ready(ready: OwnedFd) -> Result<(), String> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let mut fds = [PollFd::new(ready.as_fd(), PollFlags::POLLIN)];
    let n = poll(&mut fds, PollTimeout::from(READY_TIMEOUT_MS)).map_err(|e| e.to_string())?;
    if n == 0 {
        return Err(format!("no word within {} s", READY_TIMEOUT_MS / 1000));
    }
    let mut f = std::fs::File::from(ready);
    let mut b = [0u8; 1];
    match f.read(&mut b) {
        Ok(1) => Ok(()),
        Ok(_) => Err("it exited".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// Says the containers have no way off the machine, and why.
pub(crate) fn no_uplink(why: &str) {
    let _ = trace::fact(Kind::Network, "no_uplink", "the keeper's network namespace")
        .field("why", why)
        .announce()
        .map(|s| s.done());
}

/// The nft script that lets the bridges reach `tap0` and nothing else,
/// and masquerades what leaves through it.
pub fn masquerade_script() -> String {
    format!(
        "table ip {TABLE} {{\n\
         \tchain forward {{\n\
         \t\ttype filter hook forward priority filter; policy drop;\n\
         \t\tct state established,related accept\n\
         \t\toifname \"{TAP}\" accept\n\
         \t}}\n\
         \tchain postrouting {{\n\
         \t\ttype nat hook postrouting priority srcnat; policy accept;\n\
         \t\toifname \"{TAP}\" masquerade\n\
         \t}}\n\
         }}\n"
    )
}

/// The per-namespace settings the route out needs, as (file, value): the
/// namespace forwards, and frames bridged between two containers of one
/// network do not go through the ip hooks (or the forward chain's drop
/// would stop them; as root glassbox never forwards, so it never asks).
pub const SYSCTLS: [(&str, &str); 2] = [
    ("/proc/sys/net/ipv4/ip_forward", "1"),
    ("/proc/sys/net/bridge/bridge-nf-call-iptables", "0"),
];

/// Turns on forwarding in the keeper's network namespace and masquerades
/// what the bridges send out through `tap0`. Runs on a thread that is in
/// that namespace (see `super::in_netns_of`).
pub fn route_out(keeper: i32) -> Result<(), String> {
    for (file, value) in SYSCTLS {
        if !Path::new(file).exists() {
            continue; // br_netfilter not loaded: nothing goes through it
        }
        let key = file.trim_start_matches("/proc/sys/").replace('/', ".");
        let s = trace::step(Kind::Network, "sysctl", format!("{key} in keeper {keeper}"))
            .field("key", &key)
            .field("value", value)
            .field("keeper", keeper)
            .equivalent(format!(
                "nsenter -t {keeper} -U -n --preserve-credentials sysctl -w {key}={value}"
            ))
            .syscall(format!("write(\"{file}\", \"{value}\")"))
            .announce()
            .map_err(|e| e.to_string())?;
        s.finish_with(std::fs::write(file, value).map_err(|e| format!("writing {file}: {e}")))?;
    }
    let script = masquerade_script();
    let s = trace::step(
        Kind::Network,
        "masquerade",
        format!("{TAP} of keeper {keeper}"),
    )
    .field("table", format!("ip {TABLE}"))
    .field("tap", TAP)
    .field("keeper", keeper)
    .field("rules", script.lines().map(str::trim).collect::<Vec<_>>())
    .equivalent(format!(
        "nsenter -t {keeper} -U -n --preserve-credentials nft -f - <<'EOF'\n{script}EOF"
    ))
    .syscall("socket(AF_NETLINK, NETLINK_NETFILTER) + NFT_MSG_NEWTABLE, NFT_MSG_NEWRULE")
    .announce()
    .map_err(|e| e.to_string())?;
    s.finish_with(nft(&script))
}

fn nft(script: &str) -> Result<(), String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("running nft (apt-get install nftables): {e}"))?;
    if let Some(mut w) = child.stdin.take() {
        let _ = w.write_all(script.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "nft -f -: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Whether the keeper's network namespace has its way out: a default
/// route through `tap0`, as the kernel shows it in `/proc/KEEPER/net/route`.
pub fn is_up(keeper: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{keeper}/net/route"))
        .map(|t| has_default_via_tap(&t))
        .unwrap_or(false)
}

fn has_default_via_tap(route: &str) -> bool {
    route.lines().skip(1).any(|l| {
        let mut w = l.split_whitespace();
        w.next() == Some(TAP) && w.next() == Some("00000000")
    })
}

/// The slirp4netns PID recorded for this run dir, when that process is
/// still a slirp4netns.
pub fn recorded(run_dir: &Path) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(run_dir.join(PID_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    is_slirp(pid).then_some(pid)
}

fn is_slirp(pid: i32) -> bool {
    let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let argv0 = cmd.split(|b| *b == 0).next().unwrap_or_default();
    let live = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, r)| !r.trim_start().starts_with('Z'))
        })
        .unwrap_or(false);
    use std::os::unix::ffi::OsStrExt;
    live && Path::new(std::ffi::OsStr::from_bytes(argv0))
        .file_name()
        .is_some_and(|n| n == "slirp4netns")
}

/// After the keeper has ended: waits (up to 2 s) for slirp4netns, whose
/// exit pipe has lost its last writer, to end too, reaps it if it is our
/// child, and says so. Returns whether it is gone.
pub fn wait_gone(run_dir: &Path) -> bool {
    let Some(pid) = recorded(run_dir) else {
        let _ = std::fs::remove_file(run_dir.join(PID_FILE));
        return true;
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    let mut gone = false;
    while std::time::Instant::now() < deadline {
        // Reaps it when this command started it; ECHILD otherwise.
        let _ = nix::sys::wait::waitpid(
            nix::unistd::Pid::from_raw(pid),
            Some(nix::sys::wait::WaitPidFlag::WNOHANG),
        );
        if !is_slirp(pid) {
            gone = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = std::fs::remove_file(run_dir.join(PID_FILE));
    let _ = trace::fact(Kind::Network, "slirp_exit", format!("slirp4netns {pid}"))
        .field("pid", pid)
        .field("ended", gone)
        .announce()
        .map(|s| s.done());
    gone
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_route_through_the_tap_is_the_uplink() {
        let t = "Iface\tDestination\tGateway \tFlags\n\
                 tap0\t00000000\t0202000A\t0003\n\
                 tap0\t0002000A\t00000000\t0001\n";
        assert!(has_default_via_tap(t));
        let local = "Iface\tDestination\tGateway \tFlags\ngbx0\t0000200A\t00000000\t0001\n";
        assert!(!has_default_via_tap(local));
    }

    #[test]
    fn slirp_is_tied_to_the_keeper_and_reports_ready() {
        let a = args(42, 7, 8).join(" ");
        assert_eq!(
            a,
            "--configure --mtu=65520 --exit-fd=7 --ready-fd=8 42 tap0"
        );
        assert!(!a.contains("disable-host-loopback"));
    }

    #[test]
    fn only_the_tap_is_forwarded_to_and_masqueraded() {
        let s = masquerade_script();
        assert!(s.contains("policy drop"), "{s}");
        assert!(s.contains("oifname \"tap0\" accept"), "{s}");
        assert!(s.contains("oifname \"tap0\" masquerade"), "{s}");
    }
}
