#!/usr/bin/env python3
"""Operator commands with bad input get a clear error and lose nothing, in
the running daemon: alpha (two links over skywave-sim: hf to bravo, and
`off`, configured with enabled = no, to charlie) with a local SMTP route
whose hop is down, so its message waits.
  - `requeue ID ROUTE` refuses a target no [route] line has and a link
    that is not configured (the message keeps its route), and takes a
    configured link (the message then crosses it);
  - `queue list` shows the sender and priority that `queue show` shows;
  - `--band` takes band names (any case) and numbers, and refuses others;
  - a link with enabled = no never starts: the far gateway never sees a
    session and the message for it stays queued."""
import json
import os
import smtplib
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..",
                                "integration"))
import gwharness as h  # noqa: E402
import hops  # noqa: E402


def send(gw, rcpt, prio, subject):
    with smtplib.SMTP("127.0.0.1", gw.port, timeout=30) as s:
        s.sendmail("ops@alpha.test", [rcpt],
                   "Subject: %s\r\n\r\nbody\r\n" % subject,
                   mail_options=["MT-PRIORITY=%d" % prio])


def listing(gw, *extra):
    return json.loads(h.sky(gw, "queue", "list", "--json", *extra))


def main():
    top = h.tmpdir("opin")
    ok = False
    sim = h.Sim(top, "los-19200", links=2)
    closed = hops.closed_port()
    alpha = h.Gateway(top, "alpha.test", [
        ("hf", sim.dev("a", 0), "los-19200", "bravo.test"),
        ("off", sim.dev("a", 1), "los-19200", "charlie.test")],
        "far.test = link:hf\noff.test = link:off\n"
        "loc.test = smtp:127.0.0.1:%d\n" % closed)
    with open(alpha.conf) as f:
        text = f.read()
    with open(alpha.conf, "w") as f:
        f.write(text.replace("peer = charlie.test\n",
                             "peer = charlie.test\nenabled = no\n"))
    bravo = h.Gateway(top, "bravo.test", [
        ("hf", sim.dev("b", 0), "los-19200", "alpha.test")],
        "* = maildir:%s\n" % os.path.join(top, "bravo-mail"))
    charlie = h.Gateway(top, "charlie.test", [
        ("hf", sim.dev("b", 1), "los-19200", "alpha.test")],
        "* = maildir:%s\n" % os.path.join(top, "charlie-mail"))
    procs = [alpha, bravo, charlie]
    try:
        for g in procs:
            g.start()
        send(alpha, "x@loc.test", 4, "waits")
        send(alpha, "y@off.test", 0, "for the disabled link")
        assert h.wait_for(lambda: len(listing(alpha)) == 2, 20), \
            listing(alpha)
        rows = {r["rcpts"]: r for r in listing(alpha)}
        x = rows["x@loc.test"]
        show = json.loads(h.sky(alpha, "queue", "show", x["id"], "--json"))
        show = show[0] if isinstance(show, list) else show
        for k in ("sender", "priority"):
            assert x[k] == show[k], (k, x, show)
        assert x["sender"] == "ops@alpha.test", x
        assert x["priority"] == 4, x
        route = x["route"]

        # requeue onto targets nobody serves: refused, nothing moves
        for bad, why in (("smtp:127.0.0.1:1", "not the target"),
                         ("link:nosuch", "no link named")):
            r = h.sky_run(alpha, "requeue", x["id"], bad)
            assert r.returncode != 0, (bad, r.stdout)
            assert why in (r.stdout + r.stderr), (bad, r.stdout, r.stderr)
            now = {q["rcpts"]: q for q in listing(alpha)}["x@loc.test"]
            assert now["route"] == route, (bad, now)

        # --band: names (any case) and numbers
        for b in ("flash", "FLASH", "4"):
            got = [q["rcpts"] for q in listing(alpha, "--band", b)]
            assert got == ["x@loc.test"], (b, got)
        assert [q["rcpts"] for q in listing(alpha, "--band", "priority")] \
            == ["y@off.test"]
        r = h.sky_run(alpha, "queue", "list", "--band", "urgentest")
        assert r.returncode != 0 and "band" in (r.stdout + r.stderr), r

        # a configured link: taken, and the message crosses it
        h.sky(alpha, "requeue", x["id"], "link:hf")
        box = os.path.join(top, "bravo-mail", "new")
        assert h.wait_for(lambda: os.path.isdir(box) and
                          len(os.listdir(box)) == 1, 60), "not across hf"

        # the disabled link never started
        time.sleep(3)
        assert not h.log_has(charlie.logpath, "event=session_up"), \
            "charlie saw a session over a disabled link"
        assert not h.log_has(alpha.logpath, "link=off event=session_up")
        y = [q for q in listing(alpha) if q["rcpts"] == "y@off.test"]
        assert y and y[0]["state"] in ("ready", "queued"), y
        ok = True
        print("ok")
        return 0
    finally:
        for g in procs:
            g.stop()
        sim.stop()
        h.cleanup(top, ok)


if __name__ == "__main__":
    sys.exit(main())
