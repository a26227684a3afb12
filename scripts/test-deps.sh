#!/usr/bin/env bash
# What the tests need besides scripts/deps.sh, as root: qemu and busybox
# for the kernel-function tests, bpftool for the leak tests, cargo-mutants
# for `cargo xtask mutants`, and Debian's 6.1 and 6.12 kernels for the
# guests, unpacked into a cache (never installed: the machine's own boot
# setup is left alone). Debian's prometheus brings the server and promtool
# the exporter tests run by hand on loopback (its service is not started);
# python3's USDT probes are what rtools --check tries where libc has none;
# libc6-dbg names libc's internal functions in the DWARF-unwound stacks
# the stackcount tests check (fopen's __fopen_internal above malloc).
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/lib.sh
. scripts/lib.sh

scripts/deps.sh
install_packages qemu-system-x86 busybox-static xz-utils binutils bpftool prometheus python3 libc6-dbg

# Mutation testing, at the version the score was measured with.
mutants_version=27.1.0
if ! cargo mutants --version 2>/dev/null | grep -qx "cargo-mutants $mutants_version"; then
  echo "test-deps: installing cargo-mutants $mutants_version" >&2
  cargo install --quiet --locked cargo-mutants --version "$mutants_version"
fi

cache=${RTOOLS_VM_KERNELS:-/var/cache/rtools/vm-kernels}
mkdir -p "$cache"
# linux-image-amd64 is Debian 12's 6.1; linux-image-6.12-amd64 the 6.12
# from the point releases. Each names the versioned package it stands for.
for meta in linux-image-amd64 linux-image-6.12-amd64; do
  pkg=$(apt-cache depends "$meta" 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}')
  if [ -z "$pkg" ]; then
    apt-get update -qq
    pkg=$(apt-cache depends "$meta" | awk '/Depends: linux-image-/ {print $2; exit}')
  fi
  [ -e "$cache/$pkg/.unpacked" ] && continue
  echo "test-deps: unpacking $pkg into $cache" >&2
  work=$(mktemp -d)
  chown _apt "$work" 2>/dev/null || true # apt downloads as _apt
  (cd "$work" && apt-get download -qq "$pkg" >/dev/null)
  rm -rf "${cache:?}/$pkg"
  dpkg-deb -x "$work"/*.deb "$cache/$pkg"
  rm -rf "$work"
  touch "$cache/$pkg/.unpacked"
done
