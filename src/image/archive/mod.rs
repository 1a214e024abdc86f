//! Image archives: `save` writes an OCI image archive; `load` reads an
//! OCI archive or a docker-archive into the store, verifying everything
//! before the store changes.

mod load;
mod save;

pub use load::{load, Loaded};
pub use save::{save, Saved};

/// The annotation containerd and docker 25+ use for an image's full name.
const CONTAINERD_NAME: &str = "io.containerd.image.name";
