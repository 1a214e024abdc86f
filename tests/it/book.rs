//! The book is generated from real data: a stale generated chapter fails.

#[test]
fn the_events_chapter_matches_the_templates() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("book/src/reference/events.md");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == glassbox::explain::book_chapter(),
        "book/src/reference/events.md is stale: regenerate it with \
         `glassbox explain --book > book/src/reference/events.md`"
    );
}
