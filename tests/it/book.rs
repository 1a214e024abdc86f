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

#[test]
fn every_lesson_chapter_is_a_fresh_transcript_of_a_real_run() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("lessons");
    for lesson in glassbox::lessons::load_all(&dir).unwrap() {
        let _turn = crate::support::lesson_turn();
        let fresh = glassbox::lessons::transcript::transcript(&crate::support::bin(), &lesson)
            .expect("the lesson runs");
        let path = glassbox::lessons::transcript::chapter_path(&lesson);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != fresh {
            let first = committed
                .lines()
                .zip(fresh.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(committed.lines().count().min(fresh.lines().count()));
            panic!(
                "{} is stale (first difference at line {}: {:?} vs fresh {:?}); regenerate it with \
                 `glassbox lessons transcript {} --write` and review the diff",
                path.display(),
                first + 1,
                committed.lines().nth(first),
                fresh.lines().nth(first),
                lesson.number
            );
        }
    }
}
