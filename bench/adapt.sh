#!/usr/bin/env bash
# tender adapt: the three measures of the adapter, in one run.
#
#   1. statsd lines/s ingested on one core without loss (bench/adapt_statsd.sh);
#   2. the redis source's scrape time and RSS beside prometheus-redis-exporter's, on the same
#      redis-server (bench/adapt_redis.sh);
#   3. the time to collect and render 10,000 series: a text source over an exposition of
#      SERIES series (default 10,000; fetched once, its cache outlives the run), scraped
#      SCRAPES times (default 200) one after another; prints the mean and p99 per scrape and
#      tender's RSS after.
#
#   bench/adapt.sh                  # a few minutes
#   bench/adapt.sh render           # only part 3 (statsd, redis: the others)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
tender=${TENDER:-$here/../build/src/tender}
[ -x "$tender" ] || { echo "build tender first (tools/build.sh)" >&2; exit 1; }
parts=${1:-"statsd redis render"}

for part in $parts; do
  case $part in
    statsd) "$here/adapt_statsd.sh" ;;
    redis) "$here/adapt_redis.sh" ;;
    render) ;;
    *) echo "unknown part $part (statsd, redis, render)" >&2; exit 2 ;;
  esac
done
[[ " $parts " == *" render "* ]] || exit 0

series=${SERIES:-10000}
scrapes=${SCRAPES:-200}
bench_workdir
mkdir -p "$work/www"
awk -v n="$series" 'BEGIN {
  print "# HELP app_requests_total Requests by route and code."
  print "# TYPE app_requests_total counter"
  for (i = 0; i < n; i++)
    printf "app_requests_total{route=\"/item/%d\",code=\"%d\"} %d\n", i, 200 + (i % 3) * 100, i * 7
}' >"$work/www/metrics"
www=$(free_port)
python3 -m http.server --bind 127.0.0.1 "$www" --directory "$work/www" >/dev/null 2>&1 &
pids+=($!)
wait_port "$www"
admin=$(free_port)
cat >"$work/adapt.yaml" <<YAML
metrics:
  max_series_per_metric: $((series * 2))
  sources:
    - name: app
      text: {url: "http://127.0.0.1:$www/metrics", cache: 1h}
YAML
"$tender" adapt --config "$work/adapt.yaml" --admin "127.0.0.1:$admin" >/dev/null 2>&1 &
tpid=$!
pids+=($tpid)
wait_port "$admin"
got=$(curl -sf "http://127.0.0.1:$admin/metrics" | grep -c '^app_requests_total{' || true)
[ "$got" -eq "$series" ] || { echo "render: expected $series series, got $got" >&2; exit 1; }
for _ in $(seq 1 "$scrapes"); do
  curl -sf -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$admin/metrics"
done >"$work/times"
sort -n "$work/times" | awk -v n="$scrapes" -v s="$series" -v rss="$(rss_kib "$tpid")" '
  { t[NR] = $1; sum += $1 }
  END {
    printf "render %d series: mean %.2f ms, p99 %.2f ms per scrape (%d scrapes); tender RSS %.1f MiB\n",
      s, sum / n * 1000, t[int(n * 0.99)] * 1000, n, rss / 1024
  }'
