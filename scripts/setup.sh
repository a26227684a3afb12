#!/usr/bin/env bash
# Fresh Debian 12 machine, as root: install what rtools needs, build it,
# and run a funccount demo that works on this kernel.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
cargo build --release --locked
install -m 0755 target/release/rtools /usr/local/bin/rtools
for tool in funccount stackcount trace funclatency; do
  ln -sf rtools "/usr/local/bin/$tool"
done
echo "Installed /usr/local/bin/rtools and its tool links. Demo: syscalls per process for 3 seconds:" >&2
funccount -d 3 -P 't:syscalls:sys_enter_*'
