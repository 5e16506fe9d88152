#!/usr/bin/env bash
# tender's main job, from a fresh clone: installs the Debian packages the quickstart needs,
# builds tender with the roles the quickstart runs (not the tests), and runs the quickstart pods
# (examples/quickstart/quickstart.yaml) with `tender pod run` in the foreground. Once every pod
# is ready it prints what to try. Ctrl-C stops the pods gracefully.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\033[1mquickstart: %s\033[0m\n' "$*" >&2; }
started=$SECONDS
if [ "$(id -u)" -ne 0 ]; then
  echo "quickstart: run it as root: each pod gets network and mount namespaces of its own" >&2
  exit 1
fi

step "installing what is missing (Debian packages, apt-get; quick when all are present)"
tools/install-deps.sh quickstart

# The quickstart's binary carries only the roles the quickstart runs (pod, proxy, tail, sync,
# adapt): in a build directory of its own it compiles core and those roles and nothing else.
# BUILD_DIR=build runs it from the tests' build instead, where it is built too.
build=${BUILD_DIR:-build-quickstart}
if [ -f "$build/CMakeCache.txt" ]; then
  step "building the quickstart's tender (only what changed)"
  BUILD_DIR=$build TARGET=tender_quickstart tools/build.sh
else
  # At -Og without debug information the compiler takes 60% of the time -O2 does (-O1 70%);
  # the quickstart's pods do not notice. tools/build.sh builds build/src/tender at -O2.
  step "building tender with the quickstart's roles (about 2 minutes on 2 cores the first time; tools/build.sh builds every role, tools/test.sh the tests)"
  BUILD_DIR=$build BUILD_TYPE=Release TARGET=tender_quickstart tools/build.sh \
    -DTENDER_BUILD_TESTS=OFF -DCMAKE_CXX_FLAGS_RELEASE="-Og -DNDEBUG"
fi
case $build in
  /*) bin=$build/quickstart ;;
  *) bin=$PWD/$build/quickstart ;;
esac
export PATH="$bin:$PATH"   # the manifest's containers run `tender ROLE`

admin=${TENDER_POD_ADMIN:-127.0.0.1:9900}
manifest=examples/quickstart/quickstart.yaml
step "starting the pods of $manifest"

# Once every pod is ready, say what to try. This runs beside the runner, which takes this
# script's place (and its PID) below, so that Ctrl-C reaches the runner alone, once.
runner=$$
(
  until curl -sf "http://$admin/readyz" >/dev/null 2>&1; do
    kill -0 "$runner" 2>/dev/null || exit 0
    sleep 0.5
  done
  cat >&2 <<EOF

$(printf '\033[1m')quickstart: ready after $((SECONDS - started)) s.$(printf '\033[0m') In another terminal, from this directory:

  export PATH=$bin:\$PATH${TENDER_POD_ADMIN:+ TENDER_POD_ADMIN=$admin}
  curl -s 127.0.0.1:8080/                         # the app's page; its views are counted in Redis
  curl -s 127.0.0.1:8080/pages/about              # another page, another key
  curl -s 127.0.0.1:8080/stats                    # the app's own stats, as JSON
  curl -s 127.0.0.1:9905/metrics | grep '^quickstart_'   # the same stats as Prometheus metrics (adapter)
  tender pod logs web -c log-shipper              # the access log, shipped by tender tail (sidecar)
  tender pod exec redis-0 -- redis-cli dbsize     # keys on each shard, put there by tender proxy (ambassador)
  tender pod exec redis-1 -- redis-cli dbsize
  tender pod status                               # pods, containers, readiness, restarts

  and open http://$admin/ui in a browser: the pods, their logs, faults, each container's own page.
  Ctrl-C here stops the pods.

EOF
) &

exec tender pod run --admin "$admin" --no-log-view "$manifest"
