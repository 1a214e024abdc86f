//! distribution-spec 1.1 on glassbox's registry: a manifest with a
//! `subject` is answered with `OCI-Subject`, listed by the referrers API
//! (with `artifactType` filtering) and dropped from it when deleted; the
//! empty JSON descriptor (`{}`, `application/vnd.oci.empty.v1+json`) and
//! the zero-byte blob are ordinary blobs. Only 127.0.0.1 is used.

use crate::registry_server::{http, oci_manifest, push_blob, sha, Glassbox, OCI};

const EMPTY_JSON: &str = "application/vnd.oci.empty.v1+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// An artifact manifest: the empty JSON config, the empty JSON as its one
/// layer, an `artifactType`, and a subject.
fn artifact(artifact_type: &str, subject: &str, subject_size: usize, note: &str) -> Vec<u8> {
    let empty = serde_json::json!({"mediaType": EMPTY_JSON, "digest": sha(b"{}"), "size": 2});
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI,
        "artifactType": artifact_type,
        "config": empty,
        "layers": [empty],
        "subject": {"mediaType": OCI, "digest": subject, "size": subject_size},
        "annotations": {"org.example.note": note},
    }))
    .unwrap()
}

fn put_manifest(
    addr: std::net::SocketAddr,
    repo: &str,
    reference: &str,
    bytes: &[u8],
) -> crate::registry_server::Resp {
    http(
        addr,
        "PUT",
        &format!("/v2/{repo}/manifests/{reference}"),
        &[("Content-Type", OCI)],
        bytes,
    )
}

fn referrers(
    addr: std::net::SocketAddr,
    target: &str,
) -> (crate::registry_server::Resp, Vec<serde_json::Value>) {
    let r = http(addr, "GET", target, &[], b"");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("Content-Type"), Some(INDEX));
    let v = r.json();
    assert_eq!(v["schemaVersion"], 2);
    assert_eq!(v["mediaType"], INDEX);
    let list = v["manifests"]
        .as_array()
        .expect("a manifests array")
        .clone();
    (r, list)
}

#[test]
fn referrers_list_the_manifests_whose_subject_is_a_digest_filtered_by_artifact_type() {
    let reg = Glassbox::start(None);
    let a = reg.addr();
    let (config, layer) = (br#"{"architecture":"amd64","os":"linux"}"#, b"layer bytes");
    push_blob(a, "lab/app", config);
    push_blob(a, "lab/app", layer);
    let image = oci_manifest(config, layer);
    let r = put_manifest(a, "lab/app", "v1", &image);
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.header("OCI-Subject"), None, "no subject, no header");
    let subject = sha(&image);

    // The empty JSON descriptor's blob is `{}`, pushed like any other.
    assert_eq!(
        push_blob(a, "lab/app", b"{}"),
        "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    );
    let sbom = artifact(
        "application/vnd.example.sbom",
        &subject,
        image.len(),
        "sbom",
    );
    let r = put_manifest(a, "lab/app", &sha(&sbom), &sbom);
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.header("OCI-Subject"), Some(subject.as_str()));
    let sig = artifact("application/vnd.example.sig", &subject, image.len(), "sig");
    let r = put_manifest(a, "lab/app", "sig", &sig);
    assert_eq!(r.header("OCI-Subject"), Some(subject.as_str()), "{r:?}");

    let (_, all) = referrers(a, &format!("/v2/lab/app/referrers/{subject}"));
    let mut want = vec![
        serde_json::json!({"mediaType": OCI, "digest": sha(&sbom), "size": sbom.len(),
            "artifactType": "application/vnd.example.sbom", "annotations": {"org.example.note": "sbom"}}),
        serde_json::json!({"mediaType": OCI, "digest": sha(&sig), "size": sig.len(),
            "artifactType": "application/vnd.example.sig", "annotations": {"org.example.note": "sig"}}),
    ];
    want.sort_by(|x, y| x["digest"].as_str().cmp(&y["digest"].as_str()));
    assert_eq!(all, want);

    let (r, only) = referrers(
        a,
        &format!("/v2/lab/app/referrers/{subject}?artifactType=application/vnd.example.sig"),
    );
    assert_eq!(r.header("OCI-Filters-Applied"), Some("artifactType"));
    assert_eq!(only.len(), 1);
    assert_eq!(only[0]["digest"], sha(&sig));
    let (r, _) = referrers(a, &format!("/v2/lab/app/referrers/{subject}"));
    assert_eq!(r.header("OCI-Filters-Applied"), None);

    // Another repository's referrers are its own.
    let (_, none) = referrers(a, &format!("/v2/lab/other/referrers/{subject}"));
    assert!(none.is_empty());

    // A deleted referrer leaves the list at once.
    let r = http(
        a,
        "DELETE",
        &format!("/v2/lab/app/manifests/{}", sha(&sbom)),
        &[],
        b"",
    );
    assert_eq!(r.status, 202, "{r:?}");
    let (_, left) = referrers(a, &format!("/v2/lab/app/referrers/{subject}"));
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["digest"], sha(&sig));
}

#[test]
fn referrers_of_an_unknown_digest_are_an_empty_list_and_a_bad_digest_is_refused() {
    let reg = Glassbox::start(None);
    let a = reg.addr();
    let (_, none) = referrers(
        a,
        &format!("/v2/lab/app/referrers/{}", sha(b"nothing here")),
    );
    assert!(none.is_empty());
    let r = http(a, "GET", "/v2/lab/app/referrers/sha256:nothex", &[], b"");
    assert_eq!(
        (r.status, r.code().as_deref()),
        (400, Some("DIGEST_INVALID"))
    );
    let r = http(
        a,
        "DELETE",
        &format!("/v2/lab/app/referrers/{}", sha(b"x")),
        &[],
        b"",
    );
    assert_eq!(
        (r.status, r.code().as_deref()),
        (405, Some("UNSUPPORTED")),
        "{r:?}"
    );
}

#[test]
fn the_zero_byte_blob_is_an_ordinary_blob() {
    let reg = Glassbox::start(None);
    let a = reg.addr();
    let d = push_blob(a, "lab/app", b"");
    assert_eq!(
        d,
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    let r = http(a, "GET", &format!("/v2/lab/app/blobs/{d}"), &[], b"");
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.is_empty());
    assert_eq!(r.header("Docker-Content-Digest"), Some(d.as_str()));
}

/// The explanation of a registry event with these fields, brief and full.
fn told(action: &str, fields: serde_json::Value) -> String {
    let ev: glassbox::trace::Event = serde_json::from_value(serde_json::json!({
        "seq": 0, "stage": "info", "phase": [], "kind": "registry", "action": action,
        "subject": "the event's subject", "fields": fields, "equivalent": null,
        "syscall": null, "ts_us": 0, "duration_us": null, "pid": 1,
    }))
    .expect("an event");
    use glassbox::explain::{render, Level};
    let text = |l| render(&ev, l).expect("the template renders");
    format!("{}\n{}", text(Level::Brief), text(Level::Full))
}

#[test]
fn the_subject_and_the_filter_are_explained() {
    let (s, d) = (sha(b"subject"), sha(b"referrer"));
    let stored = told(
        "accept_manifest",
        serde_json::json!({"repository": "lab/app", "digest": d, "media_type": OCI,
            "size": 10, "refers_to": s}),
    );
    assert!(stored.contains(&format!("OCI-Subject:\n{s}")), "{stored}");
    assert!(
        stored.contains(&format!("/v2/lab/app/referrers/{s}")),
        "{stored}"
    );
    let plain = told(
        "accept_manifest",
        serde_json::json!({"repository": "lab/app", "digest": d, "media_type": OCI, "size": 10}),
    );
    assert!(!plain.contains("OCI-Subject"), "{plain}");
    let listed = told(
        "referrers",
        serde_json::json!({"repository": "lab/app", "digest": s, "count": 2,
            "artifact_type": "application/vnd.example.sig"}),
    );
    assert!(listed.contains("Listed 2 referrer(s)"), "{listed}");
    assert!(
        listed.contains("of type application/vnd.example.sig"),
        "{listed}"
    );
    assert!(listed.contains("OCI-Filters-Applied"), "{listed}");
    assert!(
        listed.contains(&format!("/v2/lab/app/referrers/{s}")),
        "{listed}"
    );
}
