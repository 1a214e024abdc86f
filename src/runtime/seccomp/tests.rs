//! The compiler's programs are run in a small classic-BPF interpreter
//! over chosen `seccomp_data` inputs: what the kernel would answer.

use super::*;
use oci_spec::runtime::LinuxSeccomp;

/// One system call as the filter sees it.
struct Data {
    nr: u32,
    arch: u32,
    args: [u64; 6],
}

fn call(nr: u32, args: &[u64]) -> Data {
    let mut a = [0u64; 6];
    a[..args.len()].copy_from_slice(args);
    Data {
        nr,
        arch: AUDIT_ARCH_X86_64,
        args: a,
    }
}

/// Runs `prog` on `d` as the kernel's BPF machine would: 32-bit loads
/// from `struct seccomp_data`, the accumulator, forward jumps; every
/// path must end in a return, and a jump out of the program fails.
fn run(prog: &[SockFilter], d: &Data) -> u32 {
    let word = |off: u32| -> u32 {
        match off {
            0 => d.nr,
            4 => d.arch,
            16..=63 if off.is_multiple_of(4) => {
                let a = d.args[((off - 16) / 8) as usize];
                if (off - 16).is_multiple_of(8) {
                    a as u32
                } else {
                    (a >> 32) as u32
                }
            }
            _ => panic!("load from offset {off}"),
        }
    };
    let mut acc = 0u32;
    let mut pc = 0usize;
    let mut steps = 0;
    loop {
        steps += 1;
        assert!(steps < 100_000, "the program loops");
        let i = *prog.get(pc).expect("the program ran off its end");
        pc += 1;
        match i.code {
            0x20 => acc = word(i.k),
            0x54 => acc &= i.k,
            0x06 => return i.k,
            0x05 => pc += i.k as usize,
            0x15 | 0x25 | 0x35 => {
                let t = match i.code {
                    0x15 => acc == i.k,
                    0x25 => acc > i.k,
                    _ => acc >= i.k,
                };
                pc += if t { i.jt } else { i.jf } as usize;
            }
            c => panic!("unknown opcode {c:#x}"),
        }
    }
}

fn profile(json: serde_json::Value) -> LinuxSeccomp {
    serde_json::from_value(json).expect("a profile")
}

fn nr(name: &str) -> u32 {
    syscall_number(name).unwrap()
}

const EPERM: u32 = ret::ERRNO | 1;

#[test]
fn the_table_knows_x86_64_numbers_and_matches_the_kernel_header() {
    assert_eq!(syscall_number("read"), Some(0));
    assert_eq!(syscall_number("mkdir"), Some(83));
    assert_eq!(syscall_number("chmod"), Some(90));
    assert_eq!(syscall_number("no_such_call"), None);
    let h = std::path::Path::new("/usr/include/x86_64-linux-gnu/asm/unistd_64.h");
    if let Ok(text) = std::fs::read_to_string(h) {
        let mut n = 0;
        for line in text.lines() {
            let mut w = line.split_whitespace();
            if let (Some("#define"), Some(name), Some(num)) = (w.next(), w.next(), w.next()) {
                if let (Some(name), Ok(num)) = (name.strip_prefix("__NR_"), num.parse::<u32>()) {
                    assert_eq!(syscall_number(name), Some(num), "{name}");
                    n += 1;
                }
            }
        }
        assert_eq!(
            n,
            x86_64::SYSCALLS.len(),
            "the table has calls the header lacks"
        );
    }
}

#[test]
fn a_denied_call_gets_its_errno_and_everything_else_the_default() {
    let f = compile(&profile(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
            {"names": ["reboot"], "action": "SCMP_ACT_KILL_PROCESS"},
            {"names": ["not_on_this_arch"], "action": "SCMP_ACT_ERRNO"}
        ]
    })))
    .unwrap();
    let p = &f.program;
    assert_eq!(run(p, &call(nr("mkdir"), &[])), EPERM);
    assert_eq!(run(p, &call(nr("mkdirat"), &[])), EPERM);
    assert_eq!(run(p, &call(nr("chmod"), &[])), ret::ERRNO | 13);
    assert_eq!(run(p, &call(nr("reboot"), &[])), ret::KILL_PROCESS);
    assert_eq!(run(p, &call(nr("write"), &[1, 2, 3])), ret::ALLOW);
    assert_eq!(f.rules, 4);
    assert_eq!(f.syscalls, 4);
    assert_eq!(f.unknown, vec!["not_on_this_arch".to_string()]);
    assert_eq!(f.default_action, "SCMP_ACT_ALLOW");
    assert_eq!(f.skipped_arches, vec!["SCMP_ARCH_X86", "SCMP_ARCH_X32"]);
}

/// A denylist must not be bypassed through another syscall table: an
/// i386 call (another audit arch) or an x32 number gets ENOSYS.
#[test]
fn other_arches_and_the_x32_bit_cannot_bypass_the_rules() {
    let f = compile(&profile(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]
    })))
    .unwrap();
    let enosys = ret::ERRNO | libc::ENOSYS as u32;
    let i386 = Data {
        nr: 39, // mkdir on i386
        arch: 0x4000_0003,
        args: [0; 6],
    };
    assert_eq!(run(&f.program, &i386), enosys);
    let x32 = call(nr("mkdir") | X32_SYSCALL_BIT, &[]);
    assert_eq!(run(&f.program, &x32), enosys);
    assert_eq!(run(&f.program, &call(nr("mkdir"), &[])), EPERM);
}

#[test]
fn an_errno_default_uses_default_errno_ret_and_allowed_calls_pass() {
    let f = compile(&profile(serde_json::json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 38,
        "syscalls": [{"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"}]
    })))
    .unwrap();
    assert_eq!(run(&f.program, &call(0, &[])), ret::ALLOW);
    assert_eq!(run(&f.program, &call(nr("exit_group"), &[])), ret::ALLOW);
    assert_eq!(run(&f.program, &call(nr("mkdir"), &[])), ret::ERRNO | 38);
    assert_eq!(f.default_errno, Some(38));
    // Without defaultErrnoRet: EPERM, as runc.
    let g = compile(&profile(
        serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO"}),
    ))
    .unwrap();
    assert_eq!(run(&g.program, &call(nr("mkdir"), &[])), EPERM);
}

/// Comparisons are on full 64-bit values: a value differing only in its
/// high half must not match, and the unsigned order holds across halves.
#[test]
fn argument_comparisons_work_on_64_bit_values() {
    let rule = |op: &str, v: u64| {
        compile(&profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["ioctl"], "action": "SCMP_ACT_ERRNO",
                          "args": [{"index": 1, "value": v, "op": op}]}]
        })))
        .unwrap()
        .program
    };
    let big = 0x1_0000_0005u64;
    let cases: [(&str, u64, &[u64]); 6] = [
        ("SCMP_CMP_EQ", big, &[big]),
        ("SCMP_CMP_NE", big, &[5, 0x2_0000_0005, 0]),
        ("SCMP_CMP_GT", big, &[big + 1, 0x2_0000_0000, u64::MAX]),
        ("SCMP_CMP_GE", big, &[big, big + 1, 0x2_0000_0000]),
        ("SCMP_CMP_LT", big, &[0, 5, 0xffff_ffff, big - 1]),
        ("SCMP_CMP_LE", big, &[0, 5, 0xffff_ffff, big]),
    ];
    let probes = [
        0u64,
        5,
        0xffff_ffff,
        big - 1,
        big,
        big + 1,
        0x2_0000_0000,
        0x2_0000_0005,
        u64::MAX,
    ];
    for (op, v, _) in cases {
        let p = rule(op, v);
        for x in probes {
            let want = match op {
                "SCMP_CMP_EQ" => x == v,
                "SCMP_CMP_NE" => x != v,
                "SCMP_CMP_GT" => x > v,
                "SCMP_CMP_GE" => x >= v,
                "SCMP_CMP_LT" => x < v,
                _ => x <= v,
            };
            let got = run(&p, &call(nr("ioctl"), &[3, x]));
            assert_eq!(got == EPERM, want, "{op} {v:#x} on {x:#x}");
            // The comparison looks at argument 1 only.
            let fixed = run(&p, &call(nr("ioctl"), &[0, v]));
            assert_eq!(
                run(&p, &call(nr("ioctl"), &[x, v])),
                fixed,
                "{op} arg0 {x:#x}"
            );
        }
        // The listed cases match.
        for (o, vv, hits) in cases {
            if o == op && vv == v {
                for x in hits {
                    assert_eq!(run(&p, &call(nr("ioctl"), &[0, *x])), EPERM, "{op} {x:#x}");
                }
            }
        }
    }
}

/// Docker's clone rule: allowed unless a namespace flag is set, spelled
/// as MASKED_EQ (flags & mask) == 0.
#[test]
fn masked_eq_and_two_comparisons_on_one_argument() {
    let ns_flags: u64 = 0x7e02_0000;
    let f = compile(&profile(serde_json::json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": ns_flags, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
            // Both index 0: either comparison may match (runc's rule).
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
                      {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
            // Different indexes: both must hold.
            {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 2, "op": "SCMP_CMP_EQ"},
                      {"index": 1, "value": 1, "op": "SCMP_CMP_EQ"}]}
        ]
    })))
    .unwrap();
    let p = &f.program;
    assert_eq!(run(p, &call(nr("clone"), &[0x11])), ret::ALLOW);
    assert_eq!(run(p, &call(nr("clone"), &[0x11 | 0x2000_0000])), EPERM);
    assert_eq!(run(p, &call(nr("clone"), &[0x1_0000_0011])), ret::ALLOW);
    assert_eq!(run(p, &call(nr("personality"), &[0])), ret::ALLOW);
    assert_eq!(run(p, &call(nr("personality"), &[8])), ret::ALLOW);
    assert_eq!(run(p, &call(nr("personality"), &[4])), EPERM);
    assert_eq!(run(p, &call(nr("socket"), &[2, 1])), ret::ALLOW);
    assert_eq!(run(p, &call(nr("socket"), &[2, 2])), EPERM);
    assert_eq!(run(p, &call(nr("socket"), &[10, 1])), EPERM);
    assert_eq!(f.rules, 4, "personality's rule became two");
}

#[test]
fn every_action_compiles_to_its_kernel_value_and_notify_is_refused() {
    for (a, want) in [
        ("SCMP_ACT_KILL", ret::KILL_THREAD),
        ("SCMP_ACT_KILL_THREAD", ret::KILL_THREAD),
        ("SCMP_ACT_KILL_PROCESS", ret::KILL_PROCESS),
        ("SCMP_ACT_TRAP", ret::TRAP),
        ("SCMP_ACT_LOG", ret::LOG),
        ("SCMP_ACT_TRACE", ret::TRACE | 1),
        ("SCMP_ACT_ALLOW", ret::ALLOW),
    ] {
        let f = compile(&profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["getpid"], "action": a}]
        })))
        .unwrap();
        assert_eq!(run(&f.program, &call(nr("getpid"), &[])), want, "{a}");
    }
    let e = compile(&profile(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_NOTIFY"}]
    })))
    .unwrap_err();
    assert!(
        matches!(e, SeccompError::Notify(ref n) if n == "mount"),
        "{e}"
    );
    let e = compile(&profile(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_AARCH64"]
    })))
    .unwrap_err();
    assert!(e.to_string().contains("x86_64 only"), "{e}");
    let e = compile(&profile(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",
                      "args": [{"index": 6, "value": 0, "op": "SCMP_CMP_EQ"}]}]
    })))
    .unwrap_err();
    assert_eq!(e, SeccompError::ArgIndex("read".into(), 6));
}

/// A profile the size of Docker's (hundreds of calls, some with long
/// rule lists) compiles within the kernel's limit, and a block longer
/// than a conditional jump reaches is still skipped correctly.
#[test]
fn large_profiles_and_long_blocks_stay_correct() {
    let names: Vec<&str> = x86_64::SYSCALLS
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| *n != "ioctl")
        .take(300)
        .collect();
    let many_args: Vec<serde_json::Value> = (0..60)
        .map(|i| {
            serde_json::json!({"names": ["ioctl"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 1, "value": 0x5400 + i, "op": "SCMP_CMP_EQ"}]})
        })
        .collect();
    let mut syscalls = many_args;
    syscalls.push(serde_json::json!({"names": names, "action": "SCMP_ACT_ALLOW"}));
    let f = compile(&profile(serde_json::json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": syscalls
    })))
    .unwrap();
    assert!(f.program.len() > 600 && f.program.len() < MAX_INSNS);
    assert_eq!(
        run(&f.program, &call(nr("ioctl"), &[1, 0x5410])),
        ret::ALLOW
    );
    assert_eq!(run(&f.program, &call(nr("ioctl"), &[1, 0x9999])), EPERM);
    for n in &names {
        assert_eq!(run(&f.program, &call(nr(n), &[])), ret::ALLOW, "{n}");
    }
    let last = x86_64::SYSCALLS[x86_64::SYSCALLS.len() - 1].0;
    if !names.contains(&last) {
        assert_eq!(run(&f.program, &call(nr(last), &[])), EPERM);
    }
}
