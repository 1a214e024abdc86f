//! `glassbox build`: read the Dockerfile (from the context, `-f`, or stdin
//! with `-`), hand everything to [`crate::build::build`], print the
//! build-check warnings and the image id. No engine logic here.

use super::Ctx;
use crate::build::BuildOptions;
use crate::store::Store;
use clap::Args;
use std::io::Read;
use std::path::PathBuf;

/// Arguments of `glassbox build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Name and tag for the image (name:tag)
    #[arg(short = 't', long = "tag")]
    pub tag: Option<String>,
    /// The Dockerfile (default: CONTEXT/Dockerfile)
    #[arg(short = 'f', long = "file")]
    pub file: Option<PathBuf>,
    /// Build-time variable KEY=VALUE (repeatable)
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    pub build_args: Vec<String>,
    /// Build up to this stage (FROM ... AS name)
    #[arg(long)]
    pub target: Option<String>,
    /// Do not use the build cache
    #[arg(long)]
    pub no_cache: bool,
    /// A secret for RUN --mount=type=secret: id=NAME,src=FILE or id=NAME,env=VAR (repeatable)
    #[arg(long = "secret", value_name = "id=NAME,src=FILE")]
    pub secrets: Vec<String>,
    /// Forward an ssh agent for RUN --mount=type=ssh: default (uses $SSH_AUTH_SOCK) or ID=SOCKET (repeatable)
    #[arg(long = "ssh", value_name = "default|ID=SOCKET")]
    pub ssh: Vec<String>,
    /// The context directory, or - to read the Dockerfile from stdin (no context)
    pub context: String,
}

/// Builds an image.
pub fn build(a: BuildArgs, ctx: &Ctx) -> crate::Result<i32> {
    let mut build_args = std::collections::BTreeMap::new();
    for kv in &a.build_args {
        let (k, v) = match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            // Docker: `--build-arg NAME` takes the value from the environment.
            None => match std::env::var(kv) {
                Ok(v) => (kv.clone(), v),
                Err(_) => continue,
            },
        };
        build_args.insert(k, v);
    }
    let mut secrets = std::collections::BTreeMap::new();
    for v in &a.secrets {
        let (id, src) = crate::build::mounts::parse_secret_flag(v).map_err(crate::Error::Usage)?;
        secrets.insert(id, src);
    }
    let mut ssh = std::collections::BTreeMap::new();
    let agent = std::env::var("SSH_AUTH_SOCK").ok();
    for v in &a.ssh {
        let (id, sock) = crate::build::mounts::parse_ssh_flag(v, agent.as_deref())
            .map_err(crate::Error::Usage)?;
        ssh.insert(id, sock);
    }
    let (context, file) = if a.context == "-" {
        (None, a.file.clone())
    } else {
        let dir = PathBuf::from(&a.context);
        if !dir.is_dir() {
            return Err(crate::Error::Usage(format!(
                "build context {} is not a directory",
                dir.display()
            )));
        }
        let file = a.file.clone().unwrap_or_else(|| dir.join("Dockerfile"));
        (Some(dir), Some(file))
    };
    let (dockerfile, dockerfile_name) = match file {
        Some(f) => (
            std::fs::read_to_string(&f).map_err(|e| {
                crate::Error::Usage(format!("cannot read Dockerfile {}: {e}", f.display()))
            })?,
            f.display().to_string(),
        ),
        None => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).map_err(|e| {
                crate::Error::Usage(format!("cannot read the Dockerfile from stdin: {e}"))
            })?;
            (text, "Dockerfile".to_string())
        }
    };
    let store = Store::open(&ctx.root)?;
    let out = crate::build::build(
        &store,
        &BuildOptions {
            dockerfile,
            dockerfile_name,
            context,
            tag: a.tag.clone(),
            build_args,
            target: a.target.clone(),
            no_cache: a.no_cache,
            secrets,
            ssh,
        },
    )?;
    for w in &out.warnings {
        eprintln!("{}", w.render());
    }
    if !out.unused_build_args.is_empty() {
        eprintln!(
            "warning: build-args {} were not consumed by any ARG",
            out.unused_build_args.join(", ")
        );
    }
    println!("Successfully built {}", out.image.id);
    if let Some(t) = &a.tag {
        println!("Successfully tagged {t}");
    }
    Ok(0)
}
