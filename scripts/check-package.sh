#!/usr/bin/env bash
# Builds the Debian package and checks it (scripts/test.sh runs this):
# every file where Debian's tools look for it, links to the binary, man
# pages that man reads, completions that bash loads, no maintainer
# scripts; installed into a scratch root, the binary counts a tracepoint
# (as root); removed, nothing of it is left.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/lib.sh
. scripts/lib.sh
deb=$(scripts/package.sh)
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
fail() { echo "check-package: $*" >&2; exit 1; }

dpkg -x "$deb" "$root/x"
mapfile -t tools < <(tool_names "$root/x/usr/sbin/rtools")
((${#tools[@]} > 0)) || fail "rtools --list names no tool"
[ -x "$root/x/usr/sbin/rtools" ] || fail "no /usr/sbin/rtools"
for tool in "${tools[@]}"; do
  [ "$(readlink "$root/x/usr/sbin/$tool")" = rtools ] || fail "/usr/sbin/$tool is not a link to rtools"
  for name in "$tool" ; do
    zcat "$root/x/usr/share/man/man8/$name.8.gz" | grep -q '^\.TH' || fail "no man page $name(8)"
  done
  [ -f "$root/x/usr/share/zsh/vendor-completions/_$tool" ] || fail "no zsh completion for $tool"
  [ -f "$root/x/usr/share/fish/vendor_completions.d/$tool.fish" ] || fail "no fish completion for $tool"
  # bash-completion sources the file named after the command.
  bash -c ". '$root/x/usr/share/bash-completion/completions/$tool' && complete -p $tool" >/dev/null ||
    fail "the bash completion of $tool registers nothing"
done
zcat "$root/x/usr/share/man/man8/rtools.8.gz" | grep -q '^\.TH' || fail "no man page rtools(8)"
[ -s "$root/x/usr/share/doc/rtools/copyright" ] || fail "no copyright file"
# No maintainer scripts: every file the package puts is in its list.
scripts=$(dpkg-deb --ctrl-tarfile "$deb" | tar -t | grep -E '(inst|rm)$' || true)
[ -z "$scripts" ] || fail "maintainer scripts: $scripts"

if [ "$(id -u)" = 0 ]; then
  out=$("$root/x/usr/sbin/funccount" -d 1 t:sched:sched_switch 2>&1) || fail "funccount failed: $out"
  grep -q '^sched:sched_switch ' <<<"$out" || fail "funccount printed no count: $out"
fi

# Installed with dpkg into a scratch root, then removed: nothing is left
# but dpkg's own database.
db="$root/r/var/lib/dpkg"
mkdir -p "$db/info" "$db/updates"
touch "$db/status"
dpkg --root="$root/r" --force-depends --force-not-root --force-script-chrootless -i "$deb" >/dev/null
[ -x "$root/r/usr/sbin/rtools" ] || fail "dpkg --root installed no /usr/sbin/rtools"
dpkg --root="$root/r" --force-not-root --force-script-chrootless -r rtools >/dev/null
left=$(cd "$root/r" && find . -path ./var/lib/dpkg -prune -o ! -type d -print)
[ -z "$left" ] || fail "removing the package left: $left"
echo "check-package: $deb: files, links, man pages, completions, install and removal OK" >&2
