#!/usr/bin/env python3
"""skywaved serving SMTP: kill -9 right after a 250 (issue 4: the message
is there after restart), several rounds, then a clean SIGTERM stop."""
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from smtp_harness import BUILD, Client  # noqa: E402

SKYWAVED = os.path.join(BUILD, "gateway", "skywaved")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@unittest.skipUnless(os.access(SKYWAVED, os.X_OK), "skywaved not built")
class Kill9(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="skywave-smtpd-")
        self.port = free_port()
        self.conf = os.path.join(self.dir, "skywave.conf")
        with open(self.conf, "w") as f:
            f.write("[gateway]\nhostname = k9.test\n"
                    "listen = 127.0.0.1:%d\ndata_dir = %s\n"
                    "[policy]\ntrusted_networks = 127.0.0.0/8\n"
                    "[route]\n* = smtp:127.0.0.1:9\n"
                    % (self.port, self.dir))
        self.log = open(os.path.join(self.dir, "log"), "w+")
        self.proc = None

    def tearDown(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        subprocess.call(["rm", "-rf", self.dir])

    def start(self):
        self.proc = subprocess.Popen([SKYWAVED, "--config", self.conf,
                                      "--foreground"], stderr=self.log,
                                     stdout=self.log)
        deadline = time.time() + 15
        while time.time() < deadline:
            try:
                c = Client(self.port)
                c.close()
                return
            except (OSError, AssertionError, EOFError):
                self.assertIsNone(self.proc.poll(), self.logtext())
                time.sleep(0.05)
        self.fail("skywaved did not answer: " + self.logtext())

    def logtext(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def ids(self):
        con = sqlite3.connect(os.path.join(self.dir, "queue.db"))
        try:
            return {r[0].lower() for r in
                    con.execute("SELECT hex(id) FROM message")}
        finally:
            con.close()

    def test_kill9_after_250(self):
        accepted = []
        for rnd in range(3):
            self.start()
            c = Client(self.port)
            c.ehlo()
            for i in range(5):
                c.send("MAIL FROM:<a@x.test> MT-PRIORITY=2\r\n"
                       "RCPT TO:<k%d@y.test>\r\nDATA\r\n" % i)
                for code in (250, 250, 354):
                    self.assertEqual(c.reply()[0], code)
                c.send("Subject: round %d\r\n\r\nmessage %d\r\n.\r\n"
                       % (rnd, i))
                code, lines = c.reply()
                if i == 4:
                    self.proc.send_signal(signal.SIGKILL)  # at once
                self.assertEqual(code, 250, lines)
                accepted.append(lines[0].split()[-1].lower())
            self.proc.wait()
            c.close()
        self.start()  # recovery at start
        stored = self.ids()
        missing = [i for i in accepted if i not in stored]
        self.assertEqual(missing, [], self.logtext())
        self.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.proc.wait(20), 0, self.logtext())


if __name__ == "__main__":
    unittest.main(verbosity=2, warnings="ignore")
