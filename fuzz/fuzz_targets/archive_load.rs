//! `glassbox load` on arbitrary bytes (a docker-archive or OCI archive,
//! gzipped or not) into a store in a temp root: a load may refuse, never
//! panic or write outside the root, and one that succeeds leaves images
//! that unpack and a store that `store verify` finds sound.
//! The body is `glassbox::fuzzing::archive_load`, which the corpus replay test
//! runs too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| glassbox::fuzzing::archive_load(data));
