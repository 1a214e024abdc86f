//! The Dockerfile language: parsing (via the `parse-dockerfile` crate, which
//! covers every instruction, parser directives, line continuations, heredocs
//! and gives byte spans for each node) and diagnostics that teach
//! ([`diag`]): errors and Docker-style build-check warnings with
//! file:line:column, a source snippet with a caret, and a hint.
//! [`parse`] runs [`heredocs`] first: it reads RUN here-documents out of
//! the text wherever their markers stand on the line (the parser alone
//! reads only one, right after RUN), so every caller sees the same
//! instructions.

pub mod checks;
pub mod diag;
pub mod heredocs;

pub use checks::keyword_span;
pub use diag::{Diagnostic, Severity};
pub use parse_dockerfile::{Dockerfile, Instruction};

use crate::build::heredoc::RunHeredocs;
use std::collections::BTreeMap;

/// A Dockerfile that parsed: the text as the parser reads it (RUN
/// here-document bodies blanked by [`heredocs::prepare`], nothing moved),
/// the here-documents taken out of it, and the build-check warnings.
#[derive(Debug, Clone)]
pub struct Parsed {
    prepared: heredocs::Prepared,
    warnings: Vec<Diagnostic>,
}

impl Parsed {
    /// The syntax tree. Its spans are byte offsets into the file as
    /// written; its strings are slices of the prepared text (a RUN
    /// here-document's `<<` and body read as blanks: see
    /// [`Parsed::heredocs`]).
    pub fn dockerfile(&self) -> Dockerfile<'_> {
        parse_dockerfile::parse(&self.prepared.text)
            .expect("parse() checked that the prepared text parses")
    }

    /// The build-check warnings, in file order.
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// RUN here-documents by the byte offset of their RUN keyword.
    pub fn heredocs(&self) -> &BTreeMap<usize, RunHeredocs> {
        &self.prepared.runs
    }

    /// The text the parser read: the file with RUN here-document bodies
    /// blanked, same length, same lines.
    pub fn text(&self) -> &str {
        &self.prepared.text
    }
}

/// `text` without a leading UTF-8 byte-order mark. The parser skips one and
/// gives byte offsets into the text after it, so every reader of the
/// offsets (the checks, the plan, diagnostics' columns) must read that
/// text too: an editor shows no mark, and column 1 is after it.
pub fn without_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// Parses `text` (read from `file`, used only in diagnostics), reading RUN
/// here-documents first the way BuildKit does ([`heredocs::prepare`]), so
/// `RUN cat <<EOF > /f` and a RUN with several here-documents parse as
/// one instruction each. Every diagnostic's line, column and snippet
/// point into `text` as written. On success returns the syntax tree's
/// owner and the build-check warnings; on failure the one error that
/// stopped parsing (or the first error-level check, such as an unknown
/// flag).
pub fn parse(file: &str, text: &str) -> Result<Parsed, Box<Diagnostic>> {
    let text = without_bom(text);
    let prepared = heredocs::prepare(file, text)?;
    let warnings = match parse_dockerfile::parse(&prepared.text) {
        // Checks read the file as written: an ARG used only inside a
        // here-document is used, and snippets show the real line.
        Ok(df) => checks::check(file, text, &df),
        Err(e) => return Err(Box::new(diag::from_parse_error(file, text, &e))),
    };
    if let Some(e) = warnings.iter().find(|d| d.severity == Severity::Error) {
        return Err(Box::new(e.clone()));
    }
    Ok(Parsed { prepared, warnings })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_listed_instruction() {
        let text = r#"# syntax=docker/dockerfile:1
# escape=\
ARG BASE=busybox
FROM ${BASE}@sha256:0000000000000000000000000000000000000000000000000000000000000000 AS build
RUN echo hi && \
    echo there
RUN <<EOT
echo heredoc
EOT
COPY --chown=1:1 --chmod=644 a.txt b*.txt /dst/
FROM scratch AS final
COPY --from=build /dst/ /
ADD x.tar.gz /
WORKDIR /app
ENV A=1 B="two words"
ENV LEGACY value
ARG V
LABEL org.example=x
EXPOSE 80/tcp
USER nobody
VOLUME ["/data"]
SHELL ["/bin/sh", "-c"]
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=5s CMD wget -q -O- localhost
ONBUILD RUN echo later
ENTRYPOINT ["/bin/sh"]
CMD ["-c", "echo hi"]
"#;
        let parsed = parse("Dockerfile", text).unwrap();
        let (df, warnings) = (parsed.dockerfile(), parsed.warnings());
        assert_eq!(df.stages().len(), 2);
        assert_eq!(df.global_args().len(), 1);
        assert_eq!(df.instructions.len(), 22);
        assert!(warnings.iter().any(|w| w.code == "LegacyKeyValueFormat"));
        assert!(warnings.iter().any(|w| w.code == "UnusedArg"));
    }

    #[test]
    fn run_here_documents_are_read_before_parsing() {
        // The parser alone reads `hello` as an instruction (and
        // `RUNN` would be reported at line 3).
        let text = "FROM busybox\nRUN cat <<EOF > /f\nhello\nEOF\nRUN <<A cat > /a && <<B cat > /b\n1\nA\n2\nB\n";
        let parsed = parse("Dockerfile", text).unwrap();
        assert_eq!(parsed.dockerfile().instructions.len(), 3);
        assert_eq!(parsed.heredocs().len(), 2);
        let run = &parsed.heredocs()[&text.find("RUN cat").unwrap()];
        assert_eq!(
            (run.command.as_str(), run.bodies[0].raw.as_str()),
            ("cat <<EOF > /f", "hello\n")
        );
        assert_eq!(parsed.text().len(), text.len());

        let typo = "FROM busybox\nRUN cat <<EOF > /f\nhello\nEOF\nRUNN echo typo\n";
        let d = parse("Dockerfile", typo).unwrap_err();
        assert_eq!((d.code, d.line, d.column), ("UnknownInstruction", 5, 1));
        assert_eq!(d.source_line, "RUNN echo typo");
    }

    #[test]
    fn checks_read_the_file_as_written() {
        // Line and snippet of a warning on a RUN with a here-document show
        // the marker; an ARG used only in a body is used.
        let text = "FROM busybox\nARG GREETING=hi\nrun cat <<EOF > /f\n$GREETING\nEOF\nRUN true\n";
        let parsed = parse("Dockerfile", text).unwrap();
        let codes: Vec<_> = parsed.warnings().iter().map(|w| w.code).collect();
        assert_eq!(codes, ["ConsistentInstructionCasing"]);
        let w = &parsed.warnings()[0];
        assert_eq!((w.line, w.column), (3, 1));
        assert_eq!(w.source_line, "run cat <<EOF > /f");
    }
}

#[cfg(test)]
mod fuzz_regressions {
    use super::parse;

    /// Found by the dockerfile fuzz target: an unknown RUN flag after a
    /// byte-order mark. The parser's offsets start after the mark, so the
    /// diagnostic's column was counted 3 bytes short, inside a character,
    /// and slicing there panicked.
    #[test]
    fn a_byte_order_mark_moves_no_diagnostic_and_panics_nothing() {
        let crash = "\u{feff}FROM s:thc\nRUN ---\0\0\0rath\u{feff}\u{1c}N\u{72e6d} --\0\u{4}\0\n";
        let e = parse("Dockerfile", crash).expect_err("an unknown flag");
        assert_eq!((e.line, e.column), (2, 5));
        let plain = parse("Dockerfile", "FROM busybox\nRUN --bogus echo\n")
            .err()
            .unwrap();
        let marked = parse("Dockerfile", "\u{feff}FROM busybox\nRUN --bogus echo\n")
            .err()
            .unwrap();
        assert_eq!((marked.line, marked.column), (plain.line, plain.column));
        assert_eq!((plain.line, plain.column), (2, 5));
        assert_eq!(marked.source_line, "RUN --bogus echo");
    }
}
