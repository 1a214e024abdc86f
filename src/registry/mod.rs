//! The registry: the OCI distribution API from both ends. `client/`
//! pushes and pulls images to any registry that speaks it (glassbox's own,
//! distribution's `registry:2`, ...), with every HTTP exchange an explained
//! event; `server/` serves it.

pub mod server;
