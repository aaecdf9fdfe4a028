#!/usr/bin/env python3
"""Two real skywaved processes over skywave-sim ptys deliver a batch of
messages while each side is killed with SIGKILL during the transfer and
restarted. Every message must arrive at the far Maildir exactly once with
identical content, and a message acknowledged with 250 just before a
kill -9 of the sending gateway must survive. Prints its seed."""
import hashlib
import os
import random
import smtplib
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import gwharness as h  # noqa: E402


def body_of(raw):
    return raw.split(b"\n\n", 1)[1] if b"\n\n" in raw else raw.split(
        b"\r\n\r\n", 1)[1]


def main():
    seed = int(os.environ.get("SKYWAVE_SEED", int(time.time())))
    print("seed=%d (repeat with SKYWAVE_SEED=%d)" % (seed, seed))
    rnd = random.Random(seed)
    top = h.tmpdir("once")
    ok = False
    sim = h.Sim(top, "los-19200", seed=seed)
    a = h.Gateway(top, "alpha.example", [("r", sim.dev("a"), "los-19200",
                                          "bravo.example")],
                  "bravo.example = link:r\nalpha.example = maildir:%s/alpha.example/mail\n" % top)
    b = h.Gateway(top, "bravo.example", [("r", sim.dev("b"), "los-19200",
                                          "alpha.example")],
                  "alpha.example = link:r\nbravo.example = maildir:%s/bravo.example/mail\n" % top)
    try:
        a.start()
        b.start()
        want = {}
        n = 24
        for i in range(n):
            size = rnd.choice([200, 2000, 20000, 60000])
            words = " ".join("w%x" % rnd.getrandbits(20)
                             for _ in range(size // 8))
            body = ("token-%d\r\n" % i) + "\r\n".join(
                words[j:j + 70] for j in range(0, len(words), 70)) + "\r\n"
            msg = "Subject: batch %d\r\n\r\n%s" % (i, body)
            s = smtplib.SMTP("127.0.0.1", a.port, timeout=30)
            s.sendmail("ops@alpha.example", ["chief@bravo.example"], msg)
            s.quit()
            want["token-%d" % i] = hashlib.sha256(
                body.encode()).hexdigest()
            if i == n // 2:
                # kill -9 right after a 250, then again mid-transfer
                a.kill9()
                a.start()
        kills = 0
        for victim in (b, a, b):
            time.sleep(rnd.uniform(0.5, 3.0))
            victim.kill9()
            kills += 1
            time.sleep(rnd.uniform(0.2, 1.0))
            victim.start()
        if not h.wait_for(lambda: len(b.delivered()) >= n, 240, 0.5):
            print("FAIL: %d of %d delivered" % (len(b.delivered()), n))
            return 1
        time.sleep(3)  # a duplicate would show up now
        got = {}
        for raw in b.delivered():
            body = body_of(raw.replace(b"\r\n", b"\n")).replace(b"\n",
                                                                 b"\r\n")
            tok = body.split(b"\r\n", 1)[0].decode()
            if tok in got:
                print("FAIL: %s delivered twice" % tok)
                return 1
            got[tok] = hashlib.sha256(body).hexdigest()
        if set(got) != set(want):
            print("FAIL: missing", sorted(set(want) - set(got)))
            return 1
        for tok, sha in want.items():
            if got[tok] != sha:
                print("FAIL: %s content differs" % tok)
                return 1
        if a.stop() != 0 or b.stop() != 0:
            print("FAIL: unclean stop")
            return 1
        print("ok: %d messages exactly once after %d kills" % (n, kills + 1))
        ok = True
        return 0
    finally:
        a.stop()
        b.stop()
        sim.stop()
        if not ok:
            for g in (a, b):
                print("---", g.name)
                with open(g.logpath, errors="replace") as f:
                    print("".join(f.readlines()[-25:]))
        h.cleanup(top, ok)


if __name__ == "__main__":
    sys.exit(main())
