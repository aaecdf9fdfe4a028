"""pfx - a private Postfix instance for tests, on 127.0.0.1 only.

Never touches the system instance: everything lives under one temporary
directory (etc/, spool/, data/, maillog). Postfix only accepts a private
config directory that the default main.cf lists in
alternate_config_directories, so that one parameter of /etc/postfix/main.cf
is edited under a lock (several tests may run at once) and restored on stop.

    pf = Postfix(port, hold=True)
    pf.start()
    ... send mail to 127.0.0.1:port ...
    ids = pf.wait_held(1)
    text = pf.postcat(ids[0])
    pf.stop()
"""
import fcntl
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time

MAIN_CF = "/etc/postfix/main.cf"
LOCK = "/etc/postfix/.skywave-alt-dirs.lock"


def available():
    return shutil.which("postfix") is not None and \
        shutil.which("postcat") is not None and os.path.exists(MAIN_CF)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def _edit_alt_dirs(add=None, remove=None):
    """Add or remove one directory in alternate_config_directories."""
    with open(LOCK, "w") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        with open(MAIN_CF) as f:
            lines = f.read().split("\n")
        dirs, keep = [], []
        for ln in lines:
            m = re.match(r"^alternate_config_directories\s*=\s*(.*)$", ln)
            if m:
                dirs += [d for d in re.split(r"[\s,]+", m.group(1)) if d]
            else:
                keep.append(ln)
        # entries left behind by a killed test name removed directories
        dirs = [d for d in dirs if os.path.isdir(d)]
        if add and add not in dirs:
            dirs.append(add)
        if remove:
            dirs = [d for d in dirs if d != remove]
        while keep and keep[-1] == "":
            keep.pop()
        if dirs:
            keep.append("alternate_config_directories = " + " ".join(dirs))
        tmp = MAIN_CF + ".skywave-tmp"
        with open(tmp, "w") as f:
            f.write("\n".join(keep) + "\n")
        os.replace(tmp, MAIN_CF)


class Postfix:
    def __init__(self, port, hold=True, relayhost=None, name="pfx"):
        self.port = port
        self.hold = hold
        self.relayhost = relayhost
        self.dir = tempfile.mkdtemp(prefix="skywave-%s-" % name)
        os.chmod(self.dir, 0o755)  # the postfix user must reach data/
        self.etc = os.path.join(self.dir, "etc")
        self.spool = os.path.join(self.dir, "spool")
        self.data = os.path.join(self.dir, "data")
        self.maillog = os.path.join(self.dir, "maillog")
        self.started = False

    def _pf(self, *args, check=True):
        return subprocess.run(["postfix", "-c", self.etc] + list(args),
                              stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True,
                              check=check, timeout=60)

    def start(self):
        os.makedirs(self.etc)
        os.makedirs(self.spool)
        os.makedirs(self.data)
        shutil.chown(self.data, "postfix", "postfix")
        hc = os.path.join(self.etc, "header_checks")
        with open(hc, "w") as f:
            f.write("/^/ HOLD\n" if self.hold else "")
        main = [
            "compatibility_level = 3.6",
            "queue_directory = " + self.spool,
            "data_directory = " + self.data,
            "inet_interfaces = 127.0.0.1",
            "inet_protocols = ipv4",
            "myhostname = pfx%d.skywave.test" % self.port,
            "mydestination =",
            "relay_domains = static:ALL",
            "mynetworks = 127.0.0.0/8",
            "smtpd_relay_restrictions = permit_mynetworks, reject",
            "alias_maps =",
            "alias_database =",
            "maillog_file = " + self.maillog,
            "maillog_file_prefixes = " + self.dir,
            "header_checks = regexp:" + hc,
            "smtp_host_lookup = native",
        ]
        if self.relayhost:
            main.append("relayhost = " + self.relayhost)
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            f.write("\n".join(main) + "\n")
        out = []
        with open("/etc/postfix/master.cf") as f:
            for ln in f.read().split("\n"):
                if re.match(r"^smtp\s+inet\s", ln):
                    ln = "127.0.0.1:%d inet n - n - - smtpd" % self.port
                else:
                    # chroot column (5th) to n: nothing under spool/etc
                    m = re.match(r"^(\S+\s+\S+\s+\S+\s+\S+\s+)y(\s.*)$", ln)
                    if m and not ln.startswith("#"):
                        ln = m.group(1) + "n" + m.group(2)
                out.append(ln)
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            f.write("\n".join(out))
        _edit_alt_dirs(add=self.etc)
        self.started = True
        self._pf("post-install", "create-missing")
        r = self._pf("start", check=False)
        if r.returncode != 0:
            raise RuntimeError("postfix start failed: " + r.stdout +
                               self.log())
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("postfix did not listen on %d\n%s" %
                           (self.port, self.log()))

    def log(self):
        try:
            with open(self.maillog) as f:
                return f.read()
        except OSError:
            return ""

    def held_ids(self):
        ids = []
        for root, _, files in os.walk(os.path.join(self.spool, "hold")):
            ids += files
        return sorted(ids)

    def wait_held(self, n, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            ids = self.held_ids()
            if len(ids) >= n:
                return ids
            time.sleep(0.1)
        raise RuntimeError("expected %d held messages, have %d\n%s" %
                           (n, len(self.held_ids()), self.log()))

    def postcat(self, qid, flags="-q"):
        r = subprocess.run(["postcat", "-c", self.etc] + flags.split() +
                           [qid], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, check=True, timeout=30)
        return r.stdout.decode("utf-8", "replace")

    def stop(self):
        if self.started:
            self._pf("stop", check=False)
            _edit_alt_dirs(remove=self.etc)
            self.started = False
        shutil.rmtree(self.dir, ignore_errors=True)
