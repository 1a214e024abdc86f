//! The comparison as an SVG picture for a projector: horizontal bars for
//! the time to first output and for the memory used on the host, both
//! sides labelled with their measured values, and the kernels underneath.
//! Written by hand: a few rectangles and text elements need no library.

use super::Comparison;
use crate::explain::human_bytes;

const WIDTH: f64 = 960.0;
const LABEL_W: f64 = 200.0;
const BAR_MAX: f64 = 480.0;
const BAR_H: f64 = 44.0;
const CONTAINER_COLOUR: &str = "#2a9d8f";
const VM_COLOUR: &str = "#e76f51";

/// Escapes text for XML.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

struct Bar {
    label: String,
    value: f64,
    text: String,
    colour: &'static str,
}

fn panel(svg: &mut String, y: f64, title: &str, bars: &[Bar]) -> f64 {
    svg.push_str(&format!(
        "<text x=\"40\" y=\"{y}\" font-size=\"24\" font-weight=\"bold\">{}</text>\n",
        escape(title)
    ));
    let max = bars.iter().map(|b| b.value).fold(0.0, f64::max).max(1e-9);
    let mut y = y + 20.0;
    for b in bars {
        // The smaller bar stays visible however large the other is.
        let w = (b.value / max * BAR_MAX).max(3.0);
        svg.push_str(&format!(
            "<text x=\"40\" y=\"{:.1}\" font-size=\"20\">{}</text>\n",
            y + BAR_H * 0.68,
            escape(&b.label)
        ));
        svg.push_str(&format!(
            "<rect x=\"{LABEL_W}\" y=\"{y}\" width=\"{w:.1}\" height=\"{BAR_H}\" fill=\"{}\"/>\n",
            b.colour
        ));
        svg.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"20\" font-weight=\"bold\">{}</text>\n",
            LABEL_W + w + 12.0,
            y + BAR_H * 0.68,
            escape(&b.text)
        ));
        y += BAR_H + 14.0;
    }
    y + 30.0
}

/// The chart; `None` when the VM side was not measured.
pub fn svg(c: &Comparison) -> Option<String> {
    let vm = c.vm.as_ref()?;
    let ct = &c.container;
    let vm_label = format!("VM ({})", vm.accel.to_uppercase());
    let mut body = String::new();
    let mut y = 120.0;
    y = panel(
        &mut body,
        y,
        "Time from start to the command's first output",
        &[
            Bar {
                label: "container".into(),
                value: ct.first_output_ms,
                text: super::report::duration(ct.first_output_ms),
                colour: CONTAINER_COLOUR,
            },
            Bar {
                label: vm_label.clone(),
                value: vm.first_output_ms,
                text: super::report::duration(vm.first_output_ms),
                colour: VM_COLOUR,
            },
        ],
    );
    let mem = |b: Option<u64>| b.map(human_bytes).unwrap_or_else(|| "not read".into());
    y = panel(
        &mut body,
        y,
        "Memory used on the host (peak)",
        &[
            Bar {
                label: "container".into(),
                value: ct.memory_peak_bytes.unwrap_or(0) as f64,
                text: format!("{} (cgroup)", mem(ct.memory_peak_bytes)),
                colour: CONTAINER_COLOUR,
            },
            Bar {
                label: vm_label,
                value: vm.memory_peak_bytes.unwrap_or(0) as f64,
                text: format!("{} (qemu RSS)", mem(vm.memory_peak_bytes)),
                colour: VM_COLOUR,
            },
        ],
    );
    let lines = [
        format!(
            "container kernel: {} (the host's) · PID 1: {} · host PID {}",
            ct.kernel, ct.pid1, ct.host_pid
        ),
        format!(
            "VM kernel: {} (its own) · PID 1: {} · one qemu process, PID {}",
            vm.kernel, vm.pid1, vm.qemu_pid
        ),
        format!(
            "disk: {} of image layers vs kernel {} + initramfs {}",
            human_bytes(ct.disk_bytes),
            human_bytes(vm.kernel_bytes),
            human_bytes(vm.initramfs_bytes)
        ),
    ];
    for l in &lines {
        body.push_str(&format!(
            "<text x=\"40\" y=\"{y}\" font-size=\"18\">{}</text>\n",
            escape(l)
        ));
        y += 28.0;
    }
    let height = y + 20.0;
    let mut svg = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" font-family=\"sans-serif\">\n"
    );
    svg.push_str(&format!(
        "<rect width=\"{WIDTH}\" height=\"{height}\" fill=\"white\"/>\n<text x=\"40\" y=\"56\" font-size=\"30\" font-weight=\"bold\">{}</text>\n<text x=\"40\" y=\"90\" font-size=\"18\">{}</text>\n",
        escape(&format!("container vs VM: {}", c.image)),
        escape(&format!(
            "`{}` run both ways; every figure measured in this run",
            c.command.join(" ")
        ))
    ));
    svg.push_str(&body);
    svg.push_str("</svg>\n");
    Some(svg)
}
