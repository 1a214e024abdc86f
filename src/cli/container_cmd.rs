//! Container lifecycle commands: ps, logs, stop, rm, inspect, and the
//! hidden `__shim` that supervises detached containers.

use super::Ctx;
use crate::runtime::lifecycle;
use clap::Args;

/// `ps` options.
#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    all: bool,
    /// Only display container IDs
    #[arg(short, long)]
    quiet: bool,
    /// Output format: table or json
    #[arg(long, default_value = "table")]
    format: String,
}

/// `logs` options.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Follow log output until the container exits
    #[arg(short, long)]
    follow: bool,
    /// Number of lines to show from the end
    #[arg(long, value_name = "N")]
    tail: Option<usize>,
    /// Container name or id
    container: String,
}

/// `stop` options.
#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait after SIGTERM before SIGKILL
    #[arg(short = 't', long = "time", default_value_t = 10)]
    time: u64,
    /// Container names or ids
    #[arg(required = true)]
    containers: Vec<String>,
}

/// `rm` options.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Kill a running container first
    #[arg(short, long)]
    force: bool,
    /// Remove the container's anonymous volumes too
    #[arg(short, long)]
    volumes: bool,
    /// Container names or ids
    #[arg(required = true)]
    containers: Vec<String>,
}

/// `inspect` options.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Container names or ids
    #[arg(required = true)]
    containers: Vec<String>,
}

/// `kill` options.
#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send (name, e.g. TERM, KILL, HUP)
    #[arg(short, long, default_value = "KILL")]
    signal: String,
    /// Container names or ids
    #[arg(required = true)]
    containers: Vec<String>,
}

/// Options of commands that take container names (wait, pause, unpause).
#[derive(Debug, Args)]
pub struct NamesArgs {
    /// Container names or ids
    #[arg(required = true)]
    containers: Vec<String>,
}

/// `exec` options.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Keep stdin open (it is the caller's stdin)
    #[arg(short = 'i', long)]
    interactive: bool,
    /// Give the process a pseudo-terminal
    #[arg(short = 't', long)]
    tty: bool,
    /// Set an environment variable (KEY=VALUE)
    #[arg(short = 'e', long = "env")]
    env: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    workdir: Option<String>,
    /// Run as USER[:GROUP] (names from the container's /etc/passwd)
    #[arg(short = 'u', long = "user")]
    user: Option<String>,
    /// Container name or id
    container: String,
    /// The command and its arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    command: Vec<String>,
}

/// `restart` options.
#[derive(Debug, Args)]
pub struct RestartArgs {
    /// Seconds to wait after SIGTERM before SIGKILL
    #[arg(short = 't', long = "time", default_value_t = 10)]
    time: u64,
    /// Container names or ids
    #[arg(required = true)]
    containers: Vec<String>,
}

/// `__shim` options.
#[derive(Debug, Args)]
pub struct ShimArgs {
    /// Full container id
    id: String,
}

/// Runs `ps`.
pub fn ps(a: PsArgs, ctx: &Ctx) -> crate::Result<i32> {
    let rows = lifecycle::ps(&ctx.root, a.all);
    if a.quiet {
        for r in rows {
            println!("{}", r.id);
        }
    } else if a.format == "json" {
        for r in rows {
            println!("{}", serde_json::to_string(&r).unwrap_or_default());
        }
    } else {
        let head = [
            "CONTAINER ID",
            "IMAGE",
            "COMMAND",
            "CREATED",
            "STATUS",
            "PORTS",
            "NAMES",
        ];
        let mut table: Vec<Vec<String>> = vec![head.iter().map(|h| h.to_string()).collect()];
        for r in rows {
            let mut cmd: String = format!("\"{}\"", r.command);
            if cmd.chars().count() > 22 {
                cmd = cmd.chars().take(20).collect::<String>() + "…\"";
            }
            table.push(vec![
                r.id,
                r.image,
                cmd,
                r.running_for,
                r.status,
                r.ports,
                r.names,
            ]);
        }
        print_table(&table);
    }
    Ok(0)
}

/// `top CONTAINER`.
#[derive(Debug, Args)]
pub struct TopArgs {
    /// Container name or id
    container: String,
}

/// Runs `top`: UID PID PPID CMD of every process in the container's cgroup.
pub fn top(a: TopArgs, ctx: &Ctx) -> crate::Result<i32> {
    let rows = crate::runtime::top::top(&ctx.root, &a.container)?;
    println!("{:<8}{:<10}{:<10}CMD", "UID", "PID", "PPID");
    for r in rows {
        println!("{:<8}{:<10}{:<10}{}", r.uid, r.pid, r.ppid, r.cmd);
    }
    Ok(0)
}

/// Runs `logs`.
pub fn logs(a: LogsArgs, ctx: &Ctx) -> crate::Result<i32> {
    lifecycle::logs(
        &ctx.root,
        &a.container,
        a.tail,
        a.follow,
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    )?;
    Ok(0)
}

/// Runs `stop`.
pub fn stop(a: StopArgs, ctx: &Ctx) -> crate::Result<i32> {
    for c in &a.containers {
        lifecycle::stop(&ctx.root, c, a.time)?;
        println!("{c}");
    }
    Ok(0)
}

/// Runs `rm`.
pub fn rm(a: RmArgs, ctx: &Ctx) -> crate::Result<i32> {
    for c in &a.containers {
        lifecycle::remove(&ctx.root, c, a.force, a.volumes)?;
        println!("{c}");
    }
    Ok(0)
}

/// Runs `inspect`.
pub fn inspect(a: InspectArgs, ctx: &Ctx) -> crate::Result<i32> {
    let mut v = Vec::new();
    for c in &a.containers {
        v.push(lifecycle::inspect(&ctx.root, c)?);
    }
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    Ok(0)
}

/// Runs the hidden `__shim`.
pub fn shim(a: ShimArgs, ctx: &Ctx) -> crate::Result<i32> {
    lifecycle::shim(&ctx.root, &a.id)
}

/// Runs `kill`.
pub fn kill(a: KillArgs, ctx: &Ctx) -> crate::Result<i32> {
    for c in &a.containers {
        lifecycle::kill(&ctx.root, c, &a.signal)?;
        println!("{c}");
    }
    Ok(0)
}

/// Runs `wait`: prints each exit code.
pub fn wait(a: NamesArgs, ctx: &Ctx) -> crate::Result<i32> {
    for c in &a.containers {
        println!("{}", lifecycle::wait(&ctx.root, c)?);
    }
    Ok(0)
}

/// Runs `pause` or `unpause`.
pub fn pause(a: NamesArgs, ctx: &Ctx, frozen: bool) -> crate::Result<i32> {
    for c in &a.containers {
        lifecycle::pause(&ctx.root, c, frozen)?;
        println!("{c}");
    }
    Ok(0)
}

/// Runs `exec`.
pub fn exec(a: ExecArgs, ctx: &Ctx) -> crate::Result<i32> {
    let opts = crate::runtime::exec::ExecOptions {
        env: a.env,
        workdir: a.workdir,
        user: a.user,
        tty: a.tty,
        interactive: a.interactive,
    };
    crate::runtime::exec::exec(&ctx.root, &a.container, &a.command, &opts)
}

/// Runs `start`.
pub fn start(a: NamesArgs, ctx: &Ctx) -> crate::Result<i32> {
    for c in &a.containers {
        lifecycle::start(&ctx.root, c)?;
        println!("{c}");
    }
    Ok(0)
}

/// Runs `restart`.
pub fn restart(a: RestartArgs, ctx: &Ctx) -> crate::Result<i32> {
    for c in &a.containers {
        lifecycle::restart(&ctx.root, c, a.time)?;
        println!("{c}");
    }
    Ok(0)
}

/// Prints rows as columns padded to their widest cell plus three spaces,
/// as docker's tabwriter does.
fn print_table(rows: &[Vec<String>]) {
    let cols = rows.first().map_or(0, |r| r.len());
    let widths: Vec<usize> = (0..cols)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for r in rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == cols {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(widths[c] - cell.chars().count() + 3));
            }
        }
        println!("{}", line.trim_end());
    }
}
