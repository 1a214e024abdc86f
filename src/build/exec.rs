//! The executor: `glassbox build`. Parses the Dockerfile, plans the stages
//! `--target` needs, then runs each instruction of each stage in order.
//! Metadata instructions change the config and add a history entry with
//! `empty_layer`; COPY/ADD (and WORKDIR when the directory is missing)
//! stage files into a temp dir and pack it into a layer. Every instruction
//! has a cache key ([`CacheInputs`]) and a hit or miss is an event that says
//! which input changed. The tag is set only after the image is committed,
//! so a failed build never leaves a tag pointing at a half-built image.
//! This file holds the driver and the shared helpers; what each instruction
//! does lives in `instructions.rs` (metadata, WORKDIR), `copy.rs`
//! (COPY/ADD) and `run.rs` (RUN).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use parse_dockerfile::{Command, Flag, Instruction};
use serde_json::json;

use super::cache::{Cache, CachedLayer, Lookup};
use super::config::ConfigState;
use super::context::Context;
use super::dockerfile::{self, diag::location, Diagnostic, Severity};
use super::plan::{CacheInputs, Plan};
use super::scope::Scope;
use crate::image::pack::PackOptions;
use crate::reference::Reference;
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
    /// `--secret id=NAME,src=FILE|env=VAR`: id → where the value is (read
    /// only by a RUN that mounts it).
    pub secrets: BTreeMap<String, super::mounts::SecretSource>,
    /// `--ssh ID[=SOCKET]`: id → the agent socket to forward.
    pub ssh: BTreeMap<String, PathBuf>,
}

/// What a build produced.
#[derive(Debug)]
pub struct BuildOutput {
    /// The committed image.
    pub image: Image,
    /// Build-check warnings.
    pub warnings: Vec<Diagnostic>,
    /// `--build-arg` names no ARG declared (Docker warns about these too).
    pub unused_build_args: Vec<String>,
}

/// One layer of a stage in progress.
#[derive(Debug, Clone)]
pub(super) struct StageLayer {
    pub(super) digest: String,
    pub(super) diff_id: String,
    pub(super) size: u64,
}

/// A stage in progress (or finished, for later FROM / COPY --from).
#[derive(Debug, Clone)]
pub(super) struct Stage {
    pub(super) config: ConfigState,
    pub(super) layers: Vec<StageLayer>,
    pub(super) key: String,
    pub(super) workdir: String,
    pub(super) shell: Vec<String>,
}

pub(super) struct Builder<'a> {
    pub(super) store: &'a Store,
    pub(super) opts: &'a BuildOptions,
    pub(super) text: &'a str,
    pub(super) escape: char,
    pub(super) cache: Cache,
    pub(super) context: Option<Context>,
    pub(super) context_id: String,
    pub(super) scope: Scope,
    pub(super) done: BTreeMap<usize, Stage>,
    pub(super) names: BTreeMap<String, usize>,
    pub(super) starts: Vec<usize>,
    /// Set while an ONBUILD trigger of the base image runs: its text and
    /// the FROM it came in by (diagnostics point there).
    pub(super) trigger: Option<Trigger>,
    /// RUN here-documents by the RUN keyword's offset in `text`.
    pub(super) heredocs: BTreeMap<usize, super::heredoc::RunHeredocs>,
}

/// An ONBUILD trigger being executed.
#[derive(Debug, Clone)]
pub(super) struct Trigger {
    /// The trigger's own text, parsed after a `FROM` line.
    pub(super) text: String,
    /// The byte offset of the FROM image in the Dockerfile.
    pub(super) from_pos: usize,
}

/// Builds an image from `opts` into `store`.
pub fn build(store: &Store, opts: &BuildOptions) -> Result<BuildOutput> {
    let _p = trace::phase("build");
    let file = opts.dockerfile_name.as_str();
    let text = dockerfile::without_bom(&opts.dockerfile);
    let tag = opts.tag.as_deref().map(Reference::parse).transpose()?;
    super::run::sweep_orphans(store);
    super::sweep::sweep(store);
    let parsed = dockerfile::parse(file, text).map_err(BuildError)?;
    let (df, warnings) = (parsed.dockerfile(), parsed.warnings().to_vec());
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
        trigger: None,
        heredocs: parsed.heredocs().clone(),
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
    let unused_build_args: Vec<String> = opts
        .build_args
        .keys()
        .filter(|k| !b.scope.consumed.contains(*k))
        .cloned()
        .collect();
    for k in &unused_build_args {
        trace::fact(Kind::Build, "check", format!("UnusedBuildArg {k}"))
            .field("code", "UnusedBuildArg")
            .field("line", 0)
            .field(
                "message",
                format!("--build-arg {k} was not consumed: no ARG {k} in the stages built"),
            )
            .field(
                "hint",
                format!("declare `ARG {k}` in the stage that uses it, or drop the flag"),
            )
            .info();
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
    Ok(BuildOutput {
        image,
        warnings,
        unused_build_args,
    })
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

pub(super) fn command_list(cmd: &Command<'_>, shell: &[String]) -> Vec<String> {
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

pub(super) fn flag_name<'f>(f: &'f Flag<'_>) -> &'f str {
    f.name.value.trim_start_matches('-')
}

impl Builder<'_> {
    pub(super) fn err(
        &self,
        pos: usize,
        code: &'static str,
        message: String,
        hint: Option<String>,
    ) -> crate::Error {
        let (pos, message) = match &self.trigger {
            Some(t) => (
                t.from_pos,
                format!(
                    "ONBUILD trigger `{}` of the base image failed: {message}",
                    t.text.lines().nth(1).unwrap_or("").trim()
                ),
            ),
            None => (pos, message),
        };
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

    /// The source line an instruction starting at `pos` begins with (in
    /// the ONBUILD trigger's text while one runs).
    pub(super) fn line_at(&self, pos: usize) -> String {
        let text = self
            .trigger
            .as_ref()
            .map(|t| t.text.as_str())
            .unwrap_or(self.text);
        text.get(pos..)
            .and_then(|t| t.lines().next())
            .unwrap_or("")
            .to_string()
    }

    /// A flag's value with ARG and ENV substituted, and where it stands
    /// (the flag's name when it has no value).
    pub(super) fn flag_value(&self, f: &Flag<'_>) -> Result<(String, usize)> {
        let (raw, pos) = match &f.value {
            Some(v) => (v.value.to_string(), v.span.start),
            None => (String::new(), f.name.span.start),
        };
        Ok((self.sub(&raw, pos)?, pos))
    }

    pub(super) fn sub(&self, word: &str, pos: usize) -> Result<String> {
        super::words::process_word(word, &self.scope.vars(), self.escape)
            .map_err(|e| self.err(pos, "Substitution", e.to_string(), None))
    }

    pub(super) fn stage_ref(&self, name: &str) -> Option<usize> {
        let n = name.to_lowercase();
        self.names
            .get(&n)
            .copied()
            .or_else(|| n.parse::<usize>().ok())
            .filter(|i| self.done.contains_key(i))
    }

    pub(super) fn run_stage(
        &mut self,
        index: usize,
        st: &parse_dockerfile::Stage<'_, '_>,
    ) -> Result<Stage> {
        let _p = trace::phase(&format!("stage {index}"));
        let mut stage = self.base(index, st.from)?;
        self.scope
            .begin_stage(stage.config.env().into_iter().collect());
        self.onbuild_triggers(index, st.from, &mut stage)?;
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

    pub(super) fn lowerdirs(&self, stage: &Stage) -> Result<Vec<PathBuf>> {
        super::view::lowerdirs(
            self.store,
            &stage
                .layers
                .iter()
                .map(|l| (l.digest.clone(), l.diff_id.clone(), l.size))
                .collect::<Vec<_>>(),
        )
    }

    pub(super) fn instruction(
        &mut self,
        stage_index: usize,
        n: usize,
        ins: &Instruction<'_>,
        written: &str,
        pos: usize,
        stage: &mut Stage,
    ) -> Result<()> {
        let (line, _) = match &self.trigger {
            Some(t) => location(self.text, t.from_pos),
            None => location(self.text, pos),
        };
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

    pub(super) fn slot(&self, stage_index: usize, n: usize) -> String {
        Cache::slot(&self.context_id, &self.opts.dockerfile_name, stage_index, n)
    }

    /// Looks `inputs` up (unless --no-cache) and emits `build.cache`.
    pub(super) fn lookup(&self, inputs: &CacheInputs, slot: &str) -> Option<Option<CachedLayer>> {
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
    pub(super) fn add_layer(
        &self,
        stage: &mut Stage,
        text: &str,
        layer: &CachedLayer,
        cached: bool,
    ) {
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

    pub(super) fn pack(
        &self,
        staging: &Path,
        paths: Vec<String>,
        keep_owners: bool,
    ) -> Result<CachedLayer> {
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

    /// Writes a blob unless the store already holds those exact bytes
    /// (a cached rebuild makes the same config and manifest again).
    fn put_blob_once(&self, bytes: &[u8]) -> Result<String> {
        use sha2::Digest;
        let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)));
        if self.store.blob_path(&digest)?.is_file() {
            return Ok(digest);
        }
        self.store.put_blob(bytes)
    }

    pub(super) fn commit(&self, stage: &Stage, tag: Option<&Reference>) -> Result<Image> {
        let config_bytes = stage.config.finish();
        let config_digest = self.put_blob_once(&config_bytes)?;
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
        let manifest_digest = self.put_blob_once(&manifest_bytes)?;
        s.field("manifest", &manifest_digest);
        s.done();
        if let Some(t) = tag.and_then(Reference::name_tag) {
            // A rebuild that changes nothing leaves index.json alone.
            let current = self.store.resolve(&t).ok().map(|i| i.manifest_digest);
            if current.as_deref() != Some(manifest_digest.as_str()) {
                self.store
                    .set_tag(&t, &manifest_digest, manifest_bytes.len() as u64)?;
            }
        }
        self.store.image_from_manifest(&manifest_digest)
    }
}
