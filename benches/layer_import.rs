//! Benchmark: importing a ~200 MB directory tree as a layer (tar + gzip +
//! sha256 of both), glassbox's `LayerEncoder` side by side with
//! `tar -c | gzip -6 | sha256sum` on the same tree, in one run.
//!
//! Run with `cargo bench --bench layer_import`. Options (after `--`):
//! `--mb N` (tree size, default 200), `--runs N` (default 3), `--scan`
//! (also time every level 1–9 with and without the 32 KiB priming, on the
//! tar held in memory). The figures and the reasoning are in
//! benches/README.md.

use glassbox::image::compress::{LayerEncoder, Settings};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const MIB: f64 = 1024.0 * 1024.0;

/// Regular files under `dir`, depth first in sorted order; symlinks and
/// special files are skipped, unreadable directories too.
fn sorted_files(dir: &Path, out: &mut Vec<(PathBuf, u64)>, budget: u64, total: &mut u64) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = rd.filter_map(|e| e.ok()).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        if *total >= budget {
            return;
        }
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            sorted_files(&e.path(), out, budget, total);
        } else if ft.is_file() {
            if let Ok(md) = e.metadata() {
                *total += md.len();
                out.push((e.path(), md.len()));
            }
        }
    }
}

/// Copies files from /usr/lib (the first half of `budget`, in sorted order:
/// libraries, binaries) and /usr/share (the rest: text, docs, data) into
/// `root`, keeping their relative paths.
fn build_tree(root: &Path, budget: u64) -> io::Result<(u64, usize)> {
    let mut files = Vec::new();
    let mut total = 0;
    sorted_files(Path::new("/usr/lib"), &mut files, budget / 2, &mut total);
    sorted_files(Path::new("/usr/share"), &mut files, budget, &mut total);
    let mut copied = 0;
    let mut n = 0;
    for (path, _) in &files {
        let rel = path.strip_prefix("/").expect("absolute");
        let dst = root.join(rel);
        fs::create_dir_all(dst.parent().expect("has parent"))?;
        if let Ok(len) = fs::copy(path, &dst) {
            copied += len;
            n += 1;
        }
    }
    Ok((copied, n))
}

/// All paths under `root` (dirs and files), sorted, relative.
fn walk_sorted(root: &Path, rel: &Path, out: &mut Vec<(PathBuf, bool)>) -> io::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(root.join(rel))?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let r = rel.join(e.file_name());
        let is_dir = e.file_type()?.is_dir();
        out.push((r.clone(), is_dir));
        if is_dir {
            walk_sorted(root, &r, out)?;
        }
    }
    Ok(())
}

/// Writes the tree as a tar into `w` with the `tar` crate, sorted, with
/// deterministic headers.
fn tar_tree<W: Write>(root: &Path, entries: &[(PathBuf, bool)], w: W) -> io::Result<W> {
    let mut b = tar::Builder::new(w);
    b.mode(tar::HeaderMode::Deterministic);
    b.follow_symlinks(false);
    for (rel, is_dir) in entries {
        let full = root.join(rel);
        if *is_dir {
            b.append_dir(rel, &full)?;
        } else {
            b.append_path_with_name(&full, rel)?;
        }
    }
    b.into_inner()
}

/// One glassbox import: tar crate → LayerEncoder → (a sink, like the
/// shell pipeline's sha256sum). Returns (time, tar bytes, gzip bytes).
fn glassbox_once(root: &Path, entries: &[(PathBuf, bool)], s: Settings) -> (Duration, u64, u64) {
    let t = Instant::now();
    let enc = LayerEncoder::with_settings(io::sink(), s);
    let enc = tar_tree(root, entries, enc).expect("tar the tree");
    let (d, _) = enc.finish().expect("finish the layer");
    (t.elapsed(), d.uncompressed_size, d.size)
}

fn shell(cmd: &str) -> (Duration, String) {
    let t = Instant::now();
    let out = Command::new("sh")
        .args(["-c", cmd])
        .output()
        .expect("run sh");
    assert!(out.status.success(), "{cmd} failed");
    (
        t.elapsed(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
    )
}

/// CPU seconds (user + system) used so far by this process (`who` =
/// `RUSAGE_SELF`, all its threads) or by its waited-for children
/// (`RUSAGE_CHILDREN`). Less sensitive than wall time to other work on a
/// shared machine.
fn cpu_seconds(who: libc::c_int) -> f64 {
    // SAFETY: getrusage only writes into the zeroed struct we pass it.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn median_f(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Encoder alone on an in-memory tar: every level on all cores, and for
/// levels 3, 4 and 6 also without the 32 KiB priming and on one thread.
/// Median of `runs` runs each.
fn scan(tar: &[u8], gzip6: u64, runs: usize) {
    println!(
        "\nencoder alone on the {:.1} MiB tar held in memory (median of {runs}); load: {}",
        tar.len() as f64 / MIB,
        loadavg()
    );
    println!(
        "{:>5} {:>5} {:>7} {:>10} {:>13} {:>12} {:>9}",
        "level", "dict", "threads", "MiB/s", "MiB/cpu-s", "bytes", "vs -6"
    );
    let all = Settings::default().threads;
    let mut configs = Vec::new();
    for level in 1..=9 {
        configs.push(Settings {
            level,
            dictionary: true,
            threads: all,
        });
        if [3, 4, 6].contains(&level) {
            configs.push(Settings {
                level,
                dictionary: false,
                threads: all,
            });
            if all > 1 {
                configs.push(Settings {
                    level,
                    dictionary: true,
                    threads: 1,
                });
            }
        }
    }
    for s in configs {
        let mut times = Vec::new();
        let mut cpus = Vec::new();
        let mut size = 0;
        for _ in 0..runs {
            let c = cpu_seconds(libc::RUSAGE_SELF);
            let t = Instant::now();
            let mut e = LayerEncoder::with_settings(io::sink(), s);
            e.write_all(tar).unwrap();
            let (d, _) = e.finish().unwrap();
            times.push(t.elapsed());
            cpus.push(cpu_seconds(libc::RUSAGE_SELF) - c);
            size = d.size;
        }
        println!(
            "{:>5} {:>5} {:>7} {:>10.1} {:>13.1} {:>12} {:>+8.2}%",
            s.level,
            s.dictionary,
            s.threads,
            tar.len() as f64 / MIB / median(times).as_secs_f64(),
            tar.len() as f64 / MIB / median_f(cpus),
            size,
            (size as f64 / gzip6 as f64 - 1.0) * 100.0
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let get = |name: &str, default: u64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let mb = get("--mb", 200);
    let runs = get("--runs", 3).max(1) as usize;
    let do_scan = args.iter().any(|a| a == "--scan");

    // Under target/tmp, so a killed run leaves nothing in /tmp.
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let root = tmp.path().join("tree");
    let (bytes, files) = build_tree(&root, mb * 1_000_000).expect("build the tree");
    let mut entries = Vec::new();
    walk_sorted(&root, Path::new(""), &mut entries).expect("walk the tree");
    let q = root.display().to_string();
    println!(
        "tree: {files} files, {:.1} MiB of file data from /usr/lib + /usr/share; {} cores; load before: {}",
        bytes as f64 / MIB,
        Settings::default().threads,
        loadavg()
    );

    // Sizes, untimed: GNU tar's stream and gzip -6's blob.
    let gnu_tar: u64 = shell(&format!("tar -c -C '{q}' . | wc -c"))
        .1
        .parse()
        .unwrap();
    let gzip6: u64 = shell(&format!("tar -c -C '{q}' . | gzip -6 | wc -c"))
        .1
        .parse()
        .unwrap();

    let default = Settings::default();
    let (mut ts, mut tg) = (Vec::new(), Vec::new());
    let (mut cs, mut cg) = (Vec::new(), Vec::new());
    let (mut our_tar, mut our_gz) = (0, 0);
    // Interleave so both see the same background load.
    for _ in 0..runs {
        let c = cpu_seconds(libc::RUSAGE_CHILDREN);
        ts.push(shell(&format!("tar -c -C '{q}' . | gzip -6 | sha256sum")).0);
        cs.push(cpu_seconds(libc::RUSAGE_CHILDREN) - c);
        let c = cpu_seconds(libc::RUSAGE_SELF);
        let (t, tarb, gzb) = glassbox_once(&root, &entries, default);
        cg.push(cpu_seconds(libc::RUSAGE_SELF) - c);
        tg.push(t);
        (our_tar, our_gz) = (tarb, gzb);
    }
    let (ms, mg) = (median(ts.clone()), median(tg.clone()));
    println!(
        "\nmedian of {runs} runs each, interleaved; load after: {}",
        loadavg()
    );
    println!(
        "{:<48} {:>7} {:>7} {:>7} {:>12} {:>8}",
        "pipeline", "wall s", "MiB/s", "cpu s", "gzip bytes", "vs -6"
    );
    println!(
        "{:<48} {:>7.2} {:>7.1} {:>7.2} {:>12} {:>7.2}%",
        "tar -c | gzip -6 | sha256sum",
        ms.as_secs_f64(),
        gnu_tar as f64 / MIB / ms.as_secs_f64(),
        median_f(cs.clone()),
        gzip6,
        0.0
    );
    println!(
        "{:<48} {:>7.2} {:>7.1} {:>7.2} {:>12} {:>+7.2}%",
        format!(
            "glassbox tar+LayerEncoder (level {}, {} threads)",
            default.level, default.threads
        ),
        mg.as_secs_f64(),
        our_tar as f64 / MIB / mg.as_secs_f64(),
        median_f(cg.clone()),
        our_gz,
        (our_gz as f64 / gzip6 as f64 - 1.0) * 100.0
    );
    println!(
        "speed-up: {:.2}x  (tar bytes: GNU {gnu_tar}, tar crate {our_tar}); all runs: shell {:?} glassbox {:?}",
        ms.as_secs_f64() / mg.as_secs_f64(),
        ts.iter().map(|d| (d.as_secs_f64() * 100.0).round() / 100.0).collect::<Vec<_>>(),
        tg.iter().map(|d| (d.as_secs_f64() * 100.0).round() / 100.0).collect::<Vec<_>>(),
    );

    if do_scan {
        let tar = tar_tree(&root, &entries, Vec::new()).expect("tar into memory");
        scan(&tar, gzip6, runs);
    }
}
