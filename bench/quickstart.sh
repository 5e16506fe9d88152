#!/usr/bin/env bash
# The README's first command as a new user meets it: tools/quickstart.sh in a clean clone of
# this repository's HEAD, timed until it says the pods are ready, then stopped with Ctrl-C
# (SIGINT). Prints the script's own "ready after N s" and the build's longest compilations, with
# when each started and ended. The Debian packages are what the machine has: on a fresh machine install-deps adds
# its apt-get time (measured on its own, docs/benchmarks.md). Needs root and the quickstart's
# ports (8080, 9905; the runner's admin listener is a free port).
#   bench/quickstart.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
if [ "$(id -u)" -ne 0 ]; then
  echo "bench/quickstart.sh: run it as root, as tools/quickstart.sh is" >&2
  exit 1
fi
for port in 8080 9905; do
  if ss -Htln "sport = :$port" | grep -q .; then
    echo "bench/quickstart.sh: 127.0.0.1:$port is taken; the quickstart needs it" >&2
    exit 1
  fi
done
bench_workdir
git clone -q . "$work/tender"
admin=127.0.0.1:$(free_port)

started=$(date +%s.%N)
TENDER_POD_ADMIN=$admin setsid "$work/tender/tools/quickstart.sh" >"$work/out" 2>&1 &
runner=$!
pids+=("$runner")
until grep -q "quickstart: ready after" "$work/out"; do
  if ! kill -0 "$runner" 2>/dev/null; then
    cat "$work/out" >&2
    echo "bench/quickstart.sh: the quickstart stopped before it was ready" >&2
    exit 1
  fi
  sleep 0.2
done
ready=$(date +%s.%N)
kill -INT "$runner"
wait "$runner" || true

grep -o "quickstart: ready after [0-9]* s" "$work/out"
printf 'from the clone to ready: %.1f s\n' "$(echo "$ready - $started" | bc)"
log=$work/tender/build-quickstart/.ninja_log
if [ -f "$log" ]; then
  echo "the longest compilations: seconds, from, to (seconds into the build), object"
  awk 'NR > 1 && $4 ~ /\.o$/ { printf "%6.1f %6.1f %6.1f  %s\n", ($2 - $1) / 1000, $1 / 1000, $2 / 1000, $4 }' \
    "$log" | sort -n -r | head -n 8
fi
rm -rf "/tmp/tender-pod-${admin##*:}"
