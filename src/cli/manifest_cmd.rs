//! `glassbox manifest create|inspect`: image indexes in the store (as
//! `docker manifest` and `podman manifest` have them). Thin: the library
//! does the work; `glassbox push` sends an index like an image.

use super::Ctx;
use crate::reference::Reference;
use crate::store::Store;
use clap::{Args, Subcommand};

/// `glassbox manifest ...`
#[derive(Debug, Subcommand)]
pub enum ManifestCommand {
    /// Make an image index of images in the store, one per platform: manifest create localhost:5001/app:1 app-amd64 app-arm64
    Create(CreateArgs),
    /// Print the index (or image manifest) a reference names in the store, as JSON
    Inspect(InspectArgs),
}

/// Arguments of `glassbox manifest create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The index's name:tag
    pub index: String,
    /// The images it lists (each with the platform its config names)
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// Arguments of `glassbox manifest inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// An index or image in the store
    pub reference: String,
}

/// Runs a manifest subcommand.
pub fn run(c: ManifestCommand, ctx: &Ctx) -> crate::Result<i32> {
    let store = Store::open(&ctx.root)?;
    match c {
        ManifestCommand::Create(a) => {
            let made = crate::image::index::create(&store, &a.index, &a.images)?;
            println!(
                "{}: index {} ({})",
                made.tag,
                made.digest,
                made.platforms.join(", ")
            );
            Ok(0)
        }
        ManifestCommand::Inspect(a) => {
            let r = Reference::parse(&a.reference)?;
            let e = store
                .tag_entry(&r)?
                .ok_or_else(|| crate::store::MissingImage(r.to_string()))?;
            let bytes = store.read_blob(&e.digest)?;
            let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|err| {
                crate::Error::Usage(format!("{} in the store is not JSON: {err}", e.digest))
            })?;
            println!(
                "{}",
                serde_json::to_string_pretty(&v).expect("JSON serialises")
            );
            Ok(0)
        }
    }
}
