#!/usr/bin/env bash
# Installs the Debian packages glassbox and its tests need (run as root).
# Skips apt entirely when everything is already there.
set -euo pipefail
# qemu-system-x86 and linux-image-amd64: the VM half of `glassbox compare vm`
# (about a minute to install; the kernel lands in /boot/vmlinuz-*); they also
# boot the cgroup-v2-only VM of scripts/test-cgroup-v2.sh, whose initramfs
# takes the debug binary through strip (binutils).
# docker-registry (distribution 2.8) and apache2-utils (htpasswd): the
# reference registry the registry client is tested against.
# docker-compose (1.29) and python3-docker (docker-py): clients the daemon
# (the Docker Engine API) is tested with, and docker.io for its 20.10 CLI
# (dockerd is never started by the suite). binutils: strip, for the cgroup-v2
# VM's boot image. podman (4.3, with conmon): glassbox-runc is tested as
# its --runtime. containerd (1.6, with ctr and containerd-shim-runc-v2):
# glassbox-runc is tested as its --runc-binary (the test starts its own
# containerd with its own root, state and socket). uidmap (newuidmap and
# newgidmap), slirp4netns and fuse-overlayfs: rootless mode's id maps, its
# containers' way off the machine, and its overlay where the kernel refuses
# one in a user namespace (before Linux 5.11).
PKGS=(busybox-static binutils skopeo umoci podman jq tmux iproute2 qemu-system-x86 linux-image-amd64 nftables docker-registry apache2-utils docker-compose python3-docker docker.io containerd uidmap slirp4netns fuse-overlayfs)
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
# compare vm boots the kernel file itself: it must be there and readable.
if ! ls /boot/vmlinuz-* >/dev/null 2>&1; then
    echo "no kernel in /boot after installing linux-image-amd64" >&2
    exit 1
fi
readable=no
for k in /boot/vmlinuz-*; do
    [[ -r $k ]] && readable=yes
done
if [[ $readable == no ]]; then
    echo "the kernels in /boot are not readable by $(id -un); run the tests as root" >&2
    exit 1
fi
