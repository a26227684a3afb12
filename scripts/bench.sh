#!/usr/bin/env bash
# Benchmarks, as root: rtools against the floor (an empty BPF program on
# the same probe), bpftrace and BCC, interleaved over rounds (default 5).
# Arguments go to `cargo xtask bench` (--rounds N, --scenario NAME).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/test-deps.sh
export DEBIAN_FRONTEND=noninteractive
command -v bpftrace >/dev/null || apt-get install -y -qq bpftrace >/dev/null

# BCC compiles its programs at start-up against kernel headers. Debian has
# none for this machine's kernel; the 6.12 ones, with the arch and common
# trees merged into one (a tree of symlinks), work (shared/PEERS.md).
if [ ! -e /usr/sbin/funccount-bpfcc ] || ! ls -d /usr/src/linux-headers-6.12*-common >/dev/null 2>&1; then
  apt-get install -y -qq bpfcc-tools linux-headers-6.12-amd64 >/dev/null || echo "bench: BCC could not be installed" >&2
fi
headers=/var/tmp/rtools-bcc-headers
common=$(ls -d /usr/src/linux-headers-6.12*-common 2>/dev/null | sort -V | tail -n 1 || true)
arch=$(ls -d /usr/src/linux-headers-6.12*-amd64 2>/dev/null | sort -V | tail -n 1 || true)
if [ -n "$common" ] && [ -n "$arch" ]; then
  if [ ! -d "$headers" ]; then
    mkdir -p "$headers"
    cp -as "$common/." "$headers/"
    cp -asf "$arch/." "$headers/"
  fi
  export BCC_KERNEL_SOURCE=$headers
fi
cargo xtask bench "$@"
