//! RUN's flags, `--network=none|host|default` and `--mount=type=...`, and
//! the build's own `--secret` and `--ssh` flags, parsed as BuildKit writes
//! them. What each mount does on the host is in `run_mounts.rs`.
//!
//! - `--network=none` (and `default`, for now: glassbox has no build
//!   network yet) runs the command in a new network namespace with only
//!   `lo`; `host` keeps the host's network namespace, as `run --network
//!   host` does.
//! - `type=bind,source=DIR,target=/dst`: a path of the build context, or
//!   with `from=STAGE|IMAGE` of an earlier stage or an image, bound
//!   read-only for this step; its content goes into the cache key and
//!   nothing under it lands in the layer. With `rw` the command may write
//!   to it, but the writes go to a throw-away overlay upper dir and are
//!   discarded after the step (the source never changes).
//! - `type=cache,target=/dst[,id=NAME]`: a directory kept in
//!   `ROOT/build-cache/mounts/`, read-write, that survives between builds
//!   and is shared by every step with the same id (the target when none).
//! - `type=tmpfs,target=/dst[,size=BYTES]`: an empty tmpfs (memory) for this
//!   step only.
//! - `type=secret,id=NAME[,target=/run/secrets/NAME][,required][,mode=0400][,uid=0,gid=0]`: the
//!   secret given with `glassbox build --secret id=NAME,src=FILE|env=VAR`,
//!   as a read-only file on a tmpfs; never written to disk, a layer or the
//!   cache's plain text.
//! - `type=ssh[,id=default][,target=/run/buildkit/ssh_agent.0][,required]`:
//!   the agent socket given with `glassbox build --ssh default` (the host's
//!   `$SSH_AUTH_SOCK`), with `SSH_AUTH_SOCK` set in the command's
//!   environment.
//!
//! A secret or ssh mount whose id the build was not given is skipped
//! (BuildKit's default) unless the mount says `required`. `mode`, `uid`
//! and `gid` set a secret file's permissions; for other mounts they are
//! accepted and ignored, as is `sharing`.

use std::path::PathBuf;

/// RUN's network mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Network {
    /// A new, empty network namespace (also what `default` gives for now).
    #[default]
    None,
    /// The host's network namespace.
    Host,
}

/// One `--mount`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountSpec {
    /// A bind of a context path (or of a stage's or image's path).
    Bind {
        /// The path in the context or the stage (cleaned, relative).
        source: String,
        /// Where it appears in the container.
        target: String,
        /// `from=`: an earlier stage or an image instead of the context.
        from: Option<String>,
        /// `rw`: writable, the writes discarded after the step.
        rw: bool,
    },
    /// A persistent cache directory.
    Cache {
        /// Shared by every mount with the same id.
        id: String,
        /// Where it appears in the container.
        target: String,
    },
    /// An empty tmpfs for one step.
    Tmpfs {
        /// Where it appears in the container.
        target: String,
        /// `size=` in bytes (the kernel's default, half the RAM, when none).
        size: Option<u64>,
    },
    /// A secret file.
    Secret {
        /// The id given with `--secret id=...`.
        id: String,
        /// The file's path in the container.
        target: String,
        /// Fail when the build was not given this secret.
        required: bool,
        /// The file's mode (`mode=`, octal; 0400 by default).
        mode: u32,
        /// The file's owner (`uid=`, `gid=`; root by default).
        owner: (u32, u32),
    },
    /// An ssh agent socket.
    Ssh {
        /// The id given with `--ssh ID`.
        id: String,
        /// The socket's path in the container.
        target: String,
        /// Fail when the build was not given this agent.
        required: bool,
    },
}

impl MountSpec {
    /// Where the mount appears in the container.
    pub fn target(&self) -> &str {
        match self {
            MountSpec::Bind { target, .. }
            | MountSpec::Cache { target, .. }
            | MountSpec::Tmpfs { target, .. }
            | MountSpec::Secret { target, .. }
            | MountSpec::Ssh { target, .. } => target,
        }
    }

    /// The mount type as written (`bind`, `cache`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            MountSpec::Bind { .. } => "bind",
            MountSpec::Cache { .. } => "cache",
            MountSpec::Tmpfs { .. } => "tmpfs",
            MountSpec::Secret { .. } => "secret",
            MountSpec::Ssh { .. } => "ssh",
        }
    }
}

/// Parses `--network` values.
pub fn parse_network(v: &str) -> Result<Network, String> {
    match v {
        "none" | "default" => Ok(Network::None),
        "host" => Ok(Network::Host),
        other => Err(format!(
            "--network={other} is not a RUN network mode; use none, default or host"
        )),
    }
}

/// `true`, `false` or nothing (a bare flag is true).
fn boolean(k: &str, v: Option<&str>) -> Result<bool, String> {
    match v {
        None | Some("true") | Some("1") => Ok(true),
        Some("false") | Some("0") => Ok(false),
        Some(other) => Err(format!("--mount {k}={other}: use true or false")),
    }
}

/// A size with an optional unit: `65536`, `64k`, `10m`, `1g` (powers of 1024).
pub fn parse_size(v: &str) -> Option<u64> {
    let v = v.trim().to_ascii_lowercase();
    let v = v.strip_suffix('b').unwrap_or(&v);
    let (num, mult) = match v.chars().last()? {
        'k' => (&v[..v.len() - 1], 1u64 << 10),
        'm' => (&v[..v.len() - 1], 1 << 20),
        'g' => (&v[..v.len() - 1], 1 << 30),
        _ => (v, 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mult)
}

/// Parses one `--mount` value (`type=...,target=...,...`).
pub fn parse_mount(v: &str) -> Result<MountSpec, String> {
    let mut kind = "bind".to_string();
    let (mut source, mut target, mut id, mut from, mut size) = (None, None, None, None, None);
    let (mut rw, mut required) = (false, false);
    let (mut mode, mut uid, mut gid) = (None, None, None);
    for part in v.split(',').filter(|p| !p.is_empty()) {
        let (k, val) = match part.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (part, None),
        };
        let val_s = || val.unwrap_or("").to_string();
        match k {
            "type" => kind = val_s(),
            "source" | "src" => source = Some(val_s()),
            "target" | "dst" | "destination" => target = Some(val_s()),
            "id" => id = Some(val_s()),
            "from" => from = Some(val_s()),
            "ro" | "readonly" => rw = !boolean(k, val)?,
            "rw" | "readwrite" => rw = boolean(k, val)?,
            "required" => required = boolean(k, val)?,
            "size" => {
                size = Some(parse_size(&val_s()).ok_or_else(|| {
                    format!(
                        "--mount size={} is not a size; write bytes or 64k, 10m, 1g",
                        val_s()
                    )
                })?)
            }
            "mode" => {
                mode = Some(u32::from_str_radix(&val_s(), 8).map_err(|_| {
                    format!("--mount mode={} is not an octal mode such as 0400", val_s())
                })?)
            }
            "uid" | "gid" => {
                let n = val_s()
                    .parse::<u32>()
                    .map_err(|_| format!("--mount {k}={} is not a number", val_s()))?;
                if k == "uid" {
                    uid = Some(n)
                } else {
                    gid = Some(n)
                }
            }
            // Sharing modes: glassbox runs one step at a time per build.
            "sharing" => {}
            "env" => {
                return Err(
                    "--mount type=secret,env= is not supported; read the secret from its file under /run/secrets".into(),
                )
            }
            other => return Err(format!("unknown --mount option '{other}'")),
        }
    }
    let absolute = |t: String| -> Result<String, String> {
        if t.starts_with('/') {
            Ok(t)
        } else {
            Err(format!("--mount target '{t}' must be an absolute path"))
        }
    };
    let needs_target = || target.clone().ok_or("--mount needs target=/path");
    let only_for = |what: &str, set: bool, opt: &str| -> Result<(), String> {
        if set {
            Err(format!("--mount {opt}= does not apply to type={what}"))
        } else {
            Ok(())
        }
    };
    match kind.as_str() {
        "bind" => {
            let source = source.unwrap_or_else(|| ".".into());
            Ok(MountSpec::Bind {
                source: super::ignore::clean(&source),
                target: absolute(needs_target()?)?,
                from,
                rw,
            })
        }
        "cache" => {
            only_for("cache", from.is_some(), "from")?;
            let target = absolute(needs_target()?)?;
            Ok(MountSpec::Cache {
                id: id.unwrap_or_else(|| target.clone()),
                target,
            })
        }
        "tmpfs" => {
            only_for("tmpfs", from.is_some(), "from")?;
            Ok(MountSpec::Tmpfs {
                target: absolute(needs_target()?)?,
                size,
            })
        }
        "secret" | "ssh" => {
            only_for(&kind, from.is_some(), "from")?;
            only_for(&kind, source.is_some(), "source")?;
            if kind == "secret" {
                let id = match (id, &target) {
                    (Some(i), _) => i,
                    (None, Some(t)) => t.rsplit('/').next().unwrap_or("").to_string(),
                    (None, None) => {
                        return Err("--mount type=secret needs id=NAME (the id given to glassbox build --secret)".into())
                    }
                };
                if id.is_empty() || id.contains('/') {
                    return Err(format!("--mount type=secret: '{id}' is not a secret id"));
                }
                let target = absolute(target.unwrap_or_else(|| format!("/run/secrets/{id}")))?;
                Ok(MountSpec::Secret {
                    id,
                    target,
                    required,
                    mode: mode.unwrap_or(0o400),
                    owner: (uid.unwrap_or(0), gid.unwrap_or(0)),
                })
            } else {
                Ok(MountSpec::Ssh {
                    id: id.unwrap_or_else(|| "default".into()),
                    target: absolute(target.unwrap_or_else(|| "/run/buildkit/ssh_agent.0".into()))?,
                    required,
                })
            }
        }
        other => Err(format!(
            "--mount type={other} is not a mount type; use bind, cache, tmpfs, secret or ssh"
        )),
    }
}

/// Where a `--secret` comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// A file on the host.
    File(PathBuf),
    /// An environment variable of the `glassbox build` process.
    Env(String),
}

impl std::fmt::Debug for SecretSource {
    /// Names where the secret is, never its value.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretSource::File(p) => write!(f, "file {}", p.display()),
            SecretSource::Env(v) => write!(f, "env {v}"),
        }
    }
}

impl SecretSource {
    /// Reads the secret's bytes.
    pub fn read(&self) -> Result<Vec<u8>, String> {
        match self {
            SecretSource::File(p) => std::fs::read(p)
                .map_err(|e| format!("cannot read the secret file {}: {e}", p.display())),
            SecretSource::Env(v) => std::env::var_os(v)
                .map(|s| std::os::unix::ffi::OsStrExt::as_bytes(s.as_os_str()).to_vec())
                .ok_or_else(|| format!("the environment variable {v} is not set")),
        }
    }
}

/// Parses `glassbox build --secret id=NAME,src=FILE` (or `env=VAR`,
/// `source=`, `type=file|env`). Without src or env the secret comes from
/// the environment variable named like the id, as `docker buildx` does.
pub fn parse_secret_flag(v: &str) -> Result<(String, SecretSource), String> {
    let (mut id, mut src, mut env, mut typ) = (None, None, None, None);
    for part in v.split(',').filter(|p| !p.is_empty()) {
        let (k, val) = part.split_once('=').ok_or_else(|| {
            format!("--secret {v}: '{part}' is not KEY=VALUE; write id=NAME,src=FILE")
        })?;
        match k {
            "id" => id = Some(val.to_string()),
            "src" | "source" => src = Some(val.to_string()),
            "env" => env = Some(val.to_string()),
            "type" => typ = Some(val.to_string()),
            other => {
                return Err(format!(
                    "--secret: unknown key '{other}'; use id, src or env"
                ))
            }
        }
    }
    let id = id
        .or_else(|| {
            src.as_deref()
                .and_then(|s| s.rsplit('/').next())
                .map(str::to_string)
        })
        .ok_or_else(|| format!("--secret {v} needs id=NAME"))?;
    let source = match (typ.as_deref(), src, env) {
        (Some("env"), Some(s), None) | (_, None, Some(s)) => SecretSource::Env(s),
        (Some("file") | None, Some(s), None) => {
            let p = PathBuf::from(&s);
            if !p.is_file() {
                return Err(format!("--secret {id}: {s} is not a file"));
            }
            SecretSource::File(p)
        }
        (Some("env" | "file") | None, None, None) => SecretSource::Env(id.clone()),
        (Some(t), _, _) if t != "env" && t != "file" => {
            return Err(format!("--secret type={t}: use type=file or type=env"))
        }
        _ => return Err(format!("--secret {id}: give src=FILE or env=VAR, not both")),
    };
    if let SecretSource::Env(var) = &source {
        if std::env::var_os(var).is_none() {
            return Err(format!(
                "--secret {id}: the environment variable {var} is not set"
            ));
        }
    }
    Ok((id, source))
}

/// Parses `glassbox build --ssh ID[=SOCKET]`; `agent` is `$SSH_AUTH_SOCK`,
/// used when no socket is written.
pub fn parse_ssh_flag(v: &str, agent: Option<&str>) -> Result<(String, PathBuf), String> {
    let (id, sock) = match v.split_once('=') {
        Some((id, s)) => (id.to_string(), Some(s.to_string())),
        None => (v.to_string(), None),
    };
    if id.is_empty() {
        return Err("--ssh needs an id, such as --ssh default".into());
    }
    let sock = match sock.or_else(|| agent.map(str::to_string)) {
        Some(s) if !s.is_empty() => PathBuf::from(s),
        _ => return Err(format!(
            "--ssh {id}: no ssh agent: SSH_AUTH_SOCK is not set; start one with `eval $(ssh-agent)` and `ssh-add`, or write --ssh {id}=/path/to/agent.sock"
        )),
    };
    use std::os::unix::fs::FileTypeExt;
    match std::fs::metadata(&sock) {
        Ok(m) if m.file_type().is_socket() => Ok((id, sock)),
        Ok(_) => Err(format!(
            "--ssh {id}: {} is not a socket; glassbox forwards an agent's socket, not key files (load keys with ssh-add)",
            sock.display()
        )),
        Err(e) => Err(format!(
            "--ssh {id}: the agent socket {} cannot be used: {e}",
            sock.display()
        )),
    }
}

/// The directory that keeps a cache mount's data.
pub fn cache_dir(root: &std::path::Path, id: &str) -> std::path::PathBuf {
    use sha2::{Digest, Sha256};
    root.join("build-cache")
        .join("mounts")
        .join(hex::encode(Sha256::digest(id.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_parse_as_buildkit_writes_them() {
        assert_eq!(
            parse_mount("type=cache,target=/root/.cache").unwrap(),
            MountSpec::Cache {
                id: "/root/.cache".into(),
                target: "/root/.cache".into()
            }
        );
        assert_eq!(
            parse_mount("type=bind,source=./src,target=/src").unwrap(),
            MountSpec::Bind {
                source: "src".into(),
                target: "/src".into(),
                from: None,
                rw: false,
            }
        );
        assert_eq!(
            parse_mount("type=bind,from=build,source=/out,target=/o,rw").unwrap(),
            MountSpec::Bind {
                source: "out".into(),
                target: "/o".into(),
                from: Some("build".into()),
                rw: true,
            }
        );
        assert_eq!(
            parse_mount("type=tmpfs,target=/t,size=64k").unwrap(),
            MountSpec::Tmpfs {
                target: "/t".into(),
                size: Some(65536)
            }
        );
        assert_eq!(
            parse_mount("type=secret,id=token").unwrap(),
            MountSpec::Secret {
                id: "token".into(),
                target: "/run/secrets/token".into(),
                required: false,
                mode: 0o400,
                owner: (0, 0),
            }
        );
        assert_eq!(
            parse_mount("type=secret,target=/etc/pw,required,mode=0440,uid=65534,gid=65534")
                .unwrap(),
            MountSpec::Secret {
                id: "pw".into(),
                target: "/etc/pw".into(),
                required: true,
                mode: 0o440,
                owner: (65534, 65534),
            }
        );
        assert_eq!(
            parse_mount("type=ssh").unwrap(),
            MountSpec::Ssh {
                id: "default".into(),
                target: "/run/buildkit/ssh_agent.0".into(),
                required: false
            }
        );
        assert!(parse_mount("type=bind,target=rel").is_err());
        assert!(parse_mount("type=tmpfs").is_err());
        assert!(parse_mount("type=tmpfs,target=/t,size=lots").is_err());
        assert!(parse_mount("type=volume,target=/t").is_err());
        assert_eq!(parse_network("host"), Ok(Network::Host));
        assert!(parse_network("bridge").is_err());
    }

    #[test]
    fn build_flags_name_their_sources_and_never_print_a_value() {
        let f = tempfile::NamedTempFile::new().unwrap();
        let path = f.path().display().to_string();
        let (id, src) = parse_secret_flag(&format!("id=tok,src={path}")).unwrap();
        assert_eq!(
            (id.as_str(), src.clone()),
            ("tok", SecretSource::File(f.path().into()))
        );
        assert_eq!(format!("{src:?}"), format!("file {path}"));
        assert!(parse_secret_flag("id=tok,env=GLASSBOX_SURELY_UNSET_VAR").is_err());
        assert!(parse_secret_flag("id=tok,src=/no/such/file").is_err());
        let err = parse_ssh_flag("default", None).unwrap_err();
        assert!(err.contains("SSH_AUTH_SOCK is not set"), "{err}");
        let err = parse_ssh_flag("default", Some(&path)).unwrap_err();
        assert!(err.contains("not a socket"), "{err}");
        assert_eq!(parse_size("10m"), Some(10 << 20));
    }
}
