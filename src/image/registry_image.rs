//! The fixture image `registry:2`: glassbox's own registry server as a
//! container, built from the host's files like the busybox base.
//!
//! The image holds the running glassbox binary at `/bin/glassbox` and the
//! shared libraries it needs, found the way the dynamic loader finds them:
//! the ELF's `PT_INTERP` names the loader, each `DT_NEEDED` entry of the
//! `.dynamic` section names a library, resolved in the loader's default
//! directories, recursively. Each is copied to the path the loader will
//! look at. Its entrypoint is `glassbox --trace narrate registry serve`
//! (so `glassbox logs registry` shows every request explained) and its
//! command `--addr 0.0.0.0:5000 --storage /var/lib/registry`, which
//! arguments after the image name replace, as with any image.
//! Reproducible: the same binary and libraries give the same digest.

use crate::error::IoContext;
use crate::image::pack::{source_date_epoch, PackOptions};
use crate::reference::Reference;
use crate::store::{Image, Store};
use crate::trace::{self, Kind};
use crate::Result;
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The tag the image gets.
pub const TAG: &str = "registry:2";
/// Where the registry keeps its data inside the container.
pub const STORAGE: &str = "/var/lib/registry";

/// Where the loader looks for libraries when no cache or RUNPATH says
/// otherwise (Debian's multiarch directories first).
const LIB_DIRS: [&str; 6] = [
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib/aarch64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/lib",
    "/usr/lib",
];

/// What a dynamically linked ELF file asks of the loader.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Dynamic {
    /// `PT_INTERP`: the loader's path (none for a static binary).
    pub interp: Option<String>,
    /// `DT_NEEDED`: library file names, in order.
    pub needed: Vec<String>,
}

fn u16_at(b: &[u8], o: usize) -> Option<u64> {
    Some(u16::from_le_bytes(b.get(o..o + 2)?.try_into().ok()?) as u64)
}
fn u32_at(b: &[u8], o: usize) -> Option<u64> {
    Some(u32::from_le_bytes(b.get(o..o + 4)?.try_into().ok()?) as u64)
}
fn u64_at(b: &[u8], o: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(o..o + 8)?.try_into().ok()?))
}

/// Reads `PT_INTERP` and `DT_NEEDED` from a 64-bit little-endian ELF file.
/// `None` when the bytes are not such a file (or are cut short).
pub fn read_dynamic(b: &[u8]) -> Option<Dynamic> {
    if b.get(..4)? != b"\x7fELF" || b[4] != 2 || b[5] != 1 {
        return None;
    }
    let phoff = u64_at(b, 32)? as usize;
    let (phentsize, phnum) = (u16_at(b, 54)? as usize, u16_at(b, 56)? as usize);
    const PT_LOAD: u64 = 1;
    const PT_DYNAMIC: u64 = 2;
    const PT_INTERP: u64 = 3;
    let mut loads = Vec::new(); // (vaddr, offset, filesz)
    let mut dynamic = None; // (offset, filesz)
    let mut out = Dynamic::default();
    for i in 0..phnum {
        let o = phoff + i * phentsize;
        let (ty, off, vaddr, filesz) = (
            u32_at(b, o)?,
            u64_at(b, o + 8)?,
            u64_at(b, o + 16)?,
            u64_at(b, o + 32)?,
        );
        match ty {
            PT_LOAD => loads.push((vaddr, off, filesz)),
            PT_DYNAMIC => dynamic = Some((off as usize, filesz as usize)),
            PT_INTERP => {
                let s = b.get(off as usize..(off + filesz) as usize)?;
                out.interp =
                    Some(String::from_utf8_lossy(s.split(|&c| c == 0).next()?).into_owned());
            }
            _ => {}
        }
    }
    let Some((doff, dsize)) = dynamic else {
        return Some(out);
    };
    // Dynamic entries are (tag, value) pairs of u64; strings live in the
    // table DT_STRTAB points at, given as a virtual address.
    const DT_NEEDED: u64 = 1;
    const DT_STRTAB: u64 = 5;
    let mut strtab = None;
    let mut needed_offsets = Vec::new();
    for e in (doff..doff + dsize).step_by(16) {
        let (tag, val) = (u64_at(b, e)?, u64_at(b, e + 8)?);
        match tag {
            0 => break,
            DT_NEEDED => needed_offsets.push(val as usize),
            DT_STRTAB => strtab = Some(val),
            _ => {}
        }
    }
    if needed_offsets.is_empty() {
        return Some(out);
    }
    let strtab = strtab?;
    let (vaddr, off, _) = loads
        .iter()
        .find(|(v, _, sz)| strtab >= *v && strtab < v + sz)?;
    let base = (strtab - vaddr + off) as usize;
    for n in needed_offsets {
        let s = b.get(base + n..)?;
        out.needed
            .push(String::from_utf8_lossy(s.split(|&c| c == 0).next()?).into_owned());
    }
    Some(out)
}

/// The files a binary needs to run: its loader and every library it and
/// they need, as (path the loader opens, host file to copy), sorted.
pub fn runtime_files(binary: &Path) -> Result<Vec<PathBuf>> {
    let mut files = BTreeSet::new();
    let mut todo = vec![binary.to_path_buf()];
    let mut seen = BTreeSet::new();
    while let Some(p) = todo.pop() {
        if !seen.insert(p.clone()) {
            continue;
        }
        let bytes = fs::read(&p).ctx(|| format!("reading {}", p.display()))?;
        let dynamic = read_dynamic(&bytes).ok_or_else(|| {
            crate::Error::Usage(format!(
                "{} is not a 64-bit little-endian ELF file",
                p.display()
            ))
        })?;
        if let Some(i) = dynamic.interp {
            files.insert(PathBuf::from(&i));
            todo.push(PathBuf::from(i));
        }
        for lib in dynamic.needed {
            let found = LIB_DIRS
                .iter()
                .map(|d| Path::new(d).join(&lib))
                .find(|c| c.exists())
                .ok_or_else(|| {
                    crate::Error::Usage(format!(
                        "{} needs {lib}, which is in none of {}",
                        p.display(),
                        LIB_DIRS.join(", ")
                    ))
                })?;
            files.insert(found.clone());
            todo.push(found);
        }
    }
    Ok(files.into_iter().collect())
}

/// Builds `registry:2` in `store` from the running glassbox binary.
pub fn setup(store: &Store) -> Result<Image> {
    let _p = trace::phase("setup");
    let exe = std::env::current_exe().ctx(|| "finding the glassbox binary".into())?;
    let tree = store.tempdir()?;
    let root = tree.path();
    let mut s = trace::step(Kind::Image, "rootfs", "registry rootfs".to_string())
        .field("binary", exe.display().to_string())
        .equivalent("ldd glassbox; cp glassbox and each library it lists into the tree")
        .announce()?;
    let r = build_tree(root, &exe);
    if let Ok(libs) = &r {
        s.field("libraries", libs);
    }
    s.finish_with(r)?;
    let d = store.layer_from_dir(root, PackOptions::default())?;
    let created = chrono::DateTime::from_timestamp(source_date_epoch() as i64, 0)
        .expect("a valid epoch")
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let config: oci_spec::image::ImageConfiguration = serde_json::from_value(serde_json::json!({
        "created": created,
        "architecture": oci_spec::image::Arch::default().to_string(),
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Entrypoint": ["/bin/glassbox", "--trace", "narrate", "--no-color", "registry", "serve"],
            "Cmd": ["--addr", "0.0.0.0:5000", "--storage", STORAGE],
            "ExposedPorts": {"5000/tcp": {}},
            "WorkingDir": "/"
        },
        "rootfs": {"type": "layers", "diff_ids": [d.diff_id]},
        "history": [{"created": created, "created_by": "glassbox setup --registry: the glassbox binary and the libraries it needs"}]
    }))
    .map_err(|e| crate::Error::Usage(format!("building the registry config: {e}")))?;
    let tag = Reference::parse(TAG)?;
    store.commit_image(&config, &[(d.digest, d.size)], Some(&tag))
}

/// Fills `root`; returns the library paths copied in.
fn build_tree(root: &Path, exe: &Path) -> Result<Vec<String>> {
    let mk = |p: &str, mode: u32| -> Result<()> {
        let d = root.join(p);
        fs::create_dir_all(&d).ctx(|| format!("creating {}", d.display()))?;
        fs::set_permissions(&d, fs::Permissions::from_mode(mode))
            .ctx(|| format!("chmod {}", d.display()))
    };
    for d in ["bin", "etc", "proc", "sys", "dev", "var/lib/registry"] {
        mk(d, 0o755)?;
    }
    mk("tmp", 0o1777)?;
    let copy = |from: &Path, to: &str, mode: u32| -> Result<()> {
        let dest = root.join(to.trim_start_matches('/'));
        if let Some(p) = dest.parent() {
            fs::create_dir_all(p).ctx(|| format!("creating {}", p.display()))?;
        }
        // fs::copy follows symlinks: the loader opens this path, so the
        // file's contents go here whatever links led to them on the host.
        fs::copy(from, &dest).ctx(|| format!("copying {} into the image", from.display()))?;
        fs::set_permissions(&dest, fs::Permissions::from_mode(mode))
            .ctx(|| format!("chmod {}", dest.display()))
    };
    copy(exe, "bin/glassbox", 0o755)?;
    let libs = runtime_files(exe)?;
    for l in &libs {
        copy(l, &l.to_string_lossy(), 0o755)?;
    }
    fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/glassbox\n",
    )
    .ctx(|| "writing etc/passwd".into())?;
    fs::write(root.join("etc/group"), "root:x:0:\n").ctx(|| "writing etc/group".into())?;
    Ok(libs.iter().map(|l| l.display().to_string()).collect())
}

/// Resolves `reference` for `run`/`create`; when it names `registry:2` and
/// the store lacks it, builds it first, as docker would pull a missing
/// image — so `glassbox run … registry:2` works after a plain `setup`.
pub fn resolve_building_fixture(store: &Store, reference: &str) -> Result<Image> {
    match store.resolve(reference) {
        Err(crate::Error::MissingImage(_)) if names_fixture(reference) => {
            trace::fact(Kind::Image, "fixture", TAG)
                .field("reason", "not in the store yet")
                .equivalent("glassbox setup --registry")
                .info();
            setup(store)
        }
        r => r,
    }
}

fn names_fixture(reference: &str) -> bool {
    Reference::parse(reference)
        .ok()
        .and_then(|r| r.name_tag())
        .is_some_and(|t| t == TAG || t == format!("docker.io/library/{TAG}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_running_binary_needs_libc_through_its_loader() {
        let exe = std::env::current_exe().unwrap();
        let d = read_dynamic(&fs::read(&exe).unwrap()).expect("an ELF file");
        assert!(
            d.interp.as_deref().is_some_and(|i| i.contains("ld-linux")),
            "{d:?}"
        );
        assert!(d.needed.iter().any(|n| n.starts_with("libc.so")), "{d:?}");
        let files = runtime_files(&exe).unwrap();
        assert!(files.iter().any(|f| f.ends_with("libc.so.6")), "{files:?}");
        assert!(read_dynamic(b"not an elf").is_none());
        // The static busybox asks for nothing.
        if let Ok(bb) = fs::read("/bin/busybox") {
            if crate::image::busybox::is_static_elf(&bb) {
                assert_eq!(read_dynamic(&bb), Some(Dynamic::default()));
            }
        }
    }
}
