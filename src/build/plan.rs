//! The stage planner and the cache key, as pure code.
//!
//! [`Plan::new`] finds the stages of a parsed Dockerfile and what each one
//! depends on (its FROM naming an earlier stage, `COPY --from=stage`,
//! `RUN --mount=...,from=stage`);
//! [`Plan::order_for`] gives the stages a `--target` needs, dependencies
//! first, and drops the rest. [`CacheInputs`] records what went into one
//! instruction's cache key — the parent key, the instruction text after
//! substitution, and for COPY/ADD each source file's content hash — and
//! [`CacheInputs::explain_change`] says in words which input changed.

use std::collections::BTreeMap;

use parse_dockerfile::{Dockerfile, Instruction};
use sha2::{Digest, Sha256};

use super::dockerfile::diag::{did_you_mean_among, location};
use super::dockerfile::{Diagnostic, Severity};

/// One build stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagePlan {
    /// Its index (`--from=0` style references use it).
    pub index: usize,
    /// The name after AS, lower-cased, if any.
    pub name: Option<String>,
    /// The FROM image text as written (before substitution).
    pub base: String,
    /// Earlier stages it needs (FROM stage, COPY --from=stage, RUN
    /// --mount from=stage), sorted.
    pub depends_on: Vec<usize>,
}

/// The stages of a Dockerfile and how they depend on each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Stages in file order.
    pub stages: Vec<StagePlan>,
}

/// A reference to a stage that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PlanError {
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub hint: Option<String>,
    /// 1-based line and column, when the problem is in the Dockerfile.
    pub at: Option<(usize, usize)>,
}

impl PlanError {
    /// The error as a Dockerfile diagnostic (snippet and caret when it has a
    /// place in the file; line 1 otherwise, e.g. for `--target`).
    pub fn to_diagnostic(&self, file: &str, text: &str) -> Diagnostic {
        let (line, column) = self.at.unwrap_or((1, 1));
        Diagnostic {
            severity: Severity::Error,
            code: if self.at.is_some() {
                "StageReference"
            } else {
                "TargetNotFound"
            },
            file: file.to_string(),
            line,
            column,
            message: self.message.clone(),
            hint: self.hint.clone(),
            source_line: text.lines().nth(line - 1).unwrap_or("").to_string(),
        }
    }
}

impl Plan {
    /// Builds the stage graph of `df` (parsed from `text`).
    pub fn new(text: &str, df: &Dockerfile<'_>) -> Result<Plan, PlanError> {
        let mut stages: Vec<StagePlan> = Vec::new();
        for ins in &df.instructions {
            match ins {
                Instruction::From(f) => {
                    let base = f.image.value.to_string();
                    let mut depends_on = Vec::new();
                    if let Some(i) = find(&stages, &base) {
                        depends_on.push(i);
                    }
                    stages.push(StagePlan {
                        index: stages.len(),
                        name: f.as_.as_ref().map(|(_, n)| n.value.to_lowercase()),
                        base,
                        depends_on,
                    });
                }
                Instruction::Copy(_) | Instruction::Run(_) => {
                    let Some(cur) = stages.last() else { continue };
                    let cur_index = cur.index;
                    for (reference, at) in from_references(ins) {
                        let what = match ins {
                            Instruction::Run(_) => "RUN --mount from",
                            _ => "COPY --from",
                        };
                        match find(&stages, &reference) {
                            Some(i) if i == cur_index => {
                                return Err(PlanError {
                                    message: format!("{what}={reference} names the stage it is in"),
                                    hint: Some("use an earlier stage or an image".into()),
                                    at: Some(location(text, at)),
                                })
                            }
                            Some(i) => stages[cur_index].depends_on.push(i),
                            None if later_stage(df, &reference, cur_index) => {
                                return Err(PlanError {
                                    message: format!(
                                        "{what}={reference} refers to a stage defined later in the file"
                                    ),
                                    hint: Some("move that stage above this one".into()),
                                    at: Some(location(text, at)),
                                })
                            }
                            None if reference.parse::<usize>().is_ok() => {
                                return Err(PlanError {
                                    message: format!("{what}={reference}: there is no stage {reference} before this one"),
                                    hint: Some(format!("stages are numbered from 0; this is stage {cur_index}")),
                                    at: Some(location(text, at)),
                                })
                            }
                            // Anything else is an image reference, as in Docker.
                            None => {}
                        }
                    }
                }
                _ => {}
            }
        }
        for s in &mut stages {
            s.depends_on.sort_unstable();
            s.depends_on.dedup();
        }
        Ok(Plan { stages })
    }

    /// The stages to build for `target` (the last stage when `None`),
    /// dependencies first; stages the target does not need are pruned.
    pub fn order_for(&self, target: Option<&str>) -> Result<Vec<usize>, PlanError> {
        let want = match target {
            None => self.stages.len().saturating_sub(1),
            Some(t) => find(&self.stages, &t.to_lowercase()).ok_or_else(|| {
                let names: Vec<&str> = self
                    .stages
                    .iter()
                    .filter_map(|s| s.name.as_deref())
                    .collect();
                PlanError {
                    message: format!("target stage '{t}' could not be found"),
                    hint: Some(match did_you_mean_among(t, &names) {
                        Some(n) => format!("did you mean --target {n}?"),
                        None if names.is_empty() => {
                            "this Dockerfile names no stages; add AS name to a FROM".into()
                        }
                        None => format!("the stages are: {}", names.join(", ")),
                    }),
                    at: None,
                }
            })?,
        };
        let mut needed = vec![false; self.stages.len()];
        let mut stack = vec![want];
        while let Some(i) = stack.pop() {
            if !needed[i] {
                needed[i] = true;
                stack.extend(self.stages[i].depends_on.iter().copied());
            }
        }
        // Dependencies always point to earlier stages, so file order is a
        // valid build order.
        Ok((0..self.stages.len()).filter(|i| needed[*i]).collect())
    }
}

/// The stages or images an instruction reads from, lower-cased, with the
/// byte offset of the flag's value: `COPY --from=X`, and `from=X` in each
/// `RUN --mount=...`.
fn from_references(ins: &Instruction<'_>) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    match ins {
        Instruction::Copy(c) => {
            for flag in &c.options {
                if flag.name.value.trim_start_matches('-') == "from" {
                    if let Some(v) = &flag.value {
                        out.push((v.value.to_lowercase(), v.span.start));
                    }
                }
            }
        }
        Instruction::Run(r) => {
            for flag in &r.options {
                if flag.name.value.trim_start_matches('-') != "mount" {
                    continue;
                }
                let Some(v) = &flag.value else { continue };
                for part in v.value.split(',') {
                    if let Some(name) = part.strip_prefix("from=") {
                        out.push((name.to_lowercase(), v.span.start));
                    }
                }
            }
        }
        _ => {}
    }
    out
}

fn find(stages: &[StagePlan], reference: &str) -> Option<usize> {
    let r = reference.to_lowercase();
    stages
        .iter()
        .position(|s| s.name.as_deref() == Some(r.as_str()))
        .or_else(|| r.parse::<usize>().ok().filter(|i| *i < stages.len()))
}

fn later_stage(df: &Dockerfile<'_>, reference: &str, current: usize) -> bool {
    df.stages().skip(current + 1).any(|s| {
        s.from
            .as_
            .as_ref()
            .is_some_and(|(_, n)| n.value.to_lowercase() == reference)
    })
}

/// Everything that went into one instruction's cache key.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CacheInputs {
    /// The key of the previous step (or the base image's digest).
    pub parent: String,
    /// The instruction text after variable substitution.
    pub instruction: String,
    /// For COPY/ADD: source path (relative to the context) → its content
    /// hash (`sha256:` of name, mode bits and bytes; mtimes left out).
    pub sources: BTreeMap<String, String>,
}

impl CacheInputs {
    /// The cache key: sha256 over the parent key, the instruction text and
    /// every (path, content hash) pair in path order, each length-prefixed
    /// so no two different input sets can produce the same byte stream.
    pub fn key(&self) -> String {
        let mut h = Sha256::new();
        let mut put = |b: &[u8]| {
            h.update((b.len() as u64).to_be_bytes());
            h.update(b);
        };
        put(self.parent.as_bytes());
        put(self.instruction.as_bytes());
        for (path, hash) in &self.sources {
            put(path.as_bytes());
            put(hash.as_bytes());
        }
        format!("sha256:{}", hex::encode(h.finalize()))
    }

    /// Why the cached layer (recorded with `previous`) cannot be reused for
    /// these inputs, in words; `None` when nothing changed.
    pub fn explain_change(&self, previous: &CacheInputs) -> Option<String> {
        let what = self.instruction.split_whitespace().next().unwrap_or("");
        if self.parent != previous.parent {
            return Some(format!(
                "{}: an earlier step changed, so every step after it is rebuilt",
                self.instruction
            ));
        }
        if self.instruction != previous.instruction {
            return Some(format!(
                "{}: the instruction text changed since the cached layer (was: {})",
                self.instruction, previous.instruction
            ));
        }
        let mut reasons = Vec::new();
        for (path, hash) in &self.sources {
            match previous.sources.get(path) {
                None => reasons.push(format!("{path} is new")),
                Some(old) if old != hash => reasons.push(format!("content of {path} changed")),
                Some(_) => {}
            }
        }
        for path in previous.sources.keys() {
            if !self.sources.contains_key(path) {
                reasons.push(format!("{path} was removed"));
            }
        }
        if reasons.is_empty() {
            None
        } else {
            Some(format!(
                "{what} {}: {} since the cached layer",
                self.instruction.split_once(' ').map(|x| x.1).unwrap_or(""),
                reasons.join(", ")
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(text: &str) -> Plan {
        let df = parse_dockerfile::parse(text).unwrap();
        Plan::new(text, &df).unwrap()
    }

    const MULTI: &str = "FROM busybox AS deps\nRUN true\nFROM busybox AS build\nCOPY --from=deps /a /a\nFROM busybox AS unrelated\nRUN true\nFROM build AS final\n";

    #[test]
    fn target_prunes_stages_it_does_not_need() {
        let p = plan(MULTI);
        assert_eq!(p.stages[3].depends_on, vec![1]);
        assert_eq!(p.order_for(None).unwrap(), vec![0, 1, 3]);
        assert_eq!(p.order_for(Some("unrelated")).unwrap(), vec![2]);
        assert_eq!(p.order_for(Some("BUILD")).unwrap(), vec![0, 1]);
    }

    #[test]
    fn a_run_mount_from_a_stage_keeps_that_stage() {
        let p = plan("FROM busybox AS tools\nRUN true\nFROM busybox\nRUN --mount=type=bind,from=TOOLS,target=/t true\n");
        assert_eq!(p.stages[1].depends_on, vec![0]);
        assert_eq!(p.order_for(None).unwrap(), vec![0, 1]);
    }

    #[test]
    fn unknown_target_suggests_a_stage() {
        let err = plan(MULTI).order_for(Some("buidl")).unwrap_err();
        assert_eq!(err.message, "target stage 'buidl' could not be found");
        assert_eq!(err.hint.as_deref(), Some("did you mean --target build?"));
    }

    #[test]
    fn copy_from_a_later_stage_points_at_the_flag() {
        let text = "FROM busybox AS a\nCOPY --from=b /x /x\nFROM busybox AS b\n";
        let df = parse_dockerfile::parse(text).unwrap();
        let err = Plan::new(text, &df).unwrap_err();
        assert!(err.message.contains("defined later"), "{}", err.message);
        assert_eq!(err.at, Some((2, 13)));
        let text = "FROM busybox\nCOPY --from=alpine:3 /x /x\n";
        let df = parse_dockerfile::parse(text).unwrap();
        assert!(Plan::new(text, &df).is_ok(), "an unknown name is an image");
    }

    #[test]
    fn key_changes_with_each_input_and_explains_which() {
        let mut a = CacheInputs {
            parent: "sha256:base".into(),
            instruction: "COPY app.js /srv/".into(),
            sources: [("app.js".to_string(), "sha256:1".to_string())].into(),
        };
        let before = a.clone();
        assert_eq!(a.key(), before.key());
        assert_eq!(a.explain_change(&before), None);
        a.sources.insert("app.js".into(), "sha256:2".into());
        assert_ne!(a.key(), before.key());
        assert_eq!(
            a.explain_change(&before).unwrap(),
            "COPY app.js /srv/: content of app.js changed since the cached layer"
        );
        let mut b = before.clone();
        b.parent = "sha256:other".into();
        assert!(b
            .explain_change(&before)
            .unwrap()
            .contains("an earlier step changed"));
    }
}
