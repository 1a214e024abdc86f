//! Rootless mode: glassbox run by a user without root, as podman and
//! Docker's rootless mode do it.
//!
//! The trick is one long-lived *keeper* process per user (podman calls its
//! own the pause process). It makes a user namespace together with a mount
//! and a network namespace, and `newuidmap`/`newgidmap` (setuid helpers
//! from Debian's uidmap, which check /etc/subuid and /etc/subgid) map uid
//! and gid 0 inside to the user, and 1..=N inside to the user's subordinate
//! range. Then the keeper does nothing but keep the namespaces alive.
//!
//! Every rootless glassbox command starts by joining the keeper's user and
//! mount namespaces (`setns(2)`, before it has any thread). From then on
//! it is root — but only inside: it may mount overlays, unpack layers with
//! their owners, make namespaces, bridges and veths (in the keeper's
//! network namespace), all over objects the user namespace owns, and
//! nothing the host's root owns. Mounts live in the keeper's mount
//! namespace, so the host's `findmnt` never sees them, and they outlive
//! each command as the keeper does.
//!
//! The command itself stays in the host's network namespace, so `-p`
//! listens on the host's 127.0.0.1 and a push reaches a registry there;
//! bridge and veth work happens in the keeper's network namespace
//! ([`engine_netns`]), where the containers' networks live.
//!
//! The keeper's network namespace gets its way off the machine from
//! slirp4netns, started once with the keeper and ending with it
//! ([`uplink`]).
//!
//! Layering: above `kernel` and `trace`, below everything that picks paths
//! or talks to the network.

pub mod uplink;

use crate::kernel::{self, Call};
use crate::trace::{self, Kind};
use nix::sched::CloneFlags;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The hidden first argument that makes `glassbox` the keeper.
pub const KEEPER_ARG: &str = "__rootless-keeper";

/// Set for the commands a rootless glassbox starts (shims, proxies):
/// `UID:GID:KEEPER_PID:RUN_DIR`, so they know they are already inside.
pub const ENV: &str = "GLASSBOX_ROOTLESS";

/// The namespaces the keeper makes, in one `unshare(2)`: the mount and
/// network namespaces it makes with the user namespace belong to it.
const KEEPER_FLAGS: CloneFlags = CloneFlags::CLONE_NEWUSER
    .union(CloneFlags::CLONE_NEWNS)
    .union(CloneFlags::CLONE_NEWNET);

/// What a rootless glassbox knows about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rootless {
    /// The user's uid on the host.
    pub uid: u32,
    /// The user's gid on the host.
    pub gid: u32,
    /// The keeper's PID (on the host).
    pub keeper: i32,
    /// The user's runtime dir for glassbox (locks, the keeper's PID file).
    pub run_dir: PathBuf,
}

static MODE: OnceLock<Option<Rootless>> = OnceLock::new();

/// The rootless state of this process, when it runs rootless.
pub fn active() -> Option<&'static Rootless> {
    MODE.get().and_then(Option::as_ref)
}

/// Where glassbox keeps locks and runtime files: `/run/glassbox` as root,
/// the user's runtime dir rootless.
pub fn run_dir() -> PathBuf {
    active()
        .map(|r| r.run_dir.clone())
        .unwrap_or_else(|| PathBuf::from("/run/glassbox"))
}

/// The default store: `/var/lib/glassbox` as root, rootless
/// `$XDG_DATA_HOME/glassbox` (or `~/.local/share/glassbox`).
pub fn default_root() -> PathBuf {
    if active().is_none() {
        return PathBuf::from("/var/lib/glassbox");
    }
    data_home().join("glassbox")
}

fn data_home() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| Path::new(d).is_absolute()) {
        return PathBuf::from(d);
    }
    home().join(".local/share")
}

fn home() -> PathBuf {
    std::env::var_os("HOME")
        .filter(|h| Path::new(h).is_absolute())
        .map(PathBuf::from)
        .or_else(|| {
            nix::unistd::User::from_uid(nix::unistd::getuid())
                .ok()
                .flatten()
                .map(|u| u.dir)
        })
        .unwrap_or_else(|| PathBuf::from("/tmp"))
}

/// The network namespace where a rootless glassbox makes bridges and
/// veths (the keeper's); `None` as root, where that is the host's own.
pub fn engine_netns() -> Option<std::fs::File> {
    let r = active()?;
    std::fs::File::open(format!("/proc/{}/ns/net", r.keeper)).ok()
}

/// Moves the calling *thread* into [`engine_netns`] (as root: nothing),
/// so the sockets it opens afterwards reach the containers' bridges; a
/// port proxy's threads call it before they connect to a container.
pub fn enter_engine_netns_on_this_thread() -> std::io::Result<()> {
    let Some(ns) = engine_netns() else {
        return Ok(());
    };
    kernel::Kernel::call(
        &mut kernel::Host,
        &kernel::setns_file(&ns, CloneFlags::CLONE_NEWNET),
    )
}

/// Runs `f` where [`engine_netns`] is: on a short-lived thread that moves
/// there first (rootless), or right here (as root). For what is read or
/// written per network namespace, such as `/proc/sys/net`.
pub fn in_engine_netns<T: Send>(f: impl FnOnce() -> T + Send) -> std::io::Result<T> {
    match active() {
        None => Ok(f()),
        Some(r) => in_netns_of(r.keeper, f),
    }
}

/// Runs `f` on a short-lived thread that first joins the network
/// namespace of process `pid` (what the thread starts, such as `nft`, is
/// born there too).
fn in_netns_of<T: Send>(pid: i32, f: impl FnOnce() -> T + Send) -> std::io::Result<T> {
    let ns = std::fs::File::open(format!("/proc/{pid}/ns/net"))?;
    std::thread::scope(|s| {
        s.spawn(|| {
            kernel::Kernel::call(
                &mut kernel::Host,
                &kernel::setns_file(&ns, CloneFlags::CLONE_NEWNET),
            )
            .map(|()| f())
        })
        .join()
        .map_err(|_| std::io::Error::other("the netns thread panicked"))?
    })
}

/// Whether the containers of this rootless glassbox have a way off the
/// machine (slirp4netns's tap in the keeper's namespace); never as root,
/// where glassbox routes nothing off the machine.
pub fn has_uplink() -> bool {
    active().is_some_and(|r| uplink::is_up(r.keeper))
}

/// How this glassbox runs, for `glassbox info` and the Engine API's
/// `/info`: the mode, and in rootless mode the keeper and the id map.
pub fn summary() -> serde_json::Value {
    match active() {
        None => serde_json::json!({"mode": "root", "run_dir": run_dir()}),
        Some(r) => {
            let map = std::fs::read_to_string("/proc/self/uid_map").unwrap_or_default();
            let (network, why) = if uplink::is_up(r.keeper) {
                (
                    "slirp4netns",
                    format!(
                        "{} in the keeper's namespace; the host's 127.0.0.1 is {}",
                        uplink::TAP,
                        uplink::HOST_LOOPBACK
                    ),
                )
            } else {
                (
                    "none",
                    match uplink::binary() {
                        Err(why) => why,
                        Ok(_) => "slirp4netns did not come up when the keeper was made;                                   `glassbox system prune` ends the keeper, the next command                                   tries again"
                            .into(),
                    },
                )
            };
            serde_json::json!({
                "network": network,
                "network_why": why,
                "mode": "rootless",
                "host_uid": r.uid,
                "host_gid": r.gid,
                "keeper": r.keeper,
                "run_dir": r.run_dir,
                "uid_map": kernel::userns::parse_map(&map).iter().map(|m| serde_json::json!({
                    "inside": m.inside, "outside": m.outside, "count": m.count,
                })).collect::<Vec<_>>(),
                "network_namespace": format!("/proc/{}/ns/net", r.keeper),
            })
        }
    }
}

/// Why rootless glassbox could not start.
#[derive(Debug, thiserror::Error)]
pub enum RootlessError {
    /// No subordinate ids for the user.
    #[error(
        "user {user} has no subordinate {what} range in /etc/sub{what}, which rootless \
         containers need to map the image's users; an administrator adds one with \
         `usermod --add-sub{what}s 100000-165535 {user}`"
    )]
    NoRange {
        /// The user.
        user: String,
        /// `uid` or `gid`.
        what: &'static str,
    },
    /// newuidmap/newgidmap are missing.
    #[error(
        "{0} is not installed: rootless glassbox needs the setuid helpers newuidmap and \
         newgidmap to map subordinate ids; an administrator installs them with \
         `apt-get install uidmap`"
    )]
    NoHelper(&'static str),
    /// Something else went wrong, with what was being done.
    #[error("{what}: {why}")]
    Failed {
        /// What was being done.
        what: String,
        /// What went wrong.
        why: String,
    },
}

fn failed(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> RootlessError {
    let what = what.into();
    move |e| RootlessError::Failed {
        what,
        why: e.to_string(),
    }
}

/// A user's subordinate range from /etc/subuid or /etc/subgid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubRange {
    /// First host id.
    pub start: u32,
    /// How many.
    pub count: u32,
}

/// The first range of `user` (by name or by id) in a subuid/subgid text.
pub fn sub_range(text: &str, user: &str, id: u32) -> Option<SubRange> {
    text.lines().find_map(|l| {
        let mut it = l.trim().splitn(3, ':');
        let (who, start, count) = (it.next()?, it.next()?, it.next()?);
        if who != user && who.parse::<u32>().ok() != Some(id) {
            return None;
        }
        let (start, count) = (start.trim().parse().ok()?, count.trim().parse().ok()?);
        (count > 0).then_some(SubRange { start, count })
    })
}

/// The `newuidmap`/`newgidmap` arguments after the PID: 0 inside is the
/// user, 1.. inside is the subordinate range.
fn map_args(own: u32, r: SubRange) -> [String; 6] {
    [
        "0".into(),
        own.to_string(),
        "1".into(),
        "1".into(),
        r.start.to_string(),
        r.count.to_string(),
    ]
}

/// Sets this process's mode, joining (or first making) the keeper when it
/// runs without root. Call once, early, before any thread is started: a
/// process with threads cannot join a user namespace.
pub fn enter() -> Result<(), RootlessError> {
    if MODE.get().is_some() {
        return Ok(());
    }
    let euid = nix::unistd::geteuid().as_raw();
    if euid == 0 {
        // A command a rootless glassbox started is inside already.
        let inherited = std::env::var(ENV)
            .ok()
            .filter(|_| kernel::userns::inside())
            .and_then(|v| parse_env(&v));
        let _ = MODE.set(inherited);
        return Ok(());
    }
    let uid = nix::unistd::getuid().as_raw();
    let gid = nix::unistd::getgid().as_raw();
    let user = nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| uid.to_string());
    let run_dir = user_run_dir(uid)?;
    let lock = lock(&run_dir.join("keeper.lock"))?;
    let (keeper, slirp) = match live_keeper(&run_dir, uid) {
        Some(pid) => (pid, None),
        None => make_keeper(&run_dir, &user, uid, gid)?,
    };
    join(keeper)?;
    if slirp.is_some() {
        // Joined the keeper's user namespace, this command may now change
        // its network namespace: the containers' way out through the tap.
        let r = in_netns_of(keeper, || uplink::route_out(keeper))
            .map_err(|e| e.to_string())
            .and_then(|r| r);
        if let Err(why) = r {
            uplink::no_uplink(&format!(
                "routing the bridges out through slirp4netns: {why}"
            ));
        }
    }
    drop(lock);
    let me = Rootless {
        uid,
        gid,
        keeper,
        run_dir,
    };
    std::env::set_var(ENV, to_env(&me));
    let _ = MODE.set(Some(me));
    Ok(())
}

fn to_env(r: &Rootless) -> String {
    format!("{}:{}:{}:{}", r.uid, r.gid, r.keeper, r.run_dir.display())
}

fn parse_env(v: &str) -> Option<Rootless> {
    let mut it = v.splitn(4, ':');
    Some(Rootless {
        uid: it.next()?.parse().ok()?,
        gid: it.next()?.parse().ok()?,
        keeper: it.next()?.parse().ok()?,
        run_dir: PathBuf::from(it.next()?),
    })
}

/// `$XDG_RUNTIME_DIR/glassbox` when the user has one, else
/// `/tmp/glassbox-UID`; made 0700, and refused unless the user owns it.
fn user_run_dir(uid: u32) -> Result<PathBuf, RootlessError> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let dir = match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| Path::new(d).is_dir()) {
        Some(d) => PathBuf::from(d).join("glassbox"),
        None => PathBuf::from(format!("/tmp/glassbox-{uid}")),
    };
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(failed(format!("making {}", dir.display()))(e)),
    }
    let md =
        std::fs::symlink_metadata(&dir).map_err(failed(format!("reading {}", dir.display())))?;
    if !md.is_dir() || md.uid() != uid || md.mode() & 0o077 != 0 {
        return Err(RootlessError::Failed {
            what: format!("using {} as the runtime dir", dir.display()),
            why: "it is not a directory of this user's with mode 0700; remove it".into(),
        });
    }
    Ok(dir)
}

/// An exclusive `flock` on `path`, held while the value lives.
fn lock(path: &Path) -> Result<std::fs::File, RootlessError> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(failed(format!("opening {}", path.display())))?;
    // SAFETY: flock on a descriptor this function owns.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(failed(format!("locking {}", path.display()))(
            std::io::Error::last_os_error(),
        ));
    }
    Ok(f)
}

/// The keeper named in the run dir, if it still runs as this user.
fn live_keeper(run_dir: &Path, uid: u32) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(run_dir.join("keeper.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    is_keeper(pid, uid).then_some(pid)
}

/// Whether `pid` is a glassbox keeper of `uid`.
fn is_keeper(pid: i32, uid: u32) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let is_ours = cmdline
        .split(|b| *b == 0)
        .any(|a| a == KEEPER_ARG.as_bytes());
    let owner = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u32>().ok())
        });
    // Seen from inside the user namespace, the user is uid 0.
    let uid = if kernel::userns::inside() { 0 } else { uid };
    is_ours && owner == Some(uid)
}

/// Starts the keeper, maps its ids and waits until it is ready.
/// Returns its PID and slirp4netns's, when that came up.
fn make_keeper(
    run_dir: &Path,
    user: &str,
    uid: u32,
    gid: u32,
) -> Result<(i32, Option<i32>), RootlessError> {
    let subuid = std::fs::read_to_string("/etc/subuid").unwrap_or_default();
    let subgid = std::fs::read_to_string("/etc/subgid").unwrap_or_default();
    let ur = sub_range(&subuid, user, uid).ok_or_else(|| RootlessError::NoRange {
        user: user.into(),
        what: "uid",
    })?;
    let gr = sub_range(&subgid, user, gid).ok_or_else(|| RootlessError::NoRange {
        user: user.into(),
        what: "gid",
    })?;
    for helper in ["newuidmap", "newgidmap"] {
        if which(helper).is_none() {
            return Err(RootlessError::NoHelper(helper));
        }
    }
    let s = kernel::describe(
        trace::step(
            Kind::Namespace,
            "userns",
            format!("user namespace of {user}"),
        )
        .field("user", user)
        .field("uid", uid)
        .field(
            "subuid",
            format!("{}-{}", ur.start, ur.start as u64 + ur.count as u64 - 1),
        )
        .field("ids", ur.count as u64 + 1),
        &[Call::Unshare(KEEPER_FLAGS)],
    )
    .announce()
    .map_err(|e| RootlessError::Failed {
        what: "starting rootless mode".into(),
        why: e.to_string(),
    })?;
    // slirp4netns reads the other end of this pipe and ends when it sees
    // EOF: when the keeper, the only process left holding the write end,
    // has ended.
    let (exit_r, exit_w) = uplink::pipe().map_err(failed("making slirp4netns's exit pipe"))?;
    let r = start_keeper(run_dir, uid, gid, ur, gr, exit_w);
    match &r {
        Ok(pid) => {
            let mut s = s;
            s.field("keeper", pid);
            s.done();
        }
        Err(e) => s.failed(e),
    }
    let pid = r?;
    Ok((pid, uplink::start(run_dir, pid, exit_r)))
}

fn start_keeper(
    run_dir: &Path,
    uid: u32,
    gid: u32,
    ur: SubRange,
    gr: SubRange,
    exit_w: std::os::fd::OwnedFd,
) -> Result<i32, RootlessError> {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    let exit_fd = exit_w.as_raw_fd();
    let mut cmd = Command::new("/proc/self/exe");
    cmd.arg(KEEPER_ARG)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .current_dir("/");
    // SAFETY: fcntl is async-signal-safe and touches no memory: the keeper
    // keeps the write end of slirp4netns's exit pipe for its whole life.
    unsafe {
        cmd.pre_exec(move || uplink::keep_across_exec(exit_fd));
    }
    let mut child = cmd.spawn().map_err(failed("starting the keeper"))?;
    drop(exit_w);
    let pid = child.id() as i32;
    let mut ready = child.stdout.take().expect("piped stdout");
    let mut go = child.stdin.take().expect("piped stdin");
    let r = (|| {
        expect(&mut ready, b'u', "the keeper's unshare")?;
        map_ids("newuidmap", pid, uid, ur, "uid_map")?;
        map_ids("newgidmap", pid, gid, gr, "gid_map")?;
        go.write_all(b"m")
            .map_err(failed("telling the keeper its map"))?;
        expect(&mut ready, b'r', "the keeper's start")?;
        let tmp = run_dir.join("keeper.pid.tmp");
        std::fs::write(&tmp, format!("{pid}\n")).map_err(failed("writing keeper.pid"))?;
        std::fs::rename(&tmp, run_dir.join("keeper.pid")).map_err(failed("writing keeper.pid"))?;
        Ok(pid)
    })();
    if r.is_err() {
        // Nothing half-made stays: the keeper we started goes, by its PID.
        let _ = child.kill();
        let _ = child.wait();
    }
    r
}

fn expect(r: &mut impl Read, want: u8, what: &str) -> Result<(), RootlessError> {
    let mut b = [0u8; 256];
    let n = r
        .read(&mut b)
        .map_err(failed(format!("waiting for {what}")))?;
    if n >= 1 && b[0] == want {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&b[..n]).trim().to_string();
    Err(RootlessError::Failed {
        what: what.into(),
        why: if said.is_empty() {
            "the keeper exited".into()
        } else {
            said.trim_start_matches('e').to_string()
        },
    })
}

fn map_ids(
    helper: &'static str,
    pid: i32,
    own: u32,
    r: SubRange,
    file: &str,
) -> Result<(), RootlessError> {
    let args = map_args(own, r);
    let s = trace::step(Kind::Namespace, "idmap", format!("/proc/{pid}/{file}"))
        .field("inside_0", own)
        .field("inside_from_1", r.start)
        .field("count", r.count)
        .field("helper", helper)
        .equivalent(format!("{helper} {pid} {}", args.join(" ")))
        .announce()
        .map_err(|e| RootlessError::Failed {
            what: format!("{helper} {pid}"),
            why: e.to_string(),
        })?;
    let out = std::process::Command::new(helper)
        .arg(pid.to_string())
        .args(&args)
        .output();
    let r = match out {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(RootlessError::Failed {
            what: format!("{helper} {pid} {}", args.join(" ")),
            why: String::from_utf8_lossy(&o.stderr).trim().to_string(),
        }),
        Err(e) => Err(failed(helper)(e)),
    };
    s.finish_with(r)
}

fn which(prog: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(["/usr/bin".into(), "/usr/sbin".into(), "/bin".into()])
        .map(|d| d.join(prog))
        .find(|p| p.is_file())
}

/// Joins the keeper's user and mount namespaces, then goes back to the
/// directory the command was started in (joining a mount namespace moves a
/// process to its root).
fn join(keeper: i32) -> Result<(), RootlessError> {
    let cwd = std::env::current_dir().ok();
    let open = |ns: &str| {
        let p = PathBuf::from(format!("/proc/{keeper}/ns/{ns}"));
        std::fs::File::open(&p)
            .map(|f| (f, p.clone()))
            .map_err(failed(format!("opening {}", p.display())))
    };
    let (user, user_path) = open("user")?;
    let (mnt, mnt_path) = open("mnt")?;
    let mut calls = vec![
        Call::Setns {
            fd: user.as_raw_fd(),
            path: user_path,
            nstype: CloneFlags::CLONE_NEWUSER,
        },
        Call::Setns {
            fd: mnt.as_raw_fd(),
            path: mnt_path,
            nstype: CloneFlags::CLONE_NEWNS,
        },
    ];
    if let Some(d) = cwd.filter(|d| d.is_absolute()) {
        calls.push(Call::Chdir(d));
    }
    let map = std::fs::read_to_string(format!("/proc/{keeper}/uid_map")).unwrap_or_default();
    let b = trace::fact(Kind::Namespace, "rootless", format!("keeper {keeper}"))
        .field("keeper", keeper)
        .field("host_uid", nix::unistd::getuid().as_raw())
        .field(
            "uid_map",
            kernel::userns::parse_map(&map)
                .iter()
                .map(|r| {
                    format!(
                        "{}-{} → {}",
                        r.inside,
                        r.inside as u64 + r.count as u64 - 1,
                        r.outside
                    )
                })
                .collect::<Vec<_>>(),
        );
    kernel::run(&mut kernel::Host, b, &calls, "joining the user namespace").map_err(|e| {
        RootlessError::Failed {
            what: "joining the keeper's namespaces".into(),
            why: e.to_string(),
        }
    })
}

/// The keeper's life (`glassbox __rootless-keeper`): make the namespaces,
/// wait for the map, make mounts private, say it is ready, and stay.
pub fn keeper_main() -> i32 {
    let mut out = std::io::stdout();
    let mut inp = std::io::stdin();
    let _ = nix::unistd::setsid();
    if let Err(e) = kernel::Kernel::call(&mut kernel::Host, &Call::Unshare(KEEPER_FLAGS)) {
        let _ = write!(out, "eunshare(CLONE_NEWUSER|CLONE_NEWNS|CLONE_NEWNET): {e}");
        return 1;
    }
    let _ = out.write_all(b"u");
    let _ = out.flush();
    let mut b = [0u8; 1];
    if inp.read_exact(&mut b).is_err() || b[0] != b'm' {
        return 1;
    }
    // Mounts made in here stay in here, and the host's later mounts do not
    // come in.
    if let Err(e) = kernel::Kernel::call(&mut kernel::Host, &kernel::make_rprivate("/")) {
        let _ = write!(out, "emaking / private: {e}");
        return 1;
    }
    let _ = out.write_all(b"r");
    let _ = out.flush();
    // The keeper's stdio was the starting command's pipes: let them go, so
    // that command's reader sees the end.
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        for fd in 0..=2 {
            // SAFETY: dup2 onto the standard descriptors of this process.
            unsafe { libc::dup2(null.as_raw_fd(), fd) };
        }
    }
    loop {
        nix::unistd::pause();
    }
}

/// The processes in the keeper's user namespace other than the keeper and
/// this one: containers, shims, a daemon, another command.
pub fn others_in_userns() -> Vec<i32> {
    let Some(r) = active() else {
        return Vec::new();
    };
    let me = std::process::id() as i32;
    kernel::pids_sharing("user", r.keeper)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| *p != me && *p != r.keeper && !is_zombie(*p))
        .collect()
}

/// Whether `pid` has exited and waits only to be reaped.
fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, r)| r.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

/// Ends the keeper of this rootless glassbox (by its PID) when nothing
/// else runs in its user namespace: `system prune` calls it, so that after
/// `rm -f` of everything and a prune nothing of glassbox runs. Returns
/// whether it ended one.
pub fn stop_keeper() -> bool {
    let Some(r) = active() else {
        return false;
    };
    if !is_keeper(r.keeper, r.uid) {
        return false;
    }
    // A shim of a container just removed may still be on its way out.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while !others_in_userns().is_empty() {
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let s = trace::cleanup(
        Kind::Namespace,
        "keeper_stop",
        format!("keeper {}", r.keeper),
    )
    .field("keeper", r.keeper)
    .equivalent(format!("kill {}", r.keeper))
    .syscall(format!("kill({}, SIGTERM)", r.keeper))
    .announce();
    let res = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(r.keeper),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = std::fs::remove_file(r.run_dir.join("keeper.pid"));
    if let Ok(s) = s {
        let _ = s.finish_with(res);
    }
    if res.is_ok() {
        uplink::wait_gone(&r.run_dir);
    }
    res.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_users_range_is_found_by_name_or_uid() {
        let t = "alice:100000:65536\n1002:165536:65536\n";
        assert_eq!(
            sub_range(t, "alice", 1001),
            Some(SubRange {
                start: 100000,
                count: 65536
            })
        );
        assert_eq!(sub_range(t, "bob", 1002).map(|r| r.start), Some(165536));
        assert_eq!(sub_range(t, "carol", 1003), None);
    }

    #[test]
    fn root_inside_is_the_user_and_the_rest_is_the_range() {
        let a = map_args(
            1001,
            SubRange {
                start: 100000,
                count: 65536,
            },
        );
        assert_eq!(a.join(" "), "0 1001 1 1 100000 65536");
    }

    #[test]
    fn the_env_of_a_started_command_round_trips() {
        let r = Rootless {
            uid: 1001,
            gid: 1001,
            keeper: 42,
            run_dir: "/tmp/glassbox-1001".into(),
        };
        assert_eq!(parse_env(&to_env(&r)), Some(r));
    }
}
