#!/usr/bin/env bash
# tender queue against beanstalkd and Redis Streams, side by side in one run.
#
# bench_queue_load (bench/queue_load.cpp) drives each server from 127.0.0.1: 16 producers
# enqueue 1 KiB items, each waiting for its answer before the next, while 16 consumers lease one
# item at a time (long-polling up to 1 s) and acknowledge it, every thread on its own
# connection. items/s is end to end: items enqueued, consumed and acknowledged, from the start
# until the last acknowledgement. Every item enqueued must come out intact, or the run fails.
#
#   durable (answered only once on disk):
#     tender queue --store sqlite:DIR/q.db     (group commit: one fsync for many writes)
#     beanstalkd -b DIR -f0                    (fsync after every binlog write)
#     redis-server --appendonly yes --appendfsync always, XADD / XREADGROUP / XACK
#   not durable:
#     tender queue --store memory   vs   beanstalkd (no -b)   vs   redis-server without AOF
#
# Per system: items/s; enqueue latency p50 and p99; the server's CPU time per item (user +
# system, all its threads: steadier than items/s on a busy machine); its RSS at the end of the
# run (tender keeps done items for `retention`, 10 min by default, and Redis keeps acknowledged
# stream entries, XACK only clearing the pending list); for the durable ones, fsyncs and items
# per fsync. tender's count is its commit counter on the admin /metrics over the measured run;
# the peers' is counted by `strace -f -c` attached during a separate, shorter run (strace slows
# the server, so that run is not timed); tender gets such a run too, as a cross-check of its
# counter. Ratios tender/beanstalkd and tender/redis are medians of the rounds' ratios (the
# systems alternate within a round); targets, printed PASS/FAIL: durable >= 3x beanstalkd -f0
# and >= 1x Redis always; not durable >= 1x beanstalkd. Every server runs with its defaults
# otherwise (tender: 1 HTTP thread), unpinned, with the load generator beside it.
#
#   bench/queue.sh [--duration S] [--items N] [--rounds R] [--producers P] [--consumers C]
#                  [--strace-duration S]
#     default: 6 s of enqueueing per run (the consumers then drain), 3 rounds, 16 + 16,
#     3 s strace runs; about 3.5 minutes in all.
#
#   bench/queue.sh churn [--duration S] [--every S] [--retention 5s] [--backlog 1000]
#     enqueue/ack churn against tender sqlite for 120 s (default) with acknowledged items
#     forgotten after `retention` (config file), producers holding back while `backlog` items
#     are not yet acknowledged (so that the queue reaches a steady state); prints the
#     database's size (q.db, q.db-wal) and the queue's ready and done counts every 10 s. PASS
#     when the size at the end is within 20% of the size at half time.
#
# The directory the stores write to is $TMPDIR (or /tmp): put it on the disk to measure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
build=${BUILD_DIR:-$here/../build}
tender=${TENDER:-$build/src/tender}
load=$build/bench/bench_queue_load
# tender's durable commits (one fsync each), from its admin /metrics.
commits_metric=tender_queue_store_commits_total
writes_metric=tender_queue_store_writes_total

mode=compare
if [ "${1:-}" = churn ]; then
  mode=churn
  shift
fi
duration=6
items=
rounds=3
producers=16
consumers=16
strace_duration=3
every=10
retention=5s
backlog=1000
[ "$mode" = churn ] && duration=120
while [ $# -gt 0 ]; do
  case $1 in
    --duration) duration=$2 ;;
    --items) items=$2 ;;
    --rounds) rounds=$2 ;;
    --producers) producers=$2 ;;
    --consumers) consumers=$2 ;;
    --strace-duration) strace_duration=$2 ;;
    --every) every=$2 ;;
    --retention) retention=$2 ;;
    --backlog) backlog=$2 ;;
    *) echo "unknown argument $1 (see the comment at the top of $0)" >&2; exit 2 ;;
  esac
  shift 2
done

for tool in beanstalkd redis-server strace curl; do
  command -v "$tool" >/dev/null || { echo "$tool missing: tools/install-deps.sh" >&2; exit 1; }
done
[ -x "$tender" ] || { echo "build tender first (tools/build.sh)" >&2; exit 1; }
[ -d "$build" ] || { echo "configure first (tools/build.sh)" >&2; exit 1; }
cmake --build "$build" -j"${JOBS:-2}" --target bench_queue_load >/dev/null

bench_workdir

# start SYSTEM: starts SYSTEM on a free port with its files in $work/SYSTEM (made afresh);
# sets $srv_pid, $srv_port, $proto (and $admin_port for tender). Waits until it accepts.
start() {
  local system=$1 dir=$work/$1
  rm -rf "$dir"
  mkdir -p "$dir"
  srv_port=$(free_port)
  admin_port=
  case $system in
    tender-sqlite | tender-memory | tender-churn)
      proto=tender
      admin_port=$(free_port)
      while [ "$admin_port" = "$srv_port" ]; do admin_port=$(free_port); done
      local store=memory config=()
      [ "$system" != tender-memory ] && store=sqlite:$dir/q.db
      if [ "$system" = tender-churn ]; then
        printf 'retention: %s\n' "$retention" >"$work/churn.yaml"
        config=(--config "$work/churn.yaml")
      fi
      "$tender" queue --listen "127.0.0.1:$srv_port" --admin "127.0.0.1:$admin_port" \
        --store "$store" "${config[@]}" --log-level warn >"$dir/log" 2>&1 &
      ;;
    beanstalkd-f0)
      proto=beanstalk
      beanstalkd -l 127.0.0.1 -p "$srv_port" -b "$dir" -f0 >"$dir/log" 2>&1 &
      ;;
    beanstalkd-mem)
      proto=beanstalk
      beanstalkd -l 127.0.0.1 -p "$srv_port" >"$dir/log" 2>&1 &
      ;;
    redis-always)
      proto=redis
      redis-server --port "$srv_port" --bind 127.0.0.1 --dir "$dir" --save '' \
        --appendonly yes --appendfsync always >"$dir/log" 2>&1 &
      ;;
    redis-mem)
      proto=redis
      redis-server --port "$srv_port" --bind 127.0.0.1 --dir "$dir" --save '' \
        --appendonly no >"$dir/log" 2>&1 &
      ;;
  esac
  srv_pid=$!
  pids+=("$srv_pid")
  if ! wait_port "$srv_port" || { [ -n "$admin_port" ] && ! wait_port "$admin_port"; }; then
    echo "$system did not start:" >&2
    cat "$dir/log" >&2
    exit 1
  fi
}

stop() {
  kill "$srv_pid" 2>/dev/null || true
  wait "$srv_pid" 2>/dev/null || true
}

# run_load ARGS...: runs the load generator against the started system; prints its RESULT
# line's fields, or fails the benchmark with the generator's message.
run_load() {
  local out
  if ! out=$("$load" --proto "$proto" --port "$srv_port" --producers "$producers" \
    --consumers "$consumers" "$@" 2>&1); then
    echo "$system: the load generator failed:" >&2
    echo "$out" >&2
    echo "server log ($work/$system/log):" >&2
    tail -20 "$work/$system/log" >&2
    exit 1
  fi
  awk '$1 == "RESULT" { $1 = ""; print }' <<<"$out"
}

# field NAME "k=v ...": the value of NAME.
field() { tr ' ' '\n' <<<"$2" | awk -F= -v k="$1" '$1 == k { print $2 }'; }

# The sum of a counter (all its label sets) on tender's admin /metrics.
tender_counter() {
  curl -sf "http://127.0.0.1:$admin_port/metrics" |
    awk -v m="$1" '$1 == m || index($1, m "{") == 1 { n += $NF } END { print n + 0 }'
}
tender_commits() { tender_counter "$commits_metric"; }

# strace_run: fsync + fdatasync calls of the running server during a run of
# $strace_duration s; sets $st_items and $st_syncs (and $st_commits, tender's counter).
# strace -c counts calls, not time: its own cost slows the server, not the count's meaning.
strace_run() {
  strace -f -c -e trace=fsync,fdatasync -o "$work/strace.txt" -p "$srv_pid" 2>/dev/null &
  local spid=$!
  for _ in $(seq 1 500); do
    [ "$(awk '/^TracerPid:/ { print $2 }' "/proc/$srv_pid/status")" != 0 ] && break
    sleep 0.01
  done
  local r before=0
  [ "$proto" = tender ] && before=$(tender_commits)
  r=$(run_load --duration "$strace_duration" --queue strace)
  kill -INT "$spid"
  wait "$spid" 2>/dev/null || true
  st_commits=-
  [ "$proto" = tender ] && st_commits=$(($(tender_commits) - before))
  st_items=$(field items "$r")
  st_syncs=$(awk '$NF == "fsync" || $NF == "fdatasync" { n += $4 } END { print n + 0 }' \
    "$work/strace.txt")
}

# ratio A B
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END {
  printf "%s", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
verdict() { awk -v r="$1" -v t="$2" 'BEGIN { print (r >= t ? "PASS" : "FAIL") }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

if [ "$mode" = churn ]; then
  system="tender-churn"
  start tender-churn
  echo "churn: tender queue --store sqlite, retention $retention, $producers producers +" \
    "$consumers consumers, at most $backlog items not yet acknowledged, ${duration} s;" \
    "database size every ${every} s"
  printf '%8s %10s %10s %10s %8s %8s\n' "seconds" "q.db KiB" "wal KiB" "total KiB" ready "done"
  db=$work/tender-churn/q.db
  size_kib() { if [ -f "$1" ]; then echo $(($(stat -c %s "$1") / 1024)); else echo 0; fi; }
  count() { grep -o "\"$1\":[0-9]*" <<<"$2" | head -1 | cut -d: -f2; }
  sample() {
    local a b q
    a=$(size_kib "$db")
    b=$(size_kib "$db-wal")
    q=$(curl -s "http://127.0.0.1:$srv_port/v1/queues/bench" || true)
    printf '%8s %10s %10s %10s %8s %8s\n' "$1" "$a" "$b" $((a + b)) "$(count ready "$q")" \
      "$(count "done" "$q")"
    echo $((a + b)) >>"$work/sizes"
  }
  run_load --duration "$duration" --max-backlog "$backlog" >"$work/churn.result" &
  lpid=$!
  t=0
  half=
  while kill -0 "$lpid" 2>/dev/null; do
    sleep "$every"
    t=$((t + every))
    sample "$t"
    [ -z "$half" ] && [ "$t" -ge $((duration / 2)) ] && half=$(tail -1 "$work/sizes")
  done
  wait "$lpid" || exit 1
  r=$(cat "$work/churn.result")
  end=$(tail -1 "$work/sizes")
  echo "$(field items "$r") items at $(field items_per_s "$r") items/s, all consumed;" \
    "RSS $(mib "$(rss_kib "$srv_pid")") MiB"
  echo "size at half time ${half:-?} KiB, at the end $end KiB:" \
    "$(awk -v h="${half:-0}" -v e="$end" \
      'BEGIN { print (h > 0 && e <= h * 1.2 ? "PASS (flat)" : "FAIL (grows)") }')"
  stop
  exit 0
fi

if [ -n "$items" ]; then
  load_args=(--items "$items")
  what="$items items"
else
  load_args=(--duration "$duration")
  what="${duration} s of enqueueing"
fi
systems=(tender-sqlite beanstalkd-f0 redis-always tender-memory beanstalkd-mem redis-mem)
declare -A rate cpus p50 p99 rss syncs synced_items writes rates
declare -A st_syncs_of st_items_of st_commits_of
echo "queue: $producers producers + $consumers consumers, 1 KiB items, $what per run," \
  "$rounds round(s); stores under ${TMPDIR:-/tmp}; $("$tender" version 2>/dev/null | head -1);" \
  "load average $(cut -d' ' -f1-3 /proc/loadavg)"
steal_mark
for round in $(seq 1 "$rounds"); do
  for system in "${systems[@]}"; do
    start "$system"
    before=0
    wbefore=0
    if [ "$proto" = tender ]; then
      before=$(tender_commits)
      wbefore=$(tender_counter "$writes_metric")
    fi
    ticks=$(cpu_ticks "$srv_pid")
    r=$(run_load "${load_args[@]}")
    ticks=$(($(cpu_ticks "$srv_pid") - ticks))
    cpus[$system]="${cpus[$system]:-} $(per_request "$ticks" "$srv_pid" "$(field items "$r")")"
    rates[$system]="${rates[$system]:-} $(field items_per_s "$r")"
    p50[$system]="${p50[$system]:-} $(field enq_p50_ms "$r")"
    p99[$system]="${p99[$system]:-} $(field enq_p99_ms "$r")"
    rss[$system]=$(rss_kib "$srv_pid")
    if [ "$proto" = tender ]; then
      syncs[$system]=$(($(tender_commits) - before))
      synced_items[$system]=$(field items "$r")
      writes[$system]=$(($(tender_counter "$writes_metric") - wbefore))
    fi
    printf '  round %s %-15s %8s items/s  p99 %7s ms  (%s items)\n' "$round" "$system" \
      "$(field items_per_s "$r")" "$(field enq_p99_ms "$r")" "$(field items "$r")"
    if [ "$round" = "$rounds" ] && [[ $system =~ -(sqlite|f0|always)$ ]]; then
      strace_run
      st_syncs_of[$system]=$st_syncs
      st_items_of[$system]=$st_items
      st_commits_of[$system]=$st_commits
    fi
    stop
  done
done
for system in "${systems[@]}"; do
  rate[$system]=$(median <<<"${rates[$system]}")
done

# The rounds' ratios of tender's items/s ($1) to a peer's ($2), one per round.
round_ratios() {
  local a b i out=""
  read -ra a <<<"$1"
  read -ra b <<<"$2"
  for i in "${!a[@]}"; do out="$out $(ratio "${a[$i]}" "${b[$i]}")"; done
  echo "$out"
}

print_group() {
  local title=$1
  shift
  echo
  echo "$title"
  printf '  %-34s %8s %7s %7s %8s %8s %7s %11s  %s\n' system items/s "p50 ms" "p99 ms" \
    "CPU us" "RSS MiB" fsyncs items/fsync "fsyncs counted by"
  local s label n it src per
  for s in "$@"; do
    case $s in
      tender-sqlite) label="tender queue --store sqlite" ;;
      tender-memory) label="tender queue --store memory" ;;
      beanstalkd-f0) label="beanstalkd -b DIR -f0" ;;
      beanstalkd-mem) label="beanstalkd (no binlog)" ;;
      redis-always) label="redis streams, appendfsync always" ;;
      redis-mem) label="redis streams, no AOF" ;;
    esac
    n=- it=- src=-
    if [ -n "${syncs[$s]:-}" ]; then
      n=${syncs[$s]}
      it=${synced_items[$s]}
      src="tender /metrics $commits_metric, measured run"
    elif [ -n "${st_syncs_of[$s]:-}" ]; then
      n=${st_syncs_of[$s]}
      it=${st_items_of[$s]}
      src="strace -f -c, separate ${strace_duration} s run of $it items"
    fi
    per=-
    if [ "$n" != - ] && [ "$n" != 0 ]; then
      per=$(ratio "$it" "$n")
    fi
    printf '  %-34s %8.0f %7s %7s %8s %8s %7s %11s  %s\n' "$label" "${rate[$s]}" \
      "$(median <<<"${p50[$s]}" | xargs printf %.2f)" \
      "$(median <<<"${p99[$s]}" | xargs printf %.2f)" "$(median <<<"${cpus[$s]}")" \
      "$(mib "${rss[$s]}")" "$n" \
      "$per" "$src"
  done
}

print_group "durable (answered once fsynced)" tender-sqlite beanstalkd-f0 redis-always
print_group "not durable" tender-memory beanstalkd-mem redis-mem
echo
echo "tender sqlite, last measured run: ${writes[tender-sqlite]} durable writes for" \
  "${synced_items[tender-sqlite]} items ($(ratio "${writes[tender-sqlite]}" \
  "${synced_items[tender-sqlite]}") per item: the enqueue and the ack; a lease acked within" \
  "200 ms is never written) in ${syncs[tender-sqlite]}" \
  "commits ($(ratio "${writes[tender-sqlite]}" "${syncs[tender-sqlite]}") writes per commit)"
echo "cross-check under strace (${strace_duration} s, ${st_items_of[tender-sqlite]} items):" \
  "tender made ${st_syncs_of[tender-sqlite]} fsync/fdatasync calls for" \
  "${st_commits_of[tender-sqlite]} counted commits (WAL syncs plus checkpoints'; batches are" \
  "smaller there, the server being slowed)"

echo
# compare LABEL PEER TARGET: the median of the rounds' ratios, and each round's.
compare() {
  local rs m
  rs=$(round_ratios "${rates[$1]}" "${rates[$2]}")
  m=$(median <<<"$rs")
  local target="no target"
  [ -n "$4" ] && target="target >= ${4}x $(verdict "$m" "$4")"
  printf '%-36s %5.2fx  %-22s (rounds:%s)\n' "$3" "$m" "$target" "$rs"
}
compare tender-sqlite beanstalkd-f0 "durable: tender/beanstalkd -f0" 3
compare tender-sqlite redis-always "durable: tender/redis always" 1
compare tender-memory beanstalkd-mem "not durable: tender/beanstalkd" 1
compare tender-memory redis-mem "not durable: tender/redis" ""
echo "CPU steal during the run: $(steal_since)%; load average now" \
  "$(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs (other work on the machine makes every" \
  "number lower and noisier)"
