//! The registry: sharing images over the OCI distribution API.
//!
//! [`server`] is glassbox's own registry (`glassbox registry serve`); the
//! client half (push, pull, login) talks to it and to any other registry.

pub mod server;
