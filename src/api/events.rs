//! `GET /events`: the store's journal ([`crate::store::journal`]) as
//! moby streams it — one JSON object per line, replayed from `since`,
//! then followed as the engine appends, until `until` or until the client
//! goes. The CLI and the daemon write the same journal, so a container
//! made by `glassbox run` shows in a `docker events` started before it.
//!
//! Filters are moby's: keys are ANDed, values of one key ORed; `type` and
//! `event` match exactly (an `exec_start: sh` event matches
//! `event=exec_start`), `container`, `network` and `volume` match the
//! actor's id or name by prefix (whatever the event's type, as moby's), `image` the image named, and `label` an
//! attribute (`k` or `k=v`).

use super::routes::{error, Req, Resp};
use super::Daemon;
use crate::store::journal::{self, Record};
use hyper::StatusCode;
use std::time::Duration;

/// How often a follower looks for new lines.
const POLL: Duration = Duration::from_millis(100);

/// A `since` or `until` as the clients send it: unix seconds, possibly
/// with a fraction (`1700000000.123456789`); in nanoseconds.
pub fn parse_time(s: &str) -> Option<i64> {
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = secs.parse().ok()?;
    if !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut digits: String = frac.chars().take(9).collect();
    while digits.len() < 9 {
        digits.push('0');
    }
    let nanos: i64 = digits.parse().ok()?;
    Some(secs * 1_000_000_000 + nanos)
}

/// The request's filters, grouped by key.
pub struct Filters(Vec<(String, String)>);

impl Filters {
    /// From `(key, value)` pairs as [`Req::filters`] gives them.
    pub fn new(pairs: Vec<(String, String)>) -> Filters {
        Filters(pairs)
    }

    fn values(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether `any` of the values of `key` fits, or `key` is not given.
    fn each(&self, key: &str, fits: impl Fn(&str) -> bool) -> bool {
        let vals = self.values(key);
        vals.is_empty() || vals.into_iter().any(fits)
    }

    /// Whether `rec` passes every filter.
    pub fn admit(&self, rec: &Record) -> bool {
        let fuzzy = |v: &str| rec.actor.id.starts_with(v) || rec.attr("name").starts_with(v);
        let action = rec.action.split(':').next().unwrap_or("");
        self.each("type", |v| rec.kind == v)
            && self.each("event", |v| rec.action == v || action == v)
            // As moby's: these match any event's actor, whatever its type.
            && self.each("container", fuzzy)
            && self.each("network", fuzzy)
            && self.each("volume", fuzzy)
            && self.each("image", |v| {
                let named = [rec.attr("image"), rec.attr("name"), rec.actor.id.as_str()];
                named.iter().any(|n| same_image(n, v))
            })
            && self.each("label", |v| match v.split_once('=') {
                Some((k, want)) => rec.actor.attributes.get(k).is_some_and(|x| x == want),
                None => rec.actor.attributes.contains_key(v),
            })
    }
}

/// `busybox` and `busybox:latest` name the same image; an id matches by
/// prefix, with or without `sha256:`.
fn same_image(named: &str, want: &str) -> bool {
    if named.is_empty() {
        return false;
    }
    let tagged = |s: &str| {
        let last = s.rsplit('/').next().unwrap_or(s);
        if last.contains(':') || s.contains('@') {
            s.to_string()
        } else {
            format!("{s}:latest")
        }
    };
    named == want
        || tagged(named) == tagged(want)
        || (want.len() >= 12
            && named
                .trim_start_matches("sha256:")
                .starts_with(want.trim_start_matches("sha256:")))
}

/// One event as `/events` sends it: moby's message, with the old-style
/// `status`, `id` (and `from` for containers) that docker-py and compose
/// v1 read.
pub fn message(rec: &Record) -> serde_json::Value {
    let mut v = serde_json::to_value(rec).unwrap_or_default();
    if rec.kind == "container" || rec.kind == "image" {
        v["status"] = rec.action.clone().into();
        v["id"] = rec.actor.id.clone().into();
        if rec.kind == "container" {
            v["from"] = rec.attr("image").into();
        }
    }
    v
}

/// Whether an event is one docker would send: glassbox's own
/// `push_failed` and `pull_failed` stay in the journal for `doctor`.
fn docker_sends(rec: &Record) -> bool {
    !rec.action.ends_with("_failed")
}

/// `GET /events?since=&until=&filters=`.
pub fn events(d: &Daemon, r: &Req) -> Resp {
    let since = match r.q("since").filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => match parse_time(s) {
            Some(t) => Some(t),
            None => return bad_time("since", s),
        },
    };
    let until = match r.q("until").filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => match parse_time(s) {
            Some(t) => Some(t),
            None => return bad_time("until", s),
        },
    };
    let filters = Filters::new(r.filters());
    let root = d.root.clone();
    let (tx, body) = super::Body::channel();
    std::thread::spawn(move || {
        let now = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|t| t.as_nanos() as i64)
                .unwrap_or(0)
        };
        // With `since` or `until`, the journal from its start (lines
        // outside the window dropped by time), as dockerd replays its
        // buffer; without, only what comes from now on.
        let replay = since.is_some() || until.is_some();
        let mut follower = if replay {
            journal::Follower::from_start(&root)
        } else {
            journal::Follower::from_end(&root)
        };
        let mut backlog = if replay {
            follower.read_old()
        } else {
            Vec::new()
        };
        loop {
            backlog.extend(follower.poll());
            for rec in backlog.drain(..) {
                if since.is_some_and(|s| rec.time_nano < s) {
                    continue;
                }
                if until.is_some_and(|u| rec.time_nano > u) {
                    return;
                }
                if docker_sends(&rec) && filters.admit(&rec) && !tx.json(&message(&rec)) {
                    return;
                }
            }
            if tx.closed() || until.is_some_and(|u| now() > u) {
                return;
            }
            std::thread::sleep(POLL);
        }
    });
    hyper::Response::builder()
        .status(StatusCode::OK)
        .header("Content-Type", "application/json")
        .body(body)
        .expect("a response from fixed parts")
}

fn bad_time(what: &str, s: &str) -> Resp {
    error(
        StatusCode::BAD_REQUEST,
        &format!("{what}={s:?} is not a time: give unix seconds, as 1700000000 or 1700000000.5"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(kind: &str, action: &str, id: &str, attrs: &[(&str, &str)]) -> Record {
        let a: Vec<(&str, String)> = attrs.iter().map(|(k, v)| (*k, v.to_string())).collect();
        Record::now(kind, action, id, &a)
    }

    fn f(pairs: &[(&str, &str)]) -> Filters {
        Filters::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn times_take_fractions_and_refuse_words() {
        assert_eq!(parse_time("12"), Some(12_000_000_000));
        assert_eq!(parse_time("12.5"), Some(12_500_000_000));
        assert_eq!(parse_time("12.000000001"), Some(12_000_000_001));
        assert_eq!(parse_time("soon"), None);
        assert_eq!(parse_time("1.x"), None);
    }

    #[test]
    fn filters_match_as_moby_does() {
        let die = rec(
            "container",
            "die",
            "abcdef0123456789",
            &[
                ("name", "web"),
                ("image", "busybox"),
                ("exitCode", "0"),
                ("tier", "front"),
            ],
        );
        assert!(f(&[]).admit(&die));
        assert!(f(&[("event", "die"), ("event", "start")]).admit(&die));
        assert!(!f(&[("event", "start")]).admit(&die));
        assert!(f(&[("type", "container"), ("container", "web")]).admit(&die));
        assert!(f(&[("container", "abcdef")]).admit(&die));
        assert!(!f(&[("container", "db")]).admit(&die));
        assert!(f(&[("image", "busybox:latest")]).admit(&die));
        assert!(!f(&[("image", "alpine")]).admit(&die));
        assert!(f(&[("label", "tier=front")]).admit(&die));
        assert!(f(&[("label", "tier")]).admit(&die));
        assert!(!f(&[("label", "tier=back")]).admit(&die));
        let exec = rec(
            "container",
            "exec_start: sh -c true",
            "abc",
            &[("name", "web")],
        );
        assert!(f(&[("event", "exec_start")]).admit(&exec));
        let net = rec(
            "network",
            "connect",
            "n1",
            &[("name", "front"), ("container", "abc")],
        );
        assert!(f(&[("network", "front")]).admit(&net));
        assert!(!f(&[("type", "container")]).admit(&net));
    }

    #[test]
    fn container_messages_carry_the_old_fields() {
        let m = message(&rec("container", "start", "abc", &[("image", "busybox")]));
        assert_eq!(m["status"], "start");
        assert_eq!(m["id"], "abc");
        assert_eq!(m["from"], "busybox");
        assert_eq!(m["Actor"]["Attributes"]["image"], "busybox");
        assert_eq!(m["scope"], "local");
        let n = message(&rec("network", "create", "n1", &[]));
        assert!(n.get("status").is_none());
    }
}
