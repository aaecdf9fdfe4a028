#!/usr/bin/env python3
"""The whole path between two real mail servers, all on loopback:

  smtplib -> Postfix "up" (relayhost = gateway alpha)
          -> skywaved alpha --[skywave-sim hf-2400-hd]--> skywaved bravo
          -> onward SMTP -> Postfix "down" (holds everything)

Checks on the message held at the downstream Postfix (postcat):
  - it is there once, with the body and headers intact (8-bit body);
  - the trace: Received fields of Postfix up, alpha, the air hop (bravo
    from alpha) and Postfix down (with bravo as its client), newest first;
  - exactly one MT-Priority field with the original value: the submitter's
    header travelled as the priority and, since the downstream Postfix lacks
    MT-PRIORITY, came back out as one header (RFC 6758);
  - the DSN parameters reached the downstream (ENVID, NOTIFY, ORCPT).
Skips (exit 77) without Postfix, root, or the built daemon and simulator.
"""
import os
import re
import signal
import smtplib
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pfx  # noqa: E402

BUILD = os.environ.get("SKYWAVE_BUILD", ".")
SKYWAVED = os.path.join(BUILD, "gateway/skywaved")
SIM = os.path.join(BUILD, "hw-sim/skywave-sim")


def skip(why):
    print("SKIP: " + why)
    sys.exit(77)


def wait_for(pred, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.2)
    raise SystemExit("timed out waiting for " + what)


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def main():
    if not pfx.available():
        skip("postfix is not installed (apt-get install postfix)")
    if os.geteuid() != 0:
        skip("a private postfix instance needs root")
    for p in (SKYWAVED, SIM):
        if not os.access(p, os.X_OK):
            skip(p + " is not built")

    work = tempfile.mkdtemp(prefix="skywave-e2e-")
    procs = []
    up = down = None
    failures = []

    def check(cond, what):
        print(("ok   " if cond else "FAIL ") + what)
        if not cond:
            failures.append(what)

    try:
        port_a, port_b, port_up, port_down = (pfx.free_port()
                                              for _ in range(4))
        down = pfx.Postfix(port_down, hold=True, name="e2e-down")
        down.start()
        up = pfx.Postfix(port_up, hold=False, name="e2e-up",
                         relayhost="[127.0.0.1]:%d" % port_a)
        up.start()

        sim = subprocess.Popen([SIM, "--profile", "hf-2400-hd", "--dir",
                                work, "--seed", "1"],
                               stdout=open(os.path.join(work, "sim.out"),
                                           "w"),
                               stderr=open(os.path.join(work, "sim.log"),
                                           "w"))
        procs.append(sim)
        wait_for(lambda: os.path.exists(os.path.join(work, "b0")), 20,
                 "skywave-sim")

        def gateway(name, peer, port, dev, routes):
            d = os.path.join(work, name)
            os.makedirs(d)
            conf = os.path.join(d, "skywave.conf")
            with open(conf, "w") as f:
                f.write("[gateway]\nhostname = %s.example\n"
                        "listen = 127.0.0.1:%d\ndata_dir = %s\n\n"
                        "[link hf]\ndriver = pty\ndevice = %s\n"
                        "profile = hf-2400-hd\npeer = %s.example\n\n"
                        "[route]\n%s\n" % (name, port, d, dev, peer,
                                           routes))
            log = open(os.path.join(d, "skywaved.log"), "w")
            p = subprocess.Popen([SKYWAVED, "--foreground", "--config",
                                  conf], stderr=log, stdout=log)
            procs.append(p)
            return os.path.join(d, "skywaved.log")

        log_a = gateway("alpha", "bravo", port_a, os.path.join(work, "a0"),
                        "far.test = link:hf")
        log_b = gateway("bravo", "alpha", port_b, os.path.join(work, "b0"),
                        "far.test = smtp:127.0.0.1:%d" % port_down)
        wait_for(lambda: "event=session_up" in read(log_a) and
                 "event=started" in read(log_b), 40, "gateways")

        body = ("From: ops@near.test\r\nTo: chief@far.test\r\n"
                "Subject: end to end over HF\r\nMT-Priority: 4\r\n"
                "MIME-Version: 1.0\r\n"
                "Content-Type: text/plain; charset=utf-8\r\n"
                "Content-Transfer-Encoding: 8bit\r\n\r\n"
                "Gr\u00fc\u00dfe across the link.\r\n"
                ".a leading dot\r\nend\r\n").encode("utf-8")
        s = smtplib.SMTP("127.0.0.1", port_up, timeout=30)
        s.ehlo("client.near.test")
        s.sendmail("ops@near.test", ["chief@far.test"], body,
                   mail_options=["BODY=8BITMIME", "ENVID=E2E-1"],
                   rcpt_options=["NOTIFY=SUCCESS,FAILURE",
                                 "ORCPT=rfc822;chief@far.test"])
        s.quit()

        try:
            ids = down.wait_held(1, timeout=150)
        except RuntimeError as e:
            print(e)
            print("--- postfix up ---\n" + up.log()[-3000:])
            print("--- alpha ---\n" + read(log_a)[-3000:])
            print("--- bravo ---\n" + read(log_b)[-3000:])
            raise SystemExit(1)
        check(len(ids) == 1, "exactly one message at the downstream")
        time.sleep(1)
        check(len(down.held_ids()) == 1, "and no duplicate after a while")
        msg = subprocess.run(["postcat", "-c", down.etc, "-h", "-b", "-q",
                              ids[0]], stdout=subprocess.PIPE,
                             check=True).stdout
        env = down.postcat(ids[0], "-e -q")
        print(msg.decode("utf-8", "replace"))
        print(env)
        hdr, _, text = msg.partition(b"\n\n")
        check("Gr\u00fc\u00dfe across the link.".encode("utf-8") in text,
              "8-bit body intact")
        check(b"\n.a leading dot\n" in b"\n" + text, "leading dot intact")
        check(b"Subject: end to end over HF" in hdr, "headers intact")
        check(hdr.count(b"MT-Priority:") == 1 and
              b"MT-Priority: 4" in hdr,
              "exactly one MT-Priority header with the original 4")
        rec = [ln for ln in re.split(rb"\n(?![ \t])", hdr)
               if ln.lower().startswith(b"received:")]
        for r in rec:
            print("trace:", r.decode("utf-8", "replace").replace("\n", " "))
        # Postfix up, alpha (SMTP in), the air hop (bravo from alpha),
        # Postfix down (from bravo).
        check(len(rec) >= 4, "four or more Received fields (%d)" % len(rec))
        check(any(re.search(rb"from alpha\.example by bravo\.example "
                            rb"\(skywave\) with X-SKYWAVE-AIR",
                            r.replace(b"\n", b" ")) for r in rec),
              "the air hop's Received field (bravo from alpha)")
        check(re.search(rb"from bravo\.example .*by pfx%d" % port_down,
                        rec[0].replace(b"\n", b" ")) is not None,
              "the newest names bravo as the downstream's client")
        order = [b"pfx%d" % port_down, b"bravo.example", b"alpha.example",
                 b"pfx%d" % port_up]
        pos = []
        for name in order:
            pos.append(next((i for i, r in enumerate(rec) if name in r),
                            -1))
        check(all(p >= 0 for p in pos) and pos == sorted(pos),
              "trace order: down, bravo, alpha, up (%s)" % pos)
        check("E2E-1" in env, "ENVID reached the downstream")
        check("rfc822;chief@far.test" in env, "ORCPT reached it")
        check(re.search(r"notify_flags=6\b", env) is not None,
              "NOTIFY=SUCCESS,FAILURE reached it")
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        for pf in (up, down):
            if pf:
                pf.stop()
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
