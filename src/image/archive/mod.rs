//! Image archives: `save` writes an OCI image archive; `load` reads an
//! OCI archive or a docker-archive into the store, verifying everything
//! before the store changes.

mod load;
mod save;

pub use load::{load, Loaded};
pub use save::{save, Saved};

/// The annotation containerd and docker 25+ use for an image's full name.
const CONTAINERD_NAME: &str = "io.containerd.image.name";

/// The path of blob `digest` inside an archive's image layout.
fn blob_member(digest: &str) -> crate::Result<String> {
    Ok(format!(
        "blobs/sha256/{}",
        crate::store::digest_hex(digest)?
    ))
}
