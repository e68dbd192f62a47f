#!/usr/bin/env bash
# Re-records benchmark NAME from scratch: RUNS runs (default 1) of
#   moesim bench NAME --record tools/bench/results/NAME.json
# replacing the stored runs, then rewrites the README's Performance table from the records
# (tools/update-readme.sh). Wall times depend on the machine's load: record on a quiet machine
# and commit the results file with the README.
#   tools/bench/record.sh phold 5
set -euo pipefail
cd "$(dirname "$0")/../.."
name=${1:?usage: tools/bench/record.sh NAME [RUNS] [BUILD_DIR]}
runs=${2:-1}
build=${3:-build}
out=tools/bench/results/$name.json
rm -f "$out"
for ((i = 0; i < runs; i++)); do
  "$build/moesim" bench "$name" --record "$out"
done
tools/update-readme.sh --build "$build"
