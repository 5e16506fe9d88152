#!/usr/bin/env bash
# The pod runner's own costs: supervisor memory with 20 containers, crash-to-restart latency
# with backoff disabled, time from `tender pod run` to 10 containers running, and what the pod
# network (a namespace, veth and address per pod) adds to starting 10 pods.
# Targets: RSS <= 8 MB; restart <= 20 ms median; 10 containers running <= 200 ms.
#
#   bench/pod.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tender=${TENDER:-$here/../build/src/tender}
[ -x "$tender" ] || { echo "build tender first (tools/build.sh)" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl missing: tools/install-deps.sh" >&2; exit 1; }

work=$(mktemp -d)
runner=""
cleanup() {
  if [ -n "$runner" ]; then kill -TERM "$runner" 2>/dev/null || true; wait "$runner" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

now_ns() { date +%s%N; }

# Starts `tender pod run $1 [flags...]`; sets $runner and $admin.
start_runner() {
  local manifest=$1 out=$work/runner.out
  shift
  : >"$out"
  "$tender" pod run "$manifest" --admin 127.0.0.1:0 --no-log-view --run-dir "$work/run" \
    --restart-backoff 0s:0s --log-level warn "$@" >"$out" 2>"$work/runner.err" &
  runner=$!
  for _ in $(seq 1 1000); do grep -q listening "$out" && break; sleep 0.005; done
  admin=$(grep -o 'admin=[^ ]*' "$out" | head -1 | cut -d= -f2)
}

stop_runner() {
  kill -TERM "$runner"
  wait "$runner" 2>/dev/null || true
  runner=""
}

running_count() {
  curl -s "http://$admin/v1/pods" | grep -o '"running":{' | wc -l
}

# --- 1. RSS with 20 containers -------------------------------------------------------------
{
  echo "apiVersion: v1"; echo "kind: Pod"; echo "metadata: {name: twenty}"; echo "spec:"
  echo "  terminationGracePeriodSeconds: 1"; echo "  containers:"
  for i in $(seq 1 20); do
    echo "    - {name: c$i, command: [\"sleep\", \"1000\"]}"
  done
} >"$work/twenty.yaml"
start_runner "$work/twenty.yaml"
for _ in $(seq 1 2000); do [ "$(running_count)" -ge 20 ] && break; sleep 0.005; done
sleep 0.5
rss_kib=$(awk '/^VmRSS:/ {print $2}' "/proc/$runner/status")
stop_runner

# --- 2. crash to restart, backoff disabled -------------------------------------------------
cat >"$work/crash.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: crash}
spec:
  containers:
    - name: app
      command: ["sh", "-c", "date +%s%N >> $work/starts; exit 1"]
YAML
start_runner "$work/crash.yaml"
for _ in $(seq 1 3000); do [ "$(wc -l <"$work/starts" 2>/dev/null || echo 0)" -ge 201 ] && break; sleep 0.01; done
stop_runner
restart=$(head -201 "$work/starts" | awk 'NR > 1 { print ($1 - prev) / 1e6 } { prev = $1 }' | sort -n |
  awk '{ a[NR] = $1 } END { printf "%.2f %.2f", a[int(NR * 0.5)], a[int(NR * 0.9)] }')
# The same command run back to back by a shell loop: what a restart costs at the least.
: >"$work/plain"
for _ in $(seq 1 201); do sh -c "date +%s%N >> $work/plain; exit 1" || true; done
plain=$(awk 'NR > 1 { print ($1 - prev) / 1e6 } { prev = $1 }' "$work/plain" | sort -n |
  awk '{ a[NR] = $1 } END { printf "%.2f", a[int(NR * 0.5)] }')

# --- 3. run to 10 containers running -------------------------------------------------------
{
  echo "apiVersion: v1"; echo "kind: Pod"; echo "metadata: {name: ten}"; echo "spec:"
  echo "  terminationGracePeriodSeconds: 1"; echo "  containers:"
  for i in $(seq 1 10); do
    echo "    - {name: c$i, command: [\"sh\", \"-c\", \"date +%s%N >> $work/ten; exec sleep 1000\"]}"
  done
} >"$work/ten.yaml"
starts=()
for round in 1 2 3 4 5; do
  rm -f "$work/ten"
  t0=$(now_ns)
  start_runner "$work/ten.yaml"
  for _ in $(seq 1 2000); do [ "$(wc -l <"$work/ten" 2>/dev/null || echo 0)" -ge 10 ] && break; sleep 0.005; done
  last=$(sort -n "$work/ten" | tail -1)
  starts+=("$(awk -v a="$t0" -v b="$last" 'BEGIN { printf "%.1f", (b - a) / 1e6 }')")
  stop_runner
done
start_median=$(printf '%s\n' "${starts[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[3] }')

# --- 4. ten pods, each with its own network namespace, address and veth, vs host network ------
{
  for i in $(seq 1 10); do
    echo "---"; echo "apiVersion: v1"; echo "kind: Pod"; echo "metadata: {name: p$i}"; echo "spec:"
    echo "  terminationGracePeriodSeconds: 1"; echo "  containers:"
    echo "    - {name: c, command: [\"sh\", \"-c\", \"date +%s%N >> $work/pods; exec sleep 1000\"]}"
  done
} >"$work/pods.yaml"
pods_start() {  # median of 5 rounds, ms from launch to the 10th pod's container running
  local times=()
  for round in 1 2 3 4 5; do
    rm -f "$work/pods"
    local t0
    t0=$(now_ns)
    start_runner "$work/pods.yaml" "$@"
    for _ in $(seq 1 2000); do [ "$(wc -l <"$work/pods" 2>/dev/null || echo 0)" -ge 10 ] && break; sleep 0.005; done
    local last
    last=$(sort -n "$work/pods" | tail -1)
    times+=("$(awk -v a="$t0" -v b="$last" 'BEGIN { printf "%.1f", (b - a) / 1e6 }')")
    stop_runner
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[3] }'
}
pods_net=$(pods_start --network pod)
pods_host=$(pods_start --network host)

read -r restart_median restart_p90 <<<"$restart"
printf '%-48s %12s %10s\n' "measure" "tender pod" "target"
printf '%-48s %12s %10s\n' "supervisor RSS, 20 containers running (MiB)" \
  "$(awk -v k="$rss_kib" 'BEGIN { printf "%.1f", k / 1024 }')" "<= 8"
printf '%-48s %12s %10s\n' "crash to restart, median (ms)" "$restart_median" "<= 20"
printf '%-48s %12s %10s\n' "crash to restart, p90 (ms)" "$restart_p90" ""
printf '%-48s %12s %10s\n' "  same command in a shell loop, median (ms)" "$plain" ""
printf '%-48s %12s %10s\n' "run to 10 containers running, median of 5 (ms)" "$start_median" "<= 200"
printf '%-48s %12s %10s\n' "run to 10 pods running, pod network (ms)" "$pods_net" ""
printf '%-48s %12s %10s\n' "run to 10 pods running, host network (ms)" "$pods_host" ""
echo "start-up rounds (ms): ${starts[*]}"
