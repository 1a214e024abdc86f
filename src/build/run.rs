//! RUN: execute a command in a real container (the runtime's namespaces,
//! overlayfs and cgroup) on top of the stage's layers, then turn the
//! container's overlay upper dir into the instruction's layer.
//!
//! The container's output comes back through a pipe and is streamed live
//! as `build.output` events, one per line, while the command runs; its
//! last lines travel in the `build.run` event and, when the command fails,
//! in the error's hint. The container is recorded with this process's PID
//! as its builder, so the next build can sweep up after a killed one.

use std::path::PathBuf;

use super::exec::{command_list, Builder, Stage};
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
    /// `--network=host`: keep the host's network namespace.
    pub host_network: bool,
}

/// A finished RUN container whose upper dir holds the changes; the
/// container directory (and any anonymous volume the stage's VOLUMEs made)
/// is removed on drop.
pub struct Finished {
    /// The exit code.
    pub code: i32,
    /// The last lines of the output.
    pub tail: Vec<String>,
    dir: runtime::ContainerDir,
    root: PathBuf,
}

impl Finished {
    /// The overlay upper dir: everything the command changed.
    pub fn upper(&self) -> PathBuf {
        self.dir.upper()
    }
}

impl Drop for Finished {
    fn drop(&mut self) {
        if let Ok(st) = crate::store::container::State::load(&self.dir.path) {
            runtime::volumes::remove_anonymous(&self.root, &st);
        }
        runtime::remove_dir(&self.dir);
    }
}

/// How many output lines a failed RUN shows.
pub const TAIL_LINES: usize = 10;

/// Reads the container's output pipe line by line: each line becomes a
/// `build.output` event the moment it is written (so a long RUN shows its
/// progress live), and the last [`TAIL_LINES`] are kept for the error.
fn pump_output(
    pipe: std::fs::File,
    phases: Vec<String>,
    tail: std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<String>>>,
) {
    use std::io::BufRead;
    let _guards: Vec<_> = phases.iter().map(|p| trace::phase(p)).collect();
    let mut reader = std::io::BufReader::new(pipe);
    let mut buf = Vec::new();
    let mut n = 0u64;
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        n += 1;
        let line = String::from_utf8_lossy(&buf)
            .trim_end_matches(['\n', '\r'])
            .to_string();
        trace::fact(Kind::Build, "output", line.clone())
            .field("line", n)
            .info();
        let mut t = tail.lock().unwrap_or_else(|e| e.into_inner());
        if t.len() == TAIL_LINES {
            t.pop_front();
        }
        t.push_back(line);
    }
}

/// Runs `job` over `layers` (`(lowerdir, digest)`, bottom → top) with the
/// stage's config `config` (JSON bytes). `phases` are the trace phases the
/// output events are reported under.
pub fn run(
    store: &Store,
    layers: &[(PathBuf, String)],
    config: &[u8],
    job: &RunJob,
    phases: &[&str],
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
            host_network: job.host_network,
            ..Default::default()
        },
        remove: false,
        name: None,
        image_ref: BUILD_STEP.into(),
        limits: Default::default(),
        volumes: job.mounts.clone(),
        ..Default::default()
    };
    let (dir, spec) = runtime::create(store.root(), &rootfs, &image, &opts)?;
    // Record who runs this container, so a later build can tell that a
    // killed build left it behind (see [`sweep_orphans`]).
    let mut st = crate::store::container::State::load(&dir.path)?;
    st.shim_pid = Some(std::process::id() as i32);
    st.save(&dir.path)?;
    let (out_r, out_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| crate::Error::Usage(format!("making the RUN output pipe: {e}")))?;
    let fd = std::os::fd::AsRawFd::as_raw_fd(&out_w);
    let tail = std::sync::Arc::new(std::sync::Mutex::new(std::collections::VecDeque::new()));
    let mut out_r = Some(std::fs::File::from(out_r));
    let mut reader = None;
    let phases: Vec<String> = phases.iter().map(|p| p.to_string()).collect();
    // The reader thread starts only once the container's init is cloned:
    // the clone needs a single-threaded process.
    let mut on_start = |pid: i32| {
        let _ = st.started(&dir.path, pid);
        if let Some(pipe) = out_r.take() {
            let (t, p) = (tail.clone(), phases.clone());
            reader = Some(std::thread::spawn(move || pump_output(pipe, p, t)));
        }
    };
    let result = runtime::start_and_wait(
        &dir,
        &spec,
        &rootfs,
        &opts.limits,
        runtime::Stdio::Log(fd, fd),
        &mut on_start,
    );
    // Our copy of the write end goes; the reader sees EOF once the
    // container's processes (all gone with its PID namespace) are.
    drop(out_w);
    if let Some(h) = reader {
        let _ = h.join();
    }
    let mut st = crate::store::container::State::load(&dir.path)?;
    runtime::lifecycle::record_exit(&dir.path, &mut st, &result);
    let _ = st.save(&dir.path);
    let tail: Vec<String> = tail
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .cloned()
        .collect();
    let mut finished = Finished {
        code: 0,
        tail,
        dir,
        root: store.root().to_path_buf(),
    };
    let (code, _oom) = result?;
    trace::fact(Kind::Build, "run", job.args.join(" "))
        .field("code", code)
        .field("output", &finished.tail)
        .info();
    finished.code = code;
    Ok(finished)
}

/// The image name build containers are recorded under.
pub const BUILD_STEP: &str = "build step";

/// Removes the RUN containers of builds that were killed: a container
/// recorded as a build step whose builder PID is gone. Its init (if still
/// running) is killed by its recorded PID, its cgroup and directory are
/// removed; its mounts lived in its own mount namespace and went with it.
/// Runs at the start of every build. Returns the ids removed.
pub fn sweep_orphans(store: &Store) -> Vec<String> {
    let mut removed = Vec::new();
    for (_, st) in crate::store::container::all(store.root()) {
        if st.image != BUILD_STEP {
            continue;
        }
        let Some(builder) = st.shim_pid else { continue };
        let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(builder), None).is_ok();
        if alive {
            continue;
        }
        trace::fact(
            Kind::Build,
            "sweep",
            format!("container {}", &st.id[..12.min(st.id.len())]),
        )
        .field("id", &st.id)
        .field("builder_pid", builder)
        .field("pid", st.pid)
        .field("status", st.status.as_str())
        .info();
        // The runtime kills what is left by its recorded PID and removes
        // the cgroup once the kernel has let go of it.
        let ok = runtime::lifecycle::remove(store.root(), &st.id, true, true).is_ok();
        if ok {
            removed.push(st.id.clone());
        }
    }
    removed
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
        let (network, mount_specs, flags_text) = self.run_flags(r)?;
        // A `#!` here-document runs as a file bound into the container; its
        // text is part of the instruction (and so of the cache key).
        let mut script = None;
        let here = match &self.trigger {
            None => self.heredocs.get(&pos),
            Some(_) => None,
        };
        let args = match (here, &r.arguments) {
            (Some(h), parse_dockerfile::Command::Shell(_)) => {
                match super::heredoc::run_form(h, &stage.shell) {
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
        let mut text = format!(
            "RUN {flags_text}{}",
            serde_json::to_string(&args).expect("json")
        );
        if let Some((_, body)) = &script {
            text.push_str(&format!(
                " (script: {})",
                serde_json::to_string(body).expect("json")
            ));
        }
        if !extra.is_empty() {
            text.push_str(&format!(" (with {})", extra.join(" ")));
        }
        let sources = self.mount_keys(&mount_specs)?;
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
                let guard = self.prepare_mounts(&mount_specs)?;
                let mut mounts = guard.requests.clone();
                let mut env = extra.clone();
                env.extend(guard.env.iter().cloned());
                let targets: Vec<String> = mount_specs
                    .iter()
                    .map(|(m, _)| m.target().to_string())
                    .collect();
                let stubs = super::run_mounts::missing_mount_points(
                    &layers.iter().map(|l| l.0.clone()).collect::<Vec<_>>(),
                    &targets,
                );
                // The script file lives in the store's tmp/ until the step ends.
                let script_dir = self.store.tempdir()?;
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
                    host_network: network == super::mounts::Network::Host,
                    args: args.clone(),
                    env,
                    workdir: stage.workdir.clone(),
                    user: stage.config.get_str("User").filter(|u| !u.is_empty()),
                };
                let stage_phase = format!("stage {stage_index}");
                let done = super::run::run(
                    self.store,
                    &layers,
                    &stage.config.finish(),
                    &job,
                    &["build", &stage_phase],
                )?;
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
                drop(guard);
                let upper = done.upper();
                let unstubbed = super::run_mounts::remove_stubs(&upper, &stubs);
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
                    .field("mount_points_removed", &unstubbed)
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
