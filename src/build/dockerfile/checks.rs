//! Build checks: the warnings Docker's `docker build --check` gives, run
//! over the parsed Dockerfile before anything is built. Each check has the
//! code Docker uses (so a student can look it up in Docker's documentation)
//! and a hint that says what to write instead. Unknown flags are the one
//! error found here: BuildKit refuses them too.

use parse_dockerfile::{Command, Dockerfile, Flag, Instruction, Span};

use super::diag::{did_you_mean_among, warning_at, Diagnostic, Severity};

/// The keyword's span of any instruction.
pub fn keyword_span(ins: &Instruction<'_>) -> Span {
    match ins {
        Instruction::Add(i) => i.add.span.clone(),
        Instruction::Arg(i) => i.arg.span.clone(),
        Instruction::Cmd(i) => i.cmd.span.clone(),
        Instruction::Copy(i) => i.copy.span.clone(),
        Instruction::Entrypoint(i) => i.entrypoint.span.clone(),
        Instruction::Env(i) => i.env.span.clone(),
        Instruction::Expose(i) => i.expose.span.clone(),
        Instruction::From(i) => i.from.span.clone(),
        Instruction::Healthcheck(i) => i.healthcheck.span.clone(),
        Instruction::Label(i) => i.label.span.clone(),
        Instruction::Maintainer(i) => i.maintainer.span.clone(),
        Instruction::Onbuild(i) => i.onbuild.span.clone(),
        Instruction::Run(i) => i.run.span.clone(),
        Instruction::Shell(i) => i.shell.span.clone(),
        Instruction::Stopsignal(i) => i.stopsignal.span.clone(),
        Instruction::User(i) => i.user.span.clone(),
        Instruction::Volume(i) => i.volume.span.clone(),
        Instruction::Workdir(i) => i.workdir.span.clone(),
        _ => 0..0,
    }
}

/// The flags each instruction accepts.
fn known_flags<'i, 'a>(
    ins: &'i Instruction<'a>,
) -> (&'static str, &'i [Flag<'a>], &'static [&'static str]) {
    match ins {
        Instruction::Copy(c) => (
            "COPY",
            &c.options,
            &["from", "chown", "chmod", "link", "parents", "exclude"],
        ),
        Instruction::Add(c) => (
            "ADD",
            &c.options,
            &[
                "chown",
                "chmod",
                "checksum",
                "keep-git-dir",
                "link",
                "exclude",
            ],
        ),
        Instruction::From(c) => ("FROM", &c.options, &["platform"]),
        Instruction::Run(c) => ("RUN", &c.options, &["mount", "network", "security"]),
        _ => ("", &[], &[]),
    }
}

/// A shell-form command that was meant as JSON but used single quotes:
/// Docker silently runs it as `/bin/sh -c "['sh', ...]"`, so say so.
fn single_quoted_json(
    file: &str,
    text: &str,
    cmd: &Command<'_>,
    keyword: &str,
) -> Option<Diagnostic> {
    let Command::Shell(s) = cmd else { return None };
    let v = s.value.trim();
    if !(v.starts_with('[') && v.ends_with(']') && v.contains('\'')) {
        return None;
    }
    Some(warning_at(
        file,
        text,
        s.span.start,
        "JsonSingleQuotes",
        format!("{keyword} looks like JSON but uses single quotes, so it runs as a shell command"),
        "JSON needs double quotes: write [\"sh\", \"-c\"], not ['sh', '-c']",
    ))
}

/// Words that make an ARG or ENV name look like it holds a secret
/// (Docker's SecretsUsedInArgOrEnv uses the same idea).
const SECRET_WORDS: &[&str] = &[
    "apikey",
    "auth",
    "credential",
    "credentials",
    "key",
    "passwd",
    "password",
    "pword",
    "secret",
    "token",
];

fn looks_secret(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|w| SECRET_WORDS.contains(&w))
}

/// Variable names a word refers to (`$NAME`, `${NAME...}`).
fn referenced_vars(word: &str) -> Vec<String> {
    let b = word.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' {
            let start = if b.get(i + 1) == Some(&b'{') {
                i + 2
            } else {
                i + 1
            };
            let end = b[start..]
                .iter()
                .position(|c| !(c.is_ascii_alphanumeric() || *c == b'_'))
                .map(|p| start + p)
                .unwrap_or(b.len());
            if end > start {
                out.push(word[start..end].to_string());
            }
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

/// One check's findings are collected here.
struct Checker<'t> {
    file: &'t str,
    text: &'t str,
    out: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn warn(&mut self, pos: usize, code: &'static str, message: String, hint: &str) {
        self.out
            .push(warning_at(self.file, self.text, pos, code, message, hint));
    }
}

/// Docker-style build checks over a parsed Dockerfile.
pub fn check(file: &str, text: &str, df: &Dockerfile<'_>) -> Vec<Diagnostic> {
    let mut c = Checker {
        file,
        text,
        out: Vec::new(),
    };
    let mut args: Vec<(String, usize)> = Vec::new();
    let global_args: Vec<String> = df
        .global_args()
        .map(|a| {
            a.arguments
                .value
                .split('=')
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        })
        .collect();
    // Keyword casing: the majority decides, as in Docker's check.
    let keywords: Vec<(&str, usize)> = df
        .instructions
        .iter()
        .map(|i| {
            let s = keyword_span(i);
            (&text[s.clone()], s.start)
        })
        .collect();
    let upper = keywords
        .iter()
        .filter(|(k, _)| *k == k.to_ascii_uppercase())
        .count();
    let majority_upper = upper * 2 >= keywords.len();
    for (k, pos) in &keywords {
        let fits = if majority_upper {
            *k == k.to_ascii_uppercase()
        } else {
            *k == k.to_ascii_lowercase()
        };
        if !fits {
            let case = if majority_upper { "upper" } else { "lower" };
            c.warn(
                *pos,
                "ConsistentInstructionCasing",
                format!("instruction '{k}' is not in {case} case like the rest of the file"),
                &format!(
                    "write {}; keywords work in any case, but mixed case is hard to read",
                    if majority_upper {
                        k.to_ascii_uppercase()
                    } else {
                        k.to_ascii_lowercase()
                    }
                ),
            );
        }
    }
    // Per-stage counts for MultipleInstructionsDisallowed and the
    // WORKDIR seen so far for WorkdirRelativePath.
    let mut seen: Vec<(&'static str, usize)> = Vec::new();
    let mut absolute_workdir = false;
    let flush = |c: &mut Checker<'_>, seen: &mut Vec<(&'static str, usize)>| {
        for kw in ["CMD", "ENTRYPOINT", "HEALTHCHECK"] {
            let at: Vec<usize> = seen.iter().filter(|s| s.0 == kw).map(|s| s.1).collect();
            if let Some((_, earlier)) = at.split_last() {
                for pos in earlier {
                    c.warn(
                        *pos,
                        "MultipleInstructionsDisallowed",
                        format!("more than one {kw} in this stage; only the last one takes effect"),
                        &format!("delete this {kw}, or merge it into the last one"),
                    );
                }
            }
        }
        seen.clear();
    };
    for ins in &df.instructions {
        let (keyword, flags, known) = known_flags(ins);
        for flag in flags {
            let name = flag.name.value.trim_start_matches('-');
            if !known.contains(&name) {
                let mut d = warning_at(
                    file,
                    text,
                    flag.flag_span().start,
                    "UnknownFlag",
                    format!("unknown flag --{name} for {keyword}"),
                    "",
                );
                d.severity = Severity::Error;
                d.hint = Some(match did_you_mean_among(name, known) {
                    Some(k) => format!("did you mean --{k}?"),
                    None => format!("{keyword} accepts --{}", known.join(", --")),
                });
                c.out.push(d);
            }
        }
        match ins {
            Instruction::From(f) => {
                flush(&mut c, &mut seen);
                absolute_workdir = false;
                if let Some((as_kw, name)) = &f.as_ {
                    let from_kw = &text[f.from.span.clone()];
                    let as_text = &text[as_kw.span.clone()];
                    let from_upper = from_kw == from_kw.to_ascii_uppercase();
                    let as_upper = as_text == as_text.to_ascii_uppercase();
                    if from_upper != as_upper {
                        c.warn(
                            as_kw.span.start,
                            "FromAsCasing",
                            format!("'{as_text}' and '{from_kw}' keywords' casing do not match"),
                            &format!(
                                "write {from_kw} ... {}",
                                if from_upper { "AS" } else { "as" }
                            ),
                        );
                    }
                    if name.value.chars().any(|ch| ch.is_ascii_uppercase()) {
                        c.warn(
                            name.span.start,
                            "StageNameCasing",
                            format!("stage name '{}' should be lower-case", name.value),
                            "stage names are matched in lower case; write them that way",
                        );
                    }
                }
                for var in referenced_vars(&f.image.value) {
                    if !global_args.contains(&var) {
                        c.warn(
                            f.image.span.start,
                            "UndefinedArgInFrom",
                            format!("FROM uses ${var}, but no ARG {var} is declared before the first FROM"),
                            &format!("add `ARG {var}=default` at the top of the file, before any FROM"),
                        );
                    }
                }
            }
            Instruction::Cmd(x) => {
                seen.push(("CMD", x.cmd.span.start));
                if let Some(d) = single_quoted_json(file, text, &x.arguments, "CMD") {
                    c.out.push(d);
                } else if let Command::Shell(s) = &x.arguments {
                    c.warn(
                        s.span.start,
                        "JSONArgsRecommended",
                        "CMD in shell form runs under /bin/sh -c, which does not pass signals on"
                            .into(),
                        "use the JSON (exec) form: CMD [\"executable\", \"arg\"]",
                    );
                }
            }
            Instruction::Entrypoint(x) => {
                seen.push(("ENTRYPOINT", x.entrypoint.span.start));
                if let Some(d) = single_quoted_json(file, text, &x.arguments, "ENTRYPOINT") {
                    c.out.push(d);
                } else if let Command::Shell(s) = &x.arguments {
                    c.warn(
                        s.span.start,
                        "JSONArgsRecommended",
                        "ENTRYPOINT in shell form runs under /bin/sh -c, which does not pass signals on".into(),
                        "use the JSON (exec) form: ENTRYPOINT [\"executable\", \"arg\"]",
                    );
                }
            }
            Instruction::Healthcheck(x) => seen.push(("HEALTHCHECK", x.healthcheck.span.start)),
            Instruction::Env(e) => {
                let first = e.arguments.value.split_whitespace().next().unwrap_or("");
                if !first.contains('=') {
                    c.warn(
                        e.arguments.span.start,
                        "LegacyKeyValueFormat",
                        "ENV key value (without '=') is the legacy form".into(),
                        "write ENV key=value",
                    );
                }
                let name = first.split('=').next().unwrap_or("");
                if looks_secret(name) {
                    c.warn(
                        e.arguments.span.start,
                        "SecretsUsedInArgOrEnv",
                        format!("ENV {name} looks like a secret, and ENV values are stored in the image for anyone to read"),
                        "pass secrets at run time (glassbox run -e NAME=...), never in the image",
                    );
                }
            }
            Instruction::Label(l) => {
                let first = l.arguments.value.split_whitespace().next().unwrap_or("");
                if !first.contains('=') {
                    c.warn(
                        l.arguments.span.start,
                        "LegacyKeyValueFormat",
                        "LABEL key value (without '=') is the legacy form".into(),
                        "write LABEL key=value",
                    );
                }
            }
            Instruction::Arg(a) => {
                for part in a.arguments.value.split_whitespace() {
                    let name = part.split('=').next().unwrap_or(part).to_string();
                    if looks_secret(&name) {
                        c.warn(
                            a.arguments.span.start,
                            "SecretsUsedInArgOrEnv",
                            format!("ARG {name} looks like a secret; build args are recorded in the image history"),
                            "do not pass secrets as build args; mount them at build time or give them at run time",
                        );
                    }
                    args.push((name, a.arguments.span.start));
                }
            }
            Instruction::Maintainer(m) => c.warn(
                m.maintainer.span.start,
                "MaintainerDeprecated",
                "MAINTAINER is deprecated".into(),
                &format!(
                    "write LABEL org.opencontainers.image.authors=\"{}\"",
                    m.name.value
                ),
            ),
            Instruction::Workdir(w) => {
                if w.arguments.value.starts_with('/') || w.arguments.value.starts_with('$') {
                    absolute_workdir = true;
                } else if !absolute_workdir {
                    c.warn(
                        w.arguments.span.start,
                        "WorkdirRelativePath",
                        format!(
                            "relative WORKDIR '{}' depends on the base image's working directory",
                            w.arguments.value
                        ),
                        "set an absolute path first (WORKDIR /app), then relative ones build on it",
                    );
                }
            }
            Instruction::Expose(x) => {
                for a in &x.arguments {
                    let v = &a.value;
                    if v.contains(':') {
                        c.warn(
                            a.span.start,
                            "ExposeInvalidFormat",
                            format!("EXPOSE {v} names a host address or port, which EXPOSE ignores"),
                            "EXPOSE takes only the container port (EXPOSE 80); map host ports with -p at run time",
                        );
                    } else if let Some((_, proto)) = v.split_once('/') {
                        if proto != proto.to_ascii_lowercase() {
                            c.warn(
                                a.span.start,
                                "ExposeProtoCasing",
                                format!("protocol '{proto}' in EXPOSE {v} should be lower case"),
                                &format!("write EXPOSE {}", v.to_ascii_lowercase()),
                            );
                        }
                    }
                }
            }
            _ => {}
        }
    }
    flush(&mut c, &mut seen);
    for (name, pos) in args {
        let used = [format!("${name}"), format!("${{{name}")]
            .iter()
            .any(|needle| text.contains(needle.as_str()));
        if !used {
            c.warn(
                pos,
                "UnusedArg",
                format!("ARG {name} is declared but never used"),
                "remove it, or refer to it as $NAME or ${NAME} where it matters",
            );
        }
    }
    let mut out = c.out;
    out.sort_by_key(|d| (d.line, d.column));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_looking_names_are_words_not_substrings() {
        assert!(looks_secret("DB_PASSWORD"));
        assert!(looks_secret("api_token"));
        assert!(!looks_secret("MONKEY"));
        assert!(!looks_secret("VERSION"));
    }

    #[test]
    fn referenced_vars_finds_both_forms() {
        assert_eq!(referenced_vars("${BASE:-busybox}:$TAG"), ["BASE", "TAG"]);
        assert!(referenced_vars("busybox").is_empty());
    }
}
