//! Commands that describe images: `image inspect`, `history`, `layers`.
//! Thin: the library reads the blobs, this file only formats.

use super::Ctx;
use crate::explain::human_bytes;
use crate::image::inspect;
use crate::store::Store;
use clap::{Args, Subcommand};

/// Arguments of `glassbox image`.
#[derive(Debug, Args)]
pub struct ImageArgs {
    #[command(subcommand)]
    cmd: ImageCmd,
}

#[derive(Debug, Subcommand)]
enum ImageCmd {
    /// Print images as a JSON array shaped like `docker image inspect`
    Inspect(InspectArgs),
}

/// Arguments of `glassbox image inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Image references
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// `glassbox image ...`.
pub fn image(a: ImageArgs, ctx: &Ctx) -> crate::Result<i32> {
    match a.cmd {
        ImageCmd::Inspect(i) => {
            let store = Store::open(&ctx.root)?;
            let mut out = Vec::new();
            for r in &i.images {
                let img = store.resolve(r)?;
                out.push(inspect::inspect(&store, &img)?);
            }
            println!(
                "{}",
                serde_json::to_string_pretty(&out).expect("json serialises")
            );
            Ok(0)
        }
    }
}

/// Arguments of `glassbox history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Image reference
    pub image: String,
    /// Output format: table (default) or json (an array, newest first)
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
}

fn short_id(id: &str) -> &str {
    let h = id.strip_prefix("sha256:").unwrap_or(id);
    h.get(..12).unwrap_or(h)
}

/// Prints the history, newest first.
pub fn history(a: HistoryArgs, ctx: &Ctx) -> crate::Result<i32> {
    let store = Store::open(&ctx.root)?;
    let img = store.resolve(&a.image)?;
    let rows = inspect::history(&store, &img)?;
    if a.format == "json" {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).expect("json serialises")
        );
        return Ok(0);
    }
    println!(
        "{:<14} {:<16} {:<45} {:<10} COMMENT",
        "IMAGE", "CREATED", "CREATED BY", "SIZE"
    );
    for r in rows {
        let mut by = r.created_by.replace('\n', " ");
        if by.chars().count() > 44 {
            by = by.chars().take(43).collect::<String>() + "…";
        }
        let size = if r.empty_layer {
            "0 B (empty)".to_string()
        } else {
            human_bytes(r.size)
        };
        println!(
            "{:<14} {:<16} {:<45} {:<10} {}",
            short_id(&r.id),
            inspect::human_age(&r.created_at),
            by,
            size,
            r.comment
        );
    }
    Ok(0)
}

/// Arguments of `glassbox layers`.
#[derive(Debug, Args)]
pub struct LayersArgs {
    /// Image reference
    pub image: String,
    /// Output format: table (default) or json (an array, bottom to top)
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
}

/// Prints the layer stack, bottom to top.
pub fn layers(a: LayersArgs, ctx: &Ctx) -> crate::Result<i32> {
    let store = Store::open(&ctx.root)?;
    let img = store.resolve(&a.image)?;
    let sums = inspect::summarise(&store, &img)?;
    if a.format == "json" {
        println!(
            "{}",
            serde_json::to_string_pretty(&inspect::layers_json(&sums)).expect("json serialises")
        );
        return Ok(0);
    }
    println!("{} ({}), layers bottom to top:", a.image, short_id(&img.id));
    for (i, s) in sums.iter().enumerate() {
        println!(
            "#{i} digest {}  diff_id {}  {} compressed, {} uncompressed, {} entries",
            short_id(&s.layer.digest),
            short_id(&s.layer.diff_id),
            human_bytes(s.layer.size),
            human_bytes(s.uncompressed_size),
            s.files
        );
        let mut top = s.top_level.join(" ");
        if s.top_level.len() > 12 {
            top = s.top_level[..12].join(" ") + " …";
        }
        println!("   adds: {top}");
        if !s.first_files.is_empty() {
            println!("   first files: {}", s.first_files.join(", "));
        }
    }
    Ok(0)
}
