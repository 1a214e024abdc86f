//! RUN: execute a command in a real container (the runtime's namespaces,
//! overlayfs and cgroup) on top of the stage's layers, then turn the
//! container's overlay upper dir into the instruction's layer.
//!
//! The container's output goes to a log file in the store's `tmp/`; its
//! last lines travel in the `build.run` event and, when the command fails,
//! in the error's hint.

use std::path::PathBuf;

use super::exec::{command_list, flag_name, Builder, Stage};
use super::plan::CacheInputs;
use crate::error::IoContext;
use crate::runtime::{self, Lower, Rootfs, RunOptions};
use crate::store::Store;
use crate::trace::{self, Kind};
use crate::Result;

/// What to run.
#[derive(Debug, Clone)]
pub struct RunJob {
    /// argv (shell form already wrapped in the SHELL).
    pub args: Vec<String>,
    /// Extra environment (build args not overridden by ENV), `K=V`.
    pub env: Vec<String>,
    /// The working directory.
    pub workdir: String,
    /// The user, when the stage set one.
    pub user: Option<String>,
    /// Bind mounts for this step only (here-document scripts, `--mount`).
    pub mounts: Vec<crate::volume::Request>,
}

/// A finished RUN container whose upper dir holds the changes; the
/// container directory is removed on drop.
pub struct Finished {
    /// The exit code.
    pub code: i32,
    /// The last lines of the output.
    pub tail: Vec<String>,
    dir: runtime::ContainerDir,
}

impl Finished {
    /// The overlay upper dir: everything the command changed.
    pub fn upper(&self) -> PathBuf {
        self.dir.upper()
    }
}

impl Drop for Finished {
    fn drop(&mut self) {
        runtime::remove_dir(&self.dir);
    }
}

/// Runs `job` over `layers` (`(lowerdir, digest)`, bottom → top) with the
/// stage's config `config` (JSON bytes).
pub fn run(
    store: &Store,
    layers: &[(PathBuf, String)],
    config: &[u8],
    job: &RunJob,
) -> Result<Finished> {
    let image: oci_spec::image::ImageConfiguration = serde_json::from_slice(config)
        .map_err(|e| crate::Error::Usage(format!("the stage's config does not parse: {e}")))?;
    let rootfs = Rootfs {
        lowers: layers
            .iter()
            .rev()
            .map(|(dir, digest)| Lower {
                dir: dir.clone(),
                digest: digest.clone(),
            })
            .collect(),
    };
    let opts = RunOptions {
        process: runtime::ProcessOptions {
            command: job.args.clone(),
            entrypoint: Some(String::new()),
            env: job.env.clone(),
            workdir: Some(job.workdir.clone()),
            user: job.user.clone(),
            ..Default::default()
        },
        remove: false,
        name: None,
        image_ref: "build step".into(),
        limits: Default::default(),
        volumes: job.mounts.clone(),
        ..Default::default()
    };
    let (dir, spec) = runtime::create(store.root(), &rootfs, &image, &opts)?;
    let log = tempfile::NamedTempFile::new_in(store.tmp_dir())
        .ctx(|| "creating the RUN output file".into())?;
    let fd = std::os::fd::AsRawFd::as_raw_fd(log.as_file());
    let result = runtime::start_and_wait(
        &dir,
        &spec,
        &rootfs,
        &opts.limits,
        runtime::Stdio::Log(fd, fd),
        &mut |_| {},
    );
    let text = std::fs::read_to_string(log.path()).unwrap_or_default();
    let tail: Vec<String> = text
        .lines()
        .rev()
        .take(10)
        .map(str::to_string)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let mut finished = Finished { code: 0, tail, dir };
    let (code, _oom) = result?;
    trace::fact(Kind::Build, "run", job.args.join(" "))
        .field("code", code)
        .field("output", &finished.tail)
        .info();
    finished.code = code;
    Ok(finished)
}

impl Builder<'_> {
    pub(super) fn run(
        &mut self,
        stage_index: usize,
        n: usize,
        r: &parse_dockerfile::RunInstruction<'_>,
        pos: usize,
        stage: &mut Stage,
    ) -> Result<String> {
        if let Some(f) = r.options.first() {
            return Err(self.err(
                f.name.span.start,
                "UnsupportedFlag",
                format!("RUN --{} is not supported by glassbox", flag_name(f)),
                Some("remove the flag; RUN runs with the default mounts and network".into()),
            ));
        }
        // A `#!` here-document runs as a file bound into the container; its
        // text is part of the instruction (and so of the cache key).
        let mut script = None;
        let args = match (r.here_docs.first(), &r.arguments) {
            (Some(h), parse_dockerfile::Command::Shell(line)) => {
                let first = self.line_at(pos);
                match super::heredoc::run_form(&first, line.value, &h.value, &stage.shell) {
                    super::heredoc::RunForm::Shell(argv) => argv,
                    super::heredoc::RunForm::Script { name, body } => {
                        let path = super::heredoc::script_path(&name);
                        script = Some((path.clone(), body));
                        vec![path]
                    }
                }
            }
            _ => command_list(&r.arguments, &stage.shell),
        };
        // Build args are in the command's environment (and so in its key)
        // unless an ENV of the same name wins.
        let env_names: std::collections::BTreeSet<String> =
            stage.config.env().into_iter().map(|(k, _)| k).collect();
        let extra: Vec<String> = self
            .scope
            .vars()
            .into_iter()
            .filter(|(k, _)| !env_names.contains(k))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let mut text = format!("RUN {}", serde_json::to_string(&args).expect("json"));
        if let Some((_, body)) = &script {
            text.push_str(&format!(
                " (script: {})",
                serde_json::to_string(body).expect("json")
            ));
        }
        if !extra.is_empty() {
            text.push_str(&format!(" (with {})", extra.join(" ")));
        }
        let inputs = CacheInputs {
            parent: stage.key.clone(),
            instruction: text.clone(),
            ..Default::default()
        };
        let slot = self.slot(stage_index, n);
        stage.key = inputs.key();
        let (layer, cached) = match self.lookup(&inputs, &slot) {
            Some(Some(l)) => (l, true),
            _ => {
                if stage.layers.is_empty() {
                    return Err(self.err(
                        pos,
                        "RunOnScratch",
                        "RUN on an empty stage (FROM scratch) has no program to run".into(),
                        Some("start FROM busybox, or COPY a static binary in first".into()),
                    ));
                }
                let lower = self.lowerdirs(stage)?;
                let layers: Vec<(PathBuf, String)> = lower
                    .into_iter()
                    .zip(stage.layers.iter().map(|l| l.digest.clone()))
                    .collect();
                // The script file lives in the store's tmp/ until the step ends.
                let script_dir = tempfile::tempdir_in(self.store.tmp_dir())
                    .ctx(|| "creating a dir for the here-document".into())?;
                let mut mounts = Vec::new();
                if let Some((path, body)) = &script {
                    use std::os::unix::fs::PermissionsExt;
                    let file = script_dir.path().join("script");
                    std::fs::write(&file, body).ctx(|| format!("writing {}", file.display()))?;
                    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755))
                        .ctx(|| format!("chmod 755 {}", file.display()))?;
                    mounts.push(crate::volume::Request {
                        source: crate::volume::Source::Bind(file),
                        destination: path.clone(),
                        read_only: true,
                    });
                }
                let job = super::run::RunJob {
                    mounts,
                    args: args.clone(),
                    env: extra,
                    workdir: stage.workdir.clone(),
                    user: stage.config.get_str("User").filter(|u| !u.is_empty()),
                };
                let done = super::run::run(self.store, &layers, &stage.config.finish(), &job)?;
                if done.code != 0 {
                    let tail = done.tail.join("\n  | ");
                    return Err(self.err(
                        pos,
                        "RunFailed",
                        format!("RUN exited with status {}", done.code),
                        Some(if tail.is_empty() {
                            "the command printed nothing; run it by hand with `glassbox run` on the stage's base to see why".into()
                        } else {
                            format!("its last output:\n  | {tail}")
                        }),
                    ));
                }
                let upper = done.upper();
                let changes = super::upper::convert_upper(&upper)?;
                let mut paths = changes.changed.clone();
                paths.extend(changes.removed.iter().map(|p| format!("{p} (deleted)")));
                let mut l = self.pack(&upper, paths, true)?;
                l.files =
                    (changes.changed.len() + changes.removed.len() + changes.opaque.len()) as u64;
                trace::fact(Kind::Build, "diff", format!("changes of {text}"))
                    .field("changed", changes.changed.len())
                    .field("removed", &changes.removed)
                    .field("opaque", &changes.opaque)
                    .info();
                drop(done);
                self.cache.record(&inputs, Some(l.clone()), &slot)?;
                (l, false)
            }
        };
        self.add_layer(stage, &text, &layer, cached);
        Ok(format!(
            "ran in a container; {} changes in a layer {}",
            layer.files, layer.digest
        ))
    }
}
