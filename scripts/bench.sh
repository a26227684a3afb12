#!/usr/bin/env bash
# Benchmarks, as root: rtools against the floor (an empty BPF program on
# the same probe), bpftrace and BCC, interleaved over rounds (default 5).
# Arguments go to `cargo xtask bench` (--rounds N, --scenario NAME).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/test-deps.sh
export DEBIAN_FRONTEND=noninteractive
command -v bpftrace >/dev/null || apt-get install -y -qq bpftrace >/dev/null
# perf record --call-graph dwarf, beside stackcount --user-stacks dwarf.
command -v perf >/dev/null || apt-get install -y -qq linux-perf >/dev/null

. scripts/lib.sh
bcc_env || echo "bench: BCC could not be installed" >&2
cargo xtask bench "$@"
