//! Content digests (`sha256:…`, `sha512:…`), the names every blob and
//! manifest goes by in the store, in an image's config and on the wire. They
//! sit below the store so the store, images and the registry share one type.

/// A validated content digest: `sha256:<64 lower-case hex>` or
/// `sha512:<128 lower-case hex>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    /// Parses a digest: `sha256:` and 64, or `sha512:` and 128, lower-case
    /// hex digits (the two algorithms distribution-spec 1.1 names).
    pub fn parse(s: &str) -> Option<Digest> {
        let (alg, hex) = s.split_once(':')?;
        let len = match alg {
            "sha256" => 64,
            "sha512" => 128,
            _ => return None,
        };
        (hex.len() == len
            && hex
                .bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)))
        .then(|| Digest(s.to_string()))
    }

    /// The sha256 digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        use sha2::Digest as _;
        Digest(format!(
            "sha256:{}",
            hex::encode(sha2::Sha256::digest(bytes))
        ))
    }

    /// The digest of `bytes` by the same algorithm as `self`.
    pub fn of_same(&self, bytes: &[u8]) -> Digest {
        use sha2::Digest as _;
        match self.algorithm() {
            "sha512" => Digest(format!(
                "sha512:{}",
                hex::encode(sha2::Sha512::digest(bytes))
            )),
            _ => Digest::of(bytes),
        }
    }

    /// From a finished sha256 hasher.
    pub fn from_hasher(h: sha2::Sha256) -> Digest {
        use sha2::Digest as _;
        Digest(format!("sha256:{}", hex::encode(h.finalize())))
    }

    /// From a finished sha512 hasher.
    pub fn from_sha512(h: sha2::Sha512) -> Digest {
        use sha2::Digest as _;
        Digest(format!("sha512:{}", hex::encode(h.finalize())))
    }

    /// `sha256` or `sha512`.
    pub fn algorithm(&self) -> &str {
        self.0.split_once(':').map(|(a, _)| a).unwrap_or("sha256")
    }

    /// The hex digits.
    pub fn hex(&self) -> &str {
        self.0.split_once(':').map(|(_, h)| h).unwrap_or("")
    }

    /// `sha256:…`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `sha256:<hex>` of a finished hasher, as a string.
pub fn sha256_string(h: sha2::Sha256) -> String {
    Digest::from_hasher(h).0
}

/// Whether `s` is `sha256:` and 64 lower-case hex digits.
pub fn is_sha256(s: &str) -> bool {
    Digest::parse(s).is_some_and(|d| d.algorithm() == "sha256")
}
