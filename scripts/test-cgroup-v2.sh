#!/usr/bin/env bash
# glassbox on a cgroup-v2-only machine, proven in a VM (about a minute with
# software emulation on 2 cores): boots Debian's kernel with cgroup_no_v1=all
# from an initramfs holding the glassbox binary, and checks lesson 1, the
# memory, pids and cpu limits, pause/unpause, exec and rm there, as root and
# rootless (a student in a delegated cgroup subtree)
# (tests/it/cgroup_v2.rs, tests/vm/cgroup-v2-init.sh). Needs root, qemu and a
# kernel in /boot (scripts/install-deps.sh). Fails when any check fails.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in qemu-system-x86_64 strip ldd; do
    if ! command -v "$tool" >/dev/null; then
        echo "$tool is missing: run scripts/install-deps.sh (as root)" >&2
        exit 1
    fi
done
cargo test --quiet --test it cgroup_v2:: -- --ignored --nocapture
