//! Applying a layer tar to a directory, safely. Two modes: `Flatten`
//! (whiteouts delete what lower layers put there: a rootfs) and `Overlay`
//! (whiteouts become overlayfs markers: a 0/0 character device for a
//! deleted file, `trusted.overlay.opaque=y` for an opaque directory).
//!
//! Hostile entries never touch anything outside `dest`: `..` components,
//! absolute paths, hard links to files not in this layer and device nodes
//! are refused, each with a `layer.refuse` event saying why. A symlinked
//! parent directory (`lib -> usr/lib`, as usr-merged distributions have)
//! is followed the way a chroot at `dest` would follow it: absolute
//! targets start at `dest` and `..` stops there, so the write lands inside
//! the root whatever the link says. Existing symlinks at an entry's own
//! path are replaced, never written through.

use crate::error::IoContext;
use crate::trace::{self, Kind};
use crate::Result;
use std::collections::{HashSet, VecDeque};
use std::ffi::OsString;
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

/// How whiteouts are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyMode {
    /// Delete what a whiteout hides (building a single rootfs).
    Flatten,
    /// Keep whiteouts as overlayfs markers (an overlay lowerdir).
    Overlay,
}

/// What applying a layer did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ApplyStats {
    /// Entries written.
    pub written: u64,
    /// Whiteouts applied.
    pub whiteouts: u64,
    /// Entries refused.
    pub refused: u64,
}

fn refuse(stats: &mut ApplyStats, path: &str, reason: &str) {
    stats.refused += 1;
    trace::fact(Kind::Layer, "refuse", format!("entry {path}"))
        .field("path", path)
        .field("reason", reason)
        .info();
}

/// Turns an entry path into a clean relative path, or says why not.
fn clean(raw: &Path) -> Result<PathBuf, &'static str> {
    let mut out = PathBuf::new();
    for c in raw.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err("the path contains '..', which could climb out of the layer")
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(
                    "the path is absolute; layer entries must be relative to the layer root",
                )
            }
        }
    }
    Ok(out)
}

/// How many symlinks one path may pass through (as the kernel's ELOOP).
const MAX_HOPS: usize = 40;

/// Resolves the parent directory of `rel` inside `dest` the way a chroot
/// at `dest` would: symlinked parents are followed, an absolute target
/// starts again at `dest`, and `..` never climbs above `dest`. So
/// `lib -> usr/lib` (or `-> /usr/lib`) works, and `evil -> /etc` means
/// `dest/etc`, never the host's. Missing directories are created when
/// `create` is set. Returns the resolved parent relative to `dest`, every
/// component of it a real directory, or why the path cannot be used.
pub(crate) fn resolve_parent(
    dest: &Path,
    rel: &Path,
    create: bool,
) -> Result<Result<PathBuf, &'static str>> {
    let mut todo: VecDeque<OsString> = rel
        .parent()
        .map(|p| p.iter().map(|c| c.to_os_string()).collect())
        .unwrap_or_default();
    let (mut cur, mut hops) = (PathBuf::new(), 0);
    while let Some(c) = todo.pop_front() {
        if c == ".." {
            cur.pop(); // at the root, `..` is the root
            continue;
        }
        if c == "." || c.is_empty() || c == "/" {
            continue;
        }
        let cand = cur.join(&c);
        let abs = dest.join(&cand);
        match fs::symlink_metadata(&abs) {
            Ok(m) if m.file_type().is_symlink() => {
                hops += 1;
                if hops > MAX_HOPS {
                    return Ok(Err("the path passes through too many symlinks"));
                }
                let target = fs::read_link(&abs).ctx(|| format!("reading {}", abs.display()))?;
                if target.is_absolute() {
                    cur = PathBuf::new();
                }
                for t in target.iter().collect::<Vec<_>>().into_iter().rev() {
                    todo.push_front(t.to_os_string());
                }
            }
            Ok(m) if m.is_dir() => cur = cand,
            Ok(_) => return Ok(Err("a parent of the path is not a directory")),
            Err(_) if create => {
                fs::create_dir(&abs).ctx(|| format!("creating {}", abs.display()))?;
                cur = cand;
            }
            Err(_) => return Ok(Err(PARENT_MISSING)),
        }
    }
    Ok(Ok(cur))
}

/// Why a path cannot be resolved without creating its parents (apply
/// creates them, so for `store verify` this means something was removed).
pub(crate) const PARENT_MISSING: &str = "a parent of the path does not exist";

/// Why a hard link is refused: its target is not a file this layer wrote.
pub(crate) const HARD_LINK_REFUSAL: &str =
    "a hard link must point at a file earlier in the same layer";

/// Why a device node is refused.
pub(crate) const DEVICE_REFUSAL: &str =
    "device nodes give access to host hardware; a container gets its own /dev";

/// Where an entry lands inside `dest`, the one policy shared by apply and
/// `store verify` (so what apply refused, verify expects to be absent).
#[derive(Debug)]
pub(crate) enum Place {
    /// The entry names the root itself (`./`): nothing to write.
    Root,
    /// The entry lands at this path, relative to `dest`.
    At(PathBuf),
    /// The entry is refused, for this reason.
    Refused(&'static str),
}

/// Decides where the entry named `raw` lands (see [`Place`]); missing
/// parents are created when `create` is set.
pub(crate) fn place(dest: &Path, raw: &Path, create: bool) -> Result<Place> {
    let rel = match clean(raw) {
        Ok(r) if r.as_os_str().is_empty() => return Ok(Place::Root),
        Ok(r) => r,
        Err(why) => return Ok(Place::Refused(why)),
    };
    Ok(match resolve_parent(dest, &rel, create)? {
        Ok(p) => Place::At(p.join(rel.file_name().unwrap_or_default())),
        Err(why) => Place::Refused(why),
    })
}

/// The file (relative to `dest`) a hard link to `target` may share: one
/// `seen` (written earlier by this layer) that is neither a directory nor
/// a symlink. `None` means the link is refused ([`HARD_LINK_REFUSAL`]).
pub(crate) fn hard_link_source(
    dest: &Path,
    target: &Path,
    seen: &HashSet<PathBuf>,
) -> Option<PathBuf> {
    let t = clean(target).ok()?;
    let t = match resolve_parent(dest, &t, false) {
        Ok(Ok(p)) => p.join(t.file_name().unwrap_or_default()),
        _ => return None,
    };
    let plain = fs::symlink_metadata(dest.join(&t))
        .map(|m| !(m.file_type().is_symlink() || m.is_dir()))
        .unwrap_or(false);
    (seen.contains(&t) && plain).then_some(t)
}

fn remove_any(p: &Path) -> std::io::Result<()> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(p),
        Ok(_) => fs::remove_file(p),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Applies the uncompressed layer tar read from `tar` onto `dest`.
pub fn apply_tar<R: Read>(tar: R, dest: &Path, mode: ApplyMode) -> Result<ApplyStats> {
    let mut stats = ApplyStats::default();
    let mut seen: HashSet<PathBuf> = HashSet::new();
    let mut ar = tar::Archive::new(tar);
    let bad = |e: std::io::Error| crate::Error::Io {
        context: "reading the layer tar (is it truncated or not a tar?)".into(),
        source: e,
    };
    for entry in ar.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let raw = entry.path().map_err(bad)?.into_owned();
        let shown = raw.display().to_string();
        let rel = match place(dest, &raw, true)? {
            Place::Root => continue,
            Place::At(rel) => rel,
            Place::Refused(why) => {
                refuse(&mut stats, &shown, why);
                continue;
            }
        };
        let name = rel
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let parent = dest.join(rel.parent().unwrap_or(Path::new("")));
        if name == ".wh..wh..opq" {
            stats.whiteouts += 1;
            match mode {
                ApplyMode::Flatten => {
                    for e in
                        fs::read_dir(&parent).ctx(|| format!("reading {}", parent.display()))?
                    {
                        let p = e.ctx(|| format!("reading {}", parent.display()))?.path();
                        let r = p
                            .strip_prefix(dest)
                            .map(Path::to_path_buf)
                            .unwrap_or_default();
                        if !seen.contains(&r) {
                            remove_any(&p).ctx(|| format!("removing {}", p.display()))?;
                        }
                    }
                }
                ApplyMode::Overlay => xattr_set(
                    &parent,
                    &crate::kernel::userns::overlay_xattr("opaque"),
                    b"y",
                )?,
            }
            continue;
        }
        if let Some(hidden) = name.strip_prefix(".wh.") {
            stats.whiteouts += 1;
            let target = parent.join(hidden);
            remove_any(&target).ctx(|| format!("removing {}", target.display()))?;
            if mode == ApplyMode::Overlay {
                nix::sys::stat::mknod(
                    &target,
                    nix::sys::stat::SFlag::S_IFCHR,
                    nix::sys::stat::Mode::empty(),
                    nix::sys::stat::makedev(0, 0),
                )
                .map_err(std::io::Error::from)
                .ctx(|| format!("making whiteout {}", target.display()))?;
            }
            continue;
        }
        let path = dest.join(&rel);
        let h = entry.header().clone();
        let perm = h.mode().unwrap_or(0o644) & 0o7777;
        let ctx = || format!("writing {}", path.display());
        match h.entry_type() {
            tar::EntryType::Directory => {
                match fs::symlink_metadata(&path) {
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => {
                        remove_any(&path).ctx(ctx)?;
                        fs::create_dir(&path).ctx(ctx)?;
                    }
                    Err(_) => fs::create_dir(&path).ctx(ctx)?,
                }
                fs::set_permissions(&path, fs::Permissions::from_mode(perm)).ctx(ctx)?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                remove_any(&path).ctx(ctx)?;
                let mut f = fs::File::options()
                    .write(true)
                    .create_new(true)
                    .open(&path)
                    .ctx(ctx)?;
                // Read and write errors differ: a short tar is bad input,
                // a full disk is not.
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = entry.read(&mut buf).map_err(bad)?;
                    if n == 0 {
                        break;
                    }
                    std::io::Write::write_all(&mut f, &buf[..n]).ctx(ctx)?;
                }
                fs::set_permissions(&path, fs::Permissions::from_mode(perm)).ctx(ctx)?;
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(bad)?
                    .unwrap_or_default()
                    .into_owned();
                remove_any(&path).ctx(ctx)?;
                std::os::unix::fs::symlink(&target, &path).ctx(ctx)?;
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name()
                    .map_err(bad)?
                    .unwrap_or_default()
                    .into_owned();
                match hard_link_source(dest, &target, &seen) {
                    Some(t) => {
                        remove_any(&path).ctx(ctx)?;
                        fs::hard_link(dest.join(&t), &path).ctx(ctx)?;
                    }
                    None => {
                        refuse(&mut stats, &shown, HARD_LINK_REFUSAL);
                        continue;
                    }
                }
            }
            tar::EntryType::Fifo => {
                remove_any(&path).ctx(ctx)?;
                nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(perm))
                    .map_err(std::io::Error::from)
                    .ctx(ctx)?;
            }
            tar::EntryType::Char | tar::EntryType::Block => {
                refuse(&mut stats, &shown, DEVICE_REFUSAL);
                continue;
            }
            _ => continue, // pax/gnu metadata records are handled by the tar reader
        }
        let (uid, gid) = (h.uid().unwrap_or(0) as u32, h.gid().unwrap_or(0) as u32);
        nix::unistd::fchownat(
            nix::fcntl::AT_FDCWD,
            &path,
            Some(nix::unistd::Uid::from_raw(uid)),
            Some(nix::unistd::Gid::from_raw(gid)),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(std::io::Error::from)
        .ctx(|| format!("setting the owner of {}", path.display()))?;
        seen.insert(rel);
        stats.written += 1;
    }
    Ok(stats)
}

fn xattr_set(path: &Path, name: &str, value: &[u8]) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let p = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("no NUL in paths");
    let n = std::ffi::CString::new(name).expect("no NUL in names");
    // SAFETY: both C strings are valid and NUL-terminated for the call;
    // value points at value.len() readable bytes.
    let rc = unsafe {
        libc::lsetxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error())
            .ctx(|| format!("setting {name} on {}", path.display()));
    }
    Ok(())
}
