//! The step API, sinks and relay, exercised through the library.

use glassbox::trace::{self, Kind, Stage};

#[test]
fn a_step_is_announced_then_done_with_its_phase_and_fields() {
    let cap = trace::capture();
    {
        let _p = trace::phase("demo");
        let mut s = trace::step(Kind::Store, "init", "root /tmp/x")
            .field("path", "/tmp/x")
            .equivalent("mkdir -p /tmp/x")
            .announce()
            .expect("not aborted");
        s.field("created", true);
        s.done();
    }
    let evs = cap.events();
    assert_eq!(evs.len(), 2);
    assert_eq!(evs[0].stage, Stage::Announce);
    assert_eq!(evs[1].stage, Stage::Done);
    assert_eq!(evs[1].phase, vec!["demo".to_string()]);
    assert_eq!(evs[1].fields["created"], serde_json::json!(true));
    assert!(evs[1].seq > evs[0].seq);
    assert!(evs[1].duration_us.is_some());
    let text = glassbox::explain::render(&evs[1], glassbox::explain::Level::Brief).unwrap();
    assert!(text.contains("/tmp/x"), "{text}");
}

#[test]
fn an_unfinished_step_is_recorded_as_failed() {
    let cap = trace::capture();
    {
        let _s = trace::step(Kind::Store, "init", "x").announce().unwrap();
    }
    let evs = cap.events();
    assert_eq!(evs.last().unwrap().stage, Stage::Failed);
    assert_eq!(evs.last().unwrap().fields["error"], "did not finish");
}

#[test]
fn events_relayed_from_a_child_process_arrive_in_order() {
    use glassbox::trace::relay::{RelayReader, RelayWriter};
    let (r, w) = std::io::pipe().unwrap();
    let (ar, aw) = std::io::pipe().unwrap();
    let cap = trace::capture();
    // A thread stands in for the child: it writes with the writer directly.
    let child = std::thread::spawn(move || {
        let mut writer = RelayWriter::new(fd(w), Some(fd(ar)));
        for i in 0..3 {
            let ev = glassbox::trace::Event {
                seq: 0,
                stage: if i % 2 == 0 {
                    Stage::Announce
                } else {
                    Stage::Done
                },
                phase: vec!["child".into()],
                kind: Kind::Store,
                action: "init".into(),
                subject: format!("n{i}"),
                fields: Default::default(),
                equivalent: None,
                syscall: None,
                ts_us: 0,
                duration_us: None,
                pid: 42,
            };
            writer.send(&ev).unwrap();
            if ev.stage == Stage::Announce {
                assert!(writer.wait_go());
            }
        }
    });
    RelayReader::new(fd(r), Some(fd(aw))).pump().unwrap();
    child.join().unwrap();
    let subjects: Vec<String> = cap.events().iter().map(|e| e.subject.clone()).collect();
    assert_eq!(subjects, ["n0", "n1", "n2"]);
}

fn fd<T: Into<std::os::fd::OwnedFd>>(p: T) -> std::fs::File {
    std::fs::File::from(p.into())
}

#[test]
fn the_timeline_is_chrome_trace_json_with_phases_and_timed_steps() {
    let root = crate::support::Root::new();
    let file = root.path().join("timeline.json");
    root.ok(&["--timeline", file.to_str().unwrap(), "setup"]);
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).expect("timeline written")).unwrap();
    let entries = doc["traceEvents"].as_array().expect("traceEvents array");
    let phase_begins = entries
        .iter()
        .filter(|e| e["ph"] == "B" && e["name"] == "setup")
        .count();
    assert_eq!(phase_begins, 1, "the setup phase opens once");
    assert!(entries
        .iter()
        .any(|e| e["ph"] == "E" && e["name"] == "setup"));
    let layer = entries
        .iter()
        .find(|e| e["ph"] == "X" && e["cat"] == "layer")
        .expect("the layer step is a complete event");
    assert!(layer["dur"].as_u64().is_some() && layer["ts"].as_u64().is_some());
}

#[test]
fn narration_is_one_line_per_step_with_its_explanation() {
    let root = crate::support::Root::new();
    let out = root.run(&["--trace", "narrate", "--no-color", "setup"]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("▶ setup"), "{err}");
    let line = err
        .lines()
        .position(|l| l.contains("✓ [layer] create"))
        .unwrap_or_else(|| panic!("no layer line in:\n{err}"));
    let explanation = err.lines().nth(line + 1).unwrap();
    assert!(explanation.contains("Packed"), "{explanation}");
    assert!(!err.contains("\x1b["), "--no-color printed colours");
    let fresh = crate::support::Root::new();
    let off = fresh.run(&["--trace", "narrate", "--explain", "off", "setup"]);
    let err = String::from_utf8_lossy(&off.stderr);
    assert!(err.contains("✓ [layer] create"), "{err}");
    assert!(
        !err.contains("Packed"),
        "--explain off still explained:\n{err}"
    );
}
