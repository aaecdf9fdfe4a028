#!/usr/bin/env python3
"""The demo's Ctrl-C: scripts/demo-run.sh in a process group of its own, as
a terminal runs it, gets SIGINT on the whole group. Both gateways log their
clean stop (event=stopped exit=0), the simulator logs its stop after them
(it keeps the modems up while the gateways shut down), and everything has
exited within the timeout: nothing killed mid-shutdown."""
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

top = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
build = os.environ.get("SKYWAVE_BUILD", os.getcwd())


def stamp(path, pat):
    with open(path, errors="replace") as f:
        for line in f:
            if pat in line:
                return line.split()[0]
    return None


def main():
    d = tempfile.mkdtemp(prefix="skywave-demostop-")
    env = dict(os.environ, SKYWAVE_DEMO_DIR=os.path.join(d, "demo"),
               SKYWAVE_DEMO_PORT="auto")
    out = open(os.path.join(d, "out"), "w")
    p = subprocess.Popen([os.path.join(top, "scripts/demo-run.sh"), build],
                         env=env, stdout=out, stderr=subprocess.STDOUT,
                         start_new_session=True)
    demo = os.path.join(d, "demo")
    end = time.time() + 60
    while time.time() < end:
        if "Ctrl-C stops" in open(os.path.join(d, "out")).read():
            break
        time.sleep(0.2)
    else:
        raise AssertionError("demo did not come up")
    os.killpg(p.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
    rc = p.wait(60)
    assert rc in (0, 130, -2), rc
    stops = []
    for gw in ("alpha", "bravo"):
        log = os.path.join(demo, gw, "skywaved.log")
        t = stamp(log, "event=stopped exit=0")
        assert t, open(log).read()[-2000:]
        stops.append(t)
    sim = stamp(os.path.join(demo, "sim.log"), "event=stop ")
    assert sim, open(os.path.join(demo, "sim.log")).read()
    assert sim >= max(stops), (sim, stops)
    # nothing left running from the demo
    r = subprocess.run(["pgrep", "-f", demo], capture_output=True, text=True)
    assert r.stdout.strip() == "", r.stdout
    print("ok: gateways stopped at", stops, "simulator at", sim)


if __name__ == "__main__":
    sys.exit(main())
