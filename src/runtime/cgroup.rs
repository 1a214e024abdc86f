//! Control groups: the container's resource limits, on either cgroup
//! version. The layout is detected at run time from the mount table
//! ([`Layout::detect`]): a cgroup2 filesystem at /sys/fs/cgroup means v2
//! (one tree, `memory.max`, `cpu.max`, `pids.max`); otherwise each v1
//! controller has its own hierarchy (`memory.limit_in_bytes`,
//! `cpu.cfs_quota_us`, `pids.max`). Hybrid hosts whose cgroup2 mount holds
//! no controllers are treated as v1.
//!
//! Every file write goes through [`CgroupFs`], the one boundary to the
//! kernel here, and each is an event with the file, the value and what it
//! means; tests swap in a recorder to check the v2 sequence on v1 hosts.

use super::RuntimeError;
use crate::trace::{self, Kind};
use std::path::{Path, PathBuf};

/// The boundary to the cgroup filesystems.
pub trait CgroupFs {
    /// `mkdir -p`.
    fn mkdir(&mut self, p: &Path) -> std::io::Result<()>;
    /// Writes `value` to a control file.
    fn write(&mut self, p: &Path, value: &str) -> std::io::Result<()>;
    /// Reads a control file.
    fn read(&mut self, p: &Path) -> std::io::Result<String>;
    /// `rmdir`.
    fn rmdir(&mut self, p: &Path) -> std::io::Result<()>;
}

/// The real cgroup filesystems.
pub struct HostFs;

impl CgroupFs for HostFs {
    fn mkdir(&mut self, p: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(p)
    }
    fn write(&mut self, p: &Path, value: &str) -> std::io::Result<()> {
        std::fs::write(p, value)
    }
    fn read(&mut self, p: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(p)
    }
    fn rmdir(&mut self, p: &Path) -> std::io::Result<()> {
        std::fs::remove_dir(p)
    }
}

/// Which cgroup version this host gives containers, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// One unified tree.
    V2 {
        /// Its mount point.
        root: PathBuf,
    },
    /// One hierarchy per controller.
    V1 {
        /// (controller, mount point) for memory, cpu, pids, freezer.
        controllers: Vec<(String, PathBuf)>,
    },
    /// No cgroup this process may make: rootless glassbox where no subtree
    /// is delegated to the user. Containers run without limits, and the
    /// run says so and why.
    Off {
        /// Why there is none.
        why: String,
    },
}

/// The v1 controllers glassbox uses.
pub const V1_CONTROLLERS: [&str; 4] = ["memory", "cpu", "pids", "freezer"];

impl Layout {
    /// Reads the mount table to find the layout.
    pub fn detect() -> Result<Layout, RuntimeError> {
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let layout = Layout::from_mountinfo(&info).ok_or(RuntimeError::NoCgroups)?;
        if crate::kernel::userns::inside() {
            return Ok(Layout::rootless(layout));
        }
        Ok(layout)
    }

    /// What a process that is root only inside a user namespace may use of
    /// the host's `layout`: the cgroup directories belong to the host's
    /// root, so only a v2 subtree *delegated* to the user (its directory
    /// and its `cgroup.procs` and `cgroup.subtree_control` owned by the
    /// user, as systemd does for `user@UID.service`, or an administrator
    /// with `chown`) holding this process's own cgroup can be used: its
    /// topmost such ancestor becomes the root glassbox makes its cgroups
    /// under. Otherwise there is none, and the run says why.
    fn rootless(layout: Layout) -> Layout {
        let why = match &layout {
            Layout::V1 { .. } => {
                "cgroup v1 hierarchies cannot be delegated to a user: only root writes them"
                    .to_string()
            }
            Layout::V2 { root } => {
                let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
                match delegated_root(root, &own, &|p| owned_by_me(p)) {
                    Some(d) => return Layout::V2 { root: d },
                    None => format!(
                        "no cgroup v2 subtree holding this process ({}) is delegated to you; \
                         start glassbox inside one (systemd: `systemd-run --user --scope glassbox …`)",
                        own.trim().trim_start_matches("0::")
                    ),
                }
            }
            Layout::Off { why } => why.clone(),
        };
        Layout::Off { why }
    }

    /// Parses `/proc/self/mountinfo` text.
    pub fn from_mountinfo(info: &str) -> Option<Layout> {
        let mut v1 = Vec::new();
        for line in info.lines() {
            let (left, right) = line.split_once(" - ")?;
            let point = left.split(' ').nth(4)?;
            let mut r = right.split(' ');
            let fstype = r.next()?;
            let _source = r.next();
            let opts = r.next().unwrap_or("");
            if fstype == "cgroup2" && point == "/sys/fs/cgroup" {
                return Some(Layout::V2 {
                    root: PathBuf::from(point),
                });
            }
            if fstype == "cgroup" {
                for c in V1_CONTROLLERS {
                    if opts.split(',').any(|o| o == c) && !v1.iter().any(|(n, _)| n == c) {
                        v1.push((c.to_string(), PathBuf::from(point)));
                    }
                }
            }
        }
        (!v1.is_empty()).then_some(Layout::V1 { controllers: v1 })
    }

    /// "v1" or "v2".
    pub fn version(&self) -> &'static str {
        match self {
            Layout::V1 { .. } => "v1",
            Layout::V2 { .. } => "v2",
            Layout::Off { .. } => "none",
        }
    }
}

/// The topmost directory between the v2 `mount` (excluded) and this
/// process's own cgroup (from `/proc/self/cgroup` text `own`) that `mine`
/// says is delegated, with nothing but delegated directories below it on
/// the way down; `None` when the own cgroup itself is not delegated.
pub fn delegated_root(mount: &Path, own: &str, mine: &dyn Fn(&Path) -> bool) -> Option<PathBuf> {
    let rel = own.lines().find_map(|l| l.strip_prefix("0::"))?.trim();
    let mut dir = mount.join(rel.trim_start_matches('/'));
    let mut found = None;
    while dir != mount && dir.starts_with(mount) && mine(&dir) {
        found = Some(dir.clone());
        dir = dir.parent()?.to_path_buf();
    }
    found
}

/// Whether a cgroup directory is delegated to this process's user: the
/// directory and the files a delegate writes are its own (uid 0 inside
/// a user namespace is the user).
fn owned_by_me(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let me = nix::unistd::geteuid().as_raw();
    ["", "cgroup.procs", "cgroup.subtree_control"]
        .iter()
        .all(|f| std::fs::metadata(dir.join(f)).is_ok_and(|m| m.uid() == me))
}

/// Resource limits from the command line.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Limits {
    /// `--memory`, in bytes.
    pub memory: Option<u64>,
    /// `--cpus`, in CPUs (1.5 = one and a half).
    pub cpus: Option<f64>,
    /// `--pids-limit`.
    pub pids: Option<i64>,
}

use crate::store::container::LimitsRecord;

impl From<Limits> for LimitsRecord {
    fn from(l: Limits) -> Self {
        LimitsRecord {
            memory: l.memory,
            cpus: l.cpus,
            pids: l.pids,
        }
    }
}

impl From<LimitsRecord> for Limits {
    fn from(l: LimitsRecord) -> Self {
        Limits {
            memory: l.memory,
            cpus: l.cpus,
            pids: l.pids,
        }
    }
}

/// The smallest memory limit Docker accepts (6 MiB).
pub const MIN_MEMORY: u64 = 6 * 1024 * 1024;

/// Parses `64m`, `1g`, `512k`, `1048576`.
pub fn parse_memory(s: &str) -> Result<u64, RuntimeError> {
    let bad = || RuntimeError::BadMemory(s.to_string());
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1u64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    let n: u64 = num.parse().map_err(|_| bad())?;
    let bytes = n.checked_mul(mult).ok_or_else(bad)?;
    if bytes < MIN_MEMORY {
        return Err(RuntimeError::MemoryTooSmall(s.to_string()));
    }
    Ok(bytes)
}

/// One control-file write: file, value and what it means.
#[derive(Debug, Clone, PartialEq)]
pub struct Write {
    /// The controller's directory for this container.
    pub dir: PathBuf,
    /// The file name.
    pub file: &'static str,
    /// What is written.
    pub value: String,
    /// What it means, for the student.
    pub meaning: String,
}

/// A container's cgroup, one directory per hierarchy.
#[derive(Debug, Clone)]
pub struct Cgroup {
    /// The layout it lives in.
    pub layout: Layout,
    /// The relative path (`glassbox/<id>`).
    pub name: String,
}

const PERIOD_US: u64 = 100_000;

impl Cgroup {
    /// The cgroup of container `id` in `layout`.
    pub fn new(layout: Layout, id: &str) -> Cgroup {
        Cgroup {
            layout,
            name: format!("glassbox/{id}"),
        }
    }

    /// Every directory of this cgroup (one on v2, one per controller on v1).
    pub fn dirs(&self) -> Vec<(String, PathBuf)> {
        match &self.layout {
            Layout::V2 { root } => vec![("unified".into(), root.join(&self.name))],
            Layout::V1 { controllers } => controllers
                .iter()
                .map(|(c, p)| (c.clone(), p.join(&self.name)))
                .collect(),
            Layout::Off { .. } => Vec::new(),
        }
    }

    fn dir_of(&self, controller: &str) -> Option<PathBuf> {
        match &self.layout {
            Layout::V2 { root } => Some(root.join(&self.name)),
            Layout::V1 { controllers } => controllers
                .iter()
                .find(|(c, _)| c == controller)
                .map(|(_, p)| p.join(&self.name)),
            Layout::Off { .. } => None,
        }
    }

    /// The writes that carry out `limits`, in order.
    pub fn limit_writes(&self, limits: &Limits) -> Vec<Write> {
        let mut w = Vec::new();
        let v2 = matches!(self.layout, Layout::V2 { .. });
        let mut push = |controller: &str, file: &'static str, value: String, meaning: String| {
            if let Some(dir) = self.dir_of(controller) {
                w.push(Write {
                    dir,
                    file,
                    value,
                    meaning,
                });
            }
        };
        if let Some(m) = limits.memory {
            let file = if v2 {
                "memory.max"
            } else {
                "memory.limit_in_bytes"
            };
            push(
                "memory",
                file,
                m.to_string(),
                format!("the container's processes may use at most {m} bytes of memory; past that the kernel reclaims, then OOM-kills one of them"),
            );
            if v2 {
                push(
                    "memory",
                    "memory.swap.max",
                    "0".into(),
                    "no swap, so the memory limit is a hard wall".into(),
                );
            }
        }
        if let Some(c) = limits.cpus {
            let quota = (c * PERIOD_US as f64).round() as u64;
            if v2 {
                push(
                    "cpu",
                    "cpu.max",
                    format!("{quota} {PERIOD_US}"),
                    format!("at most {quota} µs of CPU time every {PERIOD_US} µs, i.e. {c} CPUs"),
                );
            } else {
                push(
                    "cpu",
                    "cpu.cfs_period_us",
                    PERIOD_US.to_string(),
                    format!("the scheduler's accounting period is {PERIOD_US} µs"),
                );
                push(
                    "cpu",
                    "cpu.cfs_quota_us",
                    quota.to_string(),
                    format!("at most {quota} µs of CPU time per period, i.e. {c} CPUs"),
                );
            }
        }
        if let Some(p) = limits.pids {
            let value = if p <= 0 {
                "max".to_string()
            } else {
                p.to_string()
            };
            push(
                "pids",
                "pids.max",
                value.clone(),
                format!(
                    "at most {value} processes and threads at once; fork fails with EAGAIN beyond"
                ),
            );
        }
        w
    }

    /// Creates the directories and applies the limits, one event each.
    ///
    /// The last container to go removes the shared `glassbox/` directory
    /// (see [`Cgroup::remove`]); if that happens between our making it and
    /// our child in it, the child's mkdir finds no parent (ENOENT), and the
    /// whole creation is simply done again.
    pub fn create(&self, fs: &mut dyn CgroupFs, limits: &Limits) -> crate::Result<()> {
        let mut attempt = 0;
        loop {
            match self.create_once(fs, limits) {
                Err(crate::Error::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound && attempt < 3 =>
                {
                    attempt += 1;
                }
                r => return r,
            }
        }
    }

    fn create_once(&self, fs: &mut dyn CgroupFs, limits: &Limits) -> crate::Result<()> {
        if let Layout::Off { why } = &self.layout {
            let asked: Vec<&str> = [
                limits.memory.map(|_| "--memory"),
                limits.cpus.map(|_| "--cpus"),
                limits.pids.map(|_| "--pids-limit"),
            ]
            .into_iter()
            .flatten()
            .collect();
            trace::fact(Kind::Cgroup, "unavailable", format!("cgroup {}", self.name))
                .field("why", why)
                .field("limits_not_applied", asked)
                .info();
            return Ok(());
        }
        if let Layout::V2 { root } = &self.layout {
            // v2 hands controllers down the tree: enable them for children of
            // the root and of glassbox/.
            for dir in [root.clone(), root.join("glassbox")] {
                fs.mkdir(&dir).map_err(|e| kerr(&dir, e))?;
                write_step(
                    fs,
                    &dir,
                    "cgroup.subtree_control",
                    "+memory +cpu +pids",
                    "let child cgroups use the memory, cpu and pids controllers",
                )?;
            }
        }
        for (controller, dir) in self.dirs() {
            let s = trace::step(Kind::Cgroup, "create", format!("{controller} cgroup"))
                .field("path", dir.display().to_string())
                .field("version", self.layout.version())
                .equivalent(format!("mkdir -p {}", dir.display()))
                .syscall("mkdir(2)")
                .announce()?;
            s.finish_with(fs.mkdir(&dir).map_err(|e| kerr(&dir, e)))?;
        }
        for w in self.limit_writes(limits) {
            if w.file == "memory.swap.max" && !swap_accounted(fs, &w.dir) {
                continue;
            }
            write_step(fs, &w.dir, w.file, &w.value, &w.meaning)?;
        }
        Ok(())
    }

    /// The PIDs in the cgroup (`cgroup.procs` of its first directory: on
    /// v1 every hierarchy holds the same processes).
    pub fn procs(&self) -> Vec<i32> {
        self.dirs()
            .first()
            .and_then(|(_, d)| std::fs::read_to_string(d.join("cgroup.procs")).ok())
            .map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect())
            .unwrap_or_default()
    }

    /// Moves `pid` into every directory of the cgroup.
    pub fn join(&self, fs: &mut dyn CgroupFs, pid: i32) -> crate::Result<()> {
        if matches!(self.layout, Layout::Off { .. }) {
            return Ok(());
        }
        let files: Vec<PathBuf> = self
            .dirs()
            .into_iter()
            .map(|(_, d)| d.join("cgroup.procs"))
            .collect();
        let s = trace::step(Kind::Cgroup, "join", format!("pid {pid}"))
            .field("pid", pid)
            .field(
                "files",
                files
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect::<Vec<_>>(),
            )
            .equivalent(format!("echo {pid} > {}", files[0].display()))
            .syscall("write(2)")
            .announce()?;
        let r = files
            .iter()
            .try_for_each(|f| fs.write(f, &pid.to_string()).map_err(|e| kerr(f, e)));
        s.finish_with(r)?;
        Ok(())
    }

    /// Freezes (`true`) or thaws every process of the cgroup: the v1
    /// freezer's `freezer.state`, or v2's `cgroup.freeze`.
    pub fn freeze(&self, fs: &mut dyn CgroupFs, frozen: bool) -> crate::Result<()> {
        if let Layout::Off { why } = &self.layout {
            return Err(RuntimeError::NoFreezer(why.clone()).into());
        }
        let (file, value, meaning) = match (&self.layout, frozen) {
            (Layout::V2 { .. }, true) => (
                "cgroup.freeze",
                "1",
                "stop every process of the cgroup where it stands",
            ),
            (Layout::V2 { .. }, false) => {
                ("cgroup.freeze", "0", "let the frozen processes run again")
            }
            (Layout::V1 { .. }, true) => (
                "freezer.state",
                "FROZEN",
                "stop every process of the cgroup where it stands",
            ),
            (Layout::V1 { .. }, false) => (
                "freezer.state",
                "THAWED",
                "let the frozen processes run again",
            ),
            (Layout::Off { .. }, _) => unreachable!("returned above"),
        };
        let Some(dir) = self.dir_of("freezer") else {
            return Err(RuntimeError::NoCgroups.into());
        };
        write_step(fs, &dir, file, value, meaning)?;
        match self.layout {
            Layout::V2 { .. } => confirm_frozen(fs, &dir, frozen),
            Layout::V1 { .. } | Layout::Off { .. } => Ok(()),
        }
    }

    /// Whether the kernel OOM-killed a process of this cgroup.
    pub fn oom_killed(&self, fs: &mut dyn CgroupFs) -> bool {
        let file = match &self.layout {
            Layout::V2 { .. } => "memory.events",
            Layout::V1 { .. } => "memory.oom_control",
            Layout::Off { .. } => return false,
        };
        let Some(dir) = self.dir_of("memory") else {
            return false;
        };
        fs.read(&dir.join(file))
            .map(|t| {
                t.lines().any(|l| {
                    l.strip_prefix("oom_kill ")
                        .and_then(|n| n.trim().parse::<u64>().ok())
                        .is_some_and(|n| n > 0)
                })
            })
            .unwrap_or(false)
    }

    /// The most memory the cgroup's processes used at once, in bytes, and
    /// the file it was read from (v2 `memory.peak`, v1
    /// `memory.max_usage_in_bytes`); `None` when the kernel keeps no peak.
    pub fn memory_peak(&self, fs: &mut dyn CgroupFs) -> Option<(u64, PathBuf)> {
        let file = match &self.layout {
            Layout::V2 { .. } => "memory.peak",
            Layout::V1 { .. } => "memory.max_usage_in_bytes",
            Layout::Off { .. } => return None,
        };
        let path = self.dir_of("memory")?.join(file);
        let n = fs.read(&path).ok()?.trim().parse().ok()?;
        Some((n, path))
    }

    /// Removes the (empty) directories.
    pub fn remove(&self, fs: &mut dyn CgroupFs) -> crate::Result<()> {
        if matches!(self.layout, Layout::Off { .. }) {
            return Ok(());
        }
        let dirs: Vec<String> = self
            .dirs()
            .iter()
            .map(|(_, d)| d.display().to_string())
            .collect();
        let s = trace::cleanup(Kind::Cgroup, "remove", format!("cgroup {}", self.name))
            .field("paths", &dirs)
            .equivalent(format!("rmdir {}", dirs.join(" ")))
            .syscall("rmdir(2)")
            .announce()?;
        let mut r = Ok(());
        for d in &dirs {
            let p = Path::new(d);
            // The processes are gone, but the kernel may need a moment to
            // finish tearing them down: retry on EBUSY for up to 5 s (a loaded host can take seconds).
            let mut tries = 0;
            loop {
                match fs.rmdir(p) {
                    Ok(()) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) && tries < 500 => {
                        tries += 1;
                        std::thread::sleep(std::time::Duration::from_millis(10));
                    }
                    Err(e) => {
                        r = Err(kerr(p, e));
                        break;
                    }
                }
            }
            // The shared glassbox/ directory goes with the last container
            // (rmdir fails harmlessly while others are in it), so the host's
            // cgroup tree looks as it did before glassbox ran.
            if r.is_ok() {
                if let Some(parent) = p.parent() {
                    let _ = fs.rmdir(parent);
                }
            }
        }
        s.finish_with(r)?;
        Ok(())
    }
}

/// Whether the v2 kernel accounts swap per cgroup: without it (a kernel
/// built without swap accounting) there is no `memory.swap.max`, and
/// `--memory` still works, limiting RAM alone; an event says so rather than
/// failing the run.
fn swap_accounted(fs: &mut dyn CgroupFs, dir: &Path) -> bool {
    let path = dir.join("memory.swap.max");
    match fs.read(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            trace::fact(Kind::Cgroup, "skip", "memory.swap.max")
                .field("file", path.display().to_string())
                .field(
                    "reason",
                    "this kernel keeps no swap accounting per cgroup, so the limit covers RAM only and the container may also use swap",
                )
                .equivalent(format!("ls {}", dir.display()))
                .info();
            false
        }
        _ => true,
    }
}

/// How long the kernel may take to stop (or restart) every process of a
/// cgroup before `pause` says it did not.
pub const FREEZE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// On v2 a write to `cgroup.freeze` only asks: the kernel stops each process
/// when it next leaves the kernel, and says so in `cgroup.events`
/// (`frozen 1`) once all have stopped. `pause` returns only then, so a
/// paused container really is still.
fn confirm_frozen(fs: &mut dyn CgroupFs, dir: &Path, frozen: bool) -> crate::Result<()> {
    let path = dir.join("cgroup.events");
    let want = if frozen { "frozen 1" } else { "frozen 0" };
    let s = trace::step(Kind::Cgroup, "confirm", "cgroup.events")
        .field("file", path.display().to_string())
        .field("expect", want)
        .equivalent(format!("grep frozen {}", path.display()))
        .syscall("read(2)")
        .announce()?;
    let started = std::time::Instant::now();
    let r = loop {
        match fs.read(&path) {
            Ok(t) if t.lines().any(|l| l.trim() == want) => break Ok(()),
            Ok(t) if started.elapsed() >= FREEZE_WAIT => {
                let now = t
                    .lines()
                    .find(|l| l.starts_with("frozen"))
                    .unwrap_or("no frozen line");
                break Err(crate::Error::Io {
                    context: format!(
                        "waiting for \"{want}\" in {} (it still says \"{now}\" after {} s: a process may be stuck in the kernel; look with `cat {}` and try again)",
                        path.display(),
                        FREEZE_WAIT.as_secs(),
                        path.display()
                    ),
                    source: std::io::ErrorKind::TimedOut.into(),
                });
            }
            Ok(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
            Err(e) => break Err(kerr(&path, e)),
        }
    };
    s.finish_with(r)?;
    Ok(())
}

fn kerr(p: &Path, e: std::io::Error) -> crate::Error {
    crate::Error::Io {
        context: format!("cgroup {}", p.display()),
        source: e,
    }
}

fn write_step(
    fs: &mut dyn CgroupFs,
    dir: &Path,
    file: &str,
    value: &str,
    meaning: &str,
) -> crate::Result<()> {
    let path = dir.join(file);
    let s = trace::step(Kind::Cgroup, "limit", file.to_string())
        .field("file", path.display().to_string())
        .field("value", value)
        .field("meaning", meaning)
        .equivalent(format!("echo '{value}' > {}", path.display()))
        .syscall("write(2)")
        .announce()?;
    let r = fs.write(&path, value).map_err(|e| crate::Error::Io {
        context: format!(
            "writing {value:?} to {} (the kernel refused this limit)",
            path.display()
        ),
        source: e,
    });
    s.finish_with(r)?;
    Ok(())
}

#[cfg(test)]
mod tests;
