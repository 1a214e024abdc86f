//! RUN and COPY here-documents wherever their markers stand, as BuildKit
//! reads them (the Dockerfile reference's "Here-Documents" examples): a
//! marker after the command (`RUN cat <<EOF > /file`), several markers in
//! one RUN, `<<-` tab stripping, a quoted delimiter the shell leaves
//! unexpanded, several COPY here-documents into one directory; and the
//! lines after them still numbered as the student wrote them.

use crate::build::{context, events_of, file_in_image};
use crate::support::{assert_explained, Root};

#[test]
fn heredocs_after_the_command_and_several_in_one_instruction_build() {
    let r = Root::new();
    r.ok(&["setup"]);
    let ctx = context(
        "FROM busybox\n\
         ARG WHO=class\n\
         RUN cat <<EOF > /greeting\n\
         hello $WHO\n\
         EOF\n\
         RUN <<FILE1 cat > /file1 && <<FILE2 cat > /file2\n\
         I am\n\
         first\n\
         FILE1\n\
         I am\n\
         second\n\
         FILE2\n\
         RUN cat <<'EOF' \\\n  > /raw\n\
         keep $WHO\n\
         EOF\n\
         RUN <<-EOF\n\
         \t\techo tabbed > /tabbed\n\
         \tEOF\n\
         COPY <<A <<B /dir/\n\
         this is a\n\
         A\n\
         this is b for $WHO\n\
         B\n\
         LABEL after=heredocs\n",
        &[],
    );
    let (_, events) = r.traced(&["build", "-t", "hd:2", ctx.path().to_str().unwrap()]);
    assert_explained(&events);
    let file = |p: &str| {
        file_in_image(&r, "hd:2", p)
            .unwrap_or_else(|| panic!("{p} missing"))
            .0
    };
    assert_eq!(file("greeting"), "hello class\n", "the shell expands $WHO");
    assert_eq!(file("file1"), "I am\nfirst\n");
    assert_eq!(file("file2"), "I am\nsecond\n");
    assert_eq!(
        file("raw"),
        "keep $WHO\n",
        "a quoted delimiter expands nothing"
    );
    assert_eq!(file("tabbed"), "tabbed\n");
    assert_eq!(file("dir/A"), "this is a\n");
    assert_eq!(file("dir/B"), "this is b for class\n");
    // Each instruction keeps the line it starts on in the file.
    let lines: Vec<(u64, String)> = events
        .iter()
        .filter(|e| e["kind"] == "build" && e["action"] == "instruction")
        .filter(|e| e["fields"]["line"].is_u64())
        .map(|e| {
            (
                e["fields"]["line"].as_u64().unwrap(),
                e["subject"]
                    .as_str()
                    .unwrap()
                    .split(' ')
                    .next()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    let starts: Vec<u64> = lines.iter().map(|(l, _)| *l).collect();
    for want in [3, 6, 13, 17, 20, 25] {
        assert!(
            starts.contains(&want),
            "no instruction at line {want}: {lines:?}"
        );
    }
    // The two-heredoc RUN went to the shell whole, as BuildKit does.
    let run = events_of(&events, "run")
        .into_iter()
        .find(|e| e["subject"].as_str().unwrap().contains("FILE2"))
        .expect("the two-heredoc RUN ran");
    assert_eq!(
        run["subject"],
        "/bin/sh -c <<FILE1 cat > /file1 && <<FILE2 cat > /file2\nI am\nfirst\nFILE1\nI am\nsecond\nFILE2"
    );
    // A rebuild is all cache hits.
    let (_, events) = r.traced(&["build", "-t", "hd:2", ctx.path().to_str().unwrap()]);
    assert!(events_of(&events, "cache")
        .iter()
        .all(|e| e["fields"]["result"] == "hit"));
}

#[test]
fn an_error_after_heredocs_points_at_the_line_as_written() {
    let r = Root::new();
    r.ok(&["setup"]);
    let ctx = context(
        "FROM busybox\nRUN cat <<EOF > /x\nCOPPY is body text here\nEOF\nCOPPY a b\n",
        &[],
    );
    let out = r.run(&["build", ctx.path().to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown instruction 'COPPY'"), "{err}");
    assert!(err.contains("Dockerfile:5:1"), "{err}");
    assert!(err.contains("5 | COPPY a b"), "{err}");
}
