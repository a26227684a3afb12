#!/usr/bin/env bash
# The whole test suite, as root (what CI runs): formatting, lints,
# generated files, unit tests and the BPF tests on this machine's kernel.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
cargo fmt --all --check
cargo clippy --locked --all-targets -- -D warnings
cargo xtask check
cargo test --locked --workspace
