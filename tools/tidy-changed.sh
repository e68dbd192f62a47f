#!/usr/bin/env bash
# clang-tidy (Debian's, installed by tools/setup.sh) with the root .clang-tidy on the .cpp files
# changed since BASE, every warning an error (issue 16; README "Tests").
#   tools/tidy-changed.sh [BASE] [BUILD_DIR]
# BASE defaults to the previous commit (HEAD~1: CI checks the newest change; after a merge that
# is everything the merge brought). Uncommitted changes count too. BUILD_DIR (default build) is
# a configured build directory; the build is a unity build, whose compile_commands.json names
# only the unity units, so a file-by-file compile database is configured in BUILD_DIR/tidy-db
# (-DMOESIM_UNITY_BUILD=OFF, configure only: seconds). Files it does not compile are skipped.
# Exit non-zero when clang-tidy reports anything; 0 when nothing changed or BASE is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:-HEAD~1}
build=${2:-build}
tidy=$(command -v clang-tidy || true)
if [ -z "$tidy" ]; then
  echo "tidy-changed: clang-tidy not found (tools/setup.sh installs it)" >&2
  exit 1
fi
if [ ! -f "$build/compile_commands.json" ]; then
  echo "tidy-changed: $build/compile_commands.json not found: configure first (cmake -B $build)" >&2
  exit 1
fi
if ! git rev-parse -q --verify "$base^{commit}" > /dev/null; then
  # A first commit or a shallow clone: nothing to compare with, so nothing is checked (said).
  echo "tidy-changed: no commit $base to compare with (shallow clone?): nothing checked"
  exit 0
fi

db="$build/tidy-db"
cmake -S . -B "$db" -G Ninja -DMOESIM_UNITY_BUILD=OFF > "$build/tidy-db.log" 2>&1 || {
  cat "$build/tidy-db.log" >&2
  echo "tidy-changed: configuring the compile database in $db failed" >&2
  exit 1
}

# Changed .cpp files that still exist and that the build compiles.
files=()
while IFS= read -r f; do
  if [ -f "$f" ] && grep -qF "\"file\": \"$PWD/$f\"" "$db/compile_commands.json"; then
    files+=("$f")
  fi
done < <(git diff --name-only --diff-filter=d "$base" -- '*.cpp')
if ((${#files[@]} == 0)); then
  echo "tidy-changed: no compiled .cpp file changed since $base"
  exit 0
fi
echo "tidy-changed: ${#files[@]} file(s) since $base: ${files[*]}"
# -Wno-unknown-warning-option: the build's flags are GCC's (clang knows no -Wno-restrict).
printf '%s\0' "${files[@]}" |
  xargs -0 -n 1 -P "$(nproc)" "$tidy" -p "$db" --quiet --extra-arg=-Wno-unknown-warning-option
