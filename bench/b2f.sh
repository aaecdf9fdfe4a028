#!/bin/sh
# B2F side by side: the same first 200 messages of easy-ham-2 (a) through
# skywaved's B2F endpoint to a real Pat 0.13.1 listener (bytes on the wire
# counted by a proxy), (b) the harness's B2F-style baseline and (c)
# skywave's own protocol, both from bench_airtime on hf-2400-hd. Channel
# time for (a) uses the same model as bench_airtime: bytes at 2400 bit/s
# plus 2 s per direction change. Needs pat-winlink (Debian package pat).
# SKYWAVE_B2F_BASELINE=/path/to/skywaved (a build of an earlier tree) runs
# the same messages through that daemon too, first, in the same run, and
# prints it as the baseline row (JSON: pat_b2f_baseline).
set -eu
export SKYWAVE_SRC="${SKYWAVE_SRC:-$PWD}"
: "${SKYWAVE_BUILD:=$PWD/build}"
command -v pat-winlink >/dev/null || { echo "b2f: pat-winlink missing (apt-get install pat)" >&2; exit 1; }
[ -x "$SKYWAVE_BUILD/bench/bench_airtime" ] || { echo "b2f: build bench_airtime first" >&2; exit 1; }
DATA=bench/cache/package/data
./scripts/fetch-corpus.sh
mkdir -p bench/results
"$SKYWAVE_BUILD/bench/bench_airtime" "$DATA/easy-ham-2" easy-ham-2 200 \
    bench/results/b2f.harness.json > /dev/null
rm -f bench/results/b2f.base.json
if [ -n "${SKYWAVE_B2F_BASELINE:-}" ]; then
	python3 bench/b2f_pat.py "$SKYWAVE_B2F_BASELINE" "$DATA/easy-ham-2" \
	    200 > bench/results/b2f.base.json
fi
python3 bench/b2f_pat.py "$SKYWAVE_BUILD/gateway/skywaved" "$DATA/easy-ham-2" \
    200 > bench/results/b2f.pat.json
python3 - <<'PY'
import json, os
h = json.load(open('bench/results/b2f.harness.json'))
p = json.load(open('bench/results/b2f.pat.json'))
base = None
if os.path.exists('bench/results/b2f.base.json'):
    base = json.load(open('bench/results/b2f.base.json'))
rate = 2400 / 8.0
for r in (p, base):
    if r:
        r['channel_s'] = round(r['wire_bytes'] / rate +
                               r['direction_changes'] * 2.0, 1)
out = {'corpus': 'easy-ham-2', 'messages': p['messages'],
       'raw_bytes': p['raw_bytes'], 'pat_b2f': p,
       'harness_b2f': h['b2f'], 'skywave': h['skywave']}
if base:
    out['pat_b2f_baseline'] = base
json.dump(out, open('bench/results/b2f.json', 'w'), indent=1)
print("%-26s %10s %8s %10s %8s" % ("method", "bytes", "turns", "channel_s",
                                   "wall_s"))
if base:
    print("%-26s %10d %8d %10.1f %8.1f" % ("B2F to Pat, baseline build",
          base['wire_bytes'], base['direction_changes'], base['channel_s'],
          base['wall_s']))
print("%-26s %10d %8d %10.1f %8.1f" % ("B2F to Pat (measured)",
      p['wire_bytes'], p['direction_changes'], p['channel_s'], p['wall_s']))
print("%-26s %10d %8d %10.1f" % ("harness b2f baseline", h['b2f']['air_bytes'],
      h['b2f']['turns'], h['b2f']['channel_s']))
print("%-26s %10d %8d %10.1f" % ("skywave protocol", h['skywave']['air_bytes'],
      h['skywave']['turns'], h['skywave']['channel_s']))
print("B2F to Pat / harness b2f bytes: %.3f; skywave / B2F to Pat bytes: %.3f"
      % (p['wire_bytes'] / h['b2f']['air_bytes'],
         h['skywave']['air_bytes'] / p['wire_bytes']))
PY
rm -f bench/results/b2f.harness.json bench/results/b2f.pat.json \
    bench/results/b2f.base.json
echo "wrote bench/results/b2f.json"
