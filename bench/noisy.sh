#!/bin/sh
# B7 noisy: the 200 messages of B1 (easy-ham-2) over hf-300-hd-noisy (bursty
# bit errors from the profile's [sim] section) and over the same profile
# without its errors, side by side in one run (bench_airtime --noisy):
# goodput (message bytes committed per second of channel time) of both and
# their ratio, retransmitted frames and bytes, direction changes.
set -eu
export SKYWAVE_SRC="${SKYWAVE_SRC:-$PWD}"
: "${SKYWAVE_BUILD:=$PWD/build}"
BIN="$SKYWAVE_BUILD/bench/bench_airtime"
[ -x "$BIN" ] || { echo "noisy: build bench_airtime first ($BIN)" >&2; exit 1; }
./scripts/fetch-corpus.sh
mkdir -p bench/results
"$BIN" --noisy bench/cache/package/data/easy-ham-2 easy-ham-2 200 \
    bench/results/noisy.json hf-300-hd-noisy
echo "wrote bench/results/noisy.json"
