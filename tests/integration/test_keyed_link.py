#!/usr/bin/env python3
"""A link with a pre-shared key between two real gateways: with the same key
mail crosses; with different keys the session is refused with a clear
logged reason, nothing is delivered, and the gateway stays up and keeps the
message queued."""
import os
import smtplib
import sys

sys.path.insert(0, os.path.dirname(__file__))
import gwharness as h  # noqa: E402


def run(top, key_a, key_b):
    sim = h.Sim(top, "los-19200", seed=3)
    ka = os.path.join(top, "a.key")
    kb = os.path.join(top, "b.key")
    open(ka, "w").write(key_a + "\n")
    open(kb, "w").write(key_b + "\n")
    a = h.Gateway(top, "alpha.example",
                  [("r", sim.dev("a"), "los-19200", "bravo.example", ka)],
                  "bravo.example = link:r\n")
    b = h.Gateway(top, "bravo.example",
                  [("r", sim.dev("b"), "los-19200", "alpha.example", kb)],
                  "bravo.example = maildir:%s/bravo.example/mail\n" % top)
    try:
        a.start()
        b.start()
        s = smtplib.SMTP("127.0.0.1", a.port, timeout=30)
        s.sendmail("ops@alpha.example", ["chief@bravo.example"],
                   "Subject: keyed\r\n\r\nsecret-free text\r\n")
        s.quit()
        if key_a == key_b:
            return h.wait_for(lambda: len(b.delivered()) == 1, 60)
        # mismatch: a clear error, nothing delivered, daemon alive
        seen = h.wait_for(lambda: h.log_has(a.logpath, "event=session_error")
                          or h.log_has(b.logpath, "event=session_error"), 60)
        alive = a.proc.poll() is None and b.proc.poll() is None
        return seen and alive and len(b.delivered()) == 0
    finally:
        a.stop()
        b.stop()
        sim.stop()


def main():
    k1 = "00112233445566778899aabbccddeeff" * 2
    k2 = "ffeeddccbbaa99887766554433221100" * 2
    ok = True
    for (name, ka, kb) in (("same key", k1, k1), ("different keys", k1, k2)):
        top = h.tmpdir("key")
        good = run(top, ka, kb)
        print("%s: %s" % (name, "ok" if good else "FAIL"))
        if not good:
            for g in ("alpha.example", "bravo.example"):
                p = os.path.join(top, g, "skywaved.log")
                if os.path.exists(p):
                    print("---", g)
                    print("".join(open(p).readlines()[-15:]))
        h.cleanup(top, good)
        ok = ok and good
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
