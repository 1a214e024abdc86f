//! Image references with Docker's rules: `name[:tag][@digest]`, default tag
//! `latest`, lower-case path components, tags of `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
//!
//! Where a reference lives follows Docker's rules too: a first path
//! component holding `.` or `:`, or equal to `localhost`, is a registry host
//! (`localhost:5001/team/app`); anything else lives on `docker.io`, and a
//! bare name there is in the `library/` namespace (`busybox` →
//! `docker.io/library/busybox`).
//!
//! References and [`Digest`]s sit below the store (which names images by
//! them) and below image and registry, which read and write them.

mod digest;

pub use digest::{is_sha256, sha256_string, Digest};
use std::fmt;

/// A reference that breaks Docker's rules.
#[derive(Debug, thiserror::Error)]
#[error("invalid image reference {reference:?}: {reason}")]
pub struct ReferenceError {
    /// What was given.
    pub reference: String,
    /// Which rule it broke and what to do.
    pub reason: String,
}

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The repository name, e.g. `busybox` or `localhost:5001/team/app`.
    pub name: String,
    /// The tag (`latest` when neither tag nor digest was given).
    pub tag: Option<String>,
    /// The digest, when given as `@sha256:…`.
    pub digest: Option<String>,
}

impl Reference {
    /// Parses `s` with Docker's rules.
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        let err = |reason: &str| ReferenceError {
            reference: s.to_string(),
            reason: reason.to_string(),
        };
        if s.is_empty() {
            return Err(err("it is empty; give a name such as busybox:latest"));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                if !is_sha256(d) {
                    return Err(err(
                        "the part after @ must be sha256: followed by 64 lower-case hex digits",
                    ));
                }
                (r, Some(d.to_string()))
            }
            None => (s, None),
        };
        // A ':' after the last '/' separates the tag (a ':' before it is a registry port).
        let slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match rest[slash..].rfind(':') {
            Some(i) => (&rest[..slash + i], Some(&rest[slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(t) = tag {
            let ok = !t.is_empty()
                && t.len() <= 128
                && t.chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
            if !ok {
                return Err(err("a tag is 1-128 letters, digits, '_', '.' or '-' and does not start with '.' or '-'"));
            }
        }
        if name.is_empty() {
            return Err(err("the repository name is empty"));
        }
        let mut parts: Vec<&str> = name.split('/').collect();
        // A first component with '.', ':' or "localhost" is a registry host (may hold upper case and a port).
        if parts.len() > 1 && (parts[0].contains(['.', ':']) || parts[0] == "localhost") {
            parts.remove(0);
        }
        for p in parts {
            let ok = !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && p.as_bytes()[0].is_ascii_alphanumeric()
                && p.as_bytes()[p.len() - 1].is_ascii_alphanumeric();
            if !ok {
                return Err(err("repository names use only lower-case letters, digits and separators (. _ -), e.g. myimage:v1"));
            }
        }
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_string()),
            (None, None) => Some("latest".to_string()),
            (None, Some(_)) => None,
        };
        Ok(Reference {
            name: name.to_string(),
            tag,
            digest,
        })
    }

    /// `name:tag`, the form stored as a `org.opencontainers.image.ref.name`
    /// annotation (or `None` for digest-only references).
    pub fn name_tag(&self) -> Option<String> {
        self.tag.as_ref().map(|t| format!("{}:{t}", self.name))
    }

    /// `name:tag` in Docker's short form, as `docker images` shows it and
    /// as the store names it: Docker Hub names lose `docker.io/` and
    /// `library/` (the docker CLI sends `docker.io/library/app` for `app`);
    /// names on other registries stay whole. `None` for a digest reference.
    pub fn familiar_name_tag(&self) -> Option<String> {
        if self.digest.is_some() {
            return None;
        }
        let tag = self.tag.as_ref()?;
        let name = if self.registry() == DEFAULT_REGISTRY {
            let repo = self.repository();
            repo.strip_prefix("library/").unwrap_or(&repo).to_string()
        } else {
            self.name.clone()
        };
        Some(format!("{name}:{tag}"))
    }
}

/// The registry Docker assumes when a name has no host part.
pub const DEFAULT_REGISTRY: &str = "docker.io";

impl Reference {
    /// Splits the name into (registry host, rest) by Docker's rules.
    fn split_host(&self) -> (Option<&str>, &str) {
        match self.name.split_once('/') {
            Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
                (Some(first), rest)
            }
            _ => (None, &self.name),
        }
    }

    /// The registry host (with port) this reference lives on: the name's
    /// first component when it is a host, else `docker.io`
    /// (`index.docker.io` is the same registry and is folded into it).
    pub fn registry(&self) -> String {
        match self.split_host().0 {
            Some("index.docker.io") | None => DEFAULT_REGISTRY.to_string(),
            Some(h) => h.to_string(),
        }
    }

    /// The repository path on its registry: the name without the host,
    /// with `library/` in front of a bare Docker Hub name.
    pub fn repository(&self) -> String {
        let rest = self.split_host().1;
        if self.registry() == DEFAULT_REGISTRY && !rest.contains('/') {
            format!("library/{rest}")
        } else {
            rest.to_string()
        }
    }

    /// What to ask the registry's manifest endpoint for: the digest when
    /// given, else the tag.
    pub fn manifest_ref(&self) -> String {
        self.digest
            .clone()
            .or_else(|| self.tag.clone())
            .unwrap_or_else(|| "latest".to_string())
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Reference;

    #[test]
    fn default_tag_is_latest() {
        let r = Reference::parse("busybox").unwrap();
        assert_eq!(r.name_tag().unwrap(), "busybox:latest");
    }

    #[test]
    fn registry_port_is_not_a_tag() {
        let r = Reference::parse("localhost:5001/team/app").unwrap();
        assert_eq!(r.name, "localhost:5001/team/app");
        assert_eq!(r.tag.as_deref(), Some("latest"));
        let r = Reference::parse("localhost:5001/app:v2").unwrap();
        assert_eq!(r.tag.as_deref(), Some("v2"));
    }

    #[test]
    fn upper_case_name_is_refused_with_a_clear_reason() {
        let e = Reference::parse("Bad:Tag").unwrap_err().to_string();
        assert!(e.contains("lower-case"), "{e}");
        assert!(Reference::parse("ok:-bad").is_err());
        assert!(Reference::parse("x@sha256:abc").is_err());
    }

    #[test]
    fn bare_names_live_in_docker_hubs_library() {
        let r = Reference::parse("busybox").unwrap();
        assert_eq!(
            (r.registry().as_str(), r.repository().as_str()),
            ("docker.io", "library/busybox")
        );
        let r = Reference::parse("team/app:1").unwrap();
        assert_eq!(
            (r.registry().as_str(), r.repository().as_str()),
            ("docker.io", "team/app")
        );
        let r = Reference::parse("index.docker.io/library/busybox").unwrap();
        assert_eq!(r.registry(), "docker.io");
        assert_eq!(r.repository(), "library/busybox");
    }

    #[test]
    fn a_host_with_a_port_is_the_registry() {
        let d = format!("sha256:{}", "b".repeat(64));
        let r = Reference::parse(&format!("localhost:5001/ns/name:tag@{d}")).unwrap();
        assert_eq!(r.registry(), "localhost:5001");
        assert_eq!(r.repository(), "ns/name");
        assert_eq!(r.tag.as_deref(), Some("tag"));
        assert_eq!(r.manifest_ref(), d);
        let r = Reference::parse("127.0.0.1:5000/busybox").unwrap();
        assert_eq!(
            (r.registry().as_str(), r.repository().as_str()),
            ("127.0.0.1:5000", "busybox")
        );
        let r = Reference::parse("localhost/busybox:1").unwrap();
        assert_eq!(
            (r.registry().as_str(), r.manifest_ref().as_str()),
            ("localhost", "1")
        );
    }

    #[test]
    fn digest_only_reference_has_no_tag() {
        let d = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse(&format!("busybox@{d}")).unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.digest.as_deref(), Some(d.as_str()));
    }
}
