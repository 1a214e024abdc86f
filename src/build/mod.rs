//! Building images from Dockerfiles: the parts that need neither the store
//! nor the runtime. [`ignore`] decides which context files a build may see
//! (Docker's `.dockerignore` semantics) and [`words`] performs Docker's
//! variable substitution (`$VAR`, `${VAR:-x}`, `${VAR:+x}`, escapes).
//! [`dockerfile`] parses and diagnoses, [`context`] walks the context and
//! hashes COPY sources, [`plan`] orders stages and computes cache keys.

pub mod context;
pub mod dockerfile;
pub mod ignore;
pub mod plan;
pub mod scope;
pub mod words;
