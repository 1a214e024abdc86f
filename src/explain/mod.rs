//! Explanations are data: one minijinja template per event `kind.action`,
//! under `src/explain/templates/`, embedded at build time.
//!
//! A template file holds the *brief* explanation (one or two sentences, shown
//! under each narrated line), then a line `---`, then the *full* explanation
//! (what the kernel does, what to look at, what can go wrong). Both are
//! rendered with the event's fields as variables, plus `subject`, `action`,
//! `kind`, `equivalent` and `syscall`. The book's "Every event, explained"
//! chapter is generated from the same files.

use crate::trace::Event;
use minijinja::Environment;
use std::sync::OnceLock;

include!(concat!(env!("OUT_DIR"), "/templates.rs"));

/// How much explanation to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Level {
    /// No explanation.
    Off,
    /// One or two sentences.
    #[default]
    Brief,
    /// The whole story.
    Full,
}

/// The two halves of one template file.
#[derive(Debug, Clone, Copy)]
pub struct Template {
    /// `kind.action`.
    pub key: &'static str,
    /// The brief explanation's source.
    pub brief: &'static str,
    /// The full explanation's source (the brief one when there is none).
    pub full: &'static str,
}

fn split(key: &'static str, src: &'static str) -> Template {
    match src.split_once("\n---\n") {
        Some((brief, full)) => Template {
            key,
            brief: brief.trim(),
            full: full.trim(),
        },
        None => Template {
            key,
            brief: src.trim(),
            full: src.trim(),
        },
    }
}

/// Every template, sorted by key.
pub fn all() -> Vec<Template> {
    TEMPLATES.iter().map(|(k, s)| split(k, s)).collect()
}

/// The template for `kind.action`, if there is one.
pub fn template(key: &str) -> Option<Template> {
    TEMPLATES
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(k, s)| split(k, s))
}

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Lenient);
        if let Ok(syntax) = env
            .syntax()
            .to_builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
        {
            env.set_syntax(syntax);
        }
        env.add_filter("short", short_digest);
        env.add_filter("bytes", human_bytes);
        for (k, s) in TEMPLATES {
            let t = split(k, s);
            env.add_template(Box::leak(format!("{k}.brief").into_boxed_str()), t.brief)
                .expect("brief template parses");
            env.add_template(Box::leak(format!("{k}.full").into_boxed_str()), t.full)
                .expect("full template parses");
        }
        env
    })
}

/// `sha256:4f3c2a…` → `4f3c2a1b9e0d` (12 hex digits), like `docker images`.
pub fn short_digest(s: String) -> String {
    let hex = s.strip_prefix("sha256:").unwrap_or(&s);
    hex.chars().take(12).collect()
}

/// 1536 → `1.5 KiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

fn context(ev: &Event) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for (k, v) in &ev.fields {
        map.insert(k.clone(), v.clone());
    }
    map.insert("subject".into(), ev.subject.clone().into());
    map.insert("action".into(), ev.action.clone().into());
    map.insert("kind".into(), ev.kind.as_str().into());
    map.insert(
        "stage".into(),
        serde_json::to_value(ev.stage).unwrap_or_default(),
    );
    if let Some(e) = &ev.equivalent {
        map.insert("equivalent".into(), e.clone().into());
    }
    if let Some(s) = &ev.syscall {
        map.insert("syscall".into(), s.clone().into());
    }
    serde_json::Value::Object(map)
}

/// Renders the explanation of `ev` at `level`; `None` when the level is off
/// or the event has no template.
pub fn render(ev: &Event, level: Level) -> Option<String> {
    let suffix = match level {
        Level::Off => return None,
        Level::Brief => "brief",
        Level::Full => "full",
    };
    let tmpl = env().get_template(&format!("{}.{suffix}", ev.key())).ok()?;
    tmpl.render(minijinja::value::Value::from(minijinja::value::Serde(
        context(ev),
    )))
    .ok()
    .map(|s| s.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses_and_renders_without_fields() {
        assert!(!TEMPLATES.is_empty());
        for t in all() {
            let (kind, action) = t.key.split_once('.').expect("kind.action");
            let kind = crate::trace::Kind::parse(kind)
                .unwrap_or_else(|| panic!("{}: unknown kind", t.key));
            let ev = Event {
                seq: 1,
                stage: crate::trace::Stage::Done,
                phase: vec![],
                kind,
                action: action.into(),
                subject: "x".into(),
                fields: Default::default(),
                equivalent: None,
                syscall: None,
                ts_us: 0,
                duration_us: None,
                pid: 1,
            };
            assert!(render(&ev, Level::Brief).is_some(), "{} brief", t.key);
            assert!(render(&ev, Level::Full).is_some(), "{} full", t.key);
            assert!(!t.brief.is_empty(), "{} has an empty brief text", t.key);
        }
    }
}

/// The book's "Every event, explained" chapter, generated from the same
/// templates the engine renders. Placeholders show as `⟨field⟩`.
pub fn book_chapter() -> String {
    let mut out = String::from(
        "# Every event, explained\n\n\
         <!-- generated by `glassbox explain --book`; do not edit by hand -->\n\n\
         Every step glassbox takes is an *event* of a kind and an action. These are\n\
         the explanations the narration shows under each step, from the same\n\
         templates the engine uses. `⟨name⟩` stands for a fact of the event.\n",
    );
    let mut kind = "";
    for t in all() {
        let k = t.key.split('.').next().unwrap_or("");
        if k != kind {
            kind = k;
            out.push_str(&format!("\n## {k}\n"));
        }
        out.push_str(&format!(
            "\n### `{}`\n\n**In brief:** {}\n\n{}\n",
            t.key,
            placeholders(t.brief),
            placeholders(t.full)
        ));
    }
    out
}

/// `{{ digest | short }}` → `⟨digest⟩`; `{% … %}` tags dropped.
fn placeholders(src: &str) -> String {
    let mut out = String::new();
    let mut rest = src;
    while let Some(i) = rest.find(['{']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(body) = tail.strip_prefix("{{") {
            let end = body.find("}}").unwrap_or(body.len());
            let name = body[..end]
                .split('|')
                .next()
                .unwrap_or("")
                .trim()
                .to_string();
            out.push_str(&format!("⟨{name}⟩"));
            rest = body.get(end + 2..).unwrap_or("");
        } else if let Some(body) = tail.strip_prefix("{%") {
            let end = body.find("%}").unwrap_or(body.len());
            rest = body.get(end + 2..).unwrap_or("");
        } else {
            out.push('{');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}
