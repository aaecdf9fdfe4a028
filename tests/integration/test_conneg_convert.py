#!/usr/bin/env python3
"""skywaved converts under CONPERM/DRUCOF before the air hop: two real
gateways over skywave-sim's los-19200 channel. Gateway alpha's caps_file
says chief@bravo.example uses text/plain only; alpha.example (the sender)
is a Maildir at alpha.
  1. multipart/alternative (text/plain + text/html) with MAIL ... CONPERM
     and RCPT ... DRUCOF: bravo's Maildir gets only the text/plain
     alternative (conv records no Content-Previous when it only picks an
     alternative, see 4).
  2. the same without CONPERM/DRUCOF: arrives byte-for-byte unchanged
     (below the Received/trace lines bravo adds).
  3. text/html only, marked conversion-prohibited, with DRUCOF: never
     reaches bravo; the sender gets a DSN, Action failed, Status 5.6.2.
  4. text/html only, unmarked, with DRUCOF: converted to text/plain on
     alpha; bravo gets it with Content-Previous naming text/html.
Local delivery converts too (alpha's caps_file lists local@alpha.example,
delivered to alpha's Maildir):
  5. like 1 to local@alpha.example: only the text/plain alternative.
  6. like 3 to local@alpha.example: not delivered, DSN failed 5.6.2.
Prints its seed."""
import email
import os
import random
import smtplib
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import gwharness as h  # noqa: E402


def maildir_files(path):
    d = os.path.join(path, "new")
    if not os.path.isdir(d):
        return []
    out = []
    for f in sorted(os.listdir(d)):
        with open(os.path.join(d, f), "rb") as fh:
            out.append(fh.read())
    return out


def send(port, rcpt, msg, mail_opts=(), rcpt_opts=()):
    s = smtplib.SMTP("127.0.0.1", port, timeout=30)
    s.ehlo("client.example")
    s.sendmail("ops@alpha.example", [rcpt], msg,
               mail_options=list(mail_opts), rcpt_options=list(rcpt_opts))
    s.quit()


def alternative(token, rnd):
    words = " ".join(rnd.choice(["wind", "sea", "swell", "fog", "calm"])
                     for _ in range(40))
    return ("From: ops@alpha.example\r\nTo: chief@bravo.example\r\n"
            "Subject: weather %s\r\nX-Token: %s\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n"
            "--b1\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
            "PLAIN %s\r\n"
            "--b1\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n"
            "<html><body><p>HTML %s</p></body></html>\r\n"
            "--b1--\r\n" % (token, token, words, words))


def find(files, token):
    tag = ("X-Token: %s" % token).encode()
    return [f for f in files if tag in f]


def dsn_blocks(raw):
    msg = email.message_from_bytes(raw)
    if msg.get_content_type() != "multipart/report":
        return None
    for part in msg.walk():
        if part.get_content_type() == "message/delivery-status":
            return [{k.lower(): str(v).strip() for k, v in sub.items()}
                    for sub in part.get_payload()]
    return None


def main():
    seed = int(os.environ.get("SKYWAVE_SEED", int(time.time())))
    print("seed=%d (repeat with SKYWAVE_SEED=%d)" % (seed, seed))
    rnd = random.Random(seed)
    top = h.tmpdir("convert")
    ok = False
    prof = "los-19200"
    sim = h.Sim(top, prof, seed=seed)
    caps = os.path.join(top, "caps.conf")
    with open(caps, "w") as f:
        f.write("chief@bravo.example (type=text/plain)\n"
                "local@alpha.example (type=text/plain)\n")
    amail = "%s/alpha.example/mail" % top
    bmail = "%s/bravo.example/mail" % top
    a = h.Gateway(top, "alpha.example",
                  [("air", sim.dev("a"), prof, "bravo.example")],
                  "bravo.example = link:air\n"
                  "alpha.example = maildir:%s\n" % amail,
                  "caps_file = %s" % caps)
    b = h.Gateway(top, "bravo.example",
                  [("air", sim.dev("b"), prof, "alpha.example")],
                  "alpha.example = link:air\n"
                  "bravo.example = maildir:%s\n" % bmail)
    try:
        a.start()
        b.start()
        m1 = alternative("one", rnd)
        m2 = alternative("two", rnd)
        send(a.port, "chief@bravo.example", m1, ["CONPERM"], ["DRUCOF"])
        send(a.port, "chief@bravo.example", m2)
        m3 = ("From: ops@alpha.example\r\nTo: chief@bravo.example\r\n"
              "Subject: html only\r\nX-Token: three\r\nMIME-Version: 1.0\r\n"
              "Content-Type: text/html; charset=us-ascii\r\n"
              "Content-Convert: NONE\r\n"
              "Content-Drucof: conversion-prohibited\r\n\r\n"
              "<html><body><p>keep me as I am</p></body></html>\r\n")
        send(a.port, "chief@bravo.example", m3, ["CONPERM"], ["DRUCOF"])
        m4 = ("From: ops@alpha.example\r\nTo: chief@bravo.example\r\n"
              "Subject: html\r\nX-Token: four\r\nMIME-Version: 1.0\r\n"
              "Content-Type: text/html; charset=us-ascii\r\n\r\n"
              "<html><body><p>gale <b>warning</b> for area "
              "four</p></body></html>\r\n")
        send(a.port, "chief@bravo.example", m4, [], ["DRUCOF"])
        send(a.port, "local@alpha.example",
             alternative("five", rnd).replace("chief@bravo", "local@alpha"),
             ["CONPERM"], ["DRUCOF"])
        send(a.port, "local@alpha.example",
             m3.replace("X-Token: three", "X-Token: six"),
             ["CONPERM"], ["DRUCOF"])

        if not h.wait_for(lambda: all(len(find(maildir_files(bmail), t))
                                      for t in ("one", "two", "four")),
                          60, 0.5):
            print("FAIL: bravo did not receive messages 1, 2, 4 (%d files)"
                  % len(maildir_files(bmail)))
            return 1
        if not h.wait_for(lambda: len([f for f in maildir_files(amail)
                                       if dsn_blocks(f)]) >= 2 and
                          find(maildir_files(amail), "five"), 30, 0.5):
            print("FAIL: no DSNs for messages 3 and 6, or 5 missing")
            return 1
        time.sleep(2)  # message 3 would have crossed by now
        got = maildir_files(bmail)

        # 1: only the text/plain alternative, with Content-Previous
        one = find(got, "one")
        assert len(one) == 1, len(one)
        msg = email.message_from_bytes(one[0])
        leaves = [p for p in msg.walk() if not p.is_multipart()]
        types = [p.get_content_type() for p in leaves]
        print("message 1 parts:", types)
        assert types == ["text/plain"], types
        assert b"text/html" not in one[0] and b"HTML " not in one[0], \
            one[0][:2000]
        assert b"PLAIN " in one[0]

        # 2: unchanged (what bravo adds on top is trace only)
        two = find(got, "two")
        assert len(two) == 1, len(two)
        m2b = m2.replace("\r\n", "\n").encode()  # Maildir: LF lines
        assert two[0].endswith(m2b), two[0][-400:]
        assert b"Content-Previous" not in two[0]

        # 3 and 6: never delivered; one DSN each, failed 5.6.2
        assert not find(got, "three"), "message 3 reached bravo"
        local = maildir_files(amail)
        plain = [f for f in local if not dsn_blocks(f)]
        assert not find(plain, "six"), "message 6 was delivered"
        dsns = [dsn_blocks(f) for f in local]
        dsns = [d for d in dsns if d]
        assert len(dsns) == 2, len(dsns)
        for who in ("chief@bravo.example", "local@alpha.example"):
            rcpt = [blk for d in dsns for blk in d
                    if who in blk.get("final-recipient", "")]
            print("DSN:", rcpt)
            assert len(rcpt) == 1, rcpt
            assert rcpt[0]["action"] == "failed", rcpt
            assert rcpt[0]["status"] == "5.6.2", rcpt

        # 5: local delivery converted like 1
        five = find(plain, "five")
        assert len(five) == 1, len(five)
        msg = email.message_from_bytes(five[0])
        types = [p.get_content_type() for p in msg.walk()
                 if not p.is_multipart()]
        assert types == ["text/plain"], types
        assert b"HTML " not in five[0] and b"PLAIN " in five[0]

        # 4: HTML to plain text, recorded in Content-Previous
        four = find(got, "four")
        assert len(four) == 1, len(four)
        msg = email.message_from_bytes(four[0])
        print("message 4:", four[0][-600:])
        assert msg.get_content_type() == "text/plain", four[0][-600:]
        prev = " ".join(str(msg.get("Content-Previous", "")).split())
        assert "text/html" in prev and "alpha.example" in prev, prev
        assert b"<b>" not in four[0] and b"gale" in four[0]
        assert b"warning" in four[0]
        assert h.log_has(a.logpath, "event=converted")
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
