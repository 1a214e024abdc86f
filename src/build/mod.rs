//! Building images from Dockerfiles. [`ignore`] decides which context files a build may see
//! (Docker's `.dockerignore` semantics) and [`words`] performs Docker's
//! variable substitution (`$VAR`, `${VAR:-x}`, `${VAR:+x}`, escapes).
//! [`dockerfile`] parses and diagnoses, [`context`] walks the context and
//! hashes COPY sources, [`plan`] orders stages and computes cache keys.
//! [`exec`] runs a build: [`config`] edits the image config, [`copy`]
//! stages COPY/ADD files, [`cache`] keeps the layer cache in the root and
//! [`view`] shows a stage's layers as one tree. [`run`] runs RUN in a
//! container, with the mounts of [`mounts`] (made on the host by
//! `run_mounts`) and the here-documents of [`heredoc`]; [`sweep`] names a
//! build's temp entries after it and removes a killed build's.

mod base;
pub mod cache;
pub mod config;
pub mod context;
pub mod copy;
pub mod dockerfile;
pub mod exec;
pub mod fetch;
pub mod heredoc;
pub mod ignore;
mod instructions;
pub mod mounts;
mod onbuild;
pub mod plan;
pub mod run;
mod run_mounts;
pub mod scope;
pub mod sweep;
pub mod upper;
pub mod view;
pub mod words;

pub use exec::{build, BuildError, BuildOptions, BuildOutput};
