#!/usr/bin/env python3
"""Strict band order over a real link: two skywaved processes over
skywave-sim, N messages of random MT-PRIORITY (-4..4) and size (1-8 KB)
submitted concurrently behind an idle link, then one urgent message
submitted while a long routine one is on the air. Prints its seed.

The check. The completion order is the far gateway's commit order (its
"event=received" log lines, which come in the order the final segments
crossed the air; the Maildir must then hold every message exactly once).
For every pair of messages H, L whose band(H) > band(L) and that completed
L first, the near gateway must have put L's final segment on the air
("event=final_segment", logged when that segment is read into a frame)
before H reached the transfer protocol's outgoing list ("event=sending"):
only then was there no segment boundary left at which H could have
preempted L. Any other inversion is a failure, whatever the sizes or the
number in flight. The few tens of milliseconds between the 250 and
"event=sending" (the queue loads the message) are not a segment boundary
the transfer could use; the test also prints how many pairs would count
against the 250 itself, for information. Within a band nothing is
asserted (deadline then arrival is the scheduler's business, tested in its
unit tests).

SKYWAVE_ORDER_PROFILE picks the profile (default los-19200, so the test
runs in about a minute; hf-2400-hd is the issue's channel) and
SKYWAVE_ORDER_N the number of messages (default 60)."""
import concurrent.futures
import os
import random
import re
import smtplib
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import gwharness as h  # noqa: E402

LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z .*")


def stamp(line):
    m = LINE.match(line)
    if not m:
        return None
    t = time.strptime(m.group(1)[:19], "%Y-%m-%dT%H:%M:%S")
    return time.mktime(t) + int(m.group(1)[20:]) / 1000.0


def events(path, what):
    """msg hex -> (time, line) of the first line with event=what."""
    out = {}
    with open(path, errors="replace") as f:
        for line in f:
            if "event=%s " % what not in line + " ":
                continue
            m = re.search(r"msg=([0-9a-f]{32})", line)
            t = stamp(line)
            if m and t is not None and m.group(1) not in out:
                out[m.group(1)] = (t, line)
    return out


def received_order(path):
    order = []
    with open(path, errors="replace") as f:
        for line in f:
            if "event=received" in line and "duplicate=no" in line:
                m = re.search(r"msg=([0-9a-f]{32})", line)
                if m and m.group(1) not in order:
                    order.append(m.group(1))
    return order


def make_body(rnd, size, tag):
    words = []
    n = 0
    while n < size:
        w = "w%x" % rnd.getrandbits(24)
        words.append(w)
        n += len(w) + 1
    text = " ".join(words)
    lines = [text[j:j + 70] for j in range(0, len(text), 70)]
    return "Subject: %s\r\n\r\n%s\r\n%s\r\n" % (tag, tag, "\r\n".join(lines))


def submit(port, prio, msg):
    s = smtplib.SMTP("127.0.0.1", port, timeout=60)
    s.ehlo("client.example")
    code, _ = s.mail("ops@alpha.example", ["MT-PRIORITY=%d" % prio])
    assert code == 250, code
    code, _ = s.rcpt("chief@bravo.example")
    assert code == 250, code
    code, resp = s.data(msg)
    s.quit()
    assert code == 250, (code, resp)
    m = re.search(rb"queued as ([0-9a-fA-F]{32})", resp)
    assert m, resp
    return m.group(1).decode().lower()


def check_order(a, b, ids, tag):
    """ids: msg -> band. Returns (pairs, ok_pairs, failures)."""
    queued = events(a.logpath, "queued")
    sending = events(a.logpath, "sending")
    final = events(a.logpath, "final_segment")
    order = [m for m in received_order(b.logpath) if m in ids]
    pos = {m: i for i, m in enumerate(order)}
    pairs = okp = 0
    loading = [0]
    bad = []
    for hi in order:
        for lo in order:
            if ids[hi] <= ids[lo]:
                continue
            pairs += 1
            if pos[hi] < pos[lo]:
                okp += 1
                continue
            # lo completed first: allowed only when its final segment was
            # on the air before hi was queued
            if lo in final and hi in queued and \
                    final[lo][0] < queued[hi][0]:
                okp += 1
                continue
            if lo in final and hi in sending and \
                    final[lo][0] < sending[hi][0]:
                okp += 1
                loading[0] += 1
                continue
            bad.append("%s: band %d %s completed after band %d %s (final "
                       "segment of the lower at %s, higher queued at %s)" %
                       (tag, ids[hi], hi[:8], ids[lo], lo[:8],
                        final.get(lo, (None,))[0],
                        queued.get(hi, (None,))[0]))
    if loading[0]:
        print("%s: %d pairs ended while the higher one was being loaded "
              "(after its 250, before the transfer had it)" %
              (tag, loading[0]))
    return pairs, okp, bad, order


def main():
    seed = int(os.environ.get("SKYWAVE_SEED", int(time.time())))
    print("seed=%d (repeat with SKYWAVE_SEED=%d)" % (seed, seed))
    rnd = random.Random(seed)
    prof = os.environ.get("SKYWAVE_ORDER_PROFILE", "los-19200")
    n = int(os.environ.get("SKYWAVE_ORDER_N", "60"))
    top = h.tmpdir("order")
    ok = False
    sim = h.Sim(top, prof, seed=seed)
    a = h.Gateway(top, "alpha.example", [("r", sim.dev("a"), prof,
                                          "bravo.example")],
                  "bravo.example = link:r\n"
                  "alpha.example = maildir:%s/alpha.example/mail\n" % top,
                  extra="max_sessions_per_client = 500\n")
    b = h.Gateway(top, "bravo.example", [("r", sim.dev("b"), prof,
                                          "alpha.example")],
                  "alpha.example = link:r\n"
                  "bravo.example = maildir:%s/bravo.example/mail\n" % top)
    try:
        a.start()
        b.start()
        # the session is up and idle before the burst of submissions
        assert h.wait_for(lambda: h.log_has(a.logpath, "event=session_up")
                          and h.log_has(b.logpath, "event=session_up"), 60)
        time.sleep(1)
        msgs = []
        for i in range(n):
            prio = rnd.randint(-4, 4)
            size = rnd.randint(1024, 8192)
            msgs.append((prio, make_body(rnd, size, "burst-%d" % i)))
        start = threading.Barrier(len(msgs))

        def one(m):
            start.wait()
            return submit(a.port, m[0], m[1])

        with concurrent.futures.ThreadPoolExecutor(len(msgs)) as ex:
            got = list(ex.map(one, msgs))
        queued = events(a.logpath, "queued")
        ids = {}
        for mid in got:
            band = re.search(r"band=(\d+)", queued[mid][1])
            ids[mid] = int(band.group(1))
        if not h.wait_for(lambda: len(b.delivered()) >= n, 540, 0.5):
            print("FAIL: %d of %d delivered" % (len(b.delivered()), n))
            return 1
        pairs, okp, bad, order = check_order(a, b, ids, "burst")
        print("burst: %d messages, %d pairs of different bands, %d in "
              "order (%.1f %%)" % (n, pairs, okp, 100.0 * okp / pairs))
        if bad or len(order) != n:
            print("FAIL: %d inversions, %d of %d completions seen" %
                  (len(bad), len(order), n))
            for x in bad[:20]:
                print("  " + x)
            return 1

        # an urgent message arriving during a routine one's transfer
        big = submit(a.port, -4, make_body(rnd, 120000, "routine-long"))
        assert h.wait_for(lambda: big in events(a.logpath, "sending"), 30)
        time.sleep(1.5)
        urgent = submit(a.port, 4, make_body(rnd, 1500, "urgent"))
        if not h.wait_for(lambda: len(b.delivered()) >= n + 2, 300, 0.5):
            print("FAIL: %d of %d delivered" % (len(b.delivered()), n + 2))
            return 1
        queued = events(a.logpath, "queued")
        ids = {big: int(re.search(r"band=(\d+)", queued[big][1]).group(1)),
               urgent: int(re.search(r"band=(\d+)",
                                     queued[urgent][1]).group(1))}
        pairs, okp, bad, order = check_order(a, b, ids, "preempt")
        if bad or order != [urgent, big]:
            print("FAIL: preempt order %s" % order, bad)
            return 1
        print("preempt: the urgent message overtook the routine one")

        time.sleep(2)  # a duplicate would show up now
        tags = [raw.split(b"\n\n", 1)[-1].split(b"\r\n\r\n", 1)[-1]
                .split(b"\n", 1)[0].strip() for raw in b.delivered()]
        if len(tags) != len(set(tags)) or len(tags) != n + 2:
            print("FAIL: %d deliveries, %d distinct" %
                  (len(tags), len(set(tags))))
            return 1
        ok = True
        print("ok")
        return 0
    finally:
        a.stop()
        b.stop()
        sim.stop()
        h.cleanup(top, ok)


if __name__ == "__main__":
    sys.exit(main())
