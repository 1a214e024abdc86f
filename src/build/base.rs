//! FROM: where a stage starts — `scratch` (nothing), an earlier stage (its
//! layers and config, copied), or an image in the store (its layers as
//! lowerdirs, its config as the starting config). A missing image gets a
//! hint: a stage or tag with a close name, or how to get the image.

use super::config::ConfigState;
use super::exec::{Builder, Stage, StageLayer};
use super::plan::CacheInputs;
use crate::trace::{self, Kind};
use crate::Result;

impl Builder<'_> {
    pub(super) fn base(
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
                        Some(self.missing_base_hint(&image)),
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

    /// What to do about a FROM image that is not in the store: a stage or
    /// tag with a close name (a typo), or how to get the image.
    pub(super) fn missing_base_hint(&self, image: &str) -> String {
        let stages: Vec<&str> = self.names.keys().map(String::as_str).collect();
        if let Some(s) = super::dockerfile::diag::did_you_mean_among(image, &stages) {
            return format!("did you mean the stage '{s}' defined above?");
        }
        let tags: Vec<String> = self
            .store
            .tags()
            .map(|t| t.into_iter().map(|(tag, _)| tag).collect())
            .unwrap_or_default();
        let short: Vec<&str> = tags.iter().map(String::as_str).collect();
        let bare: Vec<&str> = short
            .iter()
            .map(|t| t.strip_suffix(":latest").unwrap_or(t))
            .collect();
        if let Some(t) = super::dockerfile::diag::did_you_mean_among(image, &bare) {
            return format!("did you mean {t}? (`glassbox images` lists what the store holds)");
        }
        if image.starts_with("busybox") {
            "run `glassbox setup` to build busybox:latest".into()
        } else {
            format!("build or load {image} first (`glassbox images` lists what the store holds), or run `glassbox setup` for busybox")
        }
    }
}
