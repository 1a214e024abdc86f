//! glassbox: a real container engine that students can see through.
//!
//! The binary (`src/main.rs` + [`cli`]) only parses and dispatches; the
//! engine lives here, split by concept (see design.md, "The layout of the
//! house"). Every step the engine takes is an event ([`trace`]) explained by
//! a template ([`explain`]).

#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod api;
pub mod build;
pub mod cli;
pub mod compare;
pub mod doctor;
pub mod error;
pub mod explain;
pub mod fuzzing;
pub mod image;
pub mod kernel;
pub mod lessons;
pub mod network;
pub mod ocirt;
pub mod reference;
pub mod registry;
pub mod rootless;
pub mod runtime;
pub mod sinks;
pub mod store;
pub mod trace;
pub mod volume;

pub use error::{Error, Result};
