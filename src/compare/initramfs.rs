//! The VM's initramfs: the image's layers flattened into one tree
//! (whiteouts delete what lower layers put there), plus a tiny `/init`
//! shell script, written as a `newc` cpio archive — the format the Linux
//! kernel unpacks into its first root filesystem before it starts PID 1.
//!
//! The archive is uncompressed (the kernel reads it as it is, and software
//! emulation would spend seconds inflating it) and reproducible: entries in
//! sorted order, inode numbers counted from 1, every mtime 0.

use crate::error::IoContext;
use crate::image::apply::{apply_tar, ApplyMode};
use crate::Result;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// Where the init script goes inside the initramfs (`rdinit=` names it).
pub const INIT_PATH: &str = "/glassbox-init";

/// Lines the init prints so the host can tell the command's output from
/// the kernel's: before the command, after it, and the facts it measured.
pub const MARK_READY: &str = "@@glassbox-ready";
/// Printed right before the command runs.
pub const MARK_BEGIN: &str = "@@glassbox-begin";
/// Printed right after the command, with its exit code.
pub const MARK_END: &str = "@@glassbox-end";

/// A `newc` cpio archive being written (`cpio -o -H newc`).
pub struct CpioWriter<W: Write> {
    out: W,
    ino: u32,
    written: u64,
}

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;

impl<W: Write> CpioWriter<W> {
    /// Starts an archive on `out`.
    pub fn new(out: W) -> Self {
        CpioWriter {
            out,
            ino: 0,
            written: 0,
        }
    }

    fn put(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.out.write_all(b)?;
        self.written += b.len() as u64;
        Ok(())
    }

    fn pad(&mut self) -> std::io::Result<()> {
        let n = (4 - (self.written % 4) as usize) % 4;
        self.put(&[0u8; 3][..n])
    }

    /// One entry: header, name, data. `mode` includes the file type bits;
    /// `rdev` is (major, minor) for device nodes.
    #[allow(clippy::too_many_arguments)]
    fn entry(
        &mut self,
        name: &str,
        mode: u32,
        uid: u32,
        gid: u32,
        nlink: u32,
        rdev: (u32, u32),
        data: &[u8],
    ) -> std::io::Result<()> {
        self.ino += 1;
        let ino = if name == "TRAILER!!!" { 0 } else { self.ino };
        let fields = [
            ino,
            mode,
            uid,
            gid,
            nlink,
            0, // mtime: clamped for reproducible archives
            data.len() as u32,
            0,
            0,
            rdev.0,
            rdev.1,
            name.len() as u32 + 1,
            0,
        ];
        let mut header = String::from("070701");
        for f in fields {
            header.push_str(&format!("{f:08x}"));
        }
        self.put(header.as_bytes())?;
        self.put(name.as_bytes())?;
        self.put(&[0])?;
        self.pad()?;
        self.put(data)?;
        self.pad()
    }

    /// A directory.
    pub fn dir(&mut self, name: &str, perm: u32, uid: u32, gid: u32) -> std::io::Result<()> {
        self.entry(name, S_IFDIR | perm, uid, gid, 2, (0, 0), &[])
    }

    /// A regular file.
    pub fn file(
        &mut self,
        name: &str,
        perm: u32,
        uid: u32,
        gid: u32,
        data: &[u8],
    ) -> std::io::Result<()> {
        self.entry(name, S_IFREG | perm, uid, gid, 1, (0, 0), data)
    }

    /// A symbolic link to `target`.
    pub fn symlink(&mut self, name: &str, target: &str, uid: u32, gid: u32) -> std::io::Result<()> {
        self.entry(
            name,
            S_IFLNK | 0o777,
            uid,
            gid,
            1,
            (0, 0),
            target.as_bytes(),
        )
    }

    /// A character device node.
    pub fn chardev(
        &mut self,
        name: &str,
        perm: u32,
        major: u32,
        minor: u32,
    ) -> std::io::Result<()> {
        self.entry(name, S_IFCHR | perm, 0, 0, 1, (major, minor), &[])
    }

    /// Writes the trailer; returns the output and the archive's size.
    pub fn finish(mut self) -> std::io::Result<(W, u64)> {
        self.entry("TRAILER!!!", 0, 0, 0, 1, (0, 0), &[])?;
        // The kernel reads the archive in 512-byte blocks, as cpio(1) pads.
        let n = (512 - (self.written % 512) as usize) % 512;
        self.put(&vec![0u8; n])?;
        self.out.flush()?;
        Ok((self.out, self.written))
    }
}

/// Flattens the image's layer blobs (bottom to top) into `dest`, applying
/// whiteouts. Returns the number of entries written.
pub fn flatten_layers(blobs: &[std::path::PathBuf], dest: &Path) -> Result<u64> {
    let mut n = 0;
    for blob in blobs {
        let f =
            std::fs::File::open(blob).ctx(|| format!("opening layer blob {}", blob.display()))?;
        let stats = apply_tar(flate2::read::GzDecoder::new(f), dest, ApplyMode::Flatten)?;
        n += stats.written;
    }
    Ok(n)
}

/// Writes the tree under `root` (sorted, directories before what they
/// hold) into `cpio`, skipping the paths in `skip` (the extra entries
/// glassbox adds itself). Returns the number of entries.
pub fn write_tree<W: Write>(cpio: &mut CpioWriter<W>, root: &Path, skip: &[&str]) -> Result<u64> {
    fn walk<W: Write>(
        cpio: &mut CpioWriter<W>,
        root: &Path,
        rel: &str,
        skip: &[&str],
        n: &mut u64,
    ) -> Result<()> {
        let dir = if rel.is_empty() {
            root.to_path_buf()
        } else {
            root.join(rel)
        };
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .ctx(|| format!("reading {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        names.sort();
        for name in names {
            let name = name.to_string_lossy().into_owned();
            let path = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            if skip.contains(&path.as_str()) {
                continue;
            }
            let full = root.join(&path);
            let m =
                std::fs::symlink_metadata(&full).ctx(|| format!("reading {}", full.display()))?;
            let perm = m.permissions().mode() & 0o7777;
            let ft = m.file_type();
            let wrote = if ft.is_dir() {
                cpio.dir(&path, perm, m.uid(), m.gid())
                    .ctx(|| "writing the initramfs".into())?;
                *n += 1;
                walk(cpio, root, &path, skip, n)?;
                continue;
            } else if ft.is_symlink() {
                let target =
                    std::fs::read_link(&full).ctx(|| format!("reading {}", full.display()))?;
                cpio.symlink(&path, &target.to_string_lossy(), m.uid(), m.gid())
            } else if ft.is_file() {
                let data = std::fs::read(&full).ctx(|| format!("reading {}", full.display()))?;
                cpio.file(&path, perm, m.uid(), m.gid(), &data)
            } else {
                // Sockets and fifos have no place in a boot archive; layer
                // apply already refuses device nodes.
                continue;
            };
            wrote.ctx(|| "writing the initramfs".into())?;
            *n += 1;
        }
        Ok(())
    }
    let mut n = 0;
    walk(cpio, root, "", skip, &mut n)?;
    Ok(n)
}

/// Quotes `s` for a POSIX shell: `'it'\''s'`.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The init script: mount /proc, /sys and /dev, say what PID 1 is and when
/// it got there, run the command between two marker lines, power off.
pub fn init_script(command: &[String], env: &[String], workdir: Option<&str>) -> String {
    let mut s = String::from(
        "#!/bin/sh\n# glassbox's init for `glassbox compare vm`: the kernel runs this as PID 1.\n",
    );
    s.push_str("export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n");
    for e in env {
        if let Some((k, _)) = e.split_once('=') {
            if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                s.push_str(&format!("export {}\n", shell_quote(e)));
            }
        }
    }
    s.push_str(
        "mount -t proc proc /proc\n\
         mount -t sysfs sysfs /sys\n\
         mount -t devtmpfs devtmpfs /dev 2>/dev/null\n",
    );
    s.push_str(&format!(
        "echo \"{MARK_READY} kernel=$(uname -r) pid1=$(cat /proc/1/comm) uptime=$(cut -d' ' -f1 /proc/uptime) procs=$(ls /proc | grep -c '^[0-9]')\"\n"
    ));
    if let Some(w) = workdir.filter(|w| !w.is_empty()) {
        s.push_str(&format!("cd {} 2>/dev/null\n", shell_quote(w)));
    }
    s.push_str(&format!("echo {MARK_BEGIN}\n"));
    let words: Vec<String> = command.iter().map(|w| shell_quote(w)).collect();
    s.push_str(&words.join(" "));
    s.push_str("\ncode=$?\n");
    s.push_str(&format!(
        "echo \"{MARK_END} code=$code uptime=$(cut -d' ' -f1 /proc/uptime)\"\n"
    ));
    // poweroff -f asks the (emulated) ACPI hardware to switch off; if the
    // image has no poweroff, init exits, the kernel panics and, with
    // panic=-1 and -no-reboot, qemu exits all the same.
    s.push_str("poweroff -f 2>/dev/null\nexit $code\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newc_entries_have_the_fixed_header_and_four_byte_alignment() {
        let mut w = CpioWriter::new(Vec::new());
        w.dir("bin", 0o755, 0, 0).unwrap();
        w.file("bin/hi", 0o755, 0, 0, b"echo hi\n").unwrap();
        w.symlink("sh", "bin/hi", 0, 0).unwrap();
        w.chardev("console", 0o600, 5, 1).unwrap();
        let (bytes, size) = w.finish().unwrap();
        assert_eq!(bytes.len() as u64, size);
        assert_eq!(size % 512, 0);
        assert_eq!(&bytes[..6], b"070701");
        // The first header: ino 1, a directory 0755, name "bin" (4 with NUL).
        let h = std::str::from_utf8(&bytes[6..110]).unwrap();
        assert_eq!(&h[..8], "00000001");
        assert_eq!(&h[8..16], "000041ed");
        assert_eq!(&h[88..96], "00000004");
        // name at 110..114, then padded to 116.
        assert_eq!(&bytes[110..114], b"bin\0");
        let second = 116;
        assert_eq!(&bytes[second..second + 6], b"070701");
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("bin/hi\0"));
        assert!(text.contains("echo hi\n"));
        assert!(text.contains("TRAILER!!!"));
    }

    #[test]
    fn the_init_script_quotes_the_command_and_prints_the_markers() {
        let s = init_script(
            &["sh".into(), "-c".into(), "echo it's".into()],
            &["A=b c".into()],
            Some("/tmp"),
        );
        assert!(s.contains(r"'sh' '-c' 'echo it'\''s'"), "{s}");
        assert!(s.contains("export 'A=b c'"), "{s}");
        assert!(s.contains(MARK_READY) && s.contains(MARK_BEGIN) && s.contains(MARK_END));
    }
}
