#!/usr/bin/env bash
# The whole test suite, as root (what CI runs): formatting, lints,
# generated files, unit tests, the BPF tests on this machine's kernel and
# in the guests, then mutation testing (its caught score must stay >= 95%).
set -euo pipefail
cd "$(dirname "$0")/.."

# What setup.sh installs must leave the machine's kernels alone (the
# guests' kernels are unpacked into a cache by test-deps.sh instead).
kernels() { dpkg-query -W -f='${Package} ${Status}\n' 'linux-image*' 2>/dev/null | grep -w installed || true; }
before=$(kernels)
scripts/deps.sh
if [ "$(kernels)" != "$before" ]; then
  echo "test: scripts/deps.sh changed the installed kernels" >&2
  exit 1
fi
scripts/test-deps.sh
cargo fmt --all --check
cargo clippy --locked --all-targets -- -D warnings
cargo xtask check
# The Debian package: its files, links, man pages and completions, an
# install and removal in a scratch root, the packaged binary counting.
scripts/check-package.sh
cargo test --locked --workspace
# The root suite inside each guest kernel, both at once (a host core
# each; ~14 minutes under software emulation).
cargo test --locked --test tests -- --ignored vm_root_suite::
# After the BPF tests, never beside them: mutants keep both CPUs busy.
# A quarter of the mutants a day (all ~1,500 take ~90 minutes on 2 CPUs,
# past CI's budget; a third took 29); `cargo xtask mutants` alone runs
# every one.
shard=$(( 10#$(date -u +%j) % 4 ))
cargo xtask mutants --shard "$shard/4"
