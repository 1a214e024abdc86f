//! What changes when glassbox itself runs as root of a user namespace
//! (rootless mode, see `crate::rootless`): the kernel lets that root mount
//! an overlay, but not write `trusted.*` extended attributes nor make device
//! nodes, so overlay metadata goes in `user.overlay.*` attributes (the
//! `userxattr` mount option tells overlayfs to read them there) and
//! devices are bind-mounted from the host instead of made.
//!
//! Read from `/proc/self/uid_map` every time: a process that joins a user
//! namespace (as the rootless CLI does at start) sees its answer change.

use std::path::Path;

/// One line of `/proc/self/uid_map`: `inside outside count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    /// First id inside the namespace.
    pub inside: u32,
    /// The host id it stands for.
    pub outside: u32,
    /// How many ids follow.
    pub count: u32,
}

/// Parses a `uid_map`/`gid_map` text.
pub fn parse_map(text: &str) -> Vec<IdRange> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace().map(|w| w.parse::<u32>());
            match (it.next(), it.next(), it.next()) {
                (Some(Ok(inside)), Some(Ok(outside)), Some(Ok(count))) => Some(IdRange {
                    inside,
                    outside,
                    count,
                }),
                _ => None,
            }
        })
        .collect()
}

/// Whether `map` is the initial namespace's identity map (`0 0 4294967295`).
pub fn is_identity(map: &[IdRange]) -> bool {
    matches!(
        map,
        [IdRange {
            inside: 0,
            outside: 0,
            count: u32::MAX
        }]
    )
}

/// The uid map of this process's user namespace when it is not the
/// initial one; `None` on the host's own.
pub fn current() -> Option<Vec<IdRange>> {
    let map = parse_map(&std::fs::read_to_string("/proc/self/uid_map").ok()?);
    (!is_identity(&map) && !map.is_empty()).then_some(map)
}

/// Whether this process is in a user namespace other than the host's.
pub fn inside() -> bool {
    current().is_some()
}

/// The extended attribute overlayfs reads for `what` (`opaque`, …):
/// `trusted.overlay.*` on the host, `user.overlay.*` in a user namespace.
pub fn overlay_xattr(what: &str) -> String {
    if inside() {
        format!("user.overlay.{what}")
    } else {
        format!("trusted.overlay.{what}")
    }
}

/// The `mount -t overlay` options for `lowers` (topmost first) and, for a
/// writable overlay, its upper and work directories; with `userxattr` in
/// a user namespace, where the metadata lives in `user.overlay.*`.
pub fn overlay_data(lowers: &[&str], rw: Option<(&Path, &Path)>) -> String {
    let mut data = format!("lowerdir={}", lowers.join(":"));
    if let Some((upper, work)) = rw {
        data.push_str(&format!(
            ",upperdir={},workdir={}",
            upper.display(),
            work.display()
        ));
    }
    if inside() {
        data.push_str(",userxattr");
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_map_is_the_identity_and_a_rootless_one_is_not() {
        assert!(is_identity(&parse_map(
            "         0          0 4294967295\n"
        )));
        let m = parse_map("         0       1001          1\n         1     100000      65536\n");
        assert!(!is_identity(&m));
        assert_eq!(
            m[1],
            IdRange {
                inside: 1,
                outside: 100000,
                count: 65536
            }
        );
    }
}
