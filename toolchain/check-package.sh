#!/usr/bin/env bash
# Checks the .deb files `make package` built (CTest: device.package). Usage: check-package.sh DIR
# For each bulkhead_*.deb in DIR: the control fields (dpkg-deb --info), the file list with owners
# and modes (dpkg-deb --contents), the systemd unit's promises (Type=notify, WatchdogSec under the
# Pi's ~16 s, Restart=on-failure with a start limit above 3, LimitNOFILE equal to the budget's FD
# ceiling, StateDirectory, hardening) and `systemd-analyze verify`, that the packaged binary is a
# static binary of the right architecture that accepts the packaged config, and lintian with no
# error or warning. Exits 77 (skipped) when DIR holds no package.
set -uo pipefail
dir=${1:?usage: check-package.sh DIR}
root="$(cd "$(dirname "$0")/.." && pwd)"
shopt -s nullglob
debs=("$dir"/bulkhead_*.deb)
[ ${#debs[@]} -gt 0 ] || { echo "check-package: no package in $dir (make package): skipped"; exit 77; }
fails=0 checks=0
ok() { checks=$((checks + 1)); }
bad() { checks=$((checks + 1)); fails=$((fails + 1)); echo "FAIL: $*"; }
expect() { # expect DESCRIPTION COMMAND...
  local what=$1; shift
  if "$@" >/dev/null 2>&1; then ok; else bad "$what"; fi
}
ceiling=$(sed -n 's/.*kFdCeiling = \([0-9]*\);.*/\1/p' "$root/firmware/budget.hpp")
version=$(sed -n 's/^project(bulkhead VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")

for deb in "${debs[@]}"; do
  echo "== $(basename "$deb")"
  info=$(dpkg-deb --info "$deb")
  arch=$(dpkg-deb --field "$deb" Architecture)
  expect "Package is bulkhead" test "$(dpkg-deb --field "$deb" Package)" = bulkhead
  expect "Version is $version-1" test "$(dpkg-deb --field "$deb" Version)" = "$version-1"
  expect "Architecture arm64 or amd64" grep -qxE 'arm64|amd64' <<<"$arch"
  expect "file name matches the architecture" grep -q "_${arch}\.deb$" <<<"$deb"
  for f in Maintainer Installed-Size Section Priority Description; do
    expect "control field $f" test -n "$(dpkg-deb --field "$deb" $f)"
  done
  expect "no Depends (static binary)" test -z "$(dpkg-deb --field "$deb" Depends)"
  for s in postinst prerm postrm conffiles md5sums; do expect "control member $s" grep -q " $s" <<<"$info"; done

  contents=$(dpkg-deb --contents "$deb")
  while read -r mode path; do
    line=$(grep -E " \./${path#/}$" <<<"$contents")
    if [ -z "$line" ]; then bad "missing $path"; continue; fi
    expect "$path is $mode root/root" grep -qE "^$mode root/root " <<<"$line"
  done <<'LIST'
-rwxr-xr-x /usr/bin/bulkhead
-rw-r--r-- /etc/bulkhead/bulkhead.toml
-rw-r--r-- /lib/systemd/system/bulkhead.service
-rw-r--r-- /usr/share/man/man1/bulkhead.1.gz
-rw-r--r-- /usr/share/doc/bulkhead/copyright
-rw-r--r-- /usr/share/doc/bulkhead/changelog.Debian.gz
-rw-r--r-- /usr/share/lintian/overrides/bulkhead
LIST
  expect "nothing owned by a build user" test -z "$(grep -v ' root/root ' <<<"$contents")"

  tmp=$(mktemp -d)
  dpkg-deb -x "$deb" "$tmp"
  dpkg-deb -e "$deb" "$tmp/DEBIAN"
  expect "conffiles lists the config" grep -qx /etc/bulkhead/bulkhead.toml "$tmp/DEBIAN/conffiles"
  unit="$tmp/lib/systemd/system/bulkhead.service"
  key() { sed -n "s/^$1=//p" "$unit" | tail -n1; }
  expect "Type=notify" test "$(key Type)" = notify
  wd=$(key WatchdogSec); wd=${wd%s}
  expect "WatchdogSec ($wd s) under the Pi's ~16 s" test "${wd:-99}" -lt 16
  expect "Restart=on-failure" test "$(key Restart)" = on-failure
  expect "StartLimitBurst above 3" test "$(key StartLimitBurst)" -gt 3
  expect "LimitNOFILE equals kFdCeiling ($ceiling)" test "$(key LimitNOFILE)" = "$ceiling"
  expect "StateDirectory=bulkhead" test "$(key StateDirectory)" = bulkhead
  for h in ProtectSystem=strict NoNewPrivileges=yes DynamicUser=yes PrivateTmp=yes ProtectHome=yes; do
    expect "$h" grep -qx "$h" "$unit"
  done
  expect "ExecStart uses the packaged config" grep -q '^ExecStart=/usr/bin/bulkhead run --config /etc/bulkhead/bulkhead.toml$' "$unit"
  if command -v systemd-analyze >/dev/null; then
    # The unit as installed, with its binary where dpkg-deb -x put it (verify checks ExecStart).
    sed "s#/usr/bin/bulkhead#$tmp/usr/bin/bulkhead#g" "$unit" > "$tmp/bulkhead.service"
    out=$(systemd-analyze verify --man=no "$tmp/bulkhead.service" 2>&1) && [ -z "$out" ] \
      && ok || bad "systemd-analyze verify: $out"
  fi

  bin="$tmp/usr/bin/bulkhead"
  case "$arch" in arm64) want="ARM aarch64"; run=(qemu-aarch64-static "$bin") ;; *) want="x86-64"; run=("$bin") ;; esac
  expect "binary is $want" grep -q "$want" <<<"$(file -b "$bin")"
  expect "binary is static" grep -q "statically linked" <<<"$(file -b "$bin")"
  expect "binary is stripped" grep -q ", stripped" <<<"$(file -b "$bin")"
  # Packages are built with BH_TEST_HOOKS=OFF (toolchain/device.mk): the hooks' environment
  # variables are not even named inside.
  expect "binary has no test hooks" bash -c '! grep -qaE "BH_TEST_(WATCHDOG|FAULTS)" "$1"' _ "$bin"
  if command -v "${run[0]}" >/dev/null || [ -x "${run[0]}" ]; then
    expect "binary reports version $version" grep -qx "bulkhead $version" <<<"$("${run[@]}" version 2>&1)"
    expect "packaged config is valid" "${run[@]}" check-config "$tmp/etc/bulkhead/bulkhead.toml"
  fi
  rm -rf "$tmp"

  if command -v lintian >/dev/null; then
    lt=$(lintian --fail-on error,warning --display-info --tag-display-limit 0 "$deb" 2>&1)
    status=$?
    lt=$(grep -v '^running with root' <<<"$lt" || true)
    if [ "$status" -eq 0 ]; then ok; else bad "lintian: $lt"; fi
    [ -z "$lt" ] || { echo "lintian (info, not failing):"; echo "$lt" | head -n 20; }
  fi
done
echo "check-package: $((checks - fails)) of $checks checks passed"
[ "$fails" -eq 0 ]
