#!/usr/bin/env bash
# tender scatter: the tail at fan-out, with hedged requests off and on ("The Tail at Scale").
#
# 16 shards of 2 replicas, each a `tender echo --delay 100ms --delay-fraction 0.01` (1% of leaf
# requests, drawn at random, answer 100 ms late), pinned to CPU 1 with wrk; the roots pinned to
# CPU 0, one worker thread each, merging the echoed objects (--merge object):
#   - off: --hedge off;  on: --hedge p95 --hedge-budget 5% (HEDGE, HEDGE_BUDGET to change them);
#     and for comparison --hedge p99 with the same budget (HEDGE2; HEDGE2= leaves it out)
#   - wrk with BENCH_CONNS connections (default 8) for BENCH_DURATION (default 15 s),
#     BENCH_ROUNDS (default 3) rounds, off and on alternating; p50 / p99 / p99.9, medians of
#     the rounds. Extra requests: the hedges the root counted (its /metrics,
#     $hedge_metric{outcome="sent"}) and what the 32 leaves served (/statusz requests_served),
#     both over 16 x the requests answered. Targets: p99 on <= p99 off / 5, extra <= 5%.
# Then, with ?delay_ms=0 (which wins over --delay, so every leaf is fast):
#   - the root's added latency: one connection through a root of 16 single-replica shards (and
#     of one shard) against one connection to one of those leaves directly, at p50 (target <=
#     150 us), and the root's CPU time per request;
#   - requests/s of the 16-shard root on one thread, wrk -c 64, and its CPU time per request.
# Latencies are each request's own (a Lua hook; wrk's histogram corrects for coordinated
# omission, see below). The load is closed-loop (a connection waits for its answer before the
# next request), so a slow answer also holds back the requests behind it on its connection.
#
#   bench/scatter.sh            # about 5 minutes; BENCH_DURATION=5 BENCH_ROUNDS=1 for a smoke run
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
tender=${TENDER:-$here/../build/src/tender}
for tool in wrk taskset curl ss; do
  command -v "$tool" >/dev/null || { echo "$tool missing: tools/install-deps.sh" >&2; exit 1; }
done
[ -x "$tender" ] || { echo "build tender first (tools/build.sh)" >&2; exit 1; }

shards=16
conns=${BENCH_CONNS:-8}
rounds=${BENCH_ROUNDS:-3}
export BENCH_DURATION=${BENCH_DURATION:-15}
hedge=${HEDGE:-p95}
hedge_budget=${HEDGE_BUDGET:-5%}
# A second hedging root for comparison ("" leaves it out): after p95, 5% of a shard's requests
# are due a hedge by definition, all the budget there is, so the slow ones compete for it.
hedge2=${HEDGE2-p99}
# The root's counter of hedged requests (labels shard and outcome).
hedge_metric=tender_scatter_hedges_total

bench_workdir

# --- Leaves ---------------------------------------------------------------------------------
# leaf_port[i], leaf_admin[i]: shard i / 2, replica i % 2.
leaf_port=() leaf_admin=()
for i in $(seq 0 $((2 * shards - 1))); do
  p=$(free_port)
  a=$(free_port)
  while [ "$a" = "$p" ]; do a=$(free_port); done
  taskset -c 1 "$tender" echo --listen "127.0.0.1:$p" --admin "127.0.0.1:$a" \
    --id "s$((i / 2))r$((i % 2))" --delay 100ms --delay-fraction 0.01 --log-level warn \
    >"$work/leaf$i.out" 2>&1 &
  pids+=($!)
  leaf_port+=("$p") leaf_admin+=("$a")
done
for p in "${leaf_port[@]}"; do wait_port "$p"; done

replicated="" single=""
for s in $(seq 0 $((shards - 1))); do
  first=127.0.0.1:${leaf_port[$((2 * s))]}
  replicated+="${replicated:+,}$first|127.0.0.1:${leaf_port[$((2 * s + 1))]}"
  single+="${single:+,}$first"
done

# --- Roots ----------------------------------------------------------------------------------
# start_root NAME FLAGS...: a root on CPU 0 with one worker; sets ${NAME}_port, ${NAME}_admin,
# ${NAME}_pid.
start_root() {
  local name=$1 p a
  shift
  p=$(free_port)
  a=$(free_port)
  while [ "$a" = "$p" ]; do a=$(free_port); done
  taskset -c 0 "$tender" scatter --listen "127.0.0.1:$p" --admin "127.0.0.1:$a" --threads 1 \
    --merge object --log-level warn "$@" >"$work/$name.out" 2>&1 &
  pids+=($!)
  printf -v "${name}_port" '%s' "$p"
  printf -v "${name}_admin" '%s' "$a"
  printf -v "${name}_pid" '%s' "$!"
}
start_root off --leaves "$replicated" --hedge off
start_root on --leaves "$replicated" --hedge "$hedge" --hedge-budget "$hedge_budget"
tails="off on"
if [ -n "$hedge2" ]; then
  start_root on2 --leaves "$replicated" --hedge "$hedge2" --hedge-budget "$hedge_budget"
  tails="off on on2"
fi
start_root fast --leaves "$single" --hedge off
start_root one --leaves "127.0.0.1:${leaf_port[0]}" --hedge off
for name in $tails fast one; do
  admin_var=${name}_admin
  ready=
  for _ in $(seq 1 1000); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${!admin_var}/readyz")" = 200 ]
    then
      ready=1
      break
    fi
    sleep 0.01
  done
  if [ -z "$ready" ]; then
    echo "root $name never became ready:" >&2
    tail -20 "$work/$name.out" >&2
    exit 1
  fi
done

# --- Measuring ------------------------------------------------------------------------------
# Per-request latencies. wrk's own histogram is corrected for coordinated omission (each answer
# slower than the run's mean interval adds made-up samples, as an open-loop client would have
# waited), which turns one 100 ms answer into a hundred slow samples; this records each
# request's time instead. One connection per wrk thread, so that request() and response()
# alternate in each thread's Lua state; done() gathers the threads' lists.
cat >"$work/latency.lua" <<'LUA'
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now_us()
  ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1e6 + tonumber(ts.tv_nsec) / 1e3
end
local threads = {}
function setup(thread) table.insert(threads, thread) end
local sent = 0
lat = {}
function request()
  sent = now_us()
  return wrk.format()
end
function response(status, headers, body)
  lat[#lat + 1] = now_us() - sent
end
function done(summary, latency, requests)
  local all = {}
  for _, t in ipairs(threads) do
    for _, v in ipairs(t:get("lat")) do all[#all + 1] = v end
  end
  table.sort(all)
  local function pct(p)
    if #all == 0 then return 0 end
    return all[math.max(1, math.ceil(p / 100 * #all))]
  end
  local e = summary.errors
  io.write(string.format("PCT %d %d %d %d %d\n", pct(50), pct(99), pct(99.9), #all,
    e.connect + e.read + e.write + e.status + e.timeout))
end
LUA
# tail_run URL CONNS SECONDS: "P50_US P99_US P99.9_US REQUESTS ERRORS" from wrk on CPU 1, CONNS
# threads of one connection each.
tail_run() {
  taskset -c 1 wrk -t"$2" -c"$2" -d"$3s" -s "$work/latency.lua" "$1" | awk '$1 == "PCT" {
    print $2, $3, $4, $5, $6 }'
}
# The sum of the samples of metric $2 carrying label text $3 (e.g. outcome="sent") at admin
# port $1; 0 when there are none.
metric_sum() {
  curl -s "http://127.0.0.1:$1/metrics" | awk -v name="$2" -v want="$3" '
    $1 !~ /^#/ && (index($1, name "{") == 1 || $1 == name) && index($1, want) > 0 { s += $NF }
    END { printf "%.0f\n", s }'
}
# Requests the 32 leaves have served so far.
leaves_served() {
  local n=0 a v
  for a in "${leaf_admin[@]}"; do
    v=$(curl -s "http://127.0.0.1:$a/statusz" | grep -o '"requests_served":[0-9]*' | cut -d: -f2)
    n=$((n + ${v:-0}))
  done
  echo "$n"
}
median() {
  sort -g | awk '{ v[NR] = $1 }
    END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ms() { awk -v us="$1" 'BEGIN { printf "%.2f", us / 1000 }'; }

# One measured run against root NAME: prints "P50 P99 P999 REQ/S HEDGE_PCT LEAF_EXTRA_PCT ERRORS".
measure() {
  local name=$1 port_var=${1}_port admin_var=${1}_admin h0 l0 h1 l1 p50 p99 p999 n err
  h0=$(metric_sum "${!admin_var}" "$hedge_metric" 'outcome="sent"')
  l0=$(leaves_served)
  read -r p50 p99 p999 n err \
    < <(tail_run "http://127.0.0.1:${!port_var}/" "$conns" "$BENCH_DURATION")
  h1=$(metric_sum "${!admin_var}" "$hedge_metric" 'outcome="sent"')
  l1=$(leaves_served)
  awk -v p50="$p50" -v p99="$p99" -v p999="$p999" -v n="$n" -v d="$BENCH_DURATION" \
    -v h=$((h1 - h0)) -v l=$((l1 - l0)) -v s="$shards" -v err="$err" 'BEGIN {
      base = n * s
      printf "%d %d %d %.0f %.2f %.2f %d\n", p50, p99, p999, n / d, (base > 0 ? h * 100 / base : 0),
        (base > 0 ? (l - base) * 100 / base : 0), err }'
}

echo "tender scatter: $shards shards x 2 replicas of tender echo --delay 100ms --delay-fraction" \
  "0.01; $("$tender" version 2>/dev/null | head -1); load average $(cut -d' ' -f1-3 /proc/loadavg)"
# Warm-up: connections opened, and the hedging root's p95s learnt (they need samples).
for name in $tails; do
  port_var=${name}_port
  tail_run "http://127.0.0.1:${!port_var}/" "$conns" 3 >/dev/null
done
steal_mark
printf '%-24s %9s %9s %9s %9s %10s %12s %7s\n' "$conns conns, ${BENCH_DURATION}s" "p50 ms" \
  "p99 ms" "p99.9 ms" "req/s" "hedges %" "leaf extra %" "errors"
declare -A col
label() {
  case $1 in
    off) echo "hedge off" ;;
    on) echo "hedge $hedge" ;;
    on2) echo "hedge $hedge2" ;;
  esac
}
for round in $(seq 1 "$rounds"); do
  # Each round starts with the next root in turn, so that drift in the machine favours none.
  read -ra all <<<"$tails"
  order=()
  for k in "${!all[@]}"; do order+=("${all[$(((k + round - 1) % ${#all[@]}))]}"); done
  for name in "${order[@]}"; do
    read -r p50 p99 p999 rps hpct lpct err < <(measure "$name")
    label="round $round: $(label "$name")"
    printf '%-24s %9s %9s %9s %9s %10s %12s %7s\n' "$label" "$(ms "$p50")" "$(ms "$p99")" \
      "$(ms "$p999")" "$rps" "$hpct" "$lpct" "$err"
    col[$name,p50]+="$p50 " col[$name,p99]+="$p99 " col[$name,p999]+="$p999 "
    col[$name,rps]+="$rps " col[$name,h]+="$hpct " col[$name,l]+="$lpct "
  done
done
col_median() { tr ' ' '\n' <<<"$1" | grep . | median; }
for name in $tails; do
  printf '%-24s %9s %9s %9s %9s %10s %12s\n' "median: $(label "$name")" \
    "$(ms "$(col_median "${col[$name,p50]}")")" "$(ms "$(col_median "${col[$name,p99]}")")" \
    "$(ms "$(col_median "${col[$name,p999]}")")" "$(col_median "${col[$name,rps]}")" \
    "$(col_median "${col[$name,h]}")" "$(col_median "${col[$name,l]}")"
done
p99_off=$(col_median "${col[off,p99]}")
p999_off=$(col_median "${col[off,p999]}")
# The ratios of root NAME (hedged with FLAGS) against the unhedged one.
ratios() {
  awk -v a="$p99_off" -v b="$(col_median "${col[$1,p99]}")" -v c="$p999_off" \
    -v d="$(col_median "${col[$1,p999]}")" -v x="$(col_median "${col[$1,h]}")" -v flags="$2" \
    'BEGIN {
      printf "%s: p99 off / on %.1f (target >= 5), p99.9 off / on %.1f; hedges sent %s%%" \
        " of leaf requests (target <= 5%%)\n", flags, (b > 0 ? a / b : 0), (d > 0 ? c / d : 0), x }'
}
ratios on "--hedge $hedge --hedge-budget $hedge_budget"
[ -n "$hedge2" ] && ratios on2 "--hedge $hedge2 --hedge-budget $hedge_budget"
echo "CPU stolen by the host during the tail rounds: $(steal_since)%"

# --- The root's own cost, every leaf fast ---------------------------------------------------
# p50 at one connection through a root of 16 shards and of one shard (leaf 0), and directly to
# leaf 0; the root's CPU time per request in the 16-shard runs. On this machine the 16 leaves
# share CPU 1, so their own work (tens of us each) adds up in the 16-shard p50 too.
echo
steal_mark
for url in "http://127.0.0.1:$fast_port/" "http://127.0.0.1:$one_port/" \
  "http://127.0.0.1:${leaf_port[0]}/"; do
  tail_run "$url?delay_ms=0" 1 2 >/dev/null
done
root_p50s=() one_p50s=() leaf_p50s=() added=() added_one=() cpu=()
for round in $(seq 1 "$rounds"); do
  t0=$(cpu_ticks "$fast_pid")
  read -r rp50 _ _ rn _ < <(tail_run "http://127.0.0.1:$fast_port/?delay_ms=0" 1 "$BENCH_DURATION")
  cpu+=("$(per_request $(($(cpu_ticks "$fast_pid") - t0)) "$fast_pid" "$rn")")
  read -r op50 _ < <(tail_run "http://127.0.0.1:$one_port/?delay_ms=0" 1 "$BENCH_DURATION")
  read -r lp50 _ < <(tail_run "http://127.0.0.1:${leaf_port[0]}/?delay_ms=0" 1 "$BENCH_DURATION")
  root_p50s+=("$rp50") one_p50s+=("$op50") leaf_p50s+=("$lp50")
  added+=($((rp50 - lp50))) added_one+=($((op50 - lp50)))
done
printf 'p50 at one connection: root of %d fast leaves %s us, root of one %s us, the leaf' \
  "$shards" "$(printf '%s\n' "${root_p50s[@]}" | median)" \
  "$(printf '%s\n' "${one_p50s[@]}" | median)"
printf ' directly %s us\n' "$(printf '%s\n' "${leaf_p50s[@]}" | median)"
printf '  added by the root: %s us with %d shards (by round: %s; target <= 150), %s us with one\n' \
  "$(printf '%s\n' "${added[@]}" | median)" "$shards" "${added[*]}" \
  "$(printf '%s\n' "${added_one[@]}" | median)"
printf '  root CPU per request with %d shards: %s us (by round: %s)\n' "$shards" \
  "$(printf '%s\n' "${cpu[@]}" | median)" "${cpu[*]}"
read -r rps _ errors root_us _ \
  < <(run_wrk "http://127.0.0.1:$fast_port/?delay_ms=0" 64 "$fast_pid")
printf 'root on one thread, %d fast leaves, wrk -c 64: %s req/s, errors %s, root CPU %s us per' \
  "$shards" "$rps" "$errors" "$root_us"
printf ' request (%s us per leaf request)\n' \
  "$(awk -v u="$root_us" -v s="$shards" 'BEGIN { printf "%.2f", u / s }')"
echo "CPU stolen by the host during these runs: $(steal_since)%"
