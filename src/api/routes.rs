//! One connection, one request at a time: strip the `/v1.NN` prefix, find
//! the route, say what the request means (the `api.request` step), run its
//! handler on the blocking pool, and answer — JSON errors in the shape the
//! docker CLI reads (`{"message": ...}`), with the status codes it maps.

use super::body::Body;
use super::Daemon;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::{Request, Response, StatusCode};
use std::sync::Arc;

/// A request as a handler sees it: the body read whole.
pub struct Req {
    /// GET, POST, ...
    pub method: String,
    /// The path without the version prefix, percent-decoded.
    pub path: String,
    /// Path segments.
    pub segs: Vec<String>,
    /// Query parameters, percent-decoded, in order.
    pub query: Vec<(String, String)>,
    /// The body.
    pub body: Bytes,
}

impl Req {
    /// The first query parameter `name`.
    pub fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A boolean query parameter as moby parses them: absent, "", "0",
    /// "false" and "no" are false; anything else is true.
    pub fn flag(&self, name: &str) -> bool {
        match self.q(name) {
            None => false,
            Some(v) => !matches!(v.to_ascii_lowercase().as_str(), "" | "0" | "false" | "no"),
        }
    }

    /// The body as JSON (an empty body is `{}`).
    pub fn json(&self) -> Result<serde_json::Value, Resp> {
        if self.body.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(serde_json::json!({}));
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            error(
                StatusCode::BAD_REQUEST,
                &format!("the request body is not valid JSON: {e}"),
            )
        })
    }

    /// The request's `filters` query in either shape moby accepts:
    /// `{"label":["a=b"]}` or the old `{"label":{"a=b":true}}`.
    pub fn filters(&self) -> Vec<(String, String)> {
        let Some(text) = self.q("filters") else {
            return Vec::new();
        };
        let Ok(serde_json::Value::Object(m)) = serde_json::from_str::<serde_json::Value>(text)
        else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, v) in m {
            match v {
                serde_json::Value::Array(a) => out.extend(
                    a.iter()
                        .filter_map(|x| x.as_str())
                        .map(|x| (k.clone(), x.to_string())),
                ),
                serde_json::Value::Object(o) => out.extend(
                    o.iter()
                        .filter(|(_, on)| on.as_bool().unwrap_or(false))
                        .map(|(x, _)| (k.clone(), x.clone())),
                ),
                _ => {}
            }
        }
        out
    }
}

/// A response.
pub type Resp = Response<Body>;

/// A JSON response.
pub fn json(status: StatusCode, v: &serde_json::Value) -> Resp {
    Response::builder()
        .status(status)
        .header("Content-Type", "application/json")
        .body(Body::full(v.to_string()))
        .expect("a response from fixed parts")
}

/// An error in the shape every docker client reads.
pub fn error(status: StatusCode, message: &str) -> Resp {
    json(status, &serde_json::json!({ "message": message }))
}

/// A response with no body.
pub fn empty(status: StatusCode) -> Resp {
    Response::builder()
        .status(status)
        .body(Body::empty())
        .expect("a response from fixed parts")
}

/// The status an engine error maps to, as dockerd's: 404 for what does not
/// exist (on create, "No such image" makes the CLI pull), 409 for a
/// conflict (a name in use, a move the state does not allow), 400 for bad
/// input, 500 for the rest.
pub fn engine_error(e: &crate::Error) -> Resp {
    use crate::runtime::RuntimeError as R;
    use crate::store::StoreError as S;
    let status = match e {
        crate::Error::Store(S::NoSuchContainer(_)) => StatusCode::NOT_FOUND,
        crate::Error::MissingImage(_) => StatusCode::NOT_FOUND,
        crate::Error::Network(crate::network::NetworkError::NoSuchNetwork(_)) => {
            StatusCode::NOT_FOUND
        }
        crate::Error::Runtime(R::NameInUse(..) | R::IllegalMove { .. }) => StatusCode::CONFLICT,
        crate::Error::Network(crate::network::NetworkError::NameInUse(_)) => StatusCode::CONFLICT,
        crate::Error::Usage(_) | crate::Error::Reference(_) => StatusCode::BAD_REQUEST,
        crate::Error::Network(
            crate::network::NetworkError::BadName(_)
            | crate::network::NetworkError::ContainerMode(_),
        ) => StatusCode::BAD_REQUEST,
        crate::Error::Runtime(
            R::BadEnv(_) | R::BadUser(_) | R::BadRestart(_) | R::BadMemory(_) | R::RestartWithRm,
        ) => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let message = match e {
        crate::Error::Store(S::NoSuchContainer(k)) => format!("No such container: {k}"),
        crate::Error::MissingImage(m) => format!("No such image: {m}"),
        e => e.to_string(),
    };
    error(status, &message)
}

/// What a client sends each route for, and what it means; the
/// `api.request` step carries both.
struct Route {
    method: &'static str,
    /// Segments; `*` matches one.
    pattern: &'static str,
    client: &'static str,
    meaning: &'static str,
}

const ROUTES: &[Route] = &[
    Route { method: "GET", pattern: "/_ping", client: "every docker command, first", meaning: "is the daemon there, and which API version does it speak (the client negotiates down to it)" },
    Route { method: "HEAD", pattern: "/_ping", client: "every docker command, first", meaning: "is the daemon there, and which API version does it speak (the client negotiates down to it)" },
    Route { method: "GET", pattern: "/version", client: "docker version", meaning: "the engine's version, API versions, kernel and OS" },
    Route { method: "GET", pattern: "/info", client: "docker info", meaning: "counts of containers and images, the storage and cgroup drivers, the kernel" },
    Route { method: "POST", pattern: "/auth", client: "docker login", meaning: "check credentials for a registry" },
    Route { method: "GET", pattern: "/events", client: "docker events", meaning: "a stream of what happens to containers, images, networks" },
    Route { method: "POST", pattern: "/containers/create", client: "docker create, docker run", meaning: "make a container from an image: its config.json, writable layer, network address; nothing runs yet" },
    Route { method: "GET", pattern: "/containers/json", client: "docker ps", meaning: "list containers" },
    Route { method: "GET", pattern: "/containers/*/json", client: "docker inspect", meaning: "everything recorded about one container" },
    Route { method: "POST", pattern: "/containers/*/start", client: "docker start, docker run", meaning: "start the container's process: a shim clones it into new namespaces and supervises it" },
    Route { method: "POST", pattern: "/containers/*/stop", client: "docker stop", meaning: "SIGTERM to the container's PID 1, SIGKILL after the timeout" },
    Route { method: "POST", pattern: "/containers/*/restart", client: "docker restart", meaning: "stop, then start again with the same writable layer" },
    Route { method: "POST", pattern: "/containers/*/kill", client: "docker kill", meaning: "send a signal to the container's PID 1" },
    Route { method: "POST", pattern: "/containers/*/pause", client: "docker pause", meaning: "freeze every process of the container through its cgroup" },
    Route { method: "POST", pattern: "/containers/*/unpause", client: "docker unpause", meaning: "thaw the container's processes" },
    Route { method: "POST", pattern: "/containers/*/wait", client: "docker run, docker wait", meaning: "block until the container exits, then send its exit code (the headers go at once, so the client knows the wait is in place before it starts the container)" },
    Route { method: "POST", pattern: "/containers/*/attach", client: "docker run, docker start -a, docker attach", meaning: "take over this connection (101 UPGRADED) and stream the container's output on it" },
    Route { method: "GET", pattern: "/containers/*/logs", client: "docker logs", meaning: "the container's output from its json-file log, as multiplexed frames" },
    Route { method: "POST", pattern: "/containers/*/resize", client: "docker run -t, docker attach", meaning: "the client's terminal changed size" },
    Route { method: "GET", pattern: "/containers/*/top", client: "docker top", meaning: "the container's processes, read from its cgroup" },
    Route { method: "DELETE", pattern: "/containers/*", client: "docker rm", meaning: "remove the container: its writable layer, log, cgroup and address" },
    Route { method: "POST", pattern: "/containers/prune", client: "docker container prune, docker system prune", meaning: "remove every stopped container" },
    Route { method: "POST", pattern: "/containers/*/exec", client: "docker exec", meaning: "record a command to run inside a running container (nothing runs yet)" },
    Route { method: "POST", pattern: "/exec/*/start", client: "docker exec", meaning: "run the recorded command: join the container's namespaces and cgroup, stream its output on this connection" },
    Route { method: "POST", pattern: "/exec/*/resize", client: "docker exec -t", meaning: "the client's terminal changed size" },
    Route { method: "GET", pattern: "/exec/*/json", client: "docker exec", meaning: "the exec's state and exit code" },
    Route { method: "GET", pattern: "/images/json", client: "docker images", meaning: "list tagged images from the store's index.json" },
    Route { method: "POST", pattern: "/images/create", client: "docker pull, docker run (image missing)", meaning: "pull an image from a registry, as a JSON progress stream" },
    Route { method: "GET", pattern: "/images/*/json", client: "docker image inspect, docker inspect", meaning: "an image's config and layers" },
    Route { method: "POST", pattern: "/images/*/tag", client: "docker tag", meaning: "another name for the same manifest digest" },
    Route { method: "POST", pattern: "/images/*/push", client: "docker push", meaning: "upload the image's blobs and manifest to its registry, as a JSON progress stream" },
    Route { method: "DELETE", pattern: "/images/*", client: "docker rmi", meaning: "remove a name; blobs no name reaches are deleted" },
    Route { method: "POST", pattern: "/images/prune", client: "docker image prune, docker system prune", meaning: "remove images no name reaches" },
    Route { method: "POST", pattern: "/build", client: "docker build (classic builder)", meaning: "build an image from the tar of the build context the client sends" },
    Route { method: "POST", pattern: "/build/prune", client: "docker builder prune, docker system prune", meaning: "remove the build cache" },
    Route { method: "GET", pattern: "/networks", client: "docker network ls", meaning: "list networks" },
    Route { method: "GET", pattern: "/networks/*", client: "docker network inspect", meaning: "one network: its subnet, bridge and containers" },
    Route { method: "POST", pattern: "/networks/create", client: "docker network create", meaning: "a user network: a subnet from the pool, a bridge made when first used" },
    Route { method: "POST", pattern: "/networks/*/connect", client: "docker network connect", meaning: "give a container an address on the network (and an interface, if it runs)" },
    Route { method: "POST", pattern: "/networks/*/disconnect", client: "docker network disconnect", meaning: "take a container off the network" },
    Route { method: "DELETE", pattern: "/networks/*", client: "docker network rm", meaning: "remove a network and its bridge" },
    Route { method: "POST", pattern: "/networks/prune", client: "docker network prune, docker system prune", meaning: "remove networks no container uses" },
    Route { method: "GET", pattern: "/volumes", client: "docker volume ls", meaning: "list named volumes" },
    Route { method: "GET", pattern: "/volumes/*", client: "docker volume inspect", meaning: "one volume and where its files are on the host" },
    Route { method: "POST", pattern: "/volumes/create", client: "docker volume create", meaning: "a named volume: a directory the store keeps" },
    Route { method: "DELETE", pattern: "/volumes/*", client: "docker volume rm", meaning: "remove a volume and its files" },
    Route { method: "POST", pattern: "/volumes/prune", client: "docker volume prune, docker system prune --volumes", meaning: "remove volumes no container uses" },
    Route { method: "GET", pattern: "/system/df", client: "docker system df", meaning: "how much space images, containers and volumes take" },
];

fn matches(pattern: &str, segs: &[String]) -> bool {
    let p: Vec<&str> = pattern.trim_start_matches('/').split('/').collect();
    p.len() == segs.len() && p.iter().zip(segs).all(|(a, b)| *a == "*" || a == b)
}

fn route_of(method: &str, segs: &[String]) -> Option<&'static Route> {
    // Literal routes (`/containers/create`) win over patterns
    // (`/containers/*`), as the order of the table has them.
    ROUTES
        .iter()
        .filter(|r| r.method == method && matches(r.pattern, segs))
        .min_by_key(|r| r.pattern.matches('*').count())
}

/// Splits `/v1.41/containers/json` into ("1.41", "/containers/json").
pub fn strip_version(path: &str) -> (Option<String>, String) {
    if let Some(rest) = path.strip_prefix("/v") {
        if let Some((v, tail)) = rest.split_once('/') {
            if !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == '.') {
                return (Some(v.to_string()), format!("/{tail}"));
            }
        }
    }
    (None, path.to_string())
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The path's segments; an image name keeps its slashes
/// (`/images/localhost:5001/app:1/push` → images, localhost:5001/app:1,
/// push).
fn segments(method: &hyper::Method, path: &str) -> Vec<String> {
    let segs: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(decode)
        .collect();
    if segs.len() <= 2 || segs[0] != "images" {
        return segs;
    }
    let last = segs[segs.len() - 1].as_str();
    if method != hyper::Method::DELETE
        && matches!(last, "json" | "tag" | "push" | "history" | "get")
    {
        let name = segs[1..segs.len() - 1].join("/");
        vec![segs[0].clone(), name, last.to_string()]
    } else {
        vec![segs[0].clone(), segs[1..].join("/")]
    }
}

fn parse_query(q: Option<&str>) -> Vec<(String, String)> {
    q.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// How a request for `target` (path and query, as on the request line)
/// is routed, without a daemon: the API version asked for and whether it
/// is refused as too old, the route's pattern, the path's segments and the
/// query (with its filters and an `all` flag read as handlers read them).
/// `None` when `target` is not a URI hyper would accept. The fuzzing seam
/// behind [`crate::fuzzing::api_route`].
pub(crate) fn resolve(method: &str, target: &str) -> Option<Resolved> {
    let method = hyper::Method::from_bytes(method.as_bytes()).ok()?;
    let uri: hyper::Uri = target.parse().ok()?;
    let (version, path) = strip_version(uri.path());
    let too_old = version.as_deref().is_some_and(too_old);
    let segs = segments(&method, &path);
    let pattern = route_of(method.as_str(), &segs).map(|r| r.pattern);
    let r = Req {
        method: method.to_string(),
        path,
        segs,
        query: parse_query(uri.query()),
        body: Bytes::new(),
    };
    let filters = r.filters();
    let all = r.flag("all");
    Some(Resolved {
        version,
        too_old,
        pattern,
        filters,
        all,
        req: r,
    })
}

/// What [`resolve`] found.
pub(crate) struct Resolved {
    pub version: Option<String>,
    pub too_old: bool,
    pub pattern: Option<&'static str>,
    pub filters: Vec<(String, String)>,
    pub all: bool,
    pub req: Req,
}

/// Serves one connection until the client closes it.
pub async fn connection<S>(s: S, d: Arc<Daemon>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let io = hyper_util::rt::TokioIo::new(s);
    let svc = hyper::service::service_fn(move |req| {
        let d = d.clone();
        async move { Ok::<_, std::convert::Infallible>(handle(req, d).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, svc)
        .with_upgrades()
        .await;
}

/// The most a request body may be: a build context is a whole directory,
/// anything else is a little JSON.
const MAX_BODY: usize = 16 << 20;
const MAX_BUILD_CONTEXT: usize = 1 << 30;

async fn handle(mut req: Request<hyper::body::Incoming>, d: Arc<Daemon>) -> Resp {
    let (version, path) = strip_version(req.uri().path());
    let mut resp = if let Some(v) = version.as_deref().filter(|v| too_old(v)) {
        error(
            StatusCode::BAD_REQUEST,
            &format!("client version {v} is too old. Minimum supported API version is {}, please upgrade your client to a newer version", super::MIN_API_VERSION),
        )
    } else {
        let upgrade = if path.ends_with("/attach")
            || (path.starts_with("/exec/") && path.ends_with("/start"))
        {
            Some(hyper::upgrade::on(&mut req))
        } else {
            None
        };
        let limit = if path == "/build" {
            MAX_BUILD_CONTEXT
        } else {
            MAX_BODY
        };
        let (parts, body) = req.into_parts();
        match http_body_util::Limited::new(body, limit).collect().await {
            Err(_) => error(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!(
                    "the request body is larger than {} MiB, the most this endpoint reads",
                    limit >> 20
                ),
            ),
            Ok(b) => {
                let segs = segments(&parts.method, &path);
                let r = Req {
                    method: parts.method.to_string(),
                    path: path.clone(),
                    segs,
                    query: parse_query(parts.uri.query()),
                    body: b.to_bytes(),
                };
                tokio::task::spawn_blocking(move || dispatch(&d, r, upgrade))
                    .await
                    .unwrap_or_else(|_| {
                        error(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "the handler failed; see the daemon's output",
                        )
                    })
            }
        }
    };
    let h = resp.headers_mut();
    h.insert(
        "Api-Version",
        hyper::header::HeaderValue::from_static(super::API_VERSION),
    );
    h.insert(
        "Docker-Experimental",
        hyper::header::HeaderValue::from_static("false"),
    );
    h.insert("Ostype", hyper::header::HeaderValue::from_static("linux"));
    h.insert(
        "Server",
        hyper::header::HeaderValue::from_static(concat!(
            "glassbox/",
            env!("CARGO_PKG_VERSION"),
            " (linux)"
        )),
    );
    resp
}

fn too_old(v: &str) -> bool {
    let parse = |s: &str| -> (u32, u32) {
        let (a, b) = s.split_once('.').unwrap_or((s, "0"));
        (a.parse().unwrap_or(0), b.parse().unwrap_or(0))
    };
    parse(v) < parse(super::MIN_API_VERSION)
}

fn dispatch(d: &Daemon, r: Req, upgrade: Option<hyper::upgrade::OnUpgrade>) -> Resp {
    let _p = crate::trace::phase("api");
    let route = route_of(&r.method, &r.segs);
    let step = crate::trace::step(
        crate::trace::Kind::Api,
        "request",
        format!("{} {}", r.method, r.path),
    )
    .field("method", &r.method)
    .field("path", &r.path)
    .field(
        "client",
        route.map(|x| x.client).unwrap_or("an unknown client call"),
    )
    .field(
        "meaning",
        route
            .map(|x| x.meaning)
            .unwrap_or("nothing glassbox serves"),
    )
    .equivalent(format!(
        "curl --unix-socket /run/glassbox.sock -X {} http://localhost/v{}{}",
        r.method,
        super::API_VERSION,
        r.path
    ))
    .announce();
    let resp = match route {
        None => error(
            StatusCode::NOT_FOUND,
            &format!(
                "page not found: glassbox does not serve {} {}",
                r.method, r.path
            ),
        ),
        Some(route) => call(d, route.pattern, &r, upgrade),
    };
    if let Ok(mut s) = step {
        s.field("status", resp.status().as_u16());
        s.done();
    }
    resp
}

fn call(d: &Daemon, pattern: &str, r: &Req, up: Option<hyper::upgrade::OnUpgrade>) -> Resp {
    use super::{attach, containers as c, images as i, objects as o, system as s};
    let id = r.segs.get(1).map(String::as_str).unwrap_or("");
    match (r.method.as_str(), pattern) {
        (_, "/_ping") => s::ping(),
        (_, "/version") => s::version(),
        (_, "/info") => s::info(d),
        (_, "/auth") => s::auth(r),
        (_, "/events") => super::events::events(d, r),
        (_, "/system/df") => s::df(d),
        (_, "/containers/create") => c::create(d, r),
        (_, "/containers/json") => c::list(d, r),
        (_, "/containers/prune") => c::prune(d),
        (_, "/containers/*/json") => c::inspect(d, id),
        (_, "/containers/*/start") => c::start(d, id),
        (_, "/containers/*/stop") => c::stop(d, id, r),
        (_, "/containers/*/restart") => c::restart(d, id, r),
        (_, "/containers/*/kill") => c::kill(d, id, r),
        (_, "/containers/*/pause") => c::pause(d, id, true),
        (_, "/containers/*/unpause") => c::pause(d, id, false),
        (_, "/containers/*/wait") => c::wait(d, id, r),
        (_, "/containers/*/attach") => attach::attach(d, id, r, up),
        (_, "/containers/*/logs") => attach::logs(d, id, r),
        (_, "/containers/*/resize") => attach::resize(d, id, r),
        (_, "/exec/*/resize") => attach::exec_resize(d, id, r),
        (_, "/containers/*/top") => c::top(d, id),
        ("DELETE", "/containers/*") => c::remove(d, id, r),
        (_, "/containers/*/exec") => c::exec_create(d, id, r),
        (_, "/exec/*/start") => attach::exec_start(d, id, r, up),
        (_, "/exec/*/json") => c::exec_inspect(d, id),
        (_, "/images/json") => i::list(d, r),
        (_, "/images/create") => i::pull(d, r),
        (_, "/images/prune") => i::prune(d),
        (_, "/images/*/json") => i::inspect(d, id),
        (_, "/images/*/tag") => i::tag(d, id, r),
        (_, "/images/*/push") => i::push(d, id, r),
        ("DELETE", "/images/*") => i::remove(d, id),
        (_, "/build") => i::build(d, r),
        (_, "/build/prune") => json(
            StatusCode::OK,
            &serde_json::json!({"CachesDeleted": [], "SpaceReclaimed": 0}),
        ),
        (_, "/networks") => o::networks(d, r),
        (_, "/networks/create") => o::network_create(d, r),
        (_, "/networks/prune") => o::network_prune(d),
        (_, "/networks/*/connect") => o::network_connect(d, id, r, true),
        (_, "/networks/*/disconnect") => o::network_connect(d, id, r, false),
        ("GET", "/networks/*") => o::network_inspect(d, id),
        ("DELETE", "/networks/*") => o::network_remove(d, id),
        (_, "/volumes") => o::volumes(d),
        (_, "/volumes/create") => o::volume_create(d, r),
        (_, "/volumes/prune") => o::volume_prune(d),
        ("GET", "/volumes/*") => o::volume_inspect(d, id),
        ("DELETE", "/volumes/*") => o::volume_remove(d, id, r),
        _ => error(
            StatusCode::NOT_FOUND,
            &format!("page not found: {} {}", r.method, r.path),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioned_and_unversioned_paths_reach_the_same_route() {
        assert_eq!(
            strip_version("/v1.41/containers/json"),
            (Some("1.41".into()), "/containers/json".into())
        );
        assert_eq!(
            strip_version("/containers/json"),
            (None, "/containers/json".into())
        );
        assert_eq!(strip_version("/volumes/v1"), (None, "/volumes/v1".into()));
        let segs = |p: &str| {
            p.trim_start_matches('/')
                .split('/')
                .map(String::from)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            route_of("POST", &segs("/containers/create"))
                .unwrap()
                .pattern,
            "/containers/create"
        );
        assert_eq!(
            route_of("DELETE", &segs("/containers/abc"))
                .unwrap()
                .pattern,
            "/containers/*"
        );
        assert!(route_of("GET", &segs("/nothing/here")).is_none());
        let post = hyper::Method::POST;
        assert_eq!(
            segments(&post, "/images/localhost:5001/app/push"),
            ["images", "localhost:5001/app", "push"]
        );
        assert_eq!(
            segments(&hyper::Method::DELETE, "/images/a/b:1"),
            ["images", "a/b:1"]
        );
        assert_eq!(segments(&post, "/images/create"), ["images", "create"]);
        assert!(too_old("1.12") && !too_old("1.24") && !too_old("1.41"));
    }

    #[test]
    fn query_values_are_percent_decoded() {
        let q = parse_query(Some("fromImage=localhost%3A5001%2Fapp&tag=1&x"));
        assert_eq!(q[0], ("fromImage".into(), "localhost:5001/app".into()));
        assert_eq!(q[2], ("x".into(), String::new()));
    }
}
