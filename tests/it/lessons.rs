//! Every lesson, played through the binary the way a student would: all
//! steps run and do what the lesson says; each exercise's check fails on
//! the untouched state (with a hint) and passes after the reference
//! solution; reset forgets the progress.

use crate::support::Root;

fn lesson_numbers() -> Vec<u32> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("lessons");
    glassbox::lessons::load_all(&dir)
        .expect("lessons load")
        .iter()
        .map(|l| l.number)
        .collect()
}

#[test]
fn every_lesson_runs_and_its_exercises_check_real_state() {
    for n in lesson_numbers() {
        let _turn = crate::support::lesson_turn();
        let root = Root::new();
        let n = n.to_string();
        let out = root.ok(&["lessons", "run", &n]);
        assert!(
            out.contains("step 1/"),
            "lesson {n} printed no steps:\n{out}"
        );
        let listed = root.ok(&["lessons", "list"]);
        assert!(listed.contains("in progress"), "{listed}");

        let untouched = root.run(&["lessons", "check", &n]);
        let text = String::from_utf8_lossy(&untouched.stdout);
        assert_eq!(
            untouched.status.code(),
            Some(1),
            "lesson {n} passes untouched:\n{text}"
        );
        assert!(text.contains("hint:"), "lesson {n} gave no hint:\n{text}");

        root.ok(&["lessons", "solve", &n]);
        let solved = root.ok(&["lessons", "check", &n]);
        assert!(
            solved.contains("passed"),
            "lesson {n} after its solution:\n{solved}"
        );
        assert!(root.ok(&["lessons", "list"]).contains("passed"));

        root.ok(&["lessons", "reset", &n]);
        let listed = root.ok(&["lessons", "list"]);
        assert!(!listed.contains("passed"), "{listed}");
    }
}

#[test]
fn next_without_a_started_lesson_says_how_to_start_one() {
    let root = Root::new();
    let out = root.run(&["lessons", "next"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("glassbox lessons start N"), "{err}");
}

#[test]
fn running_a_finished_lesson_again_plays_it_from_the_start() {
    let root = Root::new();
    let first = root.ok(&["lessons", "run", "1"]);
    assert!(first.contains("step 1/"), "{first}");
    let again = root.ok(&["lessons", "run", "1"]);
    assert!(again.contains("Lesson 1:"), "{again}");
    assert!(
        again.contains("step 1/"),
        "the second run printed no steps:\n{again}"
    );
}
