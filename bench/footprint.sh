#!/bin/sh
# footprint (B5, the queue's share): 100,000 queued 4 KB messages (random
# bytes, mixed bands, 30 % with deadlines). The queue is opened in a small
# process of its own (bench_queue open), NOT in skywaved: resident memory,
# start-up (open + recovery + check) and database size are the queue's;
# the daemon-level B5 figure is measured once skywaved exists.
# Writes bench/results/footprint.json.
set -eu
B="${SKYWAVE_BUILD:-build}/bench/bench_queue"
[ -x "$B" ] || { echo "footprint: build bench_queue first ($B)" >&2; exit 1; }
N=${MESSAGES:-100000}
SIZE=4096
dir=$(mktemp -d "${TMPDIR:-/tmp}/skywave-footprint-XXXXXX")
trap 'rm -rf "$dir"' EXIT
"$B" fill "$dir" "$N" "$SIZE"
sync
"$B" open "$dir" state > "$dir/state.json"
"$B" open "$dir" quick > "$dir/quick.json"
"$B" open "$dir" none > "$dir/none.json"
mkdir -p bench/results
python3 - "$dir" "$N" "$SIZE" <<'PY'
import json, sys
d, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
st = json.load(open(d + "/state.json"))
q = json.load(open(d + "/quick.json"))
z = json.load(open(d + "/none.json"))
raw = n * size
out = {
    "messages": n,
    "raw_bytes": raw,
    "db_bytes": q["db_bytes"],
    "rss_peak_kb": st["rss_peak_kb"],
    "rss_peak_with_stats_kb": st["rss_peak_with_stats_kb"],
    "rss_steady_kb": st["rss_steady_kb"],
    "startup_s": st["startup_s"],
    "startup_quickcheck_s": q["startup_s"],
    "startup_nocheck_s": z["startup_s"],
    "scope": "queue alone in a small process (bench_queue open), "
             "not skywaved",
}
json.dump(out, open("bench/results/footprint.json", "w"))
print("footprint: %d queued %d B messages (queue alone, not skywaved)"
      % (n, size))
print("  %-28s %12d" % ("raw bytes", raw))
print("  %-28s %12d  (%.3f x raw; goal <= 1.15)"
      % ("database bytes", q["db_bytes"], q["db_bytes"] / raw))
print("  %-28s %12d  (goal <= 16384)" % ("RSS peak kB", out["rss_peak_kb"]))
print("  %-28s %12d" % ("RSS peak kB after a stats scan",
                        st["rss_peak_with_stats_kb"]))
print("  %-28s %12d" % ("RSS steady kB", st["rss_steady_kb"]))
print("  %-28s %12.3f  (goal <= 1)"
      % ("start-up s (state check)", st["startup_s"]))
print("  %-28s %12.3f" % ("start-up s, whole quick_chk", q["startup_s"]))
print("  %-28s %12.3f" % ("start-up s, no check", z["startup_s"]))
PY
