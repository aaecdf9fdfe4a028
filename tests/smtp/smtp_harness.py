"""Helpers for the SMTP tests: start tests/smtp/smtp_testd (the real server
in a small process) on 127.0.0.1 and a free port, and talk raw SMTP to it."""
import os
import signal
import socket
import subprocess
import tempfile
import time

BUILD = os.environ.get("SKYWAVE_BUILD", ".")
TESTD = os.path.join(BUILD, "tests", "smtp", "smtp_testd")


class Server:
    """smtp_testd with the given options; .port, .spool, .stop()."""

    def __init__(self, *args, queue=False):
        self.dir = tempfile.mkdtemp(prefix="skywave-smtp-")
        self.spool = os.path.join(self.dir, "spool")
        os.mkdir(self.spool)
        portfile = os.path.join(self.dir, "port")
        cmd = [TESTD, "--port-file", portfile, "--spool", self.spool]
        if queue:
            cmd += ["--queue", os.path.join(self.dir, "queue.db")]
        cmd += [str(a) for a in args]
        self.log = open(os.path.join(self.dir, "log"), "w+")
        self.proc = subprocess.Popen(cmd, stderr=self.log)
        deadline = time.time() + 10
        while not os.path.exists(portfile):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("smtp_testd did not start: " +
                                   self.logtext())
            time.sleep(0.01)
        with open(portfile) as f:
            self.port = int(f.read())

    def logtext(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def alive(self):
        return self.proc.poll() is None

    def messages(self):
        """[(envelope dict, content bytes)] in the spool."""
        out = []
        for name in sorted(os.listdir(self.spool)):
            if not name.endswith(".env"):
                continue
            base = os.path.join(self.spool, name[:-4])
            env = {"rcpt": []}
            with open(base + ".env") as f:
                for line in f:
                    k, _, v = line.rstrip("\n").partition("=")
                    if k == "rcpt":
                        env["rcpt"].append(v)
                    else:
                        env[k] = v
            with open(base + ".eml", "rb") as f:
                out.append((env, f.read()))
        return out

    def stop(self, timeout=10):
        """SIGTERM; returns the exit code (0 = clean close)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = -9
        self.log.close()
        subprocess.call(["rm", "-rf", self.dir])
        return rc


class Client:
    """Raw SMTP over a socket: send lines, read whole replies."""

    def __init__(self, port, greet=True, timeout=10, host="127.0.0.1"):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        if greet:
            code, lines = self.reply()
            assert code == 220, (code, lines)

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed; pending %r" % self.buf)
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line.decode("latin-1")

    def reply(self):
        """(code, [text lines]) of one (multi-line) reply."""
        lines = []
        while True:
            line = self._line()
            assert len(line) >= 3 and line[:3].isdigit(), line
            lines.append(line[4:])
            if len(line) == 3 or line[3] == " ":
                return int(line[:3]), lines
            assert line[3] == "-", line

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def ehlo(self, name="relay.example"):
        code, lines = self.cmd("EHLO " + name)
        assert code == 250, (code, lines)
        return lines

    def closed(self, timeout=5):
        """True if the server closes the connection (EOF) in time."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()
