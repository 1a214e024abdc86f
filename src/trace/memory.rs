//! Keeps events in memory (tests, and commands that read their own trace).

use super::{Event, EVENT_TARGET};
use std::sync::{Arc, Mutex};
use tracing_subscriber::layer::Context;

/// A layer that appends every event to a shared vector.
pub struct MemoryLayer {
    events: Arc<Mutex<Vec<Event>>>,
}

impl MemoryLayer {
    /// Collects into `events`.
    pub fn new(events: Arc<Mutex<Vec<Event>>>) -> Self {
        MemoryLayer { events }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for MemoryLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() != EVENT_TARGET {
            return;
        }
        crate::trace::with_current(|ev| {
            self.events
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(ev.clone())
        });
    }
}
