#!/usr/bin/env python3
"""Lossless re-encoding on the air with two real gateways over skywave-sim's
los-19200 channel: alpha sends base64/QP bodies decoded (mime_pack) and
bravo rebuilds the original octets before it commits.
  1. A DKIM-signed message (c=simple/simple, rsa-sha256) with a QP text
     part and a base64 attachment (tests/air/fixtures/dkim-attach.eml)
     arrives byte for byte, and its signature verifies at bravo.
  2. Messages with attachments from spam-2 (when bench/cache holds the
     corpus) arrive byte for byte.
  3. A message with a 60 KB base64 attachment is on the air when the
     channel goes dark for 15 s (skywave-sim --outage): the link session
     is lost, a new one resumes the packed stream from bravo's offset, and
     the message arrives byte for byte.
Every message is compared with what was sent, below the trace lines bravo
adds. Prints its seed."""
import base64
import hashlib
import os
import random
import re
import smtplib
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import gwharness as h  # noqa: E402

SRC = os.environ.get("SKYWAVE_SRC",
                     os.path.join(os.path.dirname(__file__), "..", ".."))

# The public half of the test key that signed dkim-attach.eml.
DKIM_N = int(
    "d039b08783ce6add57532fd0dfd98f99dbeffe4ed691b8628adc6178ad8a4f53"
    "da759ee2724c99935e1d5f7e288fe3d857c0f68cbb04eda58cb002f77569496f"
    "487b9dd5a008d63f8481bdc9e9a2ecc8521eeb6931fafbfe009fa0c4be1a919b"
    "d3b376a380ae7cb646880102837ba2b15e0c64587edbe61302e35188ab47fff7", 16)
DKIM_E = 65537


def dkim_verify_simple(raw, n, e):
    """DKIM rsa-sha256 with c=simple/simple (RFC 6376 s3.4.1, s3.4.3,
    s3.7), standard library only. None when it verifies, else why not."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        return "no body"
    fields = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b"\r\n" + line
        else:
            fields.append(line)
    sigs = [f for f in fields if f.lower().startswith(b"dkim-signature:")]
    if not sigs:
        return "no signature"
    sigf = sigs[0]
    tags = {}
    for t in sigf.split(b":", 1)[1].split(b";"):
        if b"=" in t:
            k, v = t.split(b"=", 1)
            tags[k.strip().decode()] = re.sub(rb"\s+", b"", v)
    cb = body
    while cb.endswith(b"\r\n\r\n"):
        cb = cb[:-2]
    if base64.b64decode(tags["bh"]) != hashlib.sha256(cb).digest():
        return "body hash"
    hh = b""
    used = {}
    for name in tags["h"].decode().split(":"):
        cands = [f for f in fields
                 if f.split(b":", 1)[0].strip().lower() == name.encode()]
        i = used.get(name, 0) + 1
        used[name] = i
        if i <= len(cands):
            hh += cands[-i] + b"\r\n"
    hh += re.sub(rb"(b=)[^;]*$", rb"\1", sigf)
    sig = int.from_bytes(base64.b64decode(tags["b"]), "big")
    k = (n.bit_length() + 7) // 8
    em = pow(sig, e, n).to_bytes(k, "big")
    di = (bytes.fromhex("3031300d060960864801650304020105000420") +
          hashlib.sha256(hh).digest())
    if em != b"\x00\x01" + b"\xff" * (k - 3 - len(di)) + b"\x00" + di:
        return "signature"
    return None


def crlf(b):
    return re.sub(rb"\r?\n", b"\r\n", b)


def maildir_files(path):
    d = os.path.join(path, "new")
    if not os.path.isdir(d):
        return []
    out = []
    for f in sorted(os.listdir(d)):
        with open(os.path.join(d, f), "rb") as fh:
            out.append(fh.read())
    return out


def send(port, msg):
    s = smtplib.SMTP("127.0.0.1", port, timeout=60)
    s.ehlo("client.example")
    s.sendmail("met@alpha.example", ["chief@bravo.example"], msg)
    s.quit()


def big_message(rnd):
    blob = bytes(rnd.randrange(256) for _ in range(60000))
    b64 = base64.encodebytes(blob).replace(b"\n", b"\r\n")
    return (b"From: met@alpha.example\r\nTo: chief@bravo.example\r\n"
            b"Subject: ice chart\r\nMessage-ID: <big@alpha.example>\r\n"
            b"MIME-Version: 1.0\r\n"
            b"Content-Type: multipart/mixed; boundary=\"x9\"\r\n\r\n"
            b"--x9\r\nContent-Type: text/plain\r\n\r\nChart attached.\r\n"
            b"--x9\r\nContent-Type: image/png; name=\"ice.png\"\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + b64 +
            b"\r\n--x9--\r\n")


def corpus(limit):
    d = os.path.join(SRC, "bench", "cache", "package", "data", "spam-2")
    if not os.path.isdir(d):
        # scripts/test.sh fetched it: then its absence is a failure
        assert os.environ.get("SKYWAVE_CORPUS_REQUIRED") != "1", d
        return []
    out = []
    for f in sorted(os.listdir(d)):
        if not f.endswith(".txt"):
            continue
        with open(os.path.join(d, f), "rb") as fh:
            m = fh.read()
        head = m.split(b"\n\n", 1)[0]
        if (b"base64" in m.lower() and 4000 < len(m) < 40000 and
                not head.startswith(b"From ") and b"\r" not in m):
            out.append(crlf(m))
        if len(out) >= limit:
            break
    return out


def arrived(got, sent):
    """The delivered copy of sent (Maildir: LF lines, trace on top)."""
    want = sent.replace(b"\r\n", b"\n")
    return [g for g in got if g.endswith(want)]


def main():
    seed = int(os.environ.get("SKYWAVE_SEED", int(time.time())))
    print("seed=%d (repeat with SKYWAVE_SEED=%d)" % (seed, seed))
    rnd = random.Random(seed)
    top = h.tmpdir("reencode")
    ok = False
    prof = "los-19200"
    # the channel is dark from 12 s to 27 s after the simulator starts
    sim = h.Sim(top, prof, seed=seed, extra=("--outage", "12s+15s"))
    t0 = time.time()
    bmail = "%s/bravo.example/mail" % top
    a = h.Gateway(top, "alpha.example",
                  [("air", sim.dev("a"), prof, "bravo.example")],
                  "bravo.example = link:air\n")
    b = h.Gateway(top, "bravo.example",
                  [("air", sim.dev("b"), prof, "alpha.example")],
                  "alpha.example = link:air\n"
                  "bravo.example = maildir:%s\n" % bmail)
    try:
        a.start()
        b.start()
        with open(os.path.join(SRC, "tests", "air", "fixtures",
                               "dkim-attach.eml"), "rb") as f:
            signed = f.read()
        assert dkim_verify_simple(signed, DKIM_N, DKIM_E) is None
        big = big_message(rnd)
        msgs = [signed, big] + corpus(4)
        print("sending %d messages (%d from spam-2) at t=%.1fs"
              % (len(msgs), len(msgs) - 2, time.time() - t0))
        for m in msgs:
            send(a.port, m)

        def all_there():
            got = maildir_files(bmail)
            return all(arrived(got, m) for m in msgs)
        if not h.wait_for(all_there, 150, 0.5):
            got = maildir_files(bmail)
            print("FAIL: %d of %d arrived identical (%d files)"
                  % (sum(1 for m in msgs if arrived(got, m)), len(msgs),
                     len(got)))
            return 1
        got = maildir_files(bmail)
        print("all %d arrived byte for byte at t=%.1fs"
              % (len(msgs), time.time() - t0))
        assert len(got) == len(msgs), len(got)

        # 1: the signature still verifies at bravo
        mine = arrived(got, signed)[0]
        why = dkim_verify_simple(crlf(mine), DKIM_N, DKIM_E)
        assert why is None, why
        print("1: DKIM signature verifies at bravo")

        # they travelled packed
        packed = h.log_has(a.logpath, "event=packed")
        with open(a.logpath, errors="replace") as f:
            npacked = f.read().count("event=packed")
        print("alpha packed %d of %d messages" % (npacked, len(msgs)))
        assert packed and npacked >= 2, npacked

        # 3: the big one was resumed in a new session, in packed form
        with open(b.logpath, errors="replace") as f:
            blog = f.read()
        resumed = [ln for ln in blog.splitlines()
                   if "event=resume" in ln and "packed=yes" in ln]
        print("resumes at bravo:", len(resumed))
        assert resumed, "no resume of a packed transfer"
        assert blog.count("event=received duplicate=no") == len(msgs)
        ok = True
        print("ok")
        return 0
    finally:
        a.stop()
        b.stop()
        sim.stop()
        h.cleanup(top, ok)


if __name__ == "__main__":
    sys.exit(main())
