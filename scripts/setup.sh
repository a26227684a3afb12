#!/usr/bin/env bash
# Fresh Debian 12 machine, as root: install what rtools needs, build its
# Debian package and install it (rtools and the tool links in /usr/sbin,
# man pages, completions; `apt-get remove rtools` takes it all away), then
# run a funccount demo that works on this kernel.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
# What loads the package's bash completions (the package recommends it;
# apt here may not install recommendations).
install_packages bash-completion
deb=$(scripts/package.sh)
# Copies an older setup.sh put in /usr/local/bin would shadow the package.
for tool in rtools $(tool_names target/release/rtools); do
  file="/usr/local/bin/$tool"
  if [ "$tool" = rtools ] && [ -f "$file" ] && ! [ -L "$file" ]; then
    rm -f "$file"
  elif [ -L "$file" ] && [ "$(readlink "$file")" = rtools ]; then
    rm -f "$file"
  fi
done
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --reinstall "./$deb" >/dev/null
echo "Installed $deb: rtools and its tool links in /usr/sbin, 'man funccount', completions." >&2
echo "Demo: syscalls per process for 3 seconds:" >&2
funccount -d 3 -P 't:syscalls:sys_enter_*'
