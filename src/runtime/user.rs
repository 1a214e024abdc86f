//! `-u NAME[:GROUP]` resolved the way Docker does it: names are looked up
//! in the image's own `/etc/passwd` and `/etc/group` (never the host's),
//! and a user given without a group gets the primary group from passwd
//! (or 0 when the image does not know the uid).

use super::{Lower, RuntimeError};

/// Reads `rel` (e.g. `etc/passwd`) from the topmost layer that has it; a
/// whiteout (a character device) or a non-regular file hides it.
fn read_from_layers(lowers: &[Lower], rel: &str) -> Option<String> {
    for l in lowers {
        let p = l.dir.join(rel);
        match std::fs::symlink_metadata(&p) {
            Ok(md) if md.file_type().is_file() => return std::fs::read_to_string(&p).ok(),
            Ok(_) => return None,
            Err(_) => continue,
        }
    }
    None
}

/// `name:x:uid:gid:gecos:home:shell` lines as (name, uid, gid, home).
fn passwd_entries(text: &str) -> Vec<(String, u32, u32, String)> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some((
                f.first()?.to_string(),
                f.get(2)?.parse().ok()?,
                f.get(3)?.parse().ok()?,
                f.get(5).copied().unwrap_or("").to_string(),
            ))
        })
        .collect()
}

/// `name:x:gid:members` lines as (name, gid, members).
fn group_entries(text: &str) -> Vec<(String, u32, Vec<String>)> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            let members = f
                .get(3)
                .map(|m| {
                    m.split(',')
                        .map(|m| m.trim().to_string())
                        .filter(|m| !m.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            Some((f.first()?.to_string(), f.get(2)?.parse().ok()?, members))
        })
        .collect()
}

/// Resolves `USER[:GROUP]` (names or numbers) against the image's files to
/// numeric `uid:gid`.
pub fn resolve(user: &str, lowers: &[Lower]) -> Result<String, RuntimeError> {
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    if u.is_empty() || g == Some("") {
        return Err(RuntimeError::BadUser(user.to_string()));
    }
    let passwd = read_from_layers(lowers, "etc/passwd")
        .map(|t| passwd_entries(&t))
        .unwrap_or_default();
    let (uid, primary) = match u.parse::<u32>() {
        Ok(uid) => (
            uid,
            passwd.iter().find(|e| e.1 == uid).map(|e| e.2).unwrap_or(0),
        ),
        Err(_) => passwd
            .iter()
            .find(|e| e.0 == u)
            .map(|e| (e.1, e.2))
            .ok_or_else(|| RuntimeError::UnknownUser(u.to_string(), "passwd"))?,
    };
    let gid = match g {
        None => primary,
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => read_from_layers(lowers, "etc/group")
                .map(|t| group_entries(&t))
                .unwrap_or_default()
                .into_iter()
                .find(|e| e.0 == g)
                .map(|e| e.1)
                .ok_or_else(|| RuntimeError::UnknownUser(g.to_string(), "group"))?,
        },
    };
    Ok(format!("{uid}:{gid}"))
}

/// What dockerd gives the process of numeric `uid`:`gid` besides its ids,
/// read from the image's /etc/passwd and /etc/group: its home (`/` when
/// the image does not know the uid) and its supplementary groups (the
/// primary group, then every group that lists the user by name).
pub fn home_and_groups(uid: u32, gid: u32, lowers: &[Lower]) -> (String, Vec<u32>) {
    let passwd = read_from_layers(lowers, "etc/passwd")
        .map(|t| passwd_entries(&t))
        .unwrap_or_default();
    let entry = passwd.into_iter().find(|e| e.1 == uid);
    let home = entry
        .as_ref()
        .map(|e| e.3.clone())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "/".to_string());
    let mut groups = vec![gid];
    if let Some((name, ..)) = &entry {
        let all = read_from_layers(lowers, "etc/group")
            .map(|t| group_entries(&t))
            .unwrap_or_default();
        for (_, g, members) in all {
            if members.contains(name) && !groups.contains(&g) {
                groups.push(g);
            }
        }
    }
    (home, groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_resolve_against_the_image() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("etc")).unwrap();
        std::fs::write(
            d.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nwww:x:33:34:www:/var/www:/bin/false\n",
        )
        .unwrap();
        std::fs::write(d.path().join("etc/group"), "root:x:0:\nstaff:x:50:\n").unwrap();
        let lowers = vec![Lower {
            dir: d.path().to_path_buf(),
            digest: "test".into(),
        }];
        assert_eq!(resolve("www", &lowers).unwrap(), "33:34");
        assert_eq!(resolve("www:staff", &lowers).unwrap(), "33:50");
        assert_eq!(resolve("33", &lowers).unwrap(), "33:34");
        assert_eq!(resolve("1000", &lowers).unwrap(), "1000:0");
        assert_eq!(resolve("1000:1001", &lowers).unwrap(), "1000:1001");
        assert!(resolve("nobody-here", &lowers).is_err());
        std::fs::write(
            d.path().join("etc/group"),
            "root:x:0:\nstaff:x:50:\nwheel:x:10:root,www\nweb:x:34:www\n",
        )
        .unwrap();
        assert_eq!(
            home_and_groups(0, 0, &lowers),
            ("/root".into(), vec![0, 10])
        );
        assert_eq!(
            home_and_groups(33, 34, &lowers),
            ("/var/www".into(), vec![34, 10])
        );
        assert_eq!(
            home_and_groups(1000, 1000, &lowers),
            ("/".into(), vec![1000])
        );
        assert!(resolve("www:nogroup", &lowers).is_err());
    }
}
