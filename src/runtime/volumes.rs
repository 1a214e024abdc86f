//! Volumes as the runtime sees them: turning `-v` requests and the image's
//! `VOLUME` entries into the mounts of one container, knowing which
//! containers use a volume (so `volume rm` can refuse), and removing a
//! container's anonymous volumes with it (`rm -v`, `--rm`).

use crate::store::container::{self, State};
use crate::volume::{self, MountRecord, Request, Source, VolumeError};
use oci_spec::image::ImageConfiguration;
use std::path::Path;

/// Makes (or finds) the host side of every mount of a new container: named
/// volumes are created on first use, anonymous ones get a fresh name, bind
/// sources that do not exist are created as directories (as `docker run -v`
/// does). Image `VOLUME` paths not covered by a request get an anonymous
/// volume each. On error, the anonymous volumes made so far are removed.
pub fn prepare(
    root: &Path,
    image: &ImageConfiguration,
    requests: &[Request],
) -> crate::Result<Vec<MountRecord>> {
    let mut all: Vec<Request> = requests.to_vec();
    let image_volumes = image
        .config()
        .as_ref()
        .and_then(|c| c.volumes().clone())
        .unwrap_or_default();
    for v in image_volumes {
        let dest = normalise(&v);
        if !all.iter().any(|r| normalise(&r.destination) == dest) {
            all.push(Request {
                source: Source::Anonymous,
                destination: dest,
                read_only: false,
            });
        }
    }
    let mut made: Vec<MountRecord> = Vec::new();
    let r = (|| -> crate::Result<()> {
        for r in &all {
            let rec = match &r.source {
                Source::Named(name) => MountRecord {
                    kind: "volume".into(),
                    name: Some(name.clone()),
                    source: volume::ensure(root, name)?,
                    destination: r.destination.clone(),
                    rw: !r.read_only,
                    anonymous: false,
                },
                Source::Anonymous => {
                    let name = container::new_id()?;
                    MountRecord {
                        kind: "volume".into(),
                        source: volume::create(root, &name, true)?,
                        name: Some(name),
                        destination: r.destination.clone(),
                        rw: !r.read_only,
                        anonymous: true,
                    }
                }
                Source::Bind(path) => {
                    if !path.exists() {
                        use crate::error::IoContext;
                        std::fs::create_dir_all(path)
                            .ctx(|| format!("creating bind source {}", path.display()))?;
                    }
                    MountRecord {
                        kind: "bind".into(),
                        name: None,
                        source: path.clone(),
                        destination: r.destination.clone(),
                        rw: !r.read_only,
                        anonymous: false,
                    }
                }
            };
            made.push(rec);
        }
        Ok(())
    })();
    match r {
        Ok(()) => Ok(made),
        Err(e) => {
            forget_anonymous(root, &made);
            Err(e)
        }
    }
}

fn normalise(p: &str) -> String {
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        "/".into()
    } else {
        t.to_string()
    }
}

/// The spec mounts (type `bind`) for a container's mount records.
pub fn spec_mounts(records: &[MountRecord]) -> crate::Result<Vec<oci_spec::runtime::Mount>> {
    records
        .iter()
        .map(|m| {
            let mut options = vec!["rbind".to_string(), "rprivate".to_string()];
            options.push(if m.rw { "rw" } else { "ro" }.to_string());
            oci_spec::runtime::MountBuilder::default()
                .destination(&m.destination)
                .typ("bind")
                .source(&m.source)
                .options(options)
                .build()
                .map_err(|e| super::RuntimeError::Spec(e).into())
        })
        .collect()
}

/// The names of the containers (any state) that use volume `name`.
pub fn users(root: &Path, name: &str) -> Vec<String> {
    container::all(root)
        .into_iter()
        .filter(|(_, s)| s.mounts.iter().any(|m| m.name.as_deref() == Some(name)))
        .map(|(_, s)| s.name)
        .collect()
}

/// `volume rm NAME`: refuses while a container uses it.
pub fn remove(root: &Path, name: &str) -> crate::Result<()> {
    volume::get(root, name)?;
    if let Some(c) = users(root, name).into_iter().next() {
        return Err(VolumeError::InUse(name.to_string(), c).into());
    }
    volume::delete(root, name)
}

/// `volume prune`: removes every volume no container uses; returns their
/// names.
pub fn prune(root: &Path) -> crate::Result<Vec<String>> {
    let mut removed = Vec::new();
    for v in volume::list(root) {
        if users(root, &v.name).is_empty() {
            volume::delete(root, &v.name)?;
            removed.push(v.name);
        }
    }
    Ok(removed)
}

/// Removes the anonymous volumes of a container that is being removed
/// (`rm -v`, `--rm`), unless another container uses them too.
pub fn remove_anonymous(root: &Path, st: &State) {
    let others: Vec<State> = container::all(root)
        .into_iter()
        .map(|(_, s)| s)
        .filter(|s| s.id != st.id)
        .collect();
    for m in st.mounts.iter().filter(|m| m.anonymous) {
        let name = m.name.as_deref().unwrap_or_default();
        let shared = others
            .iter()
            .any(|o| o.mounts.iter().any(|x| x.name.as_deref() == Some(name)));
        if !shared {
            let _ = volume::delete(root, name);
        }
    }
}

fn forget_anonymous(root: &Path, made: &[MountRecord]) {
    for m in made.iter().filter(|m| m.anonymous) {
        if let Some(n) = &m.name {
            let _ = volume::delete(root, n);
        }
    }
}

/// A fresh random volume name (64 hex, like Docker's anonymous volumes).
pub fn new_name() -> crate::Result<String> {
    container::new_id()
}

/// Removes the anonymous volumes made for a container whose creation failed.
pub(crate) fn undo(root: &Path, made: &[MountRecord]) {
    forget_anonymous(root, made)
}
