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
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
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
                "{registry} answered 401 UNAUTHORIZED: it wants credentials this store has none of (or refused them)"
            ));
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
