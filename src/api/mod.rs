//! `glassbox daemon`: the Docker Engine API (a subset, claiming 1.41) on a
//! unix socket and, when asked, on loopback TCP — so the real `docker` CLI,
//! docker-py and docker-compose drive the same engine and store the
//! glassbox CLI uses. What `docker run` makes, `glassbox ps` lists.
//!
//! The handlers translate requests into the option structs the CLI builds
//! and call the engine's public functions; they never reach below them.
//! Each request is one `api.request` step: announced when it arrives (with
//! the client command that sends it and what it means), finished with its
//! status. The engine steps it causes are emitted on the handler's thread
//! inside the `api` phase, so they nest under it in every sink.
//!
//! Why hyper (with hyper-util on tokio) rather than a hand-written server:
//! the Engine API needs what is easy to get subtly wrong by hand — the
//! `101 UPGRADED` hijack of attach and exec with half-close, bodies streamed
//! both ways (a build context in, pull progress and `wait` out, with the
//! headers of `wait` sent before its body), keep-alive and pipelining on a
//! unix socket. hyper does those and is what most Rust HTTP stacks stand
//! on. Engine calls block (they wait for the kernel and for child
//! processes), so every handler runs on tokio's blocking pool and streams
//! through channels.

// A handler's early answer is a whole response, which is bigger than
// clippy likes an error to be; it is made once per request.
#![allow(clippy::result_large_err)]

mod attach;
mod body;
mod containers;
mod events;
mod images;
mod objects;
pub(crate) mod routes;
mod system;

pub use body::Body;

use std::path::PathBuf;
use std::sync::Arc;

/// The API version glassbox claims, and the oldest it serves.
pub const API_VERSION: &str = "1.41";
/// The oldest API version served.
pub const MIN_API_VERSION: &str = "1.24";

/// Where the daemon listens.
#[derive(Debug, Clone)]
pub enum Listen {
    /// A unix socket path.
    Unix(PathBuf),
    /// A TCP address.
    Tcp(std::net::SocketAddr),
}

impl Listen {
    /// Parses `unix:///path`, `tcp://host:port` or a bare path, as dockerd's
    /// `-H`. TCP is only allowed on loopback unless `any_tcp` is set.
    pub fn parse(text: &str, any_tcp: bool) -> Result<Listen, ApiError> {
        if let Some(p) = text.strip_prefix("unix://") {
            return Ok(Listen::Unix(PathBuf::from(p)));
        }
        if let Some(a) = text.strip_prefix("tcp://") {
            let addr: std::net::SocketAddr = a
                .parse()
                .map_err(|_| ApiError::BadListen(text.to_string()))?;
            if !addr.ip().is_loopback() && !any_tcp {
                return Err(ApiError::OpenTcp(text.to_string()));
            }
            return Ok(Listen::Tcp(addr));
        }
        if text.starts_with('/') {
            return Ok(Listen::Unix(PathBuf::from(text)));
        }
        Err(ApiError::BadListen(text.to_string()))
    }
}

/// What can go wrong starting the daemon.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// `-H` that is not unix:// or tcp://.
    #[error("cannot listen on {0:?}: give unix:///path/to.sock or tcp://127.0.0.1:2375")]
    BadListen(String),
    /// TCP on a non-loopback address.
    #[error("{0} would let anyone on the network run containers as root; listen on 127.0.0.1, or add --unsafe-tcp if you really mean it")]
    OpenTcp(String),
    /// Binding failed.
    #[error("cannot listen on {0}: {1}")]
    Bind(String, std::io::Error),
}

/// The daemon's shared state: the store root and what it must remember
/// across requests.
pub struct Daemon {
    /// The store root.
    pub root: PathBuf,
    /// Exec instances made by `POST /containers/ID/exec`.
    pub(crate) execs:
        Arc<std::sync::Mutex<std::collections::HashMap<String, containers::ExecRecord>>>,
    /// Containers created with `HostConfig.AutoRemove`: the daemon removes
    /// them when they exit (as dockerd does) and keeps their exit codes for
    /// `wait?condition=removed`.
    pub(crate) auto_remove: Arc<containers::AutoRemove>,
}

/// Serves the API on every listener until the process is ended.
pub fn serve(root: PathBuf, listen: Vec<Listen>) -> crate::Result<()> {
    let daemon = Arc::new(Daemon {
        root,
        execs: Default::default(),
        auto_remove: Default::default(),
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(64)
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| crate::Error::Io {
            context: "starting the daemon's runtime".into(),
            source: e,
        })?;
    rt.block_on(async move {
        let mut tasks = Vec::new();
        for l in listen {
            let d = daemon.clone();
            match l {
                Listen::Unix(path) => {
                    let _ = std::fs::remove_file(&path);
                    if let Some(parent) = path.parent() {
                        let _ = std::fs::create_dir_all(parent);
                    }
                    let lis = tokio::net::UnixListener::bind(&path).map_err(|e| {
                        crate::Error::from(ApiError::Bind(path.display().to_string(), e))
                    })?;
                    socket_permissions(&path);
                    listening(&format!("unix://{}", path.display()));
                    tasks.push(tokio::spawn(async move {
                        loop {
                            if let Ok((s, _)) = lis.accept().await {
                                tokio::spawn(routes::connection(s, d.clone()));
                            }
                        }
                    }));
                }
                Listen::Tcp(addr) => {
                    let lis = tokio::net::TcpListener::bind(addr)
                        .await
                        .map_err(|e| crate::Error::from(ApiError::Bind(addr.to_string(), e)))?;
                    listening(&format!("tcp://{addr}"));
                    tasks.push(tokio::spawn(async move {
                        loop {
                            if let Ok((s, _)) = lis.accept().await {
                                let _ = s.set_nodelay(true);
                                tokio::spawn(routes::connection(s, d.clone()));
                            }
                        }
                    }));
                }
            }
        }
        for t in tasks {
            let _ = t.await;
        }
        Ok::<(), crate::Error>(())
    })
}

fn listening(addr: &str) {
    crate::trace::fact(crate::trace::Kind::Api, "listen", addr.to_string())
        .field("address", addr)
        .field("api_version", API_VERSION)
        .equivalent(format!("export DOCKER_HOST={addr}"))
        .info();
}

/// 0660, and group `glassbox` when it exists, as dockerd does with group
/// `docker`: whoever may use the socket may run containers as root.
fn socket_permissions(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660));
    if let Ok(Some(g)) = nix::unistd::Group::from_name("glassbox") {
        let _ = nix::unistd::chown(path, None, Some(g.gid));
    }
}
