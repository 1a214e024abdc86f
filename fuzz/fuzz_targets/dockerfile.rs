//! The Dockerfile parser, here-document pre-pass included, on arbitrary
//! text: a diagnostic or a syntax tree, never a panic.
//! The body is `glassbox::fuzzing::dockerfile`, which the corpus replay test
//! runs too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| glassbox::fuzzing::dockerfile(data));
