#!/bin/sh
# Build skywave (Release) into build/. Used by the demo and the benchmarks.
set -eu
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)"
