//! A store-wide check: the last push or pull the store's journal
//! ([`crate::store::journal`]) records, when it failed because the
//! registry was not running (`registry_unreachable`) or wanted a login
//! (`registry_needs_login`). A later transfer that worked clears it: the
//! journal's last word on transfers is what counts.

use super::Finding;
use crate::store::journal::{self, Record};
use std::path::Path;

fn is_transfer(r: &Record) -> bool {
    r.kind == "image"
        && matches!(
            r.action.as_str(),
            "push" | "pull" | "push_failed" | "pull_failed"
        )
}

/// `host:port` of the registry a reference names.
fn registry_of(r: &Record) -> String {
    if !r.attr("registry").is_empty() {
        return r.attr("registry").to_string();
    }
    crate::reference::Reference::parse(r.attr("name"))
        .map(|x| x.registry())
        .unwrap_or_default()
}

/// The finding from the journal of `root`, if its last transfer failed
/// for a reason a beginner can fix.
pub(crate) fn check(root: &Path) -> Option<Finding> {
    let (rec, file, line) = journal::last_matching(root, is_transfer)?;
    let verb = rec.action.strip_suffix("_failed")?;
    let reference = rec.attr("name").to_string();
    let registry = registry_of(&rec);
    let when = chrono::DateTime::from_timestamp(rec.time, 0)
        .map(|t| {
            format!(
                "{} ({})",
                t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                ago((chrono::Utc::now() - t).num_seconds())
            )
        })
        .unwrap_or_default();
    let retry = format!("glassbox {verb} {reference}");
    let mut evidence = vec![format!(
        "{} line {line}: {verb} of {reference} at {when} failed: {}",
        file.display(),
        rec.attr("error")
    )];
    let (code, summary, fix) = match rec.attr("reason") {
        "unreachable" => {
            let local = registry.starts_with("127.") || registry.starts_with("localhost");
            let fix = if local {
                let port = registry.rsplit(':').next().unwrap_or("5001");
                evidence.push(format!(
                    "nothing accepted a connection on {registry}: no registry runs there"
                ));
                format!("glassbox registry serve --addr 127.0.0.1:{port} & sleep 1; {retry}")
            } else {
                evidence.push(format!("the connection to {registry} failed"));
                format!("curl -sv http://{registry}/v2/ && {retry}")
            };
            (
                "registry_unreachable",
                format!("the last {verb} ({reference}) failed: no registry answers at {registry}"),
                fix,
            )
        }
        "needs_login" => {
            evidence.push(format!(
                "{registry} answered 401 UNAUTHORIZED: it wants a user name and password"
            ));
            let file = crate::registry::client::auth::auth_file();
            evidence.push(match crate::registry::client::auth::stored_credentials(&registry) {
                Ok(None) => format!(
                    "{}: no login for {registry} (`glassbox login` stores one there)",
                    file.display()
                ),
                Ok(Some(c)) => format!(
                    "{}: a login for {registry} as {}: stored after that {verb}, or refused by the registry",
                    file.display(),
                    c.username
                ),
                Err(e) => e.to_string(),
            });
            (
                "registry_needs_login",
                format!("the last {verb} ({reference}) failed: {registry} needs a login"),
                format!("glassbox login {registry} -u USER && {retry}"),
            )
        }
        _ => return None,
    };
    Some(Finding {
        code,
        container: format!("registry {registry}"),
        summary,
        evidence,
        fix,
    })
}

/// How long ago, in words: `12 seconds ago`, `3 minutes ago`.
fn ago(secs: i64) -> String {
    let secs = secs.max(0);
    let (n, unit) = match secs {
        0..60 => (secs, "second"),
        60..3600 => (secs / 60, "minute"),
        3600..86400 => (secs / 3600, "hour"),
        _ => (secs / 86400, "day"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_age_reads_in_the_largest_whole_unit() {
        assert_eq!(super::ago(1), "1 second ago");
        assert_eq!(super::ago(59), "59 seconds ago");
        assert_eq!(super::ago(150), "2 minutes ago");
        assert_eq!(super::ago(7200), "2 hours ago");
        assert_eq!(super::ago(-3), "0 seconds ago");
    }
}
