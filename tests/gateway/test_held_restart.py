#!/usr/bin/env python3
"""Held messages survive a restart in the operator's view: a message held
with `skywave hold` is still listed as held by `skywave status --json`
after skywaved restarts (read back from the queue, with who held it and
when), `skywave queue list` shows it among the waiting work, and a
release after the restart takes it off the list."""
import json
import os
import re
import smtplib
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..",
                                "integration"))
import gwharness as h  # noqa: E402



def send(port, rcpt):
    s = smtplib.SMTP("127.0.0.1", port, timeout=30)
    s.ehlo()
    s.mail("ops@alpha.example")
    s.rcpt(rcpt)
    code, msg = s.data("Subject: held\r\n\r\nwait for it\r\n")
    s.quit()
    m = re.search(rb"queued as ([0-9a-f]{32})", msg)
    assert code == 250 and m, (code, msg)
    return m.group(1).decode()


def held(gw):
    return json.loads(h.sky(gw, "status", "--json")).get("held", [])


def main():
    top = h.tmpdir("held")
    ok = False
    # the far gateway never starts: mail for it waits on the link
    sim = h.Sim(top, "hf-2400-hd", seed=3)
    a = h.Gateway(top, "alpha.example",
                  [("hf", sim.dev("a"), "hf-2400-hd", "bravo.example")],
                  "bravo.example = link:hf\n")
    try:
        a.start()
        kept = send(a.port, "chief@bravo.example")
        other = send(a.port, "clerk@bravo.example")
        out = h.sky(a, "hold", kept)
        assert "hold: 1 recipient" in out, out
        assert h.wait_for(lambda: [x["id"] for x in held(a)] == [kept], 10)
        t_hold = time.time()
        assert a.stop() == 0

        a.start()
        lst = []
        assert h.wait_for(lambda: len(held(a)) == 1, 10), held(a)
        lst = held(a)
        x = lst[0]
        assert x["id"] == kept, lst
        assert x["by"] == "uid=%d" % os.getuid(), x
        assert "chief@bravo.example" in x["rcpts"], x
        assert abs(x["since_s"] - t_hold) < 30, (x, t_hold)
        assert other not in [y["id"] for y in lst]
        out = h.sky(a, "queue", "show", kept)
        assert "held" in out, out
        # the listing shows every waiting recipient: the held one too
        rows = json.loads(h.sky(a, "queue", "list", "--json"))
        by_id = {r["id"]: r for r in rows}
        assert by_id[kept]["state"] == "held", rows
        assert by_id[other]["state"] in ("ready", "inflight"), rows
        assert by_id[other]["route"] == "link:hf", rows
        band = by_id[other]["band"]
        rows = json.loads(h.sky(a, "queue", "list", "--band", band,
                              "--json"))
        assert len(rows) == 2, rows
        rows = json.loads(h.sky(a, "queue", "list", "--band",
                              str(int(band) + 1), "--json"))
        assert rows == [], rows

        out = h.sky(a, "release", kept)
        assert "release: 1 recipient" in out, out
        assert h.wait_for(lambda: held(a) == [], 10), held(a)
        assert a.stop() == 0
        a.start()
        time.sleep(0.5)
        assert held(a) == [], held(a)
        ok = True
        print("ok")
        return 0
    finally:
        a.stop()
        sim.stop()
        if not ok:
            print("".join(open(a.logpath, errors="replace")
                          .readlines()[-30:]))
        h.cleanup(top, ok)


if __name__ == "__main__":
    sys.exit(main())
