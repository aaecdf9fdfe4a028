#!/usr/bin/env python3
"""The seed slides' example sessions, verbatim, against the real skywaved,
with scripted next hops on loopback (hops.py).

ALTRECIP (first hop, then next hop): the client sends the slides' session
line for line; topbanana's hop answers 550 5.1.1 (once advertising
ALTRECIP, once not); skywaved must redirect to bottom-apple and the copy
must reach loc2.example.org as the slides' "next hop" example shows:
  MAIL FROM:<eljefe@example.com> ENVID=QQ314159 BY=<left>;R  (no ABY)
  RCPT TO:<bottom-apple@loc2.example.org>                    (no ARCPT)
with the BY time left rounded down, Dana delivered normally, topbanana
never, the trace field and the sender's DSN recording the redirect.

PRIORITY (the 2011 draft, opt-in with [policy] priority_draft = yes):
the slides' session (EHLO -> 250 PRIORITY, MAIL ... PRIORITY=40) is
accepted, mapped onto MT-PRIORITY 4 by the default bands, and relayed as
PRIORITY=40 to a hop offering PRIORITY, MT-PRIORITY=4 to one offering
MT-PRIORITY, and tunnelled as one "MT-Priority: 4" header otherwise; an
untrusted client cannot raise it; bad values get 501; without the option
PRIORITY is an unknown parameter (555)."""
import email
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "smtp"))
import gwharness as h  # noqa: E402
import hops  # noqa: E402
from smtp_harness import Client  # noqa: E402

FIRST_HOP = [
    ("EHLO example.com", 250),
    ("MAIL FROM:<eljefe@example.com> BY=120;R ENVID=QQ314159 ABY=60;R", 250),
    ("RCPT TO:<topbanana@example.net> "
     "ARCPT=rfc822;bottom-apple@loc2.example.org", 250),
    ("RCPT TO:<Dana@Ivory.example.net> NOTIFY=SUCCESS,FAILURE "
     "ORCPT=rfc822;Dana@Ivory.example.net", 250),
    ("DATA", 354),
]
PRIORITY_SESSION = [
    ("EHLO example.com", 250),
    ("MAIL FROM:<eljefe@example.com> PRIORITY=40", 250),
    ("RCPT TO:<topbanana@example.net>", 250),
    ("RCPT TO:<Dana@Ivory.example.net> NOTIFY=SUCCESS,FAILURE "
     "ORCPT=rfc822;Dana@Ivory.example.net", 250),
    ("DATA", 354),
]
MESSAGE = ("From: <eljefe@example.com>\r\nTo: <topbanana@example.net>\r\n"
           "Subject: %s\r\n\r\nmessage goes here\r\n.\r\n")


def run_session(port, lines, subject):
    c = Client(port)
    replies = []
    for line, want in lines:
        code, text = c.cmd(line)
        replies.append((line, code, text))
        assert code == want, (line, code, text)
    c.send(MESSAGE % subject)
    code, text = c.reply()
    assert code == 250, text
    c.cmd("QUIT")
    c.close()
    return replies


def wait_tx(hop, pred, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for t in hop.transactions:
            if t.get("done") and pred(t):
                return t
        time.sleep(0.1)
    raise AssertionError("no matching transaction at %s: %r" %
                         (hop.name, hop.transactions))


def altrecip_case(top, primary_altrecip):
    tag = "with" if primary_altrecip else "without"
    work = os.path.join(top, "altrecip-" + tag)
    os.makedirs(work)
    ehlo_a = ["DSN", "DELIVERBY", "ENHANCEDSTATUSCODES"] + (
        ["ALTRECIP"] if primary_altrecip else [])
    hop_a = hops.Hop(ehlo=ehlo_a, name="example.net", rcpt=lambda a, l:
                     "550 5.1.1 <%s>... User unknown" % a
                     if a.lower().startswith("topbanana") else None)
    # the slides' next hop: DSN, DELIVERBY, ALTRECIP
    hop_b = hops.Hop(ehlo=["DSN", "DELIVERBY", "ALTRECIP"],
                     name="loc2.example.org")
    box = os.path.join(work, "eljefe")
    gw = h.Gateway(work, "gw.example", [],
                   "example.net = %s\nIvory.example.net = %s\n"
                   "loc2.example.org = %s\nexample.com = maildir:%s\n" %
                   (hop_a.spec(), hop_a.spec(), hop_b.spec(), box))
    gw.start()
    try:
        t0 = time.time()
        replies = run_session(gw.port, FIRST_HOP, "seed altrecip " + tag)
        ehlo = replies[0][2]
        for kw in ("DSN", "ALTRECIP"):
            assert kw in ehlo, ehlo
        assert any(x.startswith("DELIVERBY") for x in ehlo), ehlo

        # next hop: the redirected copy, as in the slides
        t = wait_tx(hop_b, lambda t: True)
        mail = t["mail"]
        assert mail.startswith("MAIL FROM:<eljefe@example.com>"), mail
        assert "ENVID=QQ314159" in mail.split(), mail
        m = re.search(r"\bBY=(-?\d+);R\b", mail)
        assert m, mail
        left = int(m.group(1))
        elapsed = time.time() - t0
        # whole seconds left (the queue keeps deadlines in whole seconds)
        assert 120 - elapsed - 2 <= left <= 120 - int(elapsed), (left, mail)
        assert "ABY=" not in mail, mail
        assert len(t["rcpts"]) == 1, t["rcpts"]
        rcpt = t["rcpts"][0]
        assert rcpt.startswith("RCPT TO:<bottom-apple@loc2.example.org>"), \
            rcpt
        assert "ARCPT" not in rcpt, rcpt
        msg = email.message_from_bytes(t["data"])
        tr = " ".join(msg.get("Alternate-Recipient-Redirect", "").split())
        assert ("<topbanana@example.net> to "
                "<bottom-apple@loc2.example.org>") in tr, tr
        assert "cause=permanent-error" in tr and "550 5.1.1" in tr, tr

        # first hop: topbanana refused (ARCPT offered only with ALTRECIP),
        # Dana relayed with her DSN parameters; topbanana never delivered
        ta = wait_tx(hop_a, lambda t: "Dana@Ivory.example.net" in
                     t["delivered"])
        top_rcpt = [r for r in ta["rcpts"] if "topbanana" in r][0]
        assert ("ARCPT=rfc822;bottom-apple@loc2.example.org" in top_rcpt) \
            == primary_altrecip, top_rcpt
        dana = [r for r in ta["rcpts"] if "Dana" in r][0]
        assert "NOTIFY=SUCCESS,FAILURE" in dana, dana
        assert "ORCPT=rfc822;Dana@Ivory.example.net" in dana, dana
        assert "topbanana@example.net" not in hop_a.accepted_addrs()
        assert "BY=" in ta["mail"] and "ENVID=QQ314159" in ta["mail"]

        # the sender's DSN: topbanana relayed to its alternate
        def dsn():
            d = os.path.join(box, "new")
            for f in sorted(os.listdir(d)) if os.path.isdir(d) else []:
                raw = open(os.path.join(d, f), "rb").read()
                if b"delivery-status" in raw:
                    return email.message_from_bytes(raw)
            return None
        assert h.wait_for(lambda: dsn() is not None, 20), "no DSN"
        m = dsn()
        ds = [p for p in m.walk()
              if p.get_content_type() == "message/delivery-status"][0]
        blocks = ds.get_payload()
        assert str(blocks[0]["Original-Envelope-Id"]).strip() == "QQ314159"
        b = [x for x in blocks[1:] if "topbanana" in
             str(x["Final-Recipient"])][0]
        assert str(b["Action"]).strip() == "relayed", b
        assert "bottom-apple@loc2.example.org" in str(b), b
        print("altrecip seed example (%s ALTRECIP at the first hop): ok, "
              "relayed %s" % (tag, mail))
    finally:
        gw.stop()
        hop_a.stop()
        hop_b.stop()


def priority_case(top):
    work = os.path.join(top, "priority")
    os.makedirs(work)
    draft = hops.Hop(ehlo=["DSN", "ENHANCEDSTATUSCODES", "PRIORITY"],
                     name="example.net")
    mtp = hops.Hop(ehlo=["DSN", "ENHANCEDSTATUSCODES",
                         "MT-PRIORITY STANAG4406"], name="mt.test")
    plain = hops.Hop(ehlo=["DSN", "ENHANCEDSTATUSCODES"], name="plain.test")
    routes = ("example.net = %s\nIvory.example.net = %s\nmt.test = %s\n"
              "plain.test = %s\n" % (draft.spec(), draft.spec(), mtp.spec(),
                                     plain.spec()))
    gw = h.Gateway(work, "gw.example", [], routes,
                   extra="\n[policy]\npriority_draft = yes\n")
    un = h.Gateway(os.path.join(work, "u"), "untrusted.example", [], routes,
                   extra="\n[policy]\npriority_draft = yes\n"
                         "trusted_networks = 10.0.0.0/8\n")
    off = h.Gateway(os.path.join(work, "o"), "off.example", [], routes)
    gw.start()
    un.start()
    off.start()
    try:
        replies = run_session(gw.port, PRIORITY_SESSION, "seed priority")
        assert "PRIORITY" in replies[0][2], replies[0]
        t = wait_tx(draft, lambda t: b"seed priority" in t["data"])
        assert "PRIORITY=40" in t["mail"].split(), t["mail"]
        assert "MT-PRIORITY" not in t["mail"], t["mail"]
        assert b"PRIORITY 4;" in t["data"] or b"PRIORITY 4\r\n" in \
            t["data"], t["data"][:400]

        for dom, hop in (("mt.test", mtp), ("plain.test", plain)):
            c = Client(gw.port)
            c.ehlo()
            assert c.cmd("MAIL FROM:<eljefe@example.com> PRIORITY=40")[0] \
                == 250
            assert c.cmd("RCPT TO:<x@%s>" % dom)[0] == 250
            assert c.cmd("DATA")[0] == 354
            c.send(MESSAGE % ("relay " + dom))
            assert c.reply()[0] == 250
            c.close()
            t = wait_tx(hop, lambda t: ("relay " + dom).encode() in
                        t["data"])
            hdrs = email.message_from_bytes(t["data"]).get_all(
                "MT-Priority") or []
            if hop is mtp:
                assert "MT-PRIORITY=4" in t["mail"].split(), t["mail"]
                assert "PRIORITY=40" not in t["mail"], t["mail"]
            else:
                assert "PRIORITY" not in t["mail"], t["mail"]
                assert [x.strip() for x in hdrs] == ["4"], hdrs

        c = Client(gw.port)
        c.ehlo()
        for bad in ("PRIORITY=100", "PRIORITY=-100", "PRIORITY=+3",
                    "PRIORITY=03", "PRIORITY=-0", "PRIORITY=",
                    "PRIORITY=4 PRIORITY=5", "PRIORITY=4 MT-PRIORITY=4"):
            code, text = c.cmd("MAIL FROM:<a@example.com> " + bad)
            assert code == 501, (bad, code, text)
        code, text = c.cmd("MAIL FROM:<a@example.com> PRIORITY=-99")
        assert code == 250, text
        c.close()

        c = Client(un.port)
        ehlo = c.ehlo()
        assert "PRIORITY" in ehlo
        code, text = c.cmd("MAIL FROM:<eljefe@example.com> PRIORITY=40")
        assert code == 250 and text[0].startswith("2.3.6 0 "), text
        c.cmd("RSET")
        code, text = c.cmd("MAIL FROM:<eljefe@example.com> PRIORITY=-50")
        assert code == 250 and text[0].startswith("2.1.0"), text
        c.close()

        c = Client(off.port)
        ehlo = c.ehlo()
        assert "PRIORITY" not in ehlo, ehlo
        code, text = c.cmd("MAIL FROM:<eljefe@example.com> PRIORITY=40")
        assert code == 555, (code, text)
        c.close()
        print("priority seed example: ok, relayed %s" % t["mail"])
    finally:
        for g in (gw, un, off):
            g.stop()
        for x in (draft, mtp, plain):
            x.stop()


def main():
    top = h.tmpdir("seed")
    ok = False
    try:
        altrecip_case(top, True)
        altrecip_case(top, False)
        priority_case(top)
        ok = True
        print("ok")
        return 0
    finally:
        h.cleanup(top, ok)


if __name__ == "__main__":
    sys.exit(main())
