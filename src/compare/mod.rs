//! VM vs container, measured live on the same image (`glassbox compare
//! vm`). The command runs twice: in a real glassbox container
//! ([`container`]: clone into namespaces, overlay root, cgroup) and in a
//! real virtual machine ([`vm`]: qemu booting a Linux kernel from /boot
//! with an initramfs made from the same image's layers, [`initramfs`]).
//! Every figure in the [`Comparison`] is measured in this run; [`report`]
//! prints it as a table or JSON and [`chart`] draws it for a projector.
//!
//! The VM half needs qemu and a kernel; without them the container half is
//! still measured and the error names the packages ([`setup`] installs
//! them).

pub mod chart;
pub mod container;
pub mod initramfs;
pub mod report;
pub mod setup;
pub mod vm;

use crate::store::Store;
use crate::trace;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

/// The command run when none is given: the kernel each side runs on.
pub const DEFAULT_COMMAND: [&str; 2] = ["uname", "-r"];

/// What can stop a comparison.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// No qemu in PATH.
    #[error("the VM half needs qemu-system-x86_64, which is not in PATH; install it with `apt-get install qemu-system-x86 linux-image-amd64` (or `glassbox setup --vm`)")]
    NoQemu,
    /// No kernel under /boot.
    #[error("the VM half needs a Linux kernel to boot and none is readable as /boot/vmlinuz-*; install one with `apt-get install linux-image-amd64` (or `glassbox setup --vm`), or give one with --kernel")]
    NoKernel,
    /// `--kernel` names a file that cannot be read.
    #[error("kernel {0} cannot be read: {1}; give the path of a bzImage such as /boot/vmlinuz-6.1.0-56-amd64")]
    BadKernel(String, String),
    /// The image has no shell for the VM's init.
    #[error("image {0} has no /bin/sh; the VM's init is a shell script run by the image's own shell, so compare needs an image with one (busybox has it)")]
    NoShell(String),
    /// The guest printed nothing conclusive in time.
    #[error("the VM did not finish the command within {0} s (qemu was killed); software emulation is slow on a busy host: raise --timeout")]
    Timeout(u64),
    /// qemu ended before the command finished.
    #[error("qemu exited ({status}) before the command finished in the guest: {detail}")]
    QemuFailed {
        /// qemu's exit status.
        status: String,
        /// The tail of qemu's stderr or the console.
        detail: String,
    },
    /// `--accel kvm` asked for and KVM does not work.
    #[error("KVM was asked for (--accel kvm) but {0}; use --accel auto or --accel tcg")]
    NoKvm(String),
    /// An option value that is not understood.
    #[error("{0}")]
    BadOption(String),
    /// `setup --vm` could not install the packages.
    #[error("installing the VM packages failed: {0}; run `apt-get update && apt-get install qemu-system-x86 linux-image-amd64` by hand to see why")]
    Install(String),
}

/// How the VM's CPU is provided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AccelChoice {
    /// Try KVM (with a short deadline), fall back to TCG.
    Auto,
    /// Hardware virtualisation only.
    Kvm,
    /// Software emulation only.
    Tcg,
}

impl AccelChoice {
    /// Parses `auto`, `kvm` or `tcg`.
    pub fn parse(s: &str) -> Result<Self, CompareError> {
        match s {
            "auto" => Ok(AccelChoice::Auto),
            "kvm" => Ok(AccelChoice::Kvm),
            "tcg" => Ok(AccelChoice::Tcg),
            other => Err(CompareError::BadOption(format!(
                "--accel {other:?} is not auto, kvm or tcg"
            ))),
        }
    }
}

/// Options of `glassbox compare vm`.
#[derive(Debug, Clone)]
pub struct Options {
    /// The image reference.
    pub image: String,
    /// The command (empty: [`DEFAULT_COMMAND`]).
    pub command: Vec<String>,
    /// The guest's memory, MiB.
    pub memory_mib: u32,
    /// How long the VM may take, in all.
    pub timeout: Duration,
    /// KVM, TCG or try KVM first.
    pub accel: AccelChoice,
    /// A kernel to boot instead of the newest /boot/vmlinuz-*.
    pub kernel: Option<PathBuf>,
}

/// One image layer, as the container side uses it.
#[derive(Debug, Clone, Serialize)]
pub struct LayerSize {
    /// The layer's digest.
    pub digest: String,
    /// Its compressed size in the store, bytes.
    pub size: u64,
}

/// Every figure of one comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// The image as the user named it.
    pub image: String,
    /// Its id (config digest).
    pub image_id: String,
    /// The command run on both sides.
    pub command: Vec<String>,
    /// `uname -r` of the host.
    pub host_kernel: String,
    /// The container side.
    pub container: container::ContainerSide,
    /// The VM side, when it could be measured.
    pub vm: Option<vm::VmSide>,
    /// Why the VM side is missing.
    pub vm_error: Option<String>,
}

/// The host's kernel release (`uname -r`).
pub fn host_kernel() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Runs the comparison: the container half always, the VM half when qemu
/// and a kernel are there. A missing VM half is reported in
/// [`Comparison::vm_error`] (with the error itself returned beside it) so
/// the caller can still print the container half.
pub fn compare_vm(
    root: &std::path::Path,
    opts: &Options,
) -> crate::Result<(Comparison, Option<crate::Error>)> {
    let _p = trace::phase("compare");
    let command: Vec<String> = if opts.command.is_empty() {
        DEFAULT_COMMAND.iter().map(|s| s.to_string()).collect()
    } else {
        opts.command.clone()
    };
    let store = Store::open(root)?;
    let image = store.resolve(&opts.image)?;
    // Look for the VM's tools first, so a missing qemu is said up front,
    // but measure the container either way.
    let tools = vm::find_tools(opts.kernel.as_deref());
    let container = container::measure(root, &store, &image, &opts.image, &command)?;
    let (vm, vm_error) = match tools {
        Ok(tools) => match vm::measure(&store, &image, &opts.image, &command, &tools, opts) {
            Ok(v) => (Some(v), None),
            // The student quit at a step-through pause: stop here.
            Err(e @ crate::Error::Aborted(_)) => return Err(e),
            Err(e) => (None, Some(e)),
        },
        Err(e) => (None, Some(e)),
    };
    let cmp = Comparison {
        image: opts.image.clone(),
        image_id: image.id.clone(),
        command,
        host_kernel: host_kernel(),
        container,
        vm,
        vm_error: vm_error.as_ref().map(|e| e.to_string()),
    };
    Ok((cmp, vm_error))
}
