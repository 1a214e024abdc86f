//! `COPY --from=stage` (and `RUN --mount=type=bind,from=stage`) key their
//! cache on the content of the paths they read: a change elsewhere in the
//! source stage keeps the cached layer, a change to a copied file misses
//! and says which path.

use crate::build::{context, events_of};
use crate::support::Root;

#[test]
fn copy_from_a_stage_misses_only_when_the_copied_files_change() {
    let r = Root::new();
    r.ok(&["setup"]);
    let ctx = context(
        "FROM busybox AS builder\n\
         COPY a.txt /out/a.txt\n\
         COPY b.txt /notes/b.txt\n\
         FROM busybox\n\
         COPY --from=builder /out/ /app/\n\
         RUN --mount=type=bind,from=builder,source=/out,target=/o cat /o/a.txt > /seen\n",
        &[("a.txt", "artifact v1\n"), ("b.txt", "notes v1\n")],
    );
    let dir = ctx.path().to_str().unwrap();
    let cache_of = |events: &[serde_json::Value], what: &str| -> serde_json::Value {
        events_of(events, "cache")
            .into_iter()
            .find(|e| e["subject"].as_str().unwrap().contains(what))
            .unwrap_or_else(|| panic!("no cache event for {what}"))
            .clone()
    };
    let copy_from = |events: &[serde_json::Value]| cache_of(events, "--from=builder");
    let mount_from = |events: &[serde_json::Value]| cache_of(events, "from=builder,source");
    let (_, first) = r.traced(&["build", "-t", "f:1", dir]);
    assert_eq!(copy_from(&first)["fields"]["result"], "miss");
    let layer_of = |reference: &str| {
        let store = glassbox::store::Store::open(r.path()).unwrap();
        store
            .resolve(reference)
            .unwrap()
            .layers
            .last()
            .unwrap()
            .digest
            .clone()
    };

    // Another file of the builder stage changes: its layers change, the
    // copied /out/ does not, so the COPY --from layer is reused.
    std::fs::write(ctx.path().join("b.txt"), "notes v2\n").unwrap();
    let (_, second) = r.traced(&["build", "-t", "f:2", dir]);
    let builder_b = events_of(&second, "cache")
        .into_iter()
        .find(|e| e["subject"].as_str().unwrap().contains("b.txt"))
        .unwrap()
        .clone();
    assert_eq!(
        builder_b["fields"]["result"], "miss",
        "the builder stage changed"
    );
    let c = copy_from(&second);
    assert_eq!(c["fields"]["result"], "hit", "{c}");
    assert_eq!(mount_from(&second)["fields"]["result"], "hit");
    assert_eq!(layer_of("f:2"), layer_of("f:1"));

    // The copied file changes: a miss that names it.
    std::fs::write(ctx.path().join("a.txt"), "artifact v2\n").unwrap();
    let (_, third) = r.traced(&["build", "-t", "f:3", dir]);
    let c = copy_from(&third);
    assert_eq!(c["fields"]["result"], "miss");
    assert!(
        c["fields"]["reason"]
            .as_str()
            .unwrap()
            .contains("content of --from=builder:/out changed"),
        "{c}"
    );
    assert_ne!(layer_of("f:3"), layer_of("f:1"));
    assert_eq!(mount_from(&third)["fields"]["result"], "miss");
}
