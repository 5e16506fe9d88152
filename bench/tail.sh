#!/usr/bin/env bash
# tender tail against rsyslog (imfile -> omfile), the log shipper Debian installs, with `cat` as
# the ceiling: the same file of LINES lines (default 2,000,000 of about 120 bytes, an access log)
# copied from a followed file to a file sink, each alone on CPU 0 ("one core"). Prints lines/s
# and MB/s for each, from its start until the last byte is in its output, its CPU time, and
# tender's ratio to rsyslog (target >= 2x).
#
# Then memory: each follows FILES files (default 100) of 2,000 lines each and its resident set
# is read once everything is shipped (target for tender: <= 10 MB).
#
# tender runs as users run it: the SQLite checkpoint (synchronous=FULL, fsync per commit) is
# committed after every batch the sink acknowledged. rsyslog runs with its defaults (imfile in
# inotify mode, its state file in its work directory, omfile buffered, no fsync).
#
#   bench/tail.sh                 # about a minute; LINES=200000 FILES=10 for a smoke run
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
tender=${TENDER:-$here/../build/src/tender}
rsyslogd=${RSYSLOGD:-/usr/sbin/rsyslogd}
for tool in taskset curl "$rsyslogd"; do
  command -v "$tool" >/dev/null || { echo "$tool missing: tools/install-deps.sh" >&2; exit 1; }
done
[ -x "$tender" ] || { echo "build tender first (tools/build.sh)" >&2; exit 1; }

lines=${LINES:-2000000}
files=${FILES:-100}
bench_workdir

# --- Input ----------------------------------------------------------------------------------
mkdir -p "$work/in" "$work/out" "$work/many"
awk -v n="$lines" 'BEGIN {
  for (i = 0; i < n; i++)
    printf "127.0.0.1 - - [06/Dec/2026:12:00:00 +0000] \"GET /item/%d HTTP/1.1\" 200 %d \"-\" \"bench/1.0\" rt=0.%03d\n", i, 500 + i % 9000, i % 1000
}' >"$work/in/app.log"
bytes=$(stat -c %s "$work/in/app.log")
for f in $(seq 1 "$files"); do  # distinct first lines: identical files look like copies
  head -n 2000 "$work/in/app.log" | sed "s/^127.0.0.1/10.0.0.$f/" >"$work/many/f$f.log"
done
many_bytes=$(cat "$work"/many/*.log | wc -c)
echo "input: $lines lines, $((bytes / 1000000)) MB; memory: $files files, $((many_bytes / 1000)) kB"

# CPU seconds (user + system) a process has used.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }
now() { date +%s.%N; }
# Waits until file $1 holds $2 bytes (600 s at most).
wait_size() {
  for _ in $(seq 1 60000); do
    [ "$(stat -c %s "$1" 2>/dev/null || echo 0)" -ge "$2" ] && return 0
    sleep 0.01
  done
  echo "$1 never reached $2 bytes" >&2
  return 1
}

# --- The runs -------------------------------------------------------------------------------
report() {  # name seconds cpu
  awk -v name="$1" -v s="$2" -v cpu="$3" -v l="$lines" -v b="$bytes" 'BEGIN {
    printf "%-8s %10.0f lines/s %8.1f MB/s %7.2f s  cpu %5.2f s\n", name, l / s, b / s / 1e6, s, cpu }'
}

start=$(now)
taskset -c 0 cat "$work/in/app.log" >"$work/out/cat.log"
cat_s=$(awk -v a="$start" -v b="$(now)" 'BEGIN { print b - a }')
report cat "$cat_s" "$cat_s"

run_tender() {  # dir out -> pid in $tpid
  taskset -c 0 "$tender" tail --admin 127.0.0.1:0 --path "$1/*.log" \
    --checkpoint "$work/tail-$(basename "$1").db" --sink "file:$2" --format raw \
    --log-level warn >"$work/tender.out" 2>&1 &
  tpid=$!
  pids+=("$tpid")
}
start=$(now)
run_tender "$work/in" "$work/out/tender.log"
wait_size "$work/out/tender.log" "$bytes"
tender_s=$(awk -v a="$start" -v b="$(now)" 'BEGIN { print b - a }')
tender_cpu=$(cpu_s "$tpid")
kill "$tpid"
report tender "$tender_s" "$tender_cpu"

run_rsyslog() {  # file-glob out name -> pid in $rpid
  mkdir -p "$work/rs-$3"
  cat >"$work/rs-$3.conf" <<CONF
global(workDirectory="$work/rs-$3")
module(load="imfile" mode="inotify")
input(type="imfile" file="$1" tag="app" freshStartTail="off")
template(name="line" type="string" string="%msg%\n")
action(type="omfile" file="$2" template="line")
CONF
  taskset -c 0 "$rsyslogd" -n -f "$work/rs-$3.conf" -i "$work/rs-$3.pid" >"$work/rs-$3.out" 2>&1 &
  rpid=$!
  pids+=("$rpid")
}
start=$(now)
run_rsyslog "$work/in/app.log" "$work/out/rsyslog.log" one
wait_size "$work/out/rsyslog.log" "$bytes"
rsyslog_s=$(awk -v a="$start" -v b="$(now)" 'BEGIN { print b - a }')
rsyslog_cpu=$(cpu_s "$rpid")
kill "$rpid"
report rsyslog "$rsyslog_s" "$rsyslog_cpu"

for f in tender rsyslog; do
  if ! cmp -s "$work/in/app.log" "$work/out/$f.log"; then
    echo "warning: $f's output differs from the input" >&2
  fi
done
awk -v t="$tender_s" -v r="$rsyslog_s" -v c="$cat_s" 'BEGIN {
  printf "ratio: tender %.2fx rsyslog lines/s (target >= 2); cat is %.1fx tender\n", r / t, t / c }'

# --- Memory ---------------------------------------------------------------------------------
run_tender "$work/many" "$work/out/tender-many.log"
wait_size "$work/out/tender-many.log" "$many_bytes"
tender_rss=$(rss_kib "$tpid")
run_rsyslog "$work/many/*.log" "$work/out/rsyslog-many.log" many
wait_size "$work/out/rsyslog-many.log" "$many_bytes"
rsyslog_rss=$(rss_kib "$rpid")
echo "memory following $files files: tender $((tender_rss / 1024)).$(((tender_rss % 1024) * 10 / 1024)) MiB" \
  "(target <= 10 MB), rsyslog $((rsyslog_rss / 1024)).$(((rsyslog_rss % 1024) * 10 / 1024)) MiB"
