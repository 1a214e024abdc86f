//! seccomp: compiles the runtime spec's `linux.seccomp` profile (the JSON
//! podman, containerd and Docker write) into the classic BPF program the
//! kernel runs on every system call the container makes, as
//! seccomp_filter(2) describes it. The init loads it through the kernel
//! boundary ([`crate::kernel::Call::Seccomp`]).
//!
//! The program, for x86_64:
//! 1. the call's `arch` is checked: a call made under another audit
//!    architecture (an i386 binary's `int 0x80`) gets ENOSYS, whatever the
//!    profile lists, so no rule can be bypassed through another table;
//! 2. a call with the x32 bit (`__X32_SYSCALL_BIT`, 0x40000000) in its
//!    number gets ENOSYS too: its numbers are another table;
//! 3. one block per system call the profile names, in profile order: if
//!    the number matches, each of its rules is tried in order (its
//!    argument comparisons on the full 64-bit values, as two 32-bit
//!    halves), the first that matches returns its action; none matching
//!    returns the default action;
//! 4. any other call returns the default action.
//!
//! As runc does, a name this architecture does not have is skipped, and a
//! rule that compares the same argument twice becomes one rule per
//! comparison (either may match). `SCMP_ACT_NOTIFY` (a user-space agent
//! answering calls) is refused. Other architectures' filters (i386, x32)
//! are not compiled: their calls get ENOSYS, and the event lists them.

mod x86_64;

use crate::kernel::SockFilter;
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction as Action, LinuxSeccompArg,
    LinuxSeccompFilterFlag as Flag, LinuxSeccompOperator as Op,
};

/// `AUDIT_ARCH_X86_64`: what `seccomp_data.arch` holds for a 64-bit call.
pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
/// The bit x32 calls carry in their number on x86_64.
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;
/// The kernel's limit on a filter's length (`BPF_MAXINSNS`).
const MAX_INSNS: usize = 4096;

/// `SECCOMP_RET_*` action values (the high 16 bits; the low 16 are data).
pub mod ret {
    /// Kill the whole process (`SECCOMP_RET_KILL_PROCESS`).
    pub const KILL_PROCESS: u32 = 0x8000_0000;
    /// Kill the thread (`SECCOMP_RET_KILL_THREAD`, the old `KILL`).
    pub const KILL_THREAD: u32 = 0x0000_0000;
    /// Send SIGSYS (`SECCOMP_RET_TRAP`).
    pub const TRAP: u32 = 0x0003_0000;
    /// Fail with the errno in the low bits (`SECCOMP_RET_ERRNO`).
    pub const ERRNO: u32 = 0x0005_0000;
    /// Stop for a ptrace tracer; without one the call fails with ENOSYS
    /// (`SECCOMP_RET_TRACE`).
    pub const TRACE: u32 = 0x7ff0_0000;
    /// Allow and log (`SECCOMP_RET_LOG`).
    pub const LOG: u32 = 0x7ffc_0000;
    /// Allow (`SECCOMP_RET_ALLOW`).
    pub const ALLOW: u32 = 0x7fff_0000;
}

// Classic BPF opcodes (linux/filter.h, linux/bpf_common.h).
const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JGT_K: u16 = 0x25; // BPF_JMP | BPF_JGT | BPF_K
const JGE_K: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const JA: u16 = 0x05; // BPF_JMP | BPF_JA
const AND_K: u16 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const RET_K: u16 = 0x06; // BPF_RET | BPF_K

// Offsets in `struct seccomp_data` (x86_64 is little-endian: an argument's
// low half comes first).
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const fn off_arg_lo(i: usize) -> u32 {
    16 + 8 * i as u32
}
const fn off_arg_hi(i: usize) -> u32 {
    20 + 8 * i as u32
}

/// A profile compiled for this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// The BPF program.
    pub program: Vec<SockFilter>,
    /// `SECCOMP_FILTER_FLAG_*` bits from the profile's `flags`.
    pub flags: u32,
    /// The profile's flags by name.
    pub flag_names: Vec<String>,
    /// Rules compiled: one per (system call, rule) pair.
    pub rules: usize,
    /// Distinct system calls the rules name.
    pub syscalls: usize,
    /// Names this architecture has no number for (skipped, as runc does).
    pub unknown: Vec<String>,
    /// The default action, as the profile spells it.
    pub default_action: String,
    /// The default action's errno, for SCMP_ACT_ERRNO and SCMP_ACT_TRACE.
    pub default_errno: Option<u32>,
    /// Architectures compiled (`SCMP_ARCH_X86_64`).
    pub arches: Vec<String>,
    /// Architectures the profile lists that are not compiled: their calls
    /// get ENOSYS.
    pub skipped_arches: Vec<String>,
}

/// A profile that cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeccompError {
    /// SCMP_ACT_NOTIFY needs a listener (a seccomp agent).
    #[error("SCMP_ACT_NOTIFY (for {0}) needs a seccomp agent listening on linux.seccomp.listenerPath, which glassbox-runc does not support; use SCMP_ACT_ERRNO or SCMP_ACT_KILL_PROCESS")]
    Notify(String),
    /// Not a profile for this machine.
    #[error("linux.seccomp.architectures lists {0:?} but not SCMP_ARCH_X86_64 (or SCMP_ARCH_NATIVE): glassbox compiles seccomp filters for x86_64 only")]
    NoArch(Vec<String>),
    /// The host is not x86_64.
    #[error("seccomp filters are compiled for x86_64 only, and this machine is {0}")]
    HostArch(&'static str),
    /// An argument index past the six a call has.
    #[error("seccomp rule for {0}: argument index {1} is past the six arguments a system call has (0-5)")]
    ArgIndex(String, usize),
    /// Longer than the kernel takes.
    #[error("the seccomp profile compiles to {0} BPF instructions, more than the kernel's limit of 4096")]
    TooLong(usize),
    /// A flag the kernel needs a listener for.
    #[error(
        "seccomp flag {0} is for SCMP_ACT_NOTIFY listeners, which glassbox-runc does not support"
    )]
    Flag(String),
}

/// The spelling of an action in a profile (`SCMP_ACT_ERRNO`).
pub fn action_name(a: Action) -> String {
    serde_json::to_value(a)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{a:?}"))
}

fn arch_name(a: Arch) -> String {
    serde_json::to_value(a)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{a:?}"))
}

/// The actions and operators the compiler takes, as `features` lists them.
pub const ACTIONS: [&str; 8] = [
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_LOG",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_TRAP",
];
/// The argument comparisons the compiler takes.
pub const OPERATORS: [&str; 7] = [
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_LE",
    "SCMP_CMP_LT",
    "SCMP_CMP_MASKED_EQ",
    "SCMP_CMP_NE",
];
/// The architectures compiled.
pub const ARCHES: [&str; 1] = ["SCMP_ARCH_X86_64"];
/// The flags passed on to seccomp(2).
pub const FLAGS: [&str; 3] = [
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_TSYNC",
];

/// The x86_64 number of system call `name`.
pub fn syscall_number(name: &str) -> Option<u32> {
    x86_64::SYSCALLS
        .binary_search_by(|(n, _)| (*n).cmp(name))
        .ok()
        .map(|i| x86_64::SYSCALLS[i].1)
}

/// The return value of `action`: `errno` is the rule's `errnoRet` (or the
/// default's), EPERM when absent, as runc takes it.
fn ret_value(action: Action, errno: Option<u32>, what: &str) -> Result<u32, SeccompError> {
    Ok(match action {
        Action::ScmpActAllow => ret::ALLOW,
        Action::ScmpActErrno => ret::ERRNO | (errno.unwrap_or(libc::EPERM as u32) & 0xffff),
        Action::ScmpActKill | Action::ScmpActKillThread => ret::KILL_THREAD,
        Action::ScmpActKillProcess => ret::KILL_PROCESS,
        Action::ScmpActTrap => ret::TRAP,
        // The data is the tracer's PTRACE_GETEVENTMSG value; without a
        // tracer the kernel fails the call with ENOSYS.
        Action::ScmpActTrace => ret::TRACE | (errno.unwrap_or(libc::EPERM as u32) & 0xffff),
        Action::ScmpActLog => ret::LOG,
        Action::ScmpActNotify => return Err(SeccompError::Notify(what.to_string())),
    })
}

const fn stmt(code: u16, k: u32) -> SockFilter {
    SockFilter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

/// A jump target inside one rule's code, resolved when the rule is done.
#[derive(Clone, Copy)]
enum To {
    /// The next instruction.
    Next,
    /// The end of this comparison: it held.
    Held,
    /// Past the rule's return: the rule does not match.
    Fail,
}

struct Jump {
    code: u16,
    k: u32,
    jt: To,
    jf: To,
}

enum Piece {
    Plain(SockFilter),
    Jump(Jump),
    /// The end of one comparison (no instruction).
    Held,
}

fn jmp(code: u16, k: u32, jt: To, jf: To) -> Piece {
    Piece::Jump(Jump { code, k, jt, jf })
}

/// The code of one comparison: falls through (to `Held`) when it holds,
/// jumps to `Fail` when not.
fn comparison(a: &LinuxSeccompArg) -> Vec<Piece> {
    use To::*;
    let i = a.index();
    let (hi, lo) = ((a.value() >> 32) as u32, a.value() as u32);
    let ld_hi = Piece::Plain(stmt(LD_W_ABS, off_arg_hi(i)));
    let ld_lo = Piece::Plain(stmt(LD_W_ABS, off_arg_lo(i)));
    let mut v = match a.op() {
        Op::ScmpCmpEq => vec![
            ld_hi,
            jmp(JEQ_K, hi, Next, Fail),
            ld_lo,
            jmp(JEQ_K, lo, Held, Fail),
        ],
        Op::ScmpCmpNe => vec![
            ld_hi,
            jmp(JEQ_K, hi, Next, Held),
            ld_lo,
            jmp(JEQ_K, lo, Fail, Held),
        ],
        // Unsigned, as the kernel's and libseccomp's comparisons are: the
        // high halves decide unless they are equal.
        Op::ScmpCmpGt | Op::ScmpCmpGe => vec![
            ld_hi,
            jmp(JGT_K, hi, Held, Next),
            jmp(JEQ_K, hi, Next, Fail),
            ld_lo,
            jmp(
                if a.op() == Op::ScmpCmpGt {
                    JGT_K
                } else {
                    JGE_K
                },
                lo,
                Held,
                Fail,
            ),
        ],
        Op::ScmpCmpLt | Op::ScmpCmpLe => vec![
            ld_hi,
            jmp(JGT_K, hi, Fail, Next),
            jmp(JEQ_K, hi, Next, Held),
            ld_lo,
            // a < v is not (a >= v); a <= v is not (a > v).
            jmp(
                if a.op() == Op::ScmpCmpLt {
                    JGE_K
                } else {
                    JGT_K
                },
                lo,
                Fail,
                Held,
            ),
        ],
        // value is the mask, valueTwo what the masked argument must equal.
        Op::ScmpCmpMaskedEq => {
            let want = a.value_two().unwrap_or(0);
            let (whi, wlo) = ((want >> 32) as u32, want as u32);
            vec![
                ld_hi,
                Piece::Plain(stmt(AND_K, hi)),
                jmp(JEQ_K, whi, Next, Fail),
                ld_lo,
                Piece::Plain(stmt(AND_K, lo)),
                jmp(JEQ_K, wlo, Held, Fail),
            ]
        }
    };
    v.push(Piece::Held);
    v
}

/// One rule: its comparisons (all must hold), then its return. A rule
/// without comparisons is its return alone.
fn rule_code(args: &[LinuxSeccompArg], ret: u32) -> Vec<SockFilter> {
    let mut pieces: Vec<Piece> = args.iter().flat_map(comparison).collect();
    pieces.push(Piece::Plain(stmt(RET_K, ret)));
    // Positions of instructions (Held markers take none).
    let mut at = Vec::with_capacity(pieces.len());
    let mut n = 0usize;
    for p in &pieces {
        at.push(n);
        if !matches!(p, Piece::Held) {
            n += 1;
        }
    }
    let end = n; // past the return
    let mut out = Vec::with_capacity(n);
    for (idx, p) in pieces.iter().enumerate() {
        match p {
            Piece::Held => {}
            Piece::Plain(s) => out.push(*s),
            Piece::Jump(j) => {
                let me = at[idx];
                let resolve = |t: To| -> u8 {
                    let target = match t {
                        To::Next => me + 1,
                        To::Fail => end,
                        // The next Held marker after this jump.
                        To::Held => pieces[idx..]
                            .iter()
                            .position(|q| matches!(q, Piece::Held))
                            .map(|off| at[idx + off])
                            .unwrap_or(end),
                    };
                    (target - me - 1) as u8
                };
                out.push(SockFilter {
                    code: j.code,
                    jt: resolve(j.jt),
                    jf: resolve(j.jf),
                    k: j.k,
                });
            }
        }
    }
    out
}

/// Compiles the spec's `linux.seccomp`, if it has one (a bundle's init and
/// an exec into its container load the same filter).
pub fn for_spec(spec: &oci_spec::runtime::Spec) -> Result<Option<Filter>, SeccompError> {
    spec.linux()
        .as_ref()
        .and_then(|x| x.seccomp().as_ref())
        .map(compile)
        .transpose()
}

/// Compiles `profile` for x86_64.
pub fn compile(profile: &LinuxSeccomp) -> Result<Filter, SeccompError> {
    if !cfg!(target_arch = "x86_64") {
        return Err(SeccompError::HostArch(std::env::consts::ARCH));
    }
    let listed: Vec<Arch> = profile.architectures().clone().unwrap_or_default();
    let native = listed.is_empty()
        || listed
            .iter()
            .any(|a| matches!(a, Arch::ScmpArchX86_64 | Arch::ScmpArchNative));
    if !native {
        return Err(SeccompError::NoArch(
            listed.iter().map(|a| arch_name(*a)).collect(),
        ));
    }
    let skipped_arches: Vec<String> = listed
        .iter()
        .filter(|a| !matches!(a, Arch::ScmpArchX86_64 | Arch::ScmpArchNative))
        .map(|a| arch_name(*a))
        .collect();
    let mut flags = 0u32;
    let mut flag_names = Vec::new();
    for f in profile.flags().iter().flatten() {
        let (bit, name) = match f {
            Flag::SeccompFilterFlagTsync => (1, "SECCOMP_FILTER_FLAG_TSYNC"),
            Flag::SeccompFilterFlagLog => (2, "SECCOMP_FILTER_FLAG_LOG"),
            Flag::SeccompFilterFlagSpecAllow => (4, "SECCOMP_FILTER_FLAG_SPEC_ALLOW"),
            Flag::SeccompFilterFlagWaitKillableRecv => {
                return Err(SeccompError::Flag(
                    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV".into(),
                ))
            }
        };
        flags |= bit;
        flag_names.push(name.to_string());
    }
    let default_ret = ret_value(
        profile.default_action(),
        profile.default_errno_ret(),
        "the default action",
    )?;
    let enosys = ret::ERRNO | libc::ENOSYS as u32;

    // Rules per system call number, in the order the profile first names
    // each call.
    let mut order: Vec<u32> = Vec::new();
    let mut by_nr: std::collections::HashMap<u32, Vec<Vec<SockFilter>>> = Default::default();
    let mut unknown = Vec::new();
    let mut rules = 0usize;
    for sc in profile.syscalls().iter().flatten() {
        let args: Vec<LinuxSeccompArg> = sc.args().clone().unwrap_or_default();
        for name in sc.names() {
            let Some(nr) = syscall_number(name) else {
                if !unknown.contains(name) {
                    unknown.push(name.clone());
                }
                continue;
            };
            let r = ret_value(sc.action(), sc.errno_ret(), name)?;
            if let Some(a) = args.iter().find(|a| a.index() > 5) {
                return Err(SeccompError::ArgIndex(name.clone(), a.index()));
            }
            // runc: a rule comparing one argument twice is one rule per
            // comparison; otherwise all comparisons must hold.
            let mut seen = [0u8; 6];
            for a in &args {
                seen[a.index()] += 1;
            }
            let groups: Vec<Vec<LinuxSeccompArg>> = if seen.iter().any(|c| *c > 1) {
                args.iter().map(|a| vec![*a]).collect()
            } else {
                vec![args.clone()]
            };
            let entry = by_nr.entry(nr).or_insert_with(|| {
                order.push(nr);
                Vec::new()
            });
            for g in groups {
                entry.push(rule_code(&g, r));
                rules += 1;
            }
        }
    }

    let mut program = vec![
        stmt(LD_W_ABS, OFF_ARCH),
        SockFilter {
            code: JEQ_K,
            jt: 1,
            jf: 0,
            k: AUDIT_ARCH_X86_64,
        },
        stmt(RET_K, enosys),
        stmt(LD_W_ABS, OFF_NR),
        SockFilter {
            code: JGE_K,
            jt: 0,
            jf: 1,
            k: X32_SYSCALL_BIT,
        },
        stmt(RET_K, enosys),
    ];
    for nr in &order {
        let mut block: Vec<SockFilter> = by_nr[nr].iter().flatten().copied().collect();
        // The comparisons load arguments over the number: a call none of
        // whose rules match ends here, with the default.
        if by_nr[nr].last().is_some_and(|r| r.len() > 1) {
            block.push(stmt(RET_K, default_ret));
        }
        // jeq nr, 1, 0; ja past the block — a block may be longer than
        // a conditional jump reaches (255).
        program.push(SockFilter {
            code: JEQ_K,
            jt: 1,
            jf: 0,
            k: *nr,
        });
        program.push(stmt(JA, block.len() as u32));
        program.extend(block);
    }
    program.push(stmt(RET_K, default_ret));
    if program.len() > MAX_INSNS {
        return Err(SeccompError::TooLong(program.len()));
    }
    Ok(Filter {
        program,
        flags,
        flag_names,
        rules,
        syscalls: order.len(),
        unknown,
        default_action: action_name(profile.default_action()),
        default_errno: match profile.default_action() {
            Action::ScmpActErrno | Action::ScmpActTrace => {
                Some(profile.default_errno_ret().unwrap_or(libc::EPERM as u32))
            }
            _ => None,
        },
        arches: vec!["SCMP_ARCH_X86_64".to_string()],
        skipped_arches,
    })
}

#[cfg(test)]
mod tests;
