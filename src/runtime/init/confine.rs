//! The last limits the init puts on itself before exec, both inherited
//! by everything the container runs: `process.rlimits` (resource limits,
//! `prlimit(2)`) and `linux.seccomp` (a BPF filter over system calls,
//! `seccomp(2)`), each through the kernel boundary.

use super::{act, R};
use crate::kernel::{self, Call, Kernel};
use crate::runtime::seccomp::Filter;
use crate::trace::{self, Kind};
use oci_spec::runtime::{PosixRlimit, PosixRlimitType as T};

/// `RLIMIT_*` name and number of a spec's limit type (every type runc
/// takes; an unknown name already failed when config.json was parsed).
pub(crate) fn rlimit_resource(t: T) -> (&'static str, u32) {
    match t {
        T::RlimitCpu => ("RLIMIT_CPU", libc::RLIMIT_CPU),
        T::RlimitFsize => ("RLIMIT_FSIZE", libc::RLIMIT_FSIZE),
        T::RlimitData => ("RLIMIT_DATA", libc::RLIMIT_DATA),
        T::RlimitStack => ("RLIMIT_STACK", libc::RLIMIT_STACK),
        T::RlimitCore => ("RLIMIT_CORE", libc::RLIMIT_CORE),
        T::RlimitRss => ("RLIMIT_RSS", libc::RLIMIT_RSS),
        T::RlimitNproc => ("RLIMIT_NPROC", libc::RLIMIT_NPROC),
        T::RlimitNofile => ("RLIMIT_NOFILE", libc::RLIMIT_NOFILE),
        T::RlimitMemlock => ("RLIMIT_MEMLOCK", libc::RLIMIT_MEMLOCK),
        T::RlimitAs => ("RLIMIT_AS", libc::RLIMIT_AS),
        T::RlimitLocks => ("RLIMIT_LOCKS", libc::RLIMIT_LOCKS),
        T::RlimitSigpending => ("RLIMIT_SIGPENDING", libc::RLIMIT_SIGPENDING),
        T::RlimitMsgqueue => ("RLIMIT_MSGQUEUE", libc::RLIMIT_MSGQUEUE),
        T::RlimitNice => ("RLIMIT_NICE", libc::RLIMIT_NICE),
        T::RlimitRtprio => ("RLIMIT_RTPRIO", libc::RLIMIT_RTPRIO),
        T::RlimitRttime => ("RLIMIT_RTTIME", libc::RLIMIT_RTTIME),
    }
}

/// The calls that set `limits`, in the spec's order, and the hard limits
/// lowered to what this process may set (see [`set_rlimits`]).
pub(crate) fn rlimit_calls(limits: &[PosixRlimit]) -> (Vec<Call>, Vec<serde_json::Value>) {
    let may_raise = has_sys_resource();
    let mut clamped = Vec::new();
    let calls = limits
        .iter()
        .map(|l| {
            let (name, resource) = rlimit_resource(l.typ());
            let (mut soft, mut hard) = (l.soft(), l.hard());
            if !may_raise {
                if let Some(cur) = current_hard(resource).filter(|cur| hard > *cur) {
                    clamped.push(serde_json::json!({"type": name, "asked": hard, "hard": cur}));
                    hard = cur;
                    soft = soft.min(cur);
                }
            }
            Call::Setrlimit {
                name: name.to_string(),
                resource,
                soft,
                hard,
            }
        })
        .collect();
    (calls, clamped)
}

/// This process's current hard limit of `resource`.
fn current_hard(resource: u32) -> Option<u64> {
    let mut r = libc::rlimit64 {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit64 only writes the struct it is given.
    (unsafe { libc::getrlimit64(resource, &mut r) } == 0).then_some(r.rlim_max)
}

/// Whether this process holds CAP_SYS_RESOURCE, which raising a hard
/// limit takes.
fn has_sys_resource() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .is_some_and(|caps| caps & (1 << 24) != 0)
}

/// Sets the spec's resource limits, one step for all of them (nothing
/// when the spec has none). Raising a hard limit takes CAP_SYS_RESOURCE:
/// where glassbox itself runs without it (some sandboxes, a restricted
/// container host), a hard limit above the current one is lowered to the
/// current one and the event says so, where runc and crun would fail
/// every container podman starts (it asks NOFILE and NPROC above them).
pub(super) fn set_rlimits(limits: &[PosixRlimit], k: &mut dyn Kernel) -> R {
    if limits.is_empty() {
        return Ok(());
    }
    let (calls, clamped) = rlimit_calls(limits);
    let listed: Vec<serde_json::Value> = calls
        .iter()
        .filter_map(|c| match c {
            Call::Setrlimit {
                name, soft, hard, ..
            } => Some(serde_json::json!({"type": name, "soft": soft, "hard": hard})),
            _ => None,
        })
        .collect();
    act(
        kernel::describe(
            trace::step(Kind::Process, "rlimits", "resource limits")
                .field("count", calls.len())
                .field("limits", listed)
                .field("clamped", clamped),
            &calls,
        ),
        || kernel::apply(k, &calls),
    )
}

/// Loads the compiled filter: from here on the kernel runs it on every
/// system call of this process and of everything it starts.
pub(super) fn load_seccomp(f: &Filter, no_new_privs: bool, k: &mut dyn Kernel) -> R {
    let calls = [Call::Seccomp {
        program: f.program.clone(),
        flags: f.flags,
    }];
    act(
        kernel::describe(
            trace::step(Kind::Security, "seccomp", "seccomp filter")
                .field("applied", true)
                .field("rules", f.rules)
                .field("syscalls", f.syscalls)
                .field("default_action", &f.default_action)
                .field("default_errno", f.default_errno)
                .field("instructions", f.program.len())
                .field("arches", &f.arches)
                .field("skipped_arches", &f.skipped_arches)
                .field("unknown_syscalls", f.unknown.len())
                .field("unknown", &f.unknown)
                .field("flags", &f.flag_names)
                .field("no_new_privs", no_new_privs),
            &calls,
        ),
        || kernel::apply(k, &calls),
    )
}
