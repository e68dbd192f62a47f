#!/usr/bin/env bash
# Re-runs every validation row (`moesim accuracy`), stores the result as the baseline
# (tests/accuracy/baseline.json) and regenerates the README's Validation table from it. Run it
# after an intended change of a row or of the model; review `git diff` (a row that passed and
# fails now is a regression, not a baseline update).
set -euo pipefail
cd "$(dirname "$0")/.."
exec tools/update-readme.sh --accuracy --build "${1:-build}"
