#!/bin/sh
# Lossless re-encoding: how many base64/QP parts of spam-2 re-encode byte
# for byte, and the octets (raw and after zlib) the air hop would save by
# carrying them decoded. The corpus is fetched into bench/cache (never
# committed).
set -eu
export SKYWAVE_SRC="${SKYWAVE_SRC:-$PWD}"
: "${SKYWAVE_BUILD:=$PWD/build}"
BIN="$SKYWAVE_BUILD/bench/bench_reencode"
[ -x "$BIN" ] || { echo "reencode: build bench_reencode first ($BIN)" >&2; exit 1; }
DATA=bench/cache/package/data
./scripts/fetch-corpus.sh
mkdir -p bench/results
"$BIN" "$DATA/spam-2" spam-2 0 bench/results/reencode.json
echo "wrote bench/results/reencode.json"
