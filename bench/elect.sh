#!/usr/bin/env bash
# Failover of `tender elect`, both backends, against the bounds of client-go's defaults and of
# the Kubernetes leader-elector sidecar.
#
# For each backend (file: a lock file in a temporary directory; etcd: a one-member etcd 3.4
# started here on free loopback ports, its data in a temporary directory), three electors with
# --ttl 2s, and bench/elect_failover.py alternating trials: graceful (SIGTERM to the leader,
# which resigns before it exits) and crash (SIGKILL, at a random phase of the leader's
# renewals). A trial's failover is the time from the signal to the arrival of a survivor's
# /v1/watch event saying self=true with a larger token (server-sent events, timestamped as they
# arrive: sub-millisecond error). The killed elector is started again and the three settle
# before the next trial. After the trials: VmRSS and VmHWM of a leader and of a follower.
#
# Prints one table, backend x mode, p50 / p99 / max, beside client-go's default bound (15 s
# lease + 2 s retry period: 17 s worst case) and the leader-elector sidecar's documented 30-40 s,
# with the ratios; then the targets, PASS or MISS: graceful p50 <= 100 ms, crash p99 <= ttl +
# 300 ms, RSS (VmHWM) <= 8 MiB.
#
#   bench/elect.sh [--trials N] [--backends file,etcd] [--ttl 2s] [--check]
#     default: 50 trials of each mode per backend, about 4.5 minutes in all; TRIALS=5 (or
#     --trials 5) for a smoke run of about 35 s. --check: exit 1 when a target is missed.
#     KEEP=1 keeps the work directory (the electors' logs, the per-trial JSON) and says where.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
build=${BUILD_DIR:-$here/../build}
tender=${TENDER:-$build/src/tender}

trials=${TRIALS:-50}
backends=file,etcd
ttl=2s
check=
while [ $# -gt 0 ]; do
  case $1 in
    --trials) trials=$2; shift ;;
    --backends) backends=$2; shift ;;
    --ttl) ttl=$2; shift ;;
    --check) check=--check ;;
    *) echo "unknown argument $1 (see the comment at the top of $0)" >&2; exit 2 ;;
  esac
  shift
done

for tool in etcd etcdctl python3 ss curl; do
  command -v "$tool" >/dev/null || { echo "$tool missing: tools/install-deps.sh" >&2; exit 1; }
done
[ -x "$tender" ] || { echo "build tender first (tools/build.sh)" >&2; exit 1; }

bench_workdir
# An election name no one else uses: the clean-up below kills only electors whose command line
# carries it (their pids are in $work/electors.pids, appended by elect_failover.py).
election=bench-$$-$RANDOM
cleanup() {
  local p
  if [ -f "$work/electors.pids" ]; then
    while read -r p; do
      if grep -qF "$election" "/proc/$p/cmdline" 2>/dev/null; then
        kill -9 "$p" 2>/dev/null || true
      fi
    done <"$work/electors.pids"
  fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${KEEP:-}" ]; then
    echo "work directory kept: $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_etcd: a one-member etcd on two free loopback ports; sets $etcd_port.
start_etcd() {
  etcd_port=$(free_port)
  local peer
  peer=$(free_port)
  while [ "$peer" = "$etcd_port" ]; do peer=$(free_port); done
  etcd --name bench --data-dir "$work/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" \
    --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$peer" \
    --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "bench=http://127.0.0.1:$peer" \
    --listen-metrics-urls "" >"$work/etcd.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 500); do
    if ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$etcd_port" endpoint health >/dev/null 2>&1
    then
      return 0
    fi
    sleep 0.02
  done
  echo "etcd did not become healthy:" >&2
  tail -20 "$work/etcd.log" >&2
  exit 1
}

# etcd_fsyncs: one line on etcd's WAL fsyncs so far (every write it acknowledges waits for one:
# a candidacy, a resignation), from its /metrics histogram.
etcd_fsyncs() {
  curl -sf "http://127.0.0.1:$etcd_port/metrics" | awk '
    /^etcd_disk_wal_fsync_duration_seconds_bucket/ {
      match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5)
      if (le == "0.032") b32 = $NF
      if (le == "0.064") b64 = $NF
      if (le != "+Inf" && $NF > prev) { top = le; prev = $NF }
    }
    /^etcd_disk_wal_fsync_duration_seconds_sum/ { sum = $NF }
    /^etcd_disk_wal_fsync_duration_seconds_count/ { n = $NF }
    END {
      printf "etcd: %d WAL fsyncs during its run, mean %.1f ms, %d over 32 ms, %d over 64 ms," \
        " the slowest <= %s s\n", n, (n > 0 ? sum * 1000 / n : 0), n - b32, n - b64, top
    }'
}

echo "tender elect failover: 3 electors, --ttl $ttl, $trials trials per mode and backend;" \
  "$("$tender" version 2>/dev/null | head -1); $(etcd --version | head -1);" \
  "load average $(cut -d' ' -f1-3 /proc/loadavg)"
steal_mark
results=()
IFS=, read -ra wanted <<<"$backends"
for b in "${wanted[@]}"; do
  case $b in
    file) url="file:$work/leader.lock" ;;
    etcd)
      start_etcd
      url="etcd://127.0.0.1:$etcd_port"
      ;;
    *) echo "unknown backend $b (file or etcd)" >&2; exit 2 ;;
  esac
  echo "$b: $url" >&2
  python3 "$here/elect_failover.py" run --tender "$tender" --backend "$url" --label "$b" \
    --election "$election" --work "$work" --ttl "$ttl" --trials "$trials" \
    --out "$work/$b.json" &
  pids+=($!)
  wait $! || { echo "$b: the benchmark failed (logs: KEEP=1 $0 ...)" >&2; exit 1; }
  results+=("$work/$b.json")
  if [ "$b" = etcd ]; then etcd_fsyncs >"$work/etcd.fsyncs" || true; fi
done
echo
rc=0
python3 "$here/elect_failover.py" report --ttl "$ttl" $check "${results[@]}" || rc=$?
[ -f "$work/etcd.fsyncs" ] && cat "$work/etcd.fsyncs"
echo "CPU steal during the run: $(steal_since)%; load average now" \
  "$(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
exit "$rc"
