//! glassbox's registry server: the OCI distribution API over HTTP/1.1,
//! storing blobs and manifests in a directory.
//!
//! Start it with [`serve`]; it answers on background threads (one per
//! connection) until [`Server::stop`] (or drop). Every request becomes a
//! `registry.answer` event saying what the exchange meant in the protocol,
//! and the work behind it (`accept_blob`, `refuse_blob`, `mount`,
//! `accept_manifest`, `delete`) gets events of its own. Events go to the
//! tracing dispatcher that was current when [`serve`] was called, so a
//! test's capture or the `registry serve` command's sinks see them.
//!
//! Why threads and blocking I/O instead of an async runtime: a registry
//! request is mostly a file streamed to or from a socket, which blocking
//! calls (and `sendfile(2)`) do at disk speed; a thread per connection
//! serves dozens of concurrent pulls easily, and the code reads top to
//! bottom. See [`http`] for the protocol layer and [`routes`] for the API.

mod api_error;
mod auth;
mod blobs;
pub mod http;
mod manifests;
mod referrers;
pub mod routes;
mod storage;
mod uploads;

pub use api_error::{valid_name, valid_tag, Code, Digest};

use crate::trace::{self, Kind};
use auth::{Htpasswd, Who};
use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The address cannot be listened on.
    #[error("cannot listen on {addr}: {source}; pick a free port with --addr")]
    Bind {
        /// The address asked for.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The storage directory cannot be made or used.
    #[error("cannot use the storage directory {path}: {source}")]
    Storage {
        /// The directory.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The htpasswd file cannot be read or holds a non-bcrypt entry.
    #[error("cannot use the htpasswd file {path}: {reason}")]
    Htpasswd {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// How to run the server.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where blobs, manifests and uploads are kept.
    pub storage: PathBuf,
    /// An htpasswd file (bcrypt entries): when set, every request needs
    /// basic auth as one of its users.
    pub htpasswd: Option<PathBuf>,
    /// The realm named in `WWW-Authenticate`.
    pub realm: String,
    /// Emit events (turn off when no sink listens, to save the work).
    pub events: bool,
}

impl Options {
    /// Storage in `dir`, no auth, events on.
    pub fn new(storage: impl Into<PathBuf>) -> Options {
        Options {
            storage: storage.into(),
            htpasswd: None,
            realm: "glassbox-registry".into(),
            events: true,
        }
    }
}

/// What every connection thread shares.
pub(crate) struct App {
    storage: storage::Storage,
    uploads: uploads::Uploads,
    auth: Option<Htpasswd>,
    realm: String,
    events: bool,
}

impl App {
    /// Answers one request: authentication, then the endpoint; then the
    /// `registry.answer` event.
    fn handle(&self, peer: &str, req: &http::Request, body: &mut http::Body<'_>) -> http::Response {
        let outcome = match self.authenticate(req) {
            Ok(user) => self.route(req, body).map(|o| (o, user)),
            Err(e) => Err(e),
        };
        let (resp, meaning, code, user) = match outcome {
            Ok((o, user)) => (o.resp, o.meaning, None, user),
            Err(e) => {
                let meaning = e
                    .meaning
                    .clone()
                    .unwrap_or_else(|| format!("refused with {}: {}", e.code.as_str(), e.detail));
                (e.response(), meaning, Some(e.code.as_str()), None)
            }
        };
        if self.events {
            let mut b = trace::fact(
                Kind::Registry,
                "answer",
                format!("{} {}", req.method, short_digests(&req.path)),
            )
            .field("method", &req.method)
            .field("path", &req.target)
            .field("status", resp.status)
            .field("meaning", &meaning)
            .field("client", peer);
            if let Some(c) = code {
                b = b.field("code", c);
            }
            if let Some(u) = user {
                b = b.field("user", u);
            }
            if let Some(d) = resp.get_header("Docker-Content-Digest") {
                b = b.field("digest", d);
            }
            b.info();
        }
        resp
    }

    fn authenticate(&self, req: &http::Request) -> Result<Option<String>, api_error::ApiError> {
        let Some(auth) = &self.auth else {
            return Ok(None);
        };
        let challenge = format!("Basic realm=\"{}\"", self.realm);
        match auth.check(req.header("authorization")) {
            Who::User(u) => Ok(Some(u)),
            Who::Anonymous => Err(api_error::ApiError::new(Code::Unauthorized, "no credentials sent")
                .with_header("WWW-Authenticate", challenge)
                .meaning("credentials needed: the client must ask again with a user name and password (basic auth)")),
            Who::Refused(u) => Err(api_error::ApiError::new(
                Code::Unauthorized,
                format!("wrong user name or password for {u:?}"),
            )
            .with_header("WWW-Authenticate", challenge)
            .meaning(format!("the password for {u:?} did not match the htpasswd file, so nothing was done"))),
        }
    }
}

/// An answer's status and headers, as [`serve_bytes`] returns them.
pub(crate) type AnswerHead = (u16, Vec<(String, String)>);

/// Serves the raw request bytes `input` (one or more requests, as a
/// client would send them on one connection) with a registry storing in
/// `storage`, no auth, no events. Returns the bytes written back and each
/// answer's status and headers. The fuzzing seam behind
/// [`crate::fuzzing::registry_http`]: the same request parsing, handlers
/// and storage as a served socket, without the socket.
pub(crate) fn serve_bytes(
    storage: &std::path::Path,
    input: &[u8],
) -> std::io::Result<(Vec<u8>, Vec<AnswerHead>)> {
    let storage = storage::Storage::open(storage)?;
    let app = App {
        uploads: uploads::Uploads::new(storage.clone()),
        storage,
        auth: None,
        realm: String::new(),
        events: false,
    };
    let mut out = Vec::new();
    let mut heads = Vec::new();
    http::serve_bytes(input, &mut out, |req, body| {
        let resp = app.handle("fuzz", req, body);
        heads.push((resp.status, resp.headers.clone()));
        resp
    });
    Ok((out, heads))
}

/// `path` with each `sha256:<64 hex>` cut to 12 hex digits, for subjects.
fn short_digests(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(i) = rest.find("sha256:") {
        let (head, tail) = rest.split_at(i + 7);
        out.push_str(head);
        let hex_len = tail.bytes().take_while(u8::is_ascii_hexdigit).count();
        if hex_len == 64 {
            out.push_str(&tail[..12]);
            out.push('…');
        } else {
            out.push_str(&tail[..hex_len]);
        }
        rest = &tail[hex_len..];
    }
    out.push_str(rest);
    out
}

/// A running server. Dropping it stops it too.
pub struct Server {
    addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    conns: Arc<Mutex<HashMap<u64, TcpStream>>>,
    acceptor: Option<JoinHandle<()>>,
    events: bool,
}

/// Starts serving the distribution API on `addr` (port 0 picks a free
/// port: see [`Server::local_addr`]).
///
/// ```no_run
/// use glassbox::registry::server::{serve, Options};
/// let server = serve("127.0.0.1:0", Options::new("/tmp/registry")).unwrap();
/// println!("http://{}/v2/", server.local_addr());
/// server.stop();
/// ```
pub fn serve(
    addr: impl ToSocketAddrs + std::fmt::Display,
    opts: Options,
) -> Result<Server, ServerError> {
    let storage = storage::Storage::open(&opts.storage).map_err(|source| ServerError::Storage {
        path: opts.storage.display().to_string(),
        source,
    })?;
    let auth = match &opts.htpasswd {
        Some(p) => Some(Htpasswd::load(p).map_err(|reason| ServerError::Htpasswd {
            path: p.display().to_string(),
            reason,
        })?),
        None => None,
    };
    let listener = TcpListener::bind(&addr).map_err(|source| ServerError::Bind {
        addr: addr.to_string(),
        source,
    })?;
    let local = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: addr.to_string(),
        source,
    })?;
    let app = Arc::new(App {
        uploads: uploads::Uploads::new(storage.clone()),
        storage,
        auth,
        realm: opts.realm.clone(),
        events: opts.events,
    });
    if opts.events {
        trace::fact(Kind::Registry, "listen", format!("http://{local}/v2/"))
            .field("addr", local.to_string())
            .field("storage", opts.storage.display().to_string())
            .field(
                "auth",
                if opts.htpasswd.is_some() {
                    "basic (htpasswd)"
                } else {
                    "none"
                },
            )
            .syscall("bind(2) + listen(2)")
            .info();
    }
    let stopping = Arc::new(AtomicBool::new(false));
    let conns: Arc<Mutex<HashMap<u64, TcpStream>>> = Arc::new(Mutex::new(HashMap::new()));
    // Events from connection threads go where this caller's events go.
    let dispatch = tracing::dispatcher::get_default(|d| d.clone());
    let acceptor = {
        let (stopping, conns) = (stopping.clone(), conns.clone());
        std::thread::Builder::new()
            .name("registry-accept".into())
            .spawn(move || accept_loop(listener, app, stopping, conns, dispatch))
            .map_err(|source| ServerError::Bind {
                addr: local.to_string(),
                source,
            })?
    };
    Ok(Server {
        addr: local,
        stopping,
        conns,
        acceptor: Some(acceptor),
        events: opts.events,
    })
}

/// The most connections served at once.
const MAX_CONNECTIONS: usize = 1024;

fn accept_loop(
    listener: TcpListener,
    app: Arc<App>,
    stopping: Arc<AtomicBool>,
    conns: Arc<Mutex<HashMap<u64, TcpStream>>>,
    dispatch: tracing::Dispatch,
) {
    let next_id = AtomicU64::new(0);
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    for stream in listener.incoming() {
        if stopping.load(Ordering::SeqCst) {
            break;
        }
        let Ok(mut stream) = stream else { continue };
        workers.retain(|w| !w.is_finished());
        if workers.len() >= MAX_CONNECTIONS {
            // One thread per connection: past the cap, say so and hang up
            // rather than run the machine out of threads.
            use std::io::Write;
            let _ = stream.write_all(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nRetry-After: 1\r\nConnection: close\r\n\r\n",
            );
            continue;
        }
        let id = next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(c) = stream.try_clone() {
            conns
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id, c);
        }
        if stopping.load(Ordering::SeqCst) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
            break;
        }
        let (app, conns, dispatch) = (app.clone(), conns.clone(), dispatch.clone());
        let peer = stream
            .peer_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        // Idle keep-alive connections are closed after a while.
        let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(120)));
        let spawned = std::thread::Builder::new()
            .name("registry-conn".into())
            .spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    http::serve_connection(stream, |req, body| app.handle(&peer, req, body));
                });
                conns.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
            });
        if let Ok(w) = spawned {
            workers.push(w);
        }
    }
    for w in workers {
        let _ = w.join();
    }
}

impl Server {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR` (with 0.0.0.0 shown as 127.0.0.1, for clients).
    pub fn url(&self) -> String {
        format!("http://{}", self.reachable_addr())
    }

    fn reachable_addr(&self) -> SocketAddr {
        let mut a = self.addr;
        if a.ip().is_unspecified() {
            a.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        a
    }

    /// Stops accepting, closes every connection, and waits for the
    /// connection threads to finish.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let Some(acceptor) = self.acceptor.take() else {
            return;
        };
        self.stopping.store(true, Ordering::SeqCst);
        // Wake the blocking accept(2) with a connection of our own.
        let _ =
            TcpStream::connect_timeout(&self.reachable_addr(), std::time::Duration::from_secs(1));
        for c in self
            .conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
        {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
        let _ = acceptor.join();
        if self.events {
            trace::fact(
                Kind::Registry,
                "shutdown",
                format!("http://{}/v2/", self.addr),
            )
            .field("addr", self.addr.to_string())
            .info();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}
