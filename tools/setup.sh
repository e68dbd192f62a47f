#!/usr/bin/env bash
# Installs what moesim needs on Debian 12 with apt-get, only the packages that are missing.
# Idempotent: a second run installs nothing. Uses sudo when not run as root.
set -euo pipefail

packages=(
  g++ cmake ninja-build          # toolchain
  libboost-graph-dev             # topologies: Boost.Graph
  libyaml-cpp-dev                # scenario files
  libfmt-dev                     # formatting
  nlohmann-json3-dev             # metrics, schema, traces
  catch2                         # tests (v2.13 on Debian 12)
  libeigen3-dev                  # router and expert maths
  libcli11-dev                   # command line
  libmetis-dev                   # topology-aware expert placement: graph partitioning (sim/place)
  openmpi-bin libopenmpi-dev     # distributed sweeps (the build uses MPI when present)
  chromium fonts-dejavu-core python3   # the HTML report's browser test (ctest -R "report: browser")
  python3-matplotlib             # tools/plot.py (figures of metrics, sweeps and traces)
  clang-tidy                     # tools/tidy-changed.sh (static checks of changed files, CI)
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#packages[@]} packages already installed"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "setup: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
