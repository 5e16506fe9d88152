#!/usr/bin/env bash
# tender pod and `podman kube play` side by side, running pods from OCI images on this machine:
# the time from the command to 3 pods running (each a container of a locally imported image,
# no command), median of 5 rounds; and the memory that supervises 20 image containers (tender's
# runner; podman's conmon per container, which is what stays running). Target: start at least
# 2x faster than podman.
#
# The image is built here from Debian's busybox-static with umoci, and imported into each
# (tender pod images import; skopeo copy to containers-storage:). Needs root, podman, skopeo and umoci
# (tools/install-deps.sh installs skopeo and umoci; podman: apt-get install podman).
# podman reads a containers.conf of the bench's own (CONTAINERS_CONF): its default ulimits
# are above what this machine allows. podman's netavark leaves its nftables tables (ip nat,
# ip filter) on this machine after `podman kube down`; they are podman's, and stay.
#
#   bench/pod_images.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
tender=${TENDER:-$here/../build/src/tender}
[ -x "$tender" ] || { echo "build tender first (tools/build.sh)" >&2; exit 1; }
for tool in podman umoci skopeo curl; do
  command -v "$tool" >/dev/null || { echo "$tool missing" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "run as root: images are mounted as root" >&2; exit 1; }

work=$(mktemp -d)
runner=""
cleanup() {
  if [ -n "$runner" ]; then kill -TERM "$runner" 2>/dev/null || true; wait "$runner" 2>/dev/null || true; fi
  for f in "$work"/*.yaml; do [ -e "$f" ] && podman kube down "$f" >/dev/null 2>&1 || true; done
  podman rmi -f localhost/bench-busybox:1 >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
now_ns() { date +%s%N; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# --- the image ------------------------------------------------------------------------------
layout=$work/layout
busybox_image "$layout" "$work/bundle"
state=$work/state
"$tender" pod images import "oci:$layout:busybox" --name localhost/bench-busybox:1 \
  --state-dir "$state" >/dev/null

export CONTAINERS_CONF=$work/containers.conf
cat >"$CONTAINERS_CONF" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
CONF
skopeo copy -q "oci:$layout:busybox" containers-storage:localhost/bench-busybox:1

# N pods of one image container each, in one file.
pods_yaml() {
  local n=$1 containers=$2
  for i in $(seq 1 "$n"); do
    echo "---"; echo "apiVersion: v1"; echo "kind: Pod"; echo "metadata: {name: p$i}"; echo "spec:"
    echo "  terminationGracePeriodSeconds: 1"; echo "  containers:"
    for c in $(seq 1 "$containers"); do
      echo "    - {name: c$c, image: localhost/bench-busybox:1, imagePullPolicy: Never}"
    done
  done
}
pods_yaml 3 1 >"$work/three.yaml"
pods_yaml 1 20 >"$work/twenty.yaml"

running_count() { curl -s "http://$admin/v1/pods" | grep -o '"running":{' | wc -l; }
start_runner() {
  local out=$work/runner.out
  : >"$out"
  "$tender" pod run "$1" --admin 127.0.0.1:0 --no-log-view --run-dir "$work/run" \
    --state-dir "$state" --log-level warn >"$out" 2>"$work/runner.err" &
  runner=$!
  for _ in $(seq 1 2000); do grep -q listening "$out" && break; sleep 0.002; done
  admin=$(grep -o 'admin=[^ ]*' "$out" | head -1 | cut -d= -f2)
}
stop_runner() { kill -TERM "$runner"; wait "$runner" 2>/dev/null || true; runner=""; }

# --- 1. run to 3 pods running ---------------------------------------------------------------
tender_times=()
podman_times=()
for round in 1 2 3 4 5; do
  t0=$(now_ns)
  start_runner "$work/three.yaml"
  for _ in $(seq 1 5000); do [ "$(running_count)" -ge 3 ] && break; sleep 0.002; done
  tender_times+=("$(awk -v a="$t0" -v b="$(now_ns)" 'BEGIN { printf "%.0f", (b - a) / 1e6 }')")
  stop_runner

  t0=$(now_ns)
  podman kube play "$work/three.yaml" >/dev/null
  for _ in $(seq 1 5000); do
    [ "$(podman ps --filter status=running --format '{{.Names}}' | grep -c -- '-c1$')" -ge 3 ] && break
    sleep 0.002
  done
  podman_times+=("$(awk -v a="$t0" -v b="$(now_ns)" 'BEGIN { printf "%.0f", (b - a) / 1e6 }')")
  podman kube down "$work/three.yaml" >/dev/null
done
tender_start=$(printf '%s\n' "${tender_times[@]}" | median)
podman_start=$(printf '%s\n' "${podman_times[@]}" | median)

# --- 2. memory with 20 image containers ------------------------------------------------------
start_runner "$work/twenty.yaml"
for _ in $(seq 1 5000); do [ "$(running_count)" -ge 20 ] && break; sleep 0.005; done
sleep 1
tender_rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$runner/status")
stop_runner
podman kube play "$work/twenty.yaml" >/dev/null
for _ in $(seq 1 5000); do
  [ "$(podman ps --filter status=running --format '{{.Names}}' | grep -c -- '-c[0-9]*$')" -ge 20 ] && break
  sleep 0.005
done
sleep 1
podman_rss=$(ps -C conmon -o rss= | awk '{ s += $1 } END { print s + 0 }')
conmons=$(ps -C conmon -o pid= | wc -l)
podman kube down "$work/twenty.yaml" >/dev/null

printf '%-52s %12s %12s %8s\n' "measure" "tender pod" "podman" "ratio"
printf '%-52s %12s %12s %8s\n' "run to 3 image pods running, median of 5 (ms)" "$tender_start" \
  "$podman_start" "$(awk -v t="$tender_start" -v p="$podman_start" 'BEGIN { printf "%.1fx", p / t }')"
printf '%-52s %12s %12s %8s\n' "supervising 20 image containers, RSS (MiB)" \
  "$(awk -v k="$tender_rss" 'BEGIN { printf "%.1f", k / 1024 }')" \
  "$(awk -v k="$podman_rss" 'BEGIN { printf "%.1f", k / 1024 }')" \
  "$(awk -v t="$tender_rss" -v p="$podman_rss" 'BEGIN { printf "%.1fx", p / t }')"
echo "(podman: the sum of its $conmons conmon processes; it runs no daemon)"
echo "rounds (ms): tender ${tender_times[*]}; podman ${podman_times[*]}"
