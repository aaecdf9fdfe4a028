#!/bin/sh
# B2 preempt: a 1 KB FLASH message submitted 60 s into a 1 MB routine
# transfer over hf-2400-hd; skywave's just-in-time segments against
# whole-message sending, in one run (bench_preempt).
set -eu
export SKYWAVE_SRC="${SKYWAVE_SRC:-$PWD}"
: "${SKYWAVE_BUILD:=$PWD/build}"
BIN="$SKYWAVE_BUILD/bench/bench_preempt"
[ -x "$BIN" ] || { echo "preempt: build bench_preempt first ($BIN)" >&2; exit 1; }
mkdir -p bench/results
# Default segment size; FLASH also at each second of 60..99 s (worst, mean).
"$BIN" bench/results/preempt.json 0 60000 40
echo "wrote bench/results/preempt.json"
