//! The executor: `glassbox build`. Parses the Dockerfile, plans the stages
//! `--target` needs, then runs each instruction of each stage in order.
//! Metadata instructions change the config and add a history entry with
//! `empty_layer`; COPY/ADD (and WORKDIR when the directory is missing)
//! stage files into a temp dir and pack it into a layer. Every instruction
//! has a cache key ([`CacheInputs`]) and a hit or miss is an event that says
//! which input changed. The tag is set only after the image is committed,
//! so a failed build never leaves a tag pointing at a half-built image.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use parse_dockerfile::{Command, Flag, Instruction, Source};
use serde_json::json;

use super::cache::{Cache, CachedLayer, Lookup};
use super::config::ConfigState;
use super::context::Context;
use super::dockerfile::{self, diag::location, Diagnostic, Severity};
use super::plan::{CacheInputs, Plan};
use super::scope::Scope;
use super::view::View;
use crate::error::IoContext;
use crate::image::pack::PackOptions;
use crate::image::reference::Reference;
use crate::store::{Image, Store};
use crate::trace::{self, Kind};
use crate::Result;

/// A build that cannot go on, as a diagnostic pointing into the Dockerfile.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.render().trim_end())]
pub struct BuildError(pub Box<Diagnostic>);

/// What to build.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// The Dockerfile's text.
    pub dockerfile: String,
    /// Its name, as shown in diagnostics.
    pub dockerfile_name: String,
    /// The context directory (`None` for `glassbox build -`).
    pub context: Option<PathBuf>,
    /// `-t name:tag`.
    pub tag: Option<String>,
    /// `--build-arg K=V`.
    pub build_args: BTreeMap<String, String>,
    /// `--target stage`.
    pub target: Option<String>,
    /// `--no-cache`.
    pub no_cache: bool,
}

/// What a build produced.
#[derive(Debug)]
pub struct BuildOutput {
    /// The committed image.
    pub image: Image,
    /// Build-check warnings.
    pub warnings: Vec<Diagnostic>,
}

/// One layer of a stage in progress.
#[derive(Debug, Clone)]
struct StageLayer {
    digest: String,
    diff_id: String,
    size: u64,
}

/// A stage in progress (or finished, for later FROM / COPY --from).
#[derive(Debug, Clone)]
struct Stage {
    config: ConfigState,
    layers: Vec<StageLayer>,
    key: String,
    workdir: String,
    shell: Vec<String>,
}

struct Builder<'a> {
    store: &'a Store,
    opts: &'a BuildOptions,
    text: &'a str,
    escape: char,
    cache: Cache,
    context: Option<Context>,
    context_id: String,
    scope: Scope,
    done: BTreeMap<usize, Stage>,
    names: BTreeMap<String, usize>,
    starts: Vec<usize>,
}

/// Builds an image from `opts` into `store`.
pub fn build(store: &Store, opts: &BuildOptions) -> Result<BuildOutput> {
    let _p = trace::phase("build");
    let file = opts.dockerfile_name.as_str();
    let text = opts.dockerfile.as_str();
    let tag = opts.tag.as_deref().map(Reference::parse).transpose()?;
    let (df, warnings) = dockerfile::parse(file, text).map_err(BuildError)?;
    for w in &warnings {
        trace::fact(
            Kind::Build,
            "check",
            format!("{} at line {}", w.code, w.line),
        )
        .field("code", w.code)
        .field("line", w.line)
        .field("message", &w.message)
        .field("hint", w.hint.clone().unwrap_or_default())
        .info();
    }
    let plan =
        Plan::new(text, &df).map_err(|e| BuildError(Box::new(e.to_diagnostic(file, text))))?;
    let order = plan
        .order_for(opts.target.as_deref())
        .map_err(|e| BuildError(Box::new(e.to_diagnostic(file, text))))?;
    let context = match &opts.context {
        Some(dir) => Some(Context::open(dir).map_err(|e| crate::Error::Usage(e.to_string()))?),
        None => None,
    };
    let context_id = opts
        .context
        .as_ref()
        .and_then(|d| std::fs::canonicalize(d).ok())
        .map(|d| d.display().to_string())
        .unwrap_or_else(|| "-".into());
    let escape = df
        .parser_directives
        .escape
        .as_ref()
        .map(|e| e.value.value)
        .unwrap_or('\\');
    let mut b = Builder {
        store,
        opts,
        text,
        escape,
        cache: Cache::new(store),
        context,
        context_id,
        scope: Scope::new(opts.build_args.clone()),
        done: BTreeMap::new(),
        names: BTreeMap::new(),
        starts: df.instructions.iter().map(keyword_pos).collect(),
    };
    for a in df.global_args() {
        let pos = a.arguments.span.start;
        b.scope
            .global_arg(&a.arguments.value, escape)
            .map_err(|e| b.err(pos, "Substitution", e.to_string(), None))?;
    }
    let stages: Vec<_> = df.stages().collect();
    let last = *order.last().expect("a plan has a stage");
    for (i, st) in stages.iter().enumerate() {
        if let Some((_, n)) = &st.from.as_ {
            b.names.insert(n.value.to_lowercase(), i);
        }
        if !order.contains(&i) {
            continue;
        }
        let stage = b.run_stage(i, st)?;
        b.done.insert(i, stage);
    }
    let fin = b.done.remove(&last).expect("the target stage was built");
    let image = b.commit(&fin, tag.as_ref())?;
    trace::fact(Kind::Build, "done", format!("image {}", image.id))
        .field("id", &image.id)
        .field("manifest", &image.manifest_digest)
        .field("layers", image.layers.len())
        .field(
            "tag",
            tag.as_ref()
                .and_then(Reference::name_tag)
                .unwrap_or_default(),
        )
        .info();
    Ok(BuildOutput { image, warnings })
}

fn keyword_pos(ins: &Instruction<'_>) -> usize {
    match ins {
        Instruction::Add(i) => i.add.span.start,
        Instruction::Arg(i) => i.arg.span.start,
        Instruction::Cmd(i) => i.cmd.span.start,
        Instruction::Copy(i) => i.copy.span.start,
        Instruction::Entrypoint(i) => i.entrypoint.span.start,
        Instruction::Env(i) => i.env.span.start,
        Instruction::Expose(i) => i.expose.span.start,
        Instruction::From(i) => i.from.span.start,
        Instruction::Healthcheck(i) => i.healthcheck.span.start,
        Instruction::Label(i) => i.label.span.start,
        Instruction::Maintainer(i) => i.maintainer.span.start,
        Instruction::Onbuild(i) => i.onbuild.span.start,
        Instruction::Run(i) => i.run.span.start,
        Instruction::Shell(i) => i.shell.span.start,
        Instruction::Stopsignal(i) => i.stopsignal.span.start,
        Instruction::User(i) => i.user.span.start,
        Instruction::Volume(i) => i.volume.span.start,
        Instruction::Workdir(i) => i.workdir.span.start,
        _ => 0,
    }
}

/// The instruction's text as written, continuations joined, comments out.
fn source_text(text: &str, start: usize, end: usize) -> String {
    let mut out = String::new();
    for line in text[start..end].lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let t = t.strip_suffix('\\').unwrap_or(t).trim_end();
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(t);
    }
    out
}

fn command_list(cmd: &Command<'_>, shell: &[String]) -> Vec<String> {
    match cmd {
        Command::Exec(v) => v.value.iter().map(|s| s.value.to_string()).collect(),
        Command::Shell(s) => {
            let mut l = shell.to_vec();
            l.push(s.value.to_string());
            l
        }
        _ => Vec::new(),
    }
}

fn flag_name<'f>(f: &'f Flag<'_>) -> &'f str {
    f.name.value.trim_start_matches('-')
}

impl Builder<'_> {
    fn err(
        &self,
        pos: usize,
        code: &'static str,
        message: String,
        hint: Option<String>,
    ) -> crate::Error {
        let (line, column) = location(self.text, pos);
        BuildError(Box::new(Diagnostic {
            severity: Severity::Error,
            code,
            file: self.opts.dockerfile_name.clone(),
            line,
            column,
            message,
            hint,
            source_line: self.text.lines().nth(line - 1).unwrap_or("").to_string(),
        }))
        .into()
    }

    fn sub(&self, word: &str, pos: usize) -> Result<String> {
        super::words::process_word(word, &self.scope.vars(), self.escape)
            .map_err(|e| self.err(pos, "Substitution", e.to_string(), None))
    }

    fn stage_ref(&self, name: &str) -> Option<usize> {
        let n = name.to_lowercase();
        self.names
            .get(&n)
            .copied()
            .or_else(|| n.parse::<usize>().ok())
            .filter(|i| self.done.contains_key(i))
    }

    fn base(
        &mut self,
        index: usize,
        from: &parse_dockerfile::FromInstruction<'_>,
    ) -> Result<Stage> {
        let pos = from.image.span.start;
        let image =
            super::words::process_word(&from.image.value, self.scope.for_from(), self.escape)
                .map_err(|e| self.err(pos, "Substitution", e.to_string(), None))?;
        let mut s = trace::step(Kind::Build, "stage", format!("stage {index} FROM {image}"))
            .field("stage", index)
            .field(
                "name",
                from.as_
                    .as_ref()
                    .map(|(_, n)| n.value.to_string())
                    .unwrap_or_default(),
            )
            .field("base", &image)
            .announce()?;
        let stage = if image.eq_ignore_ascii_case("scratch") {
            s.field("kind", "scratch");
            Stage {
                config: ConfigState::scratch(),
                layers: Vec::new(),
                key: CacheInputs {
                    parent: String::new(),
                    instruction: "FROM scratch".into(),
                    ..Default::default()
                }
                .key(),
                workdir: "/".into(),
                shell: vec!["/bin/sh".into(), "-c".into()],
            }
        } else if let Some(i) = self.stage_ref(&image) {
            s.field("kind", "stage");
            let mut st = self.done[&i].clone();
            st.config.cmd_set_here = false;
            st
        } else {
            let img = match self.store.resolve(&image) {
                Ok(img) => img,
                Err(crate::Error::MissingImage(_)) => {
                    let e = self.err(
                        pos,
                        "ImageNotFound",
                        format!("base image '{image}' is not in the store"),
                        Some(if image.starts_with("busybox") {
                            "run `glassbox setup` to build busybox:latest".into()
                        } else {
                            format!(
                                "build or pull {image} first, or run `glassbox setup` for busybox"
                            )
                        }),
                    );
                    s.failed(&e);
                    return Err(e);
                }
                Err(e) => return Err(e),
            };
            s.field("kind", "image").field("id", &img.id);
            let raw = self.store.read_blob(&img.id)?;
            let config = ConfigState::from_base(&raw).map_err(|e| {
                crate::Error::Usage(format!("the config of {image} is not valid JSON: {e}"))
            })?;
            let workdir = config
                .get_str("WorkingDir")
                .filter(|w| !w.is_empty())
                .unwrap_or_else(|| "/".into());
            let shell = config
                .get_list("Shell")
                .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
            Stage {
                config,
                layers: img
                    .layers
                    .iter()
                    .map(|l| StageLayer {
                        digest: l.digest.clone(),
                        diff_id: l.diff_id.clone(),
                        size: l.size,
                    })
                    .collect(),
                key: CacheInputs {
                    parent: String::new(),
                    instruction: format!("FROM {}", img.manifest_digest),
                    ..Default::default()
                }
                .key(),
                workdir,
                shell,
            }
        };
        s.field("layers", stage.layers.len());
        s.done();
        Ok(stage)
    }

    fn run_stage(&mut self, index: usize, st: &parse_dockerfile::Stage<'_, '_>) -> Result<Stage> {
        let _p = trace::phase(&format!("stage {index}"));
        let mut stage = self.base(index, st.from)?;
        self.scope
            .begin_stage(stage.config.env().into_iter().collect());
        for (n, ins) in st.instructions.iter().enumerate() {
            let start = keyword_pos(ins);
            let end = self
                .starts
                .iter()
                .copied()
                .find(|p| *p > start)
                .unwrap_or(self.text.len());
            let written = source_text(self.text, start, end);
            self.instruction(index, n, ins, &written, start, &mut stage)?;
        }
        Ok(stage)
    }

    fn lowerdirs(&self, stage: &Stage) -> Result<Vec<PathBuf>> {
        super::view::lowerdirs(
            self.store,
            &stage
                .layers
                .iter()
                .map(|l| (l.digest.clone(), l.diff_id.clone(), l.size))
                .collect::<Vec<_>>(),
        )
    }

    fn instruction(
        &mut self,
        stage_index: usize,
        n: usize,
        ins: &Instruction<'_>,
        written: &str,
        pos: usize,
        stage: &mut Stage,
    ) -> Result<()> {
        let (line, _) = location(self.text, pos);
        let mut s = trace::step(Kind::Build, "instruction", written.to_string())
            .field("line", line)
            .field("stage", stage_index)
            .announce()?;
        let r = self.instruction_inner(stage_index, n, ins, written, pos, stage);
        match &r {
            Ok(effect) => {
                s.field("effect", effect);
                s.done();
            }
            Err(e) => s.failed(e),
        }
        r.map(|_| ())
    }

    /// Records a metadata-only change: history entry, chained key, event.
    fn metadata(
        &mut self,
        stage: &mut Stage,
        text: &str,
        change: serde_json::Value,
        why: &str,
    ) -> String {
        stage.config.push_history(text, true);
        stage.key = CacheInputs {
            parent: stage.key.clone(),
            instruction: text.to_string(),
            ..Default::default()
        }
        .key();
        trace::fact(Kind::Build, "metadata", text.to_string())
            .field("change", &change)
            .field("why_no_layer", why)
            .info();
        format!("config: {change}")
    }

    fn instruction_inner(
        &mut self,
        stage_index: usize,
        n: usize,
        ins: &Instruction<'_>,
        written: &str,
        pos: usize,
        stage: &mut Stage,
    ) -> Result<String> {
        const META: &str = "it only changes the image config (metadata); the filesystem is untouched, so no layer is made";
        let esc = self.escape;
        match ins {
            Instruction::Env(e) => {
                let pairs = self.scope.env(&e.arguments.value, esc).map_err(|x| {
                    self.err(e.arguments.span.start, "Substitution", x.to_string(), None)
                })?;
                let text = format!(
                    "ENV {}",
                    pairs
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                );
                for (k, v) in &pairs {
                    stage.config.set_env(k, v);
                }
                Ok(self.metadata(stage, &text, json!({"Env": pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>()}), META))
            }
            Instruction::Arg(a) => {
                self.scope.stage_arg(&a.arguments.value, esc).map_err(|x| {
                    self.err(a.arguments.span.start, "Substitution", x.to_string(), None)
                })?;
                let name = a
                    .arguments
                    .value
                    .split('=')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string();
                let value = self.scope.vars().get(&name).cloned();
                let text = match &value {
                    Some(v) => format!("ARG {name}={v}"),
                    None => format!("ARG {name}"),
                };
                stage.key = CacheInputs {
                    parent: stage.key.clone(),
                    instruction: text.clone(),
                    ..Default::default()
                }
                .key();
                trace::fact(Kind::Build, "metadata", text.clone())
                    .field("change", json!({"arg": name, "value": value}))
                    .field("why_no_layer", "ARG only sets a build-time variable; it is not stored in the image config and makes no layer")
                    .info();
                Ok(format!("build variable {text}"))
            }
            Instruction::Label(l) => {
                let pairs = super::scope::key_values(&l.arguments.value, &self.scope.vars(), esc)
                    .map_err(|x| {
                    self.err(l.arguments.span.start, "Substitution", x.to_string(), None)
                })?;
                for (k, v) in &pairs {
                    stage.config.insert_into("Labels", k, json!(v));
                }
                let text = format!(
                    "LABEL {}",
                    pairs
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                );
                Ok(self.metadata(
                    stage,
                    &text,
                    json!({"Labels": pairs.iter().cloned().collect::<BTreeMap<_, _>>()}),
                    META,
                ))
            }
            Instruction::Expose(x) => {
                let mut ports = Vec::new();
                for a in &x.arguments {
                    let p = self.sub(&a.value, a.span.start)?;
                    let p = if p.contains('/') {
                        p.to_lowercase()
                    } else {
                        format!("{p}/tcp")
                    };
                    stage.config.insert_into("ExposedPorts", &p, json!({}));
                    ports.push(p);
                }
                let text = format!("EXPOSE {}", ports.join(" "));
                Ok(self.metadata(stage, &text, json!({"ExposedPorts": ports}), "EXPOSE only documents a port in the config; it opens nothing and makes no layer (publish with -p at run time)"))
            }
            Instruction::User(u) => {
                let v = self.sub(&u.arguments.value, u.arguments.span.start)?;
                stage.config.set("User", json!(v));
                Ok(self.metadata(stage, &format!("USER {v}"), json!({"User": v}), META))
            }
            Instruction::Stopsignal(x) => {
                let v = self.sub(&x.arguments.value, x.arguments.span.start)?;
                stage.config.set("StopSignal", json!(v));
                Ok(self.metadata(
                    stage,
                    &format!("STOPSIGNAL {v}"),
                    json!({"StopSignal": v}),
                    META,
                ))
            }
            Instruction::Maintainer(m) => {
                stage.config.json["author"] = json!(m.name.value.to_string());
                Ok(self.metadata(
                    stage,
                    &format!("MAINTAINER {}", m.name.value),
                    json!({"author": m.name.value.to_string()}),
                    META,
                ))
            }
            Instruction::Volume(v) => {
                let items: Vec<_> = match &v.arguments {
                    parse_dockerfile::JsonOrStringArray::Json(j) => j.value.iter().collect(),
                    parse_dockerfile::JsonOrStringArray::String(s) => s.iter().collect(),
                };
                let mut paths = Vec::new();
                for a in items {
                    let p = self.sub(&a.value, a.span.start)?;
                    stage.config.insert_into("Volumes", &p, json!({}));
                    paths.push(p);
                }
                let text = format!("VOLUME {}", serde_json::to_string(&paths).expect("json"));
                Ok(self.metadata(stage, &text, json!({"Volumes": paths}), "VOLUME marks a path whose data lives outside the image; it is recorded in the config and makes no layer"))
            }
            Instruction::Shell(sh) => {
                let l: Vec<String> = sh.arguments.iter().map(|a| a.value.to_string()).collect();
                stage.shell = l.clone();
                stage.config.set("Shell", json!(l));
                let text = format!("SHELL {}", serde_json::to_string(&l).expect("json"));
                Ok(self.metadata(stage, &text, json!({"Shell": l}), META))
            }
            Instruction::Cmd(c) => {
                let l = command_list(&c.arguments, &stage.shell);
                stage.config.set("Cmd", json!(l));
                stage.config.cmd_set_here = true;
                let text = format!("CMD {}", serde_json::to_string(&l).expect("json"));
                Ok(self.metadata(stage, &text, json!({"Cmd": l}), "CMD only sets the default command in the config; nothing runs at build time and no layer is made"))
            }
            Instruction::Entrypoint(e) => {
                let l = command_list(&e.arguments, &stage.shell);
                stage.config.set("Entrypoint", json!(l));
                let mut change = json!({"Entrypoint": l});
                if !stage.config.cmd_set_here && stage.config.get_list("Cmd").is_some() {
                    // Docker: an ENTRYPOINT resets a CMD inherited from the base.
                    stage.config.set("Cmd", serde_json::Value::Null);
                    change["Cmd"] = json!("reset (inherited CMD cleared by ENTRYPOINT)");
                }
                let text = format!("ENTRYPOINT {}", serde_json::to_string(&l).expect("json"));
                Ok(self.metadata(
                    stage,
                    &text,
                    change,
                    "ENTRYPOINT only sets the program the container starts with; no layer is made",
                ))
            }
            Instruction::Healthcheck(h) => {
                let mut hc = serde_json::Map::new();
                let test = match &h.arguments {
                    parse_dockerfile::HealthcheckArguments::Cmd { arguments, .. } => {
                        match arguments {
                            Command::Exec(v) => {
                                let mut t = vec!["CMD".to_string()];
                                t.extend(v.value.iter().map(|s| s.value.to_string()));
                                t
                            }
                            Command::Shell(s) => vec!["CMD-SHELL".to_string(), s.value.to_string()],
                            _ => vec!["NONE".to_string()],
                        }
                    }
                    _ => vec!["NONE".to_string()],
                };
                hc.insert("Test".into(), json!(test));
                for f in &h.options {
                    let field = match flag_name(f) {
                        "interval" => "Interval",
                        "timeout" => "Timeout",
                        "start-period" => "StartPeriod",
                        "start-interval" => "StartInterval",
                        "retries" => "Retries",
                        other => {
                            return Err(self.err(f.name.span.start, "UnknownFlag", format!("unknown HEALTHCHECK flag --{other}"), Some("use --interval, --timeout, --start-period, --start-interval or --retries".into())))
                        }
                    };
                    let v = f
                        .value
                        .as_ref()
                        .map(|v| v.value.to_string())
                        .unwrap_or_default();
                    let parsed = if field == "Retries" {
                        v.parse::<u64>().ok()
                    } else {
                        super::config::parse_duration(&v)
                    };
                    let Some(parsed) = parsed else {
                        return Err(self.err(
                            f.name.span.start,
                            "HealthcheckFlag",
                            format!("--{} value '{v}' is not valid", flag_name(f)),
                            Some(
                                "durations look like 30s, 1m30s or 500ms; retries is a number"
                                    .into(),
                            ),
                        ));
                    };
                    hc.insert(field.into(), json!(parsed));
                }
                let hc = serde_json::Value::Object(hc);
                stage.config.set("Healthcheck", hc.clone());
                Ok(self.metadata(
                    stage,
                    written,
                    json!({"Healthcheck": hc}),
                    "HEALTHCHECK is stored in the config for the runtime to use; no layer is made",
                ))
            }
            Instruction::Onbuild(_) => {
                let trigger = written
                    .split_once(char::is_whitespace)
                    .map(|x| x.1.trim())
                    .unwrap_or("")
                    .to_string();
                let mut list = stage.config.get_list("OnBuild").unwrap_or_default();
                list.push(trigger.clone());
                stage.config.set("OnBuild", json!(list));
                Ok(self.metadata(stage, written, json!({"OnBuild": trigger}), "ONBUILD stores a trigger that runs when another build uses this image as its base; nothing happens now"))
            }
            Instruction::Workdir(w) => self.workdir(stage_index, n, w, stage),
            Instruction::Copy(c) => self.copy(
                stage_index,
                n,
                "COPY",
                &c.options,
                &c.src,
                &c.dest,
                pos,
                stage,
            ),
            Instruction::Add(a) => self.copy(
                stage_index,
                n,
                "ADD",
                &a.options,
                &a.src,
                &a.dest,
                pos,
                stage,
            ),
            Instruction::Run(r) => self.run(stage_index, n, r, pos, stage),
            Instruction::From(_) => Ok(String::new()),
            _ => Err(self.err(
                pos,
                "Unsupported",
                format!("instruction not supported: {written}"),
                None,
            )),
        }
    }

    fn slot(&self, stage_index: usize, n: usize) -> String {
        Cache::slot(&self.context_id, &self.opts.dockerfile_name, stage_index, n)
    }

    /// Looks `inputs` up (unless --no-cache) and emits `build.cache`.
    fn lookup(&self, inputs: &CacheInputs, slot: &str) -> Option<Option<CachedLayer>> {
        let key = inputs.key();
        let (result, reason, hit) = if self.opts.no_cache {
            (
                "skipped",
                "--no-cache: the cache is not consulted".to_string(),
                None,
            )
        } else {
            match self.cache.lookup(inputs, slot) {
                Lookup::Hit(rec) => (
                    "hit",
                    "parent, instruction and source contents are all unchanged".to_string(),
                    Some(rec.layer),
                ),
                Lookup::Miss(why) => ("miss", why, None),
            }
        };
        trace::fact(
            Kind::Build,
            "cache",
            format!("{result} {}", inputs.instruction),
        )
        .field("result", result)
        .field("key", &key)
        .field("reason", reason)
        .field("sources", inputs.sources.len())
        .info();
        hit
    }

    /// Adds `layer` to the stage and the config, emits `build.layer`.
    fn add_layer(&self, stage: &mut Stage, text: &str, layer: &CachedLayer, cached: bool) {
        stage.layers.push(StageLayer {
            digest: layer.digest.clone(),
            diff_id: layer.diff_id.clone(),
            size: layer.size,
        });
        stage.config.push_diff_id(&layer.diff_id);
        stage.config.push_history(text, false);
        trace::fact(Kind::Build, "layer", format!("layer {}", layer.digest))
            .field("instruction", text)
            .field("digest", &layer.digest)
            .field("diff_id", &layer.diff_id)
            .field("size", layer.size)
            .field("files", layer.files)
            .field("paths", &layer.paths)
            .field("cached", cached)
            .info();
    }

    fn pack(&self, staging: &Path, paths: Vec<String>, keep_owners: bool) -> Result<CachedLayer> {
        let d = self
            .store
            .layer_from_dir(staging, PackOptions { keep_owners })?;
        Ok(CachedLayer {
            digest: d.digest,
            diff_id: d.diff_id,
            size: d.size,
            files: paths.len() as u64,
            paths: paths.into_iter().take(20).collect(),
        })
    }

    fn workdir(
        &mut self,
        stage_index: usize,
        n: usize,
        w: &parse_dockerfile::WorkdirInstruction<'_>,
        stage: &mut Stage,
    ) -> Result<String> {
        let v = self.sub(&w.arguments.value, w.arguments.span.start)?;
        let abs = if v.starts_with('/') {
            v.clone()
        } else {
            format!("{}/{v}", stage.workdir.trim_end_matches('/'))
        };
        let abs = format!("/{}", super::ignore::clean(&abs));
        let text = format!("WORKDIR {abs}");
        stage.workdir = abs.clone();
        stage.config.set("WorkingDir", json!(abs));
        let inputs = CacheInputs {
            parent: stage.key.clone(),
            instruction: text.clone(),
            ..Default::default()
        };
        let slot = self.slot(stage_index, n);
        stage.key = inputs.key();
        let layer = match self.lookup(&inputs, &slot) {
            Some(l) => l.map(|l| (l, true)),
            None => {
                let lower = self.lowerdirs(stage)?;
                let rel = abs.trim_start_matches('/');
                if rel.is_empty() || super::view::exists_in(&lower, rel) {
                    self.cache.record(&inputs, None, &slot)?;
                    None
                } else {
                    let staging = tempfile::tempdir_in(self.store.tmp_dir())
                        .ctx(|| "creating a staging dir".into())?;
                    super::copy::mkdirs(staging.path(), rel)?;
                    let paths = crate::build::view::list(staging.path())?;
                    let l = self.pack(staging.path(), paths, false)?;
                    self.cache.record(&inputs, Some(l.clone()), &slot)?;
                    Some((l, false))
                }
            }
        };
        match layer {
            Some((l, cached)) => {
                self.add_layer(stage, &text, &l, cached);
                Ok(format!("created {abs} in a new layer {}", l.digest))
            }
            None => Ok(self.metadata_no_key(stage, &text, &abs)),
        }
    }

    fn metadata_no_key(&self, stage: &mut Stage, text: &str, abs: &str) -> String {
        stage.config.push_history(text, true);
        trace::fact(Kind::Build, "metadata", text.to_string())
            .field("change", json!({"WorkingDir": abs}))
            .field(
                "why_no_layer",
                format!(
                    "{abs} already exists in the image, so only the config's WorkingDir changes"
                ),
            )
            .info();
        format!("config: WorkingDir={abs}")
    }

    #[allow(clippy::too_many_arguments)]
    fn copy(
        &mut self,
        stage_index: usize,
        n: usize,
        what: &str,
        options: &[Flag<'_>],
        src: &[Source<'_>],
        dest: &parse_dockerfile::UnescapedString<'_>,
        pos: usize,
        stage: &mut Stage,
    ) -> Result<String> {
        let mut from = None;
        let mut chown = None;
        let mut chmod = None;
        let mut flags_text = String::new();
        for f in options {
            let v = f
                .value
                .as_ref()
                .map(|v| v.value.to_string())
                .unwrap_or_default();
            let vpos = f
                .value
                .as_ref()
                .map(|v| v.span.start)
                .unwrap_or(f.name.span.start);
            let v = self.sub(&v, vpos)?;
            match flag_name(f) {
                "from" => from = Some((v.clone(), vpos)),
                "chown" => chown = Some((v.clone(), vpos)),
                "chmod" => {
                    let bits = u32::from_str_radix(&v, 8)
                        .ok()
                        .filter(|b| *b <= 0o7777)
                        .ok_or_else(|| {
                            self.err(
                                vpos,
                                "ChmodValue",
                                format!("--chmod={v} is not an octal mode"),
                                Some("write it like --chmod=644 or --chmod=0755".into()),
                            )
                        })?;
                    chmod = Some(bits);
                }
                "link" | "parents" | "keep-git-dir" | "checksum" | "exclude" => {
                    return Err(self.err(
                        f.name.span.start,
                        "UnsupportedFlag",
                        format!("{what} --{} is not supported by glassbox", flag_name(f)),
                        None,
                    ))
                }
                _ => {}
            }
            flags_text.push_str(&format!("--{}={v} ", flag_name(f)));
        }
        let dest_v = self.sub(&dest.value, dest.span.start)?;
        let mut srcs = Vec::new();
        for s in src {
            match s {
                Source::Path(p) => {
                    let v = self.sub(&p.value, p.span.start)?;
                    if what == "ADD" && (v.starts_with("http://") || v.starts_with("https://")) {
                        return Err(self.err(
                            p.span.start,
                            "AddUrl",
                            format!("ADD from a URL ({v}) is not supported by glassbox yet"),
                            Some("download the file into the context and COPY it".into()),
                        ));
                    }
                    srcs.push((v, p.span.start));
                }
                Source::HereDoc(h) => {
                    return Err(self.err(
                        h.span.start,
                        "HereDoc",
                        format!("{what} from a here-document is not supported by glassbox yet"),
                        Some("put the text in a file in the context and COPY it".into()),
                    ))
                }
                #[allow(unreachable_patterns)]
                _ => return Err(self.err(pos, "Unsupported", "unsupported source".into(), None)),
            }
        }
        // Where the sources come from: the context, another stage, an image.
        let mut view = None;
        let (ctx, origin) = match &from {
            None => match &self.context {
                Some(c) => (c.clone(), "context".to_string()),
                None => {
                    return Err(self.err(
                        pos,
                        "NoContext",
                        format!("{what} needs a build context, but the Dockerfile came from stdin"),
                        Some("give a context directory instead of -".into()),
                    ))
                }
            },
            Some((name, vpos)) => {
                let layers: Vec<(String, String, u64)> = match self.stage_ref(name) {
                    Some(i) => self.done[&i].layers.iter().map(|l| (l.digest.clone(), l.diff_id.clone(), l.size)).collect(),
                    None => match self.store.resolve(name) {
                        Ok(img) => img.layers.iter().map(|l| (l.digest.clone(), l.diff_id.clone(), l.size)).collect(),
                        Err(crate::Error::MissingImage(_)) | Err(crate::Error::Reference(_)) => {
                            return Err(self.err(*vpos, "FromNotFound", format!("--from={name} is neither an earlier stage nor an image in the store"), Some("name a stage defined above (FROM ... AS name), or build/pull the image first".into())))
                        }
                        Err(e) => return Err(e),
                    },
                };
                let v = View::open(self.store, &layers, name)?;
                let c = Context::open(v.path()).map_err(|e| crate::Error::Usage(e.to_string()))?;
                view = Some(v);
                (c, format!("--from={name}"))
            }
        };
        let mut resolved = Vec::new();
        let mut sources = BTreeMap::new();
        for (s, spos) in &srcs {
            let found = ctx.resolve(s).map_err(|e| {
                let hint = match &e {
                    super::context::ContextError::NotFound(_) if from.is_none() => Some(
                        "check the path is relative to the context directory and not excluded"
                            .to_string(),
                    ),
                    _ => None,
                };
                let msg = if from.is_some() {
                    e.to_string().replace("build context", &origin)
                } else {
                    e.to_string()
                };
                self.err(*spos, "CopySource", msg, hint)
            })?;
            for rel in found {
                let h = ctx
                    .hash_source(&rel)
                    .map_err(|e| crate::Error::Usage(e.to_string()))?;
                sources.insert(
                    if from.is_some() {
                        format!("{origin}:/{rel}")
                    } else {
                        rel.clone()
                    },
                    h,
                );
                resolved.push(rel);
            }
        }
        let text = format!(
            "{what} {flags_text}{} {dest_v}",
            srcs.iter()
                .map(|s| s.0.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        );
        let inputs = CacheInputs {
            parent: stage.key.clone(),
            instruction: text.clone(),
            sources,
        };
        let slot = self.slot(stage_index, n);
        stage.key = inputs.key();
        let (layer, cached) = match self.lookup(&inputs, &slot) {
            Some(Some(l)) => (l, true),
            _ => {
                let chown_ids = match &chown {
                    None => None,
                    Some((v, vpos)) => Some(super::copy::parse_chown(v, &self.lowerdirs(stage)?).ok_or_else(|| {
                        self.err(*vpos, "ChownUser", format!("--chown={v}: no such user or group in the image"), Some("use numeric ids (--chown=1000:1000) or a name from the image's /etc/passwd".into()))
                    })?),
                };
                let staging = tempfile::tempdir_in(self.store.tmp_dir())
                    .ctx(|| "creating a staging dir".into())?;
                let job = super::copy::CopyJob {
                    ctx: &ctx,
                    sources: resolved,
                    dest: dest_v.clone(),
                    workdir: stage.workdir.clone(),
                    chown: chown_ids,
                    chmod,
                    extract: what == "ADD",
                };
                let paths = job.stage(staging.path()).map_err(|e| match e {
                    crate::Error::Usage(m) => self.err(dest.span.start, "CopyDestination", m, None),
                    other => other,
                })?;
                let l = self.pack(staging.path(), paths, chown_ids.is_some())?;
                self.cache.record(&inputs, Some(l.clone()), &slot)?;
                (l, false)
            }
        };
        drop(view);
        self.add_layer(stage, &text, &layer, cached);
        Ok(format!(
            "{} entries from {origin} into a layer {}",
            layer.files, layer.digest
        ))
    }

    fn commit(&self, stage: &Stage, tag: Option<&Reference>) -> Result<Image> {
        let config_bytes = stage.config.finish();
        let config_digest = self.store.put_blob(&config_bytes)?;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": config_digest, "size": config_bytes.len()},
            "layers": stage.layers.iter().map(|l| json!({
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": l.digest, "size": l.size})).collect::<Vec<_>>(),
        });
        let manifest_bytes = serde_json::to_vec(&manifest).expect("json");
        let mut s = trace::step(Kind::Image, "commit", format!("image {config_digest}"))
            .field("id", &config_digest)
            .field("layers", stage.layers.len())
            .announce()?;
        let manifest_digest = self.store.put_blob(&manifest_bytes)?;
        s.field("manifest", &manifest_digest);
        s.done();
        if let Some(t) = tag.and_then(Reference::name_tag) {
            self.store
                .set_tag(&t, &manifest_digest, manifest_bytes.len() as u64)?;
        }
        self.store.image_from_manifest(&manifest_digest)
    }
}

impl Builder<'_> {
    fn run(
        &mut self,
        stage_index: usize,
        n: usize,
        r: &parse_dockerfile::RunInstruction<'_>,
        pos: usize,
        stage: &mut Stage,
    ) -> Result<String> {
        if let Some(f) = r.options.first() {
            return Err(self.err(
                f.name.span.start,
                "UnsupportedFlag",
                format!("RUN --{} is not supported by glassbox", flag_name(f)),
                Some("remove the flag; RUN runs with the default mounts and network".into()),
            ));
        }
        let args = match r.here_docs.first() {
            Some(h) => {
                let mut l = stage.shell.clone();
                l.push(h.value.to_string());
                l
            }
            None => command_list(&r.arguments, &stage.shell),
        };
        // Build args are in the command's environment (and so in its key)
        // unless an ENV of the same name wins.
        let env_names: std::collections::BTreeSet<String> =
            stage.config.env().into_iter().map(|(k, _)| k).collect();
        let extra: Vec<String> = self
            .scope
            .vars()
            .into_iter()
            .filter(|(k, _)| !env_names.contains(k))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let mut text = format!("RUN {}", serde_json::to_string(&args).expect("json"));
        if !extra.is_empty() {
            text.push_str(&format!(" (with {})", extra.join(" ")));
        }
        let inputs = CacheInputs {
            parent: stage.key.clone(),
            instruction: text.clone(),
            ..Default::default()
        };
        let slot = self.slot(stage_index, n);
        stage.key = inputs.key();
        let (layer, cached) = match self.lookup(&inputs, &slot) {
            Some(Some(l)) => (l, true),
            _ => {
                if stage.layers.is_empty() {
                    return Err(self.err(
                        pos,
                        "RunOnScratch",
                        "RUN on an empty stage (FROM scratch) has no program to run".into(),
                        Some("start FROM busybox, or COPY a static binary in first".into()),
                    ));
                }
                let lower = self.lowerdirs(stage)?;
                let layers: Vec<(PathBuf, String)> = lower
                    .into_iter()
                    .zip(stage.layers.iter().map(|l| l.digest.clone()))
                    .collect();
                let job = super::run::RunJob {
                    args: args.clone(),
                    env: extra,
                    workdir: stage.workdir.clone(),
                    user: stage.config.get_str("User").filter(|u| !u.is_empty()),
                };
                let done = super::run::run(self.store, &layers, &stage.config.finish(), &job)?;
                if done.code != 0 {
                    let tail = done.tail.join("\n  | ");
                    return Err(self.err(
                        pos,
                        "RunFailed",
                        format!("RUN exited with status {}", done.code),
                        Some(if tail.is_empty() {
                            "the command printed nothing; run it by hand with `glassbox run` on the stage's base to see why".into()
                        } else {
                            format!("its last output:\n  | {tail}")
                        }),
                    ));
                }
                let upper = done.upper();
                let changes = super::upper::convert_upper(&upper)?;
                let mut paths = changes.changed.clone();
                paths.extend(changes.removed.iter().map(|p| format!("{p} (deleted)")));
                let mut l = self.pack(&upper, paths, true)?;
                l.files =
                    (changes.changed.len() + changes.removed.len() + changes.opaque.len()) as u64;
                trace::fact(Kind::Build, "diff", format!("changes of {text}"))
                    .field("changed", changes.changed.len())
                    .field("removed", &changes.removed)
                    .field("opaque", &changes.opaque)
                    .info();
                drop(done);
                self.cache.record(&inputs, Some(l.clone()), &slot)?;
                (l, false)
            }
        };
        self.add_layer(stage, &text, &layer, cached);
        Ok(format!(
            "ran in a container; {} changes in a layer {}",
            layer.files, layer.digest
        ))
    }
}
