#!/usr/bin/env bash
# Benchmarks, as root: rtools against bpftrace and the floor (an empty
# BPF program on the same probe), interleaved over rounds (default 5).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
if ! command -v bpftrace >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bpftrace >/dev/null
fi
cargo xtask bench "$@"
