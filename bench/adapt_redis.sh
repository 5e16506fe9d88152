#!/usr/bin/env bash
# `tender adapt --redis` beside prometheus-redis-exporter, in one run against one redis-server
# (with 1,000 keys over two databases and a few hundred commands in its stats): each /metrics is
# scraped N times (default 200) in turn, sequentially, on this machine. Prints the mean scrape
# time and the RSS after the scrapes of each, and tender's ratios (below 1: tender is better).
# Target: both ratios below 1.
#
#   bench/adapt_redis.sh [N]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
tender=${TENDER:-$here/../build/src/tender}
n=${1:-200}
for tool in redis-server redis-cli prometheus-redis-exporter curl python3; do
  command -v "$tool" >/dev/null || { echo "$tool missing: tools/install-deps.sh" >&2; exit 1; }
done
[ -x "$tender" ] || { echo "build tender first (tools/build.sh)" >&2; exit 1; }
bench_workdir

rp=$(free_port)
redis-server --port "$rp" --bind 127.0.0.1 --save "" --appendonly no --protected-mode no \
  >/dev/null 2>&1 &
pids+=($!)
wait_port "$rp"
for i in $(seq 1 500); do
  echo "SET k$i v$i"
  echo "SET t$i v$i EX 3600"
done | redis-cli -p "$rp" >/dev/null
redis-cli -p "$rp" -n 2 SET other 1 >/dev/null

# cache 0s: every scrape asks the server, as the exporter does
cat >"$work/adapt.yaml" <<YAML
metrics:
  sources:
    - {name: redis, redis: {address: "127.0.0.1:$rp", cache: 0s}}
YAML
"$tender" adapt --admin 127.0.0.1:0 --config "$work/adapt.yaml" >"$work/tender.out" \
  2>"$work/tender.err" &
pids+=($!)
tender_pid=$!
for _ in $(seq 100); do
  grep -q 'listening' "$work/tender.out" 2>/dev/null && break
  sleep 0.1
done
tp=$(sed -n 's/.*admin=127.0.0.1:\([0-9]*\).*/\1/p' "$work/tender.out")
[ -n "$tp" ] || { echo "tender adapt did not start: $(cat "$work/tender.err")" >&2; exit 1; }

ep=$(free_port)
prometheus-redis-exporter --redis.addr "redis://127.0.0.1:$rp" \
  --web.listen-address "127.0.0.1:$ep" >"$work/exporter.log" 2>&1 &
pids+=($!)
exporter_pid=$!
wait_port "$ep"

# Mean seconds of N sequential GETs of URL $1 (one warm-up first), by curl's own timing.
scrape() {
  curl -sf -o /dev/null "$1"
  for _ in $(seq "$n"); do
    curl -sf -o /dev/null -w '%{time_total}\n' "$1"
  done | awk '{s += $1} END {printf "%.6f", s / NR}'
}
t_time=$(scrape "http://127.0.0.1:$tp/metrics")
e_time=$(scrape "http://127.0.0.1:$ep/metrics")
t_rss=$(rss_kib "$tender_pid")
e_rss=$(rss_kib "$exporter_pid")
t_series=$(curl -sf "http://127.0.0.1:$tp/metrics" | grep -c '^redis_')
e_series=$(curl -sf "http://127.0.0.1:$ep/metrics" | grep -c '^redis_')

printf '%-28s %14s %10s %8s\n' "" "scrape (ms)" "RSS (KiB)" "redis_*"
printf '%-28s %14.3f %10d %8d\n' "tender adapt --redis" "$(awk "BEGIN {print $t_time * 1000}")" \
  "$t_rss" "$t_series"
printf '%-28s %14.3f %10d %8d\n' "prometheus-redis-exporter" \
  "$(awk "BEGIN {print $e_time * 1000}")" "$e_rss" "$e_series"
python3 - "$t_time" "$e_time" "$t_rss" "$e_rss" <<'PY'
import sys
tt, et, tr, er = map(float, sys.argv[1:])
print(f"ratio tender/exporter: scrape time {tt / et:.2f}x, RSS {tr / er:.2f}x")
PY
