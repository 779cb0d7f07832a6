#!/usr/bin/env bash
# Builds bulkhead_<version>-1_<arch>.deb from a static bulkhead binary (`make package`).
# Usage: toolchain/package/build_deb.sh ARCH BINARY OUTDIR    (ARCH: arm64 or amd64)
# The package: /usr/bin/bulkhead, /etc/bulkhead/bulkhead.toml (a conffile), the systemd unit,
# a man page, the copyright and changelog, lintian overrides, and maintainer scripts that enable
# and start the unit as dh_installsystemd's would. Reproducible: fixed times, root-owned.
set -euo pipefail
arch=$1 binary=$2 out=$3
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
version=$(sed -n 's/^project(bulkhead VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")
[ -n "$version" ] || { echo "build_deb: no version in CMakeLists.txt" >&2; exit 1; }
debver="$version-1"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || echo 1700000000)}

case "$arch" in
  arm64) machine="ARM aarch64" ;;
  amd64) machine="x86-64" ;;
  *) echo "build_deb: unknown architecture $arch" >&2; exit 2 ;;
esac
file -b "$binary" | grep -q "$machine" || { echo "build_deb: $binary is not an $arch binary" >&2; exit 1; }
file -b "$binary" | grep -q "statically linked" || { echo "build_deb: $binary is not statically linked" >&2; exit 1; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
install -d "$stage/DEBIAN" "$stage/usr/bin" "$stage/etc/bulkhead" "$stage/lib/systemd/system" \
  "$stage/usr/share/doc/bulkhead" "$stage/usr/share/man/man1" "$stage/usr/share/lintian/overrides"
install -m 0755 "$binary" "$stage/usr/bin/bulkhead"
install -m 0644 "$here/bulkhead.toml" "$stage/etc/bulkhead/bulkhead.toml"
install -m 0644 "$here/bulkhead.service" "$stage/lib/systemd/system/bulkhead.service"
install -m 0644 "$here/copyright" "$stage/usr/share/doc/bulkhead/copyright"
install -m 0644 "$here/lintian-overrides" "$stage/usr/share/lintian/overrides/bulkhead"
gzip -9n < "$here/bulkhead.1" > "$stage/usr/share/man/man1/bulkhead.1.gz"
date_rfc=$(date -u -R -d "@$SOURCE_DATE_EPOCH")
cat <<CL | gzip -9n > "$stage/usr/share/doc/bulkhead/changelog.Debian.gz"
bulkhead ($debver) bookworm; urgency=medium

  * Release $version: static build for Debian 12 and Raspberry Pi OS.

 -- bulkhead maintainers <maintainers@bulkhead.invalid>  $date_rfc
CL
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z \
  | xargs -0 md5sum > DEBIAN/md5sums)
for s in postinst prerm postrm; do install -m 0755 "$here/$s" "$stage/DEBIAN/$s"; done
echo "/etc/bulkhead/bulkhead.toml" > "$stage/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat > "$stage/DEBIAN/control" <<CTRL
Package: bulkhead
Version: $debver
Architecture: $arch
Maintainer: bulkhead maintainers <maintainers@bulkhead.invalid>
Installed-Size: $size
Section: net
Priority: optional
Description: firmware-style event runtime with a fixed resource budget
 bulkhead accepts events as newline-delimited JSON over TCP or a Unix
 socket, acknowledges each one once it is durably stored in SQLite, and
 delivers stored events to HTTP(S) sinks. Every resource that can run out
 is a slot in a pool sized at compile time, so it degrades by refusing
 work instead of running out of memory or file descriptors.
 .
 This package runs it as a hardened systemd service (Type=notify with a
 watchdog), with its configuration in /etc/bulkhead/bulkhead.toml.
CTRL
find "$stage" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
mkdir -p "$out"
deb="$out/bulkhead_${debver}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
