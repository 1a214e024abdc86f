//! Diagnostics: an error or warning with its place in the Dockerfile, a
//! snippet with carets under the offending word, and a hint that says
//! what to do. codespan-reporting renders them as plain text (ASCII, no
//! colour) so they are stable for snapshots; warning codes follow Docker's
//! build checks.

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The build cannot go on.
    Error,
    /// The build goes on; Docker's build checks would flag this.
    Warning,
}

/// One diagnostic about a Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// A short stable code (Docker's check name for warnings).
    pub code: &'static str,
    /// The Dockerfile's name as the user gave it.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong, lower-case.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
    /// The text of the offending line.
    pub source_line: String,
}

impl Diagnostic {
    /// Renders the diagnostic as plain text with codespan-reporting:
    /// header, `--> file:line:column`, the line with carets under the
    /// offending word, and the hint as a note. ASCII and no colour, so it
    /// is the same on every terminal and stable for snapshots.
    pub fn render(&self) -> String {
        use codespan_reporting::diagnostic::{Diagnostic as Report, Label};
        use codespan_reporting::files::SimpleFile;
        use codespan_reporting::term;
        // The renderer reads the text around a span; the offending line at
        // its own line number is all it shows, so that is all it gets.
        let mut text = "\n".repeat(self.line.saturating_sub(1));
        let line_start = text.len();
        text.push_str(&self.source_line);
        text.push('\n');
        // Underline the word the column points at (to the next blank).
        let skip: usize = self
            .source_line
            .chars()
            .take(self.column.saturating_sub(1))
            .map(char::len_utf8)
            .sum();
        let word: usize = self.source_line[skip..]
            .chars()
            .take_while(|c| !c.is_whitespace())
            .map(char::len_utf8)
            .sum();
        let start = line_start + skip;
        let end = start + word.max(1);
        let report = match self.severity {
            Severity::Error => Report::error(),
            Severity::Warning => Report::warning(),
        }
        .with_code(self.code)
        .with_message(&self.message)
        .with_labels(vec![Label::primary((), start..end)])
        .with_notes(
            self.hint
                .iter()
                .map(|h| format!("hint: {h}"))
                .collect::<Vec<_>>(),
        );
        let file = SimpleFile::new(&self.file, text);
        let config = term::Config {
            chars: term::Chars::ascii(),
            ..term::Config::default()
        };
        term::emit_into_string(&config, &file, &report).unwrap_or_else(|_| {
            format!(
                "{}: {}:{}:{}: {}\n",
                self.code, self.file, self.line, self.column, self.message
            )
        })
    }
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render())
    }
}

impl std::error::Error for Diagnostic {}

/// Every instruction keyword Docker knows.
pub const INSTRUCTIONS: &[&str] = &[
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

fn line_text(text: &str, line: usize) -> String {
    text.lines()
        .nth(line.saturating_sub(1))
        .unwrap_or("")
        .to_string()
}

/// 1-based line and column of byte offset `pos` (column counts characters).
pub fn location(text: &str, pos: usize) -> (usize, usize) {
    // A span from the parser can fall inside a character (found by the
    // dockerfile fuzz target: a flag after a byte-order mark and control
    // bytes); count from the start of that character.
    let mut end = pos.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    (line, before[start..].chars().count() + 1)
}

pub(crate) fn warning_at(
    file: &str,
    text: &str,
    pos: usize,
    code: &'static str,
    message: String,
    hint: &str,
) -> Diagnostic {
    let (line, column) = location(text, pos);
    Diagnostic {
        severity: Severity::Warning,
        code,
        file: file.to_string(),
        line,
        column,
        message,
        hint: Some(hint.to_string()),
        source_line: line_text(text, line),
    }
}

/// Edit distance between two short words, counting an adjacent swap
/// (`chwon` → `chown`) as one edit, the typo people make most.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

/// The known instruction closest to `word`, if it is close enough to be a typo.
pub fn did_you_mean(word: &str) -> Option<&'static str> {
    let upper = word.to_ascii_uppercase();
    INSTRUCTIONS
        .iter()
        .map(|k| (edit_distance(&upper, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min()
        .map(|(_, k)| k)
}

/// The name in `names` closest to `word`, if it is close enough to be a typo.
pub fn did_you_mean_among<'n>(word: &str, names: &[&'n str]) -> Option<&'n str> {
    let lower = word.to_lowercase();
    names
        .iter()
        .map(|n| (edit_distance(&lower, n), *n))
        .filter(|(d, n)| *d <= 2.max(n.len() / 3))
        .min()
        .map(|(_, n)| n)
}

/// Turns the parser's error into a teaching diagnostic.
pub fn from_parse_error(file: &str, text: &str, e: &parse_dockerfile::Error) -> Diagnostic {
    let full = e.to_string();
    let message = full.split(" at line ").next().unwrap_or(&full).to_string();
    let (line, column) = (e.line().max(1), e.column().max(1));
    let src = line_text(text, line);
    let mut code = "Syntax";
    let hint = if let Some(word) = message
        .strip_prefix("unknown instruction '")
        .and_then(|s| s.strip_suffix('\''))
    {
        code = "UnknownInstruction";
        Some(match did_you_mean(word) {
            Some(k) => format!("did you mean {k}?"),
            None => format!("known instructions are {}", INSTRUCTIONS.join(", ")),
        })
    } else if message == "invalid JSON" && src.contains('\'') {
        code = "JsonSingleQuotes";
        Some("JSON needs double quotes: write [\"sh\", \"-c\"], not ['sh', '-c']".into())
    } else if message == "expected at least one FROM instruction" || message == "expected FROM" {
        code = "NoFrom";
        Some("only ARG may come before the first FROM; start the stage with FROM busybox (or FROM scratch)".into())
    } else if let Some(delim) = message
        .strip_prefix("expected end of here-document (")
        .and_then(|s| s.split(')').next())
    {
        code = "HeredocUnclosed";
        Some(format!(
            "end the here-document with a line that holds only {delim}"
        ))
    } else if message.contains("requires") {
        code = "MissingArgument";
        Some("see the instruction's form in the Dockerfile reference".into())
    } else if message.starts_with("duplicate stage name") {
        code = "DuplicateStageName";
        Some("give each stage its own name after AS".into())
    } else {
        None
    };
    Diagnostic {
        severity: Severity::Error,
        code,
        file: file.to_string(),
        line,
        column,
        message,
        hint,
        source_line: line_text(text, line),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typo_suggests_the_nearest_instruction() {
        assert_eq!(did_you_mean("RUNN"), Some("RUN"));
        assert_eq!(did_you_mean("workdri"), Some("WORKDIR"));
        assert_eq!(did_you_mean("XYZZYQQ"), None);
        assert_eq!(
            did_you_mean_among("chwon", &["chmod", "chown"]),
            Some("chown")
        );
    }

    #[test]
    fn location_counts_lines_and_columns_from_one() {
        assert_eq!(location("ab\ncd", 4), (2, 2));
        assert_eq!(location("ab", 0), (1, 1));
    }
}
