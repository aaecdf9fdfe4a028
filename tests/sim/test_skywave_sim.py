#!/usr/bin/env python3
"""skywave-sim as a real process: the test opens the two pseudo-terminals
of a link like serial ports (termios, raw) and checks that bytes written on
one side arrive on the other after about the right airtime, that half duplex
costs a turnaround, that --ber garbles, --outage drops, AT dialogues answer,
a full modem buffer pushes back, counters come on SIGUSR1, and SIGTERM stops
it cleanly."""
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import termios
import time
import tty

BUILD = os.environ.get("SKYWAVE_BUILD", "build")
SIM = os.path.join(BUILD, "hw-sim", "skywave-sim")
SEED = os.environ.get("SKYWAVE_SEED", str(int(time.time()) % 1000000))
print("test_skywave_sim: seed=%s (repeat with SKYWAVE_SEED=%s)" % (SEED, SEED))
sys.stdout.flush()


class Sim:
    def __init__(self, *args, links=1):
        self.dir = tempfile.mkdtemp(prefix="skywave-sim-test-")
        self.err = open(os.path.join(self.dir, "stderr"), "w+")
        self.p = subprocess.Popen(
            [SIM, "--dir", self.dir, "--seed", SEED, "--links", str(links),
             "--die-with-parent"]
            + list(args), stdout=subprocess.PIPE, stderr=self.err)
        self.paths = [self.p.stdout.readline().decode().strip()
                      for _ in range(2 * links)]
        for path in self.paths:
            assert path.startswith("/dev/"), self.paths

    def open(self, name):
        """Open DIR/name (a0, b0, ...) as a serial device: raw termios."""
        fd = os.open(os.path.join(self.dir, name),
                     os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(fd)
        attrs = termios.tcgetattr(fd)
        attrs[4] = attrs[5] = termios.B9600
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
        return fd

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        rc = self.p.wait(timeout=10)
        self.err.seek(0)
        log = self.err.read()
        self.err.close()
        return rc, log

    def cleanup(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def write_all(fd, data, timeout=10.0):
    end = time.time() + timeout
    off = 0
    while off < len(data):
        assert time.time() < end, "write timed out"
        select.select([], [fd], [], 0.2)
        try:
            off += os.write(fd, data[off:])
        except BlockingIOError:
            pass


def read_n(fd, n, timeout):
    """Read n bytes; returns (data, seconds until the last byte)."""
    t0 = time.time()
    got = b""
    while len(got) < n and time.time() - t0 < timeout:
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try:
                got += os.read(fd, 65536)
            except BlockingIOError:
                pass
    return got, time.time() - t0


def read_for(fd, seconds):
    got, _ = read_n(fd, 1 << 30, seconds)
    return got


def read_until(fd, text, timeout):
    t0 = time.time()
    got = b""
    while text not in got and time.time() - t0 < timeout:
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            got += os.read(fd, 4096)
    return got


def test_airtime_and_turnaround():
    s = Sim("--profile", "hf-2400-hd")
    try:
        assert os.path.realpath(os.path.join(s.dir, "a0")) == s.paths[0]
        assert os.path.realpath(os.path.join(s.dir, "b0")) == s.paths[1]
        a, b = s.open("a0"), s.open("b0")
        data = bytes((i * 7 + 3) & 0xFF for i in range(600))
        write_all(a, data)
        got, dt1 = read_n(b, 600, 10)
        assert got == data, (len(got), got[:20])
        # 600 bytes at 2400 bit/s: 2.0 s of air
        assert 1.9 <= dt1 <= 2.7, dt1
        # B answers at once: it waits for the 2 s turnaround, then 1 s
        write_all(b, data[:300])
        got, dt2 = read_n(a, 300, 10)
        assert got == data[:300]
        assert 2.9 <= dt2 <= 3.8, dt2
        # no echo, nothing extra
        assert read_for(a, 0.3) == b"" and read_for(b, 0.3) == b""
        print("airtime: 600 B in %.2f s; 300 B answer in %.2f s" %
              (dt1, dt2))
        s.p.send_signal(signal.SIGUSR1)
        time.sleep(0.3)
        os.close(a)
        os.close(b)
        # a client may close and reopen its device
        a = s.open("a0")
        b = s.open("b0")
        write_all(a, b"again")
        got, _ = read_n(b, 5, 5)
        assert got == b"again"
        os.close(a)
        os.close(b)
        rc, log = s.stop()
        assert rc == 0, (rc, log)
        assert "a_tx_bytes=600 b_tx_bytes=300" in log, log
        assert "turnarounds=" in log and "event=stop" in log
        # the symlinks are gone
        assert not os.path.lexists(os.path.join(s.dir, "a0"))
    finally:
        s.cleanup()


def test_ber_garbles():
    s = Sim("--profile", "los-19200", "--ber", "0.01")
    try:
        a, b = s.open("a0"), s.open("b0")
        data = bytes(range(256)) * 8
        write_all(a, data)
        got, dt = read_n(b, len(data), 10)
        assert len(got) == len(data)
        bad = sum(1 for x, y in zip(got, data) if x != y)
        # 2048 bytes * 8 bits * 1e-2: ~157 bytes with errors
        assert 60 < bad < 300, bad
        print("ber: %d of %d bytes garbled" % (bad, len(data)))
    finally:
        s.cleanup()


def test_outage_drops():
    s = Sim("--profile", "los-19200", "--outage", "0s+2s,4s+1s")
    try:
        a, b = s.open("a0"), s.open("b0")
        write_all(a, b"lost in the outage")
        assert read_for(b, 1.0) == b""
        time.sleep(1.2)   # past 2 s
        write_all(a, b"through")
        got, _ = read_n(b, 7, 2)
        assert got == b"through", got
    finally:
        rc, log = s.stop()
        s.cleanup()
    assert rc == 0
    assert "b_rx_lost=18" in log, log


def test_at_modem():
    s = Sim("--profile", "hayes-at-9600")
    try:
        a, b = s.open("a0"), s.open("b0")
        write_all(a, b"ATE0\r")
        assert b"OK" in read_until(a, b"OK\r\n", 2)
        write_all(a, b"ATDT123\r")
        assert b"RING" in read_until(b, b"RING\r\n", 2)
        assert b"CONNECT 9600" in read_until(a, b"CONNECT 9600\r\n", 3)
        assert b"CONNECT 9600" in read_until(b, b"CONNECT 9600\r\n", 3)
        write_all(a, b"hello")
        got, _ = read_n(b, 5, 2)
        assert got == b"hello"
        # escape with guard times, hang up: the far end hears NO CARRIER
        time.sleep(1.1)
        write_all(a, b"+++")
        assert b"OK" in read_until(a, b"OK\r\n", 3)
        write_all(a, b"ATH\r")
        assert b"NO CARRIER" in read_until(b, b"NO CARRIER\r\n", 3)
    finally:
        s.cleanup()
    # a busy far end
    s = Sim("--profile", "hayes-at-9600", "--busy")
    try:
        a = s.open("a0")
        write_all(a, b"ATD1\r")
        assert b"BUSY" in read_until(a, b"BUSY\r\n", 3)
    finally:
        s.cleanup()


def test_flow_control():
    s = Sim("--profile", "hf-300-hd-noisy")
    try:
        a = s.open("a0")
        # 300 bit/s: the 16k modem buffer fills, then the pty backs up
        written = 0
        chunk = b"z" * 4096
        end = time.time() + 3
        while time.time() < end and written < (4 << 20):
            # stop once the device has not taken anything for 0.5 s
            _, w, _ = select.select([], [a], [], 0.5)
            if not w:
                break
            try:
                written += os.write(a, chunk)
            except BlockingIOError:
                pass
        assert written < (4 << 20), written
        assert written >= 16384, written
        print("flow control: %d bytes accepted before the pty backed up"
              % written)
    finally:
        s.cleanup()


def test_two_links_and_bad_options():
    s = Sim("--profile", "los-19200", links=2)
    try:
        assert len(set(s.paths)) == 4
        a1, b1 = s.open("a1"), s.open("b1")
        a0, b0 = s.open("a0"), s.open("b0")
        write_all(a1, b"link one")
        got, _ = read_n(b1, 8, 2)
        assert got == b"link one"
        assert read_for(b0, 0.3) == b""
    finally:
        s.cleanup()
    for args, code in (
            (["--profile", "no-such-modem"], 66),
            (["--links", "0"], 64),
            (["--ber", "2"], 64),
            (["--outage", "10s"], 64),
            (["--burst", "0.1,1s,2s"], 64),
            (["--bogus"], 64)):
        r = subprocess.run([SIM] + args, capture_output=True, timeout=10)
        assert r.returncode == code, (args, r.returncode, r.stderr)
        assert r.stdout == b""


def main():
    tests = [test_airtime_and_turnaround, test_ber_garbles,
             test_outage_drops, test_at_modem, test_flow_control,
             test_two_links_and_bad_options]
    for t in tests:
        print("--", t.__name__)
        sys.stdout.flush()
        t()
    print("ok: %d tests" % len(tests))


if __name__ == "__main__":
    main()
