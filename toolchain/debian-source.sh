#!/usr/bin/env bash
# Fetches and unpacks Debian's source of a package, at the version of the installed binary
# package, into build/cross-cache/src, with apt's ordinary client and a private list directory
# (the machine's apt configuration is left as it is). Prints the source tree's path.
# Idempotent: an unpacked tree is reused. Usage: toolchain/debian-source.sh SRCPKG BINPKG
set -euo pipefail
src=$1 bin=$2
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="$root/build/cross-cache/src"
version=$(dpkg-query -W -f='${Version}\n' "$bin" 2>/dev/null | head -n1)
[ -n "$version" ] || { echo "debian-source: $bin is not installed" >&2; exit 1; }
upstream=${version#*:}; upstream=${upstream%-*}; upstream=${upstream%+ds*}; upstream=${upstream%+dfsg*}
tree="$cache/$src-$upstream"
if [ -d "$tree" ]; then echo "$tree"; exit 0; fi
apt_dir="$root/build/cross-cache/apt"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/parts" "$cache/dl"
cat > "$apt_dir/parts/debian-src.sources" <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
opts=(-qq -o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$apt_dir/parts"
      -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o "APT::Sandbox::User=root")
[ -n "$(ls "$apt_dir/lists" 2>/dev/null | grep Sources || true)" ] || apt-get "${opts[@]}" update >&2
(cd "$cache/dl" && apt-get "${opts[@]}" source --download-only "$src=$version" >&2)
noepoch=${version#*:}
orig=$(ls "$cache/dl/${src}_${noepoch%-*}".orig.tar.* | head -n1)
mkdir -p "$tree.tmp"
tar -xf "$orig" -C "$tree.tmp" --strip-components=1
mv "$tree.tmp" "$tree"
echo "$tree"
