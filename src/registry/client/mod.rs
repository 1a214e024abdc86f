//! The registry client: `push`, `pull`, `login` and `logout` against any
//! registry that speaks the OCI distribution API.
//!
//! Every HTTP exchange is a `registry.*` event carrying its method, path and
//! status, and its template says what the answer means ("HEAD
//! …/blobs/sha256:4f3c… → 404: the registry lacks this layer, so it will be
//! uploaded"). The pieces:
//!
//! - [`endpoint`]: which host and scheme a reference's registry is reached
//!   at (`localhost`/`127.0.0.1` over plain HTTP, others over HTTPS unless
//!   listed in `GLASSBOX_INSECURE_REGISTRIES`);
//! - [`http`]: one [`http::Client`] per registry, sending requests with
//!   basic or bearer-token auth and turning failures into one clear line;
//! - [`auth`]: the credentials file (`auth.json`, Docker's format) and
//!   `login`/`logout`;
//! - [`push`] and [`pull`]: the two directions. A pull verifies every digest
//!   while streaming and stores nothing until everything has arrived and
//!   matched.

pub mod artifact;
pub mod auth;
pub mod endpoint;
pub mod http;
pub mod index;
pub mod pull;
pub mod push;

pub use auth::{login, logout};
pub use pull::{pull, pull_platforms, PullReport};
pub use push::{push, PushReport};

use std::sync::Arc;

/// Manifest media types the client asks for and understands.
pub mod media {
    /// OCI image manifest.
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    /// OCI image index.
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    /// Docker image manifest, schema 2.
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    /// Docker manifest list (the index of schema 2).
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    /// The `Accept` header of a manifest GET: all four, most preferred first.
    pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";
}

/// What can go wrong talking to a registry. Each message is one line that
/// names the registry and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Nothing answers at the registry's address.
    #[error("cannot reach {host}: {reason} — is the registry running?")]
    Unreachable {
        /// `host:port`.
        host: String,
        /// What the connection attempt said.
        reason: String,
    },
    /// The registry answered with an error the spec names.
    #[error("{host} answered {method} {path} with {status} {code}: {message}")]
    Refused {
        /// `host:port`.
        host: String,
        /// The request method.
        method: String,
        /// The request path.
        path: String,
        /// The HTTP status.
        status: u16,
        /// The spec's error code (`MANIFEST_UNKNOWN`, `NAME_UNKNOWN`, ...), or
        /// the status text when the body had none.
        code: String,
        /// The registry's message, with what to do.
        message: String,
    },
    /// The registry wants credentials we do not have or it refused.
    #[error("{host} {what} (401 UNAUTHORIZED); {hint}")]
    Unauthorized {
        /// `host:port`.
        host: String,
        /// `refused the credentials for USER`, or, when none were sent,
        /// `wants credentials, and none are stored for it`.
        what: String,
        /// What to do.
        hint: String,
    },
    /// The registry sent something the client cannot use.
    #[error("{host} sent {what}: {reason}")]
    BadResponse {
        /// `host:port`.
        host: String,
        /// What was being read (`the manifest of busybox:1`).
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Bytes that do not hash to the digest they were asked for by.
    #[error("{host} sent {what} whose bytes hash to {actual}, not {expected}; nothing was stored")]
    DigestMismatch {
        /// `host:port`.
        host: String,
        /// Which blob or manifest.
        what: String,
        /// The digest asked for.
        expected: String,
        /// The digest of what arrived.
        actual: String,
    },
    /// The credentials file cannot be read or written.
    #[error("credentials file {path}: {reason}")]
    AuthFile {
        /// The file.
        path: String,
        /// What went wrong and what to do.
        reason: String,
    },
    /// A transport error other than a refused connection (TLS, a reset).
    #[error("talking to {host}: {reason}")]
    Transport {
        /// `host:port`.
        host: String,
        /// What the transport said.
        reason: String,
    },
}

/// Why a push or pull failed, as the journal records it (`reason`) and
/// `doctor` reads it back: `unreachable` (nothing answers: the registry is
/// not running), `needs_login` (401) or `other`.
pub fn failure_reason(e: &crate::Error) -> &'static str {
    match e {
        crate::Error::Registry(r) => match **r {
            RegistryError::Unreachable { .. } => "unreachable",
            RegistryError::Unauthorized { .. } => "needs_login",
            _ => "other",
        },
        _ => "other",
    }
}

/// Journals a push or pull (`action`) of `reference`: the action itself
/// when it worked, as docker does, and `push_failed` / `pull_failed` with
/// the registry, the reason and the error when it did not (glassbox's own
/// actions: `doctor` reads them; `GET /events` does not send them, as
/// dockerd sends nothing for a failed transfer).
pub(crate) fn journal_transfer<T>(
    store: &crate::store::Store,
    action: &str,
    reference: &str,
    registry: &str,
    result: &crate::Result<T>,
) {
    use crate::store::journal;
    match result {
        Ok(_) => journal::record(
            store.root(),
            "image",
            action,
            reference,
            &[("name", reference.to_string())],
        ),
        Err(e) => journal::record(
            store.root(),
            "image",
            &format!("{action}_failed"),
            reference,
            &[
                ("name", reference.to_string()),
                ("registry", registry.to_string()),
                ("reason", failure_reason(e).to_string()),
                ("error", e.to_string()),
            ],
        ),
    }
}

impl From<RegistryError> for crate::Error {
    fn from(e: RegistryError) -> Self {
        crate::Error::Registry(Box::new(e))
    }
}

/// Receives transfer progress (bytes of each blob); the command line draws
/// it as progress bars. Engine code never draws.
pub trait Progress: Send + Sync {
    /// A transfer of `total` bytes named `label` begins; `id` names it in
    /// later calls.
    fn start(&self, _id: &str, _label: &str, _total: u64) {}
    /// `n` more bytes went through.
    fn advance(&self, _id: &str, _n: u64) {}
    /// The transfer ended (`ok` false when it failed), with a one-word
    /// outcome (`pushed`, `exists`, `mounted`, `pulled`).
    fn finish(&self, _id: &str, _outcome: &str) {}
}

/// A [`Progress`] that shows nothing.
pub struct NoProgress;
impl Progress for NoProgress {}

/// Options shared by push and pull.
#[derive(Clone)]
pub struct TransferOptions {
    /// Blobs moved at once (at least 1).
    pub jobs: usize,
    /// Where progress goes.
    pub progress: Arc<dyn Progress>,
}

impl Default for TransferOptions {
    fn default() -> Self {
        TransferOptions {
            jobs: 4,
            progress: Arc::new(NoProgress),
        }
    }
}

/// Shortens a request path for narration: digests to 12 hex digits
/// (`/v2/busybox/blobs/sha256:4f3c…`), and only the query parameters a
/// student needs (`digest`, `mount`, `from`; not an upload's `_state`).
pub fn short_path(path: &str) -> String {
    let path = match path.split_once('?') {
        Some((p, q)) => {
            let kept: Vec<&str> = q
                .split('&')
                .filter(|kv| {
                    ["digest=", "mount=", "from="]
                        .iter()
                        .any(|k| kv.starts_with(k))
                })
                .collect();
            if kept.is_empty() {
                p.to_string()
            } else {
                format!("{p}?{}", kept.join("&")).replace("%3A", ":")
            }
        }
        None => path.to_string(),
    };
    // An upload session's id is made up by the registry: not worth reading.
    let path = match path.split_once("/blobs/uploads/") {
        Some((head, tail)) if !tail.is_empty() && !tail.starts_with('?') => {
            let query = tail.find('?').map(|i| &tail[i..]).unwrap_or("");
            format!("{head}/blobs/uploads/…{query}")
        }
        _ => path,
    };
    let path = path.as_str();
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(i) = rest.find("sha256:") {
        let (head, tail) = rest.split_at(i + 7);
        out.push_str(head);
        let hex_len = tail.bytes().take_while(|b| b.is_ascii_hexdigit()).count();
        if hex_len > 12 {
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

/// Runs `f` over `items` on up to `jobs` threads, in the phases of the
/// caller (so the workers' events nest like the caller's); returns the
/// results in the items' order, or the first error.
pub(crate) fn parallel<T: Sync, R: Send>(
    items: &[T],
    jobs: usize,
    f: impl Fn(&T) -> crate::Result<R> + Sync,
) -> crate::Result<Vec<R>> {
    let phases = crate::trace::current_phases();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: std::sync::Mutex<Vec<Option<crate::Result<R>>>> =
        std::sync::Mutex::new((0..items.len()).map(|_| None).collect());
    let failed = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, items.len().max(1)) {
            scope.spawn(|| {
                let _guards: Vec<_> = phases.iter().map(|p| crate::trace::phase(p)).collect();
                loop {
                    if failed.load(std::sync::atomic::Ordering::SeqCst) {
                        return;
                    }
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(item) = items.get(i) else { return };
                    let r = f(item);
                    if r.is_err() {
                        failed.store(true, std::sync::atomic::Ordering::SeqCst);
                    }
                    results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
                }
            });
        }
    });
    let mut out = Vec::with_capacity(items.len());
    let mut first_err = None;
    for r in results.into_inner().unwrap_or_else(|e| e.into_inner()) {
        match r {
            Some(Ok(v)) => out.push(v),
            Some(Err(e)) => {
                first_err.get_or_insert(e);
            }
            None => {}
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::short_path;

    #[test]
    fn digests_in_paths_are_shortened() {
        let d = format!("sha256:{}", "4f3c".repeat(16));
        assert_eq!(
            short_path(&format!("/v2/busybox/blobs/{d}")),
            "/v2/busybox/blobs/sha256:4f3c4f3c4f3c…"
        );
        assert_eq!(short_path("/v2/"), "/v2/");
        assert_eq!(
            short_path(&format!(
                "/v2/b/blobs/uploads/u1?_state=xyz&digest={}",
                d.replace(':', "%3A")
            )),
            "/v2/b/blobs/uploads/…?digest=sha256:4f3c4f3c4f3c…"
        );
    }
}
