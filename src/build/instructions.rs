//! What each instruction does to a stage: the metadata instructions edit
//! the config and say why they make no layer; WORKDIR makes a layer only
//! when the directory is missing. COPY/ADD live in `copy.rs`, RUN in
//! `run.rs`.

use std::collections::BTreeMap;

use parse_dockerfile::{Command, Instruction};
use serde_json::json;

use super::exec::{command_list, flag_name, Builder, Stage};
use super::plan::CacheInputs;
use crate::trace::{self, Kind};
use crate::Result;

impl Builder<'_> {
    /// Records a metadata-only change: history entry, chained key, event.
    pub(super) fn metadata(
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

    pub(super) fn instruction_inner(
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

    pub(super) fn workdir(
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
                    let staging = self.store.tempdir()?;
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

    pub(super) fn metadata_no_key(&self, stage: &mut Stage, text: &str, abs: &str) -> String {
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
}
