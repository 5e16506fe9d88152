#!/usr/bin/env bash
# Installs what is missing, builds, and runs tender's main job in the foreground: the quickstart
# pod (examples/quickstart.yaml) under `tender pod run`. Ctrl-C terminates it gracefully.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
tools/build.sh
export PATH="$PWD/build/src:$PATH"   # the manifest runs `tender echo`
echo
echo "quickstart pod: try  curl -s 127.0.0.1:8080/hello  and  tender pod status"
exec tender pod run examples/quickstart.yaml
