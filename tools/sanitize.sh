#!/usr/bin/env bash
# The ASan+UBSan leg of CI (issue 16; README "Tests"): builds moesim and its tests in a build
# directory of their own under AddressSanitizer (with LeakSanitizer) and UndefinedBehaviorSanitizer,
# then runs the tests labelled `sanitize` (unit tests, error goldens, command goldens, the fuzz
# corpora, the scenario goldens without a tests/golden/<name>.slow file, the README check).
# Any sanitizer report ends the process with a non-zero exit, so the test fails.
#   tools/sanitize.sh [BUILD_DIR]      (default build-asan; runs .ci/run after the README command)
# Optimisation (measured 2026-12-05 on 2 cores): the simulation libraries at -O1, the loader,
# metrics and validation libraries (MOESIM_COLD_LIBS), the command line and the tests at -O0;
# no debug info, no NDEBUG (assertions on). All at -O0, the tests that simulate (Eigen's expert
# maths, serving loops) ran 4-8x longer (one 119 s); all at -O1 the build took 8.5 minutes. The
# scenario goldens over 10 s here carry a tests/golden/<name>.slow file. Uses `nproc` cores.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build-asan}
jobs=$(nproc)

cmake -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE=-O1 \
      -DMOESIM_SANITIZE=address,undefined -DMOESIM_COLD_OPT=-O0 \
      "-DMOESIM_COLD_LIBS=moesim_io;moesim_validate"
cmake --build "$dir" -j "$jobs"

# detect_leaks: LeakSanitizer on (its default on x86-64 Linux, stated here so it stays on);
# halt_on_error: the first report ends the run (UBSan is also built with -fno-sanitize-recover).
ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:strict_string_checks=1
ASAN_OPTIONS+=:check_initialization_order=1:detect_stack_use_after_return=1
export ASAN_OPTIONS
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export LSAN_OPTIONS=report_objects=1
ctest --test-dir "$dir" -L sanitize -j "$jobs" --output-on-failure
