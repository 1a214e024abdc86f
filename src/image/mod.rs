//! Images: OCI manifests and configs, layers (packing, digesting, safe
//! unpacking with whiteouts), and the base images built from fixtures.

pub mod apply;
pub mod busybox;
pub mod compress;
pub mod pack;
pub mod reference;
