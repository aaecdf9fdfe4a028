"""Harness for integration tests with real processes: skywave-sim on
pseudo-terminals and skywaved gateways, each with its own configuration,
SQLite queue and SMTP port on loopback."""
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time

BUILD = os.environ.get("SKYWAVE_BUILD", ".")
DAEMON = os.path.join(BUILD, "gateway", "skywaved")
SIM = os.path.join(BUILD, "hw-sim", "skywave-sim")
SKY = os.path.join(BUILD, "gateway", "skywave")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(pred, timeout, step=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(step)
    return False


def log_has(path, text):
    try:
        with open(path, errors="replace") as f:
            return text in f.read()
    except FileNotFoundError:
        return False


class Sim:
    def __init__(self, top, profile, links=1, seed=1, extra=()):
        self.top = top
        self.log = open(os.path.join(top, "sim.log"), "w")
        self.proc = subprocess.Popen(
            [SIM, "--profile", profile, "--links", str(links), "--seed",
             str(seed), "--dir", top, *extra],
            stdout=subprocess.DEVNULL, stderr=self.log)
        if not wait_for(lambda: os.path.exists(
                os.path.join(top, "b%d" % (links - 1))), 10):
            raise RuntimeError("skywave-sim did not start")

    def dev(self, side, n=0):
        return os.path.join(self.top, "%s%d" % (side, n))

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


class Gateway:
    def __init__(self, top, name, links, routes, extra=""):
        """links: [(link_name, device, profile, peer[, key_file])],
        routes: text."""
        self.name = name
        self.dir = os.path.join(top, name)
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.conf = os.path.join(self.dir, "skywave.conf")
        self.logpath = os.path.join(self.dir, "skywaved.log")
        self.maildir = os.path.join(self.dir, "mail")
        text = ("[gateway]\nhostname = %s\nlisten = 127.0.0.1:%d\n"
                "data_dir = %s\n%s\n" % (name, self.port, self.dir, extra))
        for link in links:
            (ln, dev, prof, peer) = link[:4]
            text += ("[link %s]\ndriver = pty\ndevice = %s\nprofile = %s\n"
                     "peer = %s\n" % (ln, dev, prof, peer))
            if len(link) > 4:
                text += "key_file = %s\n" % link[4]
            text += "\n"
        text += "[route]\n" + routes
        with open(self.conf, "w") as f:
            f.write(text)
        self.proc = None
        self.starts = 0

    def start(self):
        self.starts += 1
        log = open(self.logpath, "a")
        self.proc = subprocess.Popen(
            [DAEMON, "--foreground", "--config", self.conf], stderr=log)
        log.close()
        if not wait_for(lambda: self._started(), 20):
            raise RuntimeError("%s did not start" % self.name)

    def _started(self):
        try:
            with open(self.logpath, errors="replace") as f:
                return f.read().count("event=started") >= self.starts
        except FileNotFoundError:
            return False

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                return self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                return -9
        return self.proc.returncode if self.proc else 0

    def delivered(self):
        d = os.path.join(self.maildir, "new")
        if not os.path.isdir(d):
            return []
        out = []
        for f in sorted(os.listdir(d)):
            with open(os.path.join(d, f), "rb") as fh:
                out.append(fh.read())
        return out


def sky_run(gw, *args):
    """Run `skywave ARGS` against gateway gw's control socket."""
    return subprocess.run([SKY, *args, "--socket",
                           os.path.join(gw.dir, "control.sock")],
                          capture_output=True, text=True, timeout=30)


def sky(gw, *args):
    """The same, which must succeed: its standard output."""
    r = sky_run(gw, *args)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


def tmpdir(tag):
    return tempfile.mkdtemp(prefix="skywave-%s-" % tag)


def cleanup(top, ok):
    if ok and not os.environ.get("SKYWAVE_KEEP"):
        shutil.rmtree(top, ignore_errors=True)
    else:
        print("work files kept in", top)


class Tmux:
    def __init__(self, name):
        self.base = ["tmux", "-L", name, "-f", "/dev/null"]

    def run(self, *args, check=True):
        return subprocess.run(self.base + list(args), capture_output=True,
                              text=True, check=check, timeout=10)

    def capture(self):
        return self.run("capture-pane", "-p", "-t", "main").stdout

    def keys(self, *keys):
        self.run("send-keys", "-t", "main", *keys)

    def kill(self):
        self.run("kill-server", check=False)


def wait_screen(t, pred, what, timeout=40):
    end = time.time() + timeout
    s = ""
    while time.time() < end:
        s = t.capture()
        if pred(s):
            return s
        time.sleep(0.2)
    raise AssertionError("timed out waiting for %s:\n%s" % (what, s))
