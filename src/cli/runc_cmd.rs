//! `glassbox-runc`: runc's command line, for podman's `--runtime`,
//! containerd's `--runc-binary` and so Kubernetes. The binary takes this
//! shape when invoked under that name (a symlink); the work is in
//! [`crate::ocirt`]. Errors go to stderr and, as one logrus line, to
//! `--log`, which is where podman and containerd's shim read them from.

use crate::ocirt::{self, log};
use crate::sinks::SinkLayer;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::sync::Arc;

/// glassbox-runc — glassbox as an OCI runtime, with runc's command line.
#[derive(Debug, Parser)]
#[command(name = "glassbox-runc", version, about)]
struct RuncCli {
    /// Where container state lives
    #[arg(long, global = true, default_value = ocirt::DEFAULT_ROOT)]
    root: PathBuf,
    /// Where to write the log (errors and every event); default: none
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// The log's format
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Use systemd for cgroups (refused: glassbox-runc writes cgroupfs)
    #[arg(long, global = true)]
    systemd_cgroup: bool,
    /// Accepted for runc compatibility (debug output goes to the trace)
    #[arg(long, global = true)]
    debug: bool,
    /// Accepted for runc compatibility; rootless mode is not supported
    #[arg(long, global = true, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    rootless: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
struct CreateArgs {
    /// The bundle directory (holds config.json)
    #[arg(long, short = 'b', default_value = ".")]
    bundle: PathBuf,
    /// A unix socket to send the terminal's master end to
    #[arg(long)]
    console_socket: Option<PathBuf>,
    /// Write the init's PID here
    #[arg(long)]
    pid_file: Option<PathBuf>,
    /// Do not use pivot_root: move the root onto / and chroot into it
    /// (for a root on a ramdisk, where pivot_root fails)
    #[arg(long)]
    no_pivot: bool,
    /// Accepted for runc compatibility
    #[arg(long)]
    no_new_keyring: bool,
    /// Pass N descriptors after stdio on to the process
    #[arg(long, default_value_t = 0)]
    preserve_fds: u32,
    /// The container's ID
    id: String,
}

impl CreateArgs {
    fn options(&self) -> ocirt::CreateOptions {
        ocirt::CreateOptions {
            bundle: self.bundle.clone(),
            pid_file: self.pid_file.clone(),
            console_socket: self.console_socket.clone(),
            preserve_fds: self.preserve_fds,
            no_pivot: self.no_pivot,
        }
    }
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    create: CreateArgs,
    /// Return once the process runs
    #[arg(long, short = 'd')]
    detach: bool,
}

#[derive(Debug, Args)]
struct IdArg {
    /// The container's ID
    id: String,
}

#[derive(Debug, Args)]
struct KillArgs {
    /// Signal every process of the container
    #[arg(long, short = 'a')]
    all: bool,
    /// The container's ID
    id: String,
    /// The signal (name or number)
    #[arg(default_value = "TERM")]
    signal: String,
}

#[derive(Debug, Args)]
struct DeleteArgs {
    /// Kill the container first if it still runs
    #[arg(long, short = 'f')]
    force: bool,
    /// The container's ID
    id: String,
}

#[derive(Debug, Args)]
struct ExecArgs {
    /// A process JSON file (the runtime spec's `process`)
    #[arg(long, short = 'p')]
    process: Option<PathBuf>,
    /// Return once the process runs
    #[arg(long, short = 'd')]
    detach: bool,
    /// Write the process's PID here
    #[arg(long)]
    pid_file: Option<PathBuf>,
    /// Give the process a terminal (sent over --console-socket)
    #[arg(long, short = 't')]
    tty: bool,
    /// A unix socket to send the terminal's master end to
    #[arg(long)]
    console_socket: Option<PathBuf>,
    /// The working directory
    #[arg(long)]
    cwd: Option<PathBuf>,
    /// Extra environment, NAME=VALUE
    #[arg(long, short = 'e')]
    env: Vec<String>,
    /// Accepted for runc compatibility (exec keeps only stdio)
    #[arg(long, default_value_t = 0)]
    preserve_fds: u32,
    /// The container's ID
    id: String,
    /// The command, when there is no --process
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

#[derive(Debug, Args)]
struct PsArgs {
    /// table or json
    #[arg(long, short = 'f', default_value = "table")]
    format: String,
    /// The container's ID
    id: String,
}

#[derive(Debug, Args)]
struct ListArgs {
    /// table or json
    #[arg(long, short = 'f', default_value = "table")]
    format: String,
    /// Only the IDs
    #[arg(long, short = 'q')]
    quiet: bool,
}

#[derive(Debug, Args)]
struct SpecArgs {
    /// Where to write config.json
    #[arg(long, short = 'b', default_value = ".")]
    bundle: PathBuf,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a container: its init waits before exec until `start`
    Create(CreateArgs),
    /// Let a created container's process run
    Start(IdArg),
    /// Print a container's state (runtime spec JSON)
    State(IdArg),
    /// Send a signal to a container's init (or every process, --all)
    Kill(KillArgs),
    /// Remove a stopped container (--force: any)
    Delete(DeleteArgs),
    /// Create and start a container; wait for it unless --detach
    Run(RunArgs),
    /// Run another process in a running container
    Exec(ExecArgs),
    /// List the host PIDs of a container's processes
    Ps(PsArgs),
    /// List containers
    List(ListArgs),
    /// Freeze every process of a container
    Pause(IdArg),
    /// Thaw a paused container
    Resume(IdArg),
    /// Print what this runtime implements (JSON)
    Features,
    /// Write a default config.json into a bundle
    Spec(SpecArgs),
}

/// Runs `glassbox-runc`; returns the process exit status.
pub fn main() -> i32 {
    crate::trace::start_clock();
    let cli = RuncCli::parse();
    let format = match cli.log_format {
        LogFormat::Text => log::Format::Text,
        LogFormat::Json => log::Format::Json,
    };
    let runc_log = match &cli.log {
        Some(p) => match log::RuncLog::open(p, format) {
            Ok(l) => Some(Arc::new(l)),
            Err(e) => {
                eprintln!("cannot open the log {}: {e}", p.display());
                return 1;
            }
        },
        None => None,
    };
    install(runc_log.clone());
    let result = if cli.systemd_cgroup {
        Err(ocirt::OciError::SystemdCgroup.into())
    } else {
        dispatch(cli.command, &cli.root)
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let msg = chain(&e);
            if let Some(l) = &runc_log {
                l.error(&msg);
            }
            eprintln!("{msg}");
            1
        }
    }
}

fn chain(e: &crate::Error) -> String {
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        let text = s.to_string();
        if !msg.contains(&text) {
            msg.push_str(&format!(": {text}"));
        }
        src = s.source();
    }
    msg
}

fn install(runc_log: Option<Arc<log::RuncLog>>) {
    use tracing_subscriber::layer::SubscriberExt;
    type Boxed = Box<dyn tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync>;
    let mut layers: Vec<Boxed> = vec![Box::new(SinkLayer::new(Arc::new(log::ContainerTrace)))];
    if let Some(l) = runc_log {
        layers.push(Box::new(SinkLayer::new(l)));
    }
    let subscriber = tracing_subscriber::registry().with(layers);
    let _ = tracing::subscriber::set_global_default(subscriber);
}

fn print_json(v: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
    );
}

fn dispatch(cmd: Command, root: &std::path::Path) -> crate::Result<i32> {
    match cmd {
        Command::Create(a) => ocirt::create(root, &a.id, &a.options()).map(|_| 0),
        Command::Start(a) => ocirt::start(root, &a.id).map(|_| 0),
        Command::State(a) => ocirt::state_json(root, &a.id).map(|v| {
            print_json(&v);
            0
        }),
        Command::Kill(a) => ocirt::kill(root, &a.id, &a.signal, a.all).map(|_| 0),
        Command::Delete(a) => match ocirt::delete(root, &a.id, a.force) {
            // runc's delete --force of a container that is gone succeeds.
            Err(crate::Error::Oci(ocirt::OciError::NotExist(_))) if a.force => Ok(0),
            r => r.map(|_| 0),
        },
        Command::Run(a) => ocirt::run(root, &a.create.id, &a.create.options(), a.detach),
        Command::Exec(a) => ocirt::exec(
            root,
            &a.id,
            &ocirt::ExecOptions {
                process: a.process,
                args: a.command,
                env: a.env,
                cwd: a.cwd,
                tty: a.tty,
                console_socket: a.console_socket,
                detach: a.detach,
                pid_file: a.pid_file,
            },
        ),
        Command::Ps(a) => {
            let pids = ocirt::ps(root, &a.id)?;
            if a.format == "json" {
                println!("{}", serde_json::to_string(&pids).unwrap_or_default());
            } else {
                println!("{:>8}  CMD", "PID");
                for p in pids {
                    let cmd = std::fs::read(format!("/proc/{p}/cmdline"))
                        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
                        .unwrap_or_default();
                    println!("{p:>8}  {}", cmd.trim_end());
                }
            }
            Ok(0)
        }
        Command::List(a) => {
            let all = ocirt::list(root)?;
            if a.format == "json" {
                println!("{}", serde_json::Value::Array(all));
            } else if a.quiet {
                all.iter()
                    .for_each(|s| println!("{}", s["id"].as_str().unwrap_or("")));
            } else {
                println!("{:<24} {:>8} {:<10} BUNDLE", "ID", "PID", "STATUS");
                for s in all {
                    println!(
                        "{:<24} {:>8} {:<10} {}",
                        s["id"].as_str().unwrap_or(""),
                        s["pid"],
                        s["status"].as_str().unwrap_or(""),
                        s["bundle"].as_str().unwrap_or("")
                    );
                }
            }
            Ok(0)
        }
        Command::Pause(a) => ocirt::pause(root, &a.id, true).map(|_| 0),
        Command::Resume(a) => ocirt::pause(root, &a.id, false).map(|_| 0),
        Command::Features => {
            print_json(&ocirt::features());
            Ok(0)
        }
        Command::Spec(a) => ocirt::spec(&a.bundle).map(|_| 0),
    }
}

/// Whether the binary was invoked as the OCI runtime: a file name that
/// starts with `glassbox-runc` (the symlink the users make).
pub fn invoked_as_runtime(argv0: &std::ffi::OsStr) -> bool {
    std::path::Path::new(argv0)
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("glassbox-runc"))
}
