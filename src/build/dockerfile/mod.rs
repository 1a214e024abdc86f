//! The Dockerfile language: parsing (via the `parse-dockerfile` crate, which
//! covers every instruction, parser directives, line continuations, heredocs
//! and gives byte spans for each node) and diagnostics that teach
//! ([`diag`]): errors and Docker-style build-check warnings with
//! file:line:column, a source snippet with a caret, and a hint.
//! [`heredocs`] reads RUN here-documents out of the text first, wherever
//! their markers stand on the line (the parser reads only one, right
//! after RUN).

pub mod checks;
pub mod diag;
pub mod heredocs;

pub use checks::keyword_span;
pub use diag::{Diagnostic, Severity};
pub use parse_dockerfile::{Dockerfile, Instruction};

/// Parses `text` (read from `file`, used only in diagnostics); give it
/// [`heredocs::prepare`]'s text so that every RUN here-document is read
/// the way BuildKit reads it. On success
/// returns the syntax tree and the build-check warnings; on failure the one
/// error that stopped parsing (or the first error-level check, such as an
/// unknown flag).
pub fn parse<'a>(
    file: &str,
    text: &'a str,
) -> Result<(Dockerfile<'a>, Vec<Diagnostic>), Box<Diagnostic>> {
    match parse_dockerfile::parse(text) {
        Ok(df) => {
            let warnings = checks::check(file, text, &df);
            if let Some(e) = warnings.iter().find(|d| d.severity == Severity::Error) {
                return Err(Box::new(e.clone()));
            }
            Ok((df, warnings))
        }
        Err(e) => Err(Box::new(diag::from_parse_error(file, text, &e))),
    }
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
        let (df, warnings) = parse("Dockerfile", text).unwrap();
        assert_eq!(df.stages().len(), 2);
        assert_eq!(df.global_args().len(), 1);
        assert_eq!(df.instructions.len(), 22);
        assert!(warnings.iter().any(|w| w.code == "LegacyKeyValueFormat"));
        assert!(warnings.iter().any(|w| w.code == "UnusedArg"));
    }
}
