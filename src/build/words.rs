//! Docker's variable substitution and word processing.
//!
//! Docker expands variables in the arguments of ADD, COPY, ENV, EXPOSE,
//! FROM, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR and ONBUILD (not in RUN,
//! CMD or ENTRYPOINT: the shell does that there). The rules here follow
//! Docker's shell lexer: the escape character (`\` unless `# escape=`
//! changes it) makes the next character literal, single quotes are literal,
//! double quotes still expand `$`, and quotes are removed from the result.
//! Forms: `$VAR`, `${VAR}`, `${VAR:-word}` (word when unset or empty),
//! `${VAR-word}` (word when unset), `${VAR:+word}` (word when set and
//! non-empty), `${VAR+word}` (word when set), `${VAR:?msg}` (error).

use std::collections::BTreeMap;

/// The variables visible to one instruction (ARGs and ENVs in scope).
pub type Vars = BTreeMap<String, String>;

/// Why a word could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubstError {
    /// `${` without its `}`.
    #[error("missing '}}' to close '${{' at offset {0}")]
    Unclosed(usize),
    /// An unterminated quote.
    #[error("unterminated {quote} quote starting at offset {at}")]
    UnterminatedQuote {
        /// Which quote character.
        quote: char,
        /// Where it started.
        at: usize,
    },
    /// `${VAR:?msg}` with VAR unset.
    #[error("{name}: {message}")]
    Required {
        /// The variable.
        name: String,
        /// The message after `:?`.
        message: String,
    },
    /// `${VAR%...}` or another modifier Docker's classic builder rejects.
    #[error("unsupported modifier '{modifier}' in ${{{name}...}}")]
    UnsupportedModifier {
        /// The variable.
        name: String,
        /// The modifier text.
        modifier: String,
    },
}

/// Expands `word` into one string (quotes removed, escapes applied).
pub fn process_word(word: &str, vars: &Vars, escape: char) -> Result<String, SubstError> {
    let mut words = Lexer::new(word, vars, escape).run(false)?;
    Ok(words.pop().unwrap_or_default())
}

/// Expands `text` and splits it into words on unquoted whitespace (how
/// EXPOSE, VOLUME and the legacy `ENV k v` split their arguments).
pub fn process_words(text: &str, vars: &Vars, escape: char) -> Result<Vec<String>, SubstError> {
    Lexer::new(text, vars, escape).run(true)
}

struct Lexer<'a> {
    chars: Vec<char>,
    pos: usize,
    vars: &'a Vars,
    escape: char,
}

impl<'a> Lexer<'a> {
    fn new(text: &str, vars: &'a Vars, escape: char) -> Self {
        Lexer {
            chars: text.chars().collect(),
            pos: 0,
            vars,
            escape,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn run(&mut self, split: bool) -> Result<Vec<String>, SubstError> {
        let mut words = Vec::new();
        let mut cur = String::new();
        let mut in_word = false;
        while let Some(c) = self.peek() {
            if split && c.is_whitespace() {
                self.pos += 1;
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
                continue;
            }
            in_word = true;
            self.pos += 1;
            if c == self.escape {
                if let Some(n) = self.peek() {
                    cur.push(n);
                    self.pos += 1;
                } else {
                    cur.push(c);
                }
            } else if c == '\'' {
                let at = self.pos - 1;
                loop {
                    match self.peek() {
                        None => return Err(SubstError::UnterminatedQuote { quote: '\'', at }),
                        Some('\'') => {
                            self.pos += 1;
                            break;
                        }
                        Some(n) => {
                            cur.push(n);
                            self.pos += 1;
                        }
                    }
                }
            } else if c == '"' {
                let at = self.pos - 1;
                loop {
                    match self.peek() {
                        None => return Err(SubstError::UnterminatedQuote { quote: '"', at }),
                        Some('"') => {
                            self.pos += 1;
                            break;
                        }
                        Some('$') => {
                            self.pos += 1;
                            let v = self.dollar()?;
                            cur.push_str(&v);
                        }
                        Some(n) if n == self.escape => {
                            self.pos += 1;
                            match self.peek() {
                                // Inside double quotes the escape only
                                // protects `"`, `$` and itself.
                                Some(m) if m == '"' || m == '$' || m == self.escape => {
                                    cur.push(m);
                                    self.pos += 1;
                                }
                                _ => cur.push(n),
                            }
                        }
                        Some(n) => {
                            cur.push(n);
                            self.pos += 1;
                        }
                    }
                }
            } else if c == '$' {
                let v = self.dollar()?;
                cur.push_str(&v);
            } else {
                cur.push(c);
            }
        }
        if in_word || !split {
            words.push(cur);
        }
        Ok(words)
    }

    /// Expands what follows a `$` (already consumed).
    fn dollar(&mut self) -> Result<String, SubstError> {
        let start = self.pos - 1;
        match self.peek() {
            Some('{') => {
                self.pos += 1;
                let name = self.name();
                match self.peek() {
                    Some('}') => {
                        self.pos += 1;
                        Ok(self.vars.get(&name).cloned().unwrap_or_default())
                    }
                    Some(':') | Some('-') | Some('+') | Some('?') => {
                        let colon = self.peek() == Some(':');
                        if colon {
                            self.pos += 1;
                        }
                        let op = self.peek().ok_or(SubstError::Unclosed(start))?;
                        self.pos += 1;
                        let word = self.until_brace(start)?;
                        let value = self.vars.get(&name);
                        let set = value.is_some_and(|v| !colon || !v.is_empty());
                        match op {
                            '-' if set => Ok(value.cloned().unwrap_or_default()),
                            '-' => process_word(&word, self.vars, self.escape),
                            '+' if set => process_word(&word, self.vars, self.escape),
                            '+' => Ok(String::new()),
                            '?' if set => Ok(value.cloned().unwrap_or_default()),
                            '?' => Err(SubstError::Required {
                                name,
                                message: if word.is_empty() {
                                    "is not allowed to be unset".into()
                                } else {
                                    word
                                },
                            }),
                            other => Err(SubstError::UnsupportedModifier {
                                name,
                                modifier: format!("{}{other}", if colon { ":" } else { "" }),
                            }),
                        }
                    }
                    Some(other) => {
                        let rest = self.until_brace(start)?;
                        Err(SubstError::UnsupportedModifier {
                            name,
                            modifier: format!("{other}{}", rest.get(1..).unwrap_or("")),
                        })
                    }
                    None => Err(SubstError::Unclosed(start)),
                }
            }
            Some(c) if c.is_ascii_alphanumeric() || c == '_' => {
                let name = self.name();
                Ok(self.vars.get(&name).cloned().unwrap_or_default())
            }
            // A lone `$` stays literal, as in Docker.
            _ => Ok("$".into()),
        }
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == '_' {
                name.push(c);
                self.pos += 1;
            } else {
                break;
            }
        }
        name
    }

    /// Raw text up to the matching `}` (nested `${}` kept whole).
    fn until_brace(&mut self, start: usize) -> Result<String, SubstError> {
        let mut depth = 0;
        let mut out = String::new();
        while let Some(c) = self.peek() {
            self.pos += 1;
            match c {
                '}' if depth == 0 => return Ok(out),
                '}' => depth -= 1,
                '{' if out.ends_with('$') => depth += 1,
                _ => {}
            }
            out.push(c);
        }
        Err(SubstError::Unclosed(start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        [("NAME", "app"), ("EMPTY", ""), ("DIR", "/srv")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn w(s: &str) -> String {
        process_word(s, &vars(), '\\').unwrap()
    }

    #[test]
    fn plain_and_braced_variables() {
        assert_eq!(w("$NAME"), "app");
        assert_eq!(w("${NAME}.js"), "app.js");
        assert_eq!(w("$DIR/$NAME"), "/srv/app");
        assert_eq!(w("$MISSING-x"), "-x");
    }

    #[test]
    fn default_and_alternative_forms() {
        assert_eq!(w("${MISSING:-dflt}"), "dflt");
        assert_eq!(w("${EMPTY:-dflt}"), "dflt");
        assert_eq!(w("${EMPTY-dflt}"), "", "without ':' only unset counts");
        assert_eq!(w("${NAME:-dflt}"), "app");
        assert_eq!(w("${NAME:+alt}"), "alt");
        assert_eq!(w("${EMPTY:+alt}"), "");
        assert_eq!(w("${EMPTY+alt}"), "alt");
        assert_eq!(w("${MISSING:-$DIR}"), "/srv");
    }

    #[test]
    fn escapes_and_quotes() {
        assert_eq!(w("\\$NAME"), "$NAME");
        assert_eq!(w("'$NAME'"), "$NAME");
        assert_eq!(w("\"$NAME x\""), "app x");
        assert_eq!(w("\"\\$NAME\""), "$NAME");
        assert_eq!(process_word("`$NAME", &vars(), '`').unwrap(), "$NAME");
        assert_eq!(w("cost $"), "cost $");
    }

    #[test]
    fn errors_name_the_problem() {
        let v = vars();
        assert_eq!(
            process_word("${NAME", &v, '\\'),
            Err(SubstError::Unclosed(0))
        );
        assert!(matches!(
            process_word("${MISSING:?set it}", &v, '\\'),
            Err(SubstError::Required { .. })
        ));
        assert!(matches!(
            process_word("'open", &v, '\\'),
            Err(SubstError::UnterminatedQuote { quote: '\'', .. })
        ));
    }

    #[test]
    fn words_split_on_unquoted_whitespace() {
        let v = vars();
        assert_eq!(
            process_words("80/tcp  \"a b\" ${NAME}", &v, '\\').unwrap(),
            vec!["80/tcp", "a b", "app"]
        );
        assert_eq!(
            process_words("   ", &v, '\\').unwrap(),
            Vec::<String>::new()
        );
    }
}
