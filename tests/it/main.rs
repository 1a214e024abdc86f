//! The one integration-test binary (one link step instead of many). Each
//! module tests one concept through the library or the built binary, each
//! test with its own temporary root.

mod archive;
mod archive_crash;
mod book;
mod build;
mod build_diag;
mod build_from;
mod build_heredoc;
mod build_mounts;
mod build_sweep;
mod compare;
mod describe;
mod dockerfile;
mod foreground;
mod hostile;
mod image;
mod interop;
mod isolation;
mod lessons;
mod lifecycle;
mod limits;
mod load_formats;
mod network;
mod network_prune;
mod ports;
mod ports_follow;
mod registry_client;
mod registry_diff;
mod registry_referrers;
mod registry_server;
mod registry_sha512;
mod run;
mod runopts;
mod save_compat;
mod step;
mod store;
mod store_crash;
mod store_refused;
mod support;
mod trace;
mod tty;
mod volumes;
