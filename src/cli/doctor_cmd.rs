//! `glassbox doctor [CONTAINER]`: what is wrong with a container (or every
//! container of the store), why, and what to type instead. Exits 1 when it
//! finds something, 0 when all is well, 2 when it cannot examine.

use super::Ctx;
use clap::Args;

/// `doctor` options.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Container name or id (omit to examine every container of the store)
    container: Option<String>,
    /// Output format: text or json
    #[arg(long, default_value = "text")]
    format: String,
}

/// Runs the checks and prints the findings.
pub fn doctor(a: DoctorArgs, ctx: &Ctx) -> crate::Result<i32> {
    if a.format != "text" && a.format != "json" {
        return Err(crate::Error::Usage(format!(
            "unknown format {:?}; use --format text (the default) or --format json",
            a.format
        )));
    }
    let report = crate::doctor::examine(&ctx.root, a.container.as_deref())?;
    if a.format == "json" {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("json serialises")
        );
    } else {
        print!("{}", text(&report));
    }
    Ok(if report.clean() { 0 } else { 1 })
}

/// The report as text: one block per finding (what, why, evidence, fix).
pub fn text(report: &crate::doctor::Report) -> String {
    let mut out = String::new();
    if report.examined.is_empty() && report.findings.is_empty() {
        out.push_str("no containers in this store: nothing to examine (and its journal shows no failed push or pull)\n");
        return out;
    }
    for f in &report.findings {
        out.push_str(&format!("✗ {}: {}\n", f.container, f.summary));
        out.push_str(&format!("  why: {}\n", f.why(crate::explain::Level::Brief)));
        for e in &f.evidence {
            out.push_str(&format!("  evidence: {e}\n"));
        }
        out.push_str(&format!("  fix: {}\n\n", f.fix));
    }
    let n = report.findings.len();
    let mut scope = Vec::new();
    if !report.examined.is_empty() {
        scope.push(plural(report.examined.len(), "container"));
    }
    if report.journal {
        scope.push("the store's journal".to_string());
    }
    let scope = scope.join(" and ");
    if n == 0 {
        out.push_str(&format!(
            "✓ {scope} examined, nothing wrong found: {}\n",
            report.examined.join(", ")
        ));
    } else {
        out.push_str(&format!("{} in {scope}\n", plural(n, "finding")));
    }
    out
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}
