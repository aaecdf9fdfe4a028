#!/usr/bin/env python3
"""MT-PRIORITY across the system when the downstream speaks it:

  smtplib MT-PRIORITY=3 -> skywaved alpha --[skywave-sim hf-2400-hd]-->
  skywaved bravo -> onward SMTP -> skywaved charlie (MT-PRIORITY
  STANAG4406) -> Maildir

STANAG4406 has levels ..., 2, 4, ...: alpha and bravo schedule the message
in the band of 4, but the value passed on is the original 3 (R8): charlie's
Received field records "PRIORITY 3", and since the parameter carried it, no
MT-Priority header was added on the way. A message submitted with no
priority but two MT-Priority header fields (R9: they do not count) arrives
with priority 0 and its header fields untouched (charlie has MT-PRIORITY,
so no header tunnelling happens).
Skips (exit 77) when the daemon or the simulator is not built.
"""
import glob
import os
import smtplib
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwx  # noqa: E402
import pfx  # noqa: E402


def main():
    if not gwx.built():
        print("SKIP: skywaved or skywave-sim is not built")
        sys.exit(77)
    work = tempfile.mkdtemp(prefix="skywave-e2eprio-")
    procs = []
    failures = []

    def check(cond, what):
        print(("ok   " if cond else "FAIL ") + what)
        if not cond:
            failures.append(what)

    try:
        pa, pb, pc = (pfx.free_port() for _ in range(3))
        procs.append(gwx.Sim(work, seed=3))
        mail_c = os.path.join(work, "charlie", "mail")
        c = gwx.Gateway(work, "charlie", pc,
                        "far.test = maildir:" + mail_c)
        procs.append(c)
        a = gwx.Gateway(work, "alpha", pa, "far.test = link:hf",
                        link=("a0", "bravo"))
        procs.append(a)
        b = gwx.Gateway(work, "bravo", pb,
                        "far.test = smtp:127.0.0.1:%d" % pc,
                        link=("b0", "alpha"))
        procs.append(b)
        gwx.wait_for(lambda: a.session_up() and b.started() and
                     c.started(), 40, "gateways")

        s = smtplib.SMTP("127.0.0.1", pa, timeout=30)
        s.ehlo("client.near.test")
        s.sendmail("ops@near.test", ["chief@far.test"],
                   b"Subject: priority three\r\n\r\nflash-ish\r\n",
                   mail_options=["MT-PRIORITY=3"])
        s.sendmail("ops@near.test", ["deputy@far.test"],
                   b"Subject: two headers\r\nMT-Priority: 5\r\n"
                   b"MT-Priority: 6\r\n\r\nnot a priority\r\n")
        s.quit()
        files = gwx.wait_for(
            lambda: (lambda f: f if len(f) >= 2 else None)(
                glob.glob(os.path.join(mail_c, "new", "*"))),
            150, "both messages in charlie's Maildir")
        msgs = {}
        for f in files:
            with open(f, "rb") as fh:
                t = fh.read().decode("utf-8", "replace")
            msgs["three" if "priority three" in t else "two"] = t
        three, two = msgs.get("three", ""), msgs.get("two", "")
        print(three)
        print(two)
        hdr3 = three.split("\n\n", 1)[0]
        check("by charlie.example" in hdr3 and "PRIORITY 3" in hdr3,
              "charlie received the parameter with the original 3")
        check("MT-Priority:" not in hdr3, "no header was added for it")
        hdr2 = two.split("\n\n", 1)[0]
        check("PRIORITY 0" in hdr2 and "by charlie.example" in hdr2,
              "two header fields count for nothing: priority 0")
        check(hdr2.count("MT-Priority:") == 2,
              "and the two fields arrive untouched")
    finally:
        gwx.stop_all(procs)
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
