//! `glassbox info`: how this glassbox runs here — root or rootless, where
//! the store is, which cgroups, overlay and network it uses — read from
//! the live system, as `docker info` does.

use super::Ctx;
use clap::Args;

/// Arguments of `glassbox info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Output format: text (default) or json
    #[arg(long, default_value = "text")]
    pub format: String,
}

/// What `info` reports.
pub fn gather(ctx: &Ctx) -> serde_json::Value {
    let mut v = crate::rootless::summary();
    let layout = crate::runtime::cgroup::Layout::detect();
    let (cgroup, why) = match &layout {
        Ok(crate::runtime::cgroup::Layout::Off { why }) => ("none".to_string(), Some(why.clone())),
        Ok(l) => (l.version().to_string(), None),
        Err(e) => ("none".to_string(), Some(e.to_string())),
    };
    v["root"] = serde_json::json!(ctx.root);
    v["cgroup"] = serde_json::json!(cgroup);
    if let Some(w) = why {
        v["cgroup_why"] = serde_json::json!(w);
    }
    v["overlay"] = serde_json::json!(crate::kernel::overlay::known(&crate::rootless::run_dir()));
    v["overlay_options"] = serde_json::json!(if crate::kernel::userns::inside() {
        "userxattr (metadata in user.overlay.* attributes)"
    } else {
        "trusted.overlay.* attributes"
    });
    v["kernel"] = serde_json::json!(nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default());
    v
}

/// Prints how glassbox runs here.
pub fn info(a: InfoArgs, ctx: &Ctx) -> crate::Result<i32> {
    let v = gather(ctx);
    if a.format == "json" {
        println!("{v}");
        return Ok(0);
    }
    let s = |k: &str| {
        v[k].as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v[k].to_string())
    };
    if v["mode"] == "rootless" {
        println!(
            "Mode:      rootless: uid {} is root only inside a user namespace, kept by process {}",
            s("host_uid"),
            s("keeper")
        );
        let maps: Vec<String> = v["uid_map"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| {
                let (i, o, c) = (
                    m["inside"].as_u64().unwrap_or(0),
                    m["outside"].as_u64().unwrap_or(0),
                    m["count"].as_u64().unwrap_or(0),
                );
                format!("{i}-{} inside = {o}-{} on the host", i + c - 1, o + c - 1)
            })
            .collect();
        println!("Uid map:   {}", maps.join("; "));
        println!("Networks:  bridges in {}", s("network_namespace"));
        println!("Way out:   {} ({})", s("network"), s("network_why"));
    } else {
        println!("Mode:      root");
        println!("Networks:  bridges in the host's network namespace");
    }
    println!("Root:      {}", s("root"));
    println!("Run dir:   {}", s("run_dir"));
    match v.get("cgroup_why").and_then(|w| w.as_str()) {
        Some(w) => println!("Cgroups:   none ({w}); containers run without limits"),
        None => println!("Cgroups:   {}", s("cgroup")),
    }
    println!("Overlay:   {}: {}", s("overlay"), s("overlay_options"));
    println!("Kernel:    {}", s("kernel"));
    Ok(0)
}
