//! Moving images in and out of the store as files: `import`, `save`,
//! `load`. Thin: the library does the work.

use super::Ctx;
use crate::image::{archive, import};
use crate::reference::Reference;
use crate::store::Store;
use clap::Args;
use std::path::PathBuf;

/// Arguments of `glassbox import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A rootfs tarball (.tar or .tar.gz), or - for stdin
    pub file: String,
    /// The name:tag to give the new image
    pub reference: String,
}

/// Imports a rootfs tarball as a one-layer image.
pub fn import(a: ImportArgs, ctx: &Ctx) -> crate::Result<i32> {
    let tag = Reference::parse(&a.reference)?;
    if tag.name_tag().is_none() {
        return Err(crate::Error::Usage(format!(
            "cannot import as a digest reference {tag}; give name:tag"
        )));
    }
    let input = import::open_input(&a.file)?;
    let store = Store::open(&ctx.root)?;
    let img = import::import(&store, &a.file, input, &tag)?;
    println!("{}", img.id);
    Ok(0)
}

/// Arguments of `glassbox save`.
#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Image references to save
    #[arg(required = true)]
    pub images: Vec<String>,
    /// The OCI archive to write
    #[arg(short, long)]
    pub output: PathBuf,
}

/// Writes images as an OCI image archive.
pub fn save(a: SaveArgs, ctx: &Ctx) -> crate::Result<i32> {
    let store = Store::open(&ctx.root)?;
    archive::save(&store, &a.images, &a.output)?;
    Ok(0)
}

/// Arguments of `glassbox load`.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// An OCI archive or a docker-archive (`docker save`), or - for stdin
    #[arg(short, long, default_value = "-")]
    pub input: String,
}

/// Loads images from an archive.
pub fn load(a: LoadArgs, ctx: &Ctx) -> crate::Result<i32> {
    let input = import::open_input(&a.input)?;
    let store = Store::open(&ctx.root)?;
    for (tags, img) in archive::load(&store, &a.input, input)? {
        for t in tags {
            println!("Loaded image: {t} ({})", img.id);
        }
    }
    Ok(0)
}
