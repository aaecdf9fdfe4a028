"""Scripted SMTP and LMTP next hops on loopback for tests of the running
daemon: each answers as the test case needs and records what reached it.

    hop = Hop(ehlo=["DSN", "DELIVERBY", "ALTRECIP"],
              rcpt=lambda addr, line: "550 5.1.1 no such user"
                   if addr.startswith("gone") else None)
    ... route "x.test = smtp:127.0.0.1:%d" % hop.port ...
    hop.transactions  -> [{"mail": line, "rcpts": [lines],
                           "accepted": [addrs], "data": bytes}]
    hop.stop()

rcpt(addr, line) returns a reply line, or None for "250 2.1.5 ok".
data(accepted) returns the reply after the final dot: for SMTP one line
(None: 250), for LMTP a list with one line per accepted recipient (None
entries: 250). Other kinds of hop:
  Hop(greet=False)          accepts the connection and never greets
  Blackhole()               a listening port whose backlog is full, so a
                            connect to it hangs (connect times out)
  closed_port()             a port nobody listens on (connection refused)
"""
import re
import socket
import threading


def addr_of(line):
    m = re.search(r"<([^>]*)>", line)
    return m.group(1) if m else ""


class Hop:
    def __init__(self, ehlo=("ENHANCEDSTATUSCODES", "PIPELINING", "DSN",
                             "DELIVERBY", "8BITMIME"),
                 rcpt=None, data=None, lmtp=False, greet=True,
                 name="hop.test"):
        self.ehlo = list(ehlo)
        self.rcpt = rcpt or (lambda addr, line: None)
        self.data = data or (lambda accepted: None)
        self.lmtp = lmtp
        self.greet = greet
        self.name = name
        self.transactions = []
        self.sessions = 0
        self.lock = threading.Lock()
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(16)
        self.srv.settimeout(0.2)
        self.port = self.srv.getsockname()[1]
        self.stopping = False
        self.conns = []
        self.t = threading.Thread(target=self._serve, daemon=True)
        self.t.start()

    def spec(self):
        return "%s:127.0.0.1:%d" % ("lmtp" if self.lmtp else "smtp",
                                    self.port)

    def stop(self):
        self.stopping = True
        self.t.join(2)
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass
        self.srv.close()

    def accepted_addrs(self):
        with self.lock:
            return [a for t in self.transactions if t.get("done")
                    for a in t["delivered"]]

    def _serve(self):
        while not self.stopping:
            try:
                c, _ = self.srv.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.conns.append(c)
            with self.lock:
                self.sessions += 1
            threading.Thread(target=self._session, args=(c,),
                             daemon=True).start()

    def _session(self, c):
        try:
            self._dialogue(c)
        except OSError:
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass

    def _dialogue(self, c):
        if not self.greet:
            while not self.stopping:
                try:
                    c.settimeout(0.3)
                    if c.recv(1024) == b"":
                        return
                except socket.timeout:
                    continue
            return
        f = c.makefile("rb")

        def say(t):
            c.sendall(t.encode() + b"\r\n")
        say("220 %s %s ready" % (self.name, "LMTP" if self.lmtp else "ESMTP"))
        tx = None
        while True:
            raw = f.readline()
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            up = line.upper()
            if up.startswith("EHLO") or up.startswith("LHLO"):
                kw = [self.name] + self.ehlo
                say("\r\n".join("250-" + k for k in kw[:-1]) +
                    ("\r\n" if len(kw) > 1 else "") + "250 " + kw[-1])
            elif up.startswith("HELO"):
                say("250 " + self.name)
            elif up.startswith("MAIL"):
                tx = {"mail": line, "rcpts": [], "accepted": [],
                      "delivered": [], "data": b""}
                with self.lock:
                    self.transactions.append(tx)
                say("250 2.1.0 sender ok")
            elif up.startswith("RCPT"):
                a = addr_of(line)
                tx["rcpts"].append(line)
                r = self.rcpt(a, line)
                if r is None:
                    tx["accepted"].append(a)
                    say("250 2.1.5 <%s> recipient ok" % a)
                else:
                    say(r)
            elif up == "DATA":
                if not tx or not tx["accepted"]:
                    say("503 5.5.1 no valid recipients")
                    continue
                say("354 send the message")
                body = []
                while True:
                    d = f.readline()
                    if d in (b".\r\n", b".\n", b""):
                        break
                    body.append(d[1:] if d.startswith(b"..") else d)
                tx["data"] = b"".join(body)
                ans = self.data(list(tx["accepted"]))
                if self.lmtp:
                    ans = ans or [None] * len(tx["accepted"])
                    for a, r in zip(tx["accepted"], ans):
                        if r is None:
                            tx["delivered"].append(a)
                            say("250 2.0.0 <%s> delivered" % a)
                        else:
                            say(r)
                else:
                    if ans is None:
                        tx["delivered"] = list(tx["accepted"])
                        say("250 2.0.0 queued")
                    else:
                        say(ans)
                tx["done"] = True
            elif up == "RSET":
                tx = None
                say("250 2.0.0 ok")
            elif up == "NOOP":
                say("250 2.0.0 ok")
            elif up == "QUIT":
                say("221 2.0.0 bye")
                return
            else:
                say("502 5.5.1 not implemented")


class Blackhole:
    """A port whose accept queue is full: new connections hang in SYN."""

    def __init__(self):
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(0)
        self.port = self.srv.getsockname()[1]
        self.fill = []
        for _ in range(4):
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect(("127.0.0.1", self.port))
            except BlockingIOError:
                pass
            self.fill.append(s)

    def stop(self):
        for s in self.fill:
            s.close()
        self.srv.close()


def closed_port():
    """A free port on loopback (nobody listens on it)."""
    from gwharness import free_port
    return free_port()
