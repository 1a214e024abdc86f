//! `system prune`: what is not in use goes — stopped containers (with
//! their anonymous volumes), blobs and unpacked layers no tag reaches
//! (the store's "dangling" content), with `-a` also every tagged image no
//! remaining container was made from, and with `--volumes` every volume no
//! remaining container refers to. Networks no container uses go too, with
//! the default network's bridge device (see `network::prune`).

use crate::store::container::{self, Status};
use crate::store::Store;
use std::path::Path;

/// What a prune removed.
#[derive(Debug, Default, Clone)]
pub struct PruneReport {
    /// Names of the removed containers.
    pub containers: Vec<String>,
    /// Tags removed (`-a`).
    pub untagged: Vec<String>,
    /// Blobs deleted by the garbage collection.
    pub blobs: u64,
    /// Volumes removed (`--volumes`).
    pub volumes: Vec<String>,
    /// Networks and bridges removed.
    pub networks: crate::network::Pruned,
    /// Rootless: the keeper of the user namespace was ended.
    pub keeper_stopped: bool,
}

/// Removes what is unused; see the module overview.
pub fn system_prune(root: &Path, all_images: bool, volumes: bool) -> crate::Result<PruneReport> {
    let mut report = PruneReport::default();
    for (_, st) in container::all(root) {
        if matches!(
            st.observed(),
            Status::Exited | Status::Created | Status::Dead
        ) {
            super::lifecycle::remove(root, &st.id, true, true)?;
            report.containers.push(st.name);
        }
    }
    if root.join("index.json").exists() {
        let store = Store::open(root)?;
        if all_images {
            let in_use: Vec<String> = container::all(root)
                .into_iter()
                .filter_map(|(_, st)| store.resolve(&st.image).ok())
                .map(|img| img.manifest_digest)
                .collect();
            for (tag, manifest) in store.tags()? {
                if !in_use.contains(&manifest) && store.remove_tag(&tag)?.is_some() {
                    report.untagged.push(tag);
                }
            }
        }
        report.blobs = store.gc()?;
    }
    if volumes {
        report.volumes = super::volumes::prune(root)?;
    }
    report.networks = crate::network::prune(root)?;
    // Rootless: with nothing left running, the keeper of the user
    // namespace goes too, and with it its mounts and bridges.
    report.keeper_stopped = crate::rootless::stop_keeper();
    Ok(report)
}
