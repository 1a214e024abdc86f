//! Here-documents in RUN and COPY, with Docker's (BuildKit's) meaning.
//!
//! - `RUN <<EOF` alone: the body is the script. Without a `#!` line it runs
//!   under the stage's SHELL (`/bin/sh -c BODY`); with one, the body is
//!   bound read-only into the container as `/dev/pipes/EOF` (mode 0755) and
//!   executed, so its interpreter runs it.
//! - `RUN cmd <<EOF ...`: the shell does the here-document itself, so the
//!   command line, the body and the closing delimiter go to `sh -c`
//!   together, as written.
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

/// The markers on an instruction's first line, in order.
pub fn markers(line: &str) -> Vec<Marker> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("<<") {
        let mut s = &rest[i + 2..];
        let strip_tabs = s.starts_with('-');
        if strip_tabs {
            s = &s[1..];
        }
        let quote = s.chars().next().filter(|c| *c == '"' || *c == '\'');
        let (name, used) = match quote {
            Some(q) => match s[1..].find(q) {
                Some(end) => (s[1..1 + end].to_string(), end + 2),
                None => (String::new(), s.len()),
            },
            None => {
                let end = s
                    .find(|c: char| {
                        c.is_whitespace() || c == '>' || c == '|' || c == ';' || c == '&'
                    })
                    .unwrap_or(s.len());
                (s[..end].to_string(), end)
            }
        };
        if !name.is_empty() {
            out.push(Marker {
                name,
                strip_tabs,
                quoted: quote.is_some(),
            });
        }
        rest = &s[used..];
    }
    out
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

/// The form of a RUN whose first line is `line` (keyword included), whose
/// text after the here-document's delimiter is `rest` (what the parser
/// calls its arguments) and whose body is `body`.
pub fn run_form(line: &str, rest: &str, body: &str, shell: &[String]) -> RunForm {
    let m = markers(line).into_iter().next().unwrap_or(Marker {
        name: "EOF".into(),
        strip_tabs: false,
        quoted: false,
    });
    let mut argv = shell.to_vec();
    if rest.trim().is_empty() {
        if body.starts_with("#!") {
            return RunForm::Script {
                name: m.name,
                body: body.to_string(),
            };
        }
        argv.push(body.to_string());
    } else {
        // `RUN <<EOF cmd args`: the shell reads `<<EOF cmd args` (a
        // redirection may come first) and the here-document itself.
        let mut script = format!(
            "<<{}{}{}",
            if m.strip_tabs { "-" } else { "" },
            if m.quoted {
                format!("'{}'", m.name)
            } else {
                m.name.clone()
            },
            rest.trim_end()
        );
        script.push('\n');
        script.push_str(body);
        if !body.is_empty() && !body.ends_with('\n') {
            script.push('\n');
        }
        script.push_str(&m.name);
        argv.push(script);
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
    }

    #[test]
    fn a_lone_heredoc_is_the_script_and_a_shebang_makes_it_a_file() {
        assert_eq!(
            run_form("RUN <<EOF", "", "echo a\necho b\n", &sh()),
            RunForm::Shell(vec![
                "/bin/sh".into(),
                "-c".into(),
                "echo a\necho b\n".into()
            ])
        );
        assert_eq!(
            run_form("RUN <<EOF", "", "#!/bin/sh -e\necho a\n", &sh()),
            RunForm::Script {
                name: "EOF".into(),
                body: "#!/bin/sh -e\necho a\n".into()
            }
        );
    }

    #[test]
    fn a_command_after_the_heredoc_gets_it_from_the_shell() {
        assert_eq!(
            run_form(
                "RUN <<'EOF' cat > /greeting",
                " cat > /greeting",
                "hello $X\n",
                &sh()
            ),
            RunForm::Shell(vec![
                "/bin/sh".into(),
                "-c".into(),
                "<<'EOF' cat > /greeting\nhello $X\nEOF".into()
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
