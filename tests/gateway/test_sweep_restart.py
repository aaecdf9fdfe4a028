#!/usr/bin/env python3
"""FAILED recipients found at start get the DSN they are owed: with the
daemon stopped, recipients are put in the state a crash between a
permanent failure and its DSN leaves (FAILED, status and reason recorded);
at the next start skywaved queues one failure DSN per message for the
recipients owed one (NOTIFY absent or FAILURE, not NEVER), the sender's
Maildir receives it with the recorded status, and the messages are
collected from the queue. While running, the periodic pass
(dsn_sweep_interval) does the same for a FAILED row left behind."""
import email
import json
import os
import re
import smtplib
import sqlite3
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..",
                                "integration"))
import gwharness as h  # noqa: E402



def send(port, rcpts):
    s = smtplib.SMTP("127.0.0.1", port, timeout=30)
    s.ehlo()
    s.mail("ops@alpha.example")
    for r, opts in rcpts:
        code, msg = s.rcpt(r, opts)
        assert code == 250, (code, msg)
    code, msg = s.data("Subject: doomed\r\nMessage-ID: <doomed@alpha>\r\n"
                       "\r\nnever arrives\r\n")
    s.quit()
    m = re.search(rb"queued as ([0-9a-f]{32})", msg)
    assert code == 250 and m, (code, msg)
    return m.group(1).decode()


def main():
    top = h.tmpdir("sweep")
    ok = False
    sim = h.Sim(top, "hf-2400-hd", seed=4)
    a = h.Gateway(top, "alpha.example",
                  [("hf", sim.dev("a"), "hf-2400-hd", "bravo.example")],
                  "bravo.example = link:hf\n"
                  "alpha.example = maildir:%s/alpha.example/mail\n" % top,
                  "dsn_sweep_interval = 1s\n")
    try:
        a.start()
        m1 = send(a.port, [("chief@bravo.example", ()),
                           ("clerk@bravo.example", ("NOTIFY=NEVER",))])
        m2 = send(a.port, [("quiet@bravo.example", ("NOTIFY=NEVER",))])
        for m in (m1, m2):
            assert "hold:" in h.sky(a, "hold", m)
        assert a.stop() == 0
        # what a crash after the failure and before its DSN leaves
        db = sqlite3.connect(os.path.join(a.dir, "queue.db"))
        n = db.execute("UPDATE rcpt SET state = 7, last_status = '5.1.1',"
                       " last_error = 'mailbox unknown at the far end'"
                       " WHERE state = 3").rowcount
        db.commit()
        db.close()
        assert n == 3, n

        a.start()
        assert h.wait_for(lambda: h.log_has(a.logpath, "event=swept"), 20)
        assert h.log_has(a.logpath, "event=swept rcpts=3 dsns=1")
        assert h.wait_for(lambda: len(a.delivered()) == 1, 20), \
            a.delivered()
        msg = email.message_from_bytes(a.delivered()[0])
        assert msg["To"] is not None and "ops@alpha.example" in msg["To"]
        text = a.delivered()[0].decode(errors="replace")
        assert "Final-Recipient: rfc822; chief@bravo.example" in text, text
        assert "Status: 5.1.1" in text, text
        assert "mailbox unknown at the far end" in text, text
        assert "clerk@bravo.example" not in text.split(
            "Content-Type: text/rfc822-headers")[0], text
        # nothing left for either message: collected
        assert h.wait_for(lambda: json.loads(
            h.sky(a, "queue", "list", "--json")) == [], 10)
        r = h.sky_run(a, "queue", "show", m2)
        assert "no such message" in (r.stdout + r.stderr), r
        # a second start, and the passes every second after it, find
        # nothing to do
        assert a.stop() == 0
        a.start()
        time.sleep(2.5)
        with open(a.logpath, errors="replace") as f:
            assert f.read().count("event=swept") == 1
        assert len(a.delivered()) == 1

        # while running: a FAILED row whose DSN was not queued at the time
        # (here made by hand) is found by the next periodic pass
        m3 = send(a.port, [("third@bravo.example", ())])
        assert "hold:" in h.sky(a, "hold", m3)
        db = sqlite3.connect(os.path.join(a.dir, "queue.db"), timeout=10)
        n = db.execute("UPDATE rcpt SET state = 7, last_status = '5.2.2',"
                       " last_error = 'mailbox full' WHERE state = 3"
                       ).rowcount
        db.commit()
        db.close()
        assert n == 1, n
        assert h.wait_for(lambda: len(a.delivered()) == 2, 10), \
            "the periodic sweep did not queue the DSN"
        text = a.delivered()[1].decode(errors="replace")
        assert "third@bravo.example" in text and "Status: 5.2.2" in text
        assert h.wait_for(lambda: h.sky_run(a, "queue", "show", m3)
                          .returncode != 0, 10)
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
