//! The command line: clap definitions, one file per command family. No
//! engine logic lives here: each command calls into the library.

mod archive;
mod artifact_cmd;
mod build;
mod compare_cmd;
mod container_cmd;
mod daemon_cmd;
mod docs_cmd;
mod doctor_cmd;
mod explain_cmd;
mod images;
mod info_cmd;
mod inspect;
mod lessons;
mod manifest_cmd;
mod network_cmd;
mod output;
mod port_cmd;
mod push_pull;
mod registry_cmd;
mod run_cmd;
pub mod runc_cmd;
mod trace_cmd;
mod volume_cmd;

pub use output::{GlobalOpts, TraceMode};

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// glassbox — a container engine you can see through.
#[derive(Debug, Parser)]
#[command(name = "glassbox", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    global: GlobalOpts,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the explanation template of one event kind.action (or list them)
    Explain(explain_cmd::ExplainArgs),
    /// Print shell completions: `source <(glassbox completions bash)`
    Completions(docs_cmd::CompletionsArgs),
    /// Print the man page: `glassbox man | man -l -`
    Man,
    /// Serve the Docker Engine API on a unix socket, so the docker CLI and compose drive glassbox
    Daemon(daemon_cmd::DaemonArgs),
    /// Run a command in a new container
    Run(Box<run_cmd::RunArgs>),
    /// List containers
    Ps(container_cmd::PsArgs),
    /// Show a container's output
    Logs(container_cmd::LogsArgs),
    /// Stop running containers (SIGTERM, then SIGKILL)
    Stop(container_cmd::StopArgs),
    /// Remove containers
    Rm(container_cmd::RmArgs),
    /// List a container's published ports (80/tcp -> 0.0.0.0:8080)
    Port(port_cmd::PortArgs),
    /// Show a container's details as JSON (docker inspect's shape)
    Inspect(container_cmd::InspectArgs),
    /// Create a container without starting it
    Create(Box<run_cmd::RunArgs>),
    /// Start created or stopped containers
    Start(container_cmd::NamesArgs),
    /// Stop and start containers again
    Restart(container_cmd::RestartArgs),
    /// Run a command in a running container
    Exec(container_cmd::ExecArgs),
    /// Send a signal to running containers
    Kill(container_cmd::KillArgs),
    /// Wait for containers to exit; print their exit codes
    Wait(container_cmd::NamesArgs),
    /// The processes of a running container, with their host PIDs
    Top(container_cmd::TopArgs),
    /// Freeze every process of containers
    Pause(container_cmd::NamesArgs),
    /// Thaw paused containers
    Unpause(container_cmd::NamesArgs),
    /// A TCP sink and UDP echo server for benchmarks and tests (internal)
    #[command(name = "__bench-sink", hide = true)]
    BenchSink(port_cmd::SinkArgs),
    /// Supervise a detached container (internal)
    #[command(name = "__shim", hide = true)]
    Shim(container_cmd::ShimArgs),
    /// Build the lessons' base image busybox:latest from the host's static busybox
    Setup(images::SetupArgs),
    /// How glassbox runs here: root or rootless, store, cgroups, overlay, networks
    Info(info_cmd::InfoArgs),
    /// List images: REPOSITORY TAG IMAGE ID CREATED SIZE
    Images(images::ImagesArgs),
    /// Give an image another name:tag
    Tag(images::TagArgs),
    /// Remove image tags; blobs no tag reaches are deleted
    Rmi(images::RmiArgs),
    /// Check the store: `store verify` (every blob's digest, every tag's blobs)
    Store(images::StoreArgs),
    /// Image subcommands: `image inspect REF...`
    Image(inspect::ImageArgs),
    /// The steps that made an image, newest first
    History(inspect::HistoryArgs),
    /// The layer stack, bottom to top: digest, diff_id, size, files, what each added
    Layers(inspect::LayersArgs),
    /// Make a one-layer image from a rootfs tarball (.tar, .tar.gz or - for stdin)
    Import(archive::ImportArgs),
    /// Write images to an OCI image archive
    Save(archive::SaveArgs),
    /// Load images from an OCI archive or a docker-archive
    Load(archive::LoadArgs),
    /// Build an image from a Dockerfile
    Build(build::BuildArgs),
    /// Guided lessons with exercises that check themselves
    Lessons(lessons::LessonsArgs),
    /// System-wide commands: `system prune [-a] [--volumes] [-f]`
    #[command(subcommand)]
    System(volume_cmd::SystemCommand),
    /// Manage networks: create, ls, inspect, rm, prune, connect, disconnect
    #[command(subcommand)]
    Network(network_cmd::NetworkCommand),
    /// Manage volumes: create, ls, inspect, rm, prune
    #[command(subcommand)]
    Volume(volume_cmd::VolumeCommand),
    /// Send an image to a registry: glassbox push localhost:5001/busybox:1
    Push(push_pull::PushArgs),
    /// Fetch an image from a registry, verifying every digest
    Pull(push_pull::PullArgs),
    /// Check and store credentials for a registry
    Login(push_pull::LoginArgs),
    /// Remove stored credentials for a registry
    Logout(push_pull::LogoutArgs),
    /// Image indexes (multi-platform images) in the store: `manifest create INDEX IMAGE...`, `manifest inspect REF`
    #[command(subcommand)]
    Manifest(manifest_cmd::ManifestCommand),
    /// Files attached to an image on a registry (its referrers): `artifact attach|ls|pull`
    #[command(subcommand)]
    Artifact(artifact_cmd::ArtifactCommand),
    /// Run glassbox's own registry: `registry serve --addr 127.0.0.1:5001`
    #[command(subcommand)]
    Registry(registry_cmd::RegistryCommand),
    /// Find the beginner's mistake in the live state: `doctor [CONTAINER] [--format json]`
    Doctor(doctor_cmd::DoctorArgs),
    /// Replay a glassbox-runc container's trace with narration: `trace ID`
    Trace(trace_cmd::TraceArgs),
    /// Measure the same image as a container and as a VM: `compare vm IMAGE [-- CMD]`
    #[command(subcommand)]
    Compare(compare_cmd::CompareCommand),
}

/// What every command gets: the global options and the resolved root.
pub struct Ctx {
    /// The global flags.
    pub global: GlobalOpts,
    /// The glassbox root (an OCI image layout plus runtime state).
    pub root: PathBuf,
}

/// A command line clap refused. A bad value of `run`'s or `create`'s flags
/// (`--memory lots`, `--restart sometimes`) ends as docker's does: one line
/// naming the flag, and 125, the code of the engine's own failure. Every
/// other refusal is clap's own message and code (help and version print
/// and end with 0).
fn usage_error(e: clap::Error) -> i32 {
    use clap::error::ErrorKind;
    let sub = <Cli as clap::CommandFactory>::command()
        .ignore_errors(true)
        .try_get_matches()
        .ok()
        .and_then(|m| m.subcommand_name().map(str::to_string));
    let engine_flag = matches!(sub.as_deref(), Some("run" | "create"));
    if engine_flag && e.kind() == ErrorKind::ValueValidation {
        let text = e.render().to_string();
        let first = text.lines().next().unwrap_or_default();
        eprintln!(
            "glassbox: {}",
            first.strip_prefix("error: ").unwrap_or(first)
        );
        return 125;
    }
    e.exit()
}

/// Runs the CLI; returns the process exit status.
pub fn main() -> i32 {
    crate::trace::start_clock();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    let sinks = match output::install(&cli.global) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("glassbox: {e}");
            return 2;
        }
    };
    // Without root, join (or first make) the user namespace every rootless
    // command works in, before any thread starts. Commands that touch no
    // container, image or mount work without it.
    let needs_engine = !matches!(
        cli.command,
        Command::Explain(_) | Command::Completions(_) | Command::Man
    );
    if needs_engine {
        if let Err(e) = crate::rootless::enter() {
            sinks.finish();
            eprintln!("glassbox: rootless mode: {e}");
            return 1;
        }
    }
    let ctx = Ctx {
        root: cli.global.root(),
        global: cli.global,
    };
    // `run` and `create` end with 125 when they fail themselves (not the
    // container's command), as docker does; 126 and 127 come from the
    // container's own start.
    // `doctor` exits 1 when it finds something: its own failure is 2.
    let own_failure = match cli.command {
        Command::Run(_) | Command::Create(_) => 125,
        Command::Doctor(_) => 2,
        _ => 1,
    };
    let result = dispatch(cli.command, &ctx);
    sinks.finish();
    match result {
        Ok(code) => code,
        Err(e) => {
            output::print_error(&e);
            match e {
                crate::Error::Aborted(_) => 130,
                _ => own_failure,
            }
        }
    }
}

fn dispatch(cmd: Command, ctx: &Ctx) -> crate::Result<i32> {
    match cmd {
        Command::Explain(a) => explain_cmd::run(a, ctx),
        Command::Daemon(a) => daemon_cmd::daemon(a, ctx),
        Command::Completions(a) => docs_cmd::completions(a),
        Command::Man => docs_cmd::man(),
        Command::Run(a) => run_cmd::run(*a, ctx),
        Command::Ps(a) => container_cmd::ps(a, ctx),
        Command::Logs(a) => container_cmd::logs(a, ctx),
        Command::Stop(a) => container_cmd::stop(a, ctx),
        Command::Rm(a) => container_cmd::rm(a, ctx),
        Command::Inspect(a) => container_cmd::inspect(a, ctx),
        Command::Port(a) => port_cmd::port(a, ctx),
        Command::BenchSink(a) => port_cmd::sink(a, ctx),
        Command::Shim(a) => container_cmd::shim(a, ctx),
        Command::Kill(a) => container_cmd::kill(a, ctx),
        Command::Exec(a) => container_cmd::exec(a, ctx),
        Command::Create(a) => run_cmd::create(*a, ctx),
        Command::Start(a) => container_cmd::start(a, ctx),
        Command::Restart(a) => container_cmd::restart(a, ctx),
        Command::Wait(a) => container_cmd::wait(a, ctx),
        Command::Top(a) => container_cmd::top(a, ctx),
        Command::Pause(a) => container_cmd::pause(a, ctx, true),
        Command::Unpause(a) => container_cmd::pause(a, ctx, false),
        Command::Setup(a) => images::setup(a, ctx),
        Command::Info(a) => info_cmd::info(a, ctx),
        Command::Images(a) => images::images(a, ctx),
        Command::Tag(a) => images::tag(a, ctx),
        Command::Rmi(a) => images::rmi(a, ctx),
        Command::Store(a) => images::store(a, ctx),
        Command::Image(a) => inspect::image(a, ctx),
        Command::History(a) => inspect::history(a, ctx),
        Command::Layers(a) => inspect::layers(a, ctx),
        Command::Import(a) => archive::import(a, ctx),
        Command::Save(a) => archive::save(a, ctx),
        Command::Load(a) => archive::load(a, ctx),
        Command::Lessons(a) => lessons::run(a, ctx),
        Command::Build(a) => build::build(a, ctx),
        Command::Network(c) => network_cmd::run(c, ctx),
        Command::Volume(c) => volume_cmd::run(c, ctx),
        Command::System(c) => volume_cmd::system(c, ctx),
        Command::Push(a) => push_pull::push(a, ctx),
        Command::Pull(a) => push_pull::pull(a, ctx),
        Command::Login(a) => push_pull::login(a, ctx),
        Command::Logout(a) => push_pull::logout(a, ctx),
        Command::Registry(c) => registry_cmd::run(c, ctx),
        Command::Manifest(c) => manifest_cmd::run(c, ctx),
        Command::Artifact(c) => artifact_cmd::run(c, ctx),
        Command::Compare(c) => compare_cmd::run(c, ctx),
        Command::Doctor(a) => doctor_cmd::doctor(a, ctx),
        Command::Trace(a) => trace_cmd::run(a, ctx),
    }
}
