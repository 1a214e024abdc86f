//! Images: OCI manifests and configs, layers (packing, digesting, safe
//! unpacking with whiteouts), and the base images built from fixtures.

pub mod apply;
pub mod archive;
pub mod busybox;
pub mod compress;
pub mod import;
pub mod index;
pub mod inspect;
pub mod pack;
pub mod registry_image;
mod unpack;
mod verify_layers;

pub use unpack::lowerdirs;
pub use verify_layers::verify;
