#!/usr/bin/env bash
# Rewrites the golden files (scenario metrics, error messages, the sample traces) from the current build after an
# intended change. Review `git diff tests/` before committing.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
# The sample routing and request traces first: golden scenarios replay them.
MOESIM_UPDATE_GOLDENS=1 ctest --test-dir "$build" -R 'shipped sample trace|sample request trace' --output-on-failure
MOESIM_UPDATE_GOLDENS=1 ctest --test-dir "$build" -L 'golden|errors' --output-on-failure
git --no-pager diff --stat -- tests/golden tests/errors scenarios/data || true
# What moves with the goldens: the validation rows (one runs the Mixtral scenario) and the
# flagship table's scenario summaries (re-run as shipped, a few minutes), then the README.
tools/update-readme.sh --accuracy --scenarios --build "$build"
