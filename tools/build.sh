#!/usr/bin/env bash
# Configures and builds tender into build/ (override with BUILD_DIR). Extra args go to cmake.
# TARGET=tender builds the binary alone, without the tests and benchmarks (TARGET=tender_quickstart:
# the quickstart's binary, quickstart/tender, with only the roles it runs).
set -euo pipefail
cd "$(dirname "$0")/.."
# The build type is BUILD_TYPE, else the one build_dir was configured with (tools/quickstart.sh
# configures Release), else RelWithDebInfo.
build_dir=${BUILD_DIR:-build}
type=${BUILD_TYPE:-$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build_dir/CMakeCache.txt" 2>/dev/null || true)}
# A new build directory uses Ninja when it is installed (install-deps.sh installs it): it starts
# each library's compilation as soon as a core is free, where make waits for the libraries it
# links. A directory keeps the generator it was made with.
generator=()
if [ ! -f "$build_dir/CMakeCache.txt" ] && command -v ninja >/dev/null 2>&1; then
  generator=(-G Ninja)
fi
cmake -S . -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE="${type:-RelWithDebInfo}" \
  -DTENDER_WERROR=ON "$@" >/dev/null
cmake --build "$build_dir" -j"${JOBS:-2}" ${TARGET:+--target "$TARGET"}
