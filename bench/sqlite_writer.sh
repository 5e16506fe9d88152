#!/usr/bin/env bash
# Group commit's gain in `core/sqlite_writer.hpp`: durable writes/s (synchronous FULL) from 1
# client and from 16, each waiting for its acknowledgement before the next write; prints the
# ratio. The directory should be on the disk the queue would use (default: $TMPDIR or /tmp).
#
#   bench/sqlite_writer.sh [writes] [directory]     # default 4000 writes
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${BUILD_DIR:-$here/../build}
[ -d "$build" ] || { echo "configure first (tools/build.sh)" >&2; exit 1; }
cmake --build "$build" -j"${JOBS:-2}" --target bench_sqlite_writer >/dev/null
"$build/bench/bench_sqlite_writer" "$@"
