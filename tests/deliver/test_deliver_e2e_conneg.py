#!/usr/bin/env python3
"""DRUCOF toward an onward SMTP hop that offers CONNEG, through skywaved:

  smtplib RCPT b@y.test DRUCOF NOTIFY=SUCCESS -> skywaved alpha
      -> smtp route -> a fake next hop (CONNEG, DRUCOF, no DSN) whose
         RCPT ... CONNEG answer is "(type=text/plain)"

The HTML message is converted by alpha before it is relayed: the hop sees a
probe (RCPT ... CONNEG, RSET), then a transaction without DRUCOF carrying
text/plain. The hop has no DSN and the sender asked SUCCESS, so alpha owes
a "relayed" DSN; the conversion lost information, so its Status is 2.6.4
and its diagnostic names the conversion. The DSN is delivered to the
sender's Maildir (x.test is local to alpha). A message without DRUCOF to
the same hop goes as it is: no CONNEG query. The same HTML message to a
local DRUCOF recipient (d@x.test, who can use text/plain only) is
converted before Maildir delivery, and its "delivered" DSN says 2.6.4.
Skips (exit 77) when skywaved is not built.
"""
import glob
import os
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwx  # noqa: E402
import pfx  # noqa: E402

HTML = (b"From: a@x.test\r\nTo: b@y.test\r\nSubject: weather\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/html; charset=us-ascii\r\n"
        b"\r\n<html><body><p>Wind <b>force 5</b>.</p></body></html>\r\n")


class Hop:
    """A next hop with CONNEG and DRUCOF (and PIPELINING), no DSN."""

    def __init__(self):
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(8)
        self.port = self.srv.getsockname()[1]
        self.lines = []      # every command received
        self.messages = []   # message contents
        self.stop = False
        self.t = threading.Thread(target=self.serve, daemon=True)
        self.t.start()

    def serve(self):
        self.srv.settimeout(0.5)
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
        try:
            while True:
                raw = f.readline()
                if not raw:
                    return
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                self.lines.append(line)
                up = line.upper()
                if up.startswith("EHLO"):
                    say("250-hop.test\r\n250-PIPELINING\r\n250-CONNEG\r\n"
                        "250 DRUCOF")
                elif up.startswith("RCPT") and up.endswith(" CONNEG"):
                    say("250-2.1.5 ok\r\n250 CONNEG (type=text/plain)")
                elif up.startswith("DATA"):
                    say("354 go ahead")
                    body = b""
                    while True:
                        d = f.readline()
                        if d in (b".\r\n", b".\n", b""):
                            break
                        body += d[1:] if d.startswith(b".") else d
                    self.messages.append(body)
                    say("250 2.0.0 queued")
                elif up.startswith("QUIT"):
                    say("221 2.0.0 bye")
                    return
                else:
                    say("250 2.0.0 ok")
        finally:
            c.close()


def main():
    skywaved = gwx.SKYWAVED
    if not os.access(skywaved, os.X_OK):
        print("SKIP: skywaved is not built")
        sys.exit(77)
    work = tempfile.mkdtemp(prefix="skywave-e2econneg-")
    failures = []
    proc = None

    def check(cond, what):
        print(("ok   " if cond else "FAIL ") + what)
        if not cond:
            failures.append(what)

    hop = Hop()
    try:
        port = pfx.free_port()
        gw = os.path.join(work, "alpha")
        os.makedirs(gw)
        mail = os.path.join(work, "mail")
        caps = os.path.join(gw, "caps")
        with open(caps, "w") as fh:
            # alpha's own recipients (x.test) use plain text only
            fh.write("@x.test (type=text/plain)\n")
        conf = os.path.join(gw, "skywave.conf")
        with open(conf, "w") as fh:
            fh.write("[gateway]\nhostname = alpha.example\n"
                     "listen = 127.0.0.1:%d\ndata_dir = %s\ncaps_file = %s\n"
                     "\n[route]\ny.test = smtp:127.0.0.1:%d\n"
                     "x.test = maildir:%s\n" % (port, gw, caps, hop.port,
                                                mail))
        log = os.path.join(gw, "skywaved.log")
        proc = subprocess.Popen([skywaved, "--foreground", "--config", conf],
                                stdout=open(log, "w"),
                                stderr=subprocess.STDOUT)
        gwx.wait_for(lambda: "event=started" in gwx.read(log), 40, "alpha")

        s = smtplib.SMTP("127.0.0.1", port, timeout=30)
        s.ehlo("client.test")
        check(s.has_extn("drucof") and s.has_extn("conneg"),
              "alpha offers CONNEG and DRUCOF")
        s.sendmail("a@x.test", ["b@y.test"], HTML,
                   rcpt_options=["DRUCOF", "NOTIFY=SUCCESS"])
        s.sendmail("a@x.test", ["c@y.test"],
                   b"Subject: plain\r\n\r\nno negotiation\r\n")
        s.sendmail("a@x.test", ["d@x.test"], HTML,
                   rcpt_options=["DRUCOF", "NOTIFY=SUCCESS"])
        s.quit()

        gwx.wait_for(lambda: len(hop.messages) >= 2, 60,
                     "two messages at the hop")
        def maildir():
            out = []
            for fn in glob.glob(os.path.join(mail, "new", "*")):
                with open(fn, "rb") as fh:
                    out.append(fh.read().decode("utf-8", "replace"))
            return out if len(out) >= 3 else None
        box = gwx.wait_for(maildir, 60, "two DSNs and d's message in the "
                           "Maildir")
        dsns = [m for m in box if "report-type=delivery-status" in m]
        local = [m for m in box if m not in dsns]
        conv = [m for m in hop.messages if b"weather" in m]
        plain = [m for m in hop.messages if b"no negotiation" in m]
        check(len(conv) == 1 and b"Content-Type: text/plain" in conv[0]
              and b"<p>" not in conv[0] and b"Content-Previous:" in conv[0],
              "the hop received the message converted to text/plain")
        check(len(plain) == 1, "the plain message arrived as well")
        check("RCPT TO:<b@y.test> CONNEG" in hop.lines,
              "alpha asked the hop CONNEG for b")
        check("RCPT TO:<b@y.test>" in hop.lines,
              "and relayed to b without DRUCOF")
        check(not any(l.startswith("RCPT TO:<c@y.test>") and
                      l != "RCPT TO:<c@y.test>" for l in hop.lines),
              "c (no DRUCOF) went without any negotiation")
        check(not any("DRUCOF" in l for l in hop.lines if
                      l.upper().startswith("RCPT")),
              "DRUCOF was never asserted (converted here)")
        relayed = [m for m in dsns if "Action: relayed" in m]
        delivered = [m for m in dsns if "Action: delivered" in m]
        check(len(relayed) == 1, "a relayed DSN for b")
        dsn = relayed[0] if relayed else ""
        print(dsn)
        check("Status: 2.6.4" in dsn, "with status 2.6.4")
        check("text/html" in dsn and "loss" in dsn,
              "and says what was converted")
        check(len(local) == 1 and "Content-Type: text/plain" in local[0]
              and "<p>" not in local[0],
              "d's copy was converted before Maildir delivery")
        check(len(delivered) == 1 and "Status: 2.6.4" in delivered[0] and
              "text/html" in delivered[0],
              "and d's delivered DSN says 2.6.4 and what was converted")
    finally:
        hop.stop = True
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if not failures:
            import shutil
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("logs kept in " + work)
    if failures:
        print("FAILED: %d checks" % len(failures))
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
