#!/usr/bin/env bash
# What tender proxy's busy polling costs where it does not pay: a redis listener (2 workers) in
# front of one redis-server, driven by 1 and then 4 clients that each send one command at a
# time (redis-benchmark -c N -P 1), with `busy_poll` off (the default) and at 20us, side by
# side in one run. Prints requests/s, the proxy's CPU use (share of one CPU over the run) and
# CPU time per request, and its CPU time over 2 idle seconds. See docs/proxy.md, "Busy polling".
#
#   bench/busy_poll.sh [requests]     # default 30000 per run
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
tender=${TENDER:-$here/../build/src/tender}
requests=${1:-30000}
for tool in redis-server redis-benchmark; do
  command -v "$tool" >/dev/null || { echo "$tool missing: tools/install-deps.sh" >&2; exit 1; }
done
[ -x "$tender" ] || { echo "build tender first (tools/build.sh)" >&2; exit 1; }

bench_workdir
rp=$(free_port)
redis-server --port "$rp" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
  --loglevel warning >/dev/null &
pids+=($!)
wait_port "$rp"

# CPU time of a process so far, in clock ticks.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

printf '%-10s %8s %10s %12s %10s\n' "busy_poll" "clients" "req/s" "proxy CPU %" "us/req"
for poll in 0 20us; do
  port=$(free_port)
  cat >"$work/proxy.yaml" <<YAML
workers: 2
busy_poll: $poll
listeners:
  - {name: cache, listen: "127.0.0.1:$port", protocol: redis, cluster: one}
clusters:
  - {name: one, endpoints: ["127.0.0.1:$rp"]}
YAML
  "$tender" proxy --config "$work/proxy.yaml" --admin 127.0.0.1:0 --log-level warn \
    >/dev/null 2>&1 &
  proxy=$!
  pids+=("$proxy")
  wait_port "$port"
  for clients in 1 4; do
    t0=$(ticks "$proxy")
    s0=$(date +%s%N)
    rps=$(redis-benchmark -h 127.0.0.1 -p "$port" -t get -c "$clients" -n "$requests" -P 1 \
      --csv 2>/dev/null | awk -F'","' 'NR > 1 { gsub(/"/, "", $2); print int($2); exit }')
    s1=$(date +%s%N)
    t1=$(ticks "$proxy")
    awk -v poll="$poll" -v c="$clients" -v rps="$rps" -v t=$((t1 - t0)) -v hz="$hz" \
      -v ns=$((s1 - s0)) -v n="$requests" 'BEGIN {
        cpu = t / hz
        printf "%-10s %8d %10d %12.0f %10.1f\n", poll, c, rps, 100 * cpu / (ns / 1e9), cpu * 1e6 / n
      }'
  done
  t0=$(ticks "$proxy")
  sleep 2
  t1=$(ticks "$proxy")
  printf '%-10s %8s %10s %12s %10s   (CPU over 2 idle seconds: %d ms)\n' "$poll" "idle" "-" "-" "-" \
    $(((t1 - t0) * 1000 / hz))
  kill "$proxy"
  wait "$proxy" 2>/dev/null || true
done
