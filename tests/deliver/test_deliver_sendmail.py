#!/usr/bin/env python3
"""skywave's onward SMTP client against a real sendmail, the one packaged MTA
with DELIVERBY (RFC 2852), run from an unpacked tree on loopback.

sendmail advertises "DELIVERBY 30" (confDELIVER_BY_MIN) and keeps mail in
its queue (confDELIVERY_MODE queue); the deadline it received is the
"! <seconds>" line of the qf file. Checks:
  R2  BY=120;R relayed with the remaining time (at most 120, at least 110);
  R1  BY=20;R is below sendmail's minimum of 30: QUIT before MAIL, 5.3.3;
  R4  BY=-30;N (deadline passed) is still relayed, with the negative time;
  R7  sendmail lacks MT-PRIORITY: exactly one MT-Priority header arrives.
The sendmail tree comes from $SKYWAVE_SENDMAIL_ROOT, else
$SKYWAVE_BUILD/sendmail/root, else fetch_sendmail.sh fills the latter.
Skips (exit 77) when no tree can be had or we are not root.
"""
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.environ.get("SKYWAVE_BUILD", ".")
TOOL = os.path.join(BUILD, "tests/deliver/deliver_tool")


def skip(why):
    print("SKIP: " + why)
    sys.exit(77)


def sendmail_root():
    root = os.environ.get("SKYWAVE_SENDMAIL_ROOT")
    if root:
        return root
    root = os.path.join(BUILD, "sendmail", "root")
    if not os.path.exists(os.path.join(root, "usr/libexec/sendmail/sendmail")):
        if shutil.which("apt-get") is None:
            skip("no unpacked sendmail and no apt-get to fetch one")
        r = subprocess.run([os.path.join(HERE, "fetch_sendmail.sh"),
                            os.path.join(BUILD, "sendmail")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=120)
        if r.returncode != 0:
            skip("could not fetch sendmail: " + r.stderr.decode().strip())
    return root


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Sendmail:
    def __init__(self, root, port, by_min=30):
        self.root = root
        self.port = port
        self.by_min = by_min
        self.dir = tempfile.mkdtemp(prefix="skywave-sendmail-")
        self.qdir = os.path.join(self.dir, "mqueue")
        self.pidf = os.path.join(self.dir, "sendmail.pid")
        self.cf = os.path.join(self.dir, "test.cf")

    def start(self):
        os.makedirs(self.qdir, mode=0o700)
        aliases = os.path.join(self.dir, "aliases")
        open(aliases, "w").close()
        cfdir = os.path.join(self.root, "usr/share/sendmail/cf")
        mc = os.path.join(self.dir, "test.mc")
        with open(mc, "w") as f:
            f.write("""divert(-1)
include(`%(cfdir)s/m4/cf.m4')
divert(0)dnl
OSTYPE(`linux')dnl
define(`confDONT_PROBE_INTERFACES', `True')dnl
define(`confDELIVERY_MODE', `queue')dnl
define(`confDELIVER_BY_MIN', `%(bymin)d')dnl
define(`QUEUE_DIR', `%(q)s')dnl
define(`confPID_FILE', `%(pid)s')dnl
define(`confRUN_AS_USER', `root')dnl
define(`ALIAS_FILE', `%(aliases)s')dnl
define(`STATUS_FILE', `%(dir)s/statistics')dnl
define(`confHOST_STATUS_DIRECTORY', `')dnl
define(`confDOMAIN_NAME', `sm%(port)d.skywave.test')dnl
FEATURE(`promiscuous_relay')dnl
FEATURE(`accept_unresolvable_domains')dnl
DAEMON_OPTIONS(`Port=%(port)d,Addr=127.0.0.1,Name=MTA')dnl
MAILER(`smtp')dnl
""" % {"cfdir": cfdir, "q": self.qdir, "pid": self.pidf,
       "aliases": aliases, "dir": self.dir, "port": self.port,
       "bymin": self.by_min})
        m4 = os.path.join(self.root, "usr/bin/m4")
        if not os.access(m4, os.X_OK):
            m4 = shutil.which("m4") or m4
        with open(self.cf, "w") as out:
            subprocess.run([m4, "-D_CF_DIR_=" + cfdir + "/", mc],
                           stdout=out, check=True, timeout=60)
        exe = os.path.join(self.root, "usr/libexec/sendmail/sendmail")
        # The daemon forks into the background and keeps its output
        # descriptors: give it a file, not a pipe we would wait on.
        logf = os.path.join(self.dir, "sendmail.out")
        with open(logf, "w") as lf:
            # sendmail sleeps a minute when the host name is not fully
            # qualified ("vm"): give it a qualified one in its own UTS
            # namespace where unshare(1) can, else live with the wait.
            cmd = [exe, "-C", self.cf, "-bd", "-q30m"]
            if shutil.which("unshare") and subprocess.run(
                    ["unshare", "-u", "true"]).returncode == 0:
                cmd = ["unshare", "-u", "sh", "-c",
                       'hostname sm%d.skywave.test && exec "$0" "$@"' %
                       self.port] + cmd
            r = subprocess.run(cmd,
                               stdin=subprocess.DEVNULL, stdout=lf,
                               stderr=subprocess.STDOUT, timeout=100)
        if r.returncode != 0:
            with open(logf) as lf:
                raise RuntimeError("sendmail: " + lf.read())
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("sendmail did not listen on %d" % self.port)

    def qf_files(self):
        return sorted(glob.glob(os.path.join(self.qdir, "qf*")))

    def stop(self):
        try:
            with open(self.pidf) as f:
                pid = int(f.readline())
            os.kill(pid, signal.SIGTERM)
            for _ in range(50):
                os.kill(pid, 0)
                time.sleep(0.1)
        except (OSError, ValueError):
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


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


def main():
    if os.geteuid() != 0:
        skip("sendmail runs as root here")
    root = sendmail_root()
    port = free_port()
    sm = Sendmail(root, port)
    tmp = tempfile.mkdtemp(prefix="skywave-smmsg-")
    msgf = os.path.join(tmp, "msg")
    with open(msgf, "wb") as f:
        f.write(b"From: a@x.test\nTo: b@y.test\nSubject: by test\n"
                b"MT-Priority: 1\nMT-Priority: 2\n\nhello sendmail\n")
    route = "*=smtp:127.0.0.1:%d" % port
    failures = []

    def check(cond, what):
        print(("ok   " if cond else "FAIL ") + what)
        if not cond:
            failures.append(what)

    def qf_by(before):
        new = [q for q in sm.qf_files() if q not in before]
        check(len(new) == 1, "one new queue file at sendmail")
        if len(new) != 1:
            return None, b""
        with open(new[0], "rb") as f:
            qf = f.read()
        # "!" <mode flags octet> SP <seconds>
        for ln in qf.split(b"\n"):
            if ln.startswith(b"!"):
                return int(ln.split()[-1]), qf
        return None, qf

    try:
        sm.start()
        # R2: BY=120;R relayed with the seconds left
        before = sm.qf_files()
        out = tool("--route", route, "--from", "a@x.test",
                   "--rcpt", "b@y.test", "--by", "120;R", "--priority", "3",
                   "--file", msgf, "--timeout-ms", "20000")
        check("action=relayed code=250" in out, "BY=120;R relayed")
        by, qf = qf_by(before)
        print("qf deadline line: !", by)
        check(by is not None and 110 <= by <= 120,
              "sendmail got the remaining time (%s)" % by)
        df = [p.replace("/qf", "/df") for p in sm.qf_files()]
        check(qf.count(b"MT-Priority:") == 1 and b"MT-Priority: 3" in qf,
              "exactly one MT-Priority header, the original 3 (R7)")

        # R1: sendmail's minimum (30) exceeds the 20 s left: never sent
        before = sm.qf_files()
        out = tool("--route", route, "--from", "a@x.test",
                   "--rcpt", "c@y.test", "--by", "20;R", "--file", msgf,
                   "--timeout-ms", "20000")
        check("action=failed" in out and "status=5.3.3" in out,
              "BY=20;R refused before MAIL with 5.3.3")
        check(sm.qf_files() == before, "nothing queued at sendmail")

        # R4: mode N with the deadline passed: relayed, negative BY
        before = sm.qf_files()
        out = tool("--route", route, "--from", "a@x.test",
                   "--rcpt", "d@y.test", "--by", "-30;N", "--file", msgf,
                   "--timeout-ms", "20000")
        check("action=relayed" in out, "BY=-30;N relayed")
        by, _ = qf_by(before)
        print("qf deadline line: !", by)
        check(by is not None and -40 <= by <= -30,
              "sendmail got the negative time (%s)" % by)
        del df
    finally:
        sm.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("FAILED: %d checks" % len(failures))
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
