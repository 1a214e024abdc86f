#!/usr/bin/env bash
# The main job, from a fresh Debian machine (as root): installs what glassbox
# needs, builds it, builds the busybox base image from this machine's static
# busybox, and runs the guided first lesson with narration.
# Pass `--step` to pause before every kernel-level step.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --quiet
export PATH="$PWD/target/debug:$PATH"
glassbox --explain brief "$@" lessons run 1
