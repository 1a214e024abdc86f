//! The plumbing every sink plugs into: `tracing_subscriber` layers that
//! hand our events over.
//!
//! Each sink implements [`Sink`] and is wrapped in [`SinkLayer`], which
//! picks out our events (target `glassbox::event`) and phase spans from the
//! `tracing` stream and hands them over. The sinks that render events for
//! people (narration, step-through, timeline, JSON lines) live above
//! `explain` in `crate::sinks`, so `trace` depends on nothing of ours.

use super::{Event, EVENT_TARGET, PHASE_TARGET};
use tracing::span;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// Something that renders events.
pub trait Sink: Send + Sync + 'static {
    /// One event, in order.
    fn event(&self, ev: &Event);
    /// A phase began (`begin`) or ended, at `ts_us`.
    fn phase(&self, _name: &str, _begin: bool, _ts_us: u64) {}
    /// The command is over: flush files.
    fn finish(&self) {}
}

/// Adapts a [`Sink`] to a `tracing_subscriber::Layer`.
pub struct SinkLayer<T: Sink> {
    sink: std::sync::Arc<T>,
}

impl<T: Sink> SinkLayer<T> {
    /// Wraps a sink.
    pub fn new(sink: std::sync::Arc<T>) -> Self {
        SinkLayer { sink }
    }
}

struct PhaseName(String);

struct NameVisitor(Option<String>);

impl tracing::field::Visit for NameVisitor {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "name" {
            self.0 = Some(value.to_string());
        }
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "name" {
            self.0 = Some(format!("{value:?}").trim_matches('"').to_string());
        }
    }
}

impl<S, T> tracing_subscriber::Layer<S> for SinkLayer<T>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    T: Sink,
{
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        if attrs.metadata().target() != PHASE_TARGET {
            return;
        }
        let mut v = NameVisitor(None);
        attrs.record(&mut v);
        if let (Some(name), Some(span)) = (v.0, ctx.span(id)) {
            // Several sinks share one registry: the first one records the name.
            span.extensions_mut().replace(PhaseName(name));
        }
    }

    fn on_enter(&self, id: &span::Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if let Some(p) = span.extensions().get::<PhaseName>() {
                self.sink.phase(&p.0, true, super::now_us());
            }
        }
    }

    fn on_exit(&self, id: &span::Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if let Some(p) = span.extensions().get::<PhaseName>() {
                self.sink.phase(&p.0, false, super::now_us());
            }
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() != EVENT_TARGET {
            return;
        }
        super::with_current(|ev| self.sink.event(ev));
    }
}
