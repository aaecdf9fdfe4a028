#!/bin/sh
# commitrate: raw commit rate of the queue alone. 20 concurrent producers
# (closed loop: submit, wait for the commit callback, submit again), 4 KB
# messages of random bytes, fsync on (WAL, synchronous=FULL), group commit.
# Writes bench/results/commitrate.json.
set -eu
B="${SKYWAVE_BUILD:-build}/bench/bench_queue"
[ -x "$B" ] || { echo "commitrate: build bench_queue first ($B)" >&2; exit 1; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/skywave-commitrate-XXXXXX")
trap 'rm -rf "$dir"' EXIT
producers=${PRODUCERS:-20}
messages=${MESSAGES:-20000}
"$B" commitrate "$dir" "$producers" "$messages" 4096 > "$dir/out.json"
mkdir -p bench/results
cp "$dir/out.json" bench/results/commitrate.json
python3 - "$dir/out.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print("commitrate: queue alone, %d producers, %d x %d B, fsync on"
      % (r["producers"], r["messages"], r["size"]))
print("  %-14s %10s" % ("msgs/s", "%.0f" % r["msgs_per_s"]))
print("  %-14s %10s" % ("p50 commit ms", "%.2f" % r["p50_ms"]))
print("  %-14s %10s" % ("p99 commit ms", "%.2f" % r["p99_ms"]))
PY
