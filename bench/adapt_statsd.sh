#!/usr/bin/env bash
# tender adapt as a statsd server: lines ingested per second on one core, and UDP drops.
#
# `tender adapt --statsd 127.0.0.1:PORT` runs pinned to one CPU (taskset -c $TENDER_CPU,
# default 1); bench_statsd_load (bench/statsd_load.cpp) runs on another ($LOAD_CPU, default 0)
# and sends statsd lines over UDP at each rate of a ladder for a few seconds, 16 lines to a
# datagram, over 1000 distinct series (counters with rates and DogStatsD tags, gauges, timers,
# Influx-tagged histograms). For each rate it prints the lines sent, the lines tender ingested
# (tender_adapt_statsd_lines_total, all results, read from its admin /metrics once it stops
# moving) per second of sending, and the datagrams the kernel dropped on tender's socket (the
# drops column of /proc/net/udp). Target (issue 24): >= 300k lines/s with zero drops; PASS/FAIL
# is printed for the 300k step.
#
# There is no statsd_exporter in Debian, so there is no peer to run beside it and no ratio.
#
#   bench/adapt_statsd.sh [--rates "100000 200000 300000 400000"] [--seconds 5]
#                         [--per-packet 16]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
build=${BUILD_DIR:-$here/../build}
tender=${TENDER:-$build/src/tender}
load=$build/bench/bench_statsd_load

rates="100000 200000 300000 400000"
seconds=5
per_packet=16
while [ $# -gt 0 ]; do
  case "$1" in
    --rates) rates=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --per-packet) per_packet=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

cmake --build "$build" -j2 --target tender bench_statsd_load >/dev/null

bench_workdir
taskset -c "${TENDER_CPU:-1}" "$tender" adapt --admin 127.0.0.1:0 --statsd 127.0.0.1:0 \
  >"$work/out" 2>"$work/err" &
pids+=($!)
for _ in $(seq 1 500); do
  grep -q '^listening' "$work/out" 2>/dev/null && break
  sleep 0.02
done
line=$(grep '^listening' "$work/out") || { cat "$work/err" >&2; exit 1; }
admin=$(sed -E 's/.* admin=[^ ]*:([0-9]+).*/\1/' <<<"$line")
port=$(sed -E 's/.* statsd_udp=[^ ]*:([0-9]+).*/\1/' <<<"$line")

# Every line tender has counted, whatever its result.
lines_total() {
  curl -s "http://127.0.0.1:$admin/metrics" |
    awk '/^tender_adapt_statsd_lines_total\{/ { n += $NF } END { printf "%.0f\n", n }'
}
# Datagrams dropped on the socket bound to $port (the last column of /proc/net/udp).
udp_drops() {
  local hex
  hex=$(printf '%04X' "$port")
  awk -v p=":$hex" '$2 ~ p"$" { print $NF }' /proc/net/udp | head -1
}
# Waits until the lines counted stop moving; prints the count.
settled() {
  local before after
  before=$(lines_total)
  for _ in $(seq 1 100); do
    sleep 0.2
    after=$(lines_total)
    [ "$after" = "$before" ] && break
    before=$after
  done
  echo "$after"
}

echo "tender adapt --statsd (pinned to CPU ${TENDER_CPU:-1}); ${seconds}s per rate, $per_packet lines/datagram"
echo "no statsd_exporter in Debian: no peer, no ratio"
printf '%12s %12s %12s %12s %14s %10s\n' "rate" "sent" "sent/s" "ingested" "ingested/s" "udp drops"
verdict=""
for rate in $rates; do
  base=$(settled)
  drops0=$(udp_drops)
  out=$(taskset -c "${LOAD_CPU:-0}" "$load" --port "$port" --rate "$rate" --seconds "$seconds" \
    --per-packet "$per_packet")
  sent=$(awk '{ print $2 }' <<<"$out")
  took=$(awk '{ print $4 }' <<<"$out")
  got=$(( $(settled) - base ))
  drops=$(( $(udp_drops) - drops0 ))
  per_s=$(awk -v n="$got" -v t="$took" 'BEGIN { printf "%.0f", n / t }')
  sent_s=$(awk -v n="$sent" -v t="$took" 'BEGIN { printf "%.0f", n / t }')
  printf '%12s %12s %12s %12s %14s %10s\n' "$rate" "$sent" "$sent_s" "$got" "$per_s" "$drops"
  if [ "$rate" = 300000 ]; then
    if [ "$sent_s" -lt 285000 ]; then
      verdict="NO VERDICT: the generator sent only $sent_s lines/s (it shares the machine)"
    elif [ "$drops" = 0 ] && [ "$got" = "$sent" ]; then
      verdict="PASS: 300k lines/s ingested with zero drops"
    else
      verdict="FAIL: at 300k lines/s, $drops datagrams dropped, $got of $sent lines ingested"
    fi
  fi
done
rss=$(rss_kib "${pids[0]}")
echo "tender RSS at the end: ${rss} KiB"
[ -n "$verdict" ] && echo "$verdict"
