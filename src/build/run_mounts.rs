//! RUN's `--network` and `--mount` flags on the host side (the syntax is in
//! `mounts.rs`).
//!
//! Two halves, because the cache decides in between:
//! [`Builder::mount_keys`] says what each mount adds to the cache key (a
//! bound path's content, from the context or a `from=` stage, a keyed hash of
//! a secret, whether an agent is forwarded) without touching the kernel;
//! [`Builder::prepare_mounts`] runs only on a miss and makes what the
//! container will bind: a tmpfs mounted under `ROOT/tmp` for `type=tmpfs`
//! and for each secret (so a secret never sits on a disk), an overlay with
//! a throw-away upper dir for a `rw` bind, a read-only overlay view of a
//! stage for `from=`. [`MountGuard`] unmounts and removes all of it when the
//! step ends, and [`remove_stubs`] takes the empty mount points the runtime
//! had to create out of the step's upper dir, so no mount leaves a trace in
//! the layer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::exec::{flag_name, Builder};
use super::mounts::MountSpec;
use super::view::View;
use crate::error::IoContext;
use crate::kernel;
use crate::trace::{self, Kind};
use crate::volume::{Request, Source};
use crate::Result;

/// Host-side mounts and directories of one RUN, undone on drop (host
/// mounts lazily unmounted in reverse order, then the directories removed).
#[derive(Default)]
pub(super) struct MountGuard {
    /// The binds for the container.
    pub(super) requests: Vec<Request>,
    /// Extra environment (`SSH_AUTH_SOCK=...`).
    pub(super) env: Vec<String>,
    mounted: Vec<PathBuf>,
    dirs: Vec<tempfile::TempDir>,
    views: Vec<View>,
}

impl Drop for MountGuard {
    fn drop(&mut self) {
        for m in self.mounted.iter().rev() {
            // A failed unmount is in the trace; the next build's sweep
            // takes what is left.
            let _ = kernel::run(
                &mut kernel::Host,
                trace::cleanup(Kind::Build, "unmount", "RUN --mount")
                    .field("target", m.display().to_string())
                    .field("why", "the RUN step is over; what it mounted goes with it"),
                &[kernel::detach(m)],
                "unmounting a RUN mount",
            );
        }
        self.views.clear();
        self.dirs.clear();
    }
}

/// A RUN's `--mount` flags as parsed, each with the byte offset of its
/// value (diagnostics point there).
pub(super) type Specs = Vec<(MountSpec, usize)>;

impl Builder<'_> {
    /// Reads RUN's `--network` and `--mount` flags; also returns the flags
    /// as text for the cache key (after substitution).
    pub(super) fn run_flags(
        &self,
        r: &parse_dockerfile::RunInstruction<'_>,
    ) -> Result<(super::mounts::Network, Specs, String)> {
        let mut network = super::mounts::Network::None;
        let mut specs = Vec::new();
        let mut text = String::new();
        for f in &r.options {
            let (v, vpos) = self.flag_value(f)?;
            match flag_name(f) {
                "network" => {
                    network = super::mounts::parse_network(&v).map_err(|m| {
                        self.err(vpos, "RunNetwork", m, Some("RUN --network=none cuts the step off the network; host shares the host's".into()))
                    })?
                }
                "mount" => specs.push((super::mounts::parse_mount(&v).map_err(|m| {
                    self.err(vpos, "RunMount", m, Some("write --mount=type=cache,target=/root/.cache, type=bind,source=dir,target=/dir, type=tmpfs,target=/tmp, type=secret,id=NAME or type=ssh".into()))
                })?, vpos)),
                other => {
                    return Err(self.err(
                        f.name.span.start,
                        "UnsupportedFlag",
                        format!("RUN --{other} is not supported by glassbox"),
                        Some("remove the flag; glassbox supports RUN --network and --mount".into()),
                    ))
                }
            }
            text.push_str(&format!("--{}={v} ", flag_name(f)));
        }
        Ok((network, specs, text))
    }

    /// The layers `(digest, diff_id, size)` of an earlier stage or an
    /// image called `name`; `None` when it is neither (COPY --from and
    /// RUN --mount from= each say so in their own words).
    pub(super) fn layers_named(&self, name: &str) -> Result<Option<Vec<(String, String, u64)>>> {
        match self.stage_ref(name) {
            Some(i) => Ok(Some(
                self.done[&i]
                    .layers
                    .iter()
                    .map(|l| (l.digest.clone(), l.diff_id.clone(), l.size))
                    .collect(),
            )),
            None => match self.store.resolve(name) {
                Ok(img) => Ok(Some(
                    img.layers
                        .iter()
                        .map(|l| (l.digest.clone(), l.diff_id.clone(), l.size))
                        .collect(),
                )),
                Err(crate::Error::MissingImage(_)) | Err(crate::Error::Reference(_)) => Ok(None),
                Err(e) => Err(e),
            },
        }
    }

    /// The layers of `from=name` (see [`Self::layers_named`]), or an error
    /// at `pos` that suggests a stage with a near name.
    pub(super) fn layers_of(&self, name: &str, pos: usize) -> Result<Vec<(String, String, u64)>> {
        if let Some(layers) = self.layers_named(name)? {
            return Ok(layers);
        }
        let stages: Vec<&str> = self.names.keys().map(String::as_str).collect();
        let hint = match super::dockerfile::diag::did_you_mean_among(name, &stages) {
            Some(s) => format!("did you mean the stage '{s}' defined above?"),
            None => "name a stage defined above (FROM ... AS name), or build/pull the image first"
                .into(),
        };
        Err(self.err(
            pos,
            "FromNotFound",
            format!("from={name} is neither an earlier stage nor an image in the store"),
            Some(hint),
        ))
    }

    /// What the mounts add to the cache key, by name.
    pub(super) fn mount_keys(&self, specs: &Specs) -> Result<BTreeMap<String, String>> {
        let mut sources = BTreeMap::new();
        for (m, pos) in specs {
            match m {
                MountSpec::Bind {
                    source, from: None, ..
                } => {
                    let ctx = self.need_context(*pos)?;
                    let found = ctx.resolve(source).map_err(|e| {
                        self.err(
                            *pos,
                            "RunMount",
                            e.to_string().replace("COPY source", "--mount source"),
                            None,
                        )
                    })?;
                    for rel in &found {
                        let h = ctx
                            .hash_source(rel)
                            .map_err(|e| crate::Error::Usage(e.to_string()))?;
                        sources.insert(format!("mount:{rel}"), h);
                    }
                }
                MountSpec::Bind {
                    source,
                    from: Some(name),
                    ..
                } => {
                    // Like COPY --from: the content of the bound path.
                    let layers = self.layers_of(name, *pos)?;
                    sources.extend(self.copied_content_hashes(
                        &layers,
                        name,
                        &[(format!("/{source}"), *pos)],
                        &format!("mount:from={name}"),
                    )?);
                }
                MountSpec::Secret { id, required, .. } => {
                    let value = match self.opts.secrets.get(id) {
                        Some(src) => Some(src.read().map_err(|e| self.err(*pos, "RunSecret", e, None))?),
                        None if *required => return Err(self.err(
                            *pos,
                            "RunSecret",
                            format!("the RUN requires the secret '{id}', but the build was not given it"),
                            Some(format!("pass it with glassbox build --secret id={id},src=FILE (or env=VAR)")),
                        )),
                        None => None,
                    };
                    sources.insert(
                        format!("secret:{id}"),
                        match value {
                            Some(v) => secret_hash(self.store.root(), id, &v)?,
                            None => "not given".into(),
                        },
                    );
                }
                MountSpec::Ssh { id, required, .. } => {
                    let given = self.opts.ssh.contains_key(id);
                    if !given && *required {
                        return Err(self.err(
                            *pos,
                            "RunSsh",
                            format!("the RUN requires the ssh agent '{id}', but the build was not given one"),
                            Some(format!("forward your agent with glassbox build --ssh {id} (SSH_AUTH_SOCK must be set)")),
                        ));
                    }
                    sources.insert(
                        format!("ssh:{id}"),
                        if given { "forwarded" } else { "not given" }.into(),
                    );
                }
                MountSpec::Cache { .. } | MountSpec::Tmpfs { .. } => {}
            }
        }
        Ok(sources)
    }

    fn need_context(&self, pos: usize) -> Result<&super::context::Context> {
        self.context.as_ref().ok_or_else(|| {
            self.err(
                pos,
                "NoContext",
                "RUN --mount=type=bind needs a build context, but the Dockerfile came from stdin"
                    .into(),
                Some("give a context directory instead of -".into()),
            )
        })
    }

    /// Makes everything the mounts need on the host (a cache miss only).
    pub(super) fn prepare_mounts(&self, specs: &Specs) -> Result<MountGuard> {
        let mut g = MountGuard::default();
        for (m, pos) in specs {
            self.prepare_one(m, *pos, &mut g)?;
        }
        Ok(g)
    }

    fn prepare_one(&self, m: &MountSpec, pos: usize, g: &mut MountGuard) -> Result<()> {
        let target = m.target().to_string();
        let announce = |what: String, source: &str, read_only: bool| {
            trace::step(Kind::Build, "mount", format!("{} {target}", m.kind()))
                .field("type", m.kind())
                .field("target", &target)
                .field("source", source)
                .field("read_only", read_only)
                .field("what", what)
        };
        // A secret or ssh mount whose id the build was not given, and that
        // is not required, is left out and said so.
        let skip = |id: &str, why: String| {
            trace::fact(Kind::Build, "mount", format!("{} {target}", m.kind()))
                .field("type", m.kind())
                .field("target", &target)
                .field("id", id)
                .field("skipped", why)
                .info();
        };
        match m {
            MountSpec::Bind {
                source, from, rw, ..
            } => {
                let (dir, origin) = match from {
                    None => (
                        self.need_context(pos)?.root.join(source),
                        "the context".to_string(),
                    ),
                    Some(name) => {
                        let layers = self.layers_of(name, pos)?;
                        let v = View::open(self.store, &layers, name)?;
                        let p = v.path().join(source);
                        g.views.push(v);
                        (p, format!("stage or image {name}"))
                    }
                };
                if std::fs::symlink_metadata(&dir).is_err() {
                    return Err(self.err(
                        pos,
                        "RunMount",
                        format!("--mount source /{source} is not in {origin}"),
                        None,
                    ));
                }
                let bound = if *rw {
                    self.throwaway_overlay(&dir, &target, g)?
                } else {
                    // Nothing to do on the host: the RUN container's init
                    // binds it (its volume.mount step).
                    announce(
                        format!("/{source} of {origin}, read-only"),
                        &dir.display().to_string(),
                        true,
                    )
                    .info();
                    dir
                };
                g.requests.push(Request {
                    source: Source::Bind(bound),
                    destination: target,
                    read_only: !rw,
                });
            }
            MountSpec::Cache { id, .. } => {
                let dir = super::mounts::cache_dir(self.store.root(), id);
                let s = announce(
                    format!("the cache directory for id {id}, kept between builds"),
                    &dir.display().to_string(),
                    false,
                )
                .field("id", id)
                .equivalent(format!("mkdir -p {}", dir.display()))
                .announce()?;
                let r = std::fs::create_dir_all(&dir)
                    .ctx(|| format!("creating the cache mount {}", dir.display()));
                s.finish_with(r)?;
                g.requests.push(Request {
                    source: Source::Bind(dir),
                    destination: target,
                    read_only: false,
                });
            }
            MountSpec::Tmpfs { size, .. } => {
                let dir = self.tmp_mount_dir(g, "tmpfs")?;
                let opts = match size {
                    Some(n) => format!("size={n},mode=0755"),
                    None => "mode=0755".to_string(),
                };
                kernel::run(
                    &mut kernel::Host,
                    announce(
                        "an empty tmpfs (memory), gone after this step".into(),
                        "tmpfs",
                        false,
                    )
                    .field("size", *size),
                    &[tmpfs(&dir, &opts)],
                    "mounting a tmpfs for RUN --mount",
                )?;
                g.mounted.push(dir.clone());
                g.requests.push(Request {
                    source: Source::Bind(dir),
                    destination: target,
                    read_only: false,
                });
            }
            MountSpec::Secret {
                id, mode, owner, ..
            } => {
                let Some(src) = self.opts.secrets.get(id) else {
                    skip(id, format!("the build was not given a secret '{id}' (--secret id={id},src=FILE) and the mount is not required"));
                    return Ok(());
                };
                let value = src
                    .read()
                    .map_err(|e| self.err(pos, "RunSecret", e, None))?;
                let dir = self.tmp_mount_dir(g, "secret")?;
                let opts = format!("size={},mode=0700", value.len() + 4096);
                let calls = [tmpfs(&dir, &opts)];
                let s = kernel::describe(announce(
                    format!("secret '{id}' ({src:?}) as a read-only file on a tmpfs: in memory only, never in a layer"),
                    "tmpfs",
                    true,
                )
                .field("id", id)
                .field("mode", format!("{mode:04o}"))
                .field("uid", owner.0)
                .field("gid", owner.1), &calls)
                .announce()?;
                let file = dir.join("secret");
                let r = kernel::Kernel::call(&mut kernel::Host, &calls[0])
                    .ctx(|| format!("mounting the secret's tmpfs: {}", calls[0].syscall()))
                    .and_then(|()| {
                        g.mounted.push(dir.clone());
                        write_secret(&file, &value, *mode, *owner)
                    });
                s.finish_with(r)?;
                g.requests.push(Request {
                    source: Source::Bind(file),
                    destination: target,
                    read_only: true,
                });
            }
            MountSpec::Ssh { id, .. } => {
                let Some(sock) = self.opts.ssh.get(id) else {
                    skip(id, format!("the build was not given an ssh agent '{id}' (--ssh {id}) and the mount is not required"));
                    return Ok(());
                };
                // Nothing to do on the host: the RUN container's init binds
                // the socket (its volume.mount step).
                announce(
                    format!("the ssh agent socket '{id}'; SSH_AUTH_SOCK={target} in the command's environment"),
                    &sock.display().to_string(),
                    false,
                )
                .field("id", id)
                .info();
                g.requests.push(Request {
                    source: Source::Bind(sock.clone()),
                    destination: target.clone(),
                    read_only: false,
                });
                g.env.push(format!("SSH_AUTH_SOCK={target}"));
            }
        }
        Ok(())
    }

    /// A fresh directory under `ROOT/tmp` for a host-side mount.
    fn tmp_mount_dir(&self, g: &mut MountGuard, what: &str) -> Result<PathBuf> {
        let d = super::sweep::mount_dir(self.store, what)?;
        let p = d.path().join("m");
        std::fs::create_dir(&p).ctx(|| format!("creating {}", p.display()))?;
        g.dirs.push(d);
        Ok(p)
    }

    /// An overlay of `lower` with a throw-away upper dir, for a `rw` bind:
    /// the command can write, the writes land in the upper dir, and the
    /// upper dir is deleted after the step. A single file is copied.
    fn throwaway_overlay(&self, lower: &Path, target: &str, g: &mut MountGuard) -> Result<PathBuf> {
        let d = super::sweep::mount_dir(self.store, "rw")?;
        let base = d.path().to_path_buf();
        g.dirs.push(d);
        if !lower.is_dir() {
            let copy = base.join("file");
            let s = trace::step(Kind::Build, "mount", format!("bind {target}"))
                .field("type", "bind")
                .field("target", target)
                .field("source", lower.display().to_string())
                .field("read_only", false)
                .field(
                    "what",
                    "a copy of the file, writable, discarded after this step",
                )
                .equivalent(format!("cp {} {}", lower.display(), copy.display()))
                .announce()?;
            let r = std::fs::copy(lower, &copy)
                .map(|_| ())
                .ctx(|| format!("copying {}", lower.display()));
            s.finish_with(r)?;
            return Ok(copy);
        }
        let (upper, work, merged) = (base.join("upper"), base.join("work"), base.join("merged"));
        for p in [&upper, &work, &merged] {
            std::fs::create_dir(p).ctx(|| format!("creating {}", p.display()))?;
        }
        let lower_s = lower.display().to_string();
        let opts = kernel::userns::overlay_data(&[&lower_s], Some((&upper, &work)));
        kernel::run(
            &mut kernel::Host,
            trace::step(Kind::Build, "mount", format!("bind {target}"))
                .field("type", "bind")
                .field("target", target)
                .field("source", lower.display().to_string())
                .field("read_only", false)
                .field(
                    "what",
                    "writable through an overlay whose upper dir is discarded after this step",
                )
                .field("upper", upper.display().to_string()),
            &[kernel::mount_fs("overlay", "overlay", &merged).data(&opts)],
            &format!("mounting a writable overlay of {}", lower.display()),
        )?;
        g.mounted.push(merged.clone());
        Ok(merged)
    }
}

/// A tmpfs on `dir`, no set-uid programs or device files on it.
fn tmpfs(dir: &Path, opts: &str) -> kernel::Call {
    kernel::mount_fs("tmpfs", "tmpfs", dir)
        .flags(nix::mount::MsFlags::MS_NOSUID | nix::mount::MsFlags::MS_NODEV)
        .data(opts)
}

fn write_secret(file: &Path, value: &[u8], mode: u32, owner: (u32, u32)) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o400)
        .open(file)
        .ctx(|| format!("creating {}", file.display()))?;
    f.write_all(value)
        .ctx(|| format!("writing {}", file.display()))?;
    std::os::unix::fs::fchown(&f, Some(owner.0), Some(owner.1))
        .ctx(|| format!("chown {}:{} {}", owner.0, owner.1, file.display()))?;
    // Set after creation: the umask cannot take bits away from it.
    f.set_permissions(std::fs::Permissions::from_mode(mode & 0o7777))
        .ctx(|| format!("chmod {mode:o} {}", file.display()))
}

/// The cache-key entry for a secret: sha256 over a random salt kept in
/// `ROOT/build-cache/secret-salt` (mode 0600), the id and the value, so a
/// changed secret reruns the step but the cache records on disk give no
/// way to test guesses of the value without the salt.
pub fn secret_hash(root: &Path, id: &str, value: &[u8]) -> Result<String> {
    use sha2::Digest;
    let salt = secret_salt(root)?;
    let mut h = sha2::Sha256::new();
    for part in [&salt[..], id.as_bytes(), value] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    Ok(format!("salted-sha256:{}", hex::encode(h.finalize())))
}

fn secret_salt(root: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = root.join("build-cache");
    let path = dir.join("secret-salt");
    if let Ok(s) = std::fs::read(&path) {
        if s.len() == 32 {
            return Ok(s);
        }
    }
    std::fs::create_dir_all(&dir).ctx(|| format!("creating {}", dir.display()))?;
    let mut salt = vec![0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut salt))
        .ctx(|| "reading /dev/urandom".into())?;
    let tmp = dir.join(format!("secret-salt.{}", std::process::id()));
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .ctx(|| format!("creating {}", tmp.display()))?;
        f.write_all(&salt)
            .ctx(|| format!("writing {}", tmp.display()))?;
    }
    // Another build may have made one meanwhile: the first one stays.
    match std::fs::hard_link(&tmp, &path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(crate::Error::Io {
                context: format!("creating {}", path.display()),
                source: e,
            });
        }
    }
    let _ = std::fs::remove_file(&tmp);
    std::fs::read(&path).ctx(|| format!("reading {}", path.display()))
}

/// The mount points a RUN's mounts need that its lower layers lack, as
/// (the topmost missing path, the target), both relative. The runtime
/// creates them in the container's upper dir; [`remove_stubs`] takes them
/// out again.
pub fn missing_mount_points(lower: &[PathBuf], targets: &[String]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for t in targets {
        let rel = super::ignore::clean(t.trim_start_matches('/'));
        if rel.is_empty() || rel == "." {
            continue;
        }
        let mut prefix = String::new();
        for part in rel.split('/') {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            if !super::view::exists_in(lower, &prefix) {
                out.push((prefix.clone(), rel.clone()));
                break;
            }
        }
    }
    out
}

/// Removes from `upper` the mount points listed by
/// [`missing_mount_points`] when they are still empty stubs (an empty
/// directory or an empty file), then their created parents while empty.
/// Returns the paths removed.
pub fn remove_stubs(upper: &Path, stubs: &[(String, String)]) -> Vec<String> {
    let mut removed = Vec::new();
    for (top, target) in stubs {
        let mut rel = PathBuf::from(target);
        loop {
            let p = upper.join(&rel);
            let gone = match std::fs::symlink_metadata(&p) {
                Ok(m) if m.is_dir() => std::fs::remove_dir(&p).is_ok(),
                Ok(m) if m.is_file() && m.len() == 0 && rel == Path::new(target) => {
                    std::fs::remove_file(&p).is_ok()
                }
                _ => false,
            };
            if !gone {
                break;
            }
            removed.push(rel.display().to_string());
            if rel == Path::new(top) {
                break;
            }
            match rel.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => rel = parent.to_path_buf(),
                _ => break,
            }
        }
    }
    removed
}
