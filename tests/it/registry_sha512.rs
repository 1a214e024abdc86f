//! sha512 digests on glassbox's registry (distribution-spec 1.1): accepted
//! and verified on every upload path — monolithic POST, POST then PUT,
//! chunked and streamed PATCHes, cross-repository mount — and for
//! manifests pushed and fetched by a sha512 digest. A wrong sha512 is
//! refused with DIGEST_INVALID and stores nothing.

use crate::registry_server::{
    files_under, http, oci_manifest, push_blob, with_query, Glassbox, OCI,
};
use sha2::Digest as _;

fn sha512(bytes: &[u8]) -> String {
    format!("sha512:{}", hex::encode(sha2::Sha512::digest(bytes)))
}

/// The bytes of a blob, fetched back by digest.
fn fetch(a: std::net::SocketAddr, repo: &str, d: &str) -> Vec<u8> {
    let r = http(a, "GET", &format!("/v2/{repo}/blobs/{d}"), &[], b"");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("Docker-Content-Digest"), Some(d));
    r.body
}

fn open_upload(a: std::net::SocketAddr, repo: &str) -> String {
    let r = http(a, "POST", &format!("/v2/{repo}/blobs/uploads/"), &[], b"");
    assert_eq!(r.status, 202, "{r:?}");
    r.header("Location").unwrap().to_string()
}

#[test]
fn sha512_blobs_are_verified_on_every_upload_path() {
    let reg = Glassbox::start(None);
    let a = reg.addr();

    // Monolithic: POST ?digest= with the bytes.
    let one = b"monolithic bytes";
    let r = http(
        a,
        "POST",
        &format!("/v2/lab/app/blobs/uploads/?digest={}", sha512(one)),
        &[],
        one,
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(fetch(a, "lab/app", &sha512(one)), one);

    // POST, then PUT ?digest= with the bytes.
    let two = b"post then put";
    let loc = open_upload(a, "lab/app");
    let r = http(
        a,
        "PUT",
        &with_query(&loc, &format!("digest={}", sha512(two))),
        &[],
        two,
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(fetch(a, "lab/app", &sha512(two)), two);

    // Chunked: PATCHes with Content-Range, then an empty PUT.
    let three = b"first chunk|second chunk";
    let loc = open_upload(a, "lab/app");
    let r = http(a, "PATCH", &loc, &[("Content-Range", "0-11")], &three[..12]);
    assert_eq!(r.status, 202, "{r:?}");
    let loc = r.header("Location").unwrap().to_string();
    let r = http(
        a,
        "PATCH",
        &loc,
        &[("Content-Range", &format!("12-{}", three.len() - 1))],
        &three[12..],
    );
    assert_eq!(r.status, 202, "{r:?}");
    let loc = r.header("Location").unwrap().to_string();
    let r = http(
        a,
        "PUT",
        &with_query(&loc, &format!("digest={}", sha512(three))),
        &[],
        b"",
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(fetch(a, "lab/app", &sha512(three)), three);

    // Streamed: one PATCH without Content-Range, then an empty PUT.
    let four = vec![7u8; 300_000];
    let loc = open_upload(a, "lab/app");
    let r = http(a, "PATCH", &loc, &[], &four);
    assert_eq!(r.status, 202, "{r:?}");
    let loc = r.header("Location").unwrap().to_string();
    let r = http(
        a,
        "PUT",
        &with_query(&loc, &format!("digest={}", sha512(&four))),
        &[],
        b"",
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(fetch(a, "lab/app", &sha512(&four)), four);

    // Cross-repository mount of a sha512 blob.
    let r = http(
        a,
        "POST",
        &format!(
            "/v2/lab/copy/blobs/uploads/?mount={}&from=lab/app",
            sha512(one)
        ),
        &[],
        b"",
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(fetch(a, "lab/copy", &sha512(one)), one);
    let r = http(
        a,
        "HEAD",
        &format!("/v2/lab/other/blobs/{}", sha512(one)),
        &[],
        b"",
    );
    assert_eq!(r.status, 404, "not mounted there");
}

#[test]
fn a_wrong_sha512_is_refused_and_stores_nothing() {
    let reg = Glassbox::start(None);
    let a = reg.addr();
    let claimed = sha512(b"what was promised");
    let r = http(
        a,
        "POST",
        &format!("/v2/lab/app/blobs/uploads/?digest={claimed}"),
        &[],
        b"other bytes",
    );
    assert_eq!(
        (r.status, r.code().as_deref()),
        (400, Some("DIGEST_INVALID"))
    );
    assert!(
        String::from_utf8_lossy(&r.body).contains(&sha512(b"other bytes")),
        "{r:?}"
    );
    let loc = open_upload(a, "lab/app");
    http(a, "PATCH", &loc, &[], b"streamed other bytes");
    let r = http(
        a,
        "PUT",
        &with_query(&loc, &format!("digest={claimed}")),
        &[],
        b"",
    );
    assert_eq!(
        (r.status, r.code().as_deref()),
        (400, Some("DIGEST_INVALID"))
    );
    assert!(
        files_under(&reg.storage().join("blobs")).is_empty(),
        "a blob was stored"
    );
    // A sha512 of the wrong length is not a digest at all.
    let r = http(
        a,
        "HEAD",
        &format!("/v2/lab/app/blobs/sha512:{}", "a".repeat(64)),
        &[],
        b"",
    );
    assert_eq!(r.status, 400, "{r:?}");
}

#[test]
fn a_manifest_is_pushed_and_fetched_by_its_sha512() {
    let reg = Glassbox::start(None);
    let a = reg.addr();
    let (config, layer) = (br#"{"os":"linux"}"#, b"layer");
    push_blob(a, "lab/app", config);
    push_blob(a, "lab/app", layer);
    let m = oci_manifest(config, layer);
    let d = sha512(&m);
    let r = http(
        a,
        "PUT",
        &format!("/v2/lab/app/manifests/{d}"),
        &[("Content-Type", OCI)],
        &m,
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.header("Docker-Content-Digest"), Some(d.as_str()));
    let r = http(
        a,
        "GET",
        &format!("/v2/lab/app/manifests/{d}"),
        &[("Accept", OCI)],
        b"",
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, m);
    let wrong = sha512(b"not the manifest");
    let r = http(
        a,
        "PUT",
        &format!("/v2/lab/app/manifests/{wrong}"),
        &[("Content-Type", OCI)],
        &m,
    );
    assert_eq!(
        (r.status, r.code().as_deref()),
        (400, Some("DIGEST_INVALID"))
    );
}
