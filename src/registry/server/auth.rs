//! Basic authentication from an htpasswd file with bcrypt entries (the
//! format `htpasswd -B` writes and distribution reads: `user:$2y$…`).
//!
//! bcrypt is slow on purpose (tens of milliseconds per check), and a
//! client sends its password with every request, so a successful check is
//! remembered by the sha256 of `user:password` for the life of the server.

use sha2::Digest as _;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;

/// The users the server accepts.
pub struct Htpasswd {
    users: HashMap<String, String>,
    verified: Mutex<HashSet<[u8; 32]>>,
}

/// Who a request is from, as far as authentication goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// No credentials sent.
    Anonymous,
    /// Credentials that did not check out, for this user name.
    Refused(String),
    /// A user whose password checked out.
    User(String),
}

impl Htpasswd {
    /// Reads an htpasswd file; only bcrypt entries are accepted.
    pub fn load(path: &Path) -> Result<Htpasswd, String> {
        let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
        let mut users = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((user, hash)) = line.split_once(':') else {
                return Err(format!("line {}: expected user:hash", i + 1));
            };
            if !hash.starts_with("$2") {
                return Err(format!(
                    "line {}: user {user:?} has no bcrypt hash; make entries with `htpasswd -B`",
                    i + 1
                ));
            }
            users.insert(user.to_string(), hash.to_string());
        }
        Ok(Htpasswd {
            users,
            verified: Mutex::new(HashSet::new()),
        })
    }

    /// Checks an `Authorization` header value.
    pub fn check(&self, header: Option<&str>) -> Who {
        let Some((user, pass)) = header.and_then(decode_basic) else {
            return Who::Anonymous;
        };
        let key: [u8; 32] = sha2::Sha256::digest(format!("{user}:{pass}")).into();
        if self
            .verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&key)
        {
            return Who::User(user);
        }
        let ok = self
            .users
            .get(&user)
            .is_some_and(|h| bcrypt::verify(&pass, h).unwrap_or(false));
        if ok {
            self.verified
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key);
            Who::User(user)
        } else {
            Who::Refused(user)
        }
    }
}

fn decode_basic(h: &str) -> Option<(String, String)> {
    use base64::Engine as _;
    let (scheme, rest) = h.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (u, p) = s.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bcrypt_entries_check_and_wrong_passwords_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("htpasswd");
        let hash = bcrypt::hash("secret", 4).unwrap();
        std::fs::write(&f, format!("student:{hash}\n")).unwrap();
        let h = Htpasswd::load(&f).unwrap();
        use base64::Engine as _;
        let enc = |s: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(s)
            )
        };
        assert_eq!(
            h.check(Some(&enc("student:secret"))),
            Who::User("student".into())
        );
        assert_eq!(
            h.check(Some(&enc("student:secret"))),
            Who::User("student".into())
        );
        assert_eq!(
            h.check(Some(&enc("student:nope"))),
            Who::Refused("student".into())
        );
        assert_eq!(
            h.check(Some(&enc("eve:secret"))),
            Who::Refused("eve".into())
        );
        assert_eq!(h.check(None), Who::Anonymous);
        std::fs::write(&f, "student:{SHA}abc\n").unwrap();
        assert!(Htpasswd::load(&f).is_err());
    }
}
