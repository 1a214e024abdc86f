//! Where a registry is reached: scheme and host.
//!
//! Docker's rule: a registry on `localhost`, `127.0.0.1` or `::1` is spoken
//! to over plain HTTP; any other over HTTPS, unless it is listed as
//! insecure. glassbox reads that list from the environment variable
//! `GLASSBOX_INSECURE_REGISTRIES` (comma-separated `host[:port]` entries,
//! like the `insecure-registries` of Docker's daemon.json). `docker.io` is
//! served by `registry-1.docker.io`.

use crate::reference::DEFAULT_REGISTRY;

/// The environment variable listing registries spoken to over plain HTTP.
pub const INSECURE_ENV: &str = "GLASSBOX_INSECURE_REGISTRIES";

/// A registry's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The registry as named in references and in `auth.json`
    /// (`localhost:5001`, `docker.io`).
    pub name: String,
    /// `http` or `https`.
    pub scheme: &'static str,
    /// The host (and port) requests go to.
    pub host: String,
}

impl Endpoint {
    /// The endpoint of registry `name` (`host[:port]`).
    pub fn new(name: &str) -> Endpoint {
        let host = if name == DEFAULT_REGISTRY {
            "registry-1.docker.io".to_string()
        } else {
            name.to_string()
        };
        let scheme = if is_loopback(name) || listed_insecure(name) {
            "http"
        } else {
            "https"
        };
        Endpoint {
            name: name.to_string(),
            scheme,
            host,
        }
    }

    /// The URL of `path` (which starts with `/`) on this registry.
    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{path}", self.scheme, self.host)
    }
}

/// Whether `name` (`host[:port]`) is this machine.
pub fn is_loopback(name: &str) -> bool {
    let host = match name.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => name.rsplit_once(':').map(|(h, _)| h).unwrap_or(name),
    };
    matches!(host, "localhost" | "127.0.0.1" | "::1")
}

fn listed_insecure(name: &str) -> bool {
    std::env::var(INSECURE_ENV)
        .map(|v| v.split(',').any(|e| e.trim() == name))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_registries_are_plain_http() {
        assert_eq!(Endpoint::new("localhost:5001").scheme, "http");
        assert_eq!(Endpoint::new("127.0.0.1:5000").scheme, "http");
        assert_eq!(Endpoint::new("[::1]:5000").scheme, "http");
        assert_eq!(
            Endpoint::new("localhost:5001").url("/v2/"),
            "http://localhost:5001/v2/"
        );
    }

    #[test]
    fn other_registries_are_https_and_docker_io_has_its_own_host() {
        let e = Endpoint::new("docker.io");
        assert_eq!(
            (e.scheme, e.host.as_str()),
            ("https", "registry-1.docker.io")
        );
        assert_eq!(Endpoint::new("registry.example.org:443").scheme, "https");
    }
}
