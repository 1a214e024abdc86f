//! Registry commands: `push`, `pull`, `login`, `logout`. Thin: the
//! library does the work; this file reads the password, and draws progress
//! bars (indicatif) when stderr is a terminal and the trace is not JSON.

use super::{Ctx, TraceMode};
use crate::registry::client::{self, http::Credentials, Progress, TransferOptions};
use crate::store::Store;
use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::{Arc, Mutex, OnceLock};

/// Arguments of `glassbox push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// The image to push, named by its registry: localhost:5001/busybox:1
    pub reference: String,
    /// Blobs sent at once (1 with --step)
    #[arg(long, default_value_t = 4)]
    pub jobs: usize,
}

/// Arguments of `glassbox pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// The image to pull: localhost:5001/busybox:1
    pub reference: String,
    /// Blobs fetched at once (1 with --step)
    #[arg(long, default_value_t = 4)]
    pub jobs: usize,
    /// When it is an image index, fetch the blobs of every platform, not
    /// only this machine's (so a push sends the whole index on)
    #[arg(long)]
    pub all_platforms: bool,
}

/// Arguments of `glassbox login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The registry: host[:port]
    pub server: String,
    /// The user name (asked on the terminal when missing)
    #[arg(short = 'u', long)]
    pub username: Option<String>,
    /// Read the password from standard input (one line)
    #[arg(long)]
    pub password_stdin: bool,
}

/// Arguments of `glassbox logout`.
#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// The registry: host[:port]
    pub server: String,
}

/// The MultiProgress the bars draw on, when there are bars: narration
/// lines written to stderr go around it (see [`StderrAroundBars`]).
static BARS: OnceLock<MultiProgress> = OnceLock::new();

fn options(ctx: &Ctx, jobs: usize) -> TransferOptions {
    let bars = std::io::stderr().is_terminal()
        && ctx.global.trace_mode() != TraceMode::Json
        && std::env::var_os("GLASSBOX_NO_PROGRESS").is_none();
    TransferOptions {
        jobs: if ctx.global.step { 1 } else { jobs.max(1) },
        progress: if bars {
            Arc::new(Bars::new())
        } else {
            Arc::new(client::NoProgress)
        },
    }
}

/// Pushes an image to its registry.
pub fn push(a: PushArgs, ctx: &Ctx) -> crate::Result<i32> {
    let store = Store::open(&ctx.root)?;
    let rep = client::push(&store, &a.reference, &options(ctx, a.jobs));
    clear_bars();
    let rep = rep?;
    println!(
        "{}: digest: {} size: {} ({} blobs uploaded, {} already there, {} mounted)",
        rep.reference, rep.digest, rep.size, rep.uploaded, rep.existed, rep.mounted
    );
    Ok(0)
}

/// Pulls an image from its registry.
pub fn pull(a: PullArgs, ctx: &Ctx) -> crate::Result<i32> {
    let store = Store::open(&ctx.root)?;
    let rep = client::pull_platforms(&store, &a.reference, &options(ctx, a.jobs), a.all_platforms);
    clear_bars();
    let rep = rep?;
    let index = if rep.platforms == 0 {
        String::new()
    } else if a.all_platforms || rep.platforms == 1 {
        format!(
            "; an index of {} manifest(s), every platform kept",
            rep.platforms
        )
    } else {
        format!(
            "; an index of {} manifest(s), the layers of linux/{} only: --all-platforms fetches all",
            rep.platforms,
            crate::store::host_arch()
        )
    };
    println!(
        "{}: digest: {} id: {} ({} blobs fetched, {} already here{index})",
        rep.reference, rep.digest, rep.id, rep.fetched, rep.present
    );
    Ok(0)
}

/// Checks credentials against a registry and stores them.
pub fn login(a: LoginArgs, _ctx: &Ctx) -> crate::Result<i32> {
    let username = match a.username {
        Some(u) => u,
        None => prompt("Username: ", true)?,
    };
    let password = if a.password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| crate::Error::Usage(format!("reading the password from stdin: {e}")))?;
        line.trim_end_matches(['\n', '\r']).to_string()
    } else {
        prompt("Password: ", false)?
    };
    if username.is_empty() || password.is_empty() {
        return Err(crate::Error::Usage(
            "login needs a user name and a non-empty password".into(),
        ));
    }
    let file = client::login(&a.server, Credentials { username, password })?;
    println!("Login Succeeded (credentials in {})", file.display());
    Ok(0)
}

/// Removes stored credentials.
pub fn logout(a: LogoutArgs, _ctx: &Ctx) -> crate::Result<i32> {
    if client::logout(&a.server)? {
        println!("Removing login credentials for {}", a.server);
    } else {
        println!("Not logged in to {}", a.server);
    }
    Ok(0)
}

/// Asks on the terminal; `echo` false hides what is typed.
fn prompt(question: &str, echo: bool) -> crate::Result<String> {
    use nix::sys::termios::{self, LocalFlags, SetArg};
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(crate::Error::Usage(format!(
            "{} needed: standard input is not a terminal, so give -u USER and --password-stdin",
            question.trim_end_matches([':', ' ']).to_lowercase()
        )));
    }
    eprint!("{question}");
    let _ = std::io::stderr().flush();
    let saved = if echo {
        None
    } else {
        termios::tcgetattr(&stdin).ok().inspect(|t| {
            let mut quiet = t.clone();
            quiet.local_flags.remove(LocalFlags::ECHO);
            let _ = termios::tcsetattr(&stdin, SetArg::TCSANOW, &quiet);
        })
    };
    let mut line = String::new();
    let r = stdin.lock().read_line(&mut line);
    if let Some(t) = saved {
        let _ = termios::tcsetattr(&stdin, SetArg::TCSANOW, &t);
        eprintln!();
    }
    r.map_err(|e| crate::Error::Usage(format!("reading from the terminal: {e}")))?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// Takes the bars off the screen once the transfer is over (the summary
/// line on stdout says what happened).
fn clear_bars() {
    if let Some(m) = BARS.get() {
        let _ = m.clear();
    }
}

/// Progress bars, one per blob.
struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Bars {
    fn new() -> Bars {
        let multi = BARS
            .get_or_init(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
            .clone();
        Bars {
            multi,
            bars: Mutex::new(HashMap::new()),
        }
    }
}

impl Progress for Bars {
    fn start(&self, id: &str, label: &str, total: u64) {
        let mut bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = bars.get(id) {
            b.set_length(total);
            b.set_position(0);
            return;
        }
        let b = self.multi.add(ProgressBar::new(total));
        b.set_style(
            ProgressStyle::with_template(
                "{prefix:>20} [{bar:30}] {bytes:>10}/{total_bytes:<10} {bytes_per_sec:>12} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        b.set_prefix(label.to_string());
        bars.insert(id.to_string(), b);
    }

    fn advance(&self, id: &str, n: u64) {
        if let Some(b) = self.bars.lock().unwrap_or_else(|e| e.into_inner()).get(id) {
            b.inc(n);
        }
    }

    fn finish(&self, id: &str, outcome: &str) {
        if let Some(b) = self.bars.lock().unwrap_or_else(|e| e.into_inner()).get(id) {
            b.finish_with_message(outcome.to_string());
        }
    }
}

/// Standard error for the narrator: whole lines, written around the
/// progress bars (hidden, then redrawn) when bars are on screen, so the two
/// never tear each other.
#[derive(Default)]
pub struct StderrAroundBars {
    pending: Vec<u8>,
}

impl Write for StderrAroundBars {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if let Some(end) = self.pending.iter().rposition(|b| *b == b'\n') {
            let lines: Vec<u8> = self.pending.drain(..=end).collect();
            match BARS.get() {
                Some(m) => m.suspend(|| std::io::stderr().write_all(&lines))?,
                None => std::io::stderr().write_all(&lines)?,
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            std::io::stderr().write_all(&rest)?;
        }
        std::io::stderr().flush()
    }
}
