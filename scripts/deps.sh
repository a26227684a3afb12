#!/usr/bin/env bash
# Installs what building and running rtools needs on Debian 12, as root.
# Idempotent and quick when everything is already there. The tests need
# more (scripts/test-deps.sh); nothing here touches the kernels the
# machine boots.
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

packages=(
  clang llvm            # compiles the BPF programs
  libelf-dev zlib1g-dev # linked statically into rtools by libbpf-sys
  pkg-config make gcc linux-libc-dev
)
install_packages "${packages[@]}"

# Tracing needs tracefs; a fresh machine may not have it mounted.
if [ ! -e /sys/kernel/tracing/available_events ]; then
  mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || true
fi
