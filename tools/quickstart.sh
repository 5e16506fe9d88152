#!/usr/bin/env bash
# Installs what is missing, builds, and runs tender's main job in the foreground.
# Today that is `tender echo` with its management interface; Ctrl-C drains and exits.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
tools/build.sh
echo
echo "tender echo: try  curl -s 127.0.0.1:8080/hello?status=201  and  curl -s 127.0.0.1:9901/statusz"
exec build/tender echo --listen 127.0.0.1:8080 --admin 127.0.0.1:9901 --id quickstart
