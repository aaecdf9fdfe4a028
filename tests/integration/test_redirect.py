#!/usr/bin/env python3
"""Deadlines and alternate recipients in the running daemon: two real
skywaved gateways over skywave-sim's slow `hf-300-hd-noisy` channel.

Gateway alpha routes bravo.example over the slow radio link, charlie.example
over a second, fast link (`los-19200`, a third gateway) and delivers
alpha.example (the senders) and alt.example (alternates) to local
Maildirs. Sent to chief@bravo.example:
  1. BY=300;R with ARCPT=rfc822;duty@alt.example and ORCPT, 30 kB that
     cannot cross 300 bit/s in 300 s: redirected to the alternate before
     the deadline; the redirected copy carries the trace header; the
     sender gets a DSN (Action relayed, Status 2.0.0, Original-Recipient
     kept, the alternate named); bravo never receives it.
  2. BY=100;R, no ARCPT, 100 kB that cannot cross in time even at the best
     compression: failed 5.4.7 at once (DSN Action failed), never
     delivered at bravo.
  3. a small message without deadline: crosses the link (the link works,
     so the absence of 1 and 2 at bravo means something).
  4. like 1 with ARCPT=rfc822;duty@charlie.example: the redirected copy
     leaves by the fast link and reaches charlie's Maildir with the trace
     header.
  5. (after 3 arrived) BY=20;N, 30 kB: at the deadline a delayed DSN
     (4.4.7) and the transfer goes on (never withdrawn).
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


def dsn_fields(raw):
    """Per-recipient fields of a delivery-status report, or None."""
    msg = email.message_from_bytes(raw)
    if msg.get_content_type() != "multipart/report":
        return None
    for part in msg.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        blocks = []
        for sub in part.get_payload():
            blocks.append({k.lower(): str(v).strip()
                           for k, v in sub.items()})
        return {"top": msg, "blocks": blocks}
    return None


def noise(rnd, n):
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/"
    text = "".join(rnd.choice(alphabet) for _ in range(n))
    return "\r\n".join(text[i:i + 76] for i in range(0, len(text), 76))


def send(port, sender, rcpt, msg, mail_opts=(), rcpt_opts=()):
    s = smtplib.SMTP("127.0.0.1", port, timeout=30)
    s.ehlo("client.example")
    s.sendmail(sender, [rcpt], msg, mail_options=list(mail_opts),
               rcpt_options=list(rcpt_opts))
    s.quit()


def main():
    seed = int(os.environ.get("SKYWAVE_SEED", int(time.time())))
    print("seed=%d (repeat with SKYWAVE_SEED=%d)" % (seed, seed))
    rnd = random.Random(seed)
    top = h.tmpdir("redirect")
    ok = False
    prof = "hf-300-hd-noisy"
    sim = h.Sim(top, prof, seed=seed)
    fastdir = os.path.join(top, "fast")
    os.makedirs(fastdir)
    fast = h.Sim(fastdir, "los-19200", seed=seed + 1)
    amail = "%s/alpha.example/mail" % top
    altmail = "%s/alpha.example/alt" % top
    a = h.Gateway(top, "alpha.example",
                  [("hf", sim.dev("a"), prof, "bravo.example"),
                   ("fast", fast.dev("a"), "los-19200", "charlie.example")],
                  "bravo.example = link:hf\n"
                  "charlie.example = link:fast\n"
                  "alt.example = maildir:%s\n"
                  "alpha.example = maildir:%s\n" % (altmail, amail),
                  "[policy]\ndeliverby_min = 10s\n")
    b = h.Gateway(top, "bravo.example",
                  [("hf", sim.dev("b"), prof, "alpha.example")],
                  "alpha.example = link:hf\n"
                  "bravo.example = maildir:%s/bravo.example/mail\n" % top)
    c = h.Gateway(top, "charlie.example",
                  [("fast", fast.dev("b"), "los-19200", "alpha.example")],
                  "alpha.example = link:fast\n"
                  "charlie.example = maildir:%s/charlie.example/mail\n"
                  % top)
    gws = (a, b, c)
    try:
        for g in gws:
            g.start()
        t0 = time.time()
        send(a.port, "ops@alpha.example", "chief@bravo.example",
             "Subject: redirect me\r\nX-Token: one\r\n\r\n" +
             noise(rnd, 30000) + "\r\n",
             ["BY=300;R"],
             ["ARCPT=rfc822;duty@alt.example",
              "ORCPT=rfc822;chief@bravo.example"])
        send(a.port, "ops@alpha.example", "chief@bravo.example",
             "Subject: too late\r\nX-Token: two\r\n\r\n" +
             noise(rnd, 100000) + "\r\n",
             ["BY=100;R"], ["ORCPT=rfc822;chief@bravo.example"])
        send(a.port, "ops@alpha.example", "chief@bravo.example",
             "Subject: small\r\nX-Token: three\r\n\r\nhello over HF\r\n")
        send(a.port, "ops@alpha.example", "chief@bravo.example",
             "Subject: redirect me far\r\nX-Token: four\r\n\r\n" +
             noise(rnd, 30000) + "\r\n",
             ["BY=300;R"],
             ["ARCPT=rfc822;duty@charlie.example",
              "ORCPT=rfc822;chief@bravo.example"])

        # 1: the alternate has it, well before the deadline
        if not h.wait_for(lambda: len(maildir_files(altmail)) >= 1, 60,
                          0.5):
            print("FAIL: no redirected copy at the alternate")
            return 1
        took = time.time() - t0
        if took >= 300:
            print("FAIL: redirect after the deadline (%.0fs)" % took)
            return 1
        alt = maildir_files(altmail)
        if len(alt) != 1 or b"X-Token: one" not in alt[0]:
            print("FAIL: alternate Maildir holds %d messages" % len(alt))
            return 1
        m = email.message_from_bytes(alt[0])
        trace = m.get("Alternate-Recipient-Redirect", "")
        if "<chief@bravo.example> to <duty@alt.example>" not in \
                " ".join(trace.split()) or "cause=" not in trace:
            print("FAIL: trace header missing or wrong: %r" % trace)
            return 1

        # DSNs to the sender: one relayed (redirect), one failed (5.4.7)
        def reports():
            out = []
            for raw in maildir_files(amail):
                f = dsn_fields(raw)
                if f:
                    out.append(f)
            return out
        if not h.wait_for(lambda: len(reports()) >= 3, 30, 0.5):
            print("FAIL: %d DSNs at the sender, want 3" % len(reports()))
            return 1
        relayed, failed = [], []
        for r in reports():
            for blk in r["blocks"][1:]:
                if blk.get("action") == "relayed":
                    relayed.append(blk)
                elif blk.get("action") == "failed":
                    failed.append(blk)
        if len(relayed) != 2 or len(failed) != 1:
            print("FAIL: want two relayed and one failed report, got",
                  [x.get("action") for r in reports()
                   for x in r["blocks"][1:]])
            return 1
        for blk in relayed + failed:
            orc = blk.get("original-recipient", "")
            if "chief@bravo.example" not in orc.lower():
                print("FAIL: DSN Original-Recipient %r" % orc)
                return 1
        alts = sorted(x.get("x-skywave-alternate-recipient", "")
                      for x in relayed)
        if any(x.get("status") != "2.0.0" for x in relayed) or \
                "duty@alt.example" not in alts[0] or \
                "duty@charlie.example" not in alts[1]:
            print("FAIL: redirect DSN fields", relayed)
            return 1
        if failed[0].get("status") != "5.4.7":
            print("FAIL: failed DSN status", failed[0].get("status"))
            return 1
        print("ok: redirect after %.1fs; DSNs relayed 2.0.0 (alternate "
              "named) and failed 5.4.7" % took)

        # 4: the copy went over the fast link to charlie, trace first
        if not h.wait_for(lambda: len(c.delivered()) >= 1, 60, 0.5):
            print("FAIL: no redirected copy at charlie")
            return 1
        far = c.delivered()
        m = email.message_from_bytes(far[0])
        trace = " ".join(m.get("Alternate-Recipient-Redirect", "").split())
        if len(far) != 1 or b"X-Token: four" not in far[0] or \
                "<chief@bravo.example> to <duty@charlie.example>" \
                not in trace:
            print("FAIL: charlie got %d messages, trace %r" % (len(far),
                                                              trace))
            return 1
        print("ok: redirected copy crossed the fast link to charlie")

        # 3 crosses the link; 1, 2 and 4 never reach bravo
        if not h.wait_for(lambda: any(b"X-Token: three" in x
                                      for x in b.delivered()), 120, 1):
            print("FAIL: the small message did not cross the link")
            return 1
        time.sleep(3)
        for x in b.delivered():
            if b"X-Token: one" in x or b"X-Token: two" in x or \
                    b"X-Token: four" in x:
                print("FAIL: bravo received a redirected or late message")
                return 1
        # 5: mode N - delayed DSN at the deadline, transfer goes on
        t5 = time.time()
        send(a.port, "ops@alpha.example", "chief@bravo.example",
             "Subject: keep going\r\nX-Token: five\r\n\r\n" +
             noise(rnd, 30000) + "\r\n", ["BY=20;N"],
             ["ORCPT=rfc822;chief@bravo.example"])

        def delayed():
            return [x for r in reports() for x in r["blocks"][1:]
                    if x.get("action") == "delayed"]
        if not h.wait_for(lambda: delayed(), 60, 0.5):
            print("FAIL: no delayed DSN for the BY;N message")
            return 1
        waited = time.time() - t5
        d = delayed()
        if len(d) != 1 or d[0].get("status") != "4.4.7" or waited < 18:
            print("FAIL: delayed DSN %r after %.1fs" % (d, waited))
            return 1
        time.sleep(2)
        with open(a.logpath, errors="replace") as f:
            withdrawn = f.read().count("event=withdrawn")
        if withdrawn != 3:
            print("FAIL: %d messages withdrawn, want 3 (1, 2, 4)" %
                  withdrawn)
            return 1
        print("ok: BY;N delayed DSN 4.4.7 after %.1fs, still on the air" %
              waited)
        if any(g.stop() != 0 for g in gws):
            print("FAIL: unclean stop")
            return 1
        print("ok: bravo got only the small message (%.0fs in all)" %
              (time.time() - t0))
        ok = True
        return 0
    finally:
        for g in gws:
            g.stop()
        sim.stop()
        fast.stop()
        if not ok:
            for g in gws:
                print("---", g.name)
                with open(g.logpath, errors="replace") as f:
                    print("".join(f.readlines()[-40:]))
        h.cleanup(top, ok)


if __name__ == "__main__":
    sys.exit(main())
