#!/usr/bin/env python3
"""Capability publication over the air, with two real gateways over
skywave-sim's los-19200 channel. Bravo serves chief@bravo.example and has a
caps_file saying it uses text/plain only; alpha has no caps_file at all.
  1. Before alpha ever heard bravo's table (bravo not yet running), a DRUCOF
     message with an HTML-only body goes over the air as stored; the DRUCOF
     mark crosses in the envelope, so bravo converts it before delivering
     to its Maildir (Content-Previous names bravo.example).
  2. Once the link is up alpha holds bravo's table: it answers
     RCPT TO:<chief@bravo.example> CONNEG with bravo's filter in a
     multi-line 250 reply (a recipient bravo does not list gets the plain
     reply).
  3. A DRUCOF message with an HTML-only part is converted on alpha, before
     the air: bravo's Maildir gets text/plain with Content-Previous naming
     text/html and alpha.example; the lossy conversion travels as LOSSY.
  4. Bravo stops (link down), alpha restarts: the saved table is loaded and
     CONNEG is answered while the link is still down.
  5. Bravo comes back with the same table: it is not sent again.
  6. Bravo's caps_file changes and bravo gets SIGHUP: the new table reaches
     alpha, which answers CONNEG with it.
Prints its seed."""
import email
import os
import signal
import smtplib
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import gwharness as h  # noqa: E402

HTML = ("From: ops@alpha.example\r\nTo: chief@bravo.example\r\n"
        "Subject: %s\r\nX-Token: %s\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/html; charset=us-ascii\r\n\r\n"
        "<html><body><p>gale <b>warning</b> for area %s</p>"
        "</body></html>\r\n")


def maildir_files(path):
    d = os.path.join(path, "new")
    if not os.path.isdir(d):
        return []
    out = []
    for f in sorted(os.listdir(d)):
        with open(os.path.join(d, f), "rb") as fh:
            out.append(fh.read())
    return out


def find(files, token):
    tag = ("X-Token: %s" % token).encode()
    return [f for f in files if tag in f]


def send(port, rcpt, msg, rcpt_opts=()):
    s = smtplib.SMTP("127.0.0.1", port, timeout=30)
    s.ehlo("client.example")
    s.sendmail("ops@alpha.example", [rcpt], msg,
               rcpt_options=list(rcpt_opts))
    s.quit()


def conneg(port, rcpt):
    """The RCPT ... CONNEG reply: (code, [text lines])."""
    s = smtplib.SMTP("127.0.0.1", port, timeout=30)
    s.ehlo("client.example")
    assert s.has_extn("conneg"), s.esmtp_features
    s.mail("ops@alpha.example")
    code, text = s.rcpt(rcpt, ["CONNEG"])
    s.rset()
    s.quit()
    return code, text.decode().split("\n")


def count(path, text):
    try:
        with open(path, errors="replace") as f:
            return f.read().count(text)
    except FileNotFoundError:
        return 0


def check_converted(raw, by):
    msg = email.message_from_bytes(raw)
    assert msg.get_content_type() == "text/plain", raw[-600:]
    prev = " ".join(str(msg.get("Content-Previous", "")).split())
    assert "text/html" in prev and by in prev, prev
    assert b"<b>" not in raw and b"warning" in raw, raw[-600:]


def main():
    seed = int(os.environ.get("SKYWAVE_SEED", int(time.time())))
    print("seed=%d (repeat with SKYWAVE_SEED=%d)" % (seed, seed))
    top = h.tmpdir("caps")
    ok = False
    prof = "los-19200"
    sim = h.Sim(top, prof, seed=seed)
    caps = os.path.join(top, "bravo-caps.conf")
    with open(caps, "w") as f:
        f.write("# what bravo's recipients can use\n"
                "chief@bravo.example (type=text/plain)\n")
    amail = "%s/alpha.example/mail" % top
    bmail = "%s/bravo.example/mail" % top
    a = h.Gateway(top, "alpha.example",
                  [("air", sim.dev("a"), prof, "bravo.example")],
                  "bravo.example = link:air\n"
                  "alpha.example = maildir:%s\n" % amail)
    b = h.Gateway(top, "bravo.example",
                  [("air", sim.dev("b"), prof, "alpha.example")],
                  "alpha.example = link:air\n"
                  "bravo.example = maildir:%s\n" % bmail,
                  "caps_file = %s" % caps)
    saved = os.path.join(a.dir, "peer-caps-air")
    try:
        # 1: alpha alone knows nothing; the message leaves as stored
        a.start()
        code, lines = conneg(a.port, "chief@bravo.example")
        assert code == 250 and len(lines) == 1, (code, lines)
        send(a.port, "chief@bravo.example",
             HTML % ("early", "early", "one"), ["DRUCOF"])
        assert h.wait_for(lambda: h.log_has(a.logpath, "event=sending"),
                          20), "alpha never put message 1 on the link"
        b.start()
        assert h.wait_for(lambda: h.log_has(a.logpath,
                                            "event=caps_received"), 30), \
            "alpha never received bravo's table"
        assert h.wait_for(lambda: os.path.exists(saved), 10), saved
        assert h.wait_for(lambda: find(maildir_files(bmail), "early"), 30), \
            "message 1 did not reach bravo"
        early = find(maildir_files(bmail), "early")
        assert len(early) == 1
        check_converted(early[0], "bravo.example")
        assert h.log_has(b.logpath, "event=negotiation conperm=no "
                         "drucof=1 lossy=0"), "DRUCOF did not cross"
        assert not h.log_has(a.logpath, "event=converted")
        print("1: DRUCOF crossed the air, bravo converted")

        # 2: CONNEG answered on alpha from bravo's table
        code, lines = conneg(a.port, "chief@bravo.example")
        print("CONNEG reply:", code, lines)
        assert code == 250, code
        assert len(lines) >= 2, lines
        assert lines[0].startswith("2.1.5"), lines
        assert lines[-1] == "CONNEG (type=text/plain)", lines
        code, lines = conneg(a.port, "deputy@bravo.example")
        assert code == 250 and len(lines) == 1, (code, lines)
        with open(saved) as f:
            text = f.read()
        assert "chief@bravo.example (type=text/plain)" in text, text

        # 3: converted on alpha before the air
        send(a.port, "chief@bravo.example",
             HTML % ("late", "late", "three"), ["DRUCOF"])
        assert h.wait_for(lambda: find(maildir_files(bmail), "late"), 30), \
            "message 3 did not reach bravo"
        late = find(maildir_files(bmail), "late")
        assert len(late) == 1
        check_converted(late[0], "alpha.example")
        assert h.log_has(a.logpath, "event=converted")
        assert h.log_has(b.logpath, "event=negotiation conperm=no "
                         "drucof=0 lossy=1"), "LOSSY did not cross"
        print("3: converted on alpha, LOSSY crossed")

        # 4: the table survives a restart of alpha with the link down
        b.stop()
        a.stop()
        a.start()
        assert h.wait_for(lambda: h.log_has(a.logpath, "event=caps_loaded"),
                          10), "alpha did not load the saved table"
        code, lines = conneg(a.port, "chief@bravo.example")
        assert code == 250 and lines[-1] == "CONNEG (type=text/plain)", \
            lines
        print("4: answered from the saved table with the link down")

        # 5: bravo back with the same table: not sent again
        rc0 = count(a.logpath, "event=caps_received")
        b.start()
        # (alpha may wait out its set-up retry: up to 30 s)
        assert h.wait_for(lambda: count(a.logpath, "event=session_up") >= 2,
                          60), "no new link session"
        time.sleep(3)
        assert count(a.logpath, "event=caps_received") == rc0, \
            "an unchanged table crossed again"

        # 6: a SIGHUP change on bravo reaches alpha
        with open(caps, "w") as f:
            f.write("chief@bravo.example (|(type=text/plain)"
                    "(type=image/png))\n"
                    "deputy@bravo.example (type=text/plain)\n")
        b.proc.send_signal(signal.SIGHUP)
        assert h.wait_for(lambda: count(a.logpath, "event=caps_received")
                          > rc0, 30), "the changed table did not cross"
        code, lines = conneg(a.port, "chief@bravo.example")
        print("after SIGHUP:", code, lines)
        assert "".join(l[len("CONNEG "):] if l.startswith("CONNEG ") else ""
                       for l in lines) == \
            "(|(type=text/plain)(type=image/png))", lines
        code, lines = conneg(a.port, "deputy@bravo.example")
        assert lines[-1] == "CONNEG (type=text/plain)", lines
        assert h.wait_for(lambda: "deputy@bravo.example" in
                          open(saved).read(), 10), "new table not saved"
        ok = True
        print("ok")
        return 0
    finally:
        a.stop()
        b.stop()
        sim.stop()
        h.cleanup(top, ok)


if __name__ == "__main__":
    sys.exit(main())
