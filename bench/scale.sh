#!/bin/sh
# scale (B6, the queue's share): median cost of enqueueing one 4 KB message
# (submit to commit callback, fsync on) and of picking the next segment
# (selection of the next recipient on a route + reading its first 1 KB),
# plus the airtime-ahead query, with 1k, 100k and 1M messages queued.
# Needs ~5 GB of free disk in $TMPDIR for the 1M step (MAX=100k to skip).
# Writes bench/results/scale.json.
set -eu
B="${SKYWAVE_BUILD:-build}/bench/bench_queue"
[ -x "$B" ] || { echo "scale: build bench_queue first ($B)" >&2; exit 1; }
SAMPLES=${SAMPLES:-201}
MAX=${MAX:-1m}
dir=$(mktemp -d "${TMPDIR:-/tmp}/skywave-scale-XXXXXX")
trap 'rm -rf "$dir"' EXIT
have=0
for step in 1k 100k 1m; do
	case $step in 1k) n=1000 ;; 100k) n=100000 ;; 1m) n=1000000 ;; esac
	"$B" fill "$dir" $((n - have)) 4096
	have=$n
	# the probes add SAMPLES messages each; they count as queued too
	"$B" probe "$dir" "$SAMPLES" > "$dir/$step.json"
	echo "scale: $step queued: $(cat "$dir/$step.json")"
	have=$((have + SAMPLES))
	[ "$step" = "$MAX" ] && break
done
mkdir -p bench/results
python3 - "$dir" <<'PY'
import json, os, sys
d = sys.argv[1]
steps = [s for s in ("1k", "100k", "1m") if os.path.exists(f"{d}/{s}.json")]
r = {s: json.load(open(f"{d}/{s}.json")) for s in steps}
out = {k: {s: r[s][k] for s in steps}
       for k in ("enqueue_us", "next_us", "ahead_us")}
out["message_bytes"] = 4096
out["scope"] = "queue alone (bench_queue probe), medians"
json.dump(out, open("bench/results/scale.json", "w"))
print("scale: median us with N messages queued (queue alone, 4 KB messages)")
print("  %-10s" % "" + "".join("%10s" % s for s in steps) + "   last/first")
for k in ("enqueue_us", "next_us", "ahead_us"):
    v = [r[s][k] for s in steps]
    print("  %-10s" % k + "".join("%10.0f" % x for x in v)
          + "   %8.2f" % (v[-1] / v[0] if v[0] else 0))
PY
