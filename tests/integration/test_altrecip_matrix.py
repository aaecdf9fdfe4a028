#!/usr/bin/env python3
"""Every alternate-recipient cause on every route kind, in the running
daemon: real skywaved processes (and, for link:, two gateways over
skywave-sim) with scripted SMTP/LMTP next hops on loopback (hops.py).

Each cell sends one message whose primary recipient has an ARCPT and
checks, once the gateways are quiet:
  - the alternate got exactly one copy, whose Alternate-Recipient-Redirect
    trace field names the expected cause;
  - the primary never got the message (nothing delivered by its hop, no
    Maildir file);
  - the sender got the DSN it asked for (NOTIFY=SUCCESS,FAILURE): Action
    relayed, the alternate named, Original-Recipient kept;
  - the redirected copy carries no ARCPT and no ABY.
Two cells check the other side of the duty: a hop that advertises
ALTRECIP and accepts the RCPT takes the ARCPT on (no redirect here), and a
hop without ALTRECIP that accepts gets no ARCPT and no ABY.
Prints the matrix (cause x route kind) with pass/fail and its seed."""
import base64
import email
import functools
import os
import random
import smtplib
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import gwharness as h  # noqa: E402
import hops  # noqa: E402

SEED = int(os.environ.get("SKYWAVE_SEED", random.randrange(1 << 30)))
random.seed(SEED)

SENDER = "eljefe@sender.test"


def maildir_msgs(path):
    d = os.path.join(path, "new")
    out = []
    if os.path.isdir(d):
        for f in sorted(os.listdir(d)):
            with open(os.path.join(d, f), "rb") as fh:
                out.append(email.message_from_bytes(fh.read()))
    return out


def mkmaildir(path):
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)


def dsn_blocks(msg):
    if msg.get_content_type() != "multipart/report":
        return None
    for part in msg.walk():
        if part.get_content_type() == "message/delivery-status":
            return [{k.lower(): str(v).strip() for k, v in sub.items()}
                    for sub in part.get_payload()]
    return None


def submit(gw, cell, primary, alt, mail_opts=(), size=0, extra_rcpts=()):
    body = ("From: <%s>\r\nTo: <%s>\r\nSubject: cell %s\r\n"
            "Message-ID: <%s@sender.test>\r\n\r\nmessage for cell %s\r\n" %
            (SENDER, primary, cell, cell, cell))
    if size:
        # incompressible, so its airtime is what the size says
        raw = base64.encodebytes(random.randbytes(size * 3 // 4))
        body += raw.decode().replace("\n", "\r\n")
    s = smtplib.SMTP("127.0.0.1", gw.port, timeout=30)
    s.ehlo("client.test")
    s.mail(SENDER, options=["ENVID=" + cell] + list(mail_opts))
    code, msg = s.rcpt(primary, options=[
        "ARCPT=rfc822;" + alt, "NOTIFY=SUCCESS,FAILURE",
        "ORCPT=rfc822;" + primary])
    assert code == 250, (cell, code, msg)
    for r in extra_rcpts:
        assert s.rcpt(r)[0] == 250
    s.data(body.encode())
    s.quit()


class Cell:
    def __init__(self, cause, kind, name, primary, alt_box, alt_addr,
                 hop=None, opts=(), size=0, extra=(), where=None,
                 expect_cause=None, primary_box=None):
        self.cause, self.kind, self.name = cause, kind, name
        self.primary, self.alt_box, self.alt_addr = primary, alt_box, alt_addr
        self.hop, self.opts, self.size, self.extra = hop, opts, size, extra
        self.where = where           # the gateway holding the duty
        self.expect_cause = expect_cause
        self.primary_box = primary_box
        self.problems = []

    def check(self, sender_box):
        copies = [m for m in maildir_msgs(self.alt_box)
                  if m.get("Subject", "") == "cell " + self.name]
        if len(copies) != 1:
            self.problems.append("alternate got %d copies" % len(copies))
        else:
            tr = " ".join(copies[0].get("Alternate-Recipient-Redirect",
                                        "").split())
            if ("<%s> to <%s>" % (self.primary, self.alt_addr)) not in tr:
                self.problems.append("trace field: %r" % tr)
            if "cause=" + self.expect_cause not in tr:
                self.problems.append("cause not %s: %r" %
                                     (self.expect_cause, tr))
        if self.hop is not None and self.primary in self.hop.accepted_addrs():
            self.problems.append("the primary's hop delivered it too")
        if self.primary_box and maildir_msgs(self.primary_box):
            self.problems.append("the primary's Maildir got it")
        dsns = [m for m in maildir_msgs(sender_box) if dsn_blocks(m)]
        mine = []
        for m in dsns:
            for part in m.walk():
                if part.get_content_type() != "message/delivery-status":
                    continue
                top = part.get_payload()[0]
                if str(top.get("Original-Envelope-Id", "")).strip() == \
                        self.name:
                    mine.append(dsn_blocks(m))
        redir = [d[1] for d in mine if d[1].get("action") == "relayed" and
                 d[1].get("final-recipient", "").replace(" ", "").lower()
                 == "rfc822;" + self.primary.lower()]
        if len(redir) != 1:
            self.problems.append("sender got %d redirect DSNs (of %d)" %
                                 (len(redir), len(mine)))
        else:
            b = redir[0]
            if b.get("original-recipient", "").replace(" ", "").lower() != \
                    "rfc822;" + self.primary.lower():
                self.problems.append("DSN Original-Recipient=%r" %
                                     b.get("original-recipient"))
            if self.alt_addr.lower() not in str(b).lower():
                self.problems.append("DSN does not name the alternate")
        for d in mine:
            b = d[1]
            if b in redir:
                continue
            # the alternate's own success report (NOTIFY=SUCCESS went with
            # the copy): it names the alternate and keeps the original
            if (b.get("final-recipient", "").replace(" ", "").lower() !=
                    "rfc822;" + self.alt_addr.lower() or
                    b.get("original-recipient", "").replace(" ", "")
                    .lower() != "rfc822;" + self.primary.lower()):
                self.problems.append("unexpected DSN %r" % b)
        return not self.problems


def group_local(top, label, policy, cells_spec, delivery=""):
    """One skywaved, local routes only. cells_spec: list of
    (cause, kind, name, primary, hop or None, opts, expect_cause, box)."""
    work = os.path.join(top, label)
    os.makedirs(work)
    gwdir = os.path.join(work, "gw")
    alt = os.path.join(work, "alt")
    sender = os.path.join(work, "sender")
    mkmaildir(alt)
    mkmaildir(sender)
    routes = ["alt.test = maildir:%s" % alt,
              "sender.test = maildir:%s" % sender]
    cells = []
    for spec in cells_spec:
        (cause, kind, name, primary, target, hop, opts, want,
         pbox) = spec[:9]
        dom = primary.split("@")[1]
        route = "%s = %s" % (dom, target)
        if route not in routes:
            routes.append(route)
        cells.append(Cell(cause, kind, name, primary, alt,
                          "alt-%s@alt.test" % name, hop=hop, opts=opts,
                          expect_cause=want, primary_box=pbox,
                          extra=spec[9] if len(spec) > 9 else ()))
    gw = h.Gateway(work, "gw", [], "\n".join(routes) + "\n",
                   extra="\n[policy]\n" + policy + "\n[delivery]\n" +
                   "smtp_connect_timeout = 2s\nsmtp_greeting_timeout = 2s\n" +
                   delivery)
    gw.start()
    for c in cells:
        submit(gw, c.name, c.primary, c.alt_addr, mail_opts=c.opts,
               extra_rcpts=c.extra)
    return gw, cells, sender, gwdir


def settle(cells, sender, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if all(c.check(sender) for c in cells):
            return
        for c in cells:
            c.problems = []
        time.sleep(0.5)
    for c in cells:
        c.problems = []
        c.check(sender)


print = functools.partial(print, flush=True)  # noqa: A001


def main():
    print("seed", SEED)
    top = h.tmpdir("altmatrix")
    ok = False
    procs, hopl, allcells = [], [], []
    try:
        def hop(**kw):
            x = hops.Hop(**kw)
            hopl.append(x)
            return x
        alt_ehlo = ("ENHANCEDSTATUSCODES", "DSN", "DELIVERBY", "ALTRECIP")
        # --- permanent failures (5xx) --------------------------------
        rcpt550 = hop(ehlo=alt_ehlo, rcpt=lambda a, l:
                      "550 5.1.1 <%s> no such user" % a)
        rcpt550n = hop(ehlo=("ENHANCEDSTATUSCODES", "DSN", "DELIVERBY"),
                       rcpt=lambda a, l: "550 5.1.1 no such user")
        lrcpt550 = hop(lmtp=True, rcpt=lambda a, l: "550 5.1.1 unknown")
        data554 = hop(ehlo=alt_ehlo, data=lambda acc:
                      "554 5.6.0 content refused")
        ldata = hop(lmtp=True, data=lambda acc: [
            "552 5.2.2 mailbox full" if a.startswith("prim") else None
            for a in acc])
        work_p = os.path.join(top, "perm-boxes")
        os.makedirs(work_p)
        mkmaildir(os.path.join(work_p, "known"))
        unknown = os.path.join(work_p, "prim-md5")
        perm = [
            ("5xx at RCPT", "smtp", "smtp-rcpt5", "prim@s5.test",
             rcpt550.spec(), rcpt550, (), "permanent-error", None),
            ("5xx at RCPT", "smtp (no ALTRECIP)", "smtpn-rcpt5",
             "prim@s5n.test", rcpt550n.spec(), rcpt550n, (),
             "permanent-error", None),
            ("5xx at RCPT", "lmtp", "lmtp-rcpt5", "prim@l5.test",
             lrcpt550.spec(), lrcpt550, (), "permanent-error", None),
            ("5xx after DATA", "smtp", "smtp-data5", "prim@sd5.test",
             data554.spec(), data554, (), "permanent-error", None),
            ("5xx after DATA", "lmtp", "lmtp-data5", "prim-ld@ld5.test",
             ldata.spec(), ldata, (), "permanent-error", None,
             ("other@ld5.test",)),
            ("5xx at RCPT", "maildir", "maildir-rcpt5", "prim-md5@md.test",
             "maildir:%s/%%u" % work_p, None, (), "permanent-error",
             unknown),
        ]
        gw, cells, sender, _ = group_local(
            top, "perm", "altrecip_tempfail_persist = 10m\n", perm,
            delivery="maildir_create = no\n")
        procs.append(gw)
        allcells.append((cells, sender, 40))

        # --- temporary failures that persist (4xx, no connection) ------
        rcpt451 = hop(rcpt=lambda a, l: "451 4.3.0 try again later")
        lrcpt451 = hop(lmtp=True, rcpt=lambda a, l: "451 4.2.1 busy")
        nogreet = hop(greet=False)
        blackhole = hops.Blackhole()
        closed = hops.closed_port()
        m4 = os.path.join(top, "m4box")
        os.makedirs(os.path.join(m4, "tmp"))
        os.makedirs(os.path.join(m4, "cur"))
        with open(os.path.join(m4, "new"), "w") as f:
            f.write("not a directory\n")
        tpol = ("altrecip_tempfail_persist = 3s\naltrecip_predict = no\n"
                "retry_backoff = 10s\n")
        want = "persistent-temporary-error"
        temp = [
            ("4xx past the limit", "smtp", "smtp-4xx", "prim@s4.test",
             rcpt451.spec(), rcpt451, (), want, None),
            ("4xx past the limit", "lmtp", "lmtp-4xx", "prim@l4.test",
             lrcpt451.spec(), lrcpt451, (), want, None),
            ("4xx past the limit", "maildir", "maildir-4xx",
             "prim@m4.test", "maildir:%s" % m4, None, (), want, None),
            ("connection refused", "smtp", "smtp-refused", "prim@cr.test",
             "smtp:127.0.0.1:%d" % closed, None, (), want, None),
            ("connection refused", "lmtp", "lmtp-refused",
             "prim@lcr.test", "lmtp:127.0.0.1:%d" % closed, None, (),
             want, None),
            ("connect timed out", "smtp", "smtp-conn-timeout",
             "prim@ct.test", "smtp:127.0.0.1:%d" % blackhole.port, None,
             (), want, None),
            ("connect timed out", "lmtp", "lmtp-no-greeting",
             "prim@gt.test", "lmtp:127.0.0.1:%d" % nogreet.port, None, (),
             want, None),
            ("no usable address", "smtp", "smtp-no-address",
             "prim@dns.test", "smtp:no-such-host.invalid:25", None, (),
             want, None),
            ("no usable address", "lmtp", "lmtp-no-address",
             "prim@ldns.test", "lmtp:no-such-host.invalid:24", None, (),
             want, None),
        ]
        gw, cells, sender, _ = group_local(top, "temp", tpol, temp)
        procs.append(gw)
        allcells.append((cells, sender, 60))

        # --- ABY expiry (no prediction, 4xx too short to count) --------
        apol = ("altrecip_tempfail_persist = 10m\naltrecip_predict = no\n"
                "retry_backoff = 10s\n")
        m4b = os.path.join(top, "m4box-b")
        os.makedirs(os.path.join(m4b, "tmp"))
        with open(os.path.join(m4b, "new"), "w") as f:
            f.write("not a directory\n")
        want = "alternate-deadline-expired"
        aby = [
            ("ABY expiry", "smtp", "smtp-aby", "prim@s4.test",
             rcpt451.spec(), rcpt451, ("ABY=4;R",), want, None),
            ("ABY expiry", "lmtp", "lmtp-aby", "prim@l4.test",
             lrcpt451.spec(), lrcpt451, ("ABY=4;R",), want, None),
            ("ABY expiry", "maildir", "maildir-aby", "prim@m4.test",
             "maildir:%s" % m4b, None, ("ABY=4;R",), want, None),
        ]
        gw, cells, sender, _ = group_local(top, "aby", apol, aby)
        procs.append(gw)
        allcells.append((cells, sender, 40))

        # --- predicted late: the retry after a 4xx comes too late -------
        ppol = ("altrecip_tempfail_persist = 10m\nretry_backoff = 2m\n"
                "predict_margin = 5s\n")
        want = "predicted-late"
        pred = [
            ("predicted late", "smtp", "smtp-pred", "prim@s4.test",
             rcpt451.spec(), rcpt451, ("ABY=40;R",), want, None),
            ("predicted late", "lmtp", "lmtp-pred", "prim@l4.test",
             lrcpt451.spec(), lrcpt451, ("ABY=40;R",), want, None),
            ("predicted late", "maildir", "maildir-pred", "prim@m4.test",
             "maildir:%s" % m4b, None, ("ABY=40;R",), want, None),
        ]
        gw, cells, sender, _ = group_local(top, "pred", ppol, pred)
        procs.append(gw)
        allcells.append((cells, sender, 40))

        # --- route down past its limit ------------------------------------
        dpol = ("altrecip_tempfail_persist = 10m\naltrecip_predict = no\n"
                "altrecip_route_down_limit = 3s\nretry_backoff = 10s\n")
        want = "route-down"
        down = [
            ("route down", "smtp", "smtp-down", "prim@cr.test",
             "smtp:127.0.0.1:%d,127.0.0.1:%d" % (closed, blackhole.port),
             None, (), want, None),
            ("route down", "lmtp", "lmtp-down", "prim@lcr.test",
             "lmtp:127.0.0.1:%d" % closed, None, (), want, None),
        ]
        gw, cells, sender, _ = group_local(top, "down", dpol, down)
        procs.append(gw)
        allcells.append((cells, sender, 40))

        # --- link: two gateways over skywave-sim ---------------------------
        lcells, lsender, lprocs = link_group(top, hop)
        procs.extend(lprocs)
        allcells.append((lcells, lsender, 150))

        # --- the duty passes on: a hop with ALTRECIP accepts the ARCPT ----
        acc = hop(ehlo=alt_ehlo)
        accn = hop(ehlo=("ENHANCEDSTATUSCODES", "DSN", "DELIVERBY"))
        work = os.path.join(top, "pass")
        os.makedirs(work)
        alt_box = os.path.join(work, "alt")
        sender_box = os.path.join(work, "sender")
        mkmaildir(alt_box)
        mkmaildir(sender_box)
        gwp = h.Gateway(work, "gw", [], (
            "alt.test = maildir:%s\nsender.test = maildir:%s\n"
            "acc.test = %s\naccn.test = %s\n" % (alt_box, sender_box,
                                                 acc.spec(), accn.spec())),
            extra="\n[policy]\naltrecip_tempfail_persist = 0s\n")
        gwp.start()
        procs.append(gwp)
        submit(gwp, "pass-on", "prim@acc.test", "alt-pass@alt.test",
               mail_opts=("ABY=30;R", "BY=120;R"))
        submit(gwp, "no-altrecip", "prim@accn.test", "alt-pass2@alt.test",
               mail_opts=("ABY=30;R", "BY=120;R"))

        for cells, sender, t in allcells:
            settle(cells, sender, t)

        duty = []
        h.wait_for(lambda: len(acc.accepted_addrs()) == 1 and
                   len(accn.accepted_addrs()) == 1, 20)
        t = [x for x in acc.transactions if x.get("done")]
        if not (t and "ARCPT=rfc822;alt-pass@alt.test" in t[0]["rcpts"][0]
                and "ABY=" in t[0]["mail"]):
            duty.append("ALTRECIP hop did not get ARCPT/ABY: %r" % t)
        t = [x for x in accn.transactions if x.get("done")]
        if not t or "ARCPT" in t[0]["rcpts"][0] or "ABY" in t[0]["mail"]:
            duty.append("non-ALTRECIP hop got ARCPT or ABY: %r" % t)
        time.sleep(4)
        if maildir_msgs(alt_box):
            duty.append("redirected although the hop took the duty")

        # --- the matrix ----------------------------------------------------
        kinds = ["smtp", "smtp (no ALTRECIP)", "lmtp", "maildir", "link"]
        causes = []
        for cells, _, _ in allcells:
            for c in cells:
                if c.cause not in causes:
                    causes.append(c.cause)
        res = {}
        for cells, _, _ in allcells:
            for c in cells:
                res[(c.cause, c.kind)] = c
        w = max(len(x) for x in causes) + 2
        print("\n%-*s" % (w, "cause") + "".join("%-20s" % k for k in kinds))
        bad = 0
        for cause in causes:
            row = "%-*s" % (w, cause)
            for k in kinds:
                c = res.get((cause, k))
                if c is None:
                    row += "%-20s" % "-"
                else:
                    row += "%-20s" % ("pass" if not c.problems else "FAIL")
                    bad += bool(c.problems)
            print(row)
        print("duty passes on (ALTRECIP hop accepts): %s" %
              ("pass" if not duty else "FAIL"))
        for cells, _, _ in allcells:
            for c in cells:
                for p in c.problems:
                    print("  %s/%s (%s): %s" % (c.cause, c.kind, c.name, p))
        for p in duty:
            print("  duty:", p)
        if bad or duty:
            print("FAIL seed", SEED)
            return 1
        ok = True
        print("ok")
        return 0
    finally:
        for p in procs:
            p.stop()
        for x in hopl:
            x.stop()
        h.cleanup(top, ok)


def link_group(top, hop):
    """alpha --hf--> bravo, bravo's onward hops fail; alpha's second link
    hf2 has no far gateway at all (down)."""
    work = os.path.join(top, "link")
    os.makedirs(work)
    sim = h.Sim(work, "los-19200", links=2, seed=SEED)
    far550 = hop(ehlo=("ENHANCEDSTATUSCODES", "DSN", "DELIVERBY"),
                 rcpt=lambda a, l: "550 5.1.1 no such user")
    far451 = hop(ehlo=("ENHANCEDSTATUSCODES", "DSN", "DELIVERBY"),
                 rcpt=lambda a, l: "451 4.3.0 try again later")
    farok = hop(ehlo=("ENHANCEDSTATUSCODES", "DSN", "DELIVERBY"))
    farld = hop(lmtp=True, data=lambda acc: [
        "550 5.2.1 mailbox disabled" if a.startswith("prim") else None
        for a in acc])
    a_alt = os.path.join(work, "a-alt")
    a_sender = os.path.join(work, "a-sender")
    b_alt = os.path.join(work, "b-alt")
    for d in (a_alt, a_sender, b_alt):
        mkmaildir(d)
    alpha = h.Gateway(work, "alpha.test", [
        ("hf", sim.dev("a", 0), "los-19200", "bravo.test"),
        ("hf2", sim.dev("a", 1), "los-19200", "charlie.test")],
        "alt.test = maildir:%s\nsender.test = maildir:%s\n"
        "far.test = link:hf\nfarl.test = link:hf\nbalt.test = link:hf\n"
        "farslow.test = link:hf\nfarok.test = link:hf\n"
        "fartemp.test = link:hf\nfarcr.test = link:hf\n"
        "gone.test = link:hf2\ngone2.test = link:hf2\n" % (a_alt, a_sender),
        extra="\n[policy]\naltrecip_route_down_limit = 25s\n"
              "altrecip_tempfail_persist = 10m\n")
    bravo = h.Gateway(work, "bravo.test", [
        ("hf", sim.dev("b", 0), "los-19200", "alpha.test")],
        "balt.test = maildir:%s\nsender.test = link:hf\n"
        "far.test = %s\nfarl.test = %s\nfarslow.test = %s\n"
        "farok.test = %s\nfartemp.test = %s\nfarcr.test = smtp:127.0.0.1:%d\n"
        % (b_alt, far550.spec(), farld.spec(), far451.spec(), farok.spec(),
           far451.spec(), hops.closed_port()),
        extra="\n[policy]\naltrecip_predict = no\n"
              "altrecip_tempfail_persist = 25s\nretry_backoff = 10s\n")
    alpha.start()
    bravo.start()
    cells = [
        Cell("5xx at RCPT", "link", "link-rcpt5", "prim@far.test", b_alt,
             "alt-l1@balt.test", hop=far550, expect_cause="permanent-error"),
        Cell("5xx after DATA", "link", "link-data5", "prim@farl.test", b_alt,
             "alt-l2@balt.test", hop=farld, expect_cause="permanent-error"),
        Cell("ABY expiry", "link", "link-aby", "prim@farslow.test", b_alt,
             "alt-l3@balt.test", hop=far451, opts=("ABY=10;R",),
             expect_cause="alternate-deadline-expired"),
        Cell("4xx past the limit", "link", "link-4xx", "prim@fartemp.test",
             b_alt, "alt-l6@balt.test", hop=far451,
             expect_cause="persistent-temporary-error"),
        Cell("connection refused", "link", "link-refused",
             "prim@farcr.test", b_alt, "alt-l7@balt.test",
             expect_cause="persistent-temporary-error"),
        Cell("route down", "link", "link-down", "prim@gone2.test", a_alt,
             "alt-l4@alt.test", expect_cause="route-down"),
        Cell("predicted late", "link", "link-pred", "prim@farok.test", a_alt,
             "alt-l5@alt.test", hop=farok, opts=("ABY=40;R",), size=300000,
             expect_cause="predicted-late"),
    ]
    for c in cells:
        submit(alpha, c.name, c.primary, c.alt_addr, mail_opts=c.opts,
               size=c.size)
    return cells, a_sender, [sim, bravo, alpha]


if __name__ == "__main__":
    sys.exit(main())
