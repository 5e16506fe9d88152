#!/usr/bin/env bash
# Instructions per request of `tender echo` (1 thread, epoll: valgrind does not run io_uring),
# counted by callgrind over 40,000 pipelined keep-alive GETs less a run of one request, for the
# build and, if given, another build of tender in the same run, printing the ratio. Unlike
# requests/s on this machine (+-8% from run to run), the count repeats to within 0.1%.
#
#   bench/http_instructions.sh [OTHER_TENDER]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
tender=${TENDER:-$here/../build/src/tender}
command -v valgrind >/dev/null || { echo "valgrind missing" >&2; exit 1; }
bench_workdir

# Instructions that `tender echo` ($1) runs to start, serve $2 requests and stop.
count() {
  local p pid
  p=$(free_port)
  TENDER_IO_URING=0 valgrind --tool=callgrind --callgrind-out-file="$work/cg.%p" "$1" echo \
    --listen "127.0.0.1:$p" --admin 127.0.0.1:0 --threads 1 --log-level warn >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && break; sleep 0.1; done
  python3 "$here/http_pipeline.py" "$p" "$2" >/dev/null
  kill -TERM "$pid"
  wait "$pid" || true
  awk '/^summary:/ { print $2 }' "$work/cg.$pid"
}
per_request() {
  local one many
  one=$(count "$1" 1)
  many=$(count "$1" 40000)
  echo $(((many - one) / 39999))
}
mine=$(per_request "$tender")
echo "tender echo ($tender): $mine instructions per request"
if [ $# -ge 1 ]; then
  other=$(per_request "$1")
  echo "tender echo ($1): $other instructions per request"
  awk -v a="$mine" -v b="$other" 'BEGIN { printf "ratio: %.3f of the other build\n", a / b }'
fi
