#!/bin/sh
# skywave main job: set up, build, and run the gateway on the built-in
# default configuration (queue under ./var, SMTP on 127.0.0.1:2525).
# Stop it with Ctrl-C (SIGINT): it stops cleanly.
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh
echo
echo "skywave: starting skywaved on the built-in default configuration:"
echo "  queue database: $PWD/var/queue.db    SMTP: 127.0.0.1:2525"
echo
exec ./build/gateway/skywaved --foreground
