#!/bin/sh
# B2 preempt: a 1 KB FLASH message submitted 60 s into a 1 MB routine
# transfer over hf-2400-hd; skywave's just-in-time segments against
# whole-message sending, in one run (bench_preempt).
set -eu
: "${SKYWAVE_BUILD:=$PWD/build}"
BIN="$SKYWAVE_BUILD/bench/bench_preempt"
[ -x "$BIN" ] || { echo "preempt: build bench_preempt first ($BIN)" >&2; exit 1; }
mkdir -p bench/results
"$BIN" bench/results/preempt.json
echo "wrote bench/results/preempt.json"
