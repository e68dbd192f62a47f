#!/usr/bin/env bash
# Rewrites the README's generated sections (between `<!-- generated: NAME (tools/update-readme.sh)
# -->` and `<!-- end generated -->`) from the stored inputs; `ctest -L docs` checks the README
# against the same inputs, so its figures cannot drift silently.
#   validation   tests/accuracy/baseline.json: `moesim accuracy --json`
#                (--accuracy re-runs every row first, a few seconds)
#   flagship     tools/readme/scenarios.json, summaries of `moesim run --metrics` of each
#                scenario in tools/readme/scenario-notes.yaml (the hand-written "why" column)
#                (--scenarios re-runs those scenarios as shipped first, a few minutes)
#   performance  tools/bench/results/NAME.json, written by `moesim bench NAME --record`
#                (tools/bench/record.sh), with tools/readme/benchmarks.yaml (titles, targets)
#   speculative  tools/readme/speculative.json, the grids of scenarios/spec-decode-*.yaml
#                (--speculative re-runs them as shipped first, about a minute)
# Usage: tools/update-readme.sh [--accuracy] [--scenarios] [--speculative] [--build DIR];
# review `git diff`.
set -euo pipefail
cd "$(dirname "$0")/.."
build=build
accuracy=0
scenarios=0
speculative=0
while (($#)); do
  case $1 in
    --accuracy) accuracy=1 ;;
    --scenarios) scenarios=1 ;;
    --speculative) speculative=1 ;;
    --build) build=$2; shift ;;
    *) echo "usage: tools/update-readme.sh [--accuracy] [--scenarios] [--speculative] [--build DIR]" >&2; exit 2 ;;
  esac
  shift
done
moesim=$build/moesim
if ((accuracy)); then
  # Exit 1 means a row fails with no stated gap: the baseline is still written, for review.
  "$moesim" accuracy --write-baseline tests/accuracy/baseline.json || true
fi
if ((scenarios)); then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  files=()
  for name in $(sed -n 's/^- scenario: *//p' tools/readme/scenario-notes.yaml); do
    echo "update-readme: moesim run scenarios/$name.yaml"
    "$moesim" run "scenarios/$name.yaml" --quiet --metrics "$tmp/$name.metrics.json"
    files+=("$tmp/$name.metrics.json")
  done
  "$moesim" report scenarios "${files[@]}" --out tools/readme/scenarios.json
fi
if ((speculative)); then
  spec_tmp=$(mktemp -d)
  files=()
  for f in scenarios/spec-decode-*.yaml; do
    name=$(basename "$f" .yaml)
    echo "update-readme: moesim run $f"
    "$moesim" run "$f" --quiet --metrics "$spec_tmp/$name.metrics.json"
    files+=("$spec_tmp/$name.metrics.json")
  done
  "$moesim" report speculative "${files[@]}" --out tools/readme/speculative.json
  rm -rf "$spec_tmp"
fi
"$moesim" report readme
git --no-pager diff --stat -- README.md tests/accuracy tools/readme tools/bench/results || true
