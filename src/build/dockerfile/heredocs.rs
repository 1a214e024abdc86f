//! A pre-pass that reads RUN here-documents the way BuildKit does, before
//! the parser sees the text.
//!
//! parse-dockerfile (0.1.9, the newest release) reads a RUN
//! here-document only when `<<` is the first word after RUN, and only one:
//! `RUN cat <<EOF > /file` or `RUN <<A cat > /a && <<B cat > /b` make it
//! read the bodies as instructions. BuildKit reads every marker on the
//! instruction's (logical) line and then the bodies that follow, in order.
//! This pass does that for every RUN: it records the command line and the
//! bodies (keyed by the byte offset of the RUN keyword, which is where the
//! parser's span for the instruction starts) and gives the parser the same
//! text with those bodies, their delimiter lines and each marker's `<<`
//! turned into spaces. Nothing moves: byte offsets, lines and columns stay
//! the same, so every span and diagnostic still points into the file the
//! student wrote. COPY and ADD bodies are only skipped over (so a body line
//! is never taken for an instruction); the parser reads those itself.

use std::collections::BTreeMap;

use super::diag::{location, Diagnostic, Severity};
use crate::build::heredoc::{marker, word_spans, Body, RunHeredocs};

/// The Dockerfile as the parser should see it, and the RUN
/// here-documents taken out of it.
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    /// The text with RUN bodies blanked (same length, same line breaks).
    pub text: String,
    /// RUN keyword offset → its command line and bodies.
    pub runs: BTreeMap<usize, RunHeredocs>,
}

/// One physical line: where it starts and ends (without `\n` or `\r`).
#[derive(Debug, Clone, Copy)]
struct Line {
    start: usize,
    end: usize,
}

fn lines_of(text: &str) -> Vec<Line> {
    let mut out = Vec::new();
    let mut start = 0;
    for piece in text.split_inclusive('\n') {
        let body = piece.trim_end_matches('\n').trim_end_matches('\r');
        out.push(Line {
            start,
            end: start + body.len(),
        });
        start += piece.len();
    }
    out
}

/// The escape character the `# escape=` directive chooses (`\` by default).
fn escape_of(text: &str) -> char {
    for line in text.lines() {
        let Some(d) = line.trim().strip_prefix('#') else {
            break;
        };
        let Some((k, v)) = d.split_once('=') else {
            break;
        };
        if k.trim().eq_ignore_ascii_case("escape") {
            return v.trim().chars().next().unwrap_or('\\');
        }
    }
    '\\'
}

/// Reads RUN here-documents out of `text` (named `file` in diagnostics).
/// Fails only on a body that is never closed.
pub fn prepare(file: &str, text: &str) -> Result<Prepared, Box<Diagnostic>> {
    let escape = escape_of(text);
    let lines = lines_of(text);
    let mut bytes = text.as_bytes().to_vec();
    let mut runs = BTreeMap::new();
    let at = |l: &Line| &text[l.start..l.end];
    let mut i = 0;
    while i < lines.len() {
        let first = at(&lines[i]).trim_start();
        if first.is_empty() || first.starts_with('#') {
            i += 1;
            continue;
        }
        let keyword_at = lines[i].end - first.len();
        // The logical line: continuation lines joined (the escape character
        // and the line break dropped), comment lines inside it skipped.
        // `offsets[k]` is where byte k of `logical` is in `text`.
        let mut logical = String::new();
        let mut offsets = Vec::new();
        let mut j = i;
        while j < lines.len() {
            let l = lines[j];
            let s = at(&l);
            if j > i && (s.trim().is_empty() || s.trim_start().starts_with('#')) {
                j += 1;
                continue;
            }
            let from = if j == i { keyword_at } else { l.start };
            let piece = &text[from..l.end];
            let trimmed = piece.trim_end();
            let go_on = trimmed.ends_with(escape);
            let kept = if go_on {
                &trimmed[..trimmed.len() - escape.len_utf8()]
            } else {
                piece
            };
            logical.push_str(kept);
            offsets.extend(from..from + kept.len());
            j += 1;
            if !go_on {
                break;
            }
        }
        i = j;
        let words = word_spans(&logical);
        let Some(kw) = words.first() else { continue };
        let keyword = logical[kw.clone()].to_ascii_uppercase();
        if !matches!(keyword.as_str(), "RUN" | "COPY" | "ADD") {
            continue;
        }
        // Flags come first; a JSON (exec) form has no here-documents.
        let rest: Vec<_> = words[1..]
            .iter()
            .skip_while(|w| logical[(*w).clone()].starts_with("--"))
            .cloned()
            .collect();
        let Some(cmd_start) = rest.first().map(|w| w.start) else {
            continue;
        };
        if logical[cmd_start..].starts_with('[') {
            continue;
        }
        let found: Vec<_> = rest
            .iter()
            .filter_map(|w| marker(&logical[w.clone()]).map(|m| (m, w.start)))
            .collect();
        if found.is_empty() {
            continue;
        }
        let mut bodies = Vec::new();
        for (m, word_at) in found {
            let mut raw = String::new();
            let mut closed = false;
            while i < lines.len() {
                let l = lines[i];
                let s = at(&l);
                i += 1;
                let candidate = if m.strip_tabs {
                    s.trim_start_matches('\t')
                } else {
                    s
                };
                if keyword == "RUN" {
                    bytes[l.start..l.end].fill(b' ');
                }
                if candidate == m.name {
                    closed = true;
                    break;
                }
                raw.push_str(s);
                raw.push('\n');
            }
            let marker_at = offsets[word_at];
            if !closed {
                let (line, column) = location(text, marker_at);
                return Err(Box::new(Diagnostic {
                    severity: Severity::Error,
                    code: "HeredocUnclosed",
                    file: file.to_string(),
                    line,
                    column,
                    message: format!(
                        "here-document {} is never closed: the file ends first",
                        m.name
                    ),
                    hint: Some(format!(
                        "end it with a line that holds only {}{}",
                        m.name,
                        if m.strip_tabs {
                            " (tabs before it are allowed with <<-)"
                        } else {
                            ""
                        }
                    )),
                    source_line: text.lines().nth(line - 1).unwrap_or("").to_string(),
                }));
            }
            if keyword == "RUN" {
                // The parser must not look for this body: `<<` → spaces.
                let digits = logical[word_at..]
                    .bytes()
                    .take_while(u8::is_ascii_digit)
                    .count();
                let lt = offsets[word_at + digits];
                bytes[lt..lt + 2].fill(b' ');
            }
            bodies.push(Body { marker: m, raw });
        }
        if keyword == "RUN" {
            runs.insert(
                keyword_at,
                RunHeredocs {
                    command: logical[cmd_start..].trim().to_string(),
                    bodies,
                },
            );
        }
    }
    let text = String::from_utf8(bytes).expect("only ASCII bytes were replaced, by spaces");
    Ok(Prepared { text, runs })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_bodies_are_read_out_and_blanked_in_place() {
        let text = "FROM busybox\nRUN --network=none cat <<EOF \\\n  > /file\nhello\nEOF\nRUN <<A cat > /a && <<-B cat > /b\nfirst\nA\n\tsecond\n\tB\nCOPY <<C /c\nRUN inside a COPY body\nC\n";
        let p = prepare("Dockerfile", text).unwrap();
        assert_eq!(p.text.len(), text.len());
        assert_eq!(
            p.text.lines().count(),
            text.lines().count(),
            "no line moves"
        );
        let first = &p.runs[&text.find("RUN --network").unwrap()];
        assert_eq!(first.command, "cat <<EOF   > /file");
        assert_eq!(first.bodies[0].raw, "hello\n");
        let second = &p.runs[&text.find("RUN <<A").unwrap()];
        assert_eq!(second.command, "<<A cat > /a && <<-B cat > /b");
        assert_eq!(second.bodies.len(), 2);
        assert_eq!(second.bodies[1].raw, "\tsecond\n");
        assert_eq!(second.bodies[1].content(), "second\n");
        assert_eq!(p.runs.len(), 2, "COPY bodies stay with the parser");
        assert!(!p.text.contains("hello") && !p.text.contains("second"));
        assert!(p.text.contains("RUN inside a COPY body"));
        let df = parse_dockerfile::parse(&p.text).expect("the parser takes the prepared text");
        assert_eq!(df.instructions.len(), 4);
    }

    #[test]
    fn an_unclosed_body_points_at_its_marker() {
        let text = "FROM busybox\nRUN <<A cat && <<B cat\nfirst\nA\nsecond\n";
        let d = prepare("Dockerfile", text).unwrap_err();
        assert_eq!(d.code, "HeredocUnclosed");
        assert_eq!((d.line, d.column), (2, 16));
        assert!(d.message.contains("here-document B"), "{}", d.message);
    }

    #[test]
    fn quoted_markers_and_exec_forms_are_left_alone() {
        let text = "FROM busybox\nRUN echo \"<<EOF\"\nRUN [\"sh\", \"-c\", \"cat <<EOF\"]\n";
        let p = prepare("Dockerfile", text).unwrap();
        assert!(p.runs.is_empty());
        assert_eq!(p.text, text);
    }
}
