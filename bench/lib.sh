#!/usr/bin/env bash
# Shared helpers for the benchmarks: free ports, readiness polling, wrk parsing.
# Everything here stays on 127.0.0.1.

# Makes $work (a temporary directory) and $pids (background processes to stop), both cleaned
# up when the script exits. Call it in the script itself, not in a subshell.
bench_workdir() {
  work=$(mktemp -d)
  pids=()
  trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"' EXIT
}

# Prints a TCP port on 127.0.0.1 that no socket uses, below the kernel's range for outgoing
# connections (so that no client's connection, open or in TIME_WAIT, takes it meanwhile).
free_port() {
  local p low
  low=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
  [ "$low" -gt 12000 ] || low=32768
  for _ in $(seq 1 200); do
    p=$((10000 + RANDOM % (low - 10000)))
    if ! ss -Htan "sport = :$p" | grep -q .; then
      echo "$p"
      return 0
    fi
  done
  echo "no free port found" >&2
  return 1
}

# Waits until 127.0.0.1:$1 accepts connections (10 s at most).
wait_port() {
  for _ in $(seq 1 1000); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
      return 0
    fi
    sleep 0.01
  done
  echo "port $1 never opened" >&2
  return 1
}

# Resident set size of a pid in KiB.
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# Converts a wrk latency ("850.12us", "1.20ms", "2.01s") to milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0
    if (v ~ /us$/) n = n / 1000
    else if (v ~ /ms$/) n = n
    else if (v ~ /s$/) n = n * 1000
    printf "%.3f", n
  }'
}

# Runs wrk on CPU $WRK_CPU against URL $1 with $2 connections for $BENCH_DURATION; prints
# "REQ_PER_SEC P99_MS ERRORS CPU_US BACKEND_US": CPU_US is the CPU time (user + system) process
# $3 spent per request during the measured run, BACKEND_US the same for process $4 ("-" for
# either not given).
run_wrk() {
  local url=$1 conns=$2 pid=${3:-} backend=${4:-} out
  # Warm-up, not measured.
  taskset -c "${WRK_CPU:-1}" wrk -t1 -c"$conns" -d1s "$url" >/dev/null 2>&1 || true
  local before=0 after=0 bbefore=0 bafter=0
  [ -n "$pid" ] && before=$(cpu_ticks "$pid")
  [ -n "$backend" ] && bbefore=$(cpu_ticks "$backend")
  out=$(taskset -c "${WRK_CPU:-1}" wrk -t1 -c"$conns" -d"${BENCH_DURATION:-10}s" --latency "$url")
  [ -n "$pid" ] && after=$(cpu_ticks "$pid")
  [ -n "$backend" ] && bafter=$(cpu_ticks "$backend")
  local rps p99 errors n
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  errors=$(awk '/Non-2xx or 3xx responses:/ {print $5} /Socket errors:/ {print "socket"}' <<<"$out" | head -1)
  n=$(awk '/ requests in / {print $1}' <<<"$out")
  echo "$rps $(to_ms "$p99") ${errors:-0} $(per_request $((after - before)) "$pid" "$n")" \
    "$(per_request $((bafter - bbefore)) "$backend" "$n")"
}

# Microseconds of CPU per request: $1 ticks over $3 requests ("-" when process $2 is not given).
per_request() {
  if [ -z "$2" ] || [ "${3:-0}" -le 0 ]; then
    echo "-"
    return
  fi
  awk -v t="$1" -v n="$3" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", t * 1e6 / hz / n }'
}

# CPU ticks (user + system) used so far by the given pids, all their threads.
cpu_ticks() {
  local n=0 p
  for p in "$@"; do n=$((n + $(awk '{ print $14 + $15 }' "/proc/$p/stat"))); done
  echo "$n"
}

# The share of CPU time the hypervisor gave to others (steal) since steal_mark, in percent. A
# virtual machine whose host is busy loses time unevenly: a run measured while the share was
# high measured the host too.
steal_mark() { steal_at=$(awk '$1 == "cpu" { print $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat); }
steal_since() {
  awk -v at="$steal_at" '$1 == "cpu" {
    split(at, m, " "); total = $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 - m[2]
    printf "%.0f", (total > 0 ? ($9 - m[1]) * 100 / total : 0)
  }' /proc/stat
}

# Starts nutcracker (twemproxy) on 127.0.0.1:$1 sharding with ketama over FNV-1a 64 across the
# redis-servers on 127.0.0.1 at the ports that follow, as tender's ring_hash does, logging to
# $work/nutcracker.log; adds it to $pids and sets $nutcracker_pid.
start_nutcracker() {
  local port=$1 p
  shift
  {
    printf 'shards:\n  listen: 127.0.0.1:%s\n  hash: fnv1a_64\n  distribution: ketama\n' "$port"
    printf '  redis: true\n  auto_eject_hosts: false\n  servers:\n'
    for p in "$@"; do printf '    - 127.0.0.1:%s:1\n' "$p"; done
  } >"$work/nutcracker.yml"
  nutcracker -c "$work/nutcracker.yml" -o "$work/nutcracker.log" -s "$(free_port)" &
  pids+=($!)
  nutcracker_pid=$!
}

# An OCI image layout at $1, tag "busybox": Debian's /bin/busybox as /bin/sh and /bin/sleep,
# running `sleep 100000`, built with umoci (unpacked in $2). For the image benchmarks.
busybox_image() {
  local layout=$1 bundle=$2
  umoci init --layout "$layout"
  umoci new --image "$layout:busybox"
  umoci unpack --image "$layout:busybox" "$bundle" >/dev/null
  mkdir -p "$bundle/rootfs/bin" "$bundle/rootfs/tmp"
  cp /bin/busybox "$bundle/rootfs/bin/busybox"
  for applet in sh sleep; do ln -s busybox "$bundle/rootfs/bin/$applet"; done
  umoci repack --image "$layout:busybox" "$bundle"
  umoci config --image "$layout:busybox" --config.entrypoint /bin/sleep --config.cmd 100000 \
    --config.env PATH=/bin
}
