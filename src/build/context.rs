//! The build context: the directory a build may read, minus what
//! `.dockerignore` excludes; COPY/ADD source resolution; and the content
//! hash of sources that goes into the cache key.
//!
//! What the source hash covers, per entry under a source (sorted by path):
//! the entry's kind (file, dir, symlink), its path relative to the source,
//! its permission bits (`mode & 0o7777`), and then the file's bytes or the
//! link's target. Left out on purpose: mtimes, atimes, owners and inode
//! numbers, so a fresh checkout of the same files hits the cache (the way
//! BuildKit does), while `chmod +x` misses it, since the layer would differ.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::ignore::{clean, glob_match, DockerIgnore};

/// Why a COPY/ADD source cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    /// The source climbs out of the context with `..`.
    #[error("COPY source '{0}' is outside the build context; only files under the context directory can be copied")]
    OutsideContext(String),
    /// Nothing in the context matches.
    #[error("COPY source '{0}' not found in the build context")]
    NotFound(String),
    /// It exists, but `.dockerignore` excludes it.
    #[error("COPY source '{path}' is excluded by .dockerignore line {line}")]
    Excluded {
        /// The source.
        path: String,
        /// The deciding `.dockerignore` line.
        line: usize,
    },
    /// Several sources need a directory destination.
    #[error("when copying more than one source, the destination '{0}' must end with '/'")]
    DestNotDir(String),
    /// Reading the context failed.
    #[error("reading {path}: {source}")]
    Io {
        /// The path being read.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ContextError + '_ {
    move |source| ContextError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A build context directory and its `.dockerignore`.
#[derive(Debug, Clone)]
pub struct Context {
    /// The context directory.
    pub root: PathBuf,
    /// Its `.dockerignore` (empty when there is none).
    pub ignore: DockerIgnore,
    /// Every path the build can see, relative, sorted (dirs included).
    pub entries: Vec<String>,
}

impl Context {
    /// A context with nothing in it (a placeholder until a view is opened).
    pub fn empty() -> Context {
        Context {
            root: PathBuf::new(),
            ignore: DockerIgnore::default(),
            entries: Vec::new(),
        }
    }

    /// Walks `root`, honouring its `.dockerignore`.
    pub fn open(root: &Path) -> Result<Context, ContextError> {
        let ig_path = root.join(".dockerignore");
        let ignore = match std::fs::read_to_string(&ig_path) {
            Ok(t) => DockerIgnore::parse(&t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => DockerIgnore::default(),
            Err(e) => return Err(io(&ig_path)(e)),
        };
        let mut entries = Vec::new();
        walk(root, "", &ignore, &mut entries)?;
        entries.sort();
        Ok(Context {
            root: root.to_path_buf(),
            ignore,
            entries,
        })
    }

    /// The context paths a COPY source names: one path, or every entry a
    /// glob matches. Errors say whether it is outside, missing or ignored.
    pub fn resolve(&self, src: &str) -> Result<Vec<String>, ContextError> {
        if climbs_out(src) {
            return Err(ContextError::OutsideContext(src.to_string()));
        }
        let rel = clean(src);
        if rel.is_empty() {
            return Ok(vec![String::new()]);
        }
        let is_glob = rel.contains(['*', '?', '[']);
        let found: Vec<String> = if is_glob {
            self.entries
                .iter()
                .filter(|e| glob_match(&rel, e))
                .cloned()
                .collect()
        } else {
            self.entries
                .iter()
                .filter(|e| **e == rel)
                .cloned()
                .collect()
        };
        if !found.is_empty() {
            return Ok(found);
        }
        if !is_glob && self.root.join(&rel).symlink_metadata().is_ok() {
            if let Some(p) = self.ignore.deciding_pattern(&rel) {
                return Err(ContextError::Excluded {
                    path: rel,
                    line: p.line,
                });
            }
        }
        Err(ContextError::NotFound(src.to_string()))
    }

    /// The context path closest to `src` (a likely typo), if any is close.
    pub fn nearest(&self, src: &str) -> Option<String> {
        let want = clean(src);
        let names: Vec<&str> = self.entries.iter().map(String::as_str).collect();
        super::dockerfile::diag::did_you_mean_among(&want, &names)
            .filter(|n| *n != want)
            .map(str::to_string)
    }

    /// The content hash of one resolved source, per the module docs.
    pub fn hash_source(&self, rel: &str) -> Result<String, ContextError> {
        let mut h = Sha256::new();
        let prefix = if rel.is_empty() {
            String::new()
        } else {
            format!("{rel}/")
        };
        let mut members: Vec<&String> = self
            .entries
            .iter()
            .filter(|e| *e == rel || e.starts_with(&prefix) || rel.is_empty())
            .collect();
        members.sort();
        for entry in members {
            let path = self.root.join(entry);
            let meta = path.symlink_metadata().map_err(io(&path))?;
            let name = entry.strip_prefix(&prefix).unwrap_or(entry);
            let mode = meta.permissions().mode() & 0o7777;
            let kind = if meta.is_symlink() {
                "symlink"
            } else if meta.is_dir() {
                "dir"
            } else {
                "file"
            };
            for part in [kind.as_bytes(), name.as_bytes(), &mode.to_be_bytes()] {
                h.update((part.len() as u64).to_be_bytes());
                h.update(part);
            }
            if meta.is_symlink() {
                let target = std::fs::read_link(&path).map_err(io(&path))?;
                h.update(target.as_os_str().as_encoded_bytes());
            } else if meta.is_file() {
                h.update(meta.len().to_be_bytes());
                let mut f = std::fs::File::open(&path).map_err(io(&path))?;
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = f.read(&mut buf).map_err(io(&path))?;
                    if n == 0 {
                        break;
                    }
                    h.update(&buf[..n]);
                }
            }
        }
        Ok(format!("sha256:{}", hex::encode(h.finalize())))
    }
}

fn climbs_out(src: &str) -> bool {
    let mut depth: i64 = 0;
    for seg in src.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                depth -= 1;
                if depth < 0 {
                    return true;
                }
            }
            _ => depth += 1,
        }
    }
    false
}

fn walk(
    root: &Path,
    rel: &str,
    ig: &DockerIgnore,
    out: &mut Vec<String>,
) -> Result<(), ContextError> {
    let dir = root.join(rel);
    for e in std::fs::read_dir(&dir).map_err(io(&dir))? {
        let e = e.map_err(io(&dir))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let path = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let ft = e.file_type().map_err(io(&dir))?;
        let excluded = ig.is_excluded(&path);
        // An excluded directory may still hold re-included files (`!`), so
        // descend whenever some exception could apply below it.
        if !excluded {
            out.push(path.clone());
        }
        if ft.is_dir() && (!excluded || ig.patterns.iter().any(|p| p.exclusion)) {
            walk(root, &path, ig, out)?;
        }
    }
    Ok(())
}

/// Where a source lands, following Docker's rules: a destination ending in
/// `/` (or several sources) is a directory and the source keeps its base
/// name inside it; a directory source copies its *contents*, not itself;
/// otherwise the destination is the new name. Relative destinations are
/// relative to `workdir`.
pub fn destination(
    src_rel: &str,
    src_is_dir: bool,
    dest: &str,
    n_sources: usize,
    workdir: &str,
) -> Result<String, ContextError> {
    let dir_dest = dest.ends_with('/') || dest.ends_with("/.") || dest == ".";
    if n_sources > 1 && !dir_dest {
        return Err(ContextError::DestNotDir(dest.to_string()));
    }
    let abs = if dest.starts_with('/') {
        dest.to_string()
    } else {
        format!("{}/{dest}", workdir.trim_end_matches('/'))
    };
    let base = format!("/{}", clean(&abs));
    if src_is_dir || !dir_dest {
        return Ok(base);
    }
    let name = src_rel.rsplit('/').next().unwrap_or(src_rel);
    Ok(format!("{}/{name}", base.trim_end_matches('/')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> (tempfile::TempDir, Context) {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        std::fs::create_dir_all(r.join("src/lib")).unwrap();
        std::fs::write(r.join("app.js"), "console.log(1)").unwrap();
        std::fs::write(r.join("src/a.txt"), "a").unwrap();
        std::fs::write(r.join("src/lib/b.txt"), "b").unwrap();
        std::fs::write(r.join("secret.env"), "x").unwrap();
        std::fs::write(r.join(".dockerignore"), "*.env\n").unwrap();
        let c = Context::open(r).unwrap();
        (d, c)
    }

    #[test]
    fn walk_skips_ignored_files() {
        let (_d, c) = ctx();
        assert!(c.entries.contains(&"src/lib/b.txt".to_string()));
        assert!(!c.entries.contains(&"secret.env".to_string()));
    }

    #[test]
    fn resolve_explains_outside_missing_and_excluded() {
        let (_d, c) = ctx();
        assert_eq!(c.resolve("./app.js").unwrap(), vec!["app.js"]);
        assert_eq!(c.resolve("src/*.txt").unwrap(), vec!["src/a.txt"]);
        assert!(matches!(
            c.resolve("../etc/passwd"),
            Err(ContextError::OutsideContext(_))
        ));
        assert!(matches!(c.resolve("nope"), Err(ContextError::NotFound(_))));
        let e = c.resolve("secret.env").unwrap_err();
        assert!(matches!(e, ContextError::Excluded { line: 1, .. }), "{e}");
    }

    #[test]
    fn hash_covers_content_and_mode_but_not_mtime() {
        let (d, c) = ctx();
        let before = c.hash_source("src").unwrap();
        let f = std::fs::File::options()
            .write(true)
            .open(d.path().join("src/a.txt"))
            .unwrap();
        f.set_modified(std::time::SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(
            c.hash_source("src").unwrap(),
            before,
            "mtime is not an input"
        );
        std::fs::set_permissions(
            d.path().join("src/a.txt"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        let after_chmod = c.hash_source("src").unwrap();
        assert_ne!(after_chmod, before);
        std::fs::write(d.path().join("src/lib/b.txt"), "B").unwrap();
        assert_ne!(c.hash_source("src").unwrap(), after_chmod);
    }

    #[test]
    fn destination_follows_trailing_slash_rules() {
        assert_eq!(
            destination("app.js", false, "/srv/", 1, "/").unwrap(),
            "/srv/app.js"
        );
        assert_eq!(
            destination("app.js", false, "/srv/main.js", 1, "/").unwrap(),
            "/srv/main.js"
        );
        assert_eq!(destination("src", true, "/srv", 1, "/").unwrap(), "/srv");
        assert_eq!(
            destination("a.txt", false, ".", 1, "/app").unwrap(),
            "/app/a.txt"
        );
        assert!(matches!(
            destination("a", false, "/x", 2, "/"),
            Err(ContextError::DestNotDir(_))
        ));
    }
}
