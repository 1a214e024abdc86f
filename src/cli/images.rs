//! Image commands: `setup` and `images`. Thin: each calls the library.

use super::Ctx;
use crate::store::Store;
use clap::Args;

/// Arguments of `glassbox setup`.
#[derive(Debug, Args)]
pub struct SetupArgs {
    /// Also install what `compare vm` needs (qemu-system-x86, linux-image-amd64) with apt-get
    #[arg(long)]
    pub vm: bool,
    /// Also build registry:2, glassbox's own registry server as an image
    #[arg(long)]
    pub registry: bool,
}

/// Builds busybox:latest (and with --vm installs the VM packages).
pub fn setup(a: SetupArgs, ctx: &Ctx) -> crate::Result<i32> {
    if a.vm {
        let installed = crate::compare::setup::install_vm()?;
        if installed.is_empty() {
            println!("vm: qemu-system-x86_64 and a kernel in /boot are already installed");
        } else {
            println!("vm: installed {}", installed.join(" "));
        }
    }
    let store = Store::open(&ctx.root)?;
    let img = crate::image::busybox::setup(&store)?;
    println!("busybox:latest {}", img.id);
    if a.registry {
        let reg = crate::image::registry_image::setup(&store)?;
        println!("{} {}", crate::image::registry_image::TAG, reg.id);
    }
    Ok(0)
}

/// Arguments of `glassbox images`.
#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Output format: table (default) or json
    #[arg(long, default_value = "table")]
    pub format: String,
}

/// Lists tagged images.
pub fn images(a: ImagesArgs, ctx: &Ctx) -> crate::Result<i32> {
    let store = Store::open(&ctx.root)?;
    let mut rows = Vec::new();
    for (tag, digest) in store.tags()? {
        let img = store.image_from_manifest(&digest)?;
        let (repo, t) = tag.rsplit_once(':').unwrap_or((&tag, ""));
        let size: u64 = img.layers.iter().map(|l| l.size).sum();
        let created = img.config.created().clone().unwrap_or_default();
        rows.push(serde_json::json!({"Repository": repo, "Tag": t, "ID": img.id, "Created": created, "CreatedSince": crate::image::inspect::human_age(&created), "Size": size}));
    }
    if a.format == "json" {
        for r in rows {
            println!("{r}");
        }
    } else {
        println!(
            "{:<30} {:<12} {:<14} {:<22} SIZE",
            "REPOSITORY", "TAG", "IMAGE ID", "CREATED"
        );
        for r in rows {
            let id = r["ID"].as_str().unwrap_or("");
            println!(
                "{:<30} {:<12} {:<14} {:<22} {}",
                r["Repository"].as_str().unwrap_or(""),
                r["Tag"].as_str().unwrap_or(""),
                id.strip_prefix("sha256:")
                    .unwrap_or(id)
                    .get(..12)
                    .unwrap_or(""),
                r["CreatedSince"].as_str().unwrap_or(""),
                crate::explain::human_bytes(r["Size"].as_u64().unwrap_or(0))
            );
        }
    }
    Ok(0)
}

/// Arguments of `glassbox tag`.
#[derive(Debug, Args)]
pub struct TagArgs {
    /// Existing image reference
    pub source: String,
    /// New name[:tag]
    pub target: String,
}

/// Adds a tag.
pub fn tag(a: TagArgs, ctx: &Ctx) -> crate::Result<i32> {
    let store = Store::open(&ctx.root)?;
    let source = crate::reference::Reference::parse(&a.source)?;
    let target = crate::reference::Reference::parse(&a.target)?;
    let name = target.familiar_name_tag().ok_or_else(|| {
        crate::Error::Usage(format!(
            "cannot tag with a digest reference {target}; give name:tag"
        ))
    })?;
    // An index keeps being an index under its new name.
    if let Some(e) = store.tag_entry(&source)?.filter(|e| e.is_index()) {
        store.set_tag_typed(&name, &e.digest, e.size, e.media_type.as_str().into())?;
        store.journal_image("tag", &e.digest, &name);
        return Ok(0);
    }
    let img = store.resolve(&a.source)?;
    let size = std::fs::metadata(store.blob_path(&img.manifest_digest)?)
        .map(|m| m.len())
        .unwrap_or(0);
    store.set_tag(&name, &img.manifest_digest, size)?;
    Ok(0)
}

/// Arguments of `glassbox rmi`.
#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Image references to untag
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// Untags; deletes blobs and unpacked layers no tag reaches any more.
pub fn rmi(a: RmiArgs, ctx: &Ctx) -> crate::Result<i32> {
    let store = Store::open(&ctx.root)?;
    for i in &a.images {
        let r = crate::reference::Reference::parse(i)?;
        let name = r.familiar_name_tag().unwrap_or_default();
        match store.remove_tag(&name)? {
            Some(_) => println!("Untagged: {name}"),
            None => return Err(crate::store::MissingImage(r.to_string()).into()),
        }
    }
    store.gc()?;
    Ok(0)
}

/// Arguments of `glassbox store`.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// What to do: verify
    #[arg(value_parser = ["verify"])]
    pub action: String,
}

/// `store verify`: lists problems; non-zero exit when there are any.
pub fn store(_a: StoreArgs, ctx: &Ctx) -> crate::Result<i32> {
    let store = Store::open(&ctx.root)?;
    let v = crate::image::verify(&store)?;
    for r in &v.refused {
        println!("{r}; expected, not a problem");
    }
    for p in &v.problems {
        println!("{p}");
    }
    if v.problems.is_empty() {
        println!("store {} is sound", ctx.root.display());
        Ok(0)
    } else {
        Ok(1)
    }
}
