//! Image references (`registry:port/name:tag@sha256:…`) from arbitrary
//! text: parsing may refuse, never panic, and what it accepts prints back
//! to a reference that parses to the same thing.
#![no_main]

use glassbox::image::reference::Reference;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(r) = Reference::parse(s) {
        let again = Reference::parse(&r.to_string()).expect("a printed reference parses");
        assert_eq!(again.to_string(), r.to_string());
    }
});
