//! One registry, spoken to over HTTP: [`Client::exchange`] announces a
//! `registry.<action>` event (method, path, and the `curl` a person could
//! type), sends the request, answers a `401` challenge once (basic auth, or
//! a bearer token fetched from the challenge's realm), and records the
//! status the registry gave. Statuses the caller does not expect become one
//! clear [`RegistryError`] line carrying the spec's error code.

use super::endpoint::Endpoint;
use super::{short_path, Progress, RegistryError};
use crate::trace::{self, Kind};
use crate::Result;
use base64::Engine as _;
use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

/// A user name and password for a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user.
    pub username: String,
    /// The password (or token).
    pub password: String,
}

impl Credentials {
    /// `user:password` in base64, as Basic auth and `auth.json` carry it.
    pub fn encoded(&self) -> String {
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", self.username, self.password))
    }
}

/// How requests are authorised right now.
#[derive(Debug, Clone, Default)]
enum AuthState {
    /// No Authorization header (until a 401 says otherwise).
    #[default]
    Anonymous,
    /// `Authorization: Basic …` with our credentials.
    Basic,
    /// `Authorization: Bearer TOKEN`, fetched from `realm`.
    Bearer {
        scopes: BTreeSet<String>,
        token: String,
    },
}

/// A parsed `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// `basic` or `bearer` (lower-cased).
    pub scheme: String,
    /// `realm`, `service`, `scope`, ... (names lower-cased).
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// Parses `Bearer realm="…",service="…",scope="…"`.
    pub fn parse(header: &str) -> Option<Challenge> {
        let header = header.trim();
        let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
        let mut params = Vec::new();
        let mut rest = rest.trim();
        while !rest.is_empty() {
            let (key, after) = rest.split_once('=')?;
            let key = key
                .trim()
                .trim_start_matches(',')
                .trim()
                .to_ascii_lowercase();
            let after = after.trim_start();
            let (value, tail) = if let Some(q) = after.strip_prefix('"') {
                let end = q.find('"')?;
                (q[..end].to_string(), &q[end + 1..])
            } else {
                let end = after.find(',').unwrap_or(after.len());
                (after[..end].trim().to_string(), &after[end..])
            };
            params.push((key, value));
            rest = tail.trim_start().trim_start_matches(',').trim_start();
        }
        Some(Challenge {
            scheme: scheme.to_ascii_lowercase(),
            params,
        })
    }

    /// The value of parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What a request sends.
pub enum Body<'a> {
    /// Nothing.
    Empty,
    /// These bytes.
    Bytes(&'a [u8]),
    /// A file of `len` bytes, read as it is sent; progress goes to
    /// `progress` under `id` when given.
    File {
        /// The file.
        path: &'a Path,
        /// Its length (sent as Content-Length).
        len: u64,
        /// Where progress goes.
        progress: Option<(&'a dyn Progress, &'a str)>,
    },
}

/// A request for [`Client::exchange`].
pub struct Request<'a> {
    /// `registry.<action>`: the event this exchange is.
    pub action: &'a str,
    /// `GET`, `HEAD`, `POST`, `PUT`.
    pub method: &'static str,
    /// The path (`/v2/…`) or, for upload locations, a full URL.
    pub target: String,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Body<'a>,
    /// Statuses that are answers the caller handles; any other becomes an error.
    pub expect: &'a [u16],
    /// Extra event fields (digest, size, repository, ...).
    pub fields: Vec<(&'static str, serde_json::Value)>,
}

impl<'a> Request<'a> {
    /// A request with no body, headers or extra fields.
    pub fn new(action: &'a str, method: &'static str, target: impl Into<String>) -> Self {
        Request {
            action,
            method,
            target: target.into(),
            headers: Vec::new(),
            body: Body::Empty,
            expect: &[200],
            fields: Vec::new(),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Adds an event field.
    pub fn field(mut self, name: &'static str, value: impl serde::Serialize) -> Self {
        self.fields.push((
            name,
            serde_json::to_value(value).unwrap_or(serde_json::Value::Null),
        ));
        self
    }

    /// Sets the statuses the caller handles.
    pub fn expect(mut self, statuses: &'a [u16]) -> Self {
        self.expect = statuses;
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: Body<'a>) -> Self {
        self.body = body;
        self
    }
}

/// A connection to one registry, with its credentials and auth state.
pub struct Client {
    /// Where the registry is.
    pub endpoint: Endpoint,
    agent: ureq::Agent,
    creds: Option<Credentials>,
    auth: Mutex<AuthState>,
}

/// Counts bytes read through it into a [`Progress`].
struct Counted<'a, R> {
    inner: R,
    progress: Option<(&'a dyn Progress, &'a str)>,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some((p, id)) = self.progress {
            p.advance(id, n as u64);
        }
        Ok(n)
    }
}

impl Client {
    /// A client for registry `name` (`host[:port]`), with the credentials
    /// stored by `glassbox login` if any.
    pub fn new(name: &str) -> Result<Client> {
        let creds = super::auth::stored_credentials(name)?;
        Ok(Client::with_credentials(name, creds))
    }

    /// A client with the given credentials (or none).
    pub fn with_credentials(name: &str, creds: Option<Credentials>) -> Client {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(10))
            .timeout_read(Duration::from_secs(120))
            .timeout_write(Duration::from_secs(120))
            .max_idle_connections_per_host(16)
            .user_agent(concat!("glassbox/", env!("CARGO_PKG_VERSION")))
            .build();
        Client {
            endpoint: Endpoint::new(name),
            agent,
            creds,
            auth: Mutex::new(AuthState::Anonymous),
        }
    }

    /// The registry's name (`localhost:5001`).
    pub fn name(&self) -> &str {
        &self.endpoint.name
    }

    fn url(&self, target: &str) -> String {
        if target.starts_with("http://") || target.starts_with("https://") {
            target.to_string()
        } else {
            self.endpoint.url(target)
        }
    }

    /// The `curl` a person could type for this request.
    fn curl(&self, method: &str, url: &str) -> String {
        let user = match &self.creds {
            Some(c) => format!(" -u {}", c.username),
            None => String::new(),
        };
        match method {
            "HEAD" => format!("curl -sI{user} '{url}'"),
            "GET" => format!("curl -s{user} '{url}'"),
            m => format!("curl -s{user} -X {m} '{url}'"),
        }
    }

    /// Announces, sends and records one exchange (see the module docs).
    /// Returns the response when its status is in `req.expect`.
    pub fn exchange(&self, req: Request<'_>) -> Result<ureq::Response> {
        let url = self.url(&req.target);
        let path = path_of(&url);
        let mut b = trace::step(
            Kind::Registry,
            req.action,
            format!("{} {}", req.method, short_path(&path)),
        )
        .field("method", req.method)
        .field("path", &path)
        .field("registry", self.name())
        .equivalent(self.curl(req.method, &url));
        for (k, v) in &req.fields {
            b = b.field(k, v);
        }
        let mut s = b.announce()?;
        let r = self.send(&req, &url).and_then(|resp| {
            s.field("status", resp.status());
            if let Some(d) = resp.header("Docker-Content-Digest") {
                s.field("content_digest", d);
            }
            if req.expect.contains(&resp.status()) {
                Ok(resp)
            } else {
                Err(self.refusal(req.method, &path, resp).into())
            }
        });
        s.finish_with(r)
    }

    /// Sends a request, answering one 401 challenge.
    fn send(&self, req: &Request<'_>, url: &str) -> Result<ureq::Response> {
        let sent_with = self.authorization();
        let resp = self.send_once(req, url, sent_with.as_deref())?;
        if resp.status() != 401 {
            return Ok(resp);
        }
        let header = resp.header("WWW-Authenticate").unwrap_or("").to_string();
        if self.answer_challenge(&header, req.method, &path_of(url), sent_with.as_deref())? {
            self.send_once(req, url, self.authorization().as_deref())
        } else {
            Ok(resp)
        }
    }

    fn send_once(
        &self,
        req: &Request<'_>,
        url: &str,
        authorization: Option<&str>,
    ) -> Result<ureq::Response> {
        let mut r = self.agent.request(req.method, url);
        for (k, v) in &req.headers {
            r = r.set(k, v);
        }
        if let Some(a) = authorization {
            r = r.set("Authorization", a);
        }
        let result = match &req.body {
            Body::Empty => r.call(),
            Body::Bytes(b) => r.send_bytes(b),
            Body::File {
                path,
                len,
                progress,
            } => {
                let f = std::fs::File::open(path).map_err(|e| crate::Error::Io {
                    context: format!("opening {}", path.display()),
                    source: e,
                })?;
                if let Some((p, id)) = progress {
                    p.start(id, "", *len);
                }
                r.set("Content-Length", &len.to_string()).send(Counted {
                    inner: std::io::BufReader::with_capacity(1 << 20, f),
                    progress: *progress,
                })
            }
        };
        match result {
            Ok(resp) => Ok(resp),
            Err(ureq::Error::Status(_, resp)) => Ok(resp),
            Err(ureq::Error::Transport(t)) => Err(self.transport(&t).into()),
        }
    }

    fn authorization(&self) -> Option<String> {
        match &*self.auth.lock().unwrap_or_else(|e| e.into_inner()) {
            AuthState::Anonymous => None,
            AuthState::Basic => self
                .creds
                .as_ref()
                .map(|c| format!("Basic {}", c.encoded())),
            AuthState::Bearer { token, .. } => Some(format!("Bearer {token}")),
        }
    }

    /// Handles a `WWW-Authenticate` challenge to a request sent with
    /// `sent_with`; true when the request is worth sending again.
    fn answer_challenge(
        &self,
        header: &str,
        method: &str,
        path: &str,
        sent_with: Option<&str>,
    ) -> Result<bool> {
        let Some(ch) = Challenge::parse(header) else {
            return Ok(false);
        };
        let state = self.auth.lock().unwrap_or_else(|e| e.into_inner()).clone();
        trace::fact(
            Kind::Registry,
            "challenge",
            format!("{method} {}", short_path(path)),
        )
        .field("method", method)
        .field("path", path)
        .field("status", 401)
        .field("registry", self.name())
        .field("scheme", &ch.scheme)
        .field("realm", ch.param("realm"))
        .field("service", ch.param("service"))
        .field("scope", ch.param("scope"))
        .field("have_credentials", self.creds.is_some())
        .info();
        // Uploads run in parallel: another request may have fetched a new
        // token (for more scopes) since this one was sent. Try that first
        // rather than take this refusal as a verdict on it.
        if self.authorization().as_deref() != sent_with {
            return Ok(true);
        }
        match ch.scheme.as_str() {
            "basic" => {
                if self.creds.is_none() || matches!(state, AuthState::Basic) {
                    return Ok(false);
                }
                *self.auth.lock().unwrap_or_else(|e| e.into_inner()) = AuthState::Basic;
                Ok(true)
            }
            "bearer" => {
                let Some(realm) = ch.param("realm") else {
                    return Ok(false);
                };
                let mut scopes = match &state {
                    AuthState::Bearer { scopes, .. } => scopes.clone(),
                    _ => BTreeSet::new(),
                };
                let new_scope = ch.param("scope").map(str::to_string);
                let known = new_scope.as_ref().is_none_or(|s| scopes.contains(s));
                if matches!(state, AuthState::Bearer { .. }) && known {
                    // A fresh token for the same scopes was refused: give up.
                    return Ok(false);
                }
                scopes.extend(new_scope);
                let service = ch.param("service").map(str::to_string);
                let token = self.fetch_token(realm, service.as_deref(), &scopes)?;
                *self.auth.lock().unwrap_or_else(|e| e.into_inner()) =
                    AuthState::Bearer { scopes, token };
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Asks the token service at `realm` for a bearer token.
    fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scopes: &BTreeSet<String>,
    ) -> Result<String> {
        let mut url = realm.to_string();
        let mut query: Vec<(&str, &str)> = Vec::new();
        if let Some(s) = service {
            query.push(("service", s));
        }
        for s in scopes {
            query.push(("scope", s));
        }
        for (i, (k, v)) in query.iter().enumerate() {
            url.push(if i == 0 && !realm.contains('?') {
                '?'
            } else {
                '&'
            });
            url.push_str(&format!("{k}={}", percent_encode(v)));
        }
        let mut s = trace::step(Kind::Registry, "token", format!("GET {}", path_of(&url)))
            .field("method", "GET")
            .field("realm", realm)
            .field("service", service)
            .field("scopes", scopes)
            .field("basic", self.creds.is_some())
            .equivalent(self.curl("GET", &url))
            .announce()?;
        let mut r = self.agent.get(&url);
        if let Some(c) = &self.creds {
            r = r.set("Authorization", &format!("Basic {}", c.encoded()));
        }
        let result = match r.call() {
            Ok(resp) => Ok(resp),
            Err(ureq::Error::Status(_, resp)) => Ok(resp),
            Err(ureq::Error::Transport(t)) => Err(crate::Error::from(self.transport(&t))),
        };
        let result = result.and_then(|resp| {
            s.field("status", resp.status());
            if resp.status() == 401 || resp.status() == 403 {
                return Err(self.unauthorized().into());
            }
            if resp.status() != 200 {
                return Err(self.refusal("GET", &path_of(&url), resp).into());
            }
            let v: serde_json::Value =
                read_json(resp, 1 << 20).map_err(|reason| RegistryError::BadResponse {
                    host: self.name().to_string(),
                    what: "a token".into(),
                    reason,
                })?;
            v.get("token")
                .or_else(|| v.get("access_token"))
                .and_then(|t| t.as_str())
                .map(str::to_string)
                .ok_or_else(|| {
                    RegistryError::BadResponse {
                        host: self.name().to_string(),
                        what: "a token answer".into(),
                        reason: "it has no \"token\" field".into(),
                    }
                    .into()
                })
        });
        s.finish_with(result)
    }

    /// The error for credentials the registry refused (or lacks).
    pub fn unauthorized(&self) -> RegistryError {
        RegistryError::Unauthorized {
            host: self.name().to_string(),
            what: match &self.creds {
                Some(c) => format!("refused the credentials for {}", c.username),
                None => "wants credentials, and none are stored for it".into(),
            },
            hint: match &self.creds {
                Some(_) => format!(
                    "check the user name and password and run `glassbox login {}` again",
                    self.name()
                ),
                None => format!("run `glassbox login {}` first", self.name()),
            },
        }
    }

    /// The error for a status the caller did not expect, with the spec's
    /// code from the body when there is one.
    fn refusal(&self, method: &str, path: &str, resp: ureq::Response) -> RegistryError {
        let status = resp.status();
        if status == 401 {
            return self.unauthorized();
        }
        let status_text = resp.status_text().to_string();
        let body: serde_json::Value = read_json(resp, 1 << 20).unwrap_or_default();
        let first = body.get("errors").and_then(|e| e.get(0));
        let code = first
            .and_then(|e| e.get("code"))
            .and_then(|c| c.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| status_text.to_ascii_uppercase().replace(' ', "_"));
        let message = first
            .and_then(|e| e.get("message"))
            .and_then(|c| c.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| status_text.to_ascii_lowercase());
        let hint = match code.as_str() {
            "NAME_UNKNOWN" => "; the registry has no repository by that name (check the spelling, or push it first)",
            "MANIFEST_UNKNOWN" => "; the repository has no such tag or digest (list its tags with GET /v2/NAME/tags/list)",
            "BLOB_UNKNOWN" => "; the registry lost a blob its manifest names",
            "DENIED" => "; the credentials are not allowed to do this",
            _ => "",
        };
        RegistryError::Refused {
            host: self.name().to_string(),
            method: method.to_string(),
            path: path.to_string(),
            status,
            code,
            message: format!("{message}{hint}"),
        }
    }

    fn transport(&self, t: &ureq::Transport) -> RegistryError {
        let mut io_kind = None;
        let mut src: Option<&dyn std::error::Error> = std::error::Error::source(t);
        while let Some(e) = src {
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                io_kind = Some(io.kind());
            }
            src = e.source();
        }
        let host = self.endpoint.host.clone();
        match (t.kind(), io_kind) {
            (_, Some(std::io::ErrorKind::ConnectionRefused)) => RegistryError::Unreachable {
                host,
                reason: "connection refused".into(),
            },
            (ureq::ErrorKind::Dns, _) => RegistryError::Unreachable {
                host,
                reason: "no such host".into(),
            },
            (ureq::ErrorKind::ConnectionFailed, _) => RegistryError::Unreachable {
                host,
                reason: t
                    .message()
                    .map(str::to_string)
                    .unwrap_or_else(|| "connection failed".into()),
            },
            _ => RegistryError::Transport {
                host,
                reason: t.to_string(),
            },
        }
    }
}

/// The path and query of a URL (`/v2/busybox/blobs/uploads/…`).
pub fn path_of(url: &str) -> String {
    let after_scheme = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    match after_scheme.find('/') {
        Some(i) => after_scheme[i..].to_string(),
        None => "/".to_string(),
    }
}

/// Reads at most `limit` bytes of a response as JSON.
pub fn read_json(
    resp: ureq::Response,
    limit: u64,
) -> std::result::Result<serde_json::Value, String> {
    let mut buf = Vec::new();
    resp.into_reader()
        .take(limit)
        .read_to_end(&mut buf)
        .map_err(|e| e.to_string())?;
    serde_json::from_slice(&buf).map_err(|e| e.to_string())
}

/// Percent-encodes a query value (RFC 3986 unreserved characters kept).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges_parse_with_commas_inside_quotes() {
        let c = Challenge::parse(
            r#"Bearer realm="http://127.0.0.1:9/token",service="reg",scope="repository:a/b:pull,push""#,
        )
        .unwrap();
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.param("realm"), Some("http://127.0.0.1:9/token"));
        assert_eq!(c.param("service"), Some("reg"));
        assert_eq!(c.param("scope"), Some("repository:a/b:pull,push"));
        let b = Challenge::parse(r#"Basic realm="glassbox""#).unwrap();
        assert_eq!(
            (b.scheme.as_str(), b.param("realm")),
            ("basic", Some("glassbox"))
        );
    }

    #[test]
    fn paths_and_queries_are_kept() {
        assert_eq!(
            path_of("http://h:1/v2/x/blobs/uploads/u?a=1"),
            "/v2/x/blobs/uploads/u?a=1"
        );
        assert_eq!(
            percent_encode("repository:a/b:pull"),
            "repository%3Aa%2Fb%3Apull"
        );
    }
}
