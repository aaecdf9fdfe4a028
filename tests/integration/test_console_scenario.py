#!/usr/bin/env python3
"""What each console panel says, step by step, in a scripted scenario under
the simulator (two gateways, hf-2400-hd), read from tmux at 80x24 and
200x50:

  1. traffic queued behind a held link: QUEUE lists it per band with the
     counts and bytes of the queue, ON AIR says nothing, the drain is
     unknown (link down), LINKS says DOWN HELD;
  2. an alert (link down longer than alert_link_down) is raised, shown,
     acknowledged from the console with 'a' (the daemon records the uid;
     `skywave status` says so) and cleared when the link comes back;
  3. on the air: only the message being transmitted, with its progress,
     the rate the ETA uses and an ETA; the waiting bands shrink;
  4. a BY;N message behind it is listed at risk with "delayed DSN, delivery
     goes on" and, past its deadline, the delayed DSN is an event;
  5. a BY;R message with ARCPT that cannot make it is listed "redirect to"
     its alternate and the redirect is an event;
  6. an outage (link down mid-transfer): ON AIR empties, the message is
     back in QUEUE, LINKS says DOWN;
  7. at 200x50 the on-air row carries the whole id and its ETA.
"""
import json
import os
import random
import re
import smtplib
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import gwharness as h  # noqa: E402

SKY = os.path.join(h.BUILD, "gateway", "skywave")


def panel(s, title):
    """The rows of panel title (up to the next panel header)."""
    out, on = [], False
    for line in s.splitlines():
        if line[:1].isupper():
            on = line.startswith(title)
            if on:
                out.append(line)
            continue
        if on:
            out.append(line)
    return out


def send(port, body, mail_opts=(), rcpt_opts=()):
    s = smtplib.SMTP("127.0.0.1", port, timeout=30)
    s.ehlo()
    s.mail("ops@alpha.example", list(mail_opts))
    s.rcpt("chief@bravo.example", list(rcpt_opts))
    code, msg = s.data(body)
    s.quit()
    m = re.search(rb"queued as ([0-9a-f]{32})", msg)
    assert code == 250 and m, (code, msg)
    return m.group(1).decode()


def noise(rnd, lines):
    return "\r\n".join("".join(rnd.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123"
                                          "456789+/") for _ in range(76))
                       for _ in range(lines)) + "\r\n"


def fmt_bytes(n):
    """status_fmt_bytes: decimal units, one decimal above 999 B"""
    if n < 1000:
        return "%d B" % n
    v = n / 1000.0
    for u in ("kB", "MB", "GB"):
        if v < 999.95:
            return "%.1f %s" % (v, u)
        v /= 1000.0
    return "%.1f TB" % v


def status_json(gw):
    return json.loads(h.sky(gw, "status", "--json"))


def main():
    seed = int(os.environ.get("SKYWAVE_SEED", "11"))
    print("seed", seed)
    top = h.tmpdir("scenario")
    ok = False
    sim = h.Sim(top, "hf-2400-hd", seed=seed)
    a = h.Gateway(top, "alpha.example",
                  [("hf", sim.dev("a"), "hf-2400-hd", "bravo.example")],
                  "bravo.example = link:hf\n"
                  "alpha.example = maildir:%s/alpha.example/mail\n" % top,
                  extra="alert_link_down = 5s\nrisk_slack = 10m\n")
    b = h.Gateway(top, "bravo.example",
                  [("hf", sim.dev("b"), "hf-2400-hd", "alpha.example")],
                  "bravo.example = maildir:%s/bravo.example/mail\n"
                  "alpha.example = link:hf\n" % top)
    t = h.Tmux("skywave-scn-%d" % os.getpid())
    rnd = random.Random(seed)
    try:
        a.start()
        b.start()
        assert h.wait_for(lambda: h.log_has(a.logpath, "event=session_up"),
                          30)
        # 1. queued behind a held link
        h.sky(a, "link", "down", "hf")
        bulk = "Subject: bulk\r\n\r\n" + noise(rnd, 400)
        bulk_id = send(a.port, bulk, ["MT-PRIORITY=4"])
        small_id = send(a.port, "Subject: small\r\n\r\nhello\r\n",
                        ["MT-PRIORITY=0"])
        sock = os.path.join(a.dir, "control.sock")
        cmd = "%s console --socket %s --interval 500 2>%s" % (
            SKY, sock, os.path.join(top, "console.err"))
        t.run("new-session", "-d", "-s", "main", "-x", "80", "-y", "24",
              "-e", "LANG=C.UTF-8", cmd)
        s = h.wait_screen(t, lambda s: "QUEUE (2 msgs waiting" in s,
                        "two messages waiting")
        print(s)
        st = status_json(a)
        bands = {q["name"]: q for q in st["bands"]}
        assert bands["Flash"]["messages"] == 1, bands
        assert bands["Priority"]["messages"] == 1, bands
        total = bands["Flash"]["bytes"] + bands["Priority"]["bytes"]
        q = panel(s, "QUEUE")
        assert q[0].startswith("QUEUE (2 msgs waiting, %s)" %
                               fmt_bytes(total)), q
        flash = [l for l in q if "Flash" in l][0]
        assert re.search(r"Flash\s+1 msg\s+%s\s+oldest \S+\s+drain - "
                         r"\(link down\)" % re.escape(
                             fmt_bytes(bands["Flash"]["bytes"])), flash), q
        assert [l for l in q if "Priority" in l and " 1 msg " in l], q
        assert "ON AIR  nothing" in s, s
        assert re.search(r"hf\s+DOWN\s+HELD", s), s
        # Flash is listed above Priority (highest band first)
        assert s.index("Flash") < s.index("Priority"), s

        # 2. the alert: raised, acknowledged, shown with the uid
        s = h.wait_screen(t, lambda s: "ALERTS (1 active, 1 not ack" in s,
                        "the link-down alert", 30)
        al = panel(s, "ALERTS")
        assert "ALERT" in al[1] and "link hf down for more than 5s (held "
        "by the operator)" in al[1], al
        t.keys("a")
        h.wait_screen(t, lambda s: "Acknowledge alert link_down:hf? (y/n)"
                    in s, "ack prompt")
        t.keys("y")
        s = h.wait_screen(t, lambda s: "ALERTS (1 active, 0 not ack" in s,
                        "the acknowledged alert")
        assert "ACKED" in s, s
        out = h.sky(a, "status")
        assert re.search(r"acked\s+link_down:hf", out), out
        assert "ack by uid=%d" % os.getuid() in out, out
        assert h.log_has(a.logpath, "alert=link_down:hf event=alert_acked "
                         "uid=%d" % os.getuid())
        print(s)

        # 3. on the air: the Flash message alone, with progress and ETA
        h.sky(a, "link", "up", "hf")

        def onair_row(s, msg_id):
            rows = panel(s, "ON AIR")
            for i, l in enumerate(rows):
                if msg_id[:12] in l:
                    return " ".join(rows[i:i + 2])
            return None
        s = h.wait_screen(t, lambda s: onair_row(s, bulk_id) and "ETA" in
                        onair_row(s, bulk_id), "bulk on the air", 60)
        print(s)
        row = onair_row(s, bulk_id)
        assert small_id[:12] not in "\n".join(panel(s, "ON AIR")), s
        m = re.search(r"(\d+)%\s+([\d.]+ k?B) / ([\d.]+ k?B)\s+ETA (\S+)",
                      row)
        assert m, row
        assert "QUEUE (1 msg waiting" in s, s
        s = h.wait_screen(t, lambda s: re.search(r"cleared\s.*link hf down",
                                               s), "the alert cleared")
        assert h.log_has(a.logpath, "alert=link_down:hf event=alert_cleared")
        st = status_json(a)
        x = [o for o in st["onair"] if o["id"] == bulk_id][0]
        assert x["rate_bps"] > 0 and x["eta_ms"] > 0, x
        assert len(st["onair"]) == 1, st["onair"]

        # 4. BY;N behind it: at risk with what a miss does, then the DSN
        late_n = send(a.port, "Subject: n\r\n\r\n" + noise(rnd, 20),
                      ["MT-PRIORITY=-4", "BY=25;N"])
        # 5. BY;R with an alternate that cannot make it: a redirect
        late_r = send(a.port, "Subject: r\r\n\r\n" + noise(rnd, 300),
                      ["MT-PRIORITY=-4", "BY=60;R"],
                      ["ARCPT=rfc822;duty@alpha.example"])
        s = h.wait_screen(t, lambda s: late_n[:12] in "\n".join(
            panel(s, "DEADLINES")), "the BY;N message at risk")
        risk = "\n".join(panel(s, "DEADLINES"))
        print(s)
        row = [l for l in risk.splitlines() if late_n[:12] in l][0]
        assert "BY;N" in row and "delayed DSN, delivery goes on" in row, row
        st = status_json(a)
        rr = [r for r in st["risk"] if r["id"] == late_r]
        assert rr and rr[0]["action"] == "redirect" and \
            rr[0]["target"] == "duty@alpha.example", st["risk"]
        assert st["risk_slack_ms"] == 600000
        def event(text):
            return any(text in e["text"] for e in status_json(a)["events"])
        assert h.wait_for(lambda: event("event=redirect to=<duty@alpha."
                                        "example>"), 60), "no redirect"
        assert h.wait_for(lambda: event("event=dsn action=delayed"), 60), \
            "no delayed DSN"
        s = h.wait_screen(t, lambda s: "1 deadline missed" in s,
                          "the deadline alert (the BY;N; the redirect came "
                          "before its deadline)", 20)
        print(s)
        assert h.wait_for(lambda: "skywave_deadlines_missed_total 1" in
                          h.sky(a, "metrics"), 10), h.sky(a, "metrics")

        # 6. an outage in the middle of the transfer
        h.sky(a, "link", "down", "hf")
        s = h.wait_screen(t, lambda s: "ON AIR  nothing" in s and
                        re.search(r"hf\s+DOWN", s), "the outage")
        assert bulk_id[:12] not in "\n".join(panel(s, "ON AIR")), s
        assert "drain - (link down)" in "\n".join(panel(s, "QUEUE")), s
        h.sky(a, "link", "up", "hf")

        # 7. 200x50: one row per transfer, the whole id, its ETA
        t.run("resize-window", "-t", "main", "-x", "200", "-y", "50")
        s = h.wait_screen(t, lambda s: any(bulk_id in l and "ETA" in l
                                         for l in s.splitlines()),
                        "the wide on-air row", 60)
        print(s)
        assert all(len(l) <= 200 for l in s.splitlines())
        t.keys("q")
        ok = True
        print("ok")
    finally:
        t.kill()
        a.stop()
        b.stop()
        sim.stop()
        h.cleanup(top, ok)


if __name__ == "__main__":
    sys.exit(main())
