//! The name check: a container on the default bridge whose log shows it
//! failed to look up another container of the store by name. The default
//! network gives no names (its hosts file lists only the container
//! itself); a user network does.

use super::{last_log_lines, Finding, Subject};

/// The default network's name.
const DEFAULT: &str = "bridge";

/// How resolvers (busybox, glibc, curl, ping) say a name did not resolve.
const FAILED: [&str; 6] = [
    "bad address",
    "could not resolve",
    "can't resolve",
    "unknown host",
    "not known",
    "does not resolve",
];

/// The name checks of one container.
pub(super) fn check(c: &Subject) -> Vec<Finding> {
    if c.st.network_mode != DEFAULT {
        return Vec::new();
    }
    let log = last_log_lines(c.dir, 50);
    let mut out = Vec::new();
    for (_, other) in c.all {
        if other.id == c.st.id || other.network_mode != DEFAULT {
            continue;
        }
        let Some(line) = log.iter().rev().find(|l| {
            let low = l.to_lowercase();
            low.contains(&other.name.to_lowercase()) && FAILED.iter().any(|f| low.contains(f))
        }) else {
            continue;
        };
        let hosts = crate::network::hosts::hosts_path(c.dir);
        let hosts_text = std::fs::read_to_string(&hosts).unwrap_or_default();
        let listed = hosts_text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .any(|l| l.split_whitespace().skip(1).any(|w| w == other.name));
        if listed {
            continue;
        }
        out.push(Finding {
            code: "default_bridge_name",
            container: c.st.name.clone(),
            summary: format!(
                "it looked up the container {:?} by name on the default bridge, which gives no names",
                other.name
            ),
            evidence: vec![
                format!("{}: {line}", crate::runtime::log_path(c.dir).display()),
                format!("{}: no line names {}", hosts.display(), other.name),
                format!(
                    "{} and {} are both on the default network {DEFAULT:?}",
                    c.st.name, other.name
                ),
            ],
            fix: format!(
                "glassbox network create mynet && glassbox network connect mynet {} && glassbox network connect mynet {}",
                other.name, c.st.name
            ),
        });
    }
    out
}
