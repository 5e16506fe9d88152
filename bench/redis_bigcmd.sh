#!/usr/bin/env bash
# One huge command through tender proxy, nutcracker (twemproxy) and straight to redis-server,
# side by side in one run: an MGET of N keys (default 1,000,000), each proxy sharding over
# the same two redis-servers (ring hash over FNV-1a 64), the direct run against a third
# server holding every key. Prints the seconds of each and tender's ratio to both.
# Target: tender's time grows linearly with N (once 22 s for 1M keys against 0.19 s direct).
#
#   bench/redis_bigcmd.sh [N]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
tender=${TENDER:-$here/../build/src/tender}
n=${1:-1000000}
for tool in redis-server nutcracker python3; do
  command -v "$tool" >/dev/null || { echo "$tool missing: tools/install-deps.sh" >&2; exit 1; }
done
[ -x "$tender" ] || { echo "build tender first (tools/build.sh)" >&2; exit 1; }
bench_workdir

redis() {  # a redis-server on a free port, printing the port
  local p
  p=$(free_port)
  redis-server --port "$p" --bind 127.0.0.1 --save "" --appendonly no --protected-mode no \
    >/dev/null 2>&1 &
  pids+=($!)
  wait_port "$p"
  echo "$p"
}
s1=$(redis)
s2=$(redis)
direct=$(redis)

tp=$(free_port)
cat >"$work/proxy.yaml" <<YAML
workers: 1
listeners:
  - {name: cache, listen: "127.0.0.1:$tp", protocol: redis, cluster: shards}
clusters:
  - {name: shards, policy: ring_hash, endpoints: ["127.0.0.1:$s1", "127.0.0.1:$s2"]}
YAML
"$tender" proxy --config "$work/proxy.yaml" --admin 127.0.0.1:0 --log-level warn >/dev/null 2>&1 &
pids+=($!)
np=$(free_port)
start_nutcracker "$np" "$s1" "$s2"
wait_port "$tp"
wait_port "$np"

python3 "$here/redis_bigcmd.py" "$direct" mset "$n" >/dev/null
python3 "$here/redis_bigcmd.py" "$tp" mset "$n" >/dev/null
t_direct=$(python3 "$here/redis_bigcmd.py" "$direct" mget "$n")
t_tender=$(python3 "$here/redis_bigcmd.py" "$tp" mget "$n")
# nutcracker may never answer a command this large: given 60 s without a byte.
t_nut=$(python3 "$here/redis_bigcmd.py" "$np" mget "$n" 60 2>/dev/null) || t_nut="no answer"
echo "MGET of $n keys: direct ${t_direct}s, tender ${t_tender}s, nutcracker ${t_nut}"
awk -v t="$t_tender" -v d="$t_direct" -v u="$t_nut" 'BEGIN {
  printf "tender / direct: %.2fx the time", t / d
  if (u + 0 > 0) printf "; tender / nutcracker: %.2fx the time", t / u
  printf "\n"
}'
