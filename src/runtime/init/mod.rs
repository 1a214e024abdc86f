//! The container's init, between `clone` and `exec`: it makes the mount
//! table private, mounts the overlay root, the spec's mounts and device
//! nodes, pivots into the new root, masks paths, brings `lo` up, sets the
//! hostname, sets resource limits, drops capabilities, sets no_new_privs,
//! loads the seccomp filter, and execs the user's command. Every step is
//! an event relayed to the parent.
//!
//! Errors here cannot be returned to the parent as values: each failed step
//! records its error in the trace and the init exits with Docker's codes
//! (125 setup failed, 126 not executable, 127 not found).

mod caps;
mod confine;
mod park;
mod rootfs;

use super::{ContainerDir, Rootfs};
use crate::kernel;
use crate::trace::{self, Kind};
pub(crate) use caps::drop_capabilities;
use caps::drop_caps;
pub(crate) use confine::rlimit_calls;
use oci_spec::runtime::Spec;
use park::{join_namespaces, park, start_container_hooks};
pub use park::{Hooks, Park, WAIT_HOOKS};
use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Everything the init needs, prepared before `clone`.
pub struct Plan {
    merged: PathBuf,
    upper: PathBuf,
    work: PathBuf,
    lowers: Vec<(String, String)>,
    spec: Spec,
    volumes_dir: PathBuf,
    new_cgroup_ns: bool,
    io: super::Stdio,
    /// A bundle's root directory, bind-mounted instead of the overlay.
    bundle_root: bool,
    /// Where the init waits before exec (`glassbox-runc create`).
    park: Option<Park>,
    /// `--preserve-fds`: descriptors 3..3+N stay open across exec.
    preserve_fds: u32,
    /// The init is root only of a user namespace (rootless): devices are
    /// bind-mounted from the host's /dev, as it may not make them.
    userns: bool,
    /// How the overlay root is mounted (kernel overlayfs or fuse-overlayfs).
    overlay: crate::kernel::overlay::Driver,
    /// `linux.seccomp`, compiled before clone (a bundle's; `glassbox run`
    /// writes no seccomp section).
    seccomp: Option<crate::runtime::seccomp::Filter>,
    /// Whether `process.rlimits` are set. A bundle's are; `glassbox run`'s
    /// spec carries oci-spec's placeholder (NOFILE 1024) while its
    /// containers keep the engine's limits, as dockerd's do.
    rlimits: bool,
    /// `--no-pivot`: the root is moved onto / and chrooted into instead
    /// of pivot_root (runc's option for roots on a ramdisk).
    no_pivot: bool,
    /// `process.noNewPrivileges` is honoured (a bundle's); `glassbox run`
    /// always sets no_new_privs.
    nnp_from_spec: bool,
    /// A bundle's hooks: the state JSON its in-container hooks get, and
    /// where the init waits for the runtime's own hooks.
    hooks: Option<park::Hooks>,
    /// The spec makes a new user namespace (its maps written by the
    /// runtime before the start byte): the init first becomes its root.
    new_userns: bool,
}

/// What a bundle's init does besides the common steps.
#[derive(Debug, Default)]
pub struct BundleOptions {
    /// Where the init waits before exec (`glassbox-runc create`).
    pub park: Option<Park>,
    /// `--preserve-fds`.
    pub preserve_fds: u32,
    /// The compiled `linux.seccomp`.
    pub seccomp: Option<crate::runtime::seccomp::Filter>,
    /// `--no-pivot`.
    pub no_pivot: bool,
    /// The hooks the init runs or waits for.
    pub hooks: Option<park::Hooks>,
}

impl Plan {
    /// Gathers the plan from the container directory and spec.
    pub fn new(
        dir: &ContainerDir,
        spec: &Spec,
        rootfs: &Rootfs,
        new_cgroup_ns: bool,
        io: super::Stdio,
    ) -> Plan {
        Plan {
            merged: dir.merged(),
            upper: dir.upper(),
            work: dir.work(),
            lowers: rootfs
                .lowers
                .iter()
                .map(|l| (l.dir.display().to_string(), l.digest.clone()))
                .collect(),
            spec: spec.clone(),
            volumes_dir: dir
                .path
                .parent()
                .and_then(Path::parent)
                .map(crate::volume::volumes_dir)
                .unwrap_or_default(),
            new_cgroup_ns,
            io,
            bundle_root: false,
            park: None,
            preserve_fds: 0,
            userns: crate::kernel::userns::inside(),
            overlay: Default::default(),
            seccomp: None,
            rlimits: false,
            no_pivot: false,
            nnp_from_spec: false,
            hooks: None,
            new_userns: false,
        }
    }

    /// The same plan with its overlay mounted by `driver`.
    pub fn with_overlay(mut self, driver: crate::kernel::overlay::Driver) -> Plan {
        self.overlay = driver;
        self
    }

    /// The plan of an OCI bundle's init: the root is the bundle's own
    /// directory `root` (bind-mounted, no overlay), and `park` makes the
    /// init wait for `start` before it execs.
    pub fn for_bundle(
        spec: &Spec,
        root: &Path,
        new_cgroup_ns: bool,
        io: super::Stdio,
        o: BundleOptions,
    ) -> Plan {
        let new_userns = super::namespaces::in_spec(spec)
            .iter()
            .any(|n| n.name == "user");
        Plan {
            merged: root.to_path_buf(),
            upper: PathBuf::new(),
            work: PathBuf::new(),
            lowers: Vec::new(),
            spec: spec.clone(),
            volumes_dir: PathBuf::new(),
            new_cgroup_ns,
            io,
            bundle_root: true,
            park: o.park,
            preserve_fds: o.preserve_fds,
            // In a user namespace of its own, the init is root only there
            // and makes devices as the rootless one does.
            userns: crate::kernel::userns::inside() || new_userns,
            overlay: Default::default(),
            seccomp: o.seccomp,
            rlimits: true,
            no_pivot: o.no_pivot,
            nnp_from_spec: true,
            hooks: o.hooks,
            new_userns,
        }
    }
}

struct Fail(i32);

type R<T = ()> = Result<T, Fail>;

/// Runs a step: announce, do, record; on error the init fails with 125.
fn act<T>(b: trace::EventBuilder, f: impl FnOnce() -> Result<T, String>) -> R<T> {
    let s = b.announce().map_err(|_| Fail(125))?;
    s.finish_with(f()).map_err(|_| Fail(125))
}

fn errs<T>(r: nix::Result<T>, what: &str) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {e}"))
}

/// The init's body; returns the exit status when it could not exec. It
/// first waits for the parent's start byte on `start` (sent once the init
/// is in its cgroup).
pub fn run(plan: &Plan, mut start: std::fs::File) -> i32 {
    use std::io::Read;
    let mut b = [0u8; 1];
    if start.read_exact(&mut b).is_err() {
        return 125;
    }
    drop(start);
    match plan.io {
        super::Stdio::Pipes { out, err, stdin } => {
            // A session of its own: a key typed at the terminal (Ctrl-C)
            // signals the foreground command only, which passes the
            // signal on (runtime::sigproxy) — once, as docker does.
            let _ = nix::unistd::setsid();
            // Without -i the container reads nothing, as with docker.
            if !stdin {
                stdin_from_null();
            }
            output_to(out, err);
        }
        super::Stdio::Log(out, err) => {
            // A detached container writes into the shim's log pipes and
            // reads nothing.
            stdin_from_null();
            output_to(out, err);
        }
        super::Stdio::LogIn { out, err, stdin } => {
            // `-i`: it reads the pipe its shim writes what attached
            // clients send into.
            // SAFETY: dup2 only changes this process's fd table.
            unsafe { libc::dup2(stdin, 0) };
            output_to(out, err);
        }
        // The terminal is opened once /dev/pts is mounted (see below).
        super::Stdio::Tty(_) => {}
        // An OCI runtime's caller (conmon, containerd's shim) gave the
        // runtime the container's stdio already.
        super::Stdio::Inherit => {}
    }
    let _p = trace::phase("init");
    match setup_and_exec(plan) {
        Ok(()) => 0,
        Err(Fail(c)) => c,
    }
}

/// Makes the pipe ends `out` and `err` this process's stdout and stderr.
fn output_to(out: i32, err: i32) {
    // SAFETY: out and err are pipe ends the parent opened and kept alive
    // across clone; dup2 only changes this process's fd table.
    unsafe {
        libc::dup2(out, 1);
        libc::dup2(err, 2);
    }
}

/// What the container's command must not inherit from glassbox, undone
/// just before `execve` (by the init and by `exec`): descriptors other
/// than stdin, stdout and stderr, and ignored or blocked signals.
pub(crate) fn clean_slate_for_exec() {
    close_inherited_on_exec();
    default_signals_on_exec();
}

/// Gives the container's command the signal state a new process has:
/// every signal at its default action and none blocked. A handler is reset
/// by execve(2) anyway, but an *ignored* signal stays ignored across it —
/// and glassbox, like every Rust program, ignores SIGPIPE, so `yes` in a
/// container piped into `head` would never die of its broken pipe; a shell
/// that started glassbox in the background may have ignored SIGINT too.
fn default_signals_on_exec() {
    /// The kernel's `struct sigaction` (x86-64 and arm64 layout). The C
    /// library's sigaction(2) refuses signals 32 and 33, which it keeps for
    /// itself — yet they may arrive ignored from whoever started glassbox,
    /// so the system call is made directly.
    #[repr(C)]
    struct KernelSigaction {
        handler: usize,
        flags: u64,
        restorer: usize,
        mask: u64,
    }
    const SIG_IGN: usize = 1;
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        let mut old = KernelSigaction {
            handler: 0,
            flags: 0,
            restorer: 0,
            mask: 0,
        };
        // SAFETY: rt_sigaction with a null new action only reads this
        // process's disposition of `sig` into `old` (8: the kernel's
        // sigset size).
        let r = unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                std::ptr::null::<KernelSigaction>(),
                &mut old as *mut KernelSigaction,
                8usize,
            )
        };
        if r == 0 && old.handler == SIG_IGN {
            let default = KernelSigaction {
                handler: 0,
                flags: 0,
                restorer: 0,
                mask: 0,
            };
            // SAFETY: sets the default action (SIG_DFL, no handler to run).
            unsafe {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    sig,
                    &default as *const KernelSigaction,
                    std::ptr::null_mut::<KernelSigaction>(),
                    8usize,
                )
            };
        }
    }
    // SAFETY: sigprocmask only sets this process's signal mask.
    unsafe {
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
    }
}

/// Marks every descriptor above stderr close-on-exec, as runc does, so
/// nothing else this process holds — a pipe or file of the shell that ran
/// glassbox, glassbox's own /dev/null — reaches the container's command.
fn close_inherited_on_exec() {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets a flag on this
    // process's descriptors; nothing is closed before exec.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if r == 0 {
        return;
    }
    // Kernels before 5.11: one fcntl per open descriptor.
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    for fd in fds.into_iter().filter(|fd| *fd > 2) {
        // SAFETY: fcntl(F_SETFD) only sets the descriptor's close-on-exec
        // flag (a descriptor already closed gives EBADF, ignored).
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
}

/// Points this process's stdin at /dev/null: what it runs reads nothing.
pub(crate) fn stdin_from_null() {
    // SAFETY: open and dup2 only change this process's fd table.
    unsafe {
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY);
        libc::dup2(null, 0);
    }
}

fn setup_and_exec(plan: &Plan) -> R {
    if plan.new_userns {
        park::become_root()?;
    }
    join_namespaces(&plan.spec)?;
    if plan.new_cgroup_ns {
        let calls = [kernel::Call::Unshare(
            nix::sched::CloneFlags::CLONE_NEWCGROUP,
        )];
        act(
            kernel::describe(
                trace::step(Kind::Namespace, "unshare", "cgroup namespace")
                    .field("flag", "CLONE_NEWCGROUP")
                    .field("unshare", "--cgroup"),
                &calls,
            ),
            || kernel::apply(&mut kernel::Host, &calls),
        )?;
    }
    let mut k = kernel::Host;
    rootfs::build_root(plan, &mut k)?;
    if let super::Stdio::Tty(t) = plan.io {
        act(
            trace::step(Kind::Process, "tty", "pseudo-terminal")
                .field("rows", t.rows)
                .field("cols", t.cols)
                .equivalent("script -q /dev/null  # a shell on a new pty")
                .syscall("open(\"/dev/ptmx\"), sendmsg(SCM_RIGHTS), setsid(2), ioctl(TIOCSCTTY)"),
            || super::tty::open_in_container(t.sock, t.rows, t.cols).map(|_| ()),
        )?;
    }
    if plan.spec.root().as_ref().and_then(|r| r.readonly()) == Some(true) {
        let calls = [kernel::remount_bind_ro("/")];
        act(
            kernel::describe(trace::step(Kind::Mount, "remount_ro", "/"), &calls),
            || kernel::apply(&mut k, &calls),
        )?;
    }
    if let Some(h) = plan.spec.hostname() {
        let calls = [kernel::Call::Sethostname(h.clone())];
        act(
            kernel::describe(
                trace::step(Kind::Namespace, "sethostname", format!("hostname {h}"))
                    .field("hostname", h),
                &calls,
            ),
            || kernel::apply(&mut k, &calls),
        )?;
    }
    if let Some(adj) = plan.spec.process().as_ref().and_then(|p| p.oom_score_adj()) {
        // Before capabilities are dropped: lowering it needs CAP_SYS_RESOURCE.
        act(
            trace::step(
                Kind::Process,
                "oom_score_adj",
                format!("oom_score_adj {adj}"),
            )
            .field("value", adj)
            .equivalent(format!("echo {adj} > /proc/self/oom_score_adj"))
            .syscall("write(/proc/self/oom_score_adj)"),
            || {
                std::fs::write("/proc/self/oom_score_adj", adj.to_string())
                    .map_err(|e| format!("writing /proc/self/oom_score_adj: {e}"))
            },
        )?;
    }
    let has_net = super::namespaces::in_spec(&plan.spec)
        .iter()
        .any(|n| n.name == "net");
    if has_net {
        act(
            trace::step(Kind::Network, "link_up", "lo")
                .field("interface", "lo")
                .equivalent("ip link set lo up")
                .syscall("ioctl(SIOCSIFFLAGS, IFF_UP)"),
            loopback_up,
        )?;
    }
    let process = plan.spec.process().clone().ok_or(Fail(125))?;
    let args = process.args().clone().unwrap_or_default();
    let env = process.env().clone().unwrap_or_default();
    let path_var = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .to_string();
    let program = match resolve(&args[0], &path_var) {
        Ok(p) => p,
        Err((code, reason)) => {
            trace::fact(Kind::Process, "exec", args[0].clone())
                .field("args", &args)
                .field("error", &reason)
                .field("code", code)
                .info();
            eprintln!("glassbox: {reason}");
            return Err(Fail(code));
        }
    };
    // Docker creates a working directory the image does not have.
    let missing = !process.cwd().exists();
    act(
        trace::step(Kind::Process, "chdir", process.cwd().display().to_string())
            .field("cwd", process.cwd().display().to_string())
            .field("created", missing)
            .syscall(if missing {
                "mkdir(2), chdir(2)"
            } else {
                "chdir(2)"
            }),
        || {
            if missing {
                std::fs::create_dir_all(process.cwd()).map_err(|e| {
                    format!(
                        "creating the working directory {}: {e}",
                        process.cwd().display()
                    )
                })?;
            }
            errs(
                nix::unistd::chdir(process.cwd()),
                "changing to the working directory",
            )
        },
    )?;
    if plan.rlimits {
        confine::set_rlimits(process.rlimits().as_deref().unwrap_or(&[]), &mut k)?;
    }
    let nnp = !plan.nnp_from_spec || process.no_new_privileges() == Some(true);
    // Without no_new_privs the kernel takes a filter only from a process
    // with CAP_SYS_ADMIN, so it is loaded before capabilities go (runc
    // does the same); with it, as late as possible, right before exec.
    if let (Some(f), false) = (&plan.seccomp, nnp) {
        confine::load_seccomp(f, nnp, &mut k)?;
    }
    drop_caps(&plan.spec)?;
    if nnp {
        act(
            trace::step(Kind::Security, "no_new_privs", "no_new_privs")
                .equivalent("setpriv --no-new-privs")
                .syscall("prctl(PR_SET_NO_NEW_PRIVS, 1)"),
            || {
                // SAFETY: prctl with integer arguments touches no memory of ours.
                let r = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
                errs(nix::errno::Errno::result(r), "setting no_new_privs").map(|_| ())
            },
        )?;
    }
    let user = process.user();
    let (uid, gid) = (user.uid(), user.gid());
    let groups: Vec<u32> = user.additional_gids().clone().unwrap_or_default();
    let groups_flag = if groups.is_empty() {
        "--clear-groups".to_string()
    } else {
        format!(
            "--groups {}",
            groups
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",")
        )
    };
    act(
        trace::step(Kind::Security, "setuid", format!("uid {uid} gid {gid}"))
            .field("uid", uid)
            .field("gid", gid)
            .field("groups", &groups)
            .equivalent(format!("setpriv --reuid {uid} --regid {gid} {groups_flag}"))
            .syscall("setgroups(2), setresgid(2), setresuid(2)"),
        || {
            // A call that changes nothing is skipped: a bundle's spec may
            // keep neither CAP_SETGID nor CAP_SETUID for a root process.
            let want: Vec<nix::unistd::Gid> = groups
                .iter()
                .map(|g| nix::unistd::Gid::from_raw(*g))
                .collect();
            // The raw system calls, not libc's wrappers: glibc makes an
            // id change process-wide by signalling every thread it knows
            // of, and the init, a clone of one thread of a shim that may
            // have several, would wait for threads it does not have.
            if !nix::unistd::getgroups().is_ok_and(|g| g == want) {
                // SAFETY: `groups` outlives the call; the length is its own.
                let r =
                    unsafe { libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) };
                errs(
                    nix::errno::Errno::result(r),
                    "setting the supplementary groups",
                )?;
            }
            if nix::unistd::getgid().as_raw() != gid || nix::unistd::getegid().as_raw() != gid {
                // SAFETY: integer arguments only.
                let r = unsafe { libc::syscall(libc::SYS_setresgid, gid, gid, gid) };
                errs(nix::errno::Errno::result(r), "setgid")?;
            }
            if nix::unistd::getuid().as_raw() != uid || nix::unistd::geteuid().as_raw() != uid {
                // SAFETY: integer arguments only.
                let r = unsafe { libc::syscall(libc::SYS_setresuid, uid, uid, uid) };
                errs(nix::errno::Errno::result(r), "setuid")?;
            }
            Ok(())
        },
    )?;
    let cargs: Vec<CString> = args
        .iter()
        .map(|a| CString::new(a.as_str()).unwrap_or_default())
        .collect();
    let cenv: Vec<CString> = env
        .iter()
        .map(|a| CString::new(a.as_str()).unwrap_or_default())
        .collect();
    let cprog = CString::new(program.as_os_str().as_encoded_bytes()).unwrap_or_default();
    if let Some(p) = plan.park {
        park(p)?;
    }
    start_container_hooks(plan)?;
    clean_slate_for_exec();
    for fd in 3..3 + plan.preserve_fds as i32 {
        // SAFETY: fcntl(F_SETFD) only clears the close-on-exec flag of a
        // descriptor the caller passed on (EBADF for one it did not).
        unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
    }
    // After the filter only the exec step's writes and execve itself run.
    if let (Some(f), true) = (&plan.seccomp, nnp) {
        confine::load_seccomp(f, nnp, &mut k)?;
    }
    let s = trace::step(Kind::Process, "exec", program.display().to_string())
        .field("args", &args)
        .field("env", &env)
        .syscall("execve(2)")
        .announce()
        .map_err(|_| Fail(125))?;
    // From here on the relay pipe closes at exec (close-on-exec); the
    // step's done half cannot be sent after exec, so close it now.
    s.done();
    let wants_init = plan
        .spec
        .annotations()
        .as_ref()
        .is_some_and(|a| a.contains_key(super::spec::INIT_ANNOTATION));
    if wants_init {
        return super::pid1::run(&cprog, &cargs, &cenv).map_err(Fail);
    }
    let e = nix::unistd::execve(&cprog, &cargs, &cenv).unwrap_err();
    let code = if e == nix::errno::Errno::ENOENT {
        127
    } else {
        126
    };
    eprintln!("glassbox: cannot execute {}: {e}", program.display());
    trace::fact(Kind::Process, "exec", program.display().to_string())
        .field("error", e.to_string())
        .field("code", code)
        .info();
    Err(Fail(code))
}

/// Looks `cmd` up in the container's PATH (execve does not search).
pub(crate) fn resolve(cmd: &str, path: &str) -> Result<PathBuf, (i32, String)> {
    let check = |p: &Path| -> Result<PathBuf, (i32, String)> {
        let md = std::fs::metadata(p).map_err(|e| {
            (
                127,
                format!(
                    "{}: no such file or directory in the image ({e})",
                    p.display()
                ),
            )
        })?;
        if md.is_dir() || md.permissions().mode() & 0o111 == 0 {
            return Err((
                126,
                format!("{}: permission denied: not an executable file", p.display()),
            ));
        }
        Ok(p.to_path_buf())
    };
    if cmd.contains('/') {
        return check(Path::new(cmd));
    }
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let p = Path::new(dir).join(cmd);
        if p.exists() {
            return check(&p);
        }
    }
    Err((
        127,
        format!("{cmd:?}: executable file not found in $PATH ({path})"),
    ))
}

fn loopback_up() -> Result<(), String> {
    // SAFETY: a plain socket(2) call; the fd is owned and closed below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(format!("socket: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: fd is a socket we just opened and own.
    let sock = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    use std::os::fd::AsRawFd;
    // SAFETY: ifreq is plain data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (i, b) in b"lo".iter().enumerate() {
        req.ifr_name[i] = *b as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads and writes only `req`, which lives here.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(format!(
            "reading lo flags: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: the flags member is the active one after SIOCGIFFLAGS.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: SIOCSIFFLAGS reads only `req`.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(format!(
            "setting lo up: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}
