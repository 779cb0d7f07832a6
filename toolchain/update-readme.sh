#!/usr/bin/env bash
# Regenerates README.md's configuration reference (between its begin/end markers) from the key
# table, via `bulkhead config-reference`. Usage: toolchain/update-readme.sh [path/to/bulkhead]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/release/firmware/bulkhead}
python3 - "$bin" <<'PY'
import subprocess, sys
ref = subprocess.run([sys.argv[1], "config-reference"], check=True, capture_output=True, text=True).stdout
body = ref.split("\n", 1)[1].strip("\n")
begin, end = "<!-- config-reference:begin -->", "<!-- config-reference:end -->"
text = open("README.md").read()
a, b = text.index(begin) + len(begin), text.index(end)
open("README.md", "w").write(text[:a] + "\n" + body + "\n" + text[b:])
PY
