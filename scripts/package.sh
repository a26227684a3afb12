#!/usr/bin/env bash
# The Debian package, as root or not: a release build, the generated man
# pages (gzipped) and completions staged under target/package/ with a
# link per tool, then cargo-deb (installed here at a pinned version) packs
# them as Cargo.toml's [package.metadata.deb] says. Prints the .deb's path.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/lib.sh
. scripts/lib.sh
# dpkg-shlibdeps finds the package's dependencies (Depends: $auto).
install_packages dpkg-dev

cargo_deb_version=3.6.4
if ! cargo deb --version 2>/dev/null | grep -q "$cargo_deb_version"; then
  echo "package: installing cargo-deb $cargo_deb_version" >&2
  cargo install --quiet --locked cargo-deb --version "$cargo_deb_version"
fi

cargo build --release --locked -p rtools
stage=target/package
rm -rf "$stage"
mkdir -p "$stage/sbin" "$stage/man" "$stage/bash"
for tool in $(tool_names target/release/rtools); do
  ln -s rtools "$stage/sbin/$tool"
done
for page in man/*.8; do
  gzip -9 -n -c "$page" > "$stage/man/$(basename "$page").gz"
done
# bash-completion loads a command's file by the command's name.
for file in completions/*.bash; do
  cp "$file" "$stage/bash/$(basename "$file" .bash)"
done
cargo deb --no-build --no-strip --quiet --output target/debian/ >&2
ls -t target/debian/rtools_*.deb | head -n 1
