//! The Dockerfile parser, here-document pre-pass included, on arbitrary
//! text: a diagnostic or a syntax tree, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = glassbox::build::dockerfile::parse("Dockerfile", s);
    }
});
