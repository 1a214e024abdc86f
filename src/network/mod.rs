//! Container networking: bridges, veth pairs, addresses, names, and the
//! publishing of container ports on the host ([`port`]).

pub mod port;
