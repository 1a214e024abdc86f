//! Here-documents in RUN and COPY, with Docker's (BuildKit's) meaning.
//!
//! - `RUN <<EOF` alone: the body is the script. Without a `#!` line it runs
//!   under the stage's SHELL (`/bin/sh -c BODY`); with one, the body is
//!   bound read-only into the container as `/dev/pipes/EOF` (mode 0755) and
//!   executed, so its interpreter runs it.
//! - `RUN cmd <<EOF ...`, `RUN cat <<EOF > /file`, or several markers
//!   (`RUN <<A cat > /a && <<B cat > /b`): the shell does the
//!   here-documents itself, so the command line, then each body and its
//!   closing delimiter, go to `sh -c` together, as written.
//!
//! The bodies of a RUN are read from the text by the pre-pass in
//! `dockerfile/heredocs.rs` (the parser crate reads only one, and only
//! right after RUN); COPY's come from the parser.
//! - `COPY <<EOF /path`: the body becomes a file (mode 0644 unless
//!   `--chmod`), named after the delimiter when the destination is a
//!   directory. Unless the delimiter is quoted (`<<"EOF"`), `$VAR` and
//!   `${VAR...}` in the body are expanded from ARG and ENV first.

use super::words::Vars;

/// A here-document marker as written on the instruction line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    /// The delimiter word, without quotes.
    pub name: String,
    /// `<<-`: leading tabs are stripped from the body.
    pub strip_tabs: bool,
    /// The delimiter was quoted: no expansion.
    pub quoted: bool,
}

/// The shell words of `line` as byte ranges: blanks split words except
/// inside quotes or after a backslash; the quotes stay in the word (as
/// BuildKit reads a line for here-document markers).
pub fn word_spans(line: &str) -> Vec<std::ops::Range<usize>> {
    let b = line.as_bytes();
    let mut out = Vec::new();
    let mut start = None;
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if quote.is_none() && c.is_ascii_whitespace() {
            if let Some(s) = start.take() {
                out.push(s..i);
            }
            i += 1;
            continue;
        }
        start.get_or_insert(i);
        match quote {
            Some(q) if c == q => quote = None,
            Some(b'"') if c == b'\\' => i += 1,
            Some(_) => {}
            None if c == b'\\' => i += 1,
            None if c == b'"' || c == b'\'' => quote = Some(c),
            None => {}
        }
        i += 1;
    }
    if let Some(s) = start {
        out.push(s..b.len());
    }
    out
}

/// The marker a shell word is, if it is one: `<<NAME`, `<<-NAME`,
/// `<<"NAME"`, `<<'NAME'`, `<<\NAME`, optionally after a file descriptor
/// (`2<<NAME`). The name ends at a redirection or list operator
/// (`<<EOF>/file` is EOF and a redirection, as the shell reads it);
/// `<<<` (a here-string) is not a marker.
pub fn marker(word: &str) -> Option<Marker> {
    let s = word.trim_start_matches(|c: char| c.is_ascii_digit());
    let s = s.strip_prefix("<<")?;
    if s.starts_with('<') {
        return None;
    }
    let (s, strip_tabs) = match s.strip_prefix('-') {
        Some(r) => (r, true),
        None => (s, false),
    };
    let mut name = String::new();
    let mut quoted = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => name.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                quoted = true;
            }
            (None, '\\') => {
                quoted = true;
                name.extend(chars.next());
            }
            (None, '>' | '<' | '|' | ';' | '&' | '(' | ')') => break,
            (None, c) => name.push(c),
        }
    }
    (!name.is_empty()).then_some(Marker {
        name,
        strip_tabs,
        quoted,
    })
}

/// The markers on an instruction's line, in order.
pub fn markers(line: &str) -> Vec<Marker> {
    word_spans(line)
        .into_iter()
        .filter_map(|w| marker(&line[w]))
        .collect()
}

/// One here-document of a RUN, as the pre-pass read it from the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    /// Its marker.
    pub marker: Marker,
    /// The lines between the marker's line and the delimiter, as written
    /// (each with its newline; tabs not yet stripped).
    pub raw: String,
}

impl Body {
    /// The content: `raw` with leading tabs stripped from every line when
    /// the marker was `<<-`.
    pub fn content(&self) -> String {
        if !self.marker.strip_tabs {
            return self.raw.clone();
        }
        self.raw
            .split_inclusive('\n')
            .map(|l| l.trim_start_matches('\t'))
            .collect()
    }
}

/// The here-documents of one RUN and its command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunHeredocs {
    /// The command after RUN and its flags, continuation lines joined,
    /// markers as written.
    pub command: String,
    /// The bodies, in the order of their markers.
    pub bodies: Vec<Body>,
}

/// How a RUN with a here-document runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunForm {
    /// argv for the container (the shell with one script argument).
    Shell(Vec<String>),
    /// A `#!` script: bind `body` at `/dev/pipes/NAME` and execute it.
    Script {
        /// The delimiter, used as the file name.
        name: String,
        /// The script.
        body: String,
    },
}

/// Where a `#!` here-document script is bound in the container.
pub fn script_path(name: &str) -> String {
    format!("/dev/pipes/{name}")
}

/// The form of a RUN with here-documents `h`, under the stage's `shell`.
/// A command that is nothing but one marker runs the body itself (as a
/// file when it starts with `#!`); anything else goes to the shell whole:
/// the command line, then each body followed by its delimiter, so the
/// shell does the here-documents (BuildKit's "reconstituted" form).
pub fn run_form(h: &RunHeredocs, shell: &[String]) -> RunForm {
    let command = h.command.trim();
    let lone = word_spans(command).len() == 1 && marker(command).is_some();
    let mut argv = shell.to_vec();
    match h.bodies.as_slice() {
        [only] if lone => {
            let body = only.content();
            if body.starts_with("#!") {
                return RunForm::Script {
                    name: only.marker.name.clone(),
                    body,
                };
            }
            argv.push(body);
        }
        bodies => {
            let mut script = command.to_string();
            for b in bodies {
                script.push('\n');
                script.push_str(&b.raw);
                if !b.raw.is_empty() && !b.raw.ends_with('\n') {
                    script.push('\n');
                }
                script.push_str(&b.marker.name);
            }
            argv.push(script);
        }
    }
    RunForm::Shell(argv)
}

/// Expands `$NAME`, `${NAME}`, `${NAME:-word}` and `${NAME:+word}` in a
/// COPY here-document body; `\$` stays a literal `$`. Quotes are left as
/// they are (the body is file content, not shell words). Unknown names
/// expand to nothing, as in Docker.
pub fn expand(body: &str, vars: &Vars) -> String {
    let mut out = String::with_capacity(body.len());
    let chars: Vec<char> = body.chars().collect();
    let mut i = 0;
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && chars.get(i + 1) == Some(&'$') {
            out.push('$');
            i += 2;
            continue;
        }
        if c != '$' {
            out.push(c);
            i += 1;
            continue;
        }
        if chars.get(i + 1) == Some(&'{') {
            let Some(close) = chars[i + 2..].iter().position(|c| *c == '}') else {
                out.push(c);
                i += 1;
                continue;
            };
            let inner: String = chars[i + 2..i + 2 + close].iter().collect();
            let (name, op) = match inner.find(":-").or_else(|| inner.find(":+")) {
                Some(p) => (&inner[..p], Some((&inner[p..p + 2], &inner[p + 2..]))),
                None => (inner.as_str(), None),
            };
            let value = vars.get(name).filter(|v| !v.is_empty());
            match op {
                None => out.push_str(value.map(String::as_str).unwrap_or("")),
                Some((":-", word)) => out.push_str(value.map(String::as_str).unwrap_or(word)),
                Some((_, word)) => {
                    if value.is_some() {
                        out.push_str(word)
                    }
                }
            }
            i += close + 3;
            continue;
        }
        let end = chars[i + 1..]
            .iter()
            .position(|c| !is_name(*c))
            .map(|p| i + 1 + p)
            .unwrap_or(chars.len());
        if end == i + 1 {
            out.push('$');
            i += 1;
            continue;
        }
        let name: String = chars[i + 1..end].iter().collect();
        out.push_str(vars.get(&name).map(String::as_str).unwrap_or(""));
        i = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh() -> Vec<String> {
        vec!["/bin/sh".into(), "-c".into()]
    }

    fn body(line: &str, raw: &str) -> Body {
        Body {
            marker: marker(line).unwrap(),
            raw: raw.into(),
        }
    }

    #[test]
    fn markers_read_plain_quoted_and_tab_stripping_delimiters() {
        let m = markers("<<EOF");
        assert_eq!(m[0].name, "EOF");
        assert!(!m[0].quoted && !m[0].strip_tabs);
        let m = markers("<<-\"END\" /etc/x <<two");
        assert_eq!(m.len(), 2);
        assert_eq!(
            (m[0].name.as_str(), m[0].quoted, m[0].strip_tabs),
            ("END", true, true)
        );
        assert_eq!(m[1].name, "two");
        assert_eq!(markers("cat <<EOF > /x")[0].name, "EOF");
        assert_eq!(markers("cat <<EOF>/x")[0].name, "EOF");
        assert_eq!(markers("cat 2<<\\EOF")[0], marker("<<'EOF'").unwrap());
        assert!(markers("echo \"a <<EOF\" 'b <<c' <<<here").is_empty());
        assert_eq!(
            word_spans("a  'b c' d\\ e").len(),
            3,
            "quotes and escapes keep blanks in a word"
        );
    }

    #[test]
    fn a_lone_heredoc_is_the_script_and_a_shebang_makes_it_a_file() {
        let lone = |raw: &str| RunHeredocs {
            command: "<<EOF".into(),
            bodies: vec![body("<<EOF", raw)],
        };
        assert_eq!(
            run_form(&lone("echo a\necho b\n"), &sh()),
            RunForm::Shell(vec![
                "/bin/sh".into(),
                "-c".into(),
                "echo a\necho b\n".into()
            ])
        );
        assert_eq!(
            run_form(&lone("#!/bin/sh -e\necho a\n"), &sh()),
            RunForm::Script {
                name: "EOF".into(),
                body: "#!/bin/sh -e\necho a\n".into()
            }
        );
        let tabs = RunHeredocs {
            command: "<<-EOF".into(),
            bodies: vec![body("<<-EOF", "\t\techo a\n\techo b\n")],
        };
        assert_eq!(
            run_form(&tabs, &sh()),
            RunForm::Shell(vec![
                "/bin/sh".into(),
                "-c".into(),
                "echo a\necho b\n".into()
            ])
        );
    }

    #[test]
    fn a_command_around_heredocs_gets_them_from_the_shell() {
        let h = RunHeredocs {
            command: "<<'EOF' cat > /greeting".into(),
            bodies: vec![body("<<'EOF'", "hello $X\n")],
        };
        assert_eq!(
            run_form(&h, &sh()),
            RunForm::Shell(vec![
                "/bin/sh".into(),
                "-c".into(),
                "<<'EOF' cat > /greeting\nhello $X\nEOF".into()
            ])
        );
        let two = RunHeredocs {
            command: "<<F1 cat > /f1 && <<F2 cat > /f2".into(),
            bodies: vec![body("<<F1", "first\n"), body("<<F2", "second\n")],
        };
        assert_eq!(
            run_form(&two, &sh()),
            RunForm::Shell(vec![
                "/bin/sh".into(),
                "-c".into(),
                "<<F1 cat > /f1 && <<F2 cat > /f2\nfirst\nF1\nsecond\nF2".into()
            ])
        );
    }

    #[test]
    fn copy_bodies_expand_variables_but_keep_quotes() {
        let vars: Vars = [("WHO".to_string(), "class".to_string())].into();
        assert_eq!(
            expand("hi \"$WHO\" ${WHO} ${NOPE:-x} ${WHO:+y} \\$WHO $", &vars),
            "hi \"class\" class x y $WHO $"
        );
    }
}
