//! `.dockerignore` matching with Docker's semantics.
//!
//! Patterns are relative to the context root (a leading `/` is dropped and
//! each pattern is cleaned like Go's `filepath.Clean`); `*` matches any run of
//! characters except `/`, `?` one character except `/`, `[...]` a class, `**`
//! any number of directories (zero included). A line starting with `!` is an
//! exception that re-includes what earlier lines excluded; the *last*
//! matching line wins. A pattern that matches a directory excludes
//! everything beneath it, which is why Docker checks a path and its parents.
//! Lines starting with `#` are comments; blank lines are skipped.

/// One cleaned line of a `.dockerignore`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    /// The cleaned pattern, without `!` and without a leading `/`.
    pub glob: String,
    /// True for `!pattern` (an exception that re-includes).
    pub exclusion: bool,
    /// The 1-based line it came from, for diagnostics.
    pub line: usize,
}

/// The parsed contents of a `.dockerignore`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DockerIgnore {
    /// Patterns in file order (the last match wins).
    pub patterns: Vec<Pattern>,
}

impl DockerIgnore {
    /// Parses the text of a `.dockerignore` file.
    pub fn parse(text: &str) -> Self {
        let mut patterns = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exclusion, rest) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let glob = clean(rest);
            if glob.is_empty() {
                continue;
            }
            patterns.push(Pattern {
                glob,
                exclusion,
                line: i + 1,
            });
        }
        DockerIgnore { patterns }
    }

    /// Is `path` (relative to the context root, `/`-separated) excluded?
    ///
    /// The last pattern that matches the path or one of its parent
    /// directories decides; no match means the path is included.
    pub fn is_excluded(&self, path: &str) -> bool {
        self.deciding_pattern(path)
            .map(|p| !p.exclusion)
            .unwrap_or(false)
    }

    /// The pattern that decides `path`'s fate, if any (for "excluded by
    /// .dockerignore line N" diagnostics).
    pub fn deciding_pattern(&self, path: &str) -> Option<&Pattern> {
        let path = clean(path);
        let mut decided = None;
        for pattern in &self.patterns {
            if matches_or_parent_matches(&pattern.glob, &path) {
                decided = Some(pattern);
            }
        }
        decided
    }
}

/// Cleans a path like Go's `filepath.Clean` relative to the root: drops
/// leading `/`, empty and `.` segments, and resolves `..` (never above the
/// root).
pub fn clean(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    out.join("/")
}

fn matches_or_parent_matches(glob: &str, path: &str) -> bool {
    if glob_match(glob, path) {
        return true;
    }
    let mut end = path.len();
    while let Some(slash) = path[..end].rfind('/') {
        if glob_match(glob, &path[..slash]) {
            return true;
        }
        end = slash;
    }
    false
}

/// Matches `text` against a Docker glob (`*`, `?`, `[...]`, `**`, `\`).
pub fn glob_match(glob: &str, text: &str) -> bool {
    let g: Vec<char> = glob.chars().collect();
    let t: Vec<char> = text.chars().collect();
    match_at(&g, &t)
}

fn match_at(g: &[char], t: &[char]) -> bool {
    if g.is_empty() {
        return t.is_empty();
    }
    match g[0] {
        '*' if g.get(1) == Some(&'*') => {
            // `**/` may match zero directories; `**` matches anything.
            let rest = &g[2..];
            if rest.first() == Some(&'/') && match_at(&rest[1..], t) {
                return true;
            }
            (0..=t.len()).any(|i| match_at(rest, &t[i..]))
        }
        '*' => {
            let rest = &g[1..];
            for i in 0..=t.len() {
                if match_at(rest, &t[i..]) {
                    return true;
                }
                if i < t.len() && t[i] == '/' {
                    break;
                }
            }
            false
        }
        '?' => !t.is_empty() && t[0] != '/' && match_at(&g[1..], &t[1..]),
        '[' => match class(g) {
            Some((set_len, matcher)) => {
                !t.is_empty() && t[0] != '/' && matcher(t[0]) && match_at(&g[set_len..], &t[1..])
            }
            None => !t.is_empty() && t[0] == '[' && match_at(&g[1..], &t[1..]),
        },
        '\\' if g.len() > 1 => !t.is_empty() && t[0] == g[1] && match_at(&g[2..], &t[1..]),
        c => !t.is_empty() && t[0] == c && match_at(&g[1..], &t[1..]),
    }
}

/// Parses a `[...]` class at the start of `g`: returns its length and a
/// matcher, or `None` when the bracket is not closed.
#[allow(clippy::type_complexity)]
fn class(g: &[char]) -> Option<(usize, Box<dyn Fn(char) -> bool>)> {
    let mut i = 1;
    let negate = matches!(g.get(1), Some('^') | Some('!'));
    if negate {
        i += 1;
    }
    let mut ranges: Vec<(char, char)> = Vec::new();
    let mut first = true;
    while i < g.len() {
        if g[i] == ']' && !first {
            let len = i + 1;
            return Some((
                len,
                Box::new(move |c| ranges.iter().any(|(lo, hi)| *lo <= c && c <= *hi) != negate),
            ));
        }
        first = false;
        let mut lo = g[i];
        if lo == '\\' && i + 1 < g.len() {
            i += 1;
            lo = g[i];
        }
        if g.get(i + 1) == Some(&'-') && g.get(i + 2).is_some_and(|c| *c != ']') {
            ranges.push((lo, g[i + 2]));
            i += 3;
        } else {
            ranges.push((lo, lo));
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ig(text: &str) -> DockerIgnore {
        DockerIgnore::parse(text)
    }

    #[test]
    fn star_stays_within_one_directory() {
        let d = ig("*.log\n");
        assert!(d.is_excluded("a.log"));
        assert!(!d.is_excluded("logs/a.log"));
        assert!(glob_match("*/*.md", "docs/x.md"));
        assert!(!glob_match("*/*.md", "docs/sub/x.md"));
    }

    #[test]
    fn double_star_crosses_directories_including_none() {
        let d = ig("**/*.go\n");
        assert!(d.is_excluded("main.go"));
        assert!(d.is_excluded("a/b/c.go"));
        assert!(!d.is_excluded("a/b/c.rs"));
        assert!(glob_match("a/**/z", "a/z"));
        assert!(glob_match("a/**/z", "a/b/c/z"));
    }

    #[test]
    fn exception_reincludes_and_last_match_wins() {
        let d = ig("*.md\n!README.md\n");
        assert!(d.is_excluded("CHANGES.md"));
        assert!(!d.is_excluded("README.md"));
        let d = ig("!README.md\n*.md\n");
        assert!(
            d.is_excluded("README.md"),
            "a later pattern overrides an earlier exception"
        );
    }

    #[test]
    fn excluded_directory_excludes_its_contents() {
        let d = ig("node_modules\n");
        assert!(d.is_excluded("node_modules"));
        assert!(d.is_excluded("node_modules/x/index.js"));
        assert!(!d.is_excluded("src/node_modules_readme"));
    }

    #[test]
    fn comments_blank_lines_and_leading_slash() {
        let d = ig("# secrets\n\n/secret.txt\n  ./tmp/  \n");
        assert_eq!(d.patterns.len(), 2);
        assert!(d.is_excluded("secret.txt"));
        assert!(d.is_excluded("tmp/x"));
        assert_eq!(d.deciding_pattern("secret.txt").map(|p| p.line), Some(3));
    }

    #[test]
    fn question_mark_and_classes() {
        assert!(glob_match("file?.txt", "file1.txt"));
        assert!(!glob_match("file?.txt", "file/.txt"));
        assert!(glob_match("[a-c]x", "bx"));
        assert!(!glob_match("[^a-c]x", "bx"));
        assert!(glob_match("\\*lit", "*lit"));
        assert!(!glob_match("\\*lit", "alit"));
    }
}
