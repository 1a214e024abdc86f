//! The Engine API's routing of `METHOD TARGET`: version prefix, path
//! segments, query and filters.
//! The body is `glassbox::fuzzing::api_route`, which the corpus replay test
//! runs too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| glassbox::fuzzing::api_route(data));
