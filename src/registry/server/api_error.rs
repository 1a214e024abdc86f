//! The distribution spec's error codes and the rules for names, tags and
//! digests. Every refusal the server sends is an [`ApiError`]: an HTTP
//! status plus the JSON body `{"errors":[{"code","message","detail"}]}`
//! that clients (skopeo, docker, glassbox) parse.

use super::http::Response;

/// The spec's error codes (and the status distribution sends with each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// 404: the blob is not in this repository.
    BlobUnknown,
    /// 400: the upload cannot go on (bad chunk).
    BlobUploadInvalid,
    /// 404: no upload session by that id.
    BlobUploadUnknown,
    /// 400: the bytes do not hash to the digest given (or it is malformed).
    DigestInvalid,
    /// 400: a manifest names a blob (or manifest) the repository lacks.
    ManifestBlobUnknown,
    /// 400: the manifest cannot be parsed or has the wrong type.
    ManifestInvalid,
    /// 404: no manifest by that tag or digest.
    ManifestUnknown,
    /// 400: the repository name breaks the spec's grammar.
    NameInvalid,
    /// 404: no repository by that name.
    NameUnknown,
    /// 400: a length that does not match the content.
    SizeInvalid,
    /// 401: credentials are needed (or wrong).
    Unauthorized,
    /// 405: the operation is not supported.
    Unsupported,
    /// 416: a chunk that does not start where the upload ends, or a bad Range.
    RangeInvalid,
    /// 400: a bad `n` in a paginated list.
    PaginationNumberInvalid,
    /// 500: the server failed (a disk error); the detail says what.
    Unknown,
}

impl Code {
    /// The code as it appears in the JSON body.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::BlobUnknown => "BLOB_UNKNOWN",
            Code::BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
            Code::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            Code::DigestInvalid => "DIGEST_INVALID",
            Code::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            Code::ManifestInvalid => "MANIFEST_INVALID",
            Code::ManifestUnknown => "MANIFEST_UNKNOWN",
            Code::NameInvalid => "NAME_INVALID",
            Code::NameUnknown => "NAME_UNKNOWN",
            Code::SizeInvalid => "SIZE_INVALID",
            Code::Unauthorized => "UNAUTHORIZED",
            Code::Unsupported => "UNSUPPORTED",
            Code::RangeInvalid => "RANGE_INVALID",
            Code::PaginationNumberInvalid => "PAGINATION_NUMBER_INVALID",
            Code::Unknown => "UNKNOWN",
        }
    }

    /// The HTTP status sent with the code.
    pub fn status(self) -> u16 {
        match self {
            Code::BlobUnknown | Code::BlobUploadUnknown | Code::ManifestUnknown => 404,
            Code::NameUnknown => 404,
            Code::Unauthorized => 401,
            Code::Unsupported => 405,
            Code::RangeInvalid => 416,
            Code::Unknown => 500,
            _ => 400,
        }
    }

    /// The standard message.
    pub fn message(self) -> &'static str {
        match self {
            Code::BlobUnknown => "blob unknown to registry",
            Code::BlobUploadInvalid => "blob upload invalid",
            Code::BlobUploadUnknown => "blob upload unknown to registry",
            Code::DigestInvalid => "provided digest did not match uploaded content",
            Code::ManifestBlobUnknown => "blob unknown to registry",
            Code::ManifestInvalid => "manifest invalid",
            Code::ManifestUnknown => "manifest unknown",
            Code::NameInvalid => "invalid repository name",
            Code::NameUnknown => "repository name not known to registry",
            Code::SizeInvalid => "provided length did not match content length",
            Code::Unauthorized => "authentication required",
            Code::Unsupported => "The operation is unsupported.",
            Code::RangeInvalid => "invalid content range",
            Code::PaginationNumberInvalid => "invalid number of results requested",
            Code::Unknown => "unknown error",
        }
    }
}

/// A refusal: a code plus a detail for the client (and the student).
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The spec's code.
    pub code: Code,
    /// What exactly was wrong (goes in `detail`).
    pub detail: String,
    /// Headers the refusal carries (`Range` of an upload, `Content-Range`).
    pub headers: Vec<(String, String)>,
    /// What the refusal means for the client, when more can be said than
    /// the code and detail.
    pub meaning: Option<String>,
}

impl ApiError {
    /// An error with a detail.
    pub fn new(code: Code, detail: impl Into<String>) -> ApiError {
        ApiError {
            code,
            detail: detail.into(),
            headers: Vec::new(),
            meaning: None,
        }
    }

    /// Adds a header to the refusal.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> ApiError {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// Says what the refusal means in the protocol.
    pub fn meaning(mut self, m: impl Into<String>) -> ApiError {
        self.meaning = Some(m.into());
        self
    }

    /// A server-side failure (500), from an I/O error.
    pub fn internal(what: &str, e: std::io::Error) -> ApiError {
        ApiError::new(Code::Unknown, format!("{what}: {e}"))
    }

    /// The HTTP response carrying this error.
    pub fn response(&self) -> Response {
        let mut r = Response::json(
            self.code.status(),
            &serde_json::json!({"errors": [{
                "code": self.code.as_str(),
                "message": self.code.message(),
                "detail": self.detail,
            }]}),
        );
        r.headers.extend(self.headers.iter().cloned());
        r
    }
}

/// Whether `name` is a repository name the spec allows:
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`,
/// at most 255 characters. This grammar is also what keeps `..`, empty
/// components and absolute paths out of the storage directory.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 255 && name.split('/').all(valid_component)
}

fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    let mut i = 0;
    let run = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && alnum(b[*i]) {
            *i += 1;
        }
        *i > start
    };
    if !run(&mut i) {
        return false;
    }
    while i < b.len() {
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if b.get(i) == Some(&b'_') {
                    i += 1;
                }
            }
            b'-' => {
                while b.get(i) == Some(&b'-') {
                    i += 1;
                }
            }
            _ => return false,
        }
        if !run(&mut i) {
            return false;
        }
    }
    true
}

/// Whether `tag` matches `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub fn valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || b"._-".contains(&c))
}

pub use crate::reference::Digest;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_spec_grammar() {
        for ok in [
            "busybox",
            "library/busybox",
            "a.b_c__d--e/f-g",
            "0",
            "a/b/c",
        ] {
            assert!(valid_name(ok), "{ok} should be valid");
        }
        for bad in [
            "",
            "..",
            "a/../b",
            "/a",
            "a/",
            "A",
            "a..b",
            "a___b",
            "-a",
            "a-",
            "a//b",
            "a b",
            "_a",
            "a/_layers",
        ] {
            assert!(!valid_name(bad), "{bad:?} should be invalid");
        }
        assert!(!valid_name(&"a".repeat(256)));
    }

    #[test]
    fn tags_and_digests_are_checked() {
        assert!(valid_tag("latest") && valid_tag("_x") && valid_tag("1.0-rc_1"));
        assert!(
            !valid_tag("") && !valid_tag(".x") && !valid_tag("a/b") && !valid_tag(&"a".repeat(129))
        );
        assert!(Digest::parse(&format!("sha256:{}", "a".repeat(64))).is_some());
        assert!(Digest::parse(&format!("sha256:{}", "A".repeat(64))).is_none());
        assert!(Digest::parse("sha256:../../etc/passwd").is_none());
        let long = Digest::parse(&format!("sha512:{}", "b".repeat(128))).unwrap();
        assert_eq!((long.algorithm(), long.hex().len()), ("sha512", 128));
        assert!(Digest::parse(&format!("sha512:{}", "b".repeat(64))).is_none());
        assert!(Digest::parse(&format!("md5:{}", "b".repeat(32))).is_none());
        assert_eq!(long.of_same(b"").hex().get(..16), Some("cf83e1357eefb8bd"));
        assert_eq!(
            Digest::of(b"").hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
