//! ONBUILD: a base image's triggers run in the build that uses it.
//!
//! As in Docker, when a stage starts FROM an image whose config has
//! `OnBuild` entries, each trigger is parsed and executed right after the
//! FROM, in the order they were declared, as if it were written there; the
//! new image's `OnBuild` list starts empty, so triggers are not inherited
//! by grandchildren (the image that *declares* ONBUILD keeps them as
//! metadata, see `instructions.rs`). A failing trigger's error points at
//! the FROM line that brought it in.

use parse_dockerfile::Instruction;

use super::exec::{Builder, Stage, Trigger};
use crate::trace::{self, Kind};
use crate::Result;

/// Cache slots of triggers are numbered from here, away from the slots of
/// the stage's own instructions.
const TRIGGER_SLOT_BASE: usize = 1_000_000;

impl Builder<'_> {
    /// Runs the ONBUILD triggers the stage's base carries, then clears them.
    pub(super) fn onbuild_triggers(
        &mut self,
        stage_index: usize,
        from: &parse_dockerfile::FromInstruction<'_>,
        stage: &mut Stage,
    ) -> Result<()> {
        let triggers = stage.config.get_list("OnBuild").unwrap_or_default();
        if triggers.is_empty() {
            return Ok(());
        }
        stage.config.set("OnBuild", serde_json::Value::Null);
        let from_pos = from.image.span.start;
        for (k, trigger) in triggers.iter().enumerate() {
            trace::fact(Kind::Build, "onbuild", format!("ONBUILD {trigger}"))
                .field("trigger", trigger)
                .field("index", k)
                .field("of", triggers.len())
                .field("base", from.image.value.to_string())
                .info();
            // The parser needs a FROM first; the trigger is the second line.
            let text = format!("FROM scratch\n{trigger}\n");
            self.trigger = Some(Trigger {
                text: text.clone(),
                from_pos,
            });
            let r = self.one_trigger(stage_index, k, &text, trigger, stage);
            self.trigger = None;
            r?;
        }
        Ok(())
    }

    fn one_trigger(
        &mut self,
        stage_index: usize,
        k: usize,
        text: &str,
        trigger: &str,
        stage: &mut Stage,
    ) -> Result<()> {
        let df = parse_dockerfile::parse(text).map_err(|e| {
            self.err(
                0,
                "OnbuildTrigger",
                format!("it does not parse: {e}"),
                Some("rebuild the base image with a valid ONBUILD instruction".into()),
            )
        })?;
        let Some(ins) = df.instructions.get(1) else {
            return Err(self.err(0, "OnbuildTrigger", "it is empty".into(), None));
        };
        if matches!(
            ins,
            Instruction::From(_) | Instruction::Onbuild(_) | Instruction::Maintainer(_)
        ) {
            return Err(self.err(
                0,
                "OnbuildTrigger",
                "FROM, ONBUILD and MAINTAINER cannot be ONBUILD triggers".into(),
                Some("Docker refuses these too; rebuild the base image without it".into()),
            ));
        }
        let pos = super::dockerfile::keyword_span(ins).start;
        self.instruction(stage_index, TRIGGER_SLOT_BASE + k, ins, trigger, pos, stage)
    }
}
