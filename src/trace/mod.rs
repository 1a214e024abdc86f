//! Events you can see: the step API the engine calls, and the sinks that
//! turn events into narration, JSON lines, step-through pauses and a
//! timeline.
//!
//! Engine code never prints. It opens *phases* ([`phase`]) and takes *steps*
//! ([`step`]): a step is announced before the kernel is touched (where
//! `--step` pauses) and finished with its outcome ([`Step::done`]). Each half
//! is an [`Event`] sent through `tracing` (target `glassbox::event`), so every
//! sink is an ordinary `tracing_subscriber::Layer` (see [`sink`]; the renderers are in `crate::sinks`).
//!
//! Events made in another process (a container's init, a shim) are written
//! as JSON lines to a pipe by [`relay::RelayWriter`] and re-emitted here in
//! arrival order by [`reemit`], so one command gives one ordered trace.

mod event;
mod memory;
pub mod relay;
pub mod sink;
pub use memory::MemoryLayer;

pub use event::{Event, Kind, Stage};

use serde::Serialize;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

/// The `tracing` target events are sent under.
pub const EVENT_TARGET: &str = "glassbox::event";
/// The `tracing` target phase spans are opened under.
pub const PHASE_TARGET: &str = "glassbox::phase";

/// The student asked to stop at a step-through pause.
#[derive(Debug, thiserror::Error)]
#[error("aborted at the student's request before {0}; nothing further was done")]
pub struct Aborted(pub String);

static SEQ: AtomicU64 = AtomicU64::new(0);
static ABORT: AtomicBool = AtomicBool::new(false);
static PAUSING: AtomicBool = AtomicBool::new(false);
static RELAY_UNTIL_STARTED: AtomicBool = AtomicBool::new(false);
static EPOCH: OnceLock<Instant> = OnceLock::new();
static RELAY: Mutex<Option<relay::RelayWriter>> = Mutex::new(None);

thread_local! {
    static PHASES: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    /// The event being dispatched right now; sinks read it from here rather
    /// than re-parsing a string field for every layer.
    static CURRENT: RefCell<Option<Event>> = const { RefCell::new(None) };
}

/// Microseconds since this process's first event (or [`start_clock`]).
pub fn now_us() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_micros() as u64
}

/// Starts the command clock; call once at program start.
pub fn start_clock() {
    let _ = EPOCH.get_or_init(Instant::now);
}

/// Asks every later [`step`] to fail with [`Aborted`] (used by the
/// step-through sink when the student presses q).
pub fn request_abort() {
    ABORT.store(true, Ordering::SeqCst);
}

/// Records that a sink pauses before steps (`--step`): only then must a
/// relayed child wait for an answer after each announce.
pub fn set_pausing(on: bool) {
    PAUSING.store(on, Ordering::SeqCst);
}

/// Whether a sink pauses before steps.
pub fn pausing() -> bool {
    PAUSING.load(Ordering::SeqCst)
}

/// Whether an abort was requested.
pub fn abort_requested() -> bool {
    ABORT.load(Ordering::SeqCst)
}

/// Sends this process's events to a relay pipe instead of to local sinks
/// (called in a container's init or a shim, whose parent re-emits them).
pub fn set_relay(writer: relay::RelayWriter) {
    RELAY_UNTIL_STARTED.store(false, Ordering::SeqCst);
    *RELAY.lock().unwrap_or_else(|e| e.into_inner()) = Some(writer);
}

/// Relays this process's events only until the container it starts is
/// running (see [`started`]): a detached container's supervisor shows its
/// setup in the trace of the `run -d` that started it, and then goes quiet.
pub fn set_relay_until_started(writer: relay::RelayWriter) {
    set_relay(writer);
    RELAY_UNTIL_STARTED.store(true, Ordering::SeqCst);
}

/// The container's command runs now: ends a relay set with
/// [`set_relay_until_started`] (closing its pipe), so later events stay
/// local.
pub fn started() {
    if RELAY_UNTIL_STARTED.swap(false, Ordering::SeqCst) {
        drop(clear_relay());
    }
}

/// Stops relaying (events go to local sinks again).
pub fn clear_relay() -> Option<relay::RelayWriter> {
    RELAY.lock().unwrap_or_else(|e| e.into_inner()).take()
}

/// A phase of work (`run` → `rootfs`). Dropping the guard ends the phase.
pub struct Phase {
    _span: tracing::span::EnteredSpan,
}

impl Drop for Phase {
    fn drop(&mut self) {
        PHASES.with(|p| {
            p.borrow_mut().pop();
        });
    }
}

/// Opens a phase; events made while the guard lives carry its name.
pub fn phase(name: &str) -> Phase {
    PHASES.with(|p| p.borrow_mut().push(name.to_string()));
    let span = tracing::info_span!(target: PHASE_TARGET, "phase", name = name).entered();
    Phase { _span: span }
}

/// The current phase stack, outermost first.
pub fn current_phases() -> Vec<String> {
    PHASES.with(|p| p.borrow().clone())
}

fn to_value<T: Serialize>(v: T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// Builds an event; finish with [`EventBuilder::announce`] (a step) or
/// [`EventBuilder::info`] (a single fact).
#[must_use = "an event builder does nothing until announced or emitted"]
pub struct EventBuilder {
    kind: Kind,
    action: String,
    subject: String,
    fields: BTreeMap<String, serde_json::Value>,
    equivalent: Option<String>,
    syscall: Option<String>,
    cleanup: bool,
}

/// Starts describing a step of `kind`/`action` on `subject`.
pub fn step(kind: Kind, action: &str, subject: impl Into<String>) -> EventBuilder {
    EventBuilder {
        kind,
        action: action.to_string(),
        subject: subject.into(),
        fields: BTreeMap::new(),
        equivalent: None,
        syscall: None,
        cleanup: false,
    }
}

/// Starts describing a clean-up step (unmount, rmdir, rm): it is announced
/// like any step, but it still runs after the student quit at a pause, so
/// that aborting leaves nothing behind.
pub fn cleanup(kind: Kind, action: &str, subject: impl Into<String>) -> EventBuilder {
    let mut b = step(kind, action, subject);
    b.cleanup = true;
    b
}

/// Starts describing a single fact (same builder as [`step`]).
pub fn fact(kind: Kind, action: &str, subject: impl Into<String>) -> EventBuilder {
    step(kind, action, subject)
}

impl EventBuilder {
    /// Adds a fact.
    pub fn field<T: Serialize>(mut self, name: &str, value: T) -> Self {
        self.fields.insert(name.to_string(), to_value(value));
        self
    }

    /// The shell command a person could type instead.
    pub fn equivalent(mut self, cmd: impl Into<String>) -> Self {
        self.equivalent = Some(cmd.into());
        self
    }

    /// The system call behind the step.
    pub fn syscall(mut self, call: impl Into<String>) -> Self {
        self.syscall = Some(call.into());
        self
    }

    fn make(&self, stage: Stage) -> Event {
        Event {
            seq: 0,
            stage,
            phase: current_phases(),
            kind: self.kind,
            action: self.action.clone(),
            subject: self.subject.clone(),
            fields: self.fields.clone(),
            equivalent: self.equivalent.clone(),
            syscall: self.syscall.clone(),
            ts_us: now_us(),
            duration_us: None,
            pid: std::process::id(),
        }
    }

    /// Announces the step (before touching anything). Fails with
    /// [`Aborted`] when the student quits at a step-through pause.
    pub fn announce(self) -> Result<Step, Aborted> {
        let ev = self.make(Stage::Announce);
        let what = format!("{} {}", ev.action, ev.subject);
        let started = now_us();
        dispatch(ev);
        if abort_requested() && !self.cleanup {
            return Err(Aborted(what));
        }
        Ok(Step {
            builder: Some(self),
            started,
        })
    }

    /// Emits a single fact (no pause, no duration).
    pub fn info(self) {
        dispatch(self.make(Stage::Info));
    }
}

/// A step in progress. Finish it with [`Step::done`] or [`Step::failed`];
/// dropping it unfinished records it as failed ("did not finish").
#[must_use = "finish the step with done() or failed()"]
pub struct Step {
    builder: Option<EventBuilder>,
    started: u64,
}

impl Step {
    /// Adds a fact learned while doing the step.
    pub fn field<T: Serialize>(&mut self, name: &str, value: T) -> &mut Self {
        if let Some(b) = self.builder.as_mut() {
            b.fields.insert(name.to_string(), to_value(value));
        }
        self
    }

    /// Finishes the step successfully.
    pub fn done(mut self) {
        self.finish(Stage::Done, None);
    }

    /// Finishes the step as failed, with the error's text.
    pub fn failed(mut self, error: &dyn std::fmt::Display) {
        self.finish(Stage::Failed, Some(error.to_string()));
    }

    /// Finishes the step from a result: done on `Ok`, failed on `Err`;
    /// passes the result through.
    pub fn finish_with<T, E: std::fmt::Display>(self, r: Result<T, E>) -> Result<T, E> {
        match &r {
            Ok(_) => self.done(),
            Err(e) => self.failed(e),
        }
        r
    }

    fn finish(&mut self, stage: Stage, error: Option<String>) {
        if let Some(b) = self.builder.take() {
            let mut ev = b.make(stage);
            if let Some(e) = error {
                ev.fields
                    .insert("error".into(), serde_json::Value::String(e));
            }
            ev.duration_us = Some(ev.ts_us.saturating_sub(self.started));
            dispatch(ev);
        }
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        if self.builder.is_some() {
            self.finish(Stage::Failed, Some("did not finish".into()));
        }
    }
}

/// Re-emits an event made in another process, in arrival order. Returns
/// [`Aborted`] if it was an announce and the student quit at its pause.
pub fn reemit(mut ev: Event) -> Result<(), Aborted> {
    // The remote process's clock started elsewhere; place the event on ours.
    ev.ts_us = now_us();
    let announce = ev.stage == Stage::Announce;
    let what = format!("{} {}", ev.action, ev.subject);
    dispatch(ev);
    if announce && abort_requested() {
        return Err(Aborted(what));
    }
    Ok(())
}

fn dispatch(mut ev: Event) {
    let relayed = {
        let mut relay = RELAY.lock().unwrap_or_else(|e| e.into_inner());
        match relay.as_mut() {
            Some(w) => {
                let announce = ev.stage == Stage::Announce;
                if w.send(&ev).is_err() || (announce && !w.wait_go()) {
                    ABORT.store(true, Ordering::SeqCst);
                }
                true
            }
            None => false,
        }
    };
    if relayed {
        return;
    }
    ev.seq = SEQ.fetch_add(1, Ordering::SeqCst) + 1;
    CURRENT.with(|c| *c.borrow_mut() = Some(ev));
    tracing::event!(target: EVENT_TARGET, tracing::Level::INFO, glassbox_event = true);
    CURRENT.with(|c| *c.borrow_mut() = None);
}

/// The event being dispatched on this thread (for sinks).
pub fn with_current<R>(f: impl FnOnce(&Event) -> R) -> Option<R> {
    CURRENT.with(|c| c.borrow().as_ref().map(f))
}

/// Collects the events emitted on this thread while the guard lives; for
/// tests and for commands that need to look back at their own trace.
pub fn capture() -> Capture {
    let store = std::sync::Arc::new(Mutex::new(Vec::new()));
    let layer = MemoryLayer::new(store.clone());
    use tracing_subscriber::layer::SubscriberExt;
    let subscriber = tracing_subscriber::registry().with(layer);
    let guard = tracing::subscriber::set_default(subscriber);
    Capture {
        events: store,
        _guard: guard,
    }
}

/// See [`capture`].
pub struct Capture {
    events: std::sync::Arc<Mutex<Vec<Event>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

impl Capture {
    /// The events so far.
    pub fn events(&self) -> Vec<Event> {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}
