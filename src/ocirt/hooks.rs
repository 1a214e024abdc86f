//! The spec's hooks the runtime command runs on the host: programs run at
//! fixed points of the lifecycle with the container's state JSON on their
//! stdin (prestart then createRuntime once the namespaces and mounts
//! exist, while the init waits before pivot_root; poststart after `start`;
//! poststop at `delete`). A failing createRuntime or prestart hook fails
//! the command; a poststart or poststop one is only reported. The
//! container's init runs the other two (createContainer, startContainer)
//! inside the container's namespaces (`runtime::init`).

use super::OciError;
use oci_spec::runtime::{Hook, Spec};

/// Which hooks.
#[derive(Debug, Clone, Copy)]
pub enum Point {
    /// `hooks.createRuntime`.
    CreateRuntime,
    /// `hooks.prestart` (deprecated by the spec, still used).
    Prestart,
    /// `hooks.poststart`.
    Poststart,
    /// `hooks.poststop`.
    Poststop,
}

impl Point {
    fn name(self) -> &'static str {
        match self {
            Point::CreateRuntime => "createRuntime",
            Point::Prestart => "prestart",
            Point::Poststart => "poststart",
            Point::Poststop => "poststop",
        }
    }

    /// The spec's hooks for this point (none when it lists none).
    pub fn of(self, spec: &Spec) -> Vec<Hook> {
        let Some(h) = spec.hooks() else {
            return Vec::new();
        };
        #[allow(deprecated)]
        let list = match self {
            Point::CreateRuntime => h.create_runtime(),
            Point::Prestart => h.prestart(),
            Point::Poststart => h.poststart(),
            Point::Poststop => h.poststop(),
        };
        list.clone().unwrap_or_default()
    }
}

/// Runs the hooks of `point`, each with `state` on its stdin (the
/// runtime's hook runner, [`crate::runtime::hooks`]).
pub fn run(point: Point, spec: &Spec, state: &serde_json::Value) -> crate::Result<()> {
    run_in(point, spec, state, None)
}

/// [`run`] with `cwd` as the hooks' working directory (`create` and `run`
/// give the bundle's, as runc, which changes into it, does).
pub fn run_in(
    point: Point,
    spec: &Spec,
    state: &serde_json::Value,
    cwd: Option<&std::path::Path>,
) -> crate::Result<()> {
    crate::runtime::hooks::run(point.name(), &point.of(spec), state, cwd)
        .map_err(|f| OciError::Hook(point.name(), f.path, f.why).into())
}
