//! Running containers for real: an OCI runtime spec made from the image and
//! the options ([`spec`]), a `clone` into new namespaces, an init process
//! that builds the root filesystem and drops privileges ([`init`]), and the
//! parent that relays the init's events and collects the exit code.
//!
//! The runtime takes a [`Rootfs`] — the image's unpacked layers in overlay
//! order with their digests — so it does not depend on how images are
//! stored.

pub mod attach;
pub mod bundle;
pub mod cgroup;
pub mod console;
mod error;
pub mod exec;
pub mod hooks;
mod init;
pub mod lifecycle;
mod logline;
pub mod namespaces;
mod pid1;
pub mod prune;
pub mod restart;
pub mod seccomp;
pub(crate) mod shim;
mod sigproxy;
pub mod spec;
pub mod top;
pub mod tty;
mod user;
pub mod volumes;

pub use error::RuntimeError;
pub use shim::log_path;
pub use spec::ProcessOptions;

use crate::error::IoContext;
use crate::store::container;
use crate::trace::{self, Kind};
use error::KernelContext;
use oci_spec::image::ImageConfiguration;
use std::path::{Path, PathBuf};

/// One lower layer of a container's root filesystem.
#[derive(Debug, Clone)]
pub struct Lower {
    /// The unpacked layer directory.
    pub dir: PathBuf,
    /// The layer's digest (or another label saying where it came from).
    pub digest: String,
}

/// The read-only layers of a root filesystem, topmost first (overlay's
/// `lowerdir=` order).
#[derive(Debug, Clone)]
pub struct Rootfs {
    /// Topmost first.
    pub lowers: Vec<Lower>,
}

impl Rootfs {
    /// The unpacked layers of a stored image (unpacking any missing ones),
    /// topmost first, each with its layer digest.
    pub fn from_image(
        store: &crate::store::Store,
        image: &crate::store::Image,
    ) -> crate::Result<Rootfs> {
        let dirs = crate::image::lowerdirs(store, image)?;
        Ok(Rootfs {
            lowers: dirs
                .into_iter()
                .zip(image.layers.iter())
                .rev()
                .map(|(dir, l)| Lower {
                    dir,
                    digest: l.digest.clone(),
                })
                .collect(),
        })
    }
}

/// Options of `run` beyond the process itself.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The process options (command, env, user, ...).
    pub process: ProcessOptions,
    /// `--rm`: remove the container's directory when it exits.
    pub remove: bool,
    /// `--name`.
    pub name: Option<String>,
    /// The image reference as the user typed it.
    pub image_ref: String,
    /// `--memory`, `--cpus`, `--pids-limit`.
    pub limits: cgroup::Limits,
    /// `-t`: give the container a pseudo-terminal.
    pub tty: bool,
    /// `-i`: the foreground container reads this command's standard input;
    /// without it the container's stdin is /dev/null, as with docker. A
    /// detached one gets a stdin its shim keeps open for `attach`.
    pub interactive: bool,
    /// `--restart`.
    pub restart: restart::RestartPolicy,
    /// `-v` requests (named volumes, bind mounts, anonymous volumes).
    pub volumes: Vec<crate::volume::Request>,
    /// `--tmpfs DIR[:OPTIONS]`: an empty tmpfs at DIR for this run.
    pub tmpfs: Vec<String>,
    /// `-p`, `-P`, `--port-driver`: the ports to publish.
    pub ports: crate::network::port::PortState,
    /// `--network`, `--network-alias`, `--link`, `--ip` (the default is
    /// `--network none`; the CLI's default is the `bridge` network).
    pub network: crate::network::Request,
}

/// A container's directory under `root/containers/<id>/`.
pub struct ContainerDir {
    /// The full id (64 hex).
    pub id: String,
    /// `root/containers/<id>`.
    pub path: PathBuf,
}

impl ContainerDir {
    /// The bundle's config.json.
    pub fn config(&self) -> PathBuf {
        self.path.join("config.json")
    }
    /// The writable upper layer.
    pub fn upper(&self) -> PathBuf {
        self.path.join("upper")
    }
    /// overlayfs's work dir.
    pub fn work(&self) -> PathBuf {
        self.path.join("work")
    }
    /// Where the merged root filesystem is mounted (inside the container's
    /// mount namespace only).
    pub fn merged(&self) -> PathBuf {
        self.path.join("rootfs")
    }
}

/// Creates the container directory and writes its `config.json`.
pub fn create(
    root: &Path,
    rootfs: &Rootfs,
    image: &ImageConfiguration,
    opts: &RunOptions,
) -> crate::Result<(ContainerDir, oci_spec::runtime::Spec)> {
    for l in &rootfs.lowers {
        if !l.dir.is_dir() {
            return Err(RuntimeError::MissingLayer(l.dir.display().to_string()).into());
        }
    }
    if opts.remove && opts.restart != restart::RestartPolicy::No {
        return Err(RuntimeError::RestartWithRm.into());
    }
    let id = container::new_id()?;
    let name = opts.name.clone().unwrap_or_else(|| id[..12].to_string());
    if let Some((_, other)) = container::all(root)
        .into_iter()
        .find(|(_, s)| s.name == name)
    {
        return Err(RuntimeError::NameInUse(name, other.id[..12].to_string()).into());
    }
    let dir = ContainerDir {
        path: root.join("containers").join(&id),
        id,
    };
    // Names in -u (or the image's USER) are the image's, not the host's.
    let mut process = opts.process.clone();
    let wanted = process.user.clone().or_else(|| {
        image
            .config()
            .as_ref()
            .and_then(|c| c.user().clone())
            .filter(|u| !u.is_empty())
    });
    if let Some(u) = wanted {
        process.user = Some(user::resolve(&u, &rootfs.lowers)?);
    }
    let (uid, gid) = spec::parse_user(process.user.as_deref().unwrap_or("0"))?;
    let (home, groups) = user::home_and_groups(uid, gid, &rootfs.lowers);
    process.home = Some(home);
    process.additional_gids = groups;
    process.host_network |= opts.network.mode == crate::network::Mode::Host;
    let endpoints = crate::network::join(root, &dir.id, &opts.network)?;
    let undo_network = || crate::network::release_endpoints(root, &dir.id, &name, &endpoints);
    let mounts = match volumes::prepare(root, image, &opts.volumes) {
        Ok(m) => m,
        Err(e) => {
            undo_network();
            return Err(e);
        }
    };
    let spec = volumes::spec_mounts(&mounts).and_then(|extra| {
        let mut spec = spec::generate(image, &process, dir.merged(), &dir.id[..12])?;
        // `-t` is recorded as OCI's `process.terminal`: a detached
        // container's shim and `logs` read it.
        if opts.tty {
            if let Some(p) = spec.process_mut() {
                p.set_terminal(Some(true));
            }
        }
        let mut all = spec.mounts().clone().unwrap_or_default();
        if !endpoints.is_empty() {
            all.extend(crate::network::name_mounts(&dir.path));
        }
        all.extend(extra);
        for t in &opts.tmpfs {
            all.push(spec::tmpfs_mount(t)?);
        }
        spec.set_mounts(Some(all));
        Ok(spec)
    });
    let spec = match spec {
        Ok(s) => s,
        Err(e) => {
            volumes::undo(root, &mounts);
            undo_network();
            return Err(e);
        }
    };
    let s = trace::step(
        Kind::Process,
        "spec",
        format!("container {}", &dir.id[..12]),
    )
    .field("id", &dir.id)
    .field("path", dir.config().display().to_string())
    .field("args", spec.process().as_ref().map(|p| p.args().clone()))
    .field("image", &opts.image_ref)
    .equivalent(format!("runc spec --bundle {}", dir.path.display()))
    .announce();
    let s = match s {
        Ok(s) => s,
        Err(e) => {
            volumes::undo(root, &mounts);
            undo_network();
            return Err(e.into());
        }
    };
    let r = (|| -> crate::Result<()> {
        for d in [dir.upper(), dir.work(), dir.merged()] {
            std::fs::create_dir_all(&d).ctx(|| format!("creating {}", d.display()))?;
        }
        let json = serde_json::to_vec_pretty(&spec).map_err(std::io::Error::other);
        let tmp = dir.path.join("config.json.tmp");
        std::fs::write(&tmp, json.ctx(|| "serialising config.json".into())?)
            .ctx(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, dir.config()).ctx(|| format!("renaming {}", tmp.display()))?;
        let lowers: Vec<String> = rootfs
            .lowers
            .iter()
            .map(|l| l.dir.display().to_string())
            .collect();
        std::fs::write(dir.path.join("lowers"), lowers.join("\n"))
            .ctx(|| "writing the lowerdir list".into())?;
        container::State {
            id: dir.id.clone(),
            name: name.clone(),
            image: opts.image_ref.clone(),
            created: container::now(),
            status: container::Status::Created,
            pid: None,
            shim_pid: None,
            exit_code: None,
            oom_killed: false,
            started_at: None,
            finished_at: None,
            error: None,
            auto_remove: opts.remove,
            limits: opts.limits.into(),
            lowers: rootfs
                .lowers
                .iter()
                .map(|l| (l.dir.clone(), l.digest.clone()))
                .collect(),
            mounts: mounts.clone(),
            restart_policy: opts.restart,
            restart_count: 0,
            ports: opts.ports.clone(),
            network_mode: opts.network.mode.as_str().to_string(),
            networks: endpoints.clone(),
            open_stdin: opts.interactive,
            stdin_once: false,
        }
        .save(&dir.path)?;
        crate::network::announce(root, &dir.path)?;
        Ok(())
    })();
    if r.is_ok() {
        if let Ok(st) = container::State::load(&dir.path) {
            st.journal(root, "create", &[]);
        }
    }
    if r.is_err() {
        let _ = std::fs::remove_dir_all(&dir.path);
        volumes::undo(root, &mounts);
        undo_network();
    }
    s.finish_with(r)?;
    Ok((dir, spec))
}

/// Runs a container in the foreground: creates it, starts its init in new
/// namespaces, relays its events, waits, and returns its exit code (127
/// when the command is not found, 126 when it cannot be executed).
pub fn run_foreground(
    root: &Path,
    rootfs: &Rootfs,
    image: &ImageConfiguration,
    opts: &RunOptions,
) -> crate::Result<i32> {
    let _p = trace::phase("run");
    // Published ports are bound before anything exists, so a port in use
    // fails the run with nothing to clean up.
    let mut opts = opts.clone();
    let held = crate::network::port::bind(root, &mut opts.ports)?;
    let opts = &opts;
    let (dir, spec) = create(root, rootfs, image, opts)?;
    let mut ports = crate::network::port::Supervisor::new(&dir.path, held);
    let mut st = container::State::load(&dir.path)?;
    let mut signals: Option<sigproxy::Proxy> = None;
    let mut on_start = |pid: i32| {
        if let Some(p) = ports.as_mut() {
            p.container_started(pid);
        }
        signals = Some(sigproxy::forward_to(pid, &dir.id[..12]));
        st.shim_pid = Some(std::process::id() as i32);
        let _ = st.started(&dir.path, pid);
    };
    let result = if opts.tty {
        // On a terminal there is one stream: docker logs it as stdout.
        let log = logline::Lines::new(shim::open_log(&dir.path)?, "stdout");
        tty::run_with_terminal(opts.interactive, log, |plan, on_attach| {
            let mut both = |pid: i32| {
                on_attach();
                on_start(pid);
            };
            start_and_wait(
                &dir,
                &spec,
                rootfs,
                &opts.limits,
                Stdio::Tty(plan),
                &mut both,
            )
        })
    } else {
        // The output goes to this command's stdout and stderr and to the
        // log, so `glassbox logs` shows it, as docker's does.
        let mut out = shim::OutputPipes::new(&dir.path, true)?;
        trace::fact(
            Kind::Process,
            "output",
            format!("container {}", &dir.id[..12]),
        )
        .field("log", shim::log_path(&dir.path).display().to_string())
        .field("stdin", opts.interactive)
        .equivalent(format!("glassbox logs {}", &dir.id[..12]))
        .syscall("pipe2(2), dup2(2)")
        .info();
        let (w_out, w_err) = out.write_ends();
        let io = Stdio::Pipes {
            out: w_out,
            err: w_err,
            stdin: opts.interactive,
        };
        let mut started = |pid: i32| {
            out.container_started();
            on_start(pid);
        };
        let r = start_and_wait(&dir, &spec, rootfs, &opts.limits, io, &mut started);
        out.drain();
        r
    };
    drop(signals);
    drop(ports);
    let mut st = container::State::load(&dir.path)?;
    lifecycle::record_exit(&dir.path, &mut st, &result);
    if opts.remove {
        remove_dir(&dir);
        volumes::remove_anonymous(root, &st);
    } else {
        st.save(&dir.path)?;
    }
    if let Ok((code, _)) = &result {
        let stopped = restart::stop_marker(&dir.path).exists();
        if !opts.remove && st.restart_policy.should_restart(*code, 0, stopped) {
            hand_over(root, &dir, &mut st, *code)?;
        }
    }
    result.map(|(code, _)| code)
}

/// A foreground container ended and its restart policy starts it again:
/// as with dockerd, it goes on in the background under a supervisor (the
/// shim, which applies the policy from then on) and this command returns
/// the first exit code.
fn hand_over(
    root: &Path,
    dir: &ContainerDir,
    st: &mut container::State,
    code: i32,
) -> crate::Result<()> {
    let s = trace::step(
        Kind::Process,
        "hand_over",
        format!("container {}", &dir.id[..12]),
    )
    .field("policy", st.restart_policy.name())
    .field("exit_code", code)
    .equivalent(format!("glassbox start {}", st.name))
    .announce()?;
    st.restart_count += 1;
    let r = st
        .save(&dir.path)
        .and_then(|()| lifecycle::start(root, &dir.id).map(|_| ()));
    s.finish_with(r)
}

pub(crate) fn remove_dir(dir: &ContainerDir) {
    // The addresses go back to their pools first, while the state that
    // names them is still there.
    let st = container::State::load(&dir.path);
    let root = container::root_of(&dir.path);
    if let Ok(st) = &st {
        crate::network::release(root, st);
    }
    let _ = trace::cleanup(
        Kind::Store,
        "remove",
        format!("container {}", &dir.id[..12]),
    )
    .field("path", dir.path.display().to_string())
    .equivalent(format!("rm -rf {}", dir.path.display()))
    .announce()
    .map(|s| s.finish_with(std::fs::remove_dir_all(&dir.path)));
    if let Ok(st) = &st {
        st.journal(root, "destroy", &[]);
    }
}

/// Where the container's stdin, stdout and stderr go.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Stdio {
    /// The shim's log pipes; stdin is /dev/null.
    Log(i32, i32),
    /// The shim's log pipes and the read end of the stdin pipe it keeps
    /// for attaching clients (a detached `-i` container).
    LogIn {
        /// The write end of the stdout pipe.
        out: i32,
        /// The write end of the stderr pipe.
        err: i32,
        /// The read end of the stdin pipe.
        stdin: i32,
    },
    /// A foreground run's pipes, which the command copies to its own
    /// stdout and stderr and to the log; stdin is the caller's when `stdin`
    /// (`-i`), else /dev/null.
    Pipes {
        /// The write end of the stdout pipe.
        out: i32,
        /// The write end of the stderr pipe.
        err: i32,
        /// `-i`: keep the caller's stdin.
        stdin: bool,
    },
    /// A pseudo-terminal the init opens in the container's devpts (`-t`).
    Tty(tty::TtyPlan),
    /// The stdio this process was given (an OCI runtime's caller's).
    Inherit,
}

pub(crate) fn start_and_wait(
    dir: &ContainerDir,
    spec: &oci_spec::runtime::Spec,
    rootfs: &Rootfs,
    limits: &cgroup::Limits,
    io: Stdio,
    on_start: &mut dyn FnMut(i32),
) -> crate::Result<(i32, bool)> {
    start_and_wait_observed(dir, spec, rootfs, limits, io, on_start, &mut |_| {})
}

/// What a measured foreground run saw (`glassbox compare`).
#[derive(Debug, Clone)]
pub(crate) struct Observed {
    /// The exit code.
    pub code: i32,
    /// The namespaces the spec asked for (`pid`, `mount`, ...).
    pub namespaces: Vec<&'static str>,
}

/// A foreground run like [`run_foreground`] (always `--rm`), whose output
/// goes to `io`, whose init's host PID is given to `on_start`, and whose
/// cgroup is shown to `before_remove` after the process exited but before
/// the cgroup is removed (where its peak memory can still be read).
pub(crate) fn run_observed(
    root: &Path,
    rootfs: &Rootfs,
    image: &ImageConfiguration,
    opts: &RunOptions,
    io: Stdio,
    on_start: &mut dyn FnMut(i32),
    before_remove: &mut dyn FnMut(&cgroup::Cgroup),
) -> crate::Result<Observed> {
    let _p = trace::phase("run");
    let (dir, spec) = create(root, rootfs, image, opts)?;
    let namespaces = namespaces::in_spec(&spec).iter().map(|n| n.name).collect();
    let mut st = container::State::load(&dir.path)?;
    // `glassbox ps` from a second terminal shows it running, as for `run`.
    let mut started = |pid: i32| {
        // The caller first: it may be timing the output.
        on_start(pid);
        st.shim_pid = Some(std::process::id() as i32);
        let _ = st.started(&dir.path, pid);
    };
    let result = start_and_wait_observed(
        &dir,
        &spec,
        rootfs,
        &opts.limits,
        io,
        &mut started,
        before_remove,
    );
    let st = container::State::load(&dir.path);
    remove_dir(&dir);
    if let Ok(st) = st {
        volumes::remove_anonymous(root, &st);
    }
    result.map(|(code, _)| Observed { code, namespaces })
}

fn start_and_wait_observed(
    dir: &ContainerDir,
    spec: &oci_spec::runtime::Spec,
    rootfs: &Rootfs,
    limits: &cgroup::Limits,
    io: Stdio,
    on_start: &mut dyn FnMut(i32),
    before_remove: &mut dyn FnMut(&cgroup::Cgroup),
) -> crate::Result<(i32, bool)> {
    // The cgroup namespace is made by the init itself, after the parent has
    // moved it into its cgroup, so that the container sees that cgroup as /.
    let all = namespaces::in_spec(spec);
    let names: Vec<_> = all.iter().filter(|n| n.name != "cgroup").copied().collect();
    let flags = names
        .iter()
        .fold(nix::sched::CloneFlags::empty(), |a, n| a | n.clone);
    let new_cgroup_ns = all.iter().any(|n| n.name == "cgroup");
    let layout = cgroup::Layout::detect()?;
    let cg = cgroup::Cgroup::new(layout, &dir.id);
    let mut fs = cgroup::HostFs;
    let endpoints = container::State::load(&dir.path)
        .map(|s| s.networks)
        .unwrap_or_default();
    {
        let _p = trace::phase("cgroup");
        if let Err(e) = cg.create(&mut fs, limits) {
            let _ = cg.remove(&mut fs);
            return Err(e);
        }
    }
    let r = clone_and_wait(
        dir,
        spec,
        rootfs,
        &cg,
        &names,
        flags,
        new_cgroup_ns,
        io,
        &endpoints,
        on_start,
    );
    let r = r.map(|(code, pid, sig)| {
        let oom = cg.oom_killed(&mut fs);
        let mut f = trace::fact(
            Kind::Process,
            "exit",
            format!("container {}", &dir.id[..12]),
        )
        .field("code", code)
        .field("pid", pid)
        .field("oom_killed", oom);
        if let Some(sig) = sig {
            f = f.field("signal", sig);
        }
        f.info();
        (code, oom)
    });
    before_remove(&cg);
    crate::network::detach(&endpoints);
    let removed = cg.remove(&mut fs);
    let r = r?;
    removed?;
    Ok(r)
}

#[allow(clippy::too_many_arguments)]
fn clone_and_wait(
    dir: &ContainerDir,
    spec: &oci_spec::runtime::Spec,
    rootfs: &Rootfs,
    cg: &cgroup::Cgroup,
    names: &[namespaces::NamespaceInfo],
    flags: nix::sched::CloneFlags,
    new_cgroup_ns: bool,
    io: Stdio,
    endpoints: &[crate::network::Endpoint],
    on_start: &mut dyn FnMut(i32),
) -> crate::Result<(i32, i32, Option<&'static str>)> {
    use nix::sys::wait::{waitpid, WaitStatus};
    // Kernel overlayfs or fuse-overlayfs: asked before the clone, as the
    // probe mounts in this (the keeper's) mount namespace.
    let overlay = crate::kernel::overlay::choose(&crate::rootless::run_dir()).map_err(|why| {
        crate::Error::Io {
            context: "choosing how to mount the container's overlay".into(),
            source: std::io::Error::other(why),
        }
    })?;
    let (ev_r, ev_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).kctx(|| "making the event pipe".into())?;
    let (ans_r, ans_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .kctx(|| "making the answer pipe".into())?;
    let (sync_r, sync_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).kctx(|| "making the start pipe".into())?;
    let mut sync_r = Some(sync_r);
    let step = trace::step(Kind::Process, "clone", "container init")
        .field("flags", names.iter().map(|n| n.flag).collect::<Vec<_>>())
        .equivalent(format!(
            "unshare {} --fork",
            names
                .iter()
                .map(|n| n.unshare)
                .collect::<Vec<_>>()
                .join(" ")
        ))
        .syscall(format!(
            "clone({}|SIGCHLD)",
            names.iter().map(|n| n.flag).collect::<Vec<_>>().join("|")
        ))
        .announce()?;
    let plan = init::Plan::new(dir, spec, rootfs, new_cgroup_ns, io).with_overlay(overlay);
    let mut ev_w = Some(ev_w);
    let mut ans_r = Some(ans_r);
    let mut stack = vec![0u8; 1 << 20];
    let cb = Box::new(|| -> isize {
        let w = trace::relay::RelayWriter::new(
            std::fs::File::from(ev_w.take().expect("event pipe")),
            // Without --step nothing pauses: the init need not wait.
            ans_r
                .take()
                .filter(|_| trace::pausing())
                .map(std::fs::File::from),
        );
        trace::set_relay(w);
        init::run(
            &plan,
            std::fs::File::from(sync_r.take().expect("start pipe")),
        ) as isize
    });
    // SAFETY: no other thread runs code while the clone is made: the CLI
    // starts none before it, and a shim's console threads (a detached
    // `-i`/`-t` container) wait in blocking calls while the gate is held,
    // so the child may allocate. The stack outlives the clone call because
    // the child never returns into this frame (it execs or exits).
    let pid = {
        let _gate = console::CLONE_GATE
            .write()
            .unwrap_or_else(|e| e.into_inner());
        unsafe { nix::sched::clone(cb, &mut stack, flags, Some(libc::SIGCHLD)) }
    };
    let pid = match pid {
        Ok(p) => p,
        Err(e) => {
            let err = RuntimeError::Kernel {
                what: "clone into new namespaces".into(),
                errno: e,
            };
            step.failed(&err);
            return Err(err.into());
        }
    };
    let mut step = step;
    step.field("pid", pid.as_raw());
    step.done();
    // Close our copies of the child's pipe ends so the pump ends at exec.
    drop(ev_w.take());
    drop(ans_r.take());
    drop(sync_r.take());
    let joined = {
        let _p = trace::phase("cgroup");
        cg.join(&mut cgroup::HostFs, pid.as_raw())
    };
    // The init waits for the start byte: wire its network namespace now,
    // so its command never runs without its network.
    let joined = joined.and_then(|_| {
        let root = dir
            .path
            .parent()
            .and_then(Path::parent)
            .unwrap_or(Path::new("/"));
        crate::network::attach(root, &dir.id, endpoints, pid.as_raw())
    });
    if let Err(e) = joined {
        // The init is still waiting for the start byte: end it, by its PID.
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        let _ = waitpid(pid, None);
        return Err(e);
    }
    // Read the namespaces' identities while the init still waits: a short
    // command could be gone (and its /proc entry with it) a moment later.
    let inodes: Vec<String> = names
        .iter()
        .map(|n| {
            std::fs::read_link(format!("/proc/{}/ns/{}", pid, n.proc_name))
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        })
        .collect();
    {
        use std::io::Write;
        let _ = std::fs::File::from(sync_w).write_all(b"s");
    }
    for (n, inode) in names.iter().zip(inodes) {
        trace::fact(Kind::Namespace, "create", format!("{} namespace", n.name))
            .field("flag", n.flag)
            .field("unshare", n.unshare)
            .field("ns", inode)
            .field("pid", pid.as_raw())
            .equivalent(format!("lsns -p {pid}"))
            .info();
    }
    on_start(pid.as_raw());
    let mut reader = trace::relay::RelayReader::new(
        std::fs::File::from(ev_r),
        Some(ans_w)
            .filter(|_| trace::pausing())
            .map(std::fs::File::from),
    );
    let pumped = reader.pump();
    drop(reader);
    // The init has exec'd the command: a supervisor relaying its setup to
    // the `run -d` that started it stops here.
    trace::started();
    let status = loop {
        match waitpid(pid, None) {
            Err(nix::errno::Errno::EINTR) => continue,
            r => break r.kctx(|| format!("waiting for container init {pid}"))?,
        }
    };
    let code = match status {
        WaitStatus::Exited(_, c) => c,
        WaitStatus::Signaled(_, sig, _) => 128 + sig as i32,
        _ => 1,
    };
    let sig = match status {
        WaitStatus::Signaled(_, sig, _) => Some(sig.as_str()),
        _ => None,
    };
    pumped?;
    Ok((code, pid.as_raw(), sig))
}
