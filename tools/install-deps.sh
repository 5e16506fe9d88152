#!/usr/bin/env bash
# Installs every Debian 12 package that tender's build, tests and benchmarks need (or, given
# `quickstart`, only what building tender and running the quickstart take).
# Idempotent and quick when everything is present: apt-get runs only for what is missing.
set -euo pipefail

# What building tender takes, and what the quickstart pod runs: `install-deps.sh quickstart`
# installs only these.
quickstart=(
  build-essential cmake ninja-build git pkg-config
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libyaml-cpp-dev libcli11-dev libsqlite3-dev libhiredis-dev zlib1g-dev liburing-dev
  libgtest-dev libgmock-dev
  python3 redis-server redis-tools curl procps iproute2 nftables
)
# The rest of what the tests, the examples and the benchmarks use.
others=(
  clang clang-format libbenchmark-dev
  # real peers for tests and benchmarks
  prometheus wrk nginx-light python3-websockets python3-yaml tar openssl
  # a real gRPC server for tender pod's grpc probes (tests/grpc_health_server.py)
  python3-grpcio
  nutcracker haproxy beanstalkd strace etcd-server etcd-client rsyslog
  prometheus-redis-exporter
  # images for tender pod's tests: copied in with skopeo, a busybox image built with umoci
  skopeo umoci busybox-static
  # the web view's tests: a real browser driven by Selenium
  chromium chromium-driver python3-selenium binutils
)

case "${1:-all}" in
  quickstart) packages=("${quickstart[@]}") ;;
  all) packages=("${quickstart[@]}" "${others[@]}") ;;
  *) echo "usage: $0 [all|quickstart]" >&2; exit 2 ;;
esac

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${#missing[@]} Debian packages (apt-get): ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Installing nginx, prometheus, redis-server, nutcracker, haproxy, beanstalkd, etcd, rsyslog or
# prometheus-redis-exporter may start their system services; tender's tests and benchmarks start
# their own instances on free ports, so stop the packaged ones.
for svc in nginx prometheus redis-server nutcracker haproxy beanstalkd etcd rsyslog \
  prometheus-redis-exporter; do
  if command -v systemctl >/dev/null 2>&1; then
    $SUDO systemctl stop "$svc" >/dev/null 2>&1 || true
  fi
  $SUDO service "$svc" stop >/dev/null 2>&1 || true
done
echo "install-deps: done"
