#!/bin/sh
# footprint (B5): 100,000 queued 4 KB messages (random bytes, mixed bands,
# 30 % with deadlines, on routes no link serves: the link is down).
#   1. The queue alone, opened in a small process (bench_queue open):
#      start-up (open + recovery + check), RSS, database size.
#   2. skywaved itself on that database (when it is built): start-up to the
#      SMTP greeting, RSS steady (after 3 s) and peak (VmHWM).
# Writes bench/results/footprint.json: the top-level fields are skywaved's
# when it ran (scope says which), the queue-alone ones under "queue_alone".
set -eu
B="${SKYWAVE_BUILD:-build}/bench/bench_queue"
D="${SKYWAVE_BUILD:-build}/gateway/skywaved"
[ -x "$B" ] || { echo "footprint: build bench_queue first ($B)" >&2; exit 1; }
N=${MESSAGES:-100000}
SIZE=4096
dir=$(mktemp -d "${TMPDIR:-/tmp}/skywave-footprint-XXXXXX")
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/var"
"$B" fill "$dir/var" "$N" "$SIZE"
sync
"$B" open "$dir/var" state > "$dir/state.json"
"$B" open "$dir/var" quick > "$dir/quick.json"
"$B" open "$dir/var" none > "$dir/none.json"
mkdir -p bench/results
python3 - "$dir" "$N" "$SIZE" "$D" <<'PY'
import json, os, signal, socket, subprocess, sys, time
d, n, size, daemon = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
    sys.argv[4]
st = json.load(open(d + "/state.json"))
q = json.load(open(d + "/quick.json"))
z = json.load(open(d + "/none.json"))
raw = n * size
alone = {
    "db_bytes": st["db_bytes"],
    "rss_peak_kb": st["rss_peak_kb"],
    "rss_peak_with_stats_kb": st["rss_peak_with_stats_kb"],
    "rss_steady_kb": st["rss_steady_kb"],
    "startup_s": st["startup_s"],
    "startup_quickcheck_s": q["startup_s"],
    "startup_nocheck_s": z["startup_s"],
}


def daemon_run():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with open(d + "/skywave.conf", "w") as f:
        f.write("[gateway]\nlisten = 127.0.0.1:%d\ndata_dir = %s/var\n"
                "pid_file = %s/skywaved.pid\n" % (port, d, d))
    t0 = time.monotonic()
    p = subprocess.Popen([daemon, "--config", d + "/skywave.conf",
                          "--foreground"], stdout=subprocess.DEVNULL,
                         stderr=open(d + "/skywaved.log", "w"))
    banner = b""
    try:
        while time.monotonic() - t0 < 30 and not banner.startswith(b"220"):
            try:
                c = socket.create_connection(("127.0.0.1", port), timeout=2)
                banner = c.recv(128)
                c.close()
            except OSError:
                time.sleep(0.002)
        t1 = time.monotonic()
        time.sleep(3)
        vals = {}
        for line in open("/proc/%d/status" % p.pid):
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                vals[k] = int(v.split()[0])
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)
    if not banner.startswith(b"220"):
        return None
    return {"startup_s": round(t1 - t0, 3), "rss_steady_kb": vals["VmRSS"],
            "rss_peak_kb": vals["VmHWM"]}


dm = daemon_run() if os.access(daemon, os.X_OK) else None
db_bytes = sum(os.path.getsize(os.path.join(d, "var", f))
               for f in os.listdir(d + "/var") if f.startswith("queue.db"))
top = dm if dm else {k: alone[k] for k in
                     ("startup_s", "rss_steady_kb", "rss_peak_kb")}
out = {"messages": n, "raw_bytes": raw, "db_bytes": db_bytes, **top,
       "scope": ("skywaved, no routes configured (link down)" if dm else
                 "queue alone in a small process (skywaved not built)"),
       "queue_alone": alone}
json.dump(out, open("bench/results/footprint.json", "w"))
print("footprint: %d queued %d B messages" % (n, size))
print("  %-34s %12d" % ("raw bytes", raw))
print("  %-34s %12d  (%.3f x raw; goal <= 1.15)"
      % ("database bytes", db_bytes, db_bytes / raw))
if dm:
    print("  skywaved (no routes: link down)")
    print("  %-34s %12.3f  (goal <= 1)" % ("  start-up to 220, s",
                                          dm["startup_s"]))
    print("  %-34s %12d  (goal <= 16384)" % ("  RSS peak kB", dm["rss_peak_kb"]))
    print("  %-34s %12d" % ("  RSS steady kB", dm["rss_steady_kb"]))
else:
    print("  (skywaved not built: daemon figures skipped)")
print("  queue alone (bench_queue open)")
print("  %-34s %12.3f" % ("  start-up s, state check (default)",
                          alone["startup_s"]))
print("  %-34s %12.3f" % ("  start-up s, whole-file quick_check",
                          alone["startup_quickcheck_s"]))
print("  %-34s %12.3f" % ("  start-up s, no check",
                          alone["startup_nocheck_s"]))
print("  %-34s %12d" % ("  RSS peak kB", alone["rss_peak_kb"]))
print("  %-34s %12d" % ("  RSS peak kB after a stats scan",
                        alone["rss_peak_with_stats_kb"]))
print("  %-34s %12d" % ("  RSS steady kB", alone["rss_steady_kb"]))
PY
