//! What an OCI bundle's init does beyond `glassbox run`'s: join the
//! namespaces the spec names by path, and wait between `create` and
//! `start` ([`Park`]).

use super::{act, Fail, R};
use crate::kernel;
use crate::trace::{self, Kind};
use oci_spec::runtime::Spec;

/// How an OCI runtime's init waits between `create` and `start`: it
/// reports that it is ready, moves its events from the relay pipe (whose
/// reader, `create`, is about to exit) to the container's trace file, and
/// blocks on the exec FIFO until `start` writes a byte to it, as runc's
/// `exec.fifo` does.
#[derive(Debug, Clone, Copy)]
pub struct Park {
    /// The write end of the ready pipe; the init writes `r` and closes it.
    pub ready: std::os::fd::RawFd,
    /// The exec FIFO, opened read-write (so opening never blocks).
    pub fifo: std::os::fd::RawFd,
    /// The container's trace file, opened for appending.
    pub trace: std::os::fd::RawFd,
}

/// Joins the namespaces the spec names by path (a pod's network
/// namespace, say), before anything else: what follows happens in them.
pub(super) fn join_namespaces(spec: &Spec) -> R {
    // A PID namespace is joined by the parent before clone (setns on a
    // PID namespace moves only the children).
    for (n, path) in crate::runtime::namespaces::to_join(spec)
        .into_iter()
        .filter(|(n, _)| n.name != "pid")
    {
        let f = std::fs::File::open(&path).map_err(|e| {
            trace::fact(Kind::Namespace, "setns", format!("{} namespace", n.name))
                .field("path", path.display().to_string())
                .field("error", format!("opening {}: {e}", path.display()))
                .info();
            Fail(125)
        })?;
        let calls = [kernel::Call::Setns {
            fd: std::os::fd::AsRawFd::as_raw_fd(&f),
            path: path.clone(),
            nstype: n.clone,
        }];
        act(
            kernel::describe(
                trace::step(Kind::Namespace, "setns", format!("{} namespace", n.name))
                    .field("path", path.display().to_string())
                    .field("flag", n.flag),
                &calls,
            ),
            || kernel::apply(&mut kernel::Host, &calls),
        )?;
    }
    Ok(())
}

/// Waits for `start` (see [`Park`]).
pub(super) fn park(p: Park) -> R {
    use std::io::{Read, Write};
    use std::os::fd::FromRawFd;
    trace::fact(Kind::Process, "wait_start", "container init")
        .field("pid", std::process::id())
        .equivalent("runc start ID")
        .syscall("read(exec.fifo)")
        .info();
    // SAFETY: the three descriptors were opened by the parent for this
    // init alone and are not used anywhere else in it; each is owned once.
    let (mut ready, mut fifo, trace_file) = unsafe {
        (
            std::fs::File::from_raw_fd(p.ready),
            std::fs::File::from_raw_fd(p.fifo),
            std::fs::File::from_raw_fd(p.trace),
        )
    };
    // The later events go to the trace file: `create` stops reading.
    trace::set_relay(trace::relay::RelayWriter::new(trace_file, None));
    ready.write_all(b"r").map_err(|_| Fail(125))?;
    drop(ready);
    let mut b = [0u8; 1];
    loop {
        match fifo.read(&mut b) {
            Ok(1) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            _ => return Err(Fail(125)),
        }
    }
}
