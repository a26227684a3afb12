# Shared by the scripts: install Debian packages that are missing; the
# tools a binary carries.

# The tools of rtools binary $1, a name a line, from `rtools --list` (a new
# tool needs no script changed).
tool_names() {
  "$1" --list | awk '{ print $1 }'
}

install_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "deps: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# BCC compiles its programs at start-up against kernel headers. Debian has
# none for this machine's kernel; the 6.12 ones, with the arch and common
# trees merged into one (a tree of symlinks), work (shared/PEERS.md).
# Installs BCC and the headers if missing and exports BCC_KERNEL_SOURCE.
bcc_env() {
  if [ ! -e /usr/sbin/funccount-bpfcc ] || ! ls -d /usr/src/linux-headers-6.12*-common >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bpfcc-tools linux-headers-6.12-amd64 >/dev/null || return 1
  fi
  local headers=/var/tmp/rtools-bcc-headers common arch
  common=$(ls -d /usr/src/linux-headers-6.12*-common 2>/dev/null | sort -V | tail -n 1 || true)
  arch=$(ls -d /usr/src/linux-headers-6.12*-amd64 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$common" ] && [ -n "$arch" ] || return 1
  if [ ! -d "$headers" ]; then
    mkdir -p "$headers"
    cp -as "$common/." "$headers/"
    cp -asf "$arch/." "$headers/"
  fi
  export BCC_KERNEL_SOURCE=$headers
}
