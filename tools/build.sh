#!/usr/bin/env bash
# Configures and builds tender into build/ (override with BUILD_DIR). Extra args go to cmake.
# TARGET=tender builds the binary alone, without the tests and benchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" \
  -DTENDER_WERROR=ON "$@" >/dev/null
cmake --build "$build_dir" -j"${JOBS:-2}" ${TARGET:+--target "$TARGET"}
