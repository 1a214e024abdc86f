//! The namespaces a container gets, with the names a student meets them by:
//! the `clone` flag, the `unshare` option and the `/proc/PID/ns` entry.

use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

/// One kind of namespace and its names.
#[derive(Debug, Clone, Copy)]
pub struct NamespaceInfo {
    /// Human name ("pid", "mount").
    pub name: &'static str,
    /// The `CLONE_NEW*` flag name.
    pub flag: &'static str,
    /// The `unshare(1)` option.
    pub unshare: &'static str,
    /// The entry under `/proc/PID/ns/`.
    pub proc_name: &'static str,
    /// The flag itself.
    pub clone: CloneFlags,
}

/// Every namespace glassbox can make, keyed by the spec's type.
pub fn info(t: LinuxNamespaceType) -> Option<NamespaceInfo> {
    let i = |name, flag, unshare, proc_name, clone| NamespaceInfo {
        name,
        flag,
        unshare,
        proc_name,
        clone,
    };
    Some(match t {
        LinuxNamespaceType::Pid => i(
            "pid",
            "CLONE_NEWPID",
            "--pid",
            "pid",
            CloneFlags::CLONE_NEWPID,
        ),
        LinuxNamespaceType::Mount => i(
            "mount",
            "CLONE_NEWNS",
            "--mount",
            "mnt",
            CloneFlags::CLONE_NEWNS,
        ),
        LinuxNamespaceType::Uts => i(
            "uts",
            "CLONE_NEWUTS",
            "--uts",
            "uts",
            CloneFlags::CLONE_NEWUTS,
        ),
        LinuxNamespaceType::Ipc => i(
            "ipc",
            "CLONE_NEWIPC",
            "--ipc",
            "ipc",
            CloneFlags::CLONE_NEWIPC,
        ),
        LinuxNamespaceType::Network => i(
            "net",
            "CLONE_NEWNET",
            "--net",
            "net",
            CloneFlags::CLONE_NEWNET,
        ),
        LinuxNamespaceType::Cgroup => i(
            "cgroup",
            "CLONE_NEWCGROUP",
            "--cgroup",
            "cgroup",
            CloneFlags::CLONE_NEWCGROUP,
        ),
        LinuxNamespaceType::User => i(
            "user",
            "CLONE_NEWUSER",
            "--user",
            "user",
            CloneFlags::CLONE_NEWUSER,
        ),
        _ => return None,
    })
}

/// The new namespaces the spec asks for, in its order (those it names by
/// path are joined instead: see [`to_join`]).
pub fn in_spec(spec: &Spec) -> Vec<NamespaceInfo> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .map(|ns| {
            ns.iter()
                .filter(|n| n.path().is_none())
                .filter_map(|n| info(n.typ()))
                .collect()
        })
        .unwrap_or_default()
}

/// The existing namespaces the spec names by path, to join with `setns`.
pub fn to_join(spec: &Spec) -> Vec<(NamespaceInfo, std::path::PathBuf)> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .map(|ns| {
            ns.iter()
                .filter_map(|n| Some((info(n.typ())?, n.path().clone()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// The `clone` flags for the spec's namespaces.
pub fn clone_flags(spec: &Spec) -> CloneFlags {
    in_spec(spec)
        .iter()
        .fold(CloneFlags::empty(), |acc, n| acc | n.clone)
}

/// Opens a namespace file (`/proc/PID/ns/net`, or a path a spec names).
pub(crate) fn open(path: &std::path::Path) -> crate::Result<std::fs::File> {
    std::fs::File::open(path).map_err(|e| crate::Error::Io {
        context: format!("opening {}", path.display()),
        source: e,
    })
}

/// Joins the namespace `n` open as `f` (the file `path`) with `setns(2)`,
/// as the step `b`.
pub(crate) fn join(
    n: &NamespaceInfo,
    path: &std::path::Path,
    f: &std::fs::File,
    b: crate::trace::EventBuilder,
) -> crate::Result<()> {
    use crate::kernel::{self, Call};
    let call = Call::Setns {
        fd: std::os::fd::AsRawFd::as_raw_fd(f),
        path: path.to_path_buf(),
        nstype: n.clone,
    };
    kernel::run(
        &mut kernel::Host,
        b,
        &[call],
        &format!("joining the {} namespace", n.name),
    )?;
    Ok(())
}

/// Joins the namespaces `list` of the process `pid` (`glassbox exec`,
/// `glassbox-runc exec`): every `/proc/PID/ns/*` file is opened first —
/// after joining the mount namespace the host's /proc/PID is no longer
/// where it was — then each is joined with `setns(2)`, one event each.
pub(crate) fn join_all(pid: i32, list: &[NamespaceInfo]) -> crate::Result<()> {
    use crate::trace::{self, Kind};
    let mut files = Vec::new();
    for n in list {
        let path = std::path::PathBuf::from(format!("/proc/{pid}/ns/{}", n.proc_name));
        let f = open(&path)?;
        files.push((n, path, f));
    }
    for (n, path, f) in &files {
        join(
            n,
            path,
            f,
            trace::step(Kind::Namespace, "setns", format!("{} namespace", n.name))
                .field("pid", pid)
                .field("flag", n.flag),
        )?;
    }
    Ok(())
}
