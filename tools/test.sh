#!/usr/bin/env bash
# The one test command: installs what is missing, checks formatting, builds, and runs every
# unit and integration test (integration tests start the real binary and their own peers on
# 127.0.0.1 with free ports).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
tools/check-format.sh
tools/check-layering.sh
tools/build.sh
cd "${BUILD_DIR:-build}"
ctest --output-on-failure -j2 --timeout 300
