#!/usr/bin/env python3
"""Abuse of the real SMTP server: 1,000 concurrent connections, slowloris
clients, 100 MB of garbage, a 10 MB line (command and data), a client that
pipelines without reading. The server must stay up, keep answering others,
keep its memory bounded, and free what the bad clients held (no session
left, no leak: the ASan build fails the exit code on a leak)."""
import os
import random
import resource
import signal
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from smtp_harness import Client, Server  # noqa: E402


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def stats(srv):
    """The server's counters, via SIGUSR1 (a line in its log)."""
    srv.proc.send_signal(signal.SIGUSR1)
    for _ in range(200):
        time.sleep(0.02)
        lines = [x for x in srv.logtext().splitlines()
                 if x.startswith("stats ")]
        if lines and len(lines) > stats.seen.get(srv, 0):
            stats.seen[srv] = len(lines)
            return dict(kv.split("=") for kv in lines[-1].split()[1:])
    raise AssertionError("no stats line")


stats.seen = {}


def deliver(test, port, rcpt="ok@y.test"):
    c = Client(port)
    c.ehlo()
    c.send("MAIL FROM:<a@x.test>\r\nRCPT TO:<%s>\r\nDATA\r\n" % rcpt)
    for code in (250, 250, 354):
        test.assertEqual(c.reply()[0], code)
    test.assertEqual(c.cmd("Subject: ok\r\n\r\nfine\r\n.")[0], 250)
    test.assertEqual(c.cmd("QUIT")[0], 221)
    c.close()


def wait_sessions(test, srv, n, timeout=10):
    deadline = time.time() + timeout
    while True:
        st = stats(srv)
        if int(st["sessions"]) == n or time.time() > deadline:
            test.assertEqual(int(st["sessions"]), n, st)
            return st
        time.sleep(0.1)


class Abuse(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = min(hard, 8192)
        if soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    def start(self, *args):
        srv = Server(*args)
        self.addCleanup(self.finish, srv)
        return srv

    def finish(self, srv):
        alive = srv.alive()
        log = srv.logtext()
        rc = srv.stop(timeout=30)
        self.assertTrue(alive, log[-3000:])
        self.assertEqual(rc, 0, log[-3000:])

    def test_1000_concurrent_connections(self):
        srv = self.start("--max-sessions", "1100", "--per-client", "1100")
        socks = []
        for _ in range(1000):
            socks.append(socket.create_connection(("127.0.0.1", srv.port),
                                                  timeout=60))
        # every one is greeted and gets its pipelined commands answered
        for s in socks:
            s.sendall(b"EHLO many.test\r\nNOOP\r\n")
        for s in socks:
            data = b""
            while data.count(b"\r\n250 ") < 2:
                chunk = s.recv(65536)
                self.assertTrue(chunk, data)
                data += chunk
            self.assertTrue(data.startswith(b"220 "))
        self.assertEqual(int(stats(srv)["sessions"]), 1000)
        deliver(self, srv.port)  # someone else is still served
        # the 1,101st beyond the limit is turned away politely
        extra = [socket.create_connection(("127.0.0.1", srv.port))
                 for _ in range(101)]
        last = Client(srv.port, greet=False)
        code, lines = last.reply()
        self.assertEqual((code, lines[0][:5]), (421, "4.7.0"))
        for s in socks + extra:
            s.close()
        last.close()
        st = wait_sessions(self, srv, 0, timeout=30)
        self.assertGreaterEqual(int(st["refused"]), 1)

    def test_slowloris(self):
        srv = self.start("--per-client", "100",
                         "--command-timeout-ms", "1000",
                         "--data-timeout-ms", "1000")
        slow = [Client(srv.port) for _ in range(50)]
        t0 = time.time()
        closed = [False] * len(slow)
        while time.time() - t0 < 4 and not all(closed):
            for i, c in enumerate(slow):
                if closed[i]:
                    continue
                try:
                    c.send(b"N")  # never a whole command
                except OSError:
                    closed[i] = True
            time.sleep(0.2)
            deliver(self, srv.port)  # the server keeps serving others
        for c in slow:
            self.assertEqual(c.reply()[0], 421)  # 4.4.2 timeout
            self.assertTrue(c.closed())
            c.close()
        self.assertLess(time.time() - t0, 6)
        wait_sessions(self, srv, 0)

    def test_100mb_garbage_and_10mb_lines(self):
        srv = self.start()
        base = rss_kb(srv.proc.pid)
        # 100 MB without a line end: one endless line, dropped as it comes
        c = Client(srv.port)
        block = bytes(random.Random(7).choice(range(0x20, 0x7f))
                      for _ in range(1 << 20))
        for _ in range(100):
            c.send(block)
        c.send(b"\r\n")
        self.assertEqual(c.reply()[0], 500)  # 5.5.2 line too long
        self.assertEqual(c.cmd("NOOP")[0], 250)
        # a 10 MB command line, then a 10 MB data line
        c.send(b"MAIL FROM:<" + b"a" * (10 << 20) + b">\r\n")
        self.assertEqual(c.reply()[0], 500)
        c.ehlo()
        c.send("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n")
        for code in (250, 250, 354):
            self.assertEqual(c.reply()[0], code)
        c.send(b"z" * (10 << 20) + b"\r\n.\r\n")
        code, lines = c.reply()
        self.assertEqual(code, 554, lines)  # 5.6.0 line too long
        c.close()
        # random binary garbage with line ends: errors, then 421 and close
        g = Client(srv.port)
        rnd = random.Random(11)
        try:
            for _ in range(100):
                g.send(bytes(rnd.getrandbits(8) for _ in range(65536)))
        except OSError:
            pass  # the server hung up on us, as it should
        self.assertTrue(g.closed())
        g.close()
        deliver(self, srv.port)
        grown = rss_kb(srv.proc.pid) - base
        self.assertLess(grown, 64 * 1024, "RSS grew by %d kB" % grown)
        wait_sessions(self, srv, 0)

    def test_pipelining_without_reading(self):
        srv = self.start()
        base = rss_kb(srv.proc.pid)
        c = Client(srv.port)
        c.sock.settimeout(3)
        sent = 0
        try:
            chunk = b"NOOP\r\n" * 10000
            while sent < 200 << 20:
                c.sock.sendall(chunk)
                sent += len(chunk)
        except (socket.timeout, OSError):
            pass
        # the server stopped reading: our sends block well before 200 MB
        self.assertLess(sent, 200 << 20)
        deliver(self, srv.port)
        grown = rss_kb(srv.proc.pid) - base
        self.assertLess(grown, 32 * 1024, "RSS grew by %d kB" % grown)
        c.close()
        wait_sessions(self, srv, 0)


if __name__ == "__main__":
    unittest.main(verbosity=2, warnings="ignore")
