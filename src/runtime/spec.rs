//! The container's OCI runtime-spec `config.json`, made from the image's
//! config plus the command-line options, combined the way Docker documents:
//! `--entrypoint` replaces the image ENTRYPOINT (and drops its CMD), command
//! arguments replace CMD, `-e` adds to or overrides the image Env, `-w` and
//! `-u` override WorkingDir and User. The spec is the one source of truth:
//! the init process reads back exactly what is written here.

use super::RuntimeError;
use oci_spec::image::ImageConfiguration;
use oci_spec::runtime::{
    Capability, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxNamespace, LinuxNamespaceBuilder,
    LinuxNamespaceType, Mount, MountBuilder, ProcessBuilder, RootBuilder, Spec, SpecBuilder,
    UserBuilder,
};
use std::collections::HashSet;
use std::path::PathBuf;

/// What the command line says about the process to run.
#[derive(Debug, Clone, Default)]
pub struct ProcessOptions {
    /// Arguments after the image name (replace CMD when non-empty).
    pub command: Vec<String>,
    /// `--entrypoint` (an empty string clears the image's ENTRYPOINT).
    pub entrypoint: Option<String>,
    /// `-e KEY=VALUE` entries, in order.
    pub env: Vec<String>,
    /// `-w DIR`.
    pub workdir: Option<String>,
    /// `-u UID[:GID]`.
    pub user: Option<String>,
    /// `--hostname`.
    pub hostname: Option<String>,
    /// `--read-only`: the root filesystem is mounted read-only.
    pub read_only: bool,
    /// `--network host`: keep the host's network namespace.
    pub host_network: bool,
    /// `--init`: glassbox's own init runs as PID 1 and the command as its
    /// child (recorded as the annotation [`INIT_ANNOTATION`]).
    pub init: bool,
    /// The user's home in the image's /etc/passwd: `HOME` when neither the
    /// image nor `-e` sets it, as dockerd does.
    pub home: Option<String>,
    /// Supplementary groups (`user.additionalGids`): the primary group and
    /// every group of the image's /etc/group that lists the user.
    pub additional_gids: Vec<u32>,
    /// `--cap-add NAME` (or ALL): capabilities beyond Docker's default set.
    pub cap_add: Vec<String>,
    /// `--cap-drop NAME` (or ALL): capabilities taken from it.
    pub cap_drop: Vec<String>,
}

/// Every capability name of Linux 6.x, as `--cap-add ALL` means it.
const ALL_CAPABILITIES: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// One `--cap-add`/`--cap-drop` name (`NET_ADMIN`, `cap_net_admin`, …).
fn capability(name: &str) -> Result<Capability, RuntimeError> {
    let n = name.to_ascii_uppercase();
    let n = n.strip_prefix("CAP_").unwrap_or(&n);
    n.parse()
        .map_err(|_| RuntimeError::BadCapability(name.to_string()))
}

/// Docker's default set, less `drop`, plus `add` (ALL in either means
/// every capability; drops apply first, as dockerd does).
pub fn capability_set(
    add: &[String],
    drop: &[String],
) -> Result<HashSet<Capability>, RuntimeError> {
    let all = |v: &[String]| v.iter().any(|c| c.eq_ignore_ascii_case("ALL"));
    let mut set: HashSet<Capability> = if all(drop) {
        HashSet::new()
    } else {
        DEFAULT_CAPABILITIES.iter().copied().collect()
    };
    for d in drop.iter().filter(|c| !c.eq_ignore_ascii_case("ALL")) {
        set.remove(&capability(d)?);
    }
    if all(add) {
        // Every capability this host lets glassbox hand on: the ones in its
        // own bounding set (a sandboxed host may lack some).
        let bounding = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("CapBnd:"))
                    .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            })
            .unwrap_or(u64::MAX);
        for (bit, n) in ALL_CAPABILITIES.iter().enumerate() {
            if bounding & (1 << bit) != 0 {
                set.insert(capability(n)?);
            }
        }
    }
    for a in add.iter().filter(|c| !c.eq_ignore_ascii_case("ALL")) {
        set.insert(capability(a)?);
    }
    Ok(set)
}

/// The mount for `--tmpfs DIR[:OPTIONS]`, as dockerd makes it: an empty
/// tmpfs, `noexec,nosuid,nodev` unless the options say otherwise.
pub fn tmpfs_mount(arg: &str) -> Result<oci_spec::runtime::Mount, RuntimeError> {
    let (dir, extra) = arg.split_once(':').unwrap_or((arg, ""));
    if !dir.starts_with('/') || dir == "/" {
        return Err(RuntimeError::BadTmpfs(arg.to_string()));
    }
    let mut options: Vec<String> = ["noexec", "nosuid", "nodev"].map(String::from).to_vec();
    for o in extra.split(',').filter(|o| !o.is_empty()) {
        let undo = match o {
            "exec" => Some("noexec"),
            "suid" => Some("nosuid"),
            "dev" => Some("nodev"),
            _ => None,
        };
        match undo {
            Some(u) => options.retain(|x| x != u),
            None => options.push(o.to_string()),
        }
    }
    oci_spec::runtime::MountBuilder::default()
        .destination(dir)
        .typ("tmpfs")
        .source("tmpfs")
        .options(options)
        .build()
        .map_err(|e| RuntimeError::BadTmpfs(format!("{arg}: {e}")))
}

/// The spec annotation that asks for glassbox's init as PID 1.
pub const INIT_ANNOTATION: &str = "org.glassbox.init";

/// Docker's default capability set (moby `oci/caps/defaults.go`).
pub const DEFAULT_CAPABILITIES: [Capability; 14] = [
    Capability::Chown,
    Capability::DacOverride,
    Capability::Fsetid,
    Capability::Fowner,
    Capability::Mknod,
    Capability::NetRaw,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setfcap,
    Capability::Setpcap,
    Capability::NetBindService,
    Capability::SysChroot,
    Capability::Kill,
    Capability::AuditWrite,
];

/// Paths Docker hides from containers (a read of them gives nothing).
pub const MASKED_PATHS: [&str; 11] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths Docker makes read-only inside containers.
pub const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The argv that runs: ENTRYPOINT + CMD as Docker combines them.
pub fn combine_args(image: &ImageConfiguration, opts: &ProcessOptions) -> Vec<String> {
    let cfg = image.config().as_ref();
    let image_ep: Vec<String> = cfg.and_then(|c| c.entrypoint().clone()).unwrap_or_default();
    let image_cmd: Vec<String> = cfg.and_then(|c| c.cmd().clone()).unwrap_or_default();
    let entrypoint = match &opts.entrypoint {
        Some(e) if e.is_empty() => Vec::new(),
        Some(e) => vec![e.clone()],
        None => image_ep,
    };
    // --entrypoint resets the image's CMD, as in Docker.
    let cmd = if !opts.command.is_empty() {
        opts.command.clone()
    } else if opts.entrypoint.is_some() {
        Vec::new()
    } else {
        image_cmd
    };
    entrypoint.into_iter().chain(cmd).collect()
}

/// The environment: image Env, overridden and extended by `-e`, with a
/// default PATH and HOSTNAME as Docker sets them.
pub fn combine_env(
    image: &ImageConfiguration,
    opts: &ProcessOptions,
    hostname: &str,
) -> Vec<String> {
    let mut env: Vec<String> = vec![
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        format!("HOSTNAME={hostname}"),
    ];
    let image_env = image
        .config()
        .as_ref()
        .and_then(|c| c.env().clone())
        .unwrap_or_default();
    for e in image_env.iter().chain(opts.env.iter()) {
        let key = e.split('=').next().unwrap_or(e);
        env.retain(|x| x.split('=').next() != Some(key));
        env.push(e.clone());
    }
    env
}

/// Reads an `--env-file` as Docker does: one `KEY=VALUE` per line, blank
/// lines and `#` comments skipped, a bare `KEY` taken from `host` (and
/// left out when the host does not have it). Values are kept verbatim,
/// quotes included.
pub fn parse_env_file(
    text: &str,
    host: impl Fn(&str) -> Option<String>,
) -> Result<Vec<String>, RuntimeError> {
    let mut out = Vec::new();
    for line in text.lines() {
        let l = line.trim_start();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        match l.split_once('=') {
            Some(("", _)) => return Err(RuntimeError::BadEnv(line.to_string())),
            Some(_) => out.push(l.to_string()),
            None => {
                let key = l.trim_end();
                if key.contains(char::is_whitespace) {
                    return Err(RuntimeError::BadEnv(line.to_string()));
                }
                if let Some(v) = host(key) {
                    out.push(format!("{key}={v}"));
                }
            }
        }
    }
    Ok(out)
}

/// Parses numeric `UID[:GID]` (names are resolved against the image
/// before the spec is made; see `runtime::create`).
pub fn parse_user(user: &str) -> Result<(u32, u32), RuntimeError> {
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let bad = || RuntimeError::BadUser(user.to_string());
    let uid: u32 = u.parse().map_err(|_| bad())?;
    let gid: u32 = match g {
        Some(g) => g.parse().map_err(|_| bad())?,
        None => uid,
    };
    Ok((uid, gid))
}

fn mount(dest: &str, typ: &str, source: &str, options: &[&str]) -> Result<Mount, RuntimeError> {
    Ok(MountBuilder::default()
        .destination(PathBuf::from(dest))
        .typ(typ)
        .source(PathBuf::from(source))
        .options(options.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .build()?)
}

/// The mounts every container gets, in the order they are made.
pub fn default_mounts() -> Result<Vec<Mount>, RuntimeError> {
    Ok(vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"])?,
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        )?,
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        )?,
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        )?,
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        )?,
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        )?,
        // As Docker: the container's own view of its cgroup (the cgroup
        // namespace makes its cgroup the root), read-only, so a program
        // can read its limits (`cat /sys/fs/cgroup/memory.max`).
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "relatime", "ro"],
        )?,
    ])
}

fn namespace(t: LinuxNamespaceType) -> Result<LinuxNamespace, RuntimeError> {
    Ok(LinuxNamespaceBuilder::default().typ(t).build()?)
}

/// Builds the runtime spec for a container whose merged rootfs will be at
/// `rootfs` (the bundle's `root.path`).
pub fn generate(
    image: &ImageConfiguration,
    opts: &ProcessOptions,
    rootfs: PathBuf,
    default_hostname: &str,
) -> Result<Spec, RuntimeError> {
    let cfg = image.config().as_ref();
    let args = combine_args(image, opts);
    if args.is_empty() {
        return Err(RuntimeError::NoCommand);
    }
    let hostname = opts
        .hostname
        .clone()
        .unwrap_or_else(|| default_hostname.to_string());
    let mut env = combine_env(image, opts, &hostname);
    if let Some(home) = &opts.home {
        if !env.iter().any(|e| e.split('=').next() == Some("HOME")) {
            env.push(format!("HOME={home}"));
        }
    }
    let cwd = opts
        .workdir
        .clone()
        .or_else(|| cfg.and_then(|c| c.working_dir().clone()))
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "/".to_string());
    if !cwd.starts_with('/') {
        return Err(RuntimeError::RelativeWorkdir(cwd));
    }
    let user = opts
        .user
        .clone()
        .or_else(|| cfg.and_then(|c| c.user().clone()))
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "0".to_string());
    let (uid, gid) = parse_user(&user)?;
    let caps = capability_set(&opts.cap_add, &opts.cap_drop)?;
    let capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(caps.clone())
        .effective(caps.clone())
        .permitted(caps.clone())
        .inheritable(HashSet::new())
        .ambient(HashSet::new())
        .build()?;
    let process = ProcessBuilder::default()
        .terminal(false)
        .user({
            let mut u = UserBuilder::default().uid(uid).gid(gid);
            if !opts.additional_gids.is_empty() {
                u = u.additional_gids(opts.additional_gids.clone());
            }
            u.build()?
        })
        .args(args)
        .env(env)
        .cwd(PathBuf::from(cwd))
        .capabilities(capabilities)
        .no_new_privileges(true)
        .build()?;
    let mut namespaces = vec![
        namespace(LinuxNamespaceType::Pid)?,
        namespace(LinuxNamespaceType::Mount)?,
        namespace(LinuxNamespaceType::Uts)?,
        namespace(LinuxNamespaceType::Ipc)?,
    ];
    if !opts.host_network {
        namespaces.push(namespace(LinuxNamespaceType::Network)?);
    }
    namespaces.push(namespace(LinuxNamespaceType::Cgroup)?);
    let linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .masked_paths(
            MASKED_PATHS
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>(),
        )
        .readonly_paths(
            READONLY_PATHS
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>(),
        )
        .build()?;
    let mut annotations = std::collections::HashMap::new();
    if opts.init {
        annotations.insert(INIT_ANNOTATION.to_string(), "true".to_string());
    }
    Ok(SpecBuilder::default()
        .version("1.0.2")
        .root(
            RootBuilder::default()
                .path(rootfs)
                .readonly(opts.read_only)
                .build()?,
        )
        .hostname(hostname)
        .annotations(annotations)
        .mounts(default_mounts()?)
        .process(process)
        .linux(linux)
        .build()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::image::{ConfigBuilder, ImageConfigurationBuilder};

    fn image(ep: &[&str], cmd: &[&str]) -> ImageConfiguration {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        ImageConfigurationBuilder::default()
            .config(
                ConfigBuilder::default()
                    .entrypoint(v(ep))
                    .cmd(v(cmd))
                    .env(vec!["A=1".to_string(), "PATH=/bin".to_string()])
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    }

    #[test]
    fn command_arguments_replace_cmd_but_keep_entrypoint() {
        let img = image(&["/bin/ep"], &["default"]);
        let opts = ProcessOptions {
            command: vec!["x".into()],
            ..Default::default()
        };
        assert_eq!(combine_args(&img, &opts), vec!["/bin/ep", "x"]);
        assert_eq!(
            combine_args(&img, &ProcessOptions::default()),
            vec!["/bin/ep", "default"]
        );
    }

    #[test]
    fn entrypoint_flag_drops_image_cmd() {
        let img = image(&["/bin/ep"], &["default"]);
        let opts = ProcessOptions {
            entrypoint: Some("/bin/sh".into()),
            ..Default::default()
        };
        assert_eq!(combine_args(&img, &opts), vec!["/bin/sh"]);
    }

    #[test]
    fn cap_add_and_drop_change_dockers_default_set() {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let set = capability_set(&v(&["NET_ADMIN"]), &v(&["cap_chown"])).unwrap();
        assert!(set.contains(&Capability::NetAdmin));
        assert!(!set.contains(&Capability::Chown));
        assert_eq!(set.len(), DEFAULT_CAPABILITIES.len());
        assert!(capability_set(&[], &v(&["ALL"])).unwrap().is_empty());
        let only = capability_set(&v(&["KILL"]), &v(&["ALL"])).unwrap();
        assert_eq!(only.into_iter().collect::<Vec<_>>(), [Capability::Kill]);
        assert!(capability_set(&v(&["BOGUS"]), &[]).is_err());
        for n in ALL_CAPABILITIES {
            assert!(capability(n).is_ok(), "{n}");
        }
    }

    #[test]
    fn tmpfs_is_noexec_nosuid_nodev_unless_told() {
        let m = tmpfs_mount("/scratch").unwrap();
        assert_eq!(m.typ().as_deref(), Some("tmpfs"));
        assert_eq!(m.options().clone().unwrap(), ["noexec", "nosuid", "nodev"]);
        let m = tmpfs_mount("/x:size=1m,exec").unwrap();
        assert_eq!(m.options().clone().unwrap(), ["nosuid", "nodev", "size=1m"]);
        assert!(tmpfs_mount("rel").is_err());
        assert!(tmpfs_mount("/").is_err());
    }

    #[test]
    fn env_flag_overrides_image_env() {
        let img = image(&[], &["sh"]);
        let opts = ProcessOptions {
            env: vec!["A=2".into()],
            ..Default::default()
        };
        let env = combine_env(&img, &opts, "h");
        assert!(env.contains(&"A=2".to_string()));
        assert!(!env.contains(&"A=1".to_string()));
        assert!(env.contains(&"PATH=/bin".to_string()));
        assert_eq!(env.iter().filter(|e| e.starts_with("PATH=")).count(), 1);
    }

    #[test]
    fn env_file_reads_like_docker() {
        let text = "# comment\n\nA=1\n  B=two words\nHOSTVAR\nMISSING\nQ=\"quoted\"\n";
        let host = |k: &str| (k == "HOSTVAR").then(|| "from-host".to_string());
        assert_eq!(
            parse_env_file(text, host).unwrap(),
            vec!["A=1", "B=two words", "HOSTVAR=from-host", "Q=\"quoted\""]
        );
        assert!(parse_env_file("=x\n", |_| None).is_err());
    }

    #[test]
    fn spec_has_docker_defaults() {
        let spec = generate(
            &image(&[], &["sh"]),
            &ProcessOptions::default(),
            "/r".into(),
            "abc",
        )
        .unwrap();
        let linux = spec.linux().as_ref().unwrap();
        assert_eq!(linux.namespaces().as_ref().unwrap().len(), 6);
        assert_eq!(
            linux.masked_paths().as_ref().unwrap().len(),
            MASKED_PATHS.len()
        );
        let p = spec.process().as_ref().unwrap();
        assert_eq!(p.no_new_privileges(), Some(true));
        assert_eq!(
            p.capabilities()
                .as_ref()
                .unwrap()
                .bounding()
                .as_ref()
                .unwrap()
                .len(),
            14
        );
    }
}
