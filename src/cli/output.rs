//! Global flags and the sinks they install.

use crate::explain::Level;
use crate::sinks::{JsonLines, Narrator, NarratorOptions, Sink, SinkLayer, StepThrough, Timeline};
use clap::{Args, ValueEnum};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

/// How events are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TraceMode {
    /// Short human lines with explanations.
    Narrate,
    /// JSON lines (stderr, or --trace-file).
    Json,
    /// Nothing.
    Off,
}

/// How much explanation the narration carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExplainLevel {
    /// One or two sentences per step.
    Brief,
    /// The whole story per step.
    Full,
    /// None.
    Off,
}

/// Flags every command accepts.
#[derive(Debug, Clone, Args)]
pub struct GlobalOpts {
    /// The glassbox root: an OCI image layout plus runtime state
    #[arg(long, global = true, env = "GLASSBOX_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// How to show events [default: narrate on a terminal, off otherwise]
    #[arg(long, global = true, value_enum)]
    pub trace: Option<TraceMode>,
    /// Write the trace to FILE instead of stderr
    #[arg(long, global = true, value_name = "FILE")]
    pub trace_file: Option<PathBuf>,
    /// How much explanation to show under each step
    #[arg(long, global = true, value_enum, default_value = "brief")]
    pub explain: ExplainLevel,
    /// Pause before each kernel-level step (needs a terminal)
    #[arg(long, global = true)]
    pub step: bool,
    /// Write a Chrome trace-event timeline (open it in Perfetto)
    #[arg(long, global = true, value_name = "FILE")]
    pub timeline: Option<PathBuf>,
    /// No ANSI colours
    #[arg(long, global = true)]
    pub no_color: bool,
}

impl GlobalOpts {
    /// The root directory in force.
    pub fn root(&self) -> PathBuf {
        self.root
            .clone()
            .unwrap_or_else(crate::rootless::default_root)
    }

    /// The trace mode in force.
    pub fn trace_mode(&self) -> TraceMode {
        self.trace.unwrap_or_else(|| {
            if self.trace_file.is_some() {
                TraceMode::Json
            } else if std::io::stderr().is_terminal() {
                TraceMode::Narrate
            } else {
                TraceMode::Off
            }
        })
    }

    fn color(&self) -> bool {
        !self.no_color && std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal()
    }
}

/// The installed sinks, to be finished when the command ends.
pub struct Installed {
    sinks: Vec<Arc<dyn Sink>>,
}

impl Installed {
    /// Flushes every sink (writes the timeline file).
    pub fn finish(&self) {
        for s in &self.sinks {
            s.finish();
        }
    }
}

fn layer<T: Sink>(
    s: Arc<T>,
) -> Box<dyn tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync> {
    Box::new(SinkLayer::new(s))
}

/// Opens the `--trace-file` for writing, empty.
///
/// An existing regular file with one link is unlinked and made anew rather
/// than truncated: on ext4, truncating a file that has blocks and writing it
/// again makes the kernel start writing it back when it is closed (its guard
/// for programs that rewrite files in place), which cost ~3 ms per command
/// here — more than all the tracing itself. A new file is only written back
/// later, by the usual flusher. Symlinks, devices, pipes and hard-linked
/// files are opened and truncated as they are, so `/dev/stderr` still works.
fn create_trace_file(p: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::MetadataExt;
    if let Ok(m) = std::fs::symlink_metadata(p) {
        if m.file_type().is_file() && m.nlink() == 1 {
            let _ = std::fs::remove_file(p);
        }
    }
    std::fs::File::create(p)
}

/// Installs the sinks the flags ask for as the global subscriber.
pub fn install(g: &GlobalOpts) -> Result<Installed, String> {
    use tracing_subscriber::layer::SubscriberExt;
    let mut layers = Vec::new();
    let mut sinks: Vec<Arc<dyn Sink>> = Vec::new();
    let level = match g.explain {
        ExplainLevel::Brief => Level::Brief,
        ExplainLevel::Full => Level::Full,
        ExplainLevel::Off => Level::Off,
    };
    let out: Box<dyn std::io::Write + Send> = match &g.trace_file {
        Some(p) => Box::new(std::io::BufWriter::new(
            create_trace_file(p)
                .map_err(|e| format!("cannot create trace file {}: {e}", p.display()))?,
        )),
        None => Box::new(super::push_pull::StderrAroundBars::default()),
    };
    match g.trace_mode() {
        TraceMode::Narrate => {
            let s = Arc::new(Narrator::new(
                out,
                NarratorOptions {
                    color: g.color() && g.trace_file.is_none(),
                    explain: level,
                },
            ));
            sinks.push(s.clone());
            layers.push(layer(s));
        }
        TraceMode::Json => {
            let s = Arc::new(JsonLines::new(out));
            sinks.push(s.clone());
            layers.push(layer(s));
        }
        TraceMode::Off => {}
    }
    if g.step {
        if !std::io::stdin().is_terminal() {
            return Err("--step pauses on a terminal, but standard input is not one; run it in a terminal, or drop --step".into());
        }
        let s = Arc::new(
            StepThrough::open(g.color())
                .map_err(|e| format!("--step needs a terminal (/dev/tty: {e})"))?,
        );
        sinks.push(s.clone());
        layers.push(layer(s));
        crate::trace::set_pausing(true);
    }
    if let Some(p) = &g.timeline {
        let s = Arc::new(Timeline::new(p.clone()));
        sinks.push(s.clone());
        layers.push(layer(s));
    }
    let filter = tracing_subscriber::EnvFilter::try_from_env("GLASSBOX_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off"));
    let debug = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(filter);
    use tracing_subscriber::Layer;
    let subscriber = tracing_subscriber::registry().with(layers).with(debug);
    tracing::subscriber::set_global_default(subscriber).map_err(|e| e.to_string())?;
    Ok(Installed { sinks })
}

/// Prints an error and its chain once, cleanly.
pub fn print_error(e: &crate::Error) {
    let mut msg = format!("glassbox: {e}");
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        let text = s.to_string();
        if !msg.contains(&text) {
            msg.push_str(&format!(": {text}"));
        }
        src = s.source();
    }
    eprintln!("{msg}");
}
