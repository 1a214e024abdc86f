//! RUN: execute a command in a real container (the runtime's namespaces,
//! overlayfs and cgroup) on top of the stage's layers, then turn the
//! container's overlay upper dir into the instruction's layer.
//!
//! The container's output goes to a log file in the store's `tmp/`; its
//! last lines travel in the `build.run` event and, when the command fails,
//! in the error's hint.

use std::path::PathBuf;

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
        Some((fd, fd)),
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
