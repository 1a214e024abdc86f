//! Image indexes and artifacts with a subject through the client, against
//! glassbox's registry and the reference registry (Debian's
//! docker-registry, distribution 2.8, which has no referrers API). A pull
//! keeps an index; a push sends it whole and the registry reports the
//! digest the store holds; `manifest create` makes one reproducibly;
//! `artifact attach|ls|pull` push files with a subject, list them (the
//! referrers API, or the `sha256-…` tag on distribution 2.8) and fetch
//! them back. Only 127.0.0.1 is used.

use crate::registry_client::{done, gb, one_line_error, traced, DockerRegistry};
use crate::registry_server::{http, push_blob, sha, Glassbox, OCI};
use crate::support::{assert_explained, Root};
use std::net::SocketAddr;
use std::path::Path;

const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const SBOM: &str = "application/vnd.example.sbom+json";
const SIG: &str = "application/vnd.example.sig";

/// The two registries, as (name references use, address raw HTTP uses).
/// Both are stopped (the child killed by PID) when dropped.
struct Both {
    ours: Glassbox,
    theirs: DockerRegistry,
}

impl Both {
    fn start() -> Both {
        Both {
            ours: Glassbox::start(None),
            theirs: DockerRegistry::start(None),
        }
    }

    fn each(&self) -> [(String, SocketAddr, bool); 2] {
        let ours = self.ours.addr();
        let theirs: SocketAddr = self.theirs.addr.parse().unwrap();
        [
            (format!("localhost:{}", ours.port()), ours, true),
            (self.theirs.name(), theirs, false),
        ]
    }
}

fn manifest_bytes(
    addr: SocketAddr,
    repo: &str,
    reference: &str,
    accept: &str,
) -> (String, Vec<u8>) {
    let r = http(
        addr,
        "GET",
        &format!("/v2/{repo}/manifests/{reference}"),
        &[("Accept", accept)],
        b"",
    );
    assert_eq!(r.status, 200, "{r:?}");
    (
        r.header("Docker-Content-Digest").unwrap_or("").to_string(),
        r.body,
    )
}

/// On registry `addr`: busybox (pushed by glassbox as `multi:amd64`) and
/// an arm64 image made of raw blobs, listed by an index tagged `multi:1`.
/// Returns (index bytes, arm64 layer digest).
fn two_platform_index(src: &Root, cfg: &Path, name: &str, addr: SocketAddr) -> (Vec<u8>, String) {
    traced(
        src,
        cfg,
        &["tag", "busybox", &format!("{name}/multi:amd64")],
    );
    traced(src, cfg, &["push", &format!("{name}/multi:amd64")]);
    let (_, amd64) = manifest_bytes(addr, "multi", "amd64", OCI);
    let layer = b"an arm64 layer glassbox never unpacks".to_vec();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "arm64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [sha(b"arm64 tar")]}
    }))
    .unwrap();
    push_blob(addr, "multi", &config);
    let layer_digest = push_blob(addr, "multi", &layer);
    let arm64 = crate::registry_server::oci_manifest(&config, &layer);
    let r = http(
        addr,
        "PUT",
        &format!("/v2/multi/manifests/{}", sha(&arm64)),
        &[("Content-Type", OCI)],
        &arm64,
    );
    assert_eq!(r.status, 201, "{r:?}");
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": INDEX,
        "manifests": [
            {"mediaType": OCI, "digest": sha(&amd64), "size": amd64.len(),
             "platform": {"architecture": "amd64", "os": "linux"}},
            {"mediaType": OCI, "digest": sha(&arm64), "size": arm64.len(),
             "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
        ]
    }))
    .unwrap();
    let r = http(
        addr,
        "PUT",
        "/v2/multi/manifests/1",
        &[("Content-Type", INDEX)],
        &index,
    );
    assert_eq!(r.status, 201, "{r:?}");
    (index, layer_digest)
}

fn has_blob(root: &Root, digest: &str) -> bool {
    root.path().join("blobs/sha256").join(&digest[7..]).exists()
}

#[test]
fn an_index_pulled_then_pushed_keeps_its_digest_on_both_registries() {
    let regs = Both::start();
    let [(ours, ours_addr, _), (theirs, theirs_addr, _)] = regs.each();
    let cfg = tempfile::tempdir().unwrap();
    let src = Root::new();
    src.ok(&["setup"]);
    let (index, arm64_layer) = two_platform_index(&src, cfg.path(), &ours, ours_addr);
    let index_digest = sha(&index);

    // A plain pull keeps the index and both manifests, but only this
    // machine's layers; the tag names the index, the image is amd64's.
    let dst = Root::new();
    let (out, events) = traced(&dst, cfg.path(), &["pull", &format!("{ours}/multi:1")]);
    assert_explained(&events);
    assert!(out.contains(&format!("digest: {index_digest}")), "{out}");
    assert!(out.contains("an index of 2 manifest(s)"), "{out}");
    assert!(has_blob(&dst, &index_digest));
    assert!(!has_blob(&dst, &arm64_layer));
    let kept: Vec<_> = events
        .iter()
        .filter(|e| e["action"] == "index" && e["kind"] == "registry")
        .collect();
    assert_eq!(kept.len(), 1, "one registry.index fact");
    assert_eq!(kept[0]["fields"]["all_platforms"], false);
    let listing = dst.ok(&["images"]);
    assert!(listing.contains(&format!("{ours}/multi")), "{listing}");
    let inspect: serde_json::Value =
        serde_json::from_str(&dst.ok(&["image", "inspect", &format!("{ours}/multi:1")])).unwrap();
    let busybox: serde_json::Value =
        serde_json::from_str(&src.ok(&["image", "inspect", "busybox"])).unwrap();
    assert_eq!(inspect[0]["Id"], busybox[0]["Id"]);
    let local: serde_json::Value =
        serde_json::from_str(&dst.ok(&["manifest", "inspect", &format!("{ours}/multi:1")]))
            .unwrap();
    assert_eq!(
        local,
        serde_json::from_slice::<serde_json::Value>(&index).unwrap()
    );
    dst.ok(&["store", "verify"]);

    // Its arm64 layer is neither here nor on the reference registry: the
    // push stops with one line that says what to do, before any PUT.
    dst.ok(&[
        "tag",
        &format!("{ours}/multi:1"),
        &format!("{theirs}/multi:1"),
    ]);
    let out = gb(&dst, cfg.path(), &["push", &format!("{theirs}/multi:1")])
        .output()
        .unwrap();
    one_line_error(&out, "--all-platforms");
    let r = http(
        theirs_addr,
        "GET",
        "/v2/multi/manifests/1",
        &[("Accept", INDEX)],
        b"",
    );
    assert_eq!(r.status, 404, "nothing was tagged: {r:?}");

    // --all-platforms fetches the rest; the push then sends the index
    // whole, and the reference registry serves the same bytes.
    let (out, events) = traced(
        &dst,
        cfg.path(),
        &["pull", "--all-platforms", &format!("{ours}/multi:1")],
    );
    assert_explained(&events);
    assert!(out.contains("every platform kept"), "{out}");
    assert!(has_blob(&dst, &arm64_layer));
    let (out, events) = traced(&dst, cfg.path(), &["push", &format!("{theirs}/multi:1")]);
    assert_explained(&events);
    assert!(out.contains(&format!("digest: {index_digest}")), "{out}");
    let puts = done(&events, "manifest_put");
    assert_eq!(puts.len(), 3, "two manifests by digest, then the index");
    assert_eq!(puts[2]["fields"]["reference"], "1");
    assert_eq!(puts[2]["fields"]["content_digest"], index_digest.as_str());
    let (announced, served) = manifest_bytes(theirs_addr, "multi", "1", INDEX);
    assert_eq!(announced, index_digest);
    assert_eq!(served, index);

    // And back: a fresh pull from the reference registry, pushed to
    // glassbox's under another name, is still the same index.
    let third = Root::new();
    traced(
        &third,
        cfg.path(),
        &["pull", "--all-platforms", &format!("{theirs}/multi:1")],
    );
    third.ok(&[
        "tag",
        &format!("{theirs}/multi:1"),
        &format!("{ours}/again:2"),
    ]);
    let (out, _) = traced(&third, cfg.path(), &["push", &format!("{ours}/again:2")]);
    assert!(out.contains(&format!("digest: {index_digest}")), "{out}");
    let (announced, served) = manifest_bytes(ours_addr, "again", "2", INDEX);
    assert_eq!((announced, served), (index_digest.clone(), index.clone()));

    // gc keeps what the index reaches while a tag names it.
    third.ok(&["rmi", &format!("{theirs}/multi:1")]);
    assert!(has_blob(&third, &arm64_layer));
    third.ok(&["store", "verify"]);
    third.ok(&["rmi", &format!("{ours}/again:2")]);
    assert!(!has_blob(&third, &arm64_layer));
    assert!(!has_blob(&third, &index_digest));
}

#[test]
fn manifest_create_is_reproducible_and_push_reports_the_local_digest() {
    let regs = Both::start();
    let cfg = tempfile::tempdir().unwrap();
    let root = Root::new();
    root.ok(&["setup"]);
    let mut digests = Vec::new();
    for (name, addr, _) in regs.each() {
        let tag = format!("{name}/app:1");
        let (out, events) = traced(&root, cfg.path(), &["manifest", "create", &tag, "busybox"]);
        assert_explained(&events);
        assert!(out.contains("(linux/amd64)"), "{out}");
        let local = root.ok(&["manifest", "inspect", &tag]);
        let v: serde_json::Value = serde_json::from_str(&local).unwrap();
        assert_eq!(v["mediaType"], INDEX);
        let d = out.split_whitespace().nth(2).unwrap().to_string();
        let bytes = std::fs::read(root.path().join("blobs/sha256").join(&d[7..])).unwrap();
        assert_eq!(sha(&bytes), d);
        let (out, events) = traced(&root, cfg.path(), &["push", &tag]);
        assert_explained(&events);
        assert!(out.contains(&format!("digest: {d}")), "{out}");
        let (announced, served) = manifest_bytes(addr, "app", "1", INDEX);
        assert_eq!(announced, d);
        assert_eq!(served, bytes);
        digests.push(d);
    }
    assert_eq!(
        digests[0], digests[1],
        "the same images give the same index"
    );

    // Two images of one platform, an index of an index, a missing image:
    // each one clear line, and no tag is made.
    root.ok(&["tag", "busybox", "other:1"]);
    let out = gb(
        &root,
        cfg.path(),
        &["manifest", "create", "dup:1", "busybox", "other:1"],
    )
    .output()
    .unwrap();
    one_line_error(&out, "are both linux/amd64");
    let first = format!("{}/app:1", regs.each()[0].0);
    let out = gb(&root, cfg.path(), &["manifest", "create", "nest:1", &first])
        .output()
        .unwrap();
    one_line_error(&out, "is an image index itself");
    let out = gb(
        &root,
        cfg.path(),
        &["manifest", "create", "gone:1", "nosuch:1"],
    )
    .output()
    .unwrap();
    one_line_error(&out, "no such image");
    let tags = root.ok(&["images"]);
    assert!(
        !tags.contains("dup") && !tags.contains("nest") && !tags.contains("gone"),
        "{tags}"
    );
}

#[test]
fn artifacts_attach_list_and_pull_through_the_referrers_api_and_the_tag_fallback() {
    let regs = Both::start();
    let cfg = tempfile::tempdir().unwrap();
    let root = Root::new();
    root.ok(&["setup"]);
    let files = tempfile::tempdir().unwrap();
    let sbom = files.path().join("sbom.json");
    let notes = files.path().join("notes.txt");
    std::fs::write(&sbom, br#"{"packages":["busybox"]}"#).unwrap();
    std::fs::write(&notes, b"reviewed\n").unwrap();
    let notes_typed = format!("{}:text/plain", notes.display());
    let mut artifact_digests = Vec::new();
    for (name, addr, has_api) in regs.each() {
        let image = format!("{name}/busybox:1");
        root.ok(&["tag", "busybox", &image]);
        traced(&root, cfg.path(), &["push", &image]);
        let (subject, subject_bytes) = manifest_bytes(addr, "busybox", "1", OCI);

        let (out, events) = traced(
            &root,
            cfg.path(),
            &[
                "artifact",
                "attach",
                "--artifact-type",
                SBOM,
                &image,
                sbom.to_str().unwrap(),
                &notes_typed,
            ],
        );
        assert_explained(&events);
        let via = if has_api { "OCI-Subject" } else { "sha256-" };
        assert!(out.contains(via), "{out}");
        let attach = done(&events, "attach");
        assert_eq!(
            attach[0]["fields"]["via"],
            if has_api { "api" } else { "tag" }
        );
        let digest = attach[0]["fields"]["digest"].as_str().unwrap().to_string();
        // What the registry holds is the artifact the spec describes.
        let (_, bytes) = manifest_bytes(addr, "busybox", &digest, OCI);
        assert_eq!(sha(&bytes), digest);
        let m: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(m["artifactType"], SBOM);
        assert_eq!(
            m["config"]["mediaType"],
            "application/vnd.oci.empty.v1+json"
        );
        assert_eq!(m["config"]["digest"], sha(b"{}"));
        assert_eq!(
            m["subject"],
            serde_json::json!({"mediaType": OCI, "digest": subject, "size": subject_bytes.len()})
        );
        assert_eq!(
            m["layers"][0]["annotations"]["org.opencontainers.image.title"],
            "sbom.json"
        );
        assert_eq!(m["layers"][1]["mediaType"], "text/plain");
        assert!(m.get("annotations").is_none(), "no timestamp unless asked");
        // The registry reached it from the subject: the API, or the tag.
        let listed = if has_api {
            http(
                addr,
                "GET",
                &format!("/v2/busybox/referrers/{subject}"),
                &[],
                b"",
            )
            .json()
        } else {
            let tag = subject.replacen(':', "-", 1);
            http(
                addr,
                "GET",
                &format!("/v2/busybox/manifests/{tag}"),
                &[("Accept", INDEX)],
                b"",
            )
            .json()
        };
        assert_eq!(
            listed["manifests"][0]["digest"],
            digest.as_str(),
            "{listed}"
        );
        assert_eq!(listed["manifests"][0]["artifactType"], SBOM);

        // The same files on the same subject: the same digest, listed once.
        let (_, again) = traced(
            &root,
            cfg.path(),
            &[
                "artifact",
                "attach",
                "--artifact-type",
                SBOM,
                "--subject",
                &image,
                sbom.to_str().unwrap(),
                &notes_typed,
            ],
        );
        assert_eq!(
            done(&again, "attach")[0]["fields"]["digest"],
            digest.as_str()
        );
        traced(
            &root,
            cfg.path(),
            &[
                "artifact",
                "attach",
                "--artifact-type",
                SIG,
                &image,
                notes.to_str().unwrap(),
            ],
        );
        let (out, events) = traced(
            &root,
            cfg.path(),
            &["artifact", "ls", "--format", "json", &image],
        );
        assert_explained(&events);
        let d: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(d["digest"], subject.as_str());
        assert_eq!(d["via"], if has_api { "api" } else { "tag" });
        let mut types: Vec<&str> = d["referrers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["artifactType"].as_str().unwrap())
            .collect();
        types.sort();
        assert_eq!(types, [SBOM, SIG]);
        let (out, _) = traced(
            &root,
            cfg.path(),
            &["artifact", "ls", "--artifact-type", SIG, &image],
        );
        assert!(out.contains(SIG) && !out.contains(SBOM), "{out}");
        assert!(
            out.starts_with(&format!("{name}/busybox@{subject}")),
            "{out}"
        );

        // Pull the files back, by type and by digest; nothing overwritten.
        let dir = files.path().join(format!("out-{has_api}"));
        let (_, events) = traced(
            &root,
            cfg.path(),
            &[
                "artifact",
                "pull",
                "--artifact-type",
                SBOM,
                "-o",
                dir.to_str().unwrap(),
                &image,
            ],
        );
        assert_explained(&events);
        assert_eq!(
            std::fs::read(dir.join("sbom.json")).unwrap(),
            std::fs::read(&sbom).unwrap()
        );
        assert_eq!(std::fs::read(dir.join("notes.txt")).unwrap(), b"reviewed\n");
        let by_digest = format!("{name}/busybox@{digest}");
        let out = gb(
            &root,
            cfg.path(),
            &["artifact", "pull", "-o", dir.to_str().unwrap(), &by_digest],
        )
        .output()
        .unwrap();
        one_line_error(&out, "exists");
        let dir2 = files.path().join(format!("again-{has_api}"));
        root.ok(&["artifact", "pull", "-o", dir2.to_str().unwrap(), &by_digest]);
        assert_eq!(
            std::fs::read(dir2.join("sbom.json")).unwrap(),
            std::fs::read(&sbom).unwrap()
        );
        artifact_digests.push(digest);
    }
    // One subject, the same files: the same artifact on both registries.
    assert_eq!(artifact_digests[0], artifact_digests[1]);

    // A missing file stops the attach before any request.
    let name = &regs.each()[0].0;
    let (out, events) = {
        let file = root.path().join("trace-missing.jsonl");
        let out = gb(
            &root,
            cfg.path(),
            &[
                "--trace",
                "json",
                "--trace-file",
                file.to_str().unwrap(),
                "artifact",
                "attach",
                "--artifact-type",
                SBOM,
                &format!("{name}/busybox:1"),
                "/nonexistent/sbom.json",
            ],
        )
        .output()
        .unwrap();
        (out, std::fs::read_to_string(&file).unwrap_or_default())
    };
    one_line_error(&out, "/nonexistent/sbom.json is not a file");
    // A subject the registry lacks is the spec's code, in one line.
    let out = gb(
        &root,
        cfg.path(),
        &[
            "artifact",
            "attach",
            "--artifact-type",
            SBOM,
            &format!("{name}/busybox:nosuch"),
            sbom.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    one_line_error(&out, "MANIFEST_UNKNOWN");
    assert!(
        !events.contains("\"registry\""),
        "no request was sent: {events}"
    );
}
