//! The one boundary to the kernel's mount table and namespaces: every
//! `mount(2)`, `umount2(2)`, `pivot_root(2)` (with its `chdir(2)`s),
//! device `mknod(2)`, `setns(2)`, `unshare(2)`, `sethostname(2)`,
//! `chroot(2)`, `prlimit(2)` and `seccomp(2)` that glassbox makes is a
//! [`Call`] made through a [`Kernel`]. (The namespaces
//! a container is born with are `clone(2)` flags: runtime's
//! `clone_and_wait` spells them from the same flag values it passes.)
//!
//! A step says what it will do by listing its calls *before* it makes
//! them: [`describe`] writes the event's `syscall` and `equivalent` fields
//! from the very values [`apply`] then hands to the kernel, so the trace
//! cannot name a call the engine does not make, or miss one it does.
//! [`Host`] is the real kernel; [`Recorder`] keeps the calls instead, so a
//! unit test can check a whole mount sequence without root.
//!
//! Layering: below runtime, build, network and volume; above `trace` only.

pub mod overlay;
pub mod userns;

use crate::trace::EventBuilder;
use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use std::path::{Path, PathBuf};

/// One classic BPF instruction, as `struct sock_filter` lays it out: what
/// a seccomp filter is made of.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SockFilter {
    /// The opcode (`BPF_LD|BPF_W|BPF_ABS`, `BPF_JMP|BPF_JEQ|BPF_K`, ...).
    pub code: u16,
    /// Instructions to skip when the jump's condition holds.
    pub jt: u8,
    /// Instructions to skip when it does not.
    pub jf: u8,
    /// The constant operand.
    pub k: u32,
}

/// One call into the kernel, with its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// `mount(source, target, fstype, flags, data)`.
    Mount {
        /// The device or directory mounted (None for a remount or a
        /// propagation change).
        source: Option<String>,
        /// Where.
        target: PathBuf,
        /// The filesystem type (None for a bind, remount or propagation
        /// change).
        fstype: Option<String>,
        /// `MS_*` flags.
        flags: MsFlags,
        /// The filesystem's own options.
        data: Option<String>,
    },
    /// `umount2(target, flags)`.
    Umount {
        /// The mount point.
        target: PathBuf,
        /// `MNT_*` flags.
        flags: MntFlags,
    },
    /// `pivot_root(new_root, put_old)`, relative to the working directory.
    PivotRoot {
        /// The new root.
        new_root: PathBuf,
        /// Where the old root goes.
        put_old: PathBuf,
    },
    /// `chdir(path)`.
    Chdir(PathBuf),
    /// `setns(fd, nstype)`: joins the namespace open at `fd` (the file
    /// `path`, opened beforehand: after joining a mount namespace the
    /// host's /proc may not be where it was).
    Setns {
        /// The open namespace file.
        fd: std::os::fd::RawFd,
        /// Its path, for the trace.
        path: PathBuf,
        /// One `CLONE_NEW*` flag.
        nstype: CloneFlags,
    },
    /// `unshare(flags)`: new namespaces for this process.
    Unshare(CloneFlags),
    /// `sethostname(name)` in the current UTS namespace.
    Sethostname(String),
    /// `chroot(path)`: the root directory of this process (the no-pivot
    /// root switch).
    Chroot(PathBuf),
    /// `prlimit(0, resource, {soft, hard}, NULL)`: a resource limit of
    /// this process, inherited across exec.
    Setrlimit {
        /// `RLIMIT_*`, by name.
        name: String,
        /// Its number.
        resource: u32,
        /// The soft limit (what the process gets).
        soft: u64,
        /// The hard limit (how far it may raise the soft one).
        hard: u64,
    },
    /// `seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog)`: a BPF filter run
    /// on every later system call of this process and its children.
    Seccomp {
        /// The program.
        program: Vec<SockFilter>,
        /// `SECCOMP_FILTER_FLAG_*` bits.
        flags: u32,
    },
    /// `mknod(path, S_IFCHR|mode, makedev(major, minor))` (or `S_IFBLK`
    /// for a block device, `S_IFIFO` for a named pipe).
    Mknod {
        /// The device file.
        path: PathBuf,
        /// What kind of node.
        node: Node,
        /// Permission bits.
        mode: u32,
        /// Device major number.
        major: u64,
        /// Device minor number.
        minor: u64,
    },
}

/// The kind of file [`Call::Mknod`] makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Node {
    /// A character device (`S_IFCHR`, `mknod PATH c MAJOR MINOR`).
    #[default]
    Char,
    /// A block device (`S_IFBLK`, `mknod PATH b MAJOR MINOR`).
    Block,
    /// A named pipe (`S_IFIFO`, `mknod PATH p`): no device numbers.
    Fifo,
}

impl Node {
    fn s_if(self) -> &'static str {
        match self {
            Node::Char => "S_IFCHR",
            Node::Block => "S_IFBLK",
            Node::Fifo => "S_IFIFO",
        }
    }

    fn letter(self) -> &'static str {
        match self {
            Node::Char => "c",
            Node::Block => "b",
            Node::Fifo => "p",
        }
    }
}

/// `mount -t FSTYPE SOURCE TARGET` with no flags or options yet.
pub fn mount_fs(fstype: &str, source: &str, target: impl Into<PathBuf>) -> Call {
    Call::Mount {
        source: Some(source.to_string()),
        target: target.into(),
        fstype: Some(fstype.to_string()),
        flags: MsFlags::empty(),
        data: None,
    }
}

/// A bind mount of `source` on `target` (`MS_BIND`, plus `MS_REC` when
/// `recursive`).
pub fn bind(source: impl AsRef<Path>, target: impl Into<PathBuf>, recursive: bool) -> Call {
    let mut flags = MsFlags::MS_BIND;
    if recursive {
        flags |= MsFlags::MS_REC;
    }
    Call::Mount {
        source: Some(source.as_ref().display().to_string()),
        target: target.into(),
        fstype: None,
        flags,
        data: None,
    }
}

/// Remounts the bind mount at `target` read-only.
pub fn remount_bind_ro(target: impl Into<PathBuf>) -> Call {
    Call::Mount {
        source: None,
        target: target.into(),
        fstype: None,
        flags: MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY,
        data: None,
    }
}

/// Makes the mounts at and below `target` private: mounts made on either
/// side no longer propagate to the other.
pub fn make_rprivate(target: impl Into<PathBuf>) -> Call {
    Call::Mount {
        source: None,
        target: target.into(),
        fstype: None,
        flags: MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        data: None,
    }
}

/// A lazy unmount (`umount -l`): the mount leaves the tree now and goes
/// once nothing uses it.
pub fn detach(target: impl Into<PathBuf>) -> Call {
    Call::Umount {
        target: target.into(),
        flags: MntFlags::MNT_DETACH,
    }
}

/// The processes in the same `kind` namespace (`pid`, `user`, … as under
/// /proc/PID/ns/) as process `pid`, itself included: every PID whose
/// namespace link reads the same. An error when `pid`'s link cannot be
/// read (it is gone).
pub fn pids_sharing(kind: &str, pid: i32) -> std::io::Result<Vec<i32>> {
    let ns = std::fs::read_link(format!("/proc/{pid}/ns/{kind}"))?;
    Ok(std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| std::fs::read_link(format!("/proc/{p}/ns/{kind}")).is_ok_and(|l| l == ns))
        .collect())
}

/// `setns(fd, nstype)` into the namespace open as `ns`, named in the
/// event by the path the file was opened from (as /proc/self/fd says).
pub fn setns_file(ns: &impl std::os::fd::AsRawFd, nstype: CloneFlags) -> Call {
    let fd = ns.as_raw_fd();
    Call::Setns {
        fd,
        path: std::fs::read_link(format!("/proc/self/fd/{fd}")).unwrap_or_default(),
        nstype,
    }
}

impl Call {
    /// Adds `MS_*` flags to a mount.
    pub fn flags(mut self, more: MsFlags) -> Call {
        if let Call::Mount { flags, .. } = &mut self {
            *flags |= more;
        }
        self
    }

    /// Sets a mount's filesystem options (the `data` argument); an empty
    /// string means none.
    pub fn data(mut self, opts: &str) -> Call {
        if let Call::Mount { data, .. } = &mut self {
            *data = (!opts.is_empty()).then(|| opts.to_string());
        }
        self
    }

    /// The call as C would spell it, with its real arguments.
    pub fn syscall(&self) -> String {
        match self {
            Call::Mount {
                source,
                target,
                fstype,
                flags,
                data,
            } => format!(
                "mount({}, {}, {}, {}, {})",
                c_str(source.as_deref()),
                c_str(Some(&target.display().to_string())),
                c_str(fstype.as_deref()),
                ms_flags(*flags),
                c_str(data.as_deref())
            ),
            Call::Umount { target, flags } => {
                let f = if flags.contains(MntFlags::MNT_DETACH) {
                    "MNT_DETACH"
                } else {
                    "0"
                };
                format!(
                    "umount2({}, {f})",
                    c_str(Some(&target.display().to_string()))
                )
            }
            Call::PivotRoot { new_root, put_old } => format!(
                "pivot_root({}, {})",
                c_str(Some(&new_root.display().to_string())),
                c_str(Some(&put_old.display().to_string()))
            ),
            Call::Chdir(p) => format!("chdir({})", c_str(Some(&p.display().to_string()))),
            Call::Setns { path, nstype, .. } => format!(
                "setns(open({}), {})",
                c_str(Some(&path.display().to_string())),
                ns_names(*nstype).0
            ),
            Call::Unshare(f) => format!("unshare({})", ns_names(*f).0),
            Call::Sethostname(h) => format!("sethostname({}, {})", c_str(Some(h)), h.len()),
            Call::Chroot(p) => format!("chroot({})", c_str(Some(&p.display().to_string()))),
            Call::Setrlimit {
                name, soft, hard, ..
            } => format!(
                "prlimit(0, {name}, {{{}, {}}}, NULL)",
                rlim(*soft),
                rlim(*hard)
            ),
            Call::Seccomp { program, flags } => format!(
                "seccomp(SECCOMP_SET_MODE_FILTER, {}, {{len={}, filter=[BPF]}})",
                seccomp_flags(*flags),
                program.len()
            ),
            Call::Mknod {
                path,
                node,
                mode,
                major,
                minor,
            } => format!(
                "mknod({}, {}|{mode:04o}, makedev({major}, {minor}))",
                c_str(Some(&path.display().to_string())),
                node.s_if()
            ),
        }
    }

    /// The shell command that does the same.
    pub fn shell(&self) -> String {
        match self {
            Call::Mount {
                source,
                target,
                fstype,
                flags,
                data,
            } => mount_shell(source.as_deref(), target, fstype.as_deref(), *flags, data),
            Call::Umount { target, flags } => {
                let l = if flags.contains(MntFlags::MNT_DETACH) {
                    "-l "
                } else {
                    ""
                };
                format!("umount {l}{}", target.display())
            }
            Call::PivotRoot { new_root, put_old } => {
                format!("pivot_root {} {}", new_root.display(), put_old.display())
            }
            Call::Chdir(p) => format!("cd {}", p.display()),
            Call::Setns { path, nstype, .. } => {
                format!("nsenter --{}={}", ns_names(*nstype).1, path.display())
            }
            Call::Unshare(f) => format!("unshare --{}", ns_names(*f).1),
            Call::Sethostname(h) => format!("hostname {h}"),
            Call::Chroot(p) => format!("chroot {}", p.display()),
            Call::Setrlimit {
                name, soft, hard, ..
            } => format!(
                "prlimit --{}={}:{} --pid $$",
                rlimit_option(name),
                rlim_shell(*soft),
                rlim_shell(*hard)
            ),
            // bubblewrap loads a compiled filter from a descriptor.
            Call::Seccomp { program, .. } => format!(
                "bwrap --seccomp 3 ... 3<filter.bpf  # {} instructions",
                program.len()
            ),
            Call::Mknod {
                path,
                node: Node::Fifo,
                mode,
                ..
            } => format!("mknod -m {mode:o} {} p", path.display()),
            Call::Mknod {
                path,
                node,
                mode,
                major,
                minor,
            } => format!(
                "mknod -m {mode:o} {} {} {major} {minor}",
                path.display(),
                node.letter()
            ),
        }
    }
}

const RLIM_INFINITY: u64 = u64::MAX;

fn rlim(v: u64) -> String {
    if v == RLIM_INFINITY {
        "RLIM_INFINITY".into()
    } else {
        v.to_string()
    }
}

fn rlim_shell(v: u64) -> String {
    if v == RLIM_INFINITY {
        "unlimited".into()
    } else {
        v.to_string()
    }
}

/// prlimit(1)'s option for `RLIMIT_*`: the name's lower-case tail
/// (`--nofile` for RLIMIT_NOFILE, `--as` for RLIMIT_AS).
fn rlimit_option(name: &str) -> String {
    name.trim_start_matches("RLIMIT_").to_ascii_lowercase()
}

fn seccomp_flags(flags: u32) -> String {
    let names: Vec<&str> = [
        (1, "SECCOMP_FILTER_FLAG_TSYNC"),
        (2, "SECCOMP_FILTER_FLAG_LOG"),
        (4, "SECCOMP_FILTER_FLAG_SPEC_ALLOW"),
    ]
    .iter()
    .filter(|(b, _)| flags & b != 0)
    .map(|(_, n)| *n)
    .collect();
    if names.is_empty() {
        "0".into()
    } else {
        names.join("|")
    }
}

fn mount_shell(
    source: Option<&str>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: &Option<String>,
) -> String {
    let t = target.display();
    let rec = flags.contains(MsFlags::MS_REC);
    for (flag, single, recursive) in [
        (MsFlags::MS_PRIVATE, "--make-private", "--make-rprivate"),
        (MsFlags::MS_SLAVE, "--make-slave", "--make-rslave"),
        (MsFlags::MS_SHARED, "--make-shared", "--make-rshared"),
    ] {
        if flags.contains(flag) {
            return format!("mount {} {t}", if rec { recursive } else { single });
        }
    }
    if flags.contains(MsFlags::MS_MOVE) {
        return format!("mount --move {} {t}", source.unwrap_or("none"));
    }
    let mut opts: Vec<String> = Vec::new();
    if flags.contains(MsFlags::MS_REMOUNT) {
        opts.push("remount".into());
        if flags.contains(MsFlags::MS_BIND) {
            opts.push("bind".into());
        }
    }
    for (flag, name) in OPTION_NAMES {
        if flags.contains(flag) {
            opts.push(name.to_string());
        }
    }
    if let Some(d) = data {
        opts.push(d.clone());
    }
    let o = if opts.is_empty() {
        String::new()
    } else {
        format!("-o {} ", opts.join(","))
    };
    if flags.contains(MsFlags::MS_REMOUNT) {
        return format!("mount {o}{t}");
    }
    let src = source.unwrap_or("none");
    if flags.contains(MsFlags::MS_BIND) {
        let b = if rec { "--rbind" } else { "--bind" };
        return format!("mount {b} {o}{src} {t}");
    }
    match fstype {
        Some(ty) => format!("mount -t {ty} {o}{src} {t}"),
        None => format!("mount {o}{src} {t}"),
    }
}

/// `-o` names of the flags a shell user can give.
const OPTION_NAMES: [(MsFlags, &str); 6] = [
    (MsFlags::MS_RDONLY, "ro"),
    (MsFlags::MS_NOSUID, "nosuid"),
    (MsFlags::MS_NODEV, "nodev"),
    (MsFlags::MS_NOEXEC, "noexec"),
    (MsFlags::MS_STRICTATIME, "strictatime"),
    (MsFlags::MS_RELATIME, "relatime"),
];

/// Every flag glassbox passes, by its C name, in a fixed order.
const FLAG_NAMES: [(MsFlags, &str); 13] = [
    (MsFlags::MS_RDONLY, "MS_RDONLY"),
    (MsFlags::MS_NOSUID, "MS_NOSUID"),
    (MsFlags::MS_NODEV, "MS_NODEV"),
    (MsFlags::MS_NOEXEC, "MS_NOEXEC"),
    (MsFlags::MS_REMOUNT, "MS_REMOUNT"),
    (MsFlags::MS_BIND, "MS_BIND"),
    (MsFlags::MS_MOVE, "MS_MOVE"),
    (MsFlags::MS_REC, "MS_REC"),
    (MsFlags::MS_PRIVATE, "MS_PRIVATE"),
    (MsFlags::MS_SLAVE, "MS_SLAVE"),
    (MsFlags::MS_SHARED, "MS_SHARED"),
    (MsFlags::MS_STRICTATIME, "MS_STRICTATIME"),
    (MsFlags::MS_RELATIME, "MS_RELATIME"),
];

fn ms_flags(flags: MsFlags) -> String {
    let mut names: Vec<&str> = FLAG_NAMES
        .iter()
        .filter(|(f, _)| flags.contains(*f))
        .map(|(_, n)| *n)
        .collect();
    let known = FLAG_NAMES
        .iter()
        .fold(MsFlags::empty(), |acc, (f, _)| acc | *f);
    let rest = flags & !known;
    let rest_text;
    if !rest.is_empty() {
        rest_text = format!("{:#x}", rest.bits());
        names.push(&rest_text);
    }
    if names.is_empty() {
        "0".into()
    } else {
        names.join("|")
    }
}

/// Namespace flags by their C names and their `unshare`/`nsenter` option
/// names, joined with `|` and ` --`.
fn ns_names(flags: CloneFlags) -> (String, String) {
    const NS: [(CloneFlags, &str, &str); 7] = [
        (CloneFlags::CLONE_NEWPID, "CLONE_NEWPID", "pid"),
        (CloneFlags::CLONE_NEWNS, "CLONE_NEWNS", "mount"),
        (CloneFlags::CLONE_NEWUTS, "CLONE_NEWUTS", "uts"),
        (CloneFlags::CLONE_NEWIPC, "CLONE_NEWIPC", "ipc"),
        (CloneFlags::CLONE_NEWNET, "CLONE_NEWNET", "net"),
        (CloneFlags::CLONE_NEWCGROUP, "CLONE_NEWCGROUP", "cgroup"),
        (CloneFlags::CLONE_NEWUSER, "CLONE_NEWUSER", "user"),
    ];
    let hit: Vec<_> = NS.iter().filter(|(f, _, _)| flags.contains(*f)).collect();
    if hit.is_empty() {
        return (format!("{:#x}", flags.bits()), String::new());
    }
    let c: Vec<&str> = hit.iter().map(|h| h.1).collect();
    let o: Vec<&str> = hit.iter().map(|h| h.2).collect();
    (c.join("|"), o.join(" --"))
}

fn c_str(s: Option<&str>) -> String {
    match s {
        Some(s) => format!("{s:?}"),
        None => "NULL".into(),
    }
}

/// Where calls go.
pub trait Kernel {
    /// Makes one call.
    fn call(&mut self, c: &Call) -> std::io::Result<()>;
}

/// The real kernel.
#[derive(Debug, Default, Clone, Copy)]
pub struct Host;

impl Kernel for Host {
    fn call(&mut self, c: &Call) -> std::io::Result<()> {
        let r = match c {
            Call::Mount {
                source,
                target,
                fstype,
                flags,
                data,
            } => nix::mount::mount(
                source.as_deref(),
                target.as_path(),
                fstype.as_deref(),
                *flags,
                data.as_deref(),
            ),
            Call::Umount { target, flags } => nix::mount::umount2(target.as_path(), *flags),
            Call::PivotRoot { new_root, put_old } => {
                nix::unistd::pivot_root(new_root.as_path(), put_old.as_path())
            }
            Call::Chdir(p) => nix::unistd::chdir(p.as_path()),
            Call::Setns { fd, nstype, .. } => {
                // SAFETY: the caller keeps the namespace file open while
                // the call is made; the fd is only borrowed for it.
                let f = unsafe { std::os::fd::BorrowedFd::borrow_raw(*fd) };
                nix::sched::setns(f, *nstype)
            }
            Call::Unshare(f) => nix::sched::unshare(*f),
            Call::Sethostname(h) => nix::unistd::sethostname(h),
            Call::Chroot(p) => nix::unistd::chroot(p.as_path()),
            Call::Setrlimit {
                resource,
                soft,
                hard,
                ..
            } => {
                let new = libc::rlimit64 {
                    rlim_cur: *soft,
                    rlim_max: *hard,
                };
                // SAFETY: prlimit64 on this process (pid 0) reads `new`,
                // which lives across the call, and writes nothing (NULL).
                let r = unsafe {
                    libc::syscall(
                        libc::SYS_prlimit64,
                        0,
                        *resource,
                        &new as *const libc::rlimit64,
                        std::ptr::null_mut::<libc::rlimit64>(),
                    )
                };
                nix::errno::Errno::result(r).map(drop)
            }
            Call::Seccomp { program, flags } => {
                #[repr(C)]
                struct SockFprog {
                    len: u16,
                    filter: *const SockFilter,
                }
                let prog = SockFprog {
                    len: program.len() as u16,
                    filter: program.as_ptr(),
                };
                // SAFETY: seccomp(2) reads `prog` and the `len`
                // instructions it points at, both alive across the call;
                // it copies them into the kernel.
                let r = unsafe {
                    libc::syscall(
                        libc::SYS_seccomp,
                        1u32, // SECCOMP_SET_MODE_FILTER
                        *flags,
                        &prog as *const SockFprog,
                    )
                };
                nix::errno::Errno::result(r).map(drop)
            }
            Call::Mknod {
                path,
                node,
                mode,
                major,
                minor,
            } => {
                use nix::sys::stat::{makedev, mknod, Mode, SFlag};
                mknod(
                    path.as_path(),
                    match node {
                        Node::Char => SFlag::S_IFCHR,
                        Node::Block => SFlag::S_IFBLK,
                        Node::Fifo => SFlag::S_IFIFO,
                    },
                    Mode::from_bits_truncate(*mode),
                    makedev(*major, *minor),
                )
            }
        };
        r.map_err(std::io::Error::from)
    }
}

/// A kernel that only writes the calls down, for tests. `fail_at` makes
/// the call of that index (0-based) fail with EPERM, to test what a step
/// does when the kernel refuses.
#[derive(Debug, Default)]
pub struct Recorder {
    /// The calls made, in order.
    pub calls: Vec<Call>,
    /// The index of a call to refuse.
    pub fail_at: Option<usize>,
}

impl Kernel for Recorder {
    fn call(&mut self, c: &Call) -> std::io::Result<()> {
        let n = self.calls.len();
        self.calls.push(c.clone());
        if self.fail_at == Some(n) {
            return Err(std::io::Error::from_raw_os_error(libc::EPERM));
        }
        Ok(())
    }
}

impl Recorder {
    /// The recorded calls as C spells them.
    pub fn syscalls(&self) -> Vec<String> {
        self.calls.iter().map(Call::syscall).collect()
    }
}

/// Writes `calls` into the event: its `syscall` field lists them as C
/// spells them, its `equivalent` as shell commands, joined in order.
pub fn describe(b: EventBuilder, calls: &[Call]) -> EventBuilder {
    if calls.is_empty() {
        return b;
    }
    let sys: Vec<String> = calls.iter().map(Call::syscall).collect();
    let sh: Vec<String> = calls.iter().map(Call::shell).collect();
    b.syscall(sys.join("; ")).equivalent(sh.join(" && "))
}

/// Makes `calls` in order, stopping at the first the kernel refuses; the
/// error names that call.
pub fn apply(k: &mut dyn Kernel, calls: &[Call]) -> Result<(), String> {
    for c in calls {
        k.call(c).map_err(|e| format!("{}: {e}", c.syscall()))?;
    }
    Ok(())
}

/// A step of kernel calls that did not happen.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// The student quit at the step's pause; nothing was called.
    #[error(transparent)]
    Aborted(#[from] crate::trace::Aborted),
    /// The kernel refused a call.
    #[error("{what}: {call}: {source}")]
    Refused {
        /// What the step was for.
        what: String,
        /// The refused call, as C spells it.
        call: String,
        /// The kernel's answer.
        #[source]
        source: std::io::Error,
    },
}

/// A whole step: announces `b` (described by `calls`), makes the calls,
/// and records the outcome. `what` says what the step is for, for the
/// error. A clean-up step ([`crate::trace::cleanup`]) runs even after the
/// student quit at a pause.
pub fn run(
    k: &mut dyn Kernel,
    b: EventBuilder,
    calls: &[Call],
    what: &str,
) -> Result<(), KernelError> {
    let s = describe(b, calls).announce()?;
    let mut r = Ok(());
    for c in calls {
        if let Err(e) = k.call(c) {
            r = Err(KernelError::Refused {
                what: what.to_string(),
                call: c.syscall(),
                source: e,
            });
            break;
        }
    }
    s.finish_with(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_mount_is_spelled_with_its_real_arguments() {
        let c =
            mount_fs("overlay", "overlay", "/r/m").data("lowerdir=/a:/b,upperdir=/u,workdir=/w");
        assert_eq!(
            c.syscall(),
            r#"mount("overlay", "/r/m", "overlay", 0, "lowerdir=/a:/b,upperdir=/u,workdir=/w")"#
        );
        assert_eq!(
            c.shell(),
            "mount -t overlay -o lowerdir=/a:/b,upperdir=/u,workdir=/w overlay /r/m"
        );
    }

    #[test]
    fn binds_remounts_and_propagation_read_as_mount_8_would_take_them() {
        assert_eq!(bind("/s", "/t", true).shell(), "mount --rbind /s /t");
        assert_eq!(
            bind("/s", "/t", false).syscall(),
            r#"mount("/s", "/t", NULL, MS_BIND, NULL)"#
        );
        assert_eq!(remount_bind_ro("/t").shell(), "mount -o remount,bind,ro /t");
        assert_eq!(
            remount_bind_ro("/t").syscall(),
            r#"mount(NULL, "/t", NULL, MS_RDONLY|MS_REMOUNT|MS_BIND, NULL)"#
        );
        assert_eq!(make_rprivate("/").shell(), "mount --make-rprivate /");
        assert_eq!(
            mount_fs("proc", "proc", "/p")
                .flags(MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV)
                .shell(),
            "mount -t proc -o nosuid,nodev,noexec proc /p"
        );
        assert_eq!(detach("/m").syscall(), r#"umount2("/m", MNT_DETACH)"#);
        assert_eq!(detach("/m").shell(), "umount -l /m");
    }

    /// The boundary holds only if nothing else calls the mount table or
    /// the namespace calls directly: every such call in src/ outside this module fails
    /// this test, with the file and line.
    #[test]
    fn only_the_kernel_module_mounts_pivots_or_enters_namespaces() {
        let forbidden = [
            "mount::mount(",
            "umount2(",
            "mount::umount(",
            "sched::setns(",
            "sched::unshare(",
            "unistd::sethostname(",
            "pivot_root(",
            "libc::mount(",
            "libc::umount",
            "use nix::mount::{mount",
            "use nix::mount::mount",
            "nix::mount::{umount",
            "unistd::chroot(",
            "libc::chroot(",
            "SYS_seccomp",
            "SYS_prlimit64",
            "libc::setrlimit(",
            "libc::prlimit",
            "PR_SET_SECCOMP",
        ];
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut stack = vec![src.clone()];
        let mut found = Vec::new();
        let mut files = 0;
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    if p != src.join("kernel") {
                        stack.push(p);
                    }
                    continue;
                }
                if p.extension().and_then(|x| x.to_str()) != Some("rs") {
                    continue;
                }
                files += 1;
                let text = std::fs::read_to_string(&p).unwrap();
                for (n, line) in text.lines().enumerate() {
                    let code = line.split("//").next().unwrap_or("");
                    // Strings name calls (error messages, docs); code makes them.
                    let code: String = code.split('"').step_by(2).collect();
                    for f in forbidden {
                        if code.contains(f) {
                            found.push(format!("{}:{}: {}", p.display(), n + 1, line.trim()));
                        }
                    }
                }
            }
        }
        assert!(files > 100, "the walk found only {files} files");
        assert!(
            found.is_empty(),
            "calls past the kernel boundary:\n{}",
            found.join("\n")
        );
    }

    #[test]
    fn namespace_calls_are_spelled_with_their_flags() {
        let c = Call::Setns {
            fd: -1,
            path: "/proc/7/ns/net".into(),
            nstype: CloneFlags::CLONE_NEWNET,
        };
        assert_eq!(
            c.syscall(),
            r#"setns(open("/proc/7/ns/net"), CLONE_NEWNET)"#
        );
        assert_eq!(c.shell(), "nsenter --net=/proc/7/ns/net");
        let u = Call::Unshare(CloneFlags::CLONE_NEWCGROUP);
        assert_eq!(
            (u.syscall(), u.shell()),
            ("unshare(CLONE_NEWCGROUP)".into(), "unshare --cgroup".into())
        );
        let h = Call::Sethostname("web".into());
        assert_eq!(
            (h.syscall(), h.shell()),
            (r#"sethostname("web", 3)"#.into(), "hostname web".into())
        );
    }

    #[test]
    fn chroot_rlimits_and_seccomp_are_spelled_with_their_arguments() {
        let m = bind(".", "/", false);
        let m = match m {
            Call::Mount { source, target, .. } => Call::Mount {
                source,
                target,
                fstype: None,
                flags: MsFlags::MS_MOVE,
                data: None,
            },
            c => c,
        };
        assert_eq!(m.syscall(), r#"mount(".", "/", NULL, MS_MOVE, NULL)"#);
        assert_eq!(m.shell(), "mount --move . /");
        let c = Call::Chroot(".".into());
        assert_eq!(
            (c.syscall(), c.shell()),
            (r#"chroot(".")"#.into(), "chroot .".into())
        );
        let r = Call::Setrlimit {
            name: "RLIMIT_NOFILE".into(),
            resource: libc::RLIMIT_NOFILE,
            soft: 1024,
            hard: RLIM_INFINITY,
        };
        assert_eq!(
            r.syscall(),
            "prlimit(0, RLIMIT_NOFILE, {1024, RLIM_INFINITY}, NULL)"
        );
        assert_eq!(r.shell(), "prlimit --nofile=1024:unlimited --pid $$");
        let s = Call::Seccomp {
            program: vec![
                SockFilter {
                    code: 6,
                    jt: 0,
                    jf: 0,
                    k: 0x7fff_0000
                };
                3
            ],
            flags: 2,
        };
        assert_eq!(
            s.syscall(),
            "seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_LOG, {len=3, filter=[BPF]})"
        );
    }

    #[test]
    fn apply_stops_at_the_refused_call_and_names_it() {
        let mut k = Recorder {
            fail_at: Some(1),
            ..Recorder::default()
        };
        let calls = [make_rprivate("/"), bind("/a", "/b", false), detach("/b")];
        let e = apply(&mut k, &calls).unwrap_err();
        assert_eq!(
            k.calls.len(),
            2,
            "the call after the refused one is not made"
        );
        assert!(
            e.starts_with(r#"mount("/a", "/b", NULL, MS_BIND, NULL): "#),
            "{e}"
        );
    }
}
