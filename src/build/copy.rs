//! COPY and ADD: stage the sources into a temp directory that mirrors
//! their destination paths, so packing that directory gives exactly the
//! layer Docker would make. Parent directories are created 0755, modes
//! come from the source unless `--chmod`, owners are applied with lchown
//! only for `--chown`. ADD extracts local tar / tar.gz archives instead of
//! copying them.

use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::context::{destination, Context};
use super::exec::{flag_name, Builder, Stage};
use super::plan::CacheInputs;
use super::view::View;
use crate::error::IoContext;
use crate::image::apply::{apply_tar, ApplyMode};
use crate::Result;
use parse_dockerfile::{Flag, Source};
use std::collections::BTreeMap;

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
        // Keep the source's mtime, as Docker does; the packer clamps it to
        // SOURCE_DATE_EPOCH.
        let t = nix::sys::time::TimeSpec::new(md.mtime(), 0);
        nix::sys::stat::utimensat(
            nix::fcntl::AT_FDCWD,
            dst,
            &t,
            &t,
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        )
        .map_err(std::io::Error::from)
        .ctx(|| format!("setting the mtime of {}", dst.display()))?;
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

impl Builder<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn copy(
        &mut self,
        stage_index: usize,
        n: usize,
        what: &str,
        options: &[Flag<'_>],
        src: &[Source<'_>],
        dest: &parse_dockerfile::UnescapedString<'_>,
        pos: usize,
        stage: &mut Stage,
    ) -> Result<String> {
        let mut from = None;
        let mut chown = None;
        let mut chmod = None;
        let mut checksum = None;
        let mut flags_text = String::new();
        for f in options {
            let (v, vpos) = self.flag_value(f)?;
            match flag_name(f) {
                "from" => from = Some((v.clone(), vpos)),
                "chown" => chown = Some((v.clone(), vpos)),
                "chmod" => {
                    let bits = u32::from_str_radix(&v, 8)
                        .ok()
                        .filter(|b| *b <= 0o7777)
                        .ok_or_else(|| {
                            self.err(
                                vpos,
                                "ChmodValue",
                                format!("--chmod={v} is not an octal mode"),
                                Some("write it like --chmod=644 or --chmod=0755".into()),
                            )
                        })?;
                    chmod = Some(bits);
                }
                "checksum" => {
                    let c = super::fetch::parse_checksum(&v).ok_or_else(|| {
                        self.err(
                            vpos,
                            "ChecksumValue",
                            format!("--checksum={v} is not a sha256 digest"),
                            Some(
                                "write --checksum=sha256:<64 hex digits> (sha256sum prints them)"
                                    .into(),
                            ),
                        )
                    })?;
                    checksum = Some((c, vpos));
                }
                "link" | "parents" | "keep-git-dir" | "exclude" => {
                    return Err(self.err(
                        f.name.span.start,
                        "UnsupportedFlag",
                        format!("{what} --{} is not supported by glassbox", flag_name(f)),
                        None,
                    ))
                }
                _ => {}
            }
            flags_text.push_str(&format!("--{}={v} ", flag_name(f)));
        }
        let dest_v = self.sub(&dest.value, dest.span.start)?;
        let first_line = self.line_at(pos);
        let mut marks = super::heredoc::markers(&first_line).into_iter();
        let mut heredocs: Vec<(String, String, usize)> = Vec::new();
        let mut srcs = Vec::new();
        let mut urls: Vec<(String, usize)> = Vec::new();
        for s in src {
            match s {
                Source::Path(p) => {
                    let v = self.sub(&p.value, p.span.start)?;
                    if super::fetch::is_url(&v) {
                        if what != "ADD" {
                            return Err(self.err(
                                p.span.start,
                                "CopyUrl",
                                format!("COPY cannot download {v}"),
                                Some("use ADD for a URL; COPY only copies from the context or a stage".into()),
                            ));
                        }
                        urls.push((v, p.span.start));
                    } else {
                        srcs.push((v, p.span.start));
                    }
                }
                Source::HereDoc(h) => {
                    let m = marks.next().unwrap_or(super::heredoc::Marker {
                        name: format!("heredoc{}", heredocs.len()),
                        strip_tabs: false,
                        quoted: true,
                    });
                    let body = if h.expand && !m.quoted {
                        super::heredoc::expand(&h.value, &self.scope.vars())
                    } else {
                        h.value.to_string()
                    };
                    heredocs.push((m.name, body, h.span.start));
                }
                #[allow(unreachable_patterns)]
                _ => return Err(self.err(pos, "Unsupported", "unsupported source".into(), None)),
            }
        }
        if !heredocs.is_empty() && (!srcs.is_empty() || from.is_some()) {
            return Err(self.err(
                heredocs[0].2,
                "HereDocMixed",
                format!("{what} mixes a here-document with other sources"),
                Some("use one COPY for the here-documents and another for the files".into()),
            ));
        }
        // Here-documents become files in a small context of their own.
        let heredoc_dir = if heredocs.is_empty() {
            None
        } else {
            use std::os::unix::fs::PermissionsExt;
            let d = self.store.tempdir()?;
            for (name, body, hpos) in &heredocs {
                if name.contains('/') || name == "." || name == ".." {
                    return Err(self.err(
                        *hpos,
                        "HereDocName",
                        format!("here-document name '{name}' cannot be a file name"),
                        Some("use a plain word as the delimiter, such as EOF".into()),
                    ));
                }
                let f = d.path().join(name);
                fs::write(&f, body).ctx(|| format!("writing {}", f.display()))?;
                fs::set_permissions(&f, fs::Permissions::from_mode(0o644))
                    .ctx(|| format!("chmod 644 {}", f.display()))?;
                srcs.push((name.clone(), *hpos));
            }
            Some(d)
        };
        let url_dir = self.url_sources(
            &urls,
            &srcs,
            &heredocs,
            from.is_some(),
            checksum.as_ref(),
            &dest_v,
        )?;
        // Where the sources come from: the context, another stage, an image.
        let mut view = None;
        let mut from_layers: Option<Vec<(String, String, u64)>> = None;
        let (mut ctx, origin) = match &from {
            None if url_dir.is_some() => {
                let d = url_dir.as_ref().expect("checked");
                (
                    Context::open(d.dir.path()).map_err(|e| crate::Error::Usage(e.to_string()))?,
                    "a download".to_string(),
                )
            }
            None if heredoc_dir.is_some() => {
                let d = heredoc_dir.as_ref().expect("checked");
                (
                    Context::open(d.path()).map_err(|e| crate::Error::Usage(e.to_string()))?,
                    "a here-document".to_string(),
                )
            }
            None => match &self.context {
                Some(c) => (c.clone(), "context".to_string()),
                None => {
                    return Err(self.err(
                        pos,
                        "NoContext",
                        format!("{what} needs a build context, but the Dockerfile came from stdin"),
                        Some("give a context directory instead of -".into()),
                    ))
                }
            },
            Some((name, vpos)) => {
                let Some(layers) = self.layers_named(name)? else {
                    return Err(self.err(*vpos, "FromNotFound", format!("--from={name} is neither an earlier stage nor an image in the store"), Some("name a stage defined above (FROM ... AS name), or build/pull the image first".into())));
                };
                // The key needs the copied paths' content (remembered per
                // layer stack, see `copied_content_hashes`); the view to copy
                // from is opened only on a cache miss.
                from_layers = Some(layers);
                (Context::empty(), format!("--from={name}"))
            }
        };
        let mut resolved = Vec::new();
        let mut sources = BTreeMap::new();
        if let Some(d) = &url_dir {
            for (url, name, digest) in &d.files {
                sources.insert(url.clone(), digest.clone());
                resolved.push(name.clone());
            }
        }
        match &from_layers {
            // The key holds the content of the copied paths in the source
            // stage, so a change elsewhere in that stage keeps the cache.
            Some(layers) => {
                let name = &from.as_ref().expect("--from").0;
                sources.extend(self.copied_content_hashes(layers, name, &srcs, &origin)?);
            }
            None => {
                let (r, srcmap) = self.resolve_sources(
                    &ctx,
                    &srcs,
                    from.is_some(),
                    heredoc_dir.is_some(),
                    &origin,
                )?;
                resolved.extend(r);
                sources.extend(srcmap);
            }
        }
        let text = format!(
            "{what} {flags_text}{} {dest_v}",
            srcs.iter()
                .map(|s| if heredoc_dir.is_some() {
                    format!("<<{}", s.0)
                } else {
                    s.0.clone()
                })
                .chain(urls.iter().map(|u| u.0.clone()))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let inputs = CacheInputs {
            parent: stage.key.clone(),
            instruction: text.clone(),
            sources,
        };
        let slot = self.slot(stage_index, n);
        stage.key = inputs.key();
        let (layer, cached) = match self.lookup(&inputs, &slot) {
            Some(Some(l)) => (l, true),
            _ => {
                let chown_ids = match &chown {
                    None => None,
                    Some((v, vpos)) => Some(super::copy::parse_chown(v, &self.lowerdirs(stage)?).ok_or_else(|| {
                        self.err(*vpos, "ChownUser", format!("--chown={v}: no such user or group in the image"), Some("use numeric ids (--chown=1000:1000) or a name from the image's /etc/passwd".into()))
                    })?),
                };
                if let Some(layers) = &from_layers {
                    let name = &from.as_ref().expect("--from").0;
                    let v = View::open(self.store, layers, name)?;
                    ctx =
                        Context::open(v.path()).map_err(|e| crate::Error::Usage(e.to_string()))?;
                    view = Some(v);
                    resolved = self.resolve_sources(&ctx, &srcs, true, false, &origin)?.0;
                }
                if let Some(d) = &url_dir {
                    d.download_pending(checksum.as_ref().map(|c| c.0.as_str()))
                        .map_err(|e| self.err(urls[0].1, "AddUrl", e.to_string(), Some(match e {
                            super::fetch::FetchError::Checksum { .. } => "the file changed on the server, or the checksum is wrong; check it with sha256sum".into(),
                            _ => "check the URL with `wget -S -O- URL`; glassbox downloads from the host's network".into(),
                        })))?;
                    ctx = Context::open(d.dir.path())
                        .map_err(|e| crate::Error::Usage(e.to_string()))?;
                }
                let staging = self.store.tempdir()?;
                let job = super::copy::CopyJob {
                    ctx: &ctx,
                    sources: resolved,
                    dest: dest_v.clone(),
                    workdir: stage.workdir.clone(),
                    chown: chown_ids,
                    chmod,
                    extract: what == "ADD" && url_dir.is_none(),
                };
                let paths = job.stage(staging.path()).map_err(|e| match e {
                    crate::Error::Usage(m) => self.err(dest.span.start, "CopyDestination", m, None),
                    other => other,
                })?;
                let l = self.pack(staging.path(), paths, chown_ids.is_some())?;
                self.cache.record(&inputs, Some(l.clone()), &slot)?;
                (l, false)
            }
        };
        drop(view);
        self.add_layer(stage, &text, &layer, cached);
        Ok(format!(
            "{} entries from {origin} into a layer {}",
            layer.files, layer.digest
        ))
    }
}

impl Builder<'_> {
    /// The content hashes of `srcs` in the stage or image whose layers
    /// are `layers` (called `name`), as cache-key sources. The layers'
    /// diff_ids fix everything they hold, so the hashes are remembered in
    /// `ROOT/build-cache/from/` under (diff_ids, path): a rebuild reads
    /// them back instead of mounting the stage and hashing again.
    pub(super) fn copied_content_hashes(
        &self,
        layers: &[(String, String, u64)],
        name: &str,
        srcs: &[(String, usize)],
        origin: &str,
    ) -> Result<BTreeMap<String, String>> {
        use sha2::Digest;
        let mut stack = sha2::Sha256::new();
        for (_, diff_id, _) in layers {
            stack.update(diff_id.as_bytes());
            stack.update(b"\n");
        }
        let stack = hex::encode(stack.finalize());
        let memo_dir = self.store.root().join("build-cache").join("from");
        let mut out = BTreeMap::new();
        let mut view: Option<(View, Context)> = None;
        for (src, spos) in srcs {
            let memo = memo_dir.join(format!(
                "{}.json",
                hex::encode(sha2::Sha256::digest(format!("{stack}\n{src}").as_bytes()))
            ));
            let known: Option<BTreeMap<String, String>> = fs::read(&memo)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            let hashes = match known {
                Some(h) => h,
                None => {
                    if view.is_none() {
                        let v = View::open(self.store, layers, name)?;
                        let c = Context::open(v.path())
                            .map_err(|e| crate::Error::Usage(e.to_string()))?;
                        view = Some((v, c));
                    }
                    let (_, ctx) = view.as_ref().expect("opened");
                    let (_, h) =
                        self.resolve_sources(ctx, &[(src.clone(), *spos)], true, false, origin)?;
                    // Rebuilt when lost: a failed write only costs a mount.
                    let _ = fs::create_dir_all(&memo_dir).and_then(|()| {
                        let tmp = memo.with_extension(format!("{}.tmp", std::process::id()));
                        fs::write(&tmp, serde_json::to_vec(&h).expect("json"))?;
                        fs::rename(&tmp, &memo)
                    });
                    h
                }
            };
            out.extend(hashes);
        }
        Ok(out)
    }

    /// Resolves COPY sources in `ctx` (the context, a here-document dir or
    /// a stage's view) and hashes their content for the cache key.
    #[allow(clippy::type_complexity)]
    fn resolve_sources(
        &self,
        ctx: &Context,
        srcs: &[(String, usize)],
        from: bool,
        heredoc: bool,
        origin: &str,
    ) -> Result<(Vec<String>, BTreeMap<String, String>)> {
        let mut resolved = Vec::new();
        let mut sources = BTreeMap::new();
        for (s, spos) in srcs {
            let found = ctx.resolve(s).map_err(|e| {
                use super::context::ContextError as E;
                let hint = match &e {
                    E::NotFound(p) if !from => Some(match ctx.nearest(p) {
                        Some(n) => format!("did you mean {n}? paths are relative to the context directory {}", ctx.root.display()),
                        None => format!("paths are relative to the context directory {}", ctx.root.display()),
                    }),
                    E::NotFound(_) => Some(format!("look inside with `glassbox run --rm IMAGE ls -la` to see what {origin} holds")),
                    E::OutsideContext(_) => Some(
                        "a build sees only its context: move the file into the context directory, or build from a directory that contains both".to_string(),
                    ),
                    E::Excluded { path, line } => Some(format!(
                        "add a line `!{path}` after line {line} of .dockerignore, or copy another file"
                    )),
                    _ => None,
                };
                let msg = if from {
                    e.to_string().replace("build context", origin)
                } else {
                    e.to_string()
                };
                self.err(*spos, "CopySource", msg, hint)
            })?;
            for rel in found {
                let h = ctx
                    .hash_source(&rel)
                    .map_err(|e| crate::Error::Usage(e.to_string()))?;
                sources.insert(
                    if from {
                        format!("{origin}:/{rel}")
                    } else if heredoc {
                        format!("<<{rel}")
                    } else {
                        rel.clone()
                    },
                    h,
                );
                resolved.push(rel);
            }
        }
        Ok((resolved, sources))
    }
}
