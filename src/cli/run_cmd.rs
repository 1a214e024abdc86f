//! `glassbox run`: parse the options and hand them to the runtime.

use super::Ctx;
use crate::network::port::Driver;
use crate::runtime::restart::RestartPolicy;
use crate::runtime::{Lower, ProcessOptions, Rootfs, RunOptions, RuntimeError};
use clap::Args;
use std::path::PathBuf;

/// Options of `glassbox run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Run in the background under a supervisor; print the id
    #[arg(short, long)]
    detach: bool,
    /// Keep stdin open (the foreground container reads the terminal's stdin)
    #[arg(short = 'i', long)]
    interactive: bool,
    /// Give the container a pseudo-terminal
    #[arg(short = 't', long)]
    tty: bool,
    /// Remove the container when it exits
    #[arg(long)]
    rm: bool,
    /// A name for the container
    #[arg(long)]
    name: Option<String>,
    /// Set an environment variable (KEY=VALUE, or KEY to copy the host's)
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Read environment variables from a file (KEY=VALUE lines)
    #[arg(long = "env-file", value_name = "FILE")]
    env_file: Vec<PathBuf>,
    /// Working directory inside the container
    #[arg(short = 'w', long)]
    workdir: Option<String>,
    /// USER[:GROUP] to run as (names from the image's /etc/passwd and /etc/group)
    #[arg(short = 'u', long)]
    user: Option<String>,
    /// Container host name
    #[arg(long)]
    hostname: Option<String>,
    /// Override the image's ENTRYPOINT
    #[arg(long)]
    entrypoint: Option<String>,
    /// Mount a volume: NAME:/path, /host/path:/path or /path, optionally :ro
    #[arg(short = 'v', long = "volume", value_name = "SRC:DST[:ro]")]
    volume: Vec<String>,
    /// Add a capability to Docker's default set (NET_ADMIN, SYS_PTRACE, … or ALL)
    #[arg(long, value_name = "CAP")]
    cap_add: Vec<String>,
    /// Drop a capability from Docker's default set (or ALL)
    #[arg(long, value_name = "CAP")]
    cap_drop: Vec<String>,
    /// Mount an empty tmpfs at DIR (noexec,nosuid,nodev unless OPTIONS say exec, suid or dev)
    #[arg(long, value_name = "DIR[:OPTIONS]")]
    tmpfs: Vec<String>,
    /// Restart policy of a detached container: no, on-failure[:N], always, unless-stopped
    #[arg(long, default_value = "no", value_name = "POLICY", value_parser = |s: &str| RestartPolicy::parse(s).map_err(|e| e.to_string()))]
    restart: RestartPolicy,
    /// Run glassbox's tiny init as PID 1 (reaps zombies, forwards signals)
    #[arg(long)]
    init: bool,
    /// Mount the root filesystem read-only
    #[arg(long)]
    read_only: bool,
    /// bridge (the default network), none (own namespace with lo only), host, or a network's name
    #[arg(long, visible_alias = "net", default_value = "bridge", value_name = "NETWORK", value_parser = |s: &str| crate::network::Mode::parse(s).map_err(|e| e.to_string()))]
    network: crate::network::Mode,
    /// Publish a container port on the host: [IP:][HOSTPORT:]CONTAINERPORT[/tcp|/udp]
    #[arg(short = 'p', long = "publish", value_name = "[IP:][HOST:]PORT[/PROTO]")]
    publish: Vec<String>,
    /// Publish every port the image EXPOSEs on a free host port
    #[arg(short = 'P', long = "publish-all")]
    publish_all: bool,
    /// How published ports reach the container: proxy (a userland proxy) or nat (nftables DNAT)
    #[arg(long, default_value = "proxy", value_name = "DRIVER", value_parser = |s: &str| Driver::parse(s).map_err(|e| e.to_string()))]
    port_driver: Driver,
    /// Another name for the container on its (user-defined) network
    #[arg(
        long = "network-alias",
        visible_alias = "net-alias",
        value_name = "ALIAS"
    )]
    network_alias: Vec<String>,
    /// Add NAME (reachable as ALIAS) to the container's /etc/hosts
    #[arg(long, value_name = "NAME[:ALIAS]")]
    link: Vec<String>,
    /// The container's IPv4 address on its network
    #[arg(long)]
    ip: Option<std::net::Ipv4Addr>,
    /// Memory limit (e.g. 64m, 1g)
    #[arg(short = 'm', long, value_parser = |s: &str| crate::runtime::cgroup::parse_memory(s).map_err(|e| e.to_string()))]
    memory: Option<u64>,
    /// Number of CPUs (e.g. 0.5)
    #[arg(long)]
    cpus: Option<f64>,
    /// Maximum number of processes (-1 or 0: unlimited)
    #[arg(long)]
    pids_limit: Option<i64>,
    /// Use DIR as an image layer instead of a stored image (repeatable, topmost first)
    #[arg(long, hide = true, value_name = "DIR")]
    rootfs_dir: Vec<PathBuf>,
    /// The image to run
    image: String,
    /// The command and its arguments (replace the image's CMD)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

/// Runs `glassbox create`: the same options as run, nothing started.
pub fn create(mut a: RunArgs, ctx: &Ctx) -> crate::Result<i32> {
    a.detach = false;
    run_or_create(a, ctx, true)
}

/// Runs `glassbox run`.
pub fn run(a: RunArgs, ctx: &Ctx) -> crate::Result<i32> {
    run_or_create(a, ctx, false)
}

fn run_or_create(a: RunArgs, ctx: &Ctx, create_only: bool) -> crate::Result<i32> {
    let mut env = Vec::new();
    // Docker reads --env-file first; -e then overrides it.
    for f in &a.env_file {
        let text = std::fs::read_to_string(f).map_err(|e| crate::Error::Io {
            context: format!("reading env file {}", f.display()),
            source: e,
        })?;
        env.extend(crate::runtime::spec::parse_env_file(&text, |k| {
            std::env::var(k).ok()
        })?);
    }
    for e in a.env {
        if e.is_empty() || e.starts_with('=') {
            return Err(RuntimeError::BadEnv(e).into());
        } else if e.contains('=') {
            env.push(e);
        } else if let Ok(v) = std::env::var(&e) {
            env.push(format!("{e}={v}"));
        }
    }
    let volumes = a
        .volume
        .iter()
        .map(|v| crate::volume::parse(v))
        .collect::<Result<Vec<_>, _>>()?;
    let network = crate::network::Request {
        mode: a.network,
        aliases: a.network_alias,
        links: a.link,
        ip: a.ip,
    };
    let host_network = network.mode == crate::network::Mode::Host;
    let (rootfs, image) = if a.rootfs_dir.is_empty() {
        let store = crate::store::Store::open(&ctx.root)?;
        let img = crate::image::registry_image::resolve_building_fixture(&store, &a.image)?;
        (Rootfs::from_image(&store, &img)?, img.config)
    } else {
        let rootfs = Rootfs {
            lowers: a
                .rootfs_dir
                .iter()
                .map(|d| Lower {
                    dir: d.clone(),
                    digest: format!("dir:{}", d.display()),
                })
                .collect(),
        };
        (rootfs, oci_spec::image::ImageConfiguration::default())
    };
    let exposed = image
        .config()
        .as_ref()
        .and_then(|c| c.exposed_ports().clone())
        .unwrap_or_default();
    let ports = crate::network::port::PortState::from_args(
        &a.publish,
        a.publish_all,
        exposed,
        a.port_driver,
    )?;
    if !ports.bindings.is_empty() && !network.mode.has_own_address() {
        let mode = network.mode.as_str().to_string();
        return Err(crate::network::port::PortError::NoNetwork(mode).into());
    }
    let opts = RunOptions {
        process: ProcessOptions {
            command: a.command,
            entrypoint: a.entrypoint,
            env,
            workdir: a.workdir,
            user: a.user,
            hostname: a.hostname,
            read_only: a.read_only,
            host_network,
            init: a.init,
            home: None,
            additional_gids: Vec::new(),
            cap_add: a.cap_add,
            cap_drop: a.cap_drop,
        },
        tmpfs: a.tmpfs,
        remove: a.rm,
        name: a.name,
        image_ref: a.image,
        limits: crate::runtime::cgroup::Limits {
            memory: a.memory,
            cpus: a.cpus,
            pids: a.pids_limit,
        },
        volumes,
        ports,
        tty: a.tty,
        interactive: a.interactive,
        network,
        restart: a.restart,
    };
    if create_only {
        let id = crate::runtime::lifecycle::create_only(&ctx.root, &rootfs, &image, &opts)?;
        println!("{id}");
        return Ok(0);
    }
    if a.detach {
        let id = crate::runtime::lifecycle::run_detached(&ctx.root, &rootfs, &image, &opts)?;
        println!("{id}");
        return Ok(0);
    }
    crate::runtime::run_foreground(&ctx.root, &rootfs, &image, &opts)
}
