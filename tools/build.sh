#!/usr/bin/env bash
# Configures and builds tender into build/ (override with BUILD_DIR). Extra args go to cmake.
# TARGET=tender builds the binary alone, without the tests and benchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."
# The build type is BUILD_TYPE, else the one build_dir was configured with (tools/quickstart.sh
# configures Release), else RelWithDebInfo.
build_dir=${BUILD_DIR:-build}
type=${BUILD_TYPE:-$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build_dir/CMakeCache.txt" 2>/dev/null || true)}
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE="${type:-RelWithDebInfo}" \
  -DTENDER_WERROR=ON "$@" >/dev/null
cmake --build "$build_dir" -j"${JOBS:-2}" ${TARGET:+--target "$TARGET"}
