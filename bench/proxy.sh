#!/usr/bin/env bash
# tender proxy against its peers, side by side in one run.
#
# HTTP: wrk (64 keep-alive connections, pinned to CPU 1) to `tender echo` through tender proxy
# (1 worker) vs through HAProxy 2.6 (nbthread 1, http-reuse always) vs direct; proxies pinned to
# CPU 0 with the backend. Target: tender >= 1.2x HAProxy's requests/s with p99 no worse.
#
# Redis: tender proxy against nutcracker (twemproxy): both shard with ketama
# over FNV-1a 64 across the same two redis-server instances, and redis-benchmark drives each
# (`-t get,set -c 50`, pipelining 1 and 16). tender runs 2 workers with `busy_poll: 20us`
# (TENDER_BUSY_POLL; docs/proxy.md, "Busy polling"); nutcracker has one thread. At P=1 a
# second tender with the default `busy_poll: 0` runs in the same rounds. Targets: >= 1.0x
# nutcracker's requests/s at P=1, >= 2x at P=16. Then, for where the time goes at P=1, the
# commands each redis-server read() brings in behind each proxy (and behind tenders with 1
# worker and with busy_poll 0), and the CPU time per request of the proxy and of the servers:
# steadier than requests/s on a busy machine (medians of BENCH_WHERE_ROUNDS, default 3). Also
# tender's RSS idle and with 1,000 open client connections (target: idle <= 8 MB).
#
# This machine's numbers move by 10-30% from one run to the next (and by up to 1.5x within
# minutes), so each comparison runs several rounds, tender and its peer alternating, and the
# ratio reported is the median of the rounds' ratios: BENCH_HTTP_ROUNDS (default 9) wrk runs
# of BENCH_DURATION seconds (default 5) each, BENCH_ROUNDS (default 5) for each redis test.
#
#   bench/proxy.sh [requests]     # default 200000 per redis test
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
tender=${TENDER:-$here/../build/src/tender}
requests=${1:-200000}
for tool in redis-server redis-benchmark nutcracker haproxy wrk taskset; do
  command -v "$tool" >/dev/null || { echo "$tool missing: tools/install-deps.sh" >&2; exit 1; }
done
[ -x "$tender" ] || { echo "build tender first (tools/build.sh)" >&2; exit 1; }

bench_workdir

# --- HTTP -------------------------------------------------------------------------------------
ep=$(free_port)
taskset -c 0 "$tender" echo --listen "127.0.0.1:$ep" --admin 127.0.0.1:0 --threads 1 \
  --log-level warn >/dev/null 2>&1 &
pids+=($!)
echo_pid=$!
hp=$(free_port)
cat >"$work/http.yaml" <<YAML
workers: 1
listeners:
  - {name: web, listen: "127.0.0.1:$hp", protocol: http, cluster: web}
clusters:
  - {name: web, endpoints: ["127.0.0.1:$ep"]}
YAML
taskset -c 0 "$tender" proxy --config "$work/http.yaml" --admin 127.0.0.1:0 --log-level warn \
  >/dev/null 2>&1 &
pids+=($!)
http_tender_pid=$!
xp=$(free_port)
cat >"$work/haproxy.cfg" <<CFG
global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 1s
  timeout client 30s
  timeout server 30s
  http-reuse always
  # tender sends X-Forwarded-For upstream; so does HAProxy here, so that the backend gets the
  # same request (and echoes the same answer) through both.
  option forwardfor
frontend web
  bind 127.0.0.1:$xp
  default_backend echo
backend echo
  server e1 127.0.0.1:$ep
CFG
taskset -c 0 haproxy -f "$work/haproxy.cfg" -db >/dev/null 2>&1 &
pids+=($!)
haproxy_pid=$!
wait_port "$ep"; wait_port "$hp"; wait_port "$xp"
rounds=${BENCH_ROUNDS:-5}
http_rounds=${BENCH_HTTP_ROUNDS:-9}
export BENCH_DURATION=${BENCH_DURATION:-5}
# The median of numbers given one per line.
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
steal_mark
read -r direct_rps direct_p99 _ _ direct_echo_us < <(run_wrk "http://127.0.0.1:$ep/" 64 "" "$echo_pid")
printf '%-26s %12s %10s %8s %10s %9s\n' "http, wrk -c 64" "req/s" "p99 ms" "errors" "proxy us" "echo us"
printf '%-26s %12s %10s %8s %10s %9s\n' "direct to tender echo" "$direct_rps" "$direct_p99" "-" "-" \
  "$direct_echo_us"
http_ratios=() tender_cpu=() haproxy_cpu=() tender_p99s=() haproxy_p99s=() echo_cpu=()
for round in $(seq 1 "$http_rounds"); do
  # Alternate which goes first, so that drift in the machine favours neither.
  if [ $((round % 2)) = 1 ]; then
    read -r tender_rps tender_p99 tender_err tender_us tender_echo_us \
      < <(run_wrk "http://127.0.0.1:$hp/" 64 "$http_tender_pid" "$echo_pid")
    read -r haproxy_rps haproxy_p99 haproxy_err haproxy_us haproxy_echo_us \
      < <(run_wrk "http://127.0.0.1:$xp/" 64 "$haproxy_pid" "$echo_pid")
  else
    read -r haproxy_rps haproxy_p99 haproxy_err haproxy_us haproxy_echo_us \
      < <(run_wrk "http://127.0.0.1:$xp/" 64 "$haproxy_pid" "$echo_pid")
    read -r tender_rps tender_p99 tender_err tender_us tender_echo_us \
      < <(run_wrk "http://127.0.0.1:$hp/" 64 "$http_tender_pid" "$echo_pid")
  fi
  printf '%-26s %12s %10s %8s %10s %9s\n' "round $round: tender proxy" "$tender_rps" "$tender_p99" \
    "$tender_err" "$tender_us" "$tender_echo_us"
  printf '%-26s %12s %10s %8s %10s %9s\n' "round $round: haproxy" "$haproxy_rps" "$haproxy_p99" \
    "$haproxy_err" "$haproxy_us" "$haproxy_echo_us"
  http_ratios+=("$(awk -v a="$tender_rps" -v b="$haproxy_rps" 'BEGIN { printf "%.2f", a / b }')")
  tender_cpu+=("$tender_us") haproxy_cpu+=("$haproxy_us")
  echo_cpu+=("$tender_echo_us" "$haproxy_echo_us")
  tender_p99s+=("$tender_p99") haproxy_p99s+=("$haproxy_p99")
done
printf 'tender / haproxy by round: %s; median %s (target >= 1.2, p99 no worse)\n' \
  "${http_ratios[*]}" "$(printf '%s\n' "${http_ratios[@]}" | median)"
printf 'medians: p99 ms tender %s, haproxy %s; proxy CPU us per request tender %s, haproxy %s\n' \
  "$(printf '%s\n' "${tender_p99s[@]}" | median)" "$(printf '%s\n' "${haproxy_p99s[@]}" | median)" \
  "$(printf '%s\n' "${tender_cpu[@]}" | median)" "$(printf '%s\n' "${haproxy_cpu[@]}" | median)"
printf 'median CPU us per request of the echo backend (both proxies): %s\n' \
  "$(printf '%s\n' "${echo_cpu[@]}" | median)"
printf 'CPU stolen by the host during the http rounds: %s%%\n\n' "$(steal_since)"

# --- Redis ------------------------------------------------------------------------------------
r1=$(free_port); r2=$(free_port)
for p in "$r1" "$r2"; do
  redis-server --port "$p" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
    --loglevel warning >/dev/null &
  pids+=($!)
  redis_pids+=($!)
done
wait_port "$r1"; wait_port "$r2"

tp=$(free_port)
cat >"$work/proxy.yaml" <<YAML
workers: ${TENDER_WORKERS:-2}
busy_poll: ${TENDER_BUSY_POLL:-20us}
listeners:
  - {name: cache, listen: "127.0.0.1:$tp", protocol: redis, cluster: shards}
clusters:
  - name: shards
    endpoints: ["127.0.0.1:$r1", "127.0.0.1:$r2"]
    policy: ring_hash
    hash: fnv1a_64
YAML
"$tender" proxy --config "$work/proxy.yaml" --admin 127.0.0.1:0 --log-level warn \
  >"$work/tender.out" 2>&1 &
tender_pid=$!
pids+=("$tender_pid")

# The same with one worker, for where the servers' time goes (below).
t1=$(free_port)
sed -e "s/^workers: .*/workers: 1/" -e "s/:$tp\"/:$t1\"/" "$work/proxy.yaml" >"$work/proxy1.yaml"
"$tender" proxy --config "$work/proxy1.yaml" --admin 127.0.0.1:0 --log-level warn \
  >"$work/tender1.out" 2>&1 &
pids+=($!)
tender1_pid=$!

# The same with busy polling off (the default), for P=1.
t0=$(free_port)
sed -e "s/^busy_poll: .*/busy_poll: 0/" -e "s/:$tp\"/:$t0\"/" "$work/proxy.yaml" >"$work/proxy0.yaml"
"$tender" proxy --config "$work/proxy0.yaml" --admin 127.0.0.1:0 --log-level warn \
  >"$work/tender0.out" 2>&1 &
pids+=($!)
tender0_pid=$!

np=$(free_port)
start_nutcracker "$np" "$r1" "$r2"
wait_port "$tp"; wait_port "$t1"; wait_port "$t0"; wait_port "$np"
sleep 0.3
idle_kib=$(rss_kib "$tender_pid")

# requests/s of one redis-benchmark test (get or set) against a port.
rps() {
  local out r
  out=$(redis-benchmark -h 127.0.0.1 -p "$1" -t "$2" -c 50 -n "$requests" -P "$3" -r 100000 \
    --csv 2>"$work/redis-benchmark.err") || true
  r=$(awk -F'","' 'NR > 1 { gsub(/"/, "", $2); print int($2); exit }' <<<"$out")
  if [ -z "$r" ] || [ "$r" = 0 ]; then
    echo "redis-benchmark -p $1 -t $2 -P $3 failed: $out $(tail -3 "$work/redis-benchmark.err")" >&2
    for f in "$work"/*.out "$work"/nutcracker.log; do
      [ -s "$f" ] && { echo "--- $f" >&2; tail -5 "$f" >&2; }
    done
    exit 1
  fi
  echo "$r"
}

steal_mark
printf '%-18s %26s %26s %14s %8s\n' "test" "tender req/s by round" "nutcracker req/s" \
  "median ratio" "target"
for P in 1 16; do
  target=$([ "$P" = 1 ] && echo ">= 1.0" || echo ">= 2.0")
  for t in set get; do
    as=() bs=() cs=() ratios=() ratios0=()
    for round in $(seq 1 "$rounds"); do
      if [ $((round % 2)) = 1 ]; then
        a=$(rps "$tp" "$t" "$P")
        b=$(rps "$np" "$t" "$P")
        if [ "$P" = 1 ]; then c=$(rps "$t0" "$t" "$P"); fi
      else
        if [ "$P" = 1 ]; then c=$(rps "$t0" "$t" "$P"); fi
        b=$(rps "$np" "$t" "$P")
        a=$(rps "$tp" "$t" "$P")
      fi
      as+=("$a") bs+=("$b")
      ratios+=("$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", a / b }')")
      if [ "$P" = 1 ]; then
        cs+=("$c")
        ratios0+=("$(awk -v a="$c" -v b="$b" 'BEGIN { printf "%.2f", a / b }')")
      fi
    done
    printf '%-18s %26s %26s %14s %8s\n' "$t -c 50 -P $P" "${as[*]}" "${bs[*]}" \
      "$(printf '%s\n' "${ratios[@]}" | median) (${ratios[*]})" "$target"
    if [ "$P" = 1 ]; then
      printf '%-18s %26s %26s %14s\n' "  busy_poll 0" "${cs[*]}" "(same rounds)" \
        "$(printf '%s\n' "${ratios0[@]}" | median) (${ratios0[*]})"
    fi
  done
done
echo "CPU stolen by the host during the redis rounds: $(steal_since)%"

# Where the time goes at P=1, over GET runs through each proxy: the commands each redis-server
# read() brings in (its read calls from /proc/PID/io, its commands from INFO), and the CPU time
# per request of the proxy and of the two servers (user + system, /proc/PID/stat). Medians of
# BENCH_WHERE_ROUNDS (default 3) rounds, each starting with the next proxy in turn.
server_reads() {
  local n=0 p
  for p in "${redis_pids[@]}"; do n=$((n + $(awk '/^syscr/ { print $2 }' "/proc/$p/io"))); done
  echo "$n"
}
server_commands() {
  local n=0 p
  for p in "$r1" "$r2"; do
    n=$((n + $(redis-cli -p "$p" info stats | awk -F: '/^total_commands_processed/ { print $2 + 0 }')))
  done
  echo "$n"
}
# One GET run through the proxy at port $1 (pid $2): commands per server read, then the proxy's
# and the servers' CPU microseconds per request.
where_time_goes() {
  local reads commands proxy servers
  reads=$(server_reads); commands=$(server_commands)
  proxy=$(cpu_ticks "$2"); servers=$(cpu_ticks "${redis_pids[@]}")
  rps "$1" get 1 >/dev/null
  awk -v c=$(($(server_commands) - commands)) -v r=$(($(server_reads) - reads)) \
    -v p=$(($(cpu_ticks "$2") - proxy)) -v s=$(($(cpu_ticks "${redis_pids[@]}") - servers)) \
    -v n="$requests" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "%.2f %.1f %.1f\n", c / r, p * 1e6 / hz / n, s * 1e6 / hz / n }'
}
where_names=("tender" "tender 1 worker" "tender busy_poll 0" "nutcracker")
where_ports=("$tp" "$t1" "$t0" "$np")
where_pids=("$tender_pid" "$tender1_pid" "$tender0_pid" "$nutcracker_pid")
where_c=("" "" "" "") where_p=("" "" "" "") where_s=("" "" "" "")
for round in $(seq 1 "${BENCH_WHERE_ROUNDS:-3}"); do
  for k in 0 1 2 3; do
    i=$(((k + round - 1) % 4))
    read -r c p s < <(where_time_goes "${where_ports[$i]}" "${where_pids[$i]}")
    where_c[i]+="$c " where_p[i]+="$p " where_s[i]+="$s "
  done
done
col_median() { tr ' ' '\n' <<<"$1" | grep . | median; }
echo
printf '%-24s %10s %10s %10s\n' "get -c 50 -P 1" "cmds/read" "proxy us" "servers us"
for i in 0 1 2 3; do
  printf '%-24s %10s %10s %10s\n' "${where_names[$i]}" "$(col_median "${where_c[$i]}")" \
    "$(col_median "${where_p[$i]}")" "$(col_median "${where_s[$i]}")"
done
echo "(medians of ${BENCH_WHERE_ROUNDS:-3} rounds: commands per redis-server read; CPU time per"
echo " request of the proxy and of both servers)"
for i in 0 1 2 3; do
  printf '  proxy us by round, %s: %s\n' "${where_names[$i]}" "${where_p[$i]% }"
done

# 1,000 idle client connections held open.
redis-benchmark -h 127.0.0.1 -p "$tp" -c 1000 -I >/dev/null 2>&1 &
idle_clients=$!
for _ in $(seq 1 500); do
  conns=$(ss -Htn state established "sport = :$tp" | wc -l)
  [ "$conns" -ge 1000 ] && break
  sleep 0.02
done
sleep 0.3
busy_kib=$(rss_kib "$tender_pid")
kill "$idle_clients" 2>/dev/null || true
echo
printf '%-40s %10s %8s\n' "tender proxy memory" "MiB" "target"
printf '%-40s %10s %8s\n' "RSS idle (2 workers)" "$(awk -v k="$idle_kib" 'BEGIN { printf "%.1f", k / 1024 }')" "<= 8"
printf '%-40s %10s %8s\n' "RSS with $conns client connections" "$(awk -v k="$busy_kib" 'BEGIN { printf "%.1f", k / 1024 }')" ""
