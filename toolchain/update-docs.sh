#!/usr/bin/env bash
# Regenerates the generated parts of the docs from the code:
#   docs/configuration.md  = `bulkhead config-reference` (the key tables in firmware/config.hpp)
#   docs/budget.md         the table between its budget-reference markers = `bulkhead budget-reference`
#                          (the pool table in firmware/budget.hpp)
# tests/firmware/docs_test.cpp fails until they match. Usage: toolchain/update-docs.sh [path/to/bulkhead]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/release/firmware/bulkhead}
"$bin" config-reference > docs/configuration.md.new
mv docs/configuration.md.new docs/configuration.md
python3 - "$bin" <<'PY'
import subprocess, sys
ref = subprocess.run([sys.argv[1], "budget-reference"], check=True, capture_output=True, text=True).stdout
begin, end = "<!-- budget-reference:begin -->", "<!-- budget-reference:end -->"
text = open("docs/budget.md").read()
a, b = text.index(begin) + len(begin), text.index(end)
open("docs/budget.md", "w").write(text[:a] + "\n" + ref + text[b:])
PY
echo "updated docs/configuration.md and docs/budget.md from $bin"
