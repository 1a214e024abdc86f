//! The lesson loader on an arbitrary `lesson.toml` (the bytes before the
//! first NUL), its checks graded against the rest as a command's output.
//! The body is `glassbox::fuzzing::lesson_file`, which the corpus replay test
//! runs too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| glassbox::fuzzing::lesson_file(data));
