//! Image references (`registry:port/name:tag@sha256:…`) from arbitrary
//! text: parsing may refuse, never panic, and what it accepts prints back
//! to a reference that parses to the same thing.
//! The body is `glassbox::fuzzing::image_reference`, which the corpus replay test
//! runs too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| glassbox::fuzzing::image_reference(data));
