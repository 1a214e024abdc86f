//! What the benchmarks share: how busy the machine was while they ran.
//! Each bench prints these in its own words; the figures come from here.

/// The 1, 5 and 15 minute load averages, space-separated ("" without /proc).
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The "some avg10" pressure of `resource` (cpu, io, memory) in percent,
/// or "?" on a kernel without PSI.
pub fn pressure_avg10(resource: &str) -> String {
    std::fs::read_to_string(format!("/proc/pressure/{resource}"))
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .find_map(|w| w.strip_prefix("avg10=").map(str::to_string))
        })
        .unwrap_or_else(|| "?".into())
}
