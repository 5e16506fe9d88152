#!/usr/bin/env bash
# tender echo (one worker thread) against nginx (one worker, `return 200`), both pinned to CPU 0,
# wrk with 64 keep-alive connections pinned to CPU 1; the two in turn in one run.
# Prints req/s, p99 latency, RSS, and tender's ratio to nginx.
#
#   bench/http_server.sh                 # 10 s per server
#   BENCH_DURATION=30 bench/http_server.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
tender=${TENDER:-$here/../build/src/tender}
[ -x "$tender" ] || { echo "build tender first (tools/build.sh)" >&2; exit 1; }
command -v nginx >/dev/null || { echo "nginx missing: tools/install-deps.sh" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk missing: tools/install-deps.sh" >&2; exit 1; }

bench_workdir

# nginx
nginx_port=$(free_port)
cat >"$work/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $work/body;
  proxy_temp_path $work/proxy;
  fastcgi_temp_path $work/fastcgi;
  uwsgi_temp_path $work/uwsgi;
  scgi_temp_path $work/scgi;
  server {
    listen 127.0.0.1:$nginx_port;
    location / { return 200; }
  }
}
CONF
taskset -c 0 nginx -c "$work/nginx.conf" -e "$work/nginx-error.log" &
pids+=($!)
wait_port "$nginx_port"
nginx_worker=$(pgrep -P "$(cat "$work/nginx.pid")" | head -1)
read -r nginx_rps nginx_p99 nginx_err _ < <(run_wrk "http://127.0.0.1:$nginx_port/" 64)
nginx_rss=$(rss_kib "$nginx_worker")
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true
pids=()

# tender echo
taskset -c 0 "$tender" echo --listen 127.0.0.1:0 --admin 127.0.0.1:0 --threads 1 \
  --log-level warn >"$work/tender.out" 2>"$work/tender.err" &
pids+=($!)
for _ in $(seq 1 500); do grep -q listening "$work/tender.out" && break; sleep 0.01; done
tender_port=$(grep -o 'listen=[^ ]*' "$work/tender.out" | sed 's/.*://')
read -r tender_rps tender_p99 tender_err _ < <(run_wrk "http://127.0.0.1:$tender_port/" 64)
tender_rss=$(rss_kib "${pids[0]}")

ratio=$(awk -v a="$tender_rps" -v b="$nginx_rps" 'BEGIN {printf "%.2f", a / b}')
printf '%-22s %12s %10s %10s %8s\n' "server" "req/s" "p99 ms" "RSS KiB" "non-2xx"
printf '%-22s %12s %10s %10s %8s\n' "nginx (1 worker)" "$nginx_rps" "$nginx_p99" "$nginx_rss" "$nginx_err"
printf '%-22s %12s %10s %10s %8s\n' "tender echo (1 thread)" "$tender_rps" "$tender_p99" "$tender_rss" "$tender_err"
echo "ratio tender/nginx req/s: $ratio (target >= 0.8)"
