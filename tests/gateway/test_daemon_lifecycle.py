#!/usr/bin/env python3
"""skywaved lifecycle with the real binary: --help/--version, --check-config
exit codes, clean stop on SIGTERM and SIGINT, SIGHUP with a good and a bad
configuration (the bad one is rejected and the old one stays), and a bad
configuration at start giving EX_CONFIG (78)."""
import os
import signal
import subprocess
import sys
import tempfile
import time

BUILD = os.environ.get("SKYWAVE_BUILD", ".")
DAEMON = os.path.join(BUILD, "gateway", "skywaved")
EX_CONFIG = 78


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def run(*args, timeout=20):
    return subprocess.run([DAEMON, *args], capture_output=True, text=True,
                          timeout=timeout)


def wait_for(path, text, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with open(path) as f:
                if text in f.read():
                    return True
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    return False


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def conf(d, port, extra=""):
    return ("[gateway]\nlisten = 127.0.0.1:%d\ndata_dir = %s/var\n"
            "pid_file = %s/skywaved.pid\n%s" % (port, d, d, extra))


def main():
    r = run("--help")
    if r.returncode != 0 or "--check-config" not in r.stdout:
        fail("--help")
    r = run("--version")
    if r.returncode != 0 or not r.stdout.startswith("skywaved "):
        fail("--version")
    r = run("--no-such-option")
    if r.returncode != 64:
        fail("unknown option should exit 64, got %d" % r.returncode)

    with tempfile.TemporaryDirectory(prefix="skywave-life-") as d:
        path = os.path.join(d, "skywave.conf")
        port = free_port()
        with open(path, "w") as f:
            f.write(conf(d, port))
        r = run("--check-config", path)
        if r.returncode != 0 or "OK" not in r.stdout:
            fail("check-config good: %r" % (r.stdout + r.stderr))
        r = run("--check-config", path, "--verbose")
        if "listen = 127.0.0.1:%d" % port not in r.stdout:
            fail("--verbose does not dump the effective config")

        bad = os.path.join(d, "bad.conf")
        with open(bad, "w") as f:
            f.write("[gateway]\nmax_sessions = 0\n")
        r = run("--check-config", bad)
        if r.returncode != EX_CONFIG or "bad.conf:2: max_sessions" not in r.stderr:
            fail("check-config bad: rc=%d %r" % (r.returncode, r.stderr))
        r = run("--config", bad, "--foreground")
        if r.returncode != EX_CONFIG:
            fail("start with bad config should exit 78, got %d" % r.returncode)

        for sig in (signal.SIGTERM, signal.SIGINT):
            log = os.path.join(d, "log-%d" % sig)
            with open(log, "w") as lf:
                p = subprocess.Popen([DAEMON, "--config", path, "--foreground"],
                                     stderr=lf)
            if not wait_for(log, "event=started"):
                p.kill()
                fail("daemon did not start")
            pidfile = os.path.join(d, "skywaved.pid")
            if not wait_for(pidfile, str(p.pid)):
                fail("pid file missing")

            if sig == signal.SIGTERM:
                # SIGHUP with a bad file: rejected, old config stays
                with open(path, "w") as f:
                    f.write(conf(d, port, "max_errors = nope\n"))
                p.send_signal(signal.SIGHUP)
                if not wait_for(log, "event=reload result=rejected"):
                    fail("bad reload not rejected")
                if p.poll() is not None:
                    fail("daemon died on a bad reload")
                # SIGHUP with a good file: applied, scheduler keys too
                # (sched_edf only at the next restart)
                with open(path, "w") as f:
                    f.write(conf(d, port, "max_errors = 5\nlog_level = debug\n"
                                 "[policy]\nsched_starvation_share = 7\n"
                                 "sched_edf = no\n"))
                p.send_signal(signal.SIGHUP)
                if not wait_for(log, "event=reload result=applied"):
                    fail("good reload not applied")
                if not wait_for(log, "event=reconfigured share=7"):
                    fail("scheduler keys not applied on reload")
                if not wait_for(log, "sched_edf takes effect at the next "
                                "restart"):
                    fail("sched_edf change not reported")

            p.send_signal(sig)
            try:
                rc = p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                fail("daemon did not stop on %s" % sig.name)
            if rc != 0:
                fail("exit code %d after %s" % (rc, sig.name))
            if not wait_for(log, "event=stopped"):
                fail("no stopped event")
            if os.path.exists(pidfile):
                fail("pid file left behind after a clean stop")

        # detached mode: the parent returns once the daemon runs
        r = run("--config", path)
        if r.returncode != 0:
            fail("detached start failed: %r" % r.stderr)
        pidfile = os.path.join(d, "skywaved.pid")
        if not wait_for(pidfile, "\n"):
            fail("detached daemon wrote no pid file")
        pid = int(open(pidfile).read())
        os.kill(pid, signal.SIGTERM)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            fail("detached daemon did not stop")
    print("ok")


if __name__ == "__main__":
    main()
