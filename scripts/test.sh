#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine (as root): installs what
# it needs, checks formatting and lints, then runs every test on the real
# kernel. CI (.ci/run) calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo fmt --check
cargo clippy --all-targets --quiet -- -D warnings
cargo test --all-targets --quiet
