//! Layer apply on arbitrary tar bytes, into a fresh temp root beside an
//! empty sentinel directory: apply may refuse or fail, never panic, and
//! never write outside its root.
//! The body is `glassbox::fuzzing::layer_apply`, which the corpus replay test
//! runs too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| glassbox::fuzzing::layer_apply(data));
