#!/usr/bin/env bash
# Installs what building and testing rtools needs on Debian 12, as root.
# Idempotent and quick when everything is already there.
set -euo pipefail

packages=(
  clang llvm            # compiles the BPF programs
  libelf-dev zlib1g-dev # linked statically into rtools by libbpf-sys
  pkg-config make gcc linux-libc-dev
  # The kernel-function tests boot Debian's 6.1 and 6.12 kernels in qemu.
  qemu-system-x86 busybox-static xz-utils binutils
  bpftool               # the leak test lists loaded programs and links
  linux-image-amd64 linux-image-6.12-amd64
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The BPF tests need tracefs; a fresh machine may not have it mounted.
if [ ! -e /sys/kernel/tracing/available_events ]; then
  mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || true
fi
