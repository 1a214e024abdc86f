#!/usr/bin/env bash
# Installs the Debian packages glassbox and its tests need (run as root).
# Skips apt entirely when everything is already there.
set -euo pipefail
PKGS=(busybox-static skopeo umoci jq tmux docker-registry apache2-utils)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
