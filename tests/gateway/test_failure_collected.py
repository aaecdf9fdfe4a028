#!/usr/bin/env python3
"""A permanent failure leaves nothing behind: its DSN is queued in the
same transaction that closes the recipient (FAILED -> DSN_QUEUED), and the
message is then collected from the queue. Three paths through a real
skywaved with an onward SMTP hop on loopback:
  1. the hop answers 550 5.1.1 for one recipient: the sender gets one
     failed DSN (5.1.1), the other recipient is delivered, the message is
     collected;
  2. NOTIFY=NEVER with the same 550: no DSN, the message is collected;
  3. an operator cancel of a message the hop keeps deferring: the sender
     gets its DSN at once (not at the next start) and it is collected."""
import json
import os
import smtplib
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..",
                                "integration"))
import gwharness as h  # noqa: E402



class Hop:
    """550 for gone@y.test, 451 for slow@y.test, 250 otherwise."""

    def __init__(self):
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(8)
        self.srv.settimeout(0.3)
        self.port = self.srv.getsockname()[1]
        self.delivered = []
        self.stop = False
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while not self.stop:
            try:
                c, _ = self.srv.accept()
            except socket.timeout:
                continue
            threading.Thread(target=self.session, args=(c,),
                             daemon=True).start()

    def session(self, c):
        f = c.makefile("rb")

        def say(t):
            c.sendall(t.encode() + b"\r\n")
        say("220 hop.test ESMTP")
        rcpts = []
        try:
            while True:
                line = f.readline().decode("utf-8", "replace").strip()
                up = line.upper()
                if not line:
                    return
                if up.startswith("EHLO"):
                    say("250-hop.test\r\n250 ENHANCEDSTATUSCODES")
                elif up.startswith("RCPT"):
                    if "GONE@" in up:
                        say("550 5.1.1 no such user")
                    elif "SLOW@" in up:
                        say("451 4.3.0 try later")
                    else:
                        rcpts.append(line)
                        say("250 2.1.5 ok")
                elif up.startswith("DATA"):
                    say("354 go")
                    while f.readline() not in (b".\r\n", b""):
                        pass
                    self.delivered += rcpts
                    rcpts = []
                    say("250 2.0.0 ok")
                elif up.startswith("QUIT"):
                    say("221 2.0.0 bye")
                    return
                else:
                    say("250 2.0.0 ok")
        finally:
            c.close()


def send(port, rcpts, opts=()):
    s = smtplib.SMTP("127.0.0.1", port, timeout=30)
    s.ehlo()
    s.mail("a@x.test")
    for r in rcpts:
        code, msg = s.rcpt(r, list(opts))
        assert code == 250, (code, msg)
    code, msg = s.data("Subject: t\r\n\r\nbody\r\n")
    s.quit()
    assert code == 250, (code, msg)
    return msg.decode().split("queued as ")[1].split()[0]


def waiting(gw):
    return json.loads(h.sky(gw, "queue", "list", "--json"))


def main():
    top = h.tmpdir("failcoll")
    ok = False
    hop = Hop()
    a = h.Gateway(top, "alpha.example", [],
                  "y.test = smtp:127.0.0.1:%d\n"
                  "x.test = maildir:%s/alpha.example/mail\n"
                  % (hop.port, top))
    try:
        a.start()
        m1 = send(a.port, ["gone@y.test", "here@y.test"])
        assert h.wait_for(lambda: len(a.delivered()) == 1, 30)
        dsn = a.delivered()[0].decode(errors="replace")
        assert "Action: failed" in dsn and "Status: 5.1.1" in dsn, dsn
        assert "gone@y.test" in dsn and "here@y.test" not in \
            dsn.split("text/rfc822-headers")[0], dsn
        assert any("here@y.test" in r for r in hop.delivered)

        m2 = send(a.port, ["gone@y.test"], ["NOTIFY=NEVER"])
        assert h.wait_for(lambda: h.log_has(
            a.logpath, "msg=%s rcpt=<gone@y.test> event=failed" % m2), 30)

        m3 = send(a.port, ["slow@y.test"])
        assert h.wait_for(lambda: any(r["id"] == m3 and
                                      r["state"] == "deferred"
                                      for r in waiting(a)), 30)
        assert "cancel: 1 recipient" in h.sky(a, "cancel", m3)
        assert h.wait_for(lambda: len(a.delivered()) == 2, 10), \
            "no DSN after the cancel"
        dsn = a.delivered()[1].decode(errors="replace")
        assert "Action: failed" in dsn and "slow@y.test" in dsn, dsn

        # nothing of the three is left in the queue
        for m in (m1, m2, m3):
            assert h.wait_for(lambda: h.sky_run(
                a, "queue", "show", m).returncode != 0, 10), m
        assert waiting(a) == []
        time.sleep(0.5)
        assert len(a.delivered()) == 2  # no second DSN for anything
        ok = True
        print("ok")
        return 0
    finally:
        hop.stop = True
        a.stop()
        if not ok:
            print("".join(open(a.logpath, errors="replace")
                          .readlines()[-40:]))
        h.cleanup(top, ok)


if __name__ == "__main__":
    sys.exit(main())
