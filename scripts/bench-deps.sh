#!/usr/bin/env bash
# Installs the peers the runtime benchmark (benches/run_container.rs) compares
# glassbox with: crun and runc run a prepared OCI bundle, podman runs the same
# image (copied in with skopeo); buildah bud is the peer of benches/build.rs.
# Run as root; skips apt when all are there.
set -euo pipefail
PKGS=(crun runc podman skopeo buildah)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi
