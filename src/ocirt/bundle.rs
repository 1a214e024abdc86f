//! Reading a bundle: its config.json (checked before anything is made, so
//! a bad bundle leaves nothing behind), its root directory, and the cgroup
//! and limits its `linux` section asks for.

use super::OciError;
use crate::runtime::cgroup::{Cgroup, Layout, Limits};
use oci_spec::runtime::Spec;
use std::path::{Path, PathBuf};

/// A bundle, read and checked.
pub struct Bundle {
    /// The bundle directory (absolute).
    pub dir: PathBuf,
    /// Its config.json.
    pub spec: Spec,
    /// Its root directory (absolute).
    pub rootfs: PathBuf,
}

/// Reads and checks `dir/config.json`.
pub fn load(dir: &Path) -> crate::Result<Bundle> {
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let config = dir.join("config.json");
    let text = match std::fs::read_to_string(&config) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(OciError::NoConfig(dir.display().to_string()).into())
        }
        Err(e) => return Err(OciError::BadConfig(dir.display().to_string(), e.to_string()).into()),
    };
    let spec: Spec = serde_json::from_str(&text)
        .map_err(|e| OciError::BadConfig(dir.display().to_string(), e.to_string()))?;
    let root = spec
        .root()
        .as_ref()
        .map(|r| r.path().clone())
        .ok_or_else(|| OciError::BadConfig(dir.display().to_string(), "no root.path".into()))?;
    let rootfs = if root.is_absolute() {
        root
    } else {
        dir.join(root)
    };
    if !rootfs.is_dir() {
        return Err(OciError::BadRootfs(rootfs.display().to_string()).into());
    }
    let process = spec.process().as_ref().ok_or_else(|| {
        OciError::BadConfig(dir.display().to_string(), "no process section".into())
    })?;
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(OciError::BadConfig(
            dir.display().to_string(),
            "process.args is empty: say what the container runs".into(),
        )
        .into());
    }
    check_user_namespace(&spec).map_err(|e| OciError::BadConfig(dir.display().to_string(), e))?;
    if let Some(sc) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        crate::runtime::seccomp::compile(sc)
            .map_err(|e| OciError::Unsupported(format!("linux.seccomp: {e}")))?;
    }
    Ok(Bundle { dir, spec, rootfs })
}

/// A new user namespace needs `linux.uidMappings` and `linux.gidMappings`
/// (the runtime writes them; nothing would be mapped otherwise), as runc
/// checks. Maps without a user namespace are ignored, as by runc.
fn check_user_namespace(spec: &Spec) -> Result<(), String> {
    use oci_spec::runtime::LinuxNamespaceType;
    let Some(l) = spec.linux() else {
        return Ok(());
    };
    let user = l
        .namespaces()
        .iter()
        .flatten()
        .find(|n| n.typ() == LinuxNamespaceType::User);
    let uids = l.uid_mappings().clone().unwrap_or_default();
    let gids = l.gid_mappings().clone().unwrap_or_default();
    match user {
        Some(n) if n.path().is_none() && (uids.is_empty() || gids.is_empty()) => Err(
            "a new user namespace needs linux.uidMappings and linux.gidMappings (e.g. {\"containerID\": 0, \"hostID\": 100000, \"size\": 65536})".into(),
        ),
        _ => {
            if let Some(m) = uids.iter().chain(&gids).find(|m| m.size() == 0) {
                return Err(format!(
                    "an id mapping of size 0 (containerID {}, hostID {}) maps nothing",
                    m.container_id(),
                    m.host_id()
                ));
            }
            Ok(())
        }
    }
}

/// The container's cgroup: `linux.cgroupsPath` (relative to each
/// hierarchy's root), else `glassbox-runc/ID`.
pub fn cgroup(spec: &Spec, id: &str) -> crate::Result<Cgroup> {
    let layout = Layout::detect()?;
    let path = spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().clone())
        .map(|p| p.display().to_string());
    Ok(cgroup_at(layout, path.as_deref(), id))
}

/// The cgroup named by a state record's path.
pub fn cgroup_at(layout: Layout, path: Option<&str>, id: &str) -> Cgroup {
    let name = match path.map(|p| p.trim_matches('/')) {
        Some(p) if !p.is_empty() => p.to_string(),
        _ => format!("glassbox-runc/{id}"),
    };
    Cgroup { layout, name }
}

/// The limits of `linux.resources` glassbox's cgroup code applies:
/// memory, CPU quota and PIDs.
pub fn limits(spec: &Spec) -> Limits {
    let r = spec.linux().as_ref().and_then(|l| l.resources().clone());
    let Some(r) = r else {
        return Limits::default();
    };
    let memory = r
        .memory()
        .as_ref()
        .and_then(|m| m.limit())
        .filter(|l| *l > 0)
        .map(|l| l as u64);
    let cpus = r
        .cpu()
        .as_ref()
        .and_then(|c| match (c.quota(), c.period()) {
            (Some(q), Some(p)) if q > 0 && p > 0 => Some(q as f64 / p as f64),
            _ => None,
        });
    let pids = r.pids().as_ref().map(|p| p.limit()).filter(|l| *l > 0);
    Limits { memory, cpus, pids }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroups_path_is_taken_relative_to_each_hierarchy() {
        let v2 = Layout::V2 {
            root: "/sys/fs/cgroup".into(),
        };
        let cg = cgroup_at(v2.clone(), Some("/libpod_parent/libpod-abc"), "abc");
        assert_eq!(cg.name, "libpod_parent/libpod-abc");
        assert_eq!(cgroup_at(v2, None, "t1").name, "glassbox-runc/t1");
    }

    #[test]
    fn resources_become_limits() {
        let spec: Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "linux": {"resources": {
                "memory": {"limit": 67108864},
                "cpu": {"quota": 50000, "period": 100000},
                "pids": {"limit": 20}
            }}
        }))
        .unwrap();
        let l = limits(&spec);
        assert_eq!(l.memory, Some(64 << 20));
        assert_eq!(l.cpus, Some(0.5));
        assert_eq!(l.pids, Some(20));
    }
}
