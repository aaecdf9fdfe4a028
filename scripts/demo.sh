#!/bin/sh
# skywave main job: set up, build, and run two gateways over a simulated
# HF link (skywave-sim, profile hf-2400-hd) on one machine. Ctrl-C stops
# everything cleanly.
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh
exec ./scripts/demo-run.sh "$PWD/build"
