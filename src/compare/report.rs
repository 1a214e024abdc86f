//! The comparison as a side-by-side table (for a terminal or a projector)
//! and as JSON (every field). The table's rows are the questions a course
//! asks: which kernel, how fast, how much memory, what PID 1 is and what
//! the host sees, what sits on disk, and where the isolation boundary is.

use super::Comparison;
use crate::explain::human_bytes;

/// `812 ms` below ten seconds' worth of ms, else `14.2 s`.
pub fn duration(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.1} s", ms / 1000.0)
    }
}

/// The rows: label, container cell, VM cell (each cell one or more lines).
pub fn rows(c: &Comparison) -> Vec<(String, Vec<String>, Vec<String>)> {
    let ct = &c.container;
    let mut rows = Vec::new();
    let missing = || vec!["not measured".to_string()];
    let vm = c.vm.as_ref();
    let same = if ct.kernel == c.host_kernel {
        "the host's own"
    } else {
        "not the host's?"
    };
    rows.push((
        "kernel (uname -r inside)".into(),
        vec![ct.kernel.clone(), same.into()],
        vm.map(|v| {
            vec![
                v.kernel.clone(),
                if v.kernel != c.host_kernel {
                    "its own, booted by qemu".into()
                } else {
                    "its own (same release as the host)".into()
                },
            ]
        })
        .unwrap_or_else(missing),
    ));
    rows.push((
        "time to first output".into(),
        vec![
            duration(ct.first_output_ms),
            "clone, namespaces, pivot_root, exec".into(),
        ],
        vm.map(|v| {
            vec![
                duration(v.first_output_ms),
                if v.accel == "kvm" {
                    "KVM: hardware virtualisation".into()
                } else {
                    "TCG: software emulation".into()
                },
                format!("guest clock at its init: {:.2} s", v.guest_uptime_at_init_s),
            ]
        })
        .unwrap_or_else(missing),
    ));
    rows.push((
        "memory used on the host".into(),
        vec![
            ct.memory_peak_bytes
                .map(|b| format!("peak {}", human_bytes(b)))
                .unwrap_or_else(|| "no peak kept".into()),
            ct.memory_source.clone(),
        ],
        vm.map(|v| {
            vec![
                v.memory_peak_bytes
                    .map(|b| format!("peak {}", human_bytes(b)))
                    .unwrap_or_else(|| "not read".into()),
                format!("qemu's VmHWM ({} MiB guest RAM)", v.guest_memory_mib),
            ]
        })
        .unwrap_or_else(missing),
    ));
    rows.push((
        "PID 1 inside".into(),
        vec![format!("{} (the command itself)", ct.pid1)],
        vm.map(|v| vec![format!("{} (the guest's init)", v.pid1)])
            .unwrap_or_else(missing),
    ));
    let nspid = ct
        .nspid
        .iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(" → ");
    rows.push((
        "what the host sees".into(),
        vec![
            if ct.host_visible {
                format!("an ordinary process, PID {}", ct.host_pid)
            } else {
                format!("PID {} (gone before /proc was read)", ct.host_pid)
            },
            format!("NSpid {nspid}"),
        ],
        vm.map(|v| {
            vec![
                if v.host_processes == 1 {
                    format!("one qemu process, PID {}", v.qemu_pid)
                } else {
                    format!(
                        "{} processes: qemu, PID {}, and helpers",
                        v.host_processes, v.qemu_pid
                    )
                },
                "the guest's processes are invisible".into(),
            ]
        })
        .unwrap_or_else(missing),
    ));
    rows.push((
        "disk".into(),
        vec![
            format!(
                "{}: {} image layer{}",
                human_bytes(ct.disk_bytes),
                ct.layers.len(),
                if ct.layers.len() == 1 { "" } else { "s" }
            ),
            "shared by every container".into(),
        ],
        vm.map(|v| {
            vec![
                format!("kernel {}", human_bytes(v.kernel_bytes)),
                format!("+ initramfs {}", human_bytes(v.initramfs_bytes)),
            ]
        })
        .unwrap_or_else(missing),
    ));
    rows.push((
        "isolation boundary".into(),
        vec![
            format!("namespaces: {}", ct.namespaces.join(" ")),
            format!(
                "cgroup {}: {}",
                ct.cgroup_version,
                ct.cgroup_controllers.join(" ")
            ),
        ],
        vm.map(|v| {
            vec![
                format!("hypervisor: qemu {}", v.accel.to_uppercase()),
                "a separate kernel".into(),
            ]
        })
        .unwrap_or_else(missing),
    ));
    let out_lines = |s: &str, code: i32| {
        let mut l: Vec<String> = s.lines().take(4).map(str::to_string).collect();
        if l.is_empty() {
            l.push("(no output)".into());
        }
        if code != 0 {
            l.push(format!("exit code {code}"));
        }
        l
    };
    rows.push((
        format!("output of `{}`", c.command.join(" ")),
        out_lines(&ct.output, ct.exit_code),
        vm.map(|v| out_lines(&v.output, v.exit_code))
            .unwrap_or_else(missing),
    ));
    rows
}

/// The table as text.
pub fn table(c: &Comparison) -> String {
    let rows = rows(c);
    let w0 = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
    let w1 = rows
        .iter()
        .flat_map(|r| r.1.iter())
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(0)
        .max("container".len());
    let pad = |s: &str, w: usize| format!("{s}{}", " ".repeat(w.saturating_sub(s.chars().count())));
    let mut out = format!(
        "container vs VM, image {}, command `{}` (host kernel {})\n\n",
        c.image,
        c.command.join(" "),
        c.host_kernel
    );
    out.push_str(&format!(
        "{} │ {} │ VM\n",
        pad("", w0),
        pad("container", w1)
    ));
    let rule = format!(
        "{}─┼─{}─┼─{}\n",
        "─".repeat(w0),
        "─".repeat(w1),
        "─".repeat(w1)
    );
    for (label, a, b) in &rows {
        // A rule between rows keeps each row's lines together, also when
        // the padding is squeezed (as in the book's transcripts).
        out.push_str(&rule);
        for i in 0..a.len().max(b.len()) {
            let l = if i == 0 { label.as_str() } else { "" };
            let x = a.get(i).map(String::as_str).unwrap_or("");
            let y = b.get(i).map(String::as_str).unwrap_or("");
            out.push_str(format!("{} │ {} │ {}", pad(l, w0), pad(x, w1), y).trim_end());
            out.push('\n');
        }
    }
    if let Some(e) = &c.vm_error {
        out.push_str(&format!("\nVM not measured: {e}\n"));
    } else if let Some(v) = &c.vm {
        out.push_str(&format!("\nVM accelerator: {}\n", v.accel_note));
    }
    out
}

/// The comparison as pretty JSON (every field).
pub fn json(c: &Comparison) -> String {
    serde_json::to_string_pretty(c).unwrap_or_default()
}
