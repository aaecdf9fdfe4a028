#!/usr/bin/env python3
"""skywaved's B2F endpoint against the real Pat 0.13.1 on loopback.

1. A Pat station connects to the gateway's listener: its message (with an
   attachment) lands in the gateway's Maildir, and mail queued for it
   (SMTP in, with an attachment) goes back in the same session.
2. The same message proposed again is refused (FS -): one copy only.
3. Secure login: the right password is accepted, a wrong one refused
   (nothing taken from the station).
4. An outbound b2f: route: the gateway calls a Pat listener, delivers and
   takes the listener's own mail in the same session.
5. Postfix upstream -> skywaved -> Pat, and Pat -> skywaved -> Maildir,
   in one session.
6. The DSN for a station's message that cannot be delivered goes back to
   the station's callsign route over B2F.
7. A large message cut off mid-transfer (a proxy drops the connection) is
   kept on disk, and after a restart of the gateway resumed from its
   offset in the next session, intact.
8. Several proposals per block, over a b2f: route with a host name
   (localhost): six messages of mixed priority queued behind a first one
   for a Pat listener go in blocks of five and one, in band order.
9. A station that dials in gets its mail in skywave's order across
   blocks: the first block holds the five best of seven, and a FLASH
   message queued while the station is answering that block goes first in
   the next one, before the lower ones still waiting.
10. Mail a session did not get through (cut after the station's answer)
   is deferred, and proposed again in the station's next session, not
   only after its backoff.
11. A b2f: route whose host name does not resolve: deferred 4.4.3 (no
   usable address), nothing lost.
Exit 77 (skipped) when Pat is not installed."""
import email
import email.policy
import os
import re
import smtplib
import socket
import subprocess
import sys
import threading
import time
from email.message import EmailMessage

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "deliver"))
import gwharness as gh  # noqa: E402
import pfx  # noqa: E402
import patpeer  # noqa: E402

if not patpeer.have_pat():
    print("pat-winlink not installed: skipped")
    sys.exit(77)


def gateway(top, name, routes, b2f_extra="", deliver_to="ops@example.org"):
    bport = gh.free_port()
    extra = ("[b2f]\ncallsign = N0GW\nlisten = 127.0.0.1:%d\n"
             "domain = winlink.test\ndeliver_to = %s\n"
             "linger = 1s\n%s\n" % (bport, deliver_to, b2f_extra))
    g = gh.Gateway(top, name, [], routes, extra)
    g.b2f_port = bport
    return g


def parse(raw):
    return email.message_from_bytes(raw, policy=email.policy.default)


def smtp_send(g, rcpt, subject, body, attach=None):
    m = EmailMessage()
    m["From"] = "ops@example.org"
    m["To"] = rcpt
    m["Subject"] = subject
    m.set_content(body)
    if attach:
        m.add_attachment(attach, maintype="application",
                         subtype="octet-stream", filename="data.bin")
    with smtplib.SMTP("127.0.0.1", g.port, timeout=30) as s:
        s.send_message(m, from_addr="ops@example.org", to_addrs=[rcpt])


def wl_files(raw):
    """The File entries of a Winlink message: [(name, bytes)]."""
    head, _, rest = raw.partition(b"\r\n\r\n")
    fields = [l.split(b": ", 1) for l in head.split(b"\r\n") if b": " in l]
    body_len = int([v for k, v in fields if k == b"Body"][0])
    at = body_len
    out = []
    for k, v in fields:
        if k != b"File":
            continue
        size, name = v.split(b" ", 1)
        at += 2
        out.append((name.decode(), rest[at:at + int(size)]))
        at += int(size)
    return out


def test_inbound_both_ways(top):
    g = gateway(top, "gw1", "example.org = maildir:%s\n"
                "winlink.test = b2f:N1PAT\n" % os.path.join(top, "gw1",
                                                           "mail"))
    g.start()
    pat = patpeer.Station(top, "N1PAT")
    try:
        att = os.urandom(3000)
        with open(os.path.join(top, "att.bin"), "wb") as f:
            f.write(att)
        pat.compose("N0GW", "From the field", "Hello gateway,\n73\n",
                    [os.path.join(top, "att.bin")])
        back = b"\x00binary\xff" * 100
        smtp_send(g, "n1pat@winlink.test", "To the field", "Reply body.",
                  back)
        # the queued message waits for the station
        assert gh.wait_for(lambda: gh.log_has(g.logpath, "event=queued"),
                           20), "message not handed to b2f"
        rc = pat.connect(g.b2f_port, "N0GW")
        assert rc == 0, pat.connect_log()
        got = g.delivered()
        assert len(got) == 1, got
        m = parse(got[0])
        assert m["Subject"] == "From the field", m["Subject"]
        assert m["From"].addresses[0].addr_spec == "n1pat@winlink.test"
        assert "@winlink.test>" in m["Message-ID"]
        parts = [p for p in m.iter_attachments()]
        assert parts and parts[0].get_content() == att
        assert "Hello gateway" in m.get_body(("plain",)).get_content()
        assert pat.box("out") == [], pat.box("out")
        inbox = pat.box("in")
        assert len(inbox) == 1, (inbox, pat.connect_log())
        raw = pat.read("in", inbox[0])
        assert b"Subject: To the field\r\n" in raw
        assert b"To: N1PAT\r\n" in raw and b"From: N0GW\r\n" in raw, raw[:400]
        files = wl_files(raw)
        assert files == [("data.bin", back)], files
        assert gh.wait_for(lambda: gh.log_has(
            g.logpath, "action=relayed"), 10)
        print("ok: both ways in one session, attachments intact")

        # 2. the same message again: refused, still one copy
        sent = pat.box("sent")
        mine = [s for s in sent if b"From the field" in pat.read("sent", s)]
        assert len(mine) == 1
        os.rename(os.path.join(pat.dir, "mailbox", "N1PAT", "sent",
                               mine[0]),
                  os.path.join(pat.dir, "mailbox", "N1PAT", "out",
                               mine[0]))
        rc = pat.connect(g.b2f_port, "N0GW")
        assert rc == 0, pat.connect_log()
        assert gh.log_has(g.logpath, "reason=duplicate")
        assert "already received" in pat.connect_log() or \
            pat.box("out") == []
        time.sleep(0.5)
        assert len(g.delivered()) == 1
        print("ok: duplicate refused")
    finally:
        g.stop()


def test_secure_login(top):
    g = gateway(top, "gw2", "example.org = maildir:%s\n" %
                os.path.join(top, "gw2", "mail"), "password = S3CRET\n")
    g.start()
    pat = patpeer.Station(top, "N3PAT", password="WRONG")
    try:
        pat.compose("N0GW", "secure", "authenticated mail\n")
        rc = pat.connect(g.b2f_port, "N0GW")
        assert gh.wait_for(lambda: gh.log_has(g.logpath, "EAUTH"), 5), \
            "wrong password not refused"
        assert g.delivered() == []
        assert len(pat.box("out")) == 1
        pat.write_config("S3CRET")
        rc = pat.connect(g.b2f_port, "N0GW")
        assert rc == 0, pat.connect_log()
        assert gh.wait_for(lambda: len(g.delivered()) == 1, 10)
        assert pat.box("out") == []
        print("ok: secure login, wrong refused and right accepted")
    finally:
        g.stop()


def test_outbound_route(top):
    lport, hport = gh.free_port(), gh.free_port()
    pat = patpeer.Station(top, "N2PAT", listen_port=lport, http_port=hport)
    pat.compose("N0GW", "Listener to gateway", "waiting at the listener\n")
    g = gateway(top, "gw3", "example.org = maildir:%s\n"
                "pat2.test = b2f:N2PAT@127.0.0.1:%d\n" %
                (os.path.join(top, "gw3", "mail"), lport))
    g.start()
    pat.listen()
    try:
        smtp_send(g, "anyone@pat2.test", "Gateway to listener", "Called.")
        assert gh.wait_for(lambda: len(pat.box("in")) == 1, 30), \
            open(g.logpath).read()[-3000:]
        raw = pat.read("in", pat.box("in")[0])
        assert b"Subject: Gateway to listener" in raw
        assert gh.wait_for(lambda: len(g.delivered()) == 1, 20)
        assert parse(g.delivered()[0])["Subject"] == "Listener to gateway"
        assert gh.wait_for(lambda: gh.log_has(g.logpath, "action=relayed"),
                           10)
        print("ok: outbound b2f: route, both ways")
    finally:
        pat.stop()
        g.stop()


class CutProxy:
    """Forward one connection; drop it after `limit` bytes upstream."""

    def __init__(self, dport, limit):
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(1)
        self.port = self.srv.getsockname()[1]
        self.dport, self.limit = dport, limit
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        a, _ = self.srv.accept()
        b = socket.create_connection(("127.0.0.1", self.dport))
        moved = [0]

        def pipe(x, y, count):
            try:
                while True:
                    d = x.recv(4096)
                    if not d:
                        break
                    if count:
                        room = self.limit - moved[0]
                        d = d[:room]
                        moved[0] += len(d)
                    y.sendall(d)
                    if count and moved[0] >= self.limit:
                        break
            except OSError:
                pass
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        t = threading.Thread(target=pipe, args=(b, a, False), daemon=True)
        t.start()
        pipe(a, b, True)
        t.join(5)
        a.close()
        b.close()
        self.srv.close()


def test_resume(top):
    g = gateway(top, "gw4", "example.org = maildir:%s\n" %
                os.path.join(top, "gw4", "mail"))
    g.start()
    pat = patpeer.Station(top, "N4PAT")
    try:
        big = os.urandom(60000)
        with open(os.path.join(top, "big.bin"), "wb") as f:
            f.write(big)
        pat.compose("N0GW", "Big one", "large attachment\n",
                    [os.path.join(top, "big.bin")])
        proxy = CutProxy(g.b2f_port, 30000)
        pat.connect(proxy.port, "N0GW")
        proxy.t.join(10)
        assert gh.wait_for(lambda: gh.log_has(g.logpath,
                                              "event=partial_kept"), 10), \
            open(g.logpath).read()[-2000:]
        assert g.delivered() == []
        assert len(pat.box("out")) == 1
        # the part received is on disk: it survives a restart
        pdir = os.path.join(g.dir, "b2f")
        assert gh.wait_for(lambda: any(f.endswith(".part")
                                       for f in os.listdir(pdir)), 5)
        assert g.stop() == 0
        g.start()
        rc = pat.connect(g.b2f_port, "N0GW")
        assert rc == 0, pat.connect_log()
        assert "offset" in pat.connect_log()
        assert gh.wait_for(lambda: len(g.delivered()) == 1, 10)
        m = parse(g.delivered()[0])
        assert list(m.iter_attachments())[0].get_content() == big
        log = pat.connect_log()
        assert "accepted" in log and "at offset" in log, log
        assert gh.wait_for(lambda: not any(f.endswith(".part")
                                           for f in os.listdir(pdir)), 5)
        print("ok: interrupted transfer resumed from its offset after a "
              "restart")
    finally:
        g.stop()


def test_no_relay(top):
    """Without secure login a station may not relay: a recipient with no
    route of its own is refused and the message stays with the station."""
    g = gateway(top, "gw7", "example.org = maildir:%s\n" %
                os.path.join(top, "gw7", "mail"),
                deliver_to="ops@elsewhere.test")
    g.start()
    pat = patpeer.Station(top, "N7PAT")
    try:
        pat.compose("N0GW", "relay me", "to the world\n")
        pat.connect(g.b2f_port, "N0GW")
        assert gh.wait_for(lambda: gh.log_has(g.logpath,
                                              "event=rcpt_refused"), 5)
        assert len(pat.box("out")) == 1
        assert g.delivered() == []
        print("ok: no relaying for a station without secure login")
    finally:
        g.stop()


def test_postfix_end_to_end(top):
    if not pfx.available():
        print("skip: Postfix not installed")
        return
    g = gateway(top, "gw5", "example.org = maildir:%s\n"
                "winlink.test = b2f:N5PAT\n"
                "nowhere.test = smtp:127.0.0.1:%d\n" %
                (os.path.join(top, "gw5", "mail"), gh.free_port()),
                "pickup_wait = 60s\n")
    g.start()
    pport = gh.free_port()
    pf = pfx.Postfix(pport, hold=False, relayhost="[127.0.0.1]:%d" % g.port,
                     name="b2f-up")
    pf.start()
    pat = patpeer.Station(top, "N5PAT")
    try:
        m = EmailMessage()
        m["From"] = "hq@example.net"
        m["To"] = "n5pat@winlink.test"
        m["Subject"] = "Through Postfix"
        m.set_content("Relayed by Postfix, carried by skywave, read in Pat.")
        with smtplib.SMTP("127.0.0.1", pport, timeout=30) as s:
            s.send_message(m)
        assert gh.wait_for(lambda: gh.log_has(g.logpath, "event=queued"),
                           60), pf.log()[-2000:]
        pat.compose("N0GW", "Field report", "All well.\n")
        rc = pat.connect(g.b2f_port, "N0GW")
        assert rc == 0, pat.connect_log()
        inbox = pat.box("in")
        assert len(inbox) == 1, pat.connect_log()
        raw = pat.read("in", inbox[0])
        assert b"Subject: Through Postfix" in raw
        assert b"From: SMTP:hq@example.net" in raw
        assert gh.wait_for(lambda: len(g.delivered()) == 1, 10)
        got = parse(g.delivered()[0])
        assert got["Subject"] == "Field report"
        assert got["Delivered-To"] or got["Return-Path"]
        print("ok: Postfix upstream, Pat, Maildir downstream")
    finally:
        pf.stop()
        g.stop()


def test_dsn_to_station(top):
    # mail to our callsign goes to a local part that cannot name a
    # mailbox: failed 5.1.3, a DSN is owed to the station
    g = gateway(top, "gw6", "winlink.test = b2f:N6PAT\n"
                "local.test = maildir:%s/%%u\n" % os.path.join(top, "gw6"),
                deliver_to=".hidden@local.test")
    g.start()
    pat = patpeer.Station(top, "N6PAT")
    try:
        pat.compose("N0GW", "Nobody home", "This cannot be delivered.\n")
        assert pat.connect(g.b2f_port, "N0GW") == 0, pat.connect_log()
        if not pat.box("in"):
            assert gh.wait_for(lambda: gh.log_has(g.logpath,
                                                  "event=queued"), 10)
            assert pat.connect(g.b2f_port, "N0GW") == 0
        inbox = pat.box("in")
        assert len(inbox) == 1, pat.connect_log()
        raw = pat.read("in", inbox[0])
        assert b"Status: 5.1.3" in raw and b"Nobody home" in raw, raw
        assert b"To: N6PAT" in raw
        print("ok: DSN back to the station over B2F")
    finally:
        g.stop()


def smtp_prio(g, rcpt, subject, prio):
    m = EmailMessage()
    m["From"] = "ops@example.org"
    m["To"] = rcpt
    m["Subject"] = subject
    m.set_content("priority %d\n" % prio)
    with smtplib.SMTP("127.0.0.1", g.port, timeout=30) as s:
        s.ehlo()
        s.send_message(m, from_addr="ops@example.org", to_addrs=[rcpt],
                       mail_options=["MT-PRIORITY=%d" % prio])


PROPOSALS = re.compile(rb"((?:FC EM \S+ \d+ \d+ 0\r)+)F> [0-9A-F]{2}\r")


class BlockProxy:
    """Forward B2F connections between a station and the gateway (or the
    gateway and a Pat listener), recording what the gateway sends; with
    hold_after_first, the station's answer to the gateway's first block
    of proposals is held back until release() (so mail can be queued
    while that block is outstanding). Listens only from start()."""

    def __init__(self, dport, gateway_is_client, hold_after_first=False,
                 gate_connect=False, cut_after_first=False):
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.port = self.srv.getsockname()[1]
        self.dport = dport
        self.gw_client = gateway_is_client
        self.hold = hold_after_first
        self.cut = cut_after_first      # drop the data after the 1st FS
        self.answered = threading.Event()
        self.from_gw = b""
        self.first_block = threading.Event()
        self.released = threading.Event()
        self.gate = threading.Event()    # gate_connect: open_gate()
        self.accepted = threading.Event()
        if not gate_connect:
            self.gate.set()
        self.lock = threading.Lock()

    def start(self):
        self.srv.listen(4)
        threading.Thread(target=self.run, daemon=True).start()

    def release(self):
        self.released.set()

    def open_gate(self):
        self.gate.set()

    def blocks(self):
        """The gateway's proposal blocks: [[MID, ...], ...]."""
        with self.lock:
            data = self.from_gw
        return [[l.split(b" ")[2].decode() for l in m.group(1).split(b"\r")
                 if l] for m in PROPOSALS.finditer(data)]

    def run(self):
        while True:
            try:
                a, _ = self.srv.accept()
            except OSError:
                return
            self.accepted.set()
            self.gate.wait(60)
            b = socket.create_connection(("127.0.0.1", self.dport))
            gw, st = (a, b) if self.gw_client else (b, a)
            threading.Thread(target=self.pipe, args=(gw, st, True),
                             daemon=True).start()
            threading.Thread(target=self.pipe, args=(st, gw, False),
                             daemon=True).start()

    def pipe(self, x, y, from_gw):
        try:
            while True:
                d = x.recv(65536)
                if not d:
                    break
                if from_gw:
                    if self.cut and self.answered.is_set():
                        break
                    with self.lock:
                        self.from_gw += d
                        if PROPOSALS.search(self.from_gw):
                            self.first_block.set()
                elif self.first_block.is_set():
                    if self.hold:
                        self.released.wait(30)
                    self.answered.set()
                y.sendall(d)
        except OSError:
            pass
        for s in (x, y):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self):
        self.srv.close()


def subjects_by_mid(pat):
    out = {}
    for f in pat.box("in"):
        raw = pat.read("in", f)
        m = re.search(rb"\r\nSubject: ([^\r]*)\r\n", raw)
        out[f[:-4] if f.endswith(".b2f") else f] = m.group(1).decode()
    return out


# STANAG4406 levels, one band each (the default policy)
def band_of(subject):
    return int(subject.split(" p")[1])


def test_outbound_blocks(top):
    lport, hport = gh.free_port(), gh.free_port()
    pat = patpeer.Station(top, "N8PAT", listen_port=lport, http_port=hport)
    pat.listen()
    # the first call waits at the proxy, so the rest queue up behind it
    proxy = BlockProxy(lport, gateway_is_client=True, gate_connect=True)
    proxy.start()
    g = gateway(top, "gw8", "example.org = maildir:%s\n"
                "pat8.test = b2f:N8PAT@localhost:%d\n" %
                (os.path.join(top, "gw8", "mail"), proxy.port))
    g.start()
    try:
        smtp_prio(g, "n8pat@pat8.test", "first p-4", -4)
        assert proxy.accepted.wait(30), open(g.logpath).read()[-3000:]
        prios = [-2, 0, 4, -4, 2, 6]
        for i, p in enumerate(prios):
            smtp_prio(g, "n8pat@pat8.test", "m%d p%d" % (i, p), p)
        proxy.open_gate()
        n = len(prios) + 1
        assert gh.wait_for(lambda: len(pat.box("in")) == n, 60), \
            open(g.logpath).read()[-3000:]
        subj = subjects_by_mid(pat)
        blocks = [[subj[m] for m in b] for b in proxy.blocks()]
        print("blocks:", blocks)
        assert [len(b) for b in blocks] == [1, 5, 1], blocks
        assert blocks[0] == ["first p-4"]
        order = [band_of(s) for b in blocks[1:] for s in b]
        assert order == sorted(prios, reverse=True), order
        assert gh.wait_for(lambda: open(g.logpath).read().count(
            "action=relayed") >= n, 10)
        print("ok: several proposals per block, in priority order, over a "
              "route with a host name")
    finally:
        proxy.stop()
        pat.stop()
        g.stop()


def test_dialin_priority(top):
    g = gateway(top, "gw9", "example.org = maildir:%s\n"
                "winlink.test = b2f:N9PAT\n" %
                os.path.join(top, "gw9", "mail"))
    g.start()
    pat = patpeer.Station(top, "N9PAT")
    proxy = BlockProxy(g.b2f_port, gateway_is_client=False,
                       hold_after_first=True)
    proxy.start()
    try:
        prios = [-4, 0, -2, 2, -4, 0, -2]
        for i, p in enumerate(prios):
            smtp_prio(g, "n9pat@winlink.test", "m%d p%d" % (i, p), p)
        assert gh.wait_for(lambda: gh.log_has(g.logpath, "event=queued"),
                           20)
        rc = []
        t = threading.Thread(target=lambda: rc.append(
            pat.connect(proxy.port, "N0GW")), daemon=True)
        t.start()
        assert proxy.first_block.wait(30), open(g.logpath).read()[-3000:]
        # the station has the first block; FLASH mail arrives now
        smtp_prio(g, "n9pat@winlink.test", "flash p4", 4)
        proxy.release()
        t.join(60)
        assert rc == [0], (rc, pat.connect_log())
        subj = subjects_by_mid(pat)
        assert len(subj) == len(prios) + 1, (subj, pat.connect_log())
        blocks = [[subj[m] for m in b] for b in proxy.blocks()]
        print("blocks:", blocks)
        assert [len(b) for b in blocks] == [5, 3], blocks
        first = [band_of(s) for s in blocks[0]]
        assert first == sorted(prios, reverse=True)[:5], first
        assert blocks[1][0] == "flash p4", blocks
        assert [band_of(s) for s in blocks[1][1:]] == [-4, -4], blocks
        assert "5 proposal(s) received" in pat.connect_log()
        print("ok: a station that dials in gets its mail in priority order "
              "across blocks, FLASH queued mid-session first in the next")
    finally:
        proxy.stop()
        g.stop()


def test_deferred_next_session(top):
    """Mail a session did not get through (cut after the station's FS)
    is deferred, and due again when the station next calls, well before
    its backoff (5 minutes) ends."""
    g = gateway(top, "gw11", "example.org = maildir:%s\n"
                "winlink.test = b2f:N6CUT\n" %
                os.path.join(top, "gw11", "mail"))
    g.start()
    pat = patpeer.Station(top, "N6CUT")
    proxy = BlockProxy(g.b2f_port, gateway_is_client=False,
                       cut_after_first=True)
    proxy.start()
    try:
        smtp_prio(g, "n6cut@winlink.test", "again p0", 0)
        assert gh.wait_for(lambda: gh.log_has(g.logpath, "event=queued"),
                           20)
        pat.connect(proxy.port, "N0GW")
        assert gh.wait_for(lambda: gh.log_has(
            g.logpath, "event=deferred status=4.4.0 text=\"Winlink "
            "station N6CUT did not take"), 10), open(g.logpath).read()[-3000:]
        assert pat.box("in") == []
        rc = pat.connect(g.b2f_port, "N0GW")
        assert rc == 0, pat.connect_log()
        assert gh.log_has(g.logpath, "event=deferred_due_again")
        subj = subjects_by_mid(pat)
        assert list(subj.values()) == ["again p0"], (subj,
                                                     pat.connect_log())
        print("ok: mail deferred by a cut session goes in the station's "
              "next session")
    finally:
        proxy.stop()
        g.stop()


def test_unresolvable_route(top):
    g = gateway(top, "gw10", "example.org = maildir:%s\n"
                "nowhere.test = b2f:N0XX@no-such-station.invalid:8774\n" %
                os.path.join(top, "gw10", "mail"))
    g.start()
    try:
        smtp_prio(g, "x@nowhere.test", "lost p0", 0)
        assert gh.wait_for(lambda: gh.log_has(
            g.logpath, "event=deferred status=4.4.3"), 60), \
            open(g.logpath).read()[-3000:]
        assert gh.log_has(g.logpath, "event=lookup_failed")
        assert gh.log_has(g.logpath, "no usable address for Winlink "
                          "station N0XX at no-such-station.invalid")
        out = gh.sky(g, "queue", "list")
        assert "x@nowhere.test" in out, out
        print("ok: unresolvable host name deferred 4.4.3, kept queued")
    finally:
        g.stop()


def main():
    top = gh.tmpdir("b2f")
    ok = False
    tests = [test_inbound_both_ways, test_secure_login, test_outbound_route,
             test_postfix_end_to_end, test_dsn_to_station, test_no_relay,
             test_resume, test_outbound_blocks, test_dialin_priority,
             test_deferred_next_session, test_unresolvable_route]
    only = os.environ.get("SKYWAVE_B2F_ONLY")  # e.g. "test_resume,..."
    try:
        for t in tests:
            if not only or t.__name__ in only.split(","):
                t(top)
        ok = True
    finally:
        gh.cleanup(top, ok)


if __name__ == "__main__":
    main()
