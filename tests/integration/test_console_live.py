#!/usr/bin/env python3
"""The operator's console against a running two-gateway simulation, driven
in tmux: the link's state, a progress bar that moves, a message whose
deadline is at risk, and a hold then release that take effect in the real
queue (the held message leaves the air, the release puts it back).
Resizes to 80x24 and to a large terminal."""
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


def select(t, panel, msg_id):
    """Tab to panel (its title is marked when current) and move the
    selection (the '>' row) to msg_id."""
    for _ in range(8):
        s = t.capture()
        sel = [l for l in s.splitlines() if l.startswith(">")]
        if sel and msg_id[:12] in sel[0]:
            start = s.index(panel) if panel in s else -1
            if start >= 0 and s.index(sel[0]) > start:
                return
        if sel and msg_id[:12] not in sel[0] and panel in s and \
                s.index(sel[0]) > s.index(panel):
            t.keys("j")
        else:
            t.keys("Tab")
        time.sleep(0.4)
    raise AssertionError("could not select %s in %s:\n%s" % (
        msg_id, panel, t.capture()))


def send(port, body, opts=()):
    s = smtplib.SMTP("127.0.0.1", port, timeout=30)
    s.ehlo()
    s.mail("ops@alpha.example", list(opts))
    s.rcpt("chief@bravo.example")
    code, msg = s.data(body)
    s.quit()
    m = re.search(rb"queued as ([0-9a-f]{32})", msg)
    assert code == 250 and m, (code, msg)
    return m.group(1).decode()


def main():
    top = h.tmpdir("console")
    ok = False
    sim = h.Sim(top, "hf-2400-hd", seed=5)
    a = h.Gateway(top, "alpha.example",
                  [("hf", sim.dev("a"), "hf-2400-hd", "bravo.example")],
                  "bravo.example = link:hf\n")
    b = h.Gateway(top, "bravo.example",
                  [("hf", sim.dev("b"), "hf-2400-hd", "alpha.example")],
                  "bravo.example = maildir:%s/bravo.example/mail\n" % top)
    t = h.Tmux("skywave-live-%d" % os.getpid())
    try:
        a.start()
        b.start()
        h.wait_for(lambda: h.log_has(a.logpath, "event=session_up"), 30)
        rnd = random.Random(1)
        # 40 kB that does not compress: two minutes of airtime
        bulk = "Subject: bulk\r\n\r\n" + "\r\n".join(
            "".join(rnd.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/")
                    for _ in range(76)) for _ in range(520)) + "\r\n"
        bulk_id = send(a.port, bulk)
        # BY;N a minute away behind the bulk: at risk, a DSN is planned
        risky_id = send(a.port, "Subject: soon\r\n\r\nneeded soon\r\n",
                        ["BY=60;N"])
        sock = os.path.join(a.dir, "control.sock")
        cmd = "%s console --socket %s --interval 500 2>%s" % (
            SKY, sock, os.path.join(top, "console.err"))
        t.run("new-session", "-d", "-s", "main", "-x", "80", "-y", "24",
              "-e", "LANG=C.UTF-8", cmd)

        s = h.wait_screen(t, lambda s: re.search(
            r"hf\s+(SENDING|TURNAROUND|RECEIVING|IDLE)", s) and
            bulk_id[:12] in s, "link and on-air message")
        print(s)

        def sent(screen):
            """bytes sent of the bulk message: its bar is the next row"""
            lines = screen.splitlines()
            for i, line in enumerate(lines[:-1]):
                if bulk_id[:12] in line:
                    m = re.search(r"\[(#*)\.*\]\s+(\d+)%\s+([\d.]+ k?B) /",
                                  lines[i + 1])
                    return (m.group(1), m.group(3)) if m else None
            return None
        first = sent(s)
        h.wait_screen(t, lambda s: sent(s) is not None and first is not None
                    and sent(s)[1] != first[1] and
                    len(sent(s)[0]) > len(first[0]),
                    "the progress bar to move", 60)

        s = h.wait_screen(t, lambda s: "DEADLINES AT RISK" in s and
                        risky_id[:12] in s[s.index("DEADLINES AT RISK"):],
                        "the message at risk", 40)
        print(s)

        # hold the bulk message from the ON AIR panel, then release it
        select(t, "ON AIR", bulk_id)
        t.keys("h")
        h.wait_screen(t, lambda s: "Hold message %s? (y/n)" % bulk_id in s,
                    "hold prompt")
        t.keys("y")
        def held_row(s):
            lines = s.splitlines()
            for i, line in enumerate(lines[:-1]):
                if line.startswith("HELD"):
                    return "none" not in line and bulk_id[:12] in lines[i + 1]
            return False
        s = h.wait_screen(t, held_row, "the held message in the HELD panel")
        print(s)
        st = subprocess.run([SKY, "queue", "show", bulk_id, "--socket",
                             sock], capture_output=True, text=True)
        assert "held" in st.stdout, st.stdout + st.stderr
        t.run("resize-window", "-t", "main", "-x", "200", "-y", "60")
        h.wait_screen(t, lambda s: bulk_id in s, "whole id at 200x60")
        t.run("resize-window", "-t", "main", "-x", "80", "-y", "24")
        h.wait_screen(t, lambda s: len(s.splitlines()[0]) <= 80 and
                    "LINKS" in s, "80x24 again")
        select(t, "HELD", bulk_id)
        t.keys("r")
        h.wait_screen(t, lambda s: "Release message %s? (y/n)" % bulk_id in s,
                    "release prompt")
        t.keys("y")
        h.wait_screen(t, lambda s: "release: 1 recipient" in s, "released")
        h.wait_screen(t, lambda s: bulk_id[:12] in s[s.index("ON AIR"):
                                                   s.index("ON AIR") + 400],
                    "the bulk message back on the air", 40)
        st = subprocess.run([SKY, "queue", "show", bulk_id, "--socket",
                             sock], capture_output=True, text=True)
        assert "held" not in st.stdout, st.stdout
        t.keys("q")
        ok = True
        print("ok")
        return 0
    finally:
        t.kill()
        a.stop()
        b.stop()
        sim.stop()
        if not ok:
            for g in (a, b):
                print("---", g.name)
                print("".join(open(g.logpath, errors="replace")
                              .readlines()[-20:]))
        h.cleanup(top, ok)


if __name__ == "__main__":
    sys.exit(main())
