#!/usr/bin/env bash
# The OCI runtime-tools validation suite against glassbox-runc (and runc,
# to tell the suite's and the host's failures from glassbox's).
#
#   scripts/oci-validation.sh [--build-only] [--runtime NAME_OR_PATH]... [TEST...]
#
# Runtimes: `glassbox-runc` (a symlink to $GLASSBOX, default
# target/debug/glassbox, made in the cache) and `runc` by default.
# TESTs are names of the suite's programs (validation/NAME); default: all.
# Prints one line per test and runtime (pass/FAIL/skip, TAP ok/not ok
# counts), keeps each TAP log in the cache, and writes a summary TSV there.
#
# Exit: 0 if every test passed (or was skipped) with every runtime,
# 1 if any failed, 77 if the suite cannot be had on this host (the reason
# is printed; tests/it/oci_validation.rs skips on 77).
#
# Environment:
#   RUNTIME_TOOLS_SRC     a checkout of opencontainers/runtime-tools (with
#                         validation/ and cmd/runtimetest/); default: the
#                         source Debian's -dev package puts in GOPATH.
#   OCI_VALIDATION_CACHE  where builds, the rootfs and logs go (not
#                         committed); default target/oci-validation.
#   GLASSBOX              the glassbox binary; default target/debug/glassbox.
#   OCI_VALIDATION_TIMEOUT seconds per test program (default 120).
set -uo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cache=${OCI_VALIDATION_CACHE:-$here/target/oci-validation}
glassbox=${GLASSBOX:-$here/target/debug/glassbox}
per_test=${OCI_VALIDATION_TIMEOUT:-120}
build_only=0
runtimes=()
tests=()
while [ $# -gt 0 ]; do
    case "$1" in
    --build-only) build_only=1 ;;
    --runtime) runtimes+=("$2"); shift ;;
    -h | --help) sed -n '2,30p' "$0"; exit 0 ;;
    *) tests+=("$1") ;;
    esac
    shift
done
[ ${#runtimes[@]} -eq 0 ] && runtimes=(glassbox-runc runc)

skip() { echo "oci-validation: SKIPPED: $*" >&2; exit 77; }

# What the suite needs, from Debian (as install-deps.sh installs its own):
#   golang-go                                     the Go toolchain that builds the suite
#   golang-github-opencontainers-runtime-tools-dev the suite's library packages
#       (generate, specerror, validate) and, through its Depends, every Go
#       library they import (runtime-spec, logrus, gocapability, x/sys, ...),
#       so a GOPATH build needs no module proxy
#   golang-github-google-uuid-dev golang-github-mrunalp-fileutils-dev:
#       what validation/util imports besides tap-go (github.com/mndrix/tap-go
#       is not packaged by Debian: a GOPATH build needs it in the checkout;
#       upstream's checkout vendors it, and then vendor/ is used instead)
#   busybox-static                                the rootfs the suite unpacks into each bundle
#   runc                                          the reference runtime the results are compared with
need=()
for p in golang-go golang-github-opencontainers-runtime-tools-dev \
    golang-github-google-uuid-dev golang-github-mrunalp-fileutils-dev busybox-static runc; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        skip "missing Debian packages (${need[*]}) and not root to install them"
    fi
    echo "oci-validation: installing ${need[*]}" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${need[@]}"; } >&2 ||
        skip "apt-get install ${need[*]} failed"
fi
command -v go >/dev/null || skip "no go binary after installing golang-go"

# The suite's source. Debian's -dev package (0.9.0+git20220423) ships only
# the importable library packages: validation/ (the test programs) and
# cmd/runtimetest (the checker run inside each container) are not in it,
# and its source package is not served by this host's Debian mirror.
src=${RUNTIME_TOOLS_SRC:-/usr/share/gocode/src/github.com/opencontainers/runtime-tools}
if [ ! -f "$src/validation/util/test.go" ] || [ ! -d "$src/cmd/runtimetest" ]; then
    skip "no runtime-tools validation programs in $src: Debian's golang-github-opencontainers-runtime-tools-dev ships only the library packages (no validation/, no cmd/runtimetest). Set RUNTIME_TOOLS_SRC to a checkout of opencontainers/runtime-tools."
fi

# Build once per source revision; a second run reuses the binaries.
rev=$(git -C "$src" rev-parse HEAD 2>/dev/null ||
    find "$src/validation" "$src/cmd/runtimetest" -name '*.go' -type f -print0 |
    sort -z | xargs -0 cat | sha256sum | cut -c1-16)
out=$cache/build-$rev
mkdir -p "$out/validation"
build() { # build PKG_DIR OUTPUT
    [ -x "$2" ] && return 0
    if [ -d "$src/vendor" ]; then
        (cd "$src" && GOFLAGS=-mod=vendor GO111MODULE=on go build -o "$2" "./$1")
    else
        # GOPATH mode over Debian's gocode: the source is linked in as its import path.
        local gp=$cache/gopath
        mkdir -p "$gp/src/github.com/opencontainers"
        ln -sfn "$src" "$gp/src/github.com/opencontainers/runtime-tools"
        (cd "$gp/src/github.com/opencontainers/runtime-tools" &&
            GOPATH=$gp:/usr/share/gocode GO111MODULE=off GOFLAGS= go build -o "$2" "./$1")
    fi
}
started=$(date +%s)
build cmd/runtimetest "$out/runtimetest" || { echo "oci-validation: building runtimetest failed" >&2; exit 1; }
all=()
for d in "$src"/validation/*/; do
    n=$(basename "$d")
    [ "$n" = util ] && continue
    ls "$d"*.go >/dev/null 2>&1 || continue
    all+=("$n")
done
[ ${#tests[@]} -eq 0 ] && tests=("${all[@]}")
for t in "${tests[@]}"; do
    build "validation/$t" "$out/validation/$t" || { echo "oci-validation: building $t failed" >&2; exit 1; }
done
echo "oci-validation: build ready in $out ($(($(date +%s) - started)) s)" >&2

# The rootfs the suite unpacks into every bundle: rootfs-$GOARCH.tar.gz in
# the working directory, a busybox with its applets linked in /bin (what
# upstream's Makefile downloads), made here from busybox-static.
arch=$(go env GOARCH)
tarball=$out/rootfs-$arch.tar.gz
if [ ! -f "$tarball" ]; then
    r=$(mktemp -d)
    mkdir -p "$r"/{bin,dev,etc,proc,sys,tmp,root}
    cp /bin/busybox "$r/bin/busybox"
    for a in $("$r/bin/busybox" --list); do
        [ -e "$r/bin/$a" ] || ln -s busybox "$r/bin/$a"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$r/etc/passwd"
    printf 'root:x:0:\nnobody:x:65534:\n' >"$r/etc/group"
    tar -czf "$tarball.tmp" -C "$r" . && mv "$tarball.tmp" "$tarball"
    rm -rf "$r"
fi
[ "$build_only" = 1 ] && exit 0

mkdir -p "$cache/bin"
ln -sfn "$glassbox" "$cache/bin/glassbox-runc"
resolve() { # a runtime name to the path the suite execs
    case "$1" in
    glassbox-runc) echo "$cache/bin/glassbox-runc" ;;
    */*) echo "$1" ;;
    *) command -v "$1" ;;
    esac
}

summary=$cache/results.tsv
printf 'test\truntime\tverdict\tok\tnot_ok\tskip\tseconds\n' >"$summary"
failed=0
for t in "${tests[@]}"; do
    for rt in "${runtimes[@]}"; do
        path=$(resolve "$rt") || { echo "oci-validation: no runtime $rt" >&2; exit 1; }
        log=$cache/logs/$rt/$t.tap
        mkdir -p "$(dirname "$log")"
        t0=$(date +%s)
        # The suite reads runtimetest and the rootfs from its working directory.
        (cd "$out" && RUNTIME=$path timeout "$per_test" "./validation/$t" >"$log" 2>&1 </dev/null)
        rc=$?
        secs=$(($(date +%s) - t0))
        ok=$(grep -c '^ok' "$log")
        bad=$(grep -c '^not ok' "$log")
        skipped=$(grep -ci '^ok.*# skip' "$log")
        if [ "$rc" = 0 ] && [ "$bad" = 0 ] && [ "$ok" -gt 0 ] && [ "$ok" = "$skipped" ]; then
            verdict=skip
        elif [ "$rc" = 0 ] && [ "$bad" = 0 ] && [ "$ok" -gt 0 ]; then
            verdict=pass
        else
            verdict=FAIL
            [ "$rc" = 124 ] && verdict=TIMEOUT
            failed=1
        fi
        printf '%-40s %-14s %-7s ok=%-3s not_ok=%-3s skip=%-3s %3ss\n' "$t" "$rt" "$verdict" "$ok" "$bad" "$skipped" "$secs"
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$rt" "$verdict" "$ok" "$bad" "$skipped" "$secs" >>"$summary"
    done
done
echo "oci-validation: logs in $cache/logs, summary in $summary" >&2
exit $failed
