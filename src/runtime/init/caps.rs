//! Capabilities: everything outside the spec's bounding set is dropped
//! (`prctl(PR_CAPBSET_DROP)`) and the remaining sets are set with
//! `capset(2)`, by the init (and by `exec`) just before the user's command
//! runs.

use super::{act, Fail, R};
use crate::trace::{self, Kind};
use oci_spec::runtime::Spec;

fn cap_number(c: &oci_spec::runtime::Capability) -> Option<u32> {
    let name = serde_json::to_value(c).ok()?.as_str()?.to_string();
    const NAMES: [&str; 41] = [
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_DAC_READ_SEARCH",
        "CAP_FOWNER",
        "CAP_FSETID",
        "CAP_KILL",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETPCAP",
        "CAP_LINUX_IMMUTABLE",
        "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST",
        "CAP_NET_ADMIN",
        "CAP_NET_RAW",
        "CAP_IPC_LOCK",
        "CAP_IPC_OWNER",
        "CAP_SYS_MODULE",
        "CAP_SYS_RAWIO",
        "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE",
        "CAP_SYS_PACCT",
        "CAP_SYS_ADMIN",
        "CAP_SYS_BOOT",
        "CAP_SYS_NICE",
        "CAP_SYS_RESOURCE",
        "CAP_SYS_TIME",
        "CAP_SYS_TTY_CONFIG",
        "CAP_MKNOD",
        "CAP_LEASE",
        "CAP_AUDIT_WRITE",
        "CAP_AUDIT_CONTROL",
        "CAP_SETFCAP",
        "CAP_MAC_OVERRIDE",
        "CAP_MAC_ADMIN",
        "CAP_SYSLOG",
        "CAP_WAKE_ALARM",
        "CAP_BLOCK_SUSPEND",
        "CAP_AUDIT_READ",
        "CAP_PERFMON",
        "CAP_BPF",
        "CAP_CHECKPOINT_RESTORE",
    ];
    NAMES.iter().position(|n| *n == name).map(|i| i as u32)
}

/// Drops the capabilities the spec does not keep; the error is the exit
/// code to end with (for `exec`, which has no trace steps of its own here).
pub(crate) fn drop_capabilities(spec: &Spec) -> Result<(), i32> {
    drop_caps(spec).map_err(|Fail(c)| c)
}

pub(super) fn drop_caps(spec: &Spec) -> R {
    let caps = spec
        .process()
        .as_ref()
        .and_then(|p| p.capabilities().clone())
        .ok_or(Fail(125))?;
    let keep: Vec<u32> = caps
        .bounding()
        .as_ref()
        .map(|b| b.iter().filter_map(cap_number).collect())
        .unwrap_or_default();
    let mut names: Vec<String> = caps
        .bounding()
        .as_ref()
        .map(|b| b.iter().map(|c| c.to_string()).collect())
        .unwrap_or_default();
    names.sort();
    act(
        trace::step(Kind::Security, "capabilities", "capability set")
            .field("kept", &names)
            .equivalent(format!(
                "capsh --caps=\"{}+ep\" --",
                names.join(",").to_lowercase()
            ))
            .syscall("prctl(PR_CAPBSET_DROP), capset(2)"),
        || {
            let last: u32 = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(40);
            let mut mask: u64 = 0;
            for c in 0..=last {
                if keep.contains(&c) {
                    mask |= 1 << c;
                    continue;
                }
                // SAFETY: prctl with integer arguments.
                let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, c as libc::c_ulong, 0, 0, 0) };
                if r < 0 {
                    return Err(format!(
                        "dropping capability {c}: {}",
                        std::io::Error::last_os_error()
                    ));
                }
            }
            #[repr(C)]
            struct Header {
                version: u32,
                pid: i32,
            }
            #[repr(C)]
            #[derive(Clone, Copy)]
            struct Data {
                effective: u32,
                permitted: u32,
                inheritable: u32,
            }
            let hdr = Header {
                version: 0x2008_0522,
                pid: 0,
            };
            let set = |mask: u64| {
                let (lo, hi) = (mask as u32, (mask >> 32) as u32);
                let data = [
                    Data {
                        effective: lo,
                        permitted: lo,
                        inheritable: 0,
                    },
                    Data {
                        effective: hi,
                        permitted: hi,
                        inheritable: 0,
                    },
                ];
                // SAFETY: capset reads one header and two data structs
                // (version 3 layout), both alive for the call.
                unsafe { libc::syscall(libc::SYS_capset, &hdr, data.as_ptr()) }
            };
            // CAP_SETGID and CAP_SETUID stay usable (not in the bounding
            // set unless kept, so the command never has them) until the
            // user step that follows has set the groups and ids: the
            // command's own capabilities come from the bounding set at
            // execve, and a non-root user gets none.
            let ids = (1u64 << 6) | (1u64 << 7); // CAP_SETGID, CAP_SETUID
            if set(mask | ids) < 0 && set(mask) < 0 {
                return Err(format!("capset: {}", std::io::Error::last_os_error()));
            }
            Ok(())
        },
    )
}
