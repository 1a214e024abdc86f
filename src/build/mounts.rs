//! RUN's flags: `--network=none|host|default` and
//! `--mount=type=bind|cache,...`.
//!
//! - `--network=none` (and `default`, for now: glassbox has no build
//!   network yet) runs the command in a new network namespace with only
//!   `lo`; `host` keeps the host's network namespace, as `run --network
//!   host` does.
//! - `--mount=type=bind,source=DIR,target=/dst` binds a path of the build
//!   context read-only into the container for this step only; its content
//!   goes into the cache key, and nothing under it lands in the layer.
//! - `--mount=type=cache,target=/dst[,id=NAME]` binds a directory kept in
//!   `ROOT/build-cache/mounts/` read-write: it survives between builds
//!   (a package manager's download cache), is shared by every step with the
//!   same id (the target when no id), and is never part of a layer.
//!
//! Not supported, with a clear error: `type=tmpfs`, `secret`, `ssh`, bind
//! `from=` and `rw` (a writable bind would write into the context).

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
    /// A read-only bind of a context path.
    Bind {
        /// The path in the context (cleaned, relative).
        source: String,
        /// Where it appears in the container.
        target: String,
    },
    /// A persistent cache directory.
    Cache {
        /// Shared by every mount with the same id.
        id: String,
        /// Where it appears in the container.
        target: String,
    },
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

/// Parses one `--mount` value (`type=...,target=...,...`).
pub fn parse_mount(v: &str) -> Result<MountSpec, String> {
    let mut kind = "bind";
    let (mut source, mut target, mut id) = (None, None, None);
    for part in v.split(',').filter(|p| !p.is_empty()) {
        let (k, val) = part.split_once('=').unwrap_or((part, ""));
        match k {
            "type" => kind = val,
            "source" | "src" => source = Some(val.to_string()),
            "target" | "dst" | "destination" => target = Some(val.to_string()),
            "id" => id = Some(val.to_string()),
            "ro" | "readonly" => {}
            "sharing" | "mode" | "uid" | "gid" => {}
            "rw" | "readwrite" => {
                return Err(
                    "a writable bind mount is not supported: glassbox binds the context read-only"
                        .into(),
                )
            }
            "from" => {
                return Err(
                    "--mount from= a stage or image is not supported yet; COPY --from instead"
                        .into(),
                )
            }
            other => return Err(format!("unknown --mount option '{other}'")),
        }
    }
    let target = target.ok_or("--mount needs target=/path")?;
    if !target.starts_with('/') {
        return Err(format!(
            "--mount target '{target}' must be an absolute path"
        ));
    }
    match kind {
        "bind" => {
            let source = source.unwrap_or_else(|| ".".into());
            Ok(MountSpec::Bind {
                source: super::ignore::clean(&source),
                target,
            })
        }
        "cache" => Ok(MountSpec::Cache {
            id: id.unwrap_or_else(|| target.clone()),
            target,
        }),
        other => Err(format!(
            "--mount type={other} is not supported; glassbox supports type=bind and type=cache"
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
                target: "/src".into()
            }
        );
        assert!(parse_mount("type=tmpfs,target=/t").is_err());
        assert!(parse_mount("type=bind,target=rel").is_err());
        assert_eq!(parse_network("host"), Ok(Network::Host));
        assert!(parse_network("bridge").is_err());
    }
}
