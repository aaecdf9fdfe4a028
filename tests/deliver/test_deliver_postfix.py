#!/usr/bin/env python3
"""skywave's onward SMTP client against a real, private Postfix on loopback.

Postfix (3.x) offers PIPELINING, SIZE, 8BITMIME and DSN but neither
MT-PRIORITY nor DELIVERBY: the "next hop without the extension" case.
Everything Postfix receives is held (header_checks HOLD) and read back with
postcat, so the test sees exactly what arrived:
  1. content intact (8-bit body as sent with BODY=8BITMIME, a leading dot),
     the DSN parameters passed through (ENVID, RET, NOTIFY, ORCPT), exactly
     one MT-Priority header carrying the original value (RFC 6758, R7);
  2. BY mode R is never handed to Postfix: failed 5.3.3, nothing queued (R3);
  3. BY mode N goes, with a relayed DSN owed and DELAY added to NOTIFY (R4).
Skips (exit 77) when Postfix is not installed or we are not root.
"""
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pfx  # noqa: E402

if not pfx.available():
    print("SKIP: postfix is not installed (apt-get install postfix)")
    sys.exit(77)
if os.geteuid() != 0:
    print("SKIP: a private postfix instance needs root")
    sys.exit(77)

TOOL = os.path.join(os.environ.get("SKYWAVE_BUILD", "."),
                    "tests/deliver/deliver_tool")

MSG = (b"From: a@x.test\n"
       b"To: b@y.test\n"
       b"Subject: skywave onward test\n"
       b"MT-Priority: 6\n"
       b"MIME-Version: 1.0\n"
       b"Content-Type: text/plain; charset=utf-8\n"
       b"Content-Transfer-Encoding: 8bit\n"
       b"MT-Priority: 5 (second one)\n"
       b"\n"
       b"caf\xc3\xa9 au lait\n"
       b".a line with a leading dot\n"
       b"last line\n")


def tool(*args):
    r = subprocess.run([TOOL] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    out = r.stdout.decode()
    print("$ deliver_tool", " ".join(args))
    print(out, end="")
    if r.returncode != 0:
        print(r.stderr.decode())
        raise SystemExit("deliver_tool failed: %d" % r.returncode)
    return out


def line_for(out, rcpt):
    for ln in out.splitlines():
        if ln.startswith("rcpt=<%s>" % rcpt):
            return ln
    raise SystemExit("no outcome for " + rcpt)


def main():
    port = pfx.free_port()
    pf = pfx.Postfix(port, hold=True, name="pfx-down")
    tmp = tempfile.mkdtemp(prefix="skywave-pfxmsg-")
    msgf = os.path.join(tmp, "msg")
    with open(msgf, "wb") as f:
        f.write(MSG)
    route = "*=smtp:127.0.0.1:%d" % port
    failures = []

    def check(cond, what):
        print(("ok   " if cond else "FAIL ") + what)
        if not cond:
            failures.append(what)

    try:
        pf.start()
        # 1. a normal relay: content, DSN pass-through, MT-Priority header
        out = tool("--route", route, "--from", "a@x.test",
                   "--rcpt", "b@y.test,NOTIFY=SUCCESS+FAILURE,"
                   "ORCPT=rfc822;b@y.test",
                   "--rcpt", "c@y.test,NOTIFY=NEVER",
                   "--priority", "3", "--envid", "ENV42", "--ret", "HDRS",
                   "--8bit", "--helo", "gw-a.skywave.test", "--file", msgf,
                   "--timeout-ms", "20000")
        b = line_for(out, "b@y.test")
        check("action=relayed code=250" in b, "b relayed with 250")
        check("dsn_relayed=0" in b, "Postfix has DSN: no relayed DSN owed")
        ids = pf.wait_held(1)
        check(len(ids) == 1, "exactly one message held")
        env = pf.postcat(ids[0], "-e -q")
        print(env)
        check(re.search(r"^sender: a@x\.test$", env, re.M) is not None,
              "envelope sender")
        check(re.search(r"^recipient: b@y\.test$", env, re.M) is not None
              and re.search(r"^recipient: c@y\.test$", env, re.M)
              is not None, "both recipients")
        check("ENV42" in env, "ENVID passed through")
        check(re.search(r"rfc822;b@y\.test", env) is not None,
              "ORCPT passed through")
        flags = re.findall(r"notify_flags=(\d+)", env)
        # Postfix's bits: NEVER 1, SUCCESS 2, FAILURE 4, DELAY 8
        check(flags == ["6", "1"], "NOTIFY passed through (%s)" % flags)
        # Postfix's RET bits: FULL 1, HDRS 2
        check("ret_flags=2" in env, "RET=HDRS passed through")
        body = subprocess.run(["postcat", "-c", pf.etc, "-h", "-b", "-q",
                               ids[0]], stdout=subprocess.PIPE,
                              check=True).stdout
        print(body.decode("utf-8", "replace"))
        check(body.count(b"MT-Priority:") == 1,
              "exactly one MT-Priority header (R7)")
        check(b"MT-Priority: 3" in body, "it carries the original 3")
        check(b"caf\xc3\xa9 au lait" in body, "8-bit body intact")
        check(b"\n.a line with a leading dot\n" in body,
              "leading dot intact (stuffed and unstuffed)")
        check(b"Subject: skywave onward test" in body, "headers intact")
        hdr = body.split(b"\n\n", 1)[0]
        check(hdr.count(b"Received:") == 1, "Postfix added one Received")
        check(b"gw-a.skywave.test" in hdr, "trace names our EHLO")
        check("encoding=8bit" in env, "sent as BODY=8BITMIME")

        # 2. BY mode R: never to a hop without DELIVERBY (R3)
        out = tool("--route", route, "--from", "a@x.test",
                   "--rcpt", "d@y.test", "--by", "300;R", "--file", msgf,
                   "--timeout-ms", "20000")
        d = line_for(out, "d@y.test")
        check("action=failed" in d and "status=5.3.3" in d,
              "mode R refused with 5.3.3")
        check(len(pf.held_ids()) == 1, "nothing more queued at Postfix")

        # 3. BY mode N: relayed, relayed DSN owed, DELAY requested (R4)
        out = tool("--route", route, "--from", "a@x.test",
                   "--rcpt", "e@y.test,NOTIFY=SUCCESS", "--by", "300;N",
                   "--file", msgf, "--timeout-ms", "20000")
        e = line_for(out, "e@y.test")
        check("action=relayed" in e and "dsn_relayed=1" in e,
              "mode N relayed with a relayed DSN owed")
        ids = pf.wait_held(2)
        found = False
        for i in ids:
            env = pf.postcat(i, "-e -q")
            if "e@y.test" in env:
                found = True
                print(env)
                # Postfix's bits: NEVER 1, SUCCESS 2, FAILURE 4, DELAY 8
                m = re.search(r"notify_flags=(\d+)", env)
                check(m is not None and int(m.group(1)) == 2 | 8,
                      "NOTIFY=SUCCESS gained DELAY for a BY N message")
        check(found, "the mode-N message is at Postfix")
    finally:
        pf.stop()
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("FAILED: %d checks" % len(failures))
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
