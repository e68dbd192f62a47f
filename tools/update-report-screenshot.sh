#!/usr/bin/env bash
# Regenerates tools/readme/report.png, the README's screenshot of `moesim report` (README "Reports"):
# a report of two shipped scenarios (the serving comparison, cut to 4 simulated seconds as its
# golden is, and the capacity sweep) rendered by headless Chromium (tools/setup.sh installs it).
#   tools/update-report-screenshot.sh [BUILD_DIR]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$build/moesim" run scenarios/serve-mixtral-h100.yaml --quiet --set workload.serve.duration_s=4 \
  --metrics "$out/serve-mixtral-h100.json"
"$build/moesim" sweep scenarios/sweep-capacity.yaml --quiet --out "$out/sweep-capacity"
(cd "$out" && "$OLDPWD/$build/moesim" report serve-mixtral-h100.json sweep-capacity.json \
  -o report.html)

chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars --no-first-run --disable-dev-shm-usage \
  --user-data-dir="$out/profile" --window-size=1040,1400 --screenshot="$PWD/tools/readme/report.png" \
  "file://$out/report.html" 2>/dev/null
echo "tools/readme/report.png: $(stat -c %s tools/readme/report.png) bytes"
