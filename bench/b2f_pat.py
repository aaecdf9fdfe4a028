#!/usr/bin/env python3
"""B2F to a real Pat: the first COUNT messages (*.txt in name order, as
bench_airtime takes them) of a corpus folder go in over SMTP to a skywaved
whose route sends them over B2F (b2f:N9PAT@...) to a Pat 0.13.1 listener.
A proxy between the two counts every byte on the wire in each direction
and the direction changes (a change = bytes flowing the other way than
the previous chunk; loopback TCP chunks, so an upper bound of the
protocol's own turns). Prints one JSON object.

  b2f_pat.py SKYWAVED CORPUS_DIR COUNT"""
import json
import os
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "b2f"))
import patpeer  # noqa: E402


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class CountingProxy:
    def __init__(self, dport):
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(4)
        self.port = self.srv.getsockname()[1]
        self.dport = dport
        self.up = self.down = 0          # gateway->Pat, Pat->gateway
        self.turns = 0
        self.last = None
        self.sessions = 0
        self.lock = threading.Lock()
        threading.Thread(target=self.run, daemon=True).start()

    def note(self, direction, n):
        with self.lock:
            if direction == "up":
                self.up += n
            else:
                self.down += n
            if self.last is not None and self.last != direction:
                self.turns += 1
            self.last = direction

    def run(self):
        while True:
            try:
                a, _ = self.srv.accept()
            except OSError:
                return
            self.sessions += 1
            b = socket.create_connection(("127.0.0.1", self.dport))
            with self.lock:
                self.last = None

            def pipe(x, y, d):
                try:
                    while True:
                        data = x.recv(65536)
                        if not data:
                            break
                        self.note(d, len(data))
                        y.sendall(data)
                except OSError:
                    pass
                for s in (x, y):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
            threading.Thread(target=pipe, args=(a, b, "up"),
                             daemon=True).start()
            threading.Thread(target=pipe, args=(b, a, "down"),
                             daemon=True).start()


def main():
    daemon, corpus, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    names = sorted(f for f in os.listdir(corpus) if f.endswith(".txt"))
    msgs = []
    for n in names[:count]:
        with open(os.path.join(corpus, n), "rb") as f:
            raw = f.read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        msgs.append(raw)
    top = tempfile.mkdtemp(prefix="skywave-b2fbench-")
    lport, hport = free_port(), free_port()
    pat = patpeer.Station(top, "N9PAT", listen_port=lport, http_port=hport)
    pat.listen()
    proxy = CountingProxy(lport)
    sport = free_port()
    gdir = os.path.join(top, "gw")
    os.makedirs(gdir)
    conf = os.path.join(gdir, "skywave.conf")
    with open(conf, "w") as f:
        f.write("[gateway]\nhostname = gw\nlisten = 127.0.0.1:%d\n"
                "data_dir = %s\nmax_message_size = 10M\n"
                "[b2f]\ncallsign = N0GW\ndomain = winlink.test\n"
                "linger = 2s\n[route]\npat.test = b2f:N9PAT@127.0.0.1:%d\n"
                % (sport, gdir, proxy.port))
    log = open(os.path.join(gdir, "skywaved.log"), "w")
    gw = subprocess.Popen([daemon, "--foreground", "--config", conf],
                          stderr=log)
    ok = False
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", sport), 1).close()
                break
            except OSError:
                time.sleep(0.1)
        t0 = time.time()
        with smtplib.SMTP("127.0.0.1", sport, timeout=60) as s:
            for m in msgs:
                s.sendmail("bench@example.org", ["n9pat@pat.test"], m)
        deadline = time.time() + 900
        while time.time() < deadline and len(pat.box("in")) < len(msgs):
            time.sleep(0.5)
        wall = time.time() - t0
        got = len(pat.box("in"))
        wl_bytes = sum(os.path.getsize(os.path.join(
            pat.dir, "mailbox", "N9PAT", "in", f)) for f in pat.box("in"))
        ok = got == len(msgs)
        res = {"messages": len(msgs),
               "raw_bytes": sum(len(m) for m in msgs),
               "delivered": got,
               "winlink_bytes_at_pat": wl_bytes,
               "wire_bytes": proxy.up + proxy.down,
               "to_pat_bytes": proxy.up, "from_pat_bytes": proxy.down,
               "direction_changes": proxy.turns,
               "sessions": proxy.sessions, "wall_s": round(wall, 1)}
        print(json.dumps(res))
    finally:
        gw.terminate()
        gw.wait(30)
        pat.stop()
        if ok:
            shutil.rmtree(top, ignore_errors=True)
        else:
            print("work files kept in", top, file=sys.stderr)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
