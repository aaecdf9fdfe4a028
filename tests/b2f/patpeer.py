"""A real Pat (Winlink client, Debian package `pat`, binary pat-winlink)
as a B2F peer on loopback: one isolated station per directory (own HOME,
XDG dirs, config, mailbox, logs), standard B2F (GZIP_EXPERIMENT=0)."""
import json
import os
import shutil
import subprocess
import time

PAT = shutil.which("pat-winlink")


def have_pat():
    return PAT is not None


def port_listening(port):
    r = subprocess.run(["ss", "-Hltn", "sport = :%d" % port],
                       capture_output=True, text=True)
    return bool(r.stdout.strip())


class Station:
    def __init__(self, top, call, listen_port=None, http_port=None,
                 password=""):
        self.call = call.upper()
        self.dir = os.path.join(top, "pat-" + call.lower())
        os.makedirs(os.path.join(self.dir, "home"), exist_ok=True)
        self.listen_port = listen_port
        self.http_port = http_port
        self.proc = None
        self.write_config(password)

    def write_config(self, password=""):
        cfg = {"mycall": self.call, "secure_login_password": password,
               "locator": "", "version_reporting_disabled": True,
               "connect_aliases": {}, "listen": []}
        if self.listen_port:
            cfg["listen"] = ["telnet"]
            cfg["telnet"] = {"listen_addr": "127.0.0.1:%d" %
                             self.listen_port, "password": ""}
        if self.http_port:
            cfg["http_addr"] = "127.0.0.1:%d" % self.http_port
        with open(os.path.join(self.dir, "config.json"), "w") as f:
            json.dump(cfg, f)

    def env(self):
        h = os.path.join(self.dir, "home")
        e = dict(os.environ)
        e.update(HOME=h, XDG_CONFIG_HOME=h + "/.config",
                 XDG_DATA_HOME=h + "/.local/share",
                 XDG_STATE_HOME=h + "/.local/state", GZIP_EXPERIMENT="0")
        return e

    def cmd(self, *args):
        d = self.dir
        return [PAT, "--config", d + "/config.json", "--mbox",
                d + "/mailbox", "--log", d + "/pat.log", "--event-log",
                d + "/eventlog.json", "--forms", d + "/forms", *args]

    def compose(self, to, subject, body, attach=()):
        args = ["compose", "-s", subject]
        for a in attach:
            args += ["-a", a]
        args.append(to)
        r = subprocess.run(self.cmd(*args), input=body.encode(),
                           env=self.env(), capture_output=True, timeout=30)
        assert r.returncode == 0, r
        return sorted(self.box("out"))

    def box(self, name):
        d = os.path.join(self.dir, "mailbox", self.call, name)
        return os.listdir(d) if os.path.isdir(d) else []

    def read(self, name, mid):
        with open(os.path.join(self.dir, "mailbox", self.call, name,
                               mid), "rb") as f:
            return f.read()

    def connect(self, port, target, timeout=60):
        url = "telnet://%s:@127.0.0.1:%d/%s?dial_timeout=5s" % (
            self.call, port, target)
        out = open(os.path.join(self.dir, "connect.out"), "ab")
        r = subprocess.run(self.cmd("connect", url), env=self.env(),
                           stdin=subprocess.DEVNULL, stdout=out,
                           stderr=subprocess.STDOUT, timeout=timeout)
        out.close()
        return r.returncode

    def connect_log(self):
        try:
            with open(os.path.join(self.dir, "connect.out"),
                      errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def listen(self):
        """Run the telnet listener (the long-lived 'http' command)."""
        out = open(os.path.join(self.dir, "listener.out"), "ab")
        self.proc = subprocess.Popen(
            self.cmd("http", "--addr", "127.0.0.1:%d" % self.http_port),
            env=self.env(), stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT)
        out.close()
        # readiness without connecting (a probe wedges Pat's listener)
        for _ in range(100):
            if port_listening(self.listen_port):
                return
            time.sleep(0.1)
        raise RuntimeError("Pat listener did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(2)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                self.proc.wait(5)
        self.proc = None
