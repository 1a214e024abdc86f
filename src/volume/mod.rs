//! Named volumes and bind mounts: where a container's data lives when it
//! must outlive the container's writable layer.
//!
//! A named volume is a plain directory, `ROOT/volumes/<name>/_data`, like
//! Docker's `local` driver; `meta.json` beside it records when it was made
//! and whether it is anonymous (made for an image `VOLUME` or a bare
//! `-v /path`, removed with `rm -v`). A bind mount is a host directory
//! given by its absolute path. Both become `bind` mounts in the
//! container's runtime spec; the container's init mounts them
//! ([`crate::runtime`]), copying the image's content into a new, empty
//! volume first as Docker does ([`copy_tree`]).
//!
//! Which containers use a volume is runtime knowledge; the checks that need
//! it live in `runtime::volumes`.

use crate::error::IoContext;
pub use crate::store::container::MountRecord;
use crate::trace::{self, Kind};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What can be wrong with a volume or a `-v` argument.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// `-v` that is not `SOURCE:DEST[:ro|rw]` or `DEST`.
    #[error("volume {0:?} is not NAME:/path, /host/path:/path or /path (optionally :ro or :rw); write it like -v data:/srv")]
    BadSpec(String),
    /// A volume name with characters Docker does not allow.
    #[error("volume name {0:?} has invalid characters; use letters, digits, _ . - (starting with a letter or digit), or an absolute path for a bind mount")]
    BadName(String),
    /// No such volume.
    #[error("no volume named {0:?}; list them with `glassbox volume ls`")]
    NoSuchVolume(String),
    /// `volume create NAME` for a name already taken.
    #[error("volume {0:?} already exists; remove it with `glassbox volume rm {0}` or choose another name")]
    Exists(String),
    /// `volume rm` of a volume a container still uses.
    #[error("volume {0:?} is in use by container {1}; remove the container first with `glassbox rm {1}`")]
    InUse(String, String),
}

/// Where a mount's data comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A named volume (created on first use).
    Named(String),
    /// A host path (absolute).
    Bind(PathBuf),
    /// A new anonymous volume.
    Anonymous,
}

/// One parsed `-v` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Where the data comes from.
    pub source: Source,
    /// The absolute path inside the container.
    pub destination: String,
    /// `:ro`.
    pub read_only: bool,
}

/// Parses `-v NAME:/dst[:ro|rw]`, `-v /host:/dst[:ro|rw]` or `-v /dst`.
pub fn parse(spec: &str) -> Result<Request, VolumeError> {
    let bad = || VolumeError::BadSpec(spec.to_string());
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, mode) = match parts.as_slice() {
        [d] => (None, *d, None),
        [s, d] if d.starts_with('/') => (Some(*s), *d, None),
        [d, m] if d.starts_with('/') && matches!(*m, "ro" | "rw") => (None, *d, Some(*m)),
        [s, d, m] => (Some(*s), *d, Some(*m)),
        _ => return Err(bad()),
    };
    if !dst.starts_with('/') || dst.contains("/../") || dst.ends_with("/..") {
        return Err(bad());
    }
    let read_only = match mode {
        None | Some("rw") => false,
        Some("ro") => true,
        Some(_) => return Err(bad()),
    };
    let source = match src {
        None => Source::Anonymous,
        Some("") => return Err(bad()),
        Some(s) if s.starts_with('/') => Source::Bind(PathBuf::from(s)),
        Some(s) => {
            check_name(s)?;
            Source::Named(s.to_string())
        }
    };
    Ok(Request {
        source,
        destination: dst.to_string(),
        read_only,
    })
}

/// Checks a volume name against Docker's rule `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn check_name(name: &str) -> Result<(), VolumeError> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(VolumeError::BadName(name.to_string()))
    }
}

/// What is recorded about a volume beside its data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    /// Creation time (RFC 3339).
    pub created: String,
    /// Made for an image VOLUME or a bare `-v /path`.
    pub anonymous: bool,
}

/// One volume as `volume ls` and `volume inspect` show it.
#[derive(Debug, Clone)]
pub struct Volume {
    /// Its name.
    pub name: String,
    /// `ROOT/volumes/<name>/_data`.
    pub mountpoint: PathBuf,
    /// Its recorded facts.
    pub meta: Meta,
}

/// `ROOT/volumes`.
pub fn volumes_dir(root: &Path) -> PathBuf {
    root.join("volumes")
}

/// `ROOT/volumes/<name>/_data`.
pub fn data_dir(root: &Path, name: &str) -> PathBuf {
    volumes_dir(root).join(name).join("_data")
}

/// Whether `path` is the data directory of a volume of `root`.
pub fn is_volume_data(root: &Path, path: &Path) -> bool {
    path.starts_with(volumes_dir(root)) && path.ends_with("_data")
}

/// Reads one volume.
pub fn get(root: &Path, name: &str) -> Result<Volume, crate::Error> {
    let meta_path = volumes_dir(root).join(name).join("meta.json");
    if check_name(name).is_err() || !meta_path.exists() {
        return Err(crate::Error::Volume(VolumeError::NoSuchVolume(
            name.to_string(),
        )));
    }
    let text = std::fs::read(&meta_path).ctx(|| format!("reading {}", meta_path.display()))?;
    let meta: Meta = serde_json::from_slice(&text)
        .map_err(std::io::Error::other)
        .ctx(|| format!("parsing {}", meta_path.display()))?;
    Ok(Volume {
        name: name.to_string(),
        mountpoint: data_dir(root, name),
        meta,
    })
}

/// Every volume, sorted by name.
pub fn list(root: &Path) -> Vec<Volume> {
    let mut names: Vec<String> = std::fs::read_dir(volumes_dir(root))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names.iter().filter_map(|n| get(root, n).ok()).collect()
}

/// Creates a volume (an error when it exists); returns its data directory.
pub fn create(root: &Path, name: &str, anonymous: bool) -> crate::Result<PathBuf> {
    check_name(name)?;
    let dir = volumes_dir(root).join(name);
    if dir.join("meta.json").exists() {
        return Err(VolumeError::Exists(name.to_string()).into());
    }
    let data = dir.join("_data");
    let s = trace::step(Kind::Volume, "create", format!("volume {name}"))
        .field("name", name)
        .field("anonymous", anonymous)
        .field("mountpoint", data.display().to_string())
        .equivalent(format!("mkdir -p {}", data.display()))
        .syscall("mkdir(2)")
        .announce()?;
    let r = (|| -> crate::Result<()> {
        std::fs::create_dir_all(&data).ctx(|| format!("creating {}", data.display()))?;
        let meta = Meta {
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            anonymous,
        };
        let json = serde_json::to_vec_pretty(&meta).map_err(std::io::Error::other);
        let tmp = dir.join("meta.json.tmp");
        std::fs::write(&tmp, json.ctx(|| "serialising volume metadata".into())?)
            .ctx(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, dir.join("meta.json")).ctx(|| format!("renaming {}", tmp.display()))
    })();
    if r.is_err() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    s.finish_with(r)?;
    crate::store::journal::record(
        root,
        "volume",
        "create",
        name,
        &[("driver", "local".into())],
    );
    Ok(data)
}

/// The data directory of a named volume, creating the volume on first use.
pub fn ensure(root: &Path, name: &str) -> crate::Result<PathBuf> {
    match get(root, name) {
        Ok(v) => Ok(v.mountpoint),
        Err(_) => create(root, name, false),
    }
}

/// Deletes a volume and its data (the caller checked nobody uses it).
pub fn delete(root: &Path, name: &str) -> crate::Result<()> {
    let v = get(root, name)?;
    let dir = volumes_dir(root).join(name);
    let s = trace::step(Kind::Volume, "remove", format!("volume {name}"))
        .field("name", name)
        .field("anonymous", v.meta.anonymous)
        .field("path", dir.display().to_string())
        .equivalent(format!("rm -rf {}", dir.display()))
        .announce()?;
    s.finish_with(std::fs::remove_dir_all(&dir).ctx(|| format!("removing {}", dir.display())))?;
    crate::store::journal::record(
        root,
        "volume",
        "destroy",
        name,
        &[("driver", "local".into())],
    );
    Ok(())
}

/// Copies the tree at `from` into the (empty) directory `to`, keeping
/// modes, owners and symlinks; returns the number of entries copied. Used
/// to fill a new volume with what the image has at its mount point.
pub fn copy_tree(from: &Path, to: &Path) -> std::io::Result<u64> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let mut n = 0;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let md = std::fs::symlink_metadata(&src)?;
        let ft = md.file_type();
        if ft.is_dir() {
            std::fs::create_dir(&dst)?;
            n += copy_tree(&src, &dst)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
        } else if ft.is_file() {
            std::fs::copy(&src, &dst)?;
        } else {
            // Devices, fifos and sockets are not copied into volumes.
            continue;
        }
        std::os::unix::fs::lchown(&dst, Some(md.uid()), Some(md.gid()))?;
        if !ft.is_symlink() {
            std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(md.mode() & 0o7777))?;
        }
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms_of_dash_v() {
        assert_eq!(
            parse("data:/srv").unwrap().source,
            Source::Named("data".into())
        );
        let b = parse("/host/site:/www:ro").unwrap();
        assert_eq!(b.source, Source::Bind("/host/site".into()));
        assert!(b.read_only);
        assert_eq!(parse("/cache").unwrap().source, Source::Anonymous);
        assert!(parse("/cache:ro").unwrap().read_only);
    }

    #[test]
    fn rejects_bad_dash_v() {
        for bad in [
            "",
            "data",
            "data:srv",
            "a:/b:rx",
            ":/x",
            "./x:/y",
            "a:/b:ro:x",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
