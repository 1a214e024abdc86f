//! Turning a RUN container's overlay upper directory into a layer tree.
//!
//! overlayfs records changes in its upper dir in its own way: a deleted
//! file is a character device 0/0 with the deleted name, and a directory
//! that was removed and re-created (so nothing below shows through) carries
//! the xattr `trusted.overlay.opaque=y`. An OCI layer says the same with
//! empty marker files: `.wh.<name>` for a deletion and `.wh..wh..opq` inside
//! an opaque directory. [`convert_upper`] rewrites the upper dir in place
//! (it belongs to the finished container) so packing it gives an OCI layer.

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use crate::error::IoContext;
use crate::Result;

/// What the conversion found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UpperChanges {
    /// Paths (relative) that were added or changed.
    pub changed: Vec<String>,
    /// Paths deleted from a lower layer (now `.wh.` files).
    pub removed: Vec<String>,
    /// Directories made opaque (now holding `.wh..wh..opq`).
    pub opaque: Vec<String>,
}

/// Whether overlayfs marked `path` opaque with the attribute `name`.
fn is_opaque(path: &Path, name: &CString) -> bool {
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    let mut buf = [0u8; 4];
    // SAFETY: both strings are NUL-terminated and live for the call; `buf`
    // is a valid writable buffer of the length passed.
    let n = unsafe {
        libc::lgetxattr(
            c.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    n == 1 && buf[0] == b'y'
}

/// Rewrites overlay whiteouts and opaque markers under `upper` into OCI
/// form, and lists what changed.
pub fn convert_upper(upper: &Path) -> Result<UpperChanges> {
    let mut out = UpperChanges::default();
    // Which attribute marks an opaque directory is asked of the kernel once
    // per layer, not once per directory.
    let opaque = CString::new(crate::kernel::userns::overlay_xattr("opaque"))
        .expect("an attribute name has no NUL");
    convert_dir(upper, upper, &opaque, &mut out)?;
    out.changed.sort();
    out.removed.sort();
    out.opaque.sort();
    Ok(out)
}

fn convert_dir(root: &Path, dir: &Path, opaque: &CString, out: &mut UpperChanges) -> Result<()> {
    let rel_of = |p: &Path| p.strip_prefix(root).unwrap_or(p).display().to_string();
    if dir != root && is_opaque(dir, opaque) {
        let marker = dir.join(".wh..wh..opq");
        fs::write(&marker, b"").ctx(|| format!("writing {}", marker.display()))?;
        out.opaque.push(rel_of(dir));
    }
    let mut entries: Vec<_> = fs::read_dir(dir)
        .ctx(|| format!("reading {}", dir.display()))?
        .collect::<std::io::Result<_>>()
        .ctx(|| format!("reading {}", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        let md = fs::symlink_metadata(&p).ctx(|| format!("reading {}", p.display()))?;
        let name = e.file_name();
        if name.as_bytes().starts_with(b".wh.") {
            continue;
        }
        if md.file_type().is_char_device() && md.rdev() == 0 {
            fs::remove_file(&p).ctx(|| format!("removing whiteout {}", p.display()))?;
            let mut wh = std::ffi::OsString::from(".wh.");
            wh.push(&name);
            let marker = dir.join(wh);
            fs::write(&marker, b"").ctx(|| format!("writing {}", marker.display()))?;
            out.removed.push(rel_of(&p));
            continue;
        }
        out.changed.push(rel_of(&p));
        if md.is_dir() {
            convert_dir(root, &p, opaque, out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_markers_become_oci_whiteouts() {
        if !nix::unistd::geteuid().is_root() {
            return; // mknod of a whiteout and trusted.* xattrs need root
        }
        let d = tempfile::tempdir().unwrap();
        let up = d.path();
        fs::create_dir_all(up.join("etc")).unwrap();
        fs::write(up.join("etc/new.conf"), "x").unwrap();
        nix::sys::stat::mknod(
            &up.join("etc/old.conf"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::empty(),
            0,
        )
        .unwrap();
        fs::create_dir_all(up.join("var/cache")).unwrap();
        let c = CString::new(up.join("var/cache").as_os_str().as_bytes()).unwrap();
        // SAFETY: NUL-terminated strings and a 1-byte value that outlive the call.
        let r = unsafe {
            libc::lsetxattr(
                c.as_ptr(),
                c"trusted.overlay.opaque".as_ptr(),
                b"y".as_ptr().cast(),
                1,
                0,
            )
        };
        let ch = convert_upper(up).unwrap();
        assert_eq!(ch.removed, ["etc/old.conf"]);
        assert!(up.join("etc/.wh.old.conf").is_file());
        assert!(!up.join("etc/old.conf").exists());
        assert!(ch.changed.contains(&"etc/new.conf".to_string()));
        if r == 0 {
            assert_eq!(ch.opaque, ["var/cache"]);
            assert!(up.join("var/cache/.wh..wh..opq").is_file());
        }
    }
}
