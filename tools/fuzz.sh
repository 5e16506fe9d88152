#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang into build-fuzz/ and runs each for SECONDS
# (default 60), starting from the seeds in fuzz/seeds/TARGET. A crash or a broken invariant
# stops with the input saved as build-fuzz/crash-* and a non-zero exit. SECONDS 0 only runs
# the seeds (what CI does: the targets build and the seeds keep passing).
#   tools/fuzz.sh [SECONDS] [TARGET...]      # TARGET: fuzz_resp, fuzz_http1, fuzz_records, fuzz_statsd
#                                            # (default all)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_resp fuzz_http1 fuzz_records fuzz_statsd)
cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTENDER_FUZZ=ON -DTENDER_WERROR=ON >/dev/null
cmake --build build-fuzz -j"${JOBS:-2}" --target "${targets[@]}"
for t in "${targets[@]}"; do
  if [ "$seconds" = 0 ]; then
    echo "== $t: the seeds"
    (cd build-fuzz && "./fuzz/$t" -runs=0 "../fuzz/seeds/$t" 2>&1 | tail -n 3)
    continue
  fi
  corpus=build-fuzz/corpus/$t
  mkdir -p "$corpus"
  echo "== $t for ${seconds}s"
  (cd build-fuzz && "./fuzz/$t" -max_total_time="$seconds" -max_len=4096 -timeout=10 \
    -print_final_stats=1 "corpus/$t" "../fuzz/seeds/$t" 2>&1 | tail -n 12)
done
