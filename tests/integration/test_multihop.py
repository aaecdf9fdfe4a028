#!/usr/bin/env python3
"""Three real gateways in a chain over two simulated links
(alpha -> bravo -> charlie): mail for charlie is stored and forwarded by
bravo, which is killed with SIGKILL mid-transfer and restarted. Every message
arrives at charlie's Maildir exactly once with identical content, carrying
the trace of both hops (alpha's SMTP Received field and one Received field
per air hop). Prints its seed."""
import hashlib
import os
import random
import smtplib
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import gwharness as h  # noqa: E402

PROF = "los-19200"


def main():
    seed = int(os.environ.get("SKYWAVE_SEED", int(time.time())))
    print("seed=%d (repeat with SKYWAVE_SEED=%d)" % (seed, seed))
    rnd = random.Random(seed)
    top = h.tmpdir("hop")
    ok = False
    sim = h.Sim(top, PROF, links=2, seed=seed)
    a = h.Gateway(top, "alpha.example",
                  [("ab", sim.dev("a", 0), PROF, "bravo.example")],
                  "charlie.example = link:ab\n")
    b = h.Gateway(top, "bravo.example",
                  [("ab", sim.dev("b", 0), PROF, "alpha.example"),
                   ("bc", sim.dev("a", 1), PROF, "charlie.example")],
                  "charlie.example = link:bc\nalpha.example = link:ab\n")
    c = h.Gateway(top, "charlie.example",
                  [("bc", sim.dev("b", 1), PROF, "bravo.example")],
                  "charlie.example = maildir:%s/charlie.example/mail\n" % top)
    gws = (a, b, c)
    try:
        for g in gws:
            g.start()
        want = {}
        n = 16
        for i in range(n):
            size = rnd.choice([300, 3000, 30000])
            words = " ".join("m%x" % rnd.getrandbits(24)
                             for _ in range(size // 8))
            body = ("hop-%d\r\n" % i) + "\r\n".join(
                words[j:j + 70] for j in range(0, len(words), 70)) + "\r\n"
            s = smtplib.SMTP("127.0.0.1", a.port, timeout=30)
            s.sendmail("ops@alpha.example", ["boss@charlie.example"],
                       "Subject: hop %d\r\n\r\n%s" % (i, body))
            s.quit()
            want["hop-%d" % i] = hashlib.sha256(body.encode()).hexdigest()
        # kill the middle gateway while it stores and forwards
        h.wait_for(lambda: h.log_has(b.logpath, "event=received"), 60)
        time.sleep(rnd.uniform(0.2, 1.5))
        b.kill9()
        time.sleep(rnd.uniform(0.5, 2.0))
        b.start()
        if not h.wait_for(lambda: len(c.delivered()) >= n, 240, 0.5):
            print("FAIL: %d of %d delivered" % (len(c.delivered()), n))
            return 1
        time.sleep(3)
        got = {}
        for raw in c.delivered():
            text = raw.replace(b"\r\n", b"\n")
            head, body = text.split(b"\n\n", 1)
            body = body.replace(b"\n", b"\r\n")
            tok = body.split(b"\r\n", 1)[0].decode()
            if tok in got:
                print("FAIL: %s delivered twice" % tok)
                return 1
            got[tok] = hashlib.sha256(body).hexdigest()
            if b"by alpha.example" not in head:
                print("FAIL: %s lacks alpha's Received" % tok)
                return 1
            # each air hop's trace, newest first: charlie got it from
            # bravo, bravo from alpha
            air = [ln for ln in head.split(b"\n")
                   if ln.startswith(b"Received: ") and
                   b"X-SKYWAVE-AIR" in ln]
            if air != [b"Received: from bravo.example by charlie.example "
                       b"(skywave) with X-SKYWAVE-AIR",
                       b"Received: from alpha.example by bravo.example "
                       b"(skywave) with X-SKYWAVE-AIR"]:
                print("FAIL: %s air hops' trace: %r" % (tok, air))
                return 1
        if set(got) != set(want):
            print("FAIL: missing", sorted(set(want) - set(got)))
            return 1
        for tok, sha in want.items():
            if got[tok] != sha:
                print("FAIL: %s content differs" % tok)
                return 1
        for g in gws:
            if g.stop() != 0:
                print("FAIL: %s did not stop cleanly" % g.name)
                return 1
        print("ok: %d messages over two hops exactly once" % n)
        ok = True
        return 0
    finally:
        for g in gws:
            g.stop()
        sim.stop()
        if not ok:
            for g in gws:
                print("---", g.name)
                with open(g.logpath, errors="replace") as f:
                    print("".join(f.readlines()[-20:]))
        h.cleanup(top, ok)


if __name__ == "__main__":
    sys.exit(main())
