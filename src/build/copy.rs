//! COPY and ADD: stage the sources into a temp directory that mirrors
//! their destination paths, so packing that directory gives exactly the
//! layer Docker would make. Parent directories are created 0755, modes
//! come from the source unless `--chmod`, owners are applied with lchown
//! only for `--chown`. ADD extracts local tar / tar.gz archives instead of
//! copying them.

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::context::{destination, Context};
use crate::error::IoContext;
use crate::image::apply::{apply_tar, ApplyMode};
use crate::Result;

/// What one COPY/ADD copies, after resolution.
#[derive(Debug)]
pub struct CopyJob<'a> {
    /// Where sources are read from (the context or another stage's view).
    pub ctx: &'a Context,
    /// Resolved source paths, relative to `ctx.root`.
    pub sources: Vec<String>,
    /// The destination as written (after substitution).
    pub dest: String,
    /// The working directory relative destinations start from.
    pub workdir: String,
    /// `--chown` as numeric ids.
    pub chown: Option<(u32, u32)>,
    /// `--chmod` bits.
    pub chmod: Option<u32>,
    /// ADD: extract local archives.
    pub extract: bool,
}

/// Creates `dir` and its missing parents with mode 0755 (independent of
/// the umask, so layers are reproducible).
pub fn mkdirs(root: &Path, rel: &str) -> Result<PathBuf> {
    let mut p = root.to_path_buf();
    for seg in rel.split('/').filter(|s| !s.is_empty()) {
        p.push(seg);
        if !p.is_dir() {
            fs::create_dir(&p).ctx(|| format!("creating {}", p.display()))?;
            fs::set_permissions(&p, fs::Permissions::from_mode(0o755))
                .ctx(|| format!("setting the mode of {}", p.display()))?;
        }
    }
    Ok(p)
}

fn is_archive(path: &Path) -> bool {
    let mut head = [0u8; 512];
    let Ok(mut f) = fs::File::open(path) else {
        return false;
    };
    let n = f.read(&mut head).unwrap_or(0);
    (n >= 2 && head[0] == 0x1f && head[1] == 0x8b) || (n >= 262 && &head[257..262] == b"ustar")
}

fn copy_entry(src: &Path, dst: &Path) -> Result<()> {
    let md = fs::symlink_metadata(src).ctx(|| format!("reading {}", src.display()))?;
    if md.is_symlink() {
        let target = fs::read_link(src).ctx(|| format!("reading link {}", src.display()))?;
        let _ = fs::remove_file(dst);
        std::os::unix::fs::symlink(&target, dst)
            .ctx(|| format!("creating link {}", dst.display()))?;
    } else if md.is_dir() {
        if !dst.is_dir() {
            fs::create_dir(dst).ctx(|| format!("creating {}", dst.display()))?;
        }
        fs::set_permissions(
            dst,
            fs::Permissions::from_mode(md.permissions().mode() & 0o7777),
        )
        .ctx(|| format!("setting the mode of {}", dst.display()))?;
    } else {
        fs::copy(src, dst).ctx(|| format!("copying {} to {}", src.display(), dst.display()))?;
    }
    Ok(())
}

impl CopyJob<'_> {
    /// Stages every source under `staging`; returns the staged paths
    /// (relative to `staging`, sorted), parents included.
    pub fn stage(&self, staging: &Path) -> Result<Vec<String>> {
        let n = self.sources.len();
        let mut touched: Vec<PathBuf> = Vec::new();
        for rel in &self.sources {
            let src = self.ctx.root.join(rel);
            let md = fs::symlink_metadata(&src).ctx(|| format!("reading {}", src.display()))?;
            let is_dir = md.is_dir();
            if self.extract && md.is_file() && is_archive(&src) {
                let dest = destination(rel, true, &self.dest, n, &self.workdir)
                    .map_err(|e| crate::Error::Usage(e.to_string()))?;
                let dir = mkdirs(staging, &dest)?;
                let f = fs::File::open(&src).ctx(|| format!("opening {}", src.display()))?;
                let mut head = [0u8; 2];
                let gz = fs::File::open(&src)
                    .and_then(|mut g| g.read_exact(&mut head))
                    .is_ok()
                    && head == [0x1f, 0x8b];
                if gz {
                    apply_tar(flate2::read::GzDecoder::new(f), &dir, ApplyMode::Flatten)?;
                } else {
                    apply_tar(f, &dir, ApplyMode::Flatten)?;
                }
                touched.push(dir);
                continue;
            }
            let dest = destination(rel, is_dir, &self.dest, n, &self.workdir)
                .map_err(|e| crate::Error::Usage(e.to_string()))?;
            let dest_rel = dest.trim_start_matches('/');
            if is_dir {
                let base = mkdirs(staging, dest_rel)?;
                touched.push(base.clone());
                let prefix = if rel.is_empty() {
                    String::new()
                } else {
                    format!("{rel}/")
                };
                for e in self.ctx.entries.iter().filter(|e| e.starts_with(&prefix)) {
                    let to = base.join(&e[prefix.len()..]);
                    if let Some(parent) = to.parent() {
                        fs::create_dir_all(parent)
                            .ctx(|| format!("creating {}", parent.display()))?;
                    }
                    copy_entry(&self.ctx.root.join(e), &to)?;
                    touched.push(to);
                }
            } else {
                let (parent, _) = dest_rel.rsplit_once('/').unwrap_or(("", dest_rel));
                mkdirs(staging, parent)?;
                let to = staging.join(dest_rel);
                copy_entry(&src, &to)?;
                touched.push(to);
            }
        }
        for p in &touched {
            if let Some(bits) = self.chmod {
                if !fs::symlink_metadata(p)
                    .map(|m| m.is_symlink())
                    .unwrap_or(true)
                {
                    fs::set_permissions(p, fs::Permissions::from_mode(bits))
                        .ctx(|| format!("chmod {:o} {}", bits, p.display()))?;
                }
            }
        }
        // --chown applies to everything the layer holds, created parents
        // and extracted archive contents included.
        let mut all = Vec::new();
        walk(staging, staging, &mut all)?;
        if let Some((uid, gid)) = self.chown {
            for p in &all {
                std::os::unix::fs::lchown(staging.join(p), Some(uid), Some(gid))
                    .ctx(|| format!("chown {uid}:{gid} {p}"))?;
            }
        }
        all.sort();
        Ok(all)
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    for e in fs::read_dir(dir).ctx(|| format!("reading {}", dir.display()))? {
        let e = e.ctx(|| format!("reading {}", dir.display()))?;
        let p = e.path();
        out.push(
            p.strip_prefix(root)
                .unwrap_or(&p)
                .to_string_lossy()
                .into_owned(),
        );
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            walk(root, &p, out)?;
        }
    }
    Ok(())
}

/// Resolves a `--chown` value: numeric `uid[:gid]`, or names looked up in
/// the stage's `/etc/passwd` and `/etc/group` (the first layer from the
/// top that has them).
pub fn parse_chown(value: &str, lowerdirs: &[PathBuf]) -> Option<(u32, u32)> {
    let (user, group) = match value.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (value, None),
    };
    let read = |file: &str| {
        lowerdirs
            .iter()
            .rev()
            .find_map(|d| fs::read_to_string(d.join("etc").join(file)).ok())
            .unwrap_or_default()
    };
    let (uid, primary) = match user.parse::<u32>() {
        Ok(n) => (n, n),
        Err(_) => {
            let passwd = read("passwd");
            let line = passwd
                .lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|f| f.len() > 3 && f[0] == user)?;
            (line[2].parse().ok()?, line[3].parse().ok()?)
        }
    };
    let gid = match group {
        None => primary,
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => {
                let groups = read("group");
                let line = groups
                    .lines()
                    .map(|l| l.split(':').collect::<Vec<_>>())
                    .find(|f| f.len() > 2 && f[0] == g)?;
                line[2].parse().ok()?
            }
        },
    };
    Some((uid, gid))
}
