//! Sinks that render events for people and programs: narration, the
//! step-through pause, the timeline and JSON lines. They sit above
//! `explain` (narration and the pause render its templates), and plug into
//! `trace::sink::SinkLayer`.

mod jsonl;
mod narrate;
mod stepper;
mod timeline;

pub use crate::trace::sink::{Sink, SinkLayer};
pub use crate::trace::MemoryLayer;
pub use jsonl::JsonLines;
pub use narrate::{Narrator, NarratorOptions};
pub use stepper::StepThrough;
pub use timeline::Timeline;
