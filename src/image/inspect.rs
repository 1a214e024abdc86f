//! Describing images: `image inspect` (shaped like `docker image inspect`),
//! `history` (one row per config history entry, newest first) and `layers`
//! (the layer stack bottom to top, with what each layer added). Everything
//! is read from the blobs themselves: layer sizes and file counts come from
//! streaming each layer's tar once.

use crate::error::IoContext;
use crate::store::{Image, LayerRef, Store};
use crate::Result;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// How many added paths `layers` lists per layer.
pub const ADDED_SHOWN: usize = 5;

/// What one layer holds, learned by reading its tar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerSummary {
    /// The layer.
    pub layer: LayerRef,
    /// Bytes of the uncompressed tar.
    pub uncompressed_size: u64,
    /// Tar entries (files, directories, links, whiteouts).
    pub files: u64,
    /// Top-level paths the layer touches, sorted.
    pub top_level: Vec<String>,
    /// The first regular files or links it adds, in tar order.
    pub first_files: Vec<String>,
}

/// Counts bytes passing through a reader.
struct Counting<R> {
    inner: R,
    n: u64,
}

impl<R: std::io::Read> std::io::Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        Ok(n)
    }
}

/// Reads layer `l`'s blob and summarises it.
pub fn summarise_layer(store: &Store, l: &LayerRef) -> Result<LayerSummary> {
    let path = store.blob_path(&l.digest)?;
    let f = std::fs::File::open(&path).ctx(|| format!("opening layer blob {}", l.digest))?;
    let mut counting = Counting {
        inner: flate2::read::GzDecoder::new(f),
        n: 0,
    };
    let (mut files, mut top, mut first) = (0u64, BTreeSet::new(), Vec::new());
    {
        let mut ar = tar::Archive::new(&mut counting);
        let bad = |e: std::io::Error| crate::Error::Io {
            context: format!("reading layer {} (run `glassbox store verify`)", l.digest),
            source: e,
        };
        for e in ar.entries().map_err(bad)? {
            let e = e.map_err(bad)?;
            let p = e.path().map_err(bad)?.display().to_string();
            let p = p.trim_start_matches("./").trim_end_matches('/').to_string();
            if p.is_empty() || p == "." {
                continue;
            }
            files += 1;
            if let Some(t) = p.split('/').next() {
                top.insert(t.to_string());
            }
            if !e.header().entry_type().is_dir() && first.len() < ADDED_SHOWN {
                first.push(p);
            }
        }
    }
    // Drain the end-of-archive padding so the size is the whole tar.
    std::io::copy(&mut counting, &mut std::io::sink())
        .ctx(|| format!("reading layer {}", l.digest))?;
    Ok(LayerSummary {
        layer: l.clone(),
        uncompressed_size: counting.n,
        files,
        top_level: top.into_iter().collect(),
        first_files: first,
    })
}

/// Summaries of every layer of `img`, bottom to top.
pub fn summarise(store: &Store, img: &Image) -> Result<Vec<LayerSummary>> {
    img.layers
        .iter()
        .map(|l| summarise_layer(store, l))
        .collect()
}

/// The `docker image inspect` object of `img`.
pub fn inspect(store: &Store, img: &Image) -> Result<Value> {
    let summaries = summarise(store, img)?;
    let size: u64 = summaries.iter().map(|s| s.uncompressed_size).sum();
    let cfg = serde_json::to_value(&img.config).expect("a config serialises");
    let c = cfg.get("config").cloned().unwrap_or(json!({}));
    let pick = |k: &str| c.get(k).cloned().unwrap_or(Value::Null);
    // As docker: repo digests are what a registry knows the image by, so
    // only a push or a pull records them (an image built here has none).
    let repo_digests = store.repo_digests(&img.manifest_digest)?;
    let history = cfg.get("history").cloned().unwrap_or(json!([]));
    let comment = history
        .as_array()
        .and_then(|h| h.last())
        .and_then(|h| h.get("comment"))
        .cloned()
        .unwrap_or(json!(""));
    Ok(json!({
        "Id": img.id,
        "RepoTags": img.repo_tags,
        "RepoDigests": repo_digests,
        "Parent": "",
        "Comment": comment,
        "Created": cfg.get("created").cloned().unwrap_or(json!("")),
        "DockerVersion": "",
        "Author": cfg.get("author").cloned().unwrap_or(json!("")),
        "Config": {
            "User": c.get("User").cloned().unwrap_or(json!("")),
            "ExposedPorts": pick("ExposedPorts"),
            "Env": pick("Env"),
            "Cmd": pick("Cmd"),
            "Volumes": pick("Volumes"),
            "WorkingDir": c.get("WorkingDir").cloned().unwrap_or(json!("")),
            "Entrypoint": pick("Entrypoint"),
            "Labels": pick("Labels"),
            "StopSignal": pick("StopSignal"),
        },
        "Architecture": cfg.get("architecture").cloned().unwrap_or(json!("")),
        "Os": cfg.get("os").cloned().unwrap_or(json!("")),
        "Size": size,
        "GraphDriver": {
            "Name": "overlay",
            // As dockerd writes it: a map of strings (the docker CLI
            // refuses anything else), the layers as overlayfs's
            // `lowerdir=` takes them, topmost first, `:`-separated.
            "Data": {"LowerDir": img.layers.iter().rev()
                .map(|l| store.layers_dir().join(&l.chain_id[7..]).display().to_string())
                .collect::<Vec<_>>()
                .join(":")},
        },
        "RootFS": {
            "Type": "layers",
            "Layers": img.layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>(),
        },
        "Metadata": {"ManifestDigest": img.manifest_digest},
        "History": history,
    }))
}

/// One row of `history`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HistoryRow {
    /// The image ID on the newest row, `<missing>` below (as docker).
    #[serde(rename = "ID")]
    pub id: String,
    /// RFC 3339 creation time (may be empty).
    pub created_at: String,
    /// The command that made this step.
    pub created_by: String,
    /// Uncompressed bytes of the layer this step made (0 when empty).
    pub size: u64,
    /// The step's comment.
    pub comment: String,
    /// True when the step made no layer (ENV, CMD, ...).
    pub empty_layer: bool,
    /// The diff_id of the layer this step made, if any.
    #[serde(rename = "DiffID")]
    pub diff_id: Option<String>,
}

/// The history of `img`, newest first. Entries that are not empty layers
/// are matched to the layers in order; an image without history gets one
/// row per layer.
pub fn history(store: &Store, img: &Image) -> Result<Vec<HistoryRow>> {
    let summaries = summarise(store, img)?;
    let mut layers = summaries.iter();
    let mut rows = Vec::new();
    let hist = img.config.history().clone().unwrap_or_default();
    if hist.is_empty() {
        for s in layers.by_ref() {
            rows.push(HistoryRow {
                id: "<missing>".into(),
                created_at: String::new(),
                created_by: String::new(),
                size: s.uncompressed_size,
                comment: String::new(),
                empty_layer: false,
                diff_id: Some(s.layer.diff_id.clone()),
            });
        }
    }
    for h in hist {
        let empty = h.empty_layer().unwrap_or(false);
        let layer = if empty { None } else { layers.next() };
        rows.push(HistoryRow {
            id: "<missing>".into(),
            created_at: h.created().clone().unwrap_or_default(),
            created_by: h.created_by().clone().unwrap_or_default(),
            size: layer.map(|s| s.uncompressed_size).unwrap_or(0),
            comment: h.comment().clone().unwrap_or_default(),
            empty_layer: empty,
            diff_id: layer.map(|s| s.layer.diff_id.clone()),
        });
    }
    rows.reverse();
    if let Some(top) = rows.first_mut() {
        top.id = img.id.clone();
    }
    Ok(rows)
}

/// "3 days ago"-style age of an RFC 3339 time, as docker prints it.
pub fn human_age(rfc3339: &str) -> String {
    match seconds_since(rfc3339) {
        Some(secs) => format!("{} ago", human_duration(secs)),
        None => "N/A".into(),
    }
}

/// Whole seconds from an RFC 3339 time to now (0 if it is in the future).
pub fn seconds_since(rfc3339: &str) -> Option<i64> {
    let t = chrono::DateTime::parse_from_rfc3339(rfc3339).ok()?;
    Some((chrono::Utc::now().timestamp() - t.timestamp()).max(0))
}

/// A duration in words, the way docker's `ps` and `images` print ages
/// ("Less than a second", "About a minute", "3 hours", "2 weeks").
pub fn human_duration(secs: i64) -> String {
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    let minutes = secs / 60;
    let hours = (secs + 1800) / 3600;
    match secs {
        s if s < 1 => "Less than a second".into(),
        s if s < 60 => plural(s, "second"),
        _ if minutes == 1 => "About a minute".into(),
        _ if minutes < 60 => plural(minutes, "minute"),
        _ if hours == 1 => "About an hour".into(),
        _ if hours < 48 => plural(hours, "hour"),
        _ if hours < 24 * 7 * 2 => plural(hours / 24, "day"),
        _ if hours < 24 * 30 * 2 => plural(hours / 24 / 7, "week"),
        _ if hours < 24 * 365 * 2 => plural(hours / 24 / 30, "month"),
        _ => plural(secs / 3600 / 24 / 365, "year"),
    }
}

/// The `layers` JSON of `img`: bottom to top.
pub fn layers_json(summaries: &[LayerSummary]) -> Value {
    Value::Array(
        summaries
            .iter()
            .enumerate()
            .map(|(i, s)| {
                json!({
                    "Index": i,
                    "Digest": s.layer.digest,
                    "DiffID": s.layer.diff_id,
                    "ChainID": s.layer.chain_id,
                    "Size": s.layer.size,
                    "UncompressedSize": s.uncompressed_size,
                    "Files": s.files,
                    "TopLevel": s.top_level,
                    "FirstFiles": s.first_files,
                })
            })
            .collect(),
    )
}
