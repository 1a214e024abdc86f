//! ARG and ENV scoping, Docker's way.
//!
//! ARGs before the first FROM are *global*: visible in FROM lines only,
//! unless a stage re-declares them (`ARG NAME`, which then takes the global
//! value). A stage ARG takes its value from `--build-arg`, else its own
//! default, else the global one. ENV values persist through the stage and
//! win over an ARG of the same name. Each stage starts fresh.

use std::collections::BTreeMap;

use super::words::{process_word, process_words, SubstError, Vars};

/// Variables in scope while building.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    build_args: BTreeMap<String, String>,
    global: Vars,
    args: Vars,
    env: Vars,
    /// Build-args that some ARG declared (the rest are reported unused).
    pub consumed: std::collections::BTreeSet<String>,
}

impl Scope {
    /// A scope for one build with its `--build-arg` values.
    pub fn new(build_args: BTreeMap<String, String>) -> Self {
        Scope {
            build_args,
            ..Default::default()
        }
    }

    /// Declares a global ARG (before the first FROM), `decl` = `NAME[=default]`.
    pub fn global_arg(&mut self, decl: &str, escape: char) -> Result<(), SubstError> {
        let (name, default) = split_decl(decl);
        let default = match default {
            Some(d) => Some(process_word(d, &self.global, escape)?),
            None => None,
        };
        if let Some(v) = self.pick(&name, default) {
            self.global.insert(name, v);
        }
        Ok(())
    }

    /// Starts a new stage: stage ARGs and ENVs are forgotten.
    pub fn begin_stage(&mut self, base_env: Vars) {
        self.args.clear();
        self.env = base_env;
    }

    /// Declares an ARG inside a stage.
    pub fn stage_arg(&mut self, decl: &str, escape: char) -> Result<(), SubstError> {
        let (name, default) = split_decl(decl);
        let default = match default {
            Some(d) => Some(process_word(d, &self.vars(), escape)?),
            None => self.global.get(&name).cloned(),
        };
        if let Some(v) = self.pick(&name, default) {
            self.args.insert(name, v);
        } else {
            self.args.remove(&name);
        }
        Ok(())
    }

    fn pick(&mut self, name: &str, default: Option<String>) -> Option<String> {
        if let Some(v) = self.build_args.get(name) {
            self.consumed.insert(name.to_string());
            return Some(v.clone());
        }
        default
    }

    /// Applies an ENV instruction's argument text (both `k=v ...` and the
    /// legacy `k v`), returning the pairs it set.
    pub fn env(&mut self, text: &str, escape: char) -> Result<Vec<(String, String)>, SubstError> {
        let pairs = key_values(text, &self.vars(), escape)?;
        for (k, v) in &pairs {
            self.env.insert(k.clone(), v.clone());
        }
        Ok(pairs)
    }

    /// Variables visible in a FROM line (global ARGs only).
    pub fn for_from(&self) -> &Vars {
        &self.global
    }

    /// Variables visible to an instruction in the current stage.
    pub fn vars(&self) -> Vars {
        let mut v = self.args.clone();
        v.extend(self.env.clone());
        v
    }

    /// The stage's environment (what goes into the image config).
    pub fn env_vars(&self) -> &Vars {
        &self.env
    }
}

fn split_decl(decl: &str) -> (String, Option<&str>) {
    match decl.split_once('=') {
        Some((n, d)) => (n.trim().to_string(), Some(d)),
        None => (decl.trim().to_string(), None),
    }
}

/// Splits ENV/LABEL arguments into pairs: `k=v k2="v 2"` (each word split at
/// its first `=`), or the legacy `k v w` (first word is the key, the rest of
/// the line the value).
pub fn key_values(
    text: &str,
    vars: &Vars,
    escape: char,
) -> Result<Vec<(String, String)>, SubstError> {
    let text = text.trim();
    let first = text.split_whitespace().next().unwrap_or("");
    if !first.contains('=') {
        let rest = text[first.len()..].trim_start();
        return Ok(vec![(first.to_string(), process_word(rest, vars, escape)?)]);
    }
    process_words(text, vars, escape)?
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None => Ok((w, String::new())),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_arg_needs_redeclaring_inside_a_stage() {
        let mut s = Scope::new([("VERSION".to_string(), "2".to_string())].into());
        s.global_arg("VERSION=1", '\\').unwrap();
        s.global_arg("BASE=busybox", '\\').unwrap();
        assert_eq!(
            s.for_from().get("BASE").map(String::as_str),
            Some("busybox")
        );
        s.begin_stage(Vars::new());
        assert_eq!(
            s.vars().get("BASE"),
            None,
            "globals are not visible until redeclared"
        );
        s.stage_arg("BASE", '\\').unwrap();
        s.stage_arg("VERSION", '\\').unwrap();
        assert_eq!(s.vars().get("BASE").map(String::as_str), Some("busybox"));
        assert_eq!(
            s.vars().get("VERSION").map(String::as_str),
            Some("2"),
            "build-arg wins"
        );
        assert!(s.consumed.contains("VERSION"));
    }

    #[test]
    fn env_beats_arg_and_resets_per_stage() {
        let mut s = Scope::new(BTreeMap::new());
        s.begin_stage(Vars::new());
        s.stage_arg("X=arg", '\\').unwrap();
        s.env("X=env Y=${X}-y", '\\').unwrap();
        assert_eq!(s.vars().get("X").map(String::as_str), Some("env"));
        assert_eq!(
            s.vars().get("Y").map(String::as_str),
            Some("arg-y"),
            "substitution sees the values before this ENV"
        );
        s.begin_stage(Vars::new());
        assert!(s.vars().is_empty());
    }

    #[test]
    fn key_values_handles_both_env_forms() {
        let v = Vars::new();
        assert_eq!(
            key_values("A=1 B=\"two words\"", &v, '\\').unwrap(),
            vec![("A".into(), "1".into()), ("B".into(), "two words".into())]
        );
        assert_eq!(
            key_values("GREETING hello  world", &v, '\\').unwrap(),
            vec![("GREETING".into(), "hello  world".into())]
        );
    }
}
