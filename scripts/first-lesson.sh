#!/usr/bin/env bash
# The main job, from a fresh Debian machine: installs what glassbox needs
# (as root), builds it, builds the busybox base image from this machine's
# static busybox, and runs the guided first lesson with narration.
# Without root it runs rootless (see README, "Without root"): it installs
# nothing, and says which packages an administrator must install.
# Pass `--step` to pause before every kernel-level step.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $(id -u) == 0 ]]; then
    scripts/install-deps.sh
else
    missing=()
    for p in busybox-static uidmap; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if ((${#missing[@]})); then
        echo "rootless glassbox needs packages only an administrator can install:" >&2
        echo "    sudo apt-get install ${missing[*]}" >&2
        exit 1
    fi
    # Optional: without slirp4netns containers have no way off the machine
    # (the lessons still run); fuse-overlayfs only matters before Linux 5.11.
    for p in slirp4netns fuse-overlayfs; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            echo "note: $p is not installed (see README, \"Without root\"); an administrator adds it with: sudo apt-get install $p" >&2
    done
    me=$(id -un)
    if ! grep -qE "^($me|$(id -u)):" /etc/subuid || ! grep -qE "^($me|$(id -g)):" /etc/subgid; then
        echo "user $me has no subordinate id range; an administrator adds one with:" >&2
        echo "    sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 $me" >&2
        exit 1
    fi
fi
if ! command -v cargo >/dev/null; then
    echo "cargo is not on PATH: glassbox is built from source; install Rust (https://rustup.rs, no root needed)" >&2
    exit 1
fi
cargo build --quiet
export PATH="$PWD/target/debug:$PATH"
glassbox --explain brief "$@" lessons run 1
