//! `glassbox artifact attach|ls|pull`: files attached to an image on a
//! registry through the manifest's `subject` (distribution-spec 1.1), as
//! `oras attach`, `oras discover` and `oras pull` present them. Thin: the
//! library (`registry::client::artifact`) does the work.

use super::Ctx;
use crate::registry::client::artifact::{self, FileSpec};
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// `glassbox artifact ...`
#[derive(Debug, Subcommand)]
pub enum ArtifactCommand {
    /// Push files as an artifact that refers to an image: attach --artifact-type application/vnd.example.sbom+json localhost:5001/busybox:1 sbom.json
    Attach(AttachArgs),
    /// List the artifacts that refer to an image (the referrers API, or the sha256-… tag)
    Ls(LsArgs),
    /// Fetch an artifact's files into a directory
    Pull(PullArgs),
}

/// Arguments of `glassbox artifact attach`.
#[derive(Debug, Args)]
pub struct AttachArgs {
    /// What the artifact is, as a media type (application/vnd.example.sbom+json)
    #[arg(long)]
    pub artifact_type: String,
    /// The image it is about, on its registry: localhost:5001/busybox:1 (or @sha256:…)
    #[arg(long)]
    pub subject: Option<String>,
    /// KEY=VALUE annotations of the artifact manifest (none by default: no timestamp)
    #[arg(long = "annotation", value_name = "KEY=VALUE")]
    pub annotations: Vec<String>,
    /// The subject (when --subject is not given), then the files: FILE or FILE:MEDIA/TYPE
    #[arg(required = true)]
    pub args: Vec<String>,
}

/// Arguments of `glassbox artifact ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// The image: localhost:5001/busybox:1
    pub subject: String,
    /// Only artifacts of this type
    #[arg(long)]
    pub artifact_type: Option<String>,
    /// Output format: tree (default) or json
    #[arg(long, default_value = "tree", value_parser = ["tree", "json"])]
    pub format: String,
}

/// Arguments of `glassbox artifact pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// The artifact (localhost:5001/busybox@sha256:…, as `artifact ls` lists it), or with --artifact-type the image it refers to
    pub reference: String,
    /// Pull the one artifact of this type that refers to REFERENCE
    #[arg(long)]
    pub artifact_type: Option<String>,
    /// Where the files go (made if missing; existing files are not overwritten)
    #[arg(short = 'o', long, default_value = ".")]
    pub output: PathBuf,
}

/// Runs an artifact subcommand.
pub fn run(c: ArtifactCommand, _ctx: &Ctx) -> crate::Result<i32> {
    match c {
        ArtifactCommand::Attach(a) => attach(a),
        ArtifactCommand::Ls(a) => ls(a),
        ArtifactCommand::Pull(a) => pull(a),
    }
}

fn attach(a: AttachArgs) -> crate::Result<i32> {
    let (subject, files) = match a.subject {
        Some(s) => (s, a.args),
        None => {
            let mut it = a.args.into_iter();
            let s = it.next().unwrap_or_default();
            (s, it.collect())
        }
    };
    if files.is_empty() {
        return Err(crate::Error::Usage(
            "artifact attach needs at least one file to attach".into(),
        ));
    }
    let mut annotations = Vec::new();
    for kv in &a.annotations {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| crate::Error::Usage(format!("--annotation {kv:?} is not KEY=VALUE")))?;
        annotations.push((k.to_string(), v.to_string()));
    }
    let files: Vec<FileSpec> = files.iter().map(|f| FileSpec::parse(f)).collect();
    let rep = artifact::attach(&subject, &a.artifact_type, &files, &annotations)?;
    let name = subject
        .split_once('@')
        .map(|(n, _)| n.to_string())
        .unwrap_or_else(|| {
            crate::reference::Reference::parse(&subject)
                .map(|r| r.name)
                .unwrap_or_default()
        });
    println!(
        "Attached to {} ({}): {name}@{} ({} file(s), {} blob(s) uploaded; {})",
        rep.subject,
        rep.subject_digest,
        rep.digest,
        rep.files,
        rep.uploaded,
        if rep.via == "api" {
            "the registry indexed it: OCI-Subject"
        } else {
            "no referrers API: added to the tag sha256-…"
        }
    );
    Ok(0)
}

fn ls(a: LsArgs) -> crate::Result<i32> {
    let d = artifact::discover(&a.subject, a.artifact_type.as_deref())?;
    if a.format == "json" {
        println!(
            "{}",
            serde_json::to_string_pretty(&d).expect("JSON serialises")
        );
        return Ok(0);
    }
    let name = crate::reference::Reference::parse(&a.subject)
        .map(|r| r.name)
        .unwrap_or_default();
    println!("{name}@{}", d.digest);
    // Grouped by artifact type, as `oras discover` draws it.
    let mut types: Vec<&str> = Vec::new();
    for r in &d.referrers {
        let t = r.artifact_type.as_deref().unwrap_or("(no artifact type)");
        if !types.contains(&t) {
            types.push(t);
        }
    }
    for (i, t) in types.iter().enumerate() {
        let last_type = i + 1 == types.len();
        println!("{} {t}", if last_type { "└──" } else { "├──" });
        let of: Vec<_> = d
            .referrers
            .iter()
            .filter(|r| r.artifact_type.as_deref().unwrap_or("(no artifact type)") == *t)
            .collect();
        for (j, r) in of.iter().enumerate() {
            println!(
                "{}   {} {}",
                if last_type { " " } else { "│" },
                if j + 1 == of.len() {
                    "└──"
                } else {
                    "├──"
                },
                r.digest
            );
        }
    }
    if d.referrers.is_empty() {
        println!(
            "(no referrers{})",
            if d.via == "tag" {
                "; the registry has no referrers API and no sha256-… tag"
            } else {
                ""
            }
        );
    }
    Ok(0)
}

fn pull(a: PullArgs) -> crate::Result<i32> {
    let p = artifact::pull_files(&a.reference, &a.output, a.artifact_type.as_deref())?;
    for f in &p.files {
        println!("{} {} ({} bytes)", f.path.display(), f.digest, f.size);
    }
    println!(
        "Pulled {} ({}): {} file(s)",
        p.digest,
        p.artifact_type,
        p.files.len()
    );
    Ok(0)
}
