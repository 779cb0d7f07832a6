#!/usr/bin/env bash
# Installs the Debian packages bulkhead needs to build and test, if any is missing.
# Idempotent and quiet when everything is present. Usage: toolchain/deps.sh [extra-package...]
set -euo pipefail
pkgs=(cmake make g++ pkg-config libasio-dev libsqlite3-dev sqlite3 libmbedtls-dev libtomlplusplus-dev
      libsimdjson-dev libfmt-dev libgtest-dev libgmock-dev libbenchmark-dev python3 python3-websockets prometheus ccache faketime
      chromium mosquitto mosquitto-clients "$@")  # test-only: chromium (the status page's browser test), mosquitto (the MQTT tests' broker and reference client)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}"
sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
