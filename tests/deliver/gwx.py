"""gwx - start skywave-sim and skywaved gateways for end-to-end tests.

    sim = Sim(work, seed=1)               # pty pair work/a0 <-> work/b0
    g = Gateway(work, "alpha", port, routes="x.test = link:hf",
                link=("a0", "bravo"))     # or link=None: SMTP only
    wait_for(lambda: g.up(), 40, "alpha")
    ... stop_all([sim, g, ...])
"""
import os
import signal
import subprocess
import time

BUILD = os.environ.get("SKYWAVE_BUILD", ".")
SKYWAVED = os.path.join(BUILD, "gateway/skywaved")
SIM = os.path.join(BUILD, "hw-sim/skywave-sim")


def built():
    return os.access(SKYWAVED, os.X_OK) and os.access(SIM, os.X_OK)


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def wait_for(pred, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.2)
    raise SystemExit("timed out waiting for " + what)


class Sim:
    def __init__(self, work, seed=1, profile="hf-2400-hd"):
        self.p = subprocess.Popen(
            [SIM, "--profile", profile, "--dir", work, "--seed", str(seed)],
            stdout=open(os.path.join(work, "sim.out"), "w"),
            stderr=open(os.path.join(work, "sim.log"), "w"))
        wait_for(lambda: os.path.exists(os.path.join(work, "b0")), 20,
                 "skywave-sim")


class Gateway:
    def __init__(self, work, name, port, routes, link=None):
        self.dir = os.path.join(work, name)
        os.makedirs(self.dir)
        self.log = os.path.join(self.dir, "skywaved.log")
        conf = os.path.join(self.dir, "skywave.conf")
        text = ("[gateway]\nhostname = %s.example\nlisten = 127.0.0.1:%d\n"
                "data_dir = %s\n\n" % (name, port, self.dir))
        if link:
            text += ("[link hf]\ndriver = pty\ndevice = %s\n"
                     "profile = hf-2400-hd\npeer = %s.example\n\n" %
                     (os.path.join(work, link[0]), link[1]))
        text += "[route]\n" + routes + "\n"
        with open(conf, "w") as f:
            f.write(text)
        out = open(self.log, "w")
        self.p = subprocess.Popen([SKYWAVED, "--foreground", "--config",
                                   conf], stdout=out, stderr=out)

    def started(self):
        return "event=started" in read(self.log)

    def session_up(self):
        return "event=session_up" in read(self.log)


def stop_all(objs):
    for o in reversed(objs):
        o.p.send_signal(signal.SIGTERM)
    for o in objs:
        try:
            o.p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            o.p.kill()
            o.p.wait()
