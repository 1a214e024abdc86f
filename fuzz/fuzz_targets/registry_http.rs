//! The registry server on arbitrary bytes as one connection's requests:
//! request line, headers, Content-Length or chunked bodies, ranges and
//! queries, served by the real handlers with storage in a temp root.
//! The body is `glassbox::fuzzing::registry_http`, which the corpus replay test
//! runs too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| glassbox::fuzzing::registry_http(data));
