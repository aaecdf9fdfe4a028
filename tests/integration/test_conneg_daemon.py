#!/usr/bin/env python3
"""skywaved answers RCPT ... CONNEG from its caps_file with the RFC 4141
multi-line reply, takes CONPERM on MAIL, and a bad caps_file is a
configuration error (exit 78) naming file:line."""
import os
import smtplib
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import gwharness as h  # noqa: E402


def main():
    top = h.tmpdir("conneg")
    ok = False
    caps = os.path.join(top, "caps.conf")
    with open(caps, "w") as f:
        f.write("alice@ship.example (&(type=[text/plain,image/jpeg])"
                "(width<=640))\n")
    g = h.Gateway(top, "gw.example", [],
                  "ship.example = maildir:%s/mail\n" % top,
                  extra="caps_file = %s" % caps)
    try:
        g.start()
        s = smtplib.SMTP("127.0.0.1", g.port, timeout=30)
        code, msg = s.ehlo("client.example")
        ext = msg.decode()
        assert "CONNEG" in ext and "CONPERM" in ext, ext
        code, msg = s.docmd("MAIL FROM:<a@x.example> CONPERM")
        assert code == 250, (code, msg)
        code, msg = s.docmd("RCPT TO:<alice@ship.example> CONNEG")
        text = msg.decode()
        print(code, text)
        assert code == 250, (code, text)
        assert "CONNEG" in text and "type=" in text and "width" in text, text
        code, msg = s.docmd("RCPT TO:<bob@ship.example> CONNEG")
        assert code == 250 and b"CONNEG" not in msg, (code, msg)
        s.quit()
        g.stop()

        with open(caps, "w") as f:
            f.write("alice@ship.example (&(type=text/plain)\n"
                    "bob@ship.example not-a-filter\n")
        r = subprocess.run([h.DAEMON, "--foreground", "--config", g.conf],
                           capture_output=True, text=True, timeout=30)
        print(r.returncode, r.stderr[-300:])
        assert r.returncode == 78, r.returncode
        assert "caps.conf:" in r.stderr, r.stderr
        ok = True
        print("ok")
        return 0
    finally:
        g.stop()
        h.cleanup(top, ok)


if __name__ == "__main__":
    sys.exit(main())
