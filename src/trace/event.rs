//! The event model: one narrated, machine-readable fact about a step the
//! engine took. Everything a student sees (narration, JSON lines, the
//! step-through pauses, the timeline) is rendered from these values.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// What part of the system an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Images: references, manifests, configs.
    Image,
    /// One filesystem layer: packing, digesting, unpacking.
    Layer,
    /// Dockerfile builds: instructions, the cache.
    Build,
    /// Linux namespaces.
    Namespace,
    /// Mounts: overlayfs, bind mounts, /proc, pivot_root.
    Mount,
    /// Control groups: limits, freezer.
    Cgroup,
    /// Bridges, veth pairs, addresses, routes.
    Network,
    /// Published ports.
    Port,
    /// Named volumes and bind mounts.
    Volume,
    /// Processes: clone, exec, signals, exits.
    Process,
    /// Capabilities, no_new_privs, masked paths.
    Security,
    /// Registry HTTP exchanges.
    Registry,
    /// The content store: blobs, refs, locks.
    Store,
    /// Lessons and exercises.
    Lesson,
    /// Measurements (VM vs container).
    Compare,
    /// The daemon's Engine API: requests from docker clients.
    Api,
    /// `glassbox doctor`: what the live state says is wrong.
    Doctor,
}

impl Kind {
    /// Every kind, in declaration order.
    pub const ALL: [Kind; 17] = [
        Kind::Image,
        Kind::Layer,
        Kind::Build,
        Kind::Namespace,
        Kind::Mount,
        Kind::Cgroup,
        Kind::Network,
        Kind::Port,
        Kind::Volume,
        Kind::Process,
        Kind::Security,
        Kind::Registry,
        Kind::Store,
        Kind::Lesson,
        Kind::Compare,
        Kind::Api,
        Kind::Doctor,
    ];

    /// The lower-case name used in templates and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Image => "image",
            Kind::Layer => "layer",
            Kind::Build => "build",
            Kind::Namespace => "namespace",
            Kind::Mount => "mount",
            Kind::Cgroup => "cgroup",
            Kind::Network => "network",
            Kind::Port => "port",
            Kind::Volume => "volume",
            Kind::Process => "process",
            Kind::Security => "security",
            Kind::Registry => "registry",
            Kind::Api => "api",
            Kind::Store => "store",
            Kind::Lesson => "lesson",
            Kind::Compare => "compare",
            Kind::Doctor => "doctor",
        }
    }

    /// Parses the lower-case name.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which half of a step an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Before the kernel (or the disk) is touched: `--step` pauses here.
    Announce,
    /// The step finished; fields hold the outcome.
    Done,
    /// The step failed; `fields.error` says why.
    Failed,
    /// A fact that is not a step of its own (a cache hit, a refusal).
    Info,
}

/// One event. See design.md, "The event model".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Order within one command (relayed events are renumbered on arrival).
    pub seq: u64,
    /// Which half of a step this is.
    pub stage: Stage,
    /// The phase stack, outermost first: `["run", "rootfs"]`.
    pub phase: Vec<String>,
    /// What the event is about.
    pub kind: Kind,
    /// A verb: `unshare`, `mount`, `apply`, `publish`.
    pub action: String,
    /// The thing acted on: `net namespace`, `layer sha256:4f3c…`.
    pub subject: String,
    /// The facts, by name.
    #[serde(default)]
    pub fields: BTreeMap<String, serde_json::Value>,
    /// The shell command a person could type to do the same by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equivalent: Option<String>,
    /// The system call behind the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syscall: Option<String>,
    /// Microseconds since the command started, when the event was made.
    pub ts_us: u64,
    /// How long the step took (done and failed events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_us: Option<u64>,
    /// The process that made the event (the CLI, a shim, a container's init).
    pub pid: u32,
}

impl Event {
    /// `kind.action`, the key of the event's explanation template.
    pub fn key(&self) -> String {
        format!("{}.{}", self.kind, self.action)
    }
}
