#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine (as root): installs what
# it needs, checks formatting and lints, runs every test on the real kernel,
# and builds the book. CI (.ci/run) calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
if ! command -v mdbook >/dev/null; then
    echo "installing mdbook (about 3 minutes, once per machine)" >&2
    cargo install mdbook --locked --quiet
fi
cargo fmt --check
cargo clippy --all-targets --quiet -- -D warnings
cargo test --quiet
mdbook build book
scripts/test-cgroup-v2.sh
