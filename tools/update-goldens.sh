#!/usr/bin/env bash
# Rewrites the golden files (scenario metrics, error messages) from the current build after an
# intended change. Review `git diff tests/` before committing.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
MOESIM_UPDATE_GOLDENS=1 ctest --test-dir "$build" -L 'golden|errors' --output-on-failure
git --no-pager diff --stat -- tests/golden tests/errors || true
