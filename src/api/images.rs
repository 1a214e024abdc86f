//! Image routes: list, inspect, tag, remove, prune, pull and push (JSON
//! progress streams), and the classic builder's `/build`, which receives
//! the build context as a tar.

use super::routes::{engine_error, error, json, Req, Resp};
use super::Daemon;
use crate::store::Store;
use hyper::StatusCode;
use serde_json::{json, Value};

fn store(d: &Daemon) -> Result<Store, Resp> {
    Store::open(&d.root).map_err(|e| engine_error(&e))
}

fn unix_time(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| t.timestamp())
        .unwrap_or(0)
}

/// Whether `name:tag` matches a `reference` filter as dockerd matches it
/// (`docker images app` sends `reference=app`): a pattern with a tag is
/// matched against `name:tag`, one without against the name; `*` matches
/// any run of characters but `/`.
fn matches_reference(pattern: &str, name_tag: &str) -> bool {
    let with_tag = pattern
        .rsplit_once(':')
        .is_some_and(|(_, t)| !t.contains('/'));
    let subject = if with_tag {
        name_tag
    } else {
        name_tag.rsplit_once(':').map_or(name_tag, |(n, _)| n)
    };
    glob(pattern.as_bytes(), subject.as_bytes())
}

fn glob(p: &[u8], s: &[u8]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len())
            .take_while(|&i| i == 0 || s[i - 1] != b'/')
            .any(|i| glob(rest, &s[i..])),
        Some((c, rest)) => s.first() == Some(c) && glob(rest, &s[1..]),
    }
}

/// `GET /images/json`: one entry per image, with all its names (only the
/// names a `reference` filter matches, when one is given).
pub fn list(d: &Daemon, r: &Req) -> Resp {
    let s = match store(d) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let patterns: Vec<String> = r
        .filters()
        .into_iter()
        .filter(|(k, _)| k == "reference")
        .map(|(_, v)| v)
        .collect();
    let mut by_id: Vec<(String, Value)> = Vec::new();
    for (tag, digest) in s.tags().unwrap_or_default() {
        if !patterns.is_empty() && !patterns.iter().any(|p| matches_reference(p, &tag)) {
            continue;
        }
        let Ok(img) = s.image_from_manifest(&digest) else {
            continue;
        };
        if let Some((_, v)) = by_id.iter_mut().find(|(id, _)| *id == img.id) {
            if let Some(a) = v["RepoTags"].as_array_mut() {
                a.push(json!(tag));
            }
            continue;
        }
        let size: u64 = img.layers.iter().map(|l| l.size).sum();
        let created = img.config.created().clone().unwrap_or_default();
        let labels = img
            .config
            .config()
            .as_ref()
            .and_then(|c| c.labels().clone())
            .unwrap_or_default();
        by_id.push((
            img.id.clone(),
            json!({
                "Id": img.id,
                "ParentId": "",
                "RepoTags": [tag],
                "RepoDigests": [],
                "Created": unix_time(&created),
                "Size": size,
                "VirtualSize": size,
                "SharedSize": -1,
                "Labels": labels,
                "Containers": -1,
            }),
        ));
    }
    json(
        StatusCode::OK,
        &Value::Array(by_id.into_iter().map(|(_, v)| v).collect()),
    )
}

/// `GET /images/NAME/json`.
pub fn inspect(d: &Daemon, name: &str) -> Resp {
    let s = match store(d) {
        Ok(s) => s,
        Err(e) => return e,
    };
    match s
        .resolve(name)
        .and_then(|img| crate::image::inspect::inspect(&s, &img))
    {
        Ok(v) => json(StatusCode::OK, &v),
        Err(e) => engine_error(&e),
    }
}

/// `POST /images/NAME/tag?repo=&tag=`.
pub fn tag(d: &Daemon, name: &str, r: &Req) -> Resp {
    let s = match store(d) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let repo = r.q("repo").unwrap_or("");
    let target = format!(
        "{repo}:{}",
        r.q("tag").filter(|t| !t.is_empty()).unwrap_or("latest")
    );
    let done = (|| -> crate::Result<()> {
        let img = s.resolve(name)?;
        let target = crate::reference::Reference::parse(&target)?;
        let name_tag = target.familiar_name_tag().ok_or_else(|| {
            crate::Error::Usage(format!("cannot tag with {target}; give name:tag"))
        })?;
        let size = std::fs::metadata(s.blob_path(&img.manifest_digest)?)
            .map(|m| m.len())
            .unwrap_or(0);
        s.set_tag(&name_tag, &img.manifest_digest, size)?;
        Ok(())
    })();
    match done {
        Ok(()) => super::routes::empty(StatusCode::CREATED),
        Err(e) => engine_error(&e),
    }
}

/// `DELETE /images/NAME`: untags; the garbage collection deletes blobs no
/// name reaches.
pub fn remove(d: &Daemon, name: &str) -> Resp {
    let s = match store(d) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let done = (|| -> crate::Result<Vec<Value>> {
        let img = s.resolve(name)?;
        let r = crate::reference::Reference::parse(name)?;
        let name_tag = r.familiar_name_tag().unwrap_or_default();
        let mut out = Vec::new();
        match s.remove_tag(&name_tag)? {
            Some(_) => out.push(json!({"Untagged": name_tag})),
            None => return Err(crate::store::MissingImage(r.to_string()).into()),
        }
        s.gc()?;
        let still = s.tags()?.iter().any(|(_, dg)| *dg == img.manifest_digest);
        if !still {
            out.push(json!({"Deleted": img.id}));
        }
        Ok(out)
    })();
    match done {
        Ok(v) => json(StatusCode::OK, &Value::Array(v)),
        Err(e) => engine_error(&e),
    }
}

/// `POST /images/prune`: blobs and layers no name reaches.
pub fn prune(d: &Daemon) -> Resp {
    let s = match store(d) {
        Ok(s) => s,
        Err(e) => return e,
    };
    match s.gc() {
        Ok(n) => json(
            StatusCode::OK,
            &json!({"ImagesDeleted": [], "SpaceReclaimed": 0, "BlobsDeleted": n}),
        ),
        Err(e) => engine_error(&e),
    }
}

fn progress_response(body: super::Body) -> Resp {
    hyper::Response::builder()
        .status(StatusCode::OK)
        .header("Content-Type", "application/json")
        .body(body)
        .expect("a response from fixed parts")
}

fn stream_error(tx: &super::body::Sender, e: &dyn std::fmt::Display) {
    let m = e.to_string();
    tx.json(&json!({"errorDetail": {"message": m}, "error": m}));
}

/// `POST /images/create?fromImage=&tag=`: a pull, as a progress stream.
pub fn pull(d: &Daemon, r: &Req) -> Resp {
    let from = r.q("fromImage").unwrap_or("").to_string();
    if from.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            "give fromImage (importing with fromSrc is not supported)",
        );
    }
    let tag = r.q("tag").filter(|t| !t.is_empty()).unwrap_or("latest");
    let reference = if tag.starts_with("sha256:") {
        format!("{from}@{tag}")
    } else {
        format!("{from}:{tag}")
    };
    let root = d.root.clone();
    let (tx, body) = super::Body::channel();
    std::thread::spawn(move || {
        let _p = crate::trace::phase("api");
        tx.json(&json!({"status": format!("Pulling from {from}"), "id": tag_of(&reference)}));
        let done = Store::open(&root)
            .and_then(|s| crate::registry::client::pull(&s, &reference, &Default::default()));
        match done {
            Ok(rep) => {
                tx.json(&json!({"status": format!("Digest: {}", rep.digest)}));
                tx.json(
                    &json!({"status": format!("Status: Downloaded newer image for {reference}")}),
                );
            }
            Err(e) => stream_error(&tx, &e),
        }
    });
    progress_response(body)
}

fn tag_of(reference: &str) -> String {
    reference
        .rsplit_once(':')
        .map(|(_, t)| t.to_string())
        .unwrap_or_default()
}

/// `POST /images/NAME/push?tag=`: a push, as a progress stream.
pub fn push(d: &Daemon, name: &str, r: &Req) -> Resp {
    let reference = match r.q("tag").filter(|t| !t.is_empty()) {
        Some(t) => format!("{name}:{t}"),
        None => name.to_string(),
    };
    let root = d.root.clone();
    let name = name.to_string();
    let (tx, body) = super::Body::channel();
    std::thread::spawn(move || {
        let _p = crate::trace::phase("api");
        tx.json(&json!({"status": format!("The push refers to repository [{name}]")}));
        let done = Store::open(&root)
            .and_then(|s| crate::registry::client::push(&s, &reference, &Default::default()));
        match done {
            Ok(_) => {
                tx.json(&json!({"status": format!("{}: pushed", tag_of(&reference))}));
            }
            Err(e) => stream_error(&tx, &e),
        }
    });
    progress_response(body)
}

/// `POST /build?t=&dockerfile=&buildargs=&nocache=&target=`: the context
/// arrives as a tar; it is unpacked into a store temp dir (entries that
/// would land outside it are refused by the tar reader) and built there.
pub fn build(d: &Daemon, r: &Req) -> Resp {
    let s = match store(d) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let ctx = match s.tempdir() {
        Ok(t) => t,
        Err(e) => return engine_error(&e),
    };
    let mut ar = tar::Archive::new(std::io::Cursor::new(r.body.clone()));
    if let Err(e) = ar.unpack(ctx.path()) {
        return error(
            StatusCode::BAD_REQUEST,
            &format!("the build context is not a readable tar: {e}"),
        );
    }
    let file = r
        .q("dockerfile")
        .filter(|f| !f.is_empty())
        .unwrap_or("Dockerfile")
        .to_string();
    let text = match std::fs::read_to_string(ctx.path().join(&file)) {
        Ok(t) => t,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("Cannot locate specified Dockerfile: {file} ({e})"),
            )
        }
    };
    let build_args: std::collections::BTreeMap<String, String> = r
        .q("buildargs")
        .and_then(|b| {
            serde_json::from_str::<std::collections::BTreeMap<String, Option<String>>>(b).ok()
        })
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect();
    let tag = r.q("t").filter(|t| !t.is_empty()).map(String::from);
    let opts = crate::build::BuildOptions {
        dockerfile: text,
        dockerfile_name: file,
        context: Some(ctx.path().to_path_buf()),
        tag: tag.clone(),
        build_args,
        target: r.q("target").filter(|t| !t.is_empty()).map(String::from),
        no_cache: r.flag("nocache"),
        secrets: Default::default(),
        ssh: Default::default(),
    };
    let (tx, body) = super::Body::channel();
    std::thread::spawn(move || {
        let _p = crate::trace::phase("api");
        let _keep = ctx;
        match crate::build::build(&s, &opts) {
            Ok(out) => {
                for w in &out.warnings {
                    tx.json(&json!({"stream": format!("{}\n", w.render())}));
                }
                let id = out.image.id.clone();
                let short = id
                    .trim_start_matches("sha256:")
                    .get(..12)
                    .unwrap_or("")
                    .to_string();
                tx.json(&json!({"aux": {"ID": id}}));
                // docker-compose 1.x reads the image id from this line.
                tx.json(&json!({"stream": format!("Successfully built {short}\n")}));
                if let Some(t) = &tag {
                    tx.json(&json!({"stream": format!("Successfully tagged {t}\n")}));
                }
            }
            Err(e) => stream_error(&tx, &e),
        }
    });
    progress_response(body)
}

#[cfg(test)]
mod tests {
    use super::matches_reference;

    #[test]
    fn a_reference_filter_matches_the_name_or_the_name_and_tag_as_dockerd_does() {
        assert!(matches_reference("mybox", "mybox:1"));
        assert!(!matches_reference("mybox", "busybox:latest"));
        assert!(matches_reference("mybox:1", "mybox:1"));
        assert!(!matches_reference("mybox:2", "mybox:1"));
        assert!(matches_reference("*box", "busybox:latest"));
        assert!(!matches_reference("*", "team/app:1"));
        assert!(matches_reference(
            "localhost:5001/app",
            "localhost:5001/app:1"
        ));
    }
}
