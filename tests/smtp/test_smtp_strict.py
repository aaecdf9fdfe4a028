#!/usr/bin/env python3
"""SMTP strictness in the running skywaved (RFC 5321 s2.3.8, RFC 3030, the
ALTRECIP seed slides), with an onward SMTP hop on loopback that records
the octets it was given:
  - a bare LF or bare CR inside a command line is not a line end: one
    reply for the whole line, never two commands executed;
  - BDAT in a HELO session (CHUNKING not offered) gets 503 5.5.1, its
    octets are discarded and the session stays usable;
  - a body with LF-only line ends (Python's smtplib with bytes) is
    accepted and relayed with CRLF; the 998-octet limit counts the octets
    between line ends after that normalisation;
  - an ARCPT that is not a mailbox gets 501 5.5.4 at RCPT."""
import os
import smtplib
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import gwharness as h  # noqa: E402
import hops  # noqa: E402
from smtp_harness import Client  # noqa: E402


class Strict(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.top = h.tmpdir("strict")
        cls.hop = hops.Hop()
        cls.gw = h.Gateway(cls.top, "gw", [], "hop.test = %s\n" %
                           cls.hop.spec())
        cls.gw.start()

    @classmethod
    def tearDownClass(cls):
        rc = cls.gw.stop()
        cls.hop.stop()
        h.cleanup(cls.top, rc == 0)
        assert rc == 0, rc

    def client(self, ehlo=True):
        c = Client(self.gw.port)
        if ehlo:
            c.ehlo()
        self.addCleanup(c.close)
        return c

    def relayed(self, marker, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for t in self.hop.transactions:
                if t.get("done") and marker in t["data"]:
                    return t["data"]
            time.sleep(0.1)
        self.fail("not relayed: %r" % marker)

    def test_bare_lf_in_command_is_one_line(self):
        c = self.client()
        c.send(b"NOOP\nRSET\r\n")
        code, lines = c.reply()
        self.assertIn(code, (500, 501), lines)
        # exactly one reply: the next command's reply comes next
        code, lines = c.cmd("NOOP")
        self.assertEqual(code, 250, lines)

    def test_bare_lf_cannot_smuggle_a_transaction(self):
        c = self.client()
        c.send(b"NOOP\nMAIL FROM:<a@x.test>\r\n")
        self.assertIn(c.reply()[0], (500, 501))
        # no transaction was opened by the hidden MAIL
        code, lines = c.cmd("RCPT TO:<b@hop.test>")
        self.assertEqual(code, 503, lines)

    def test_bare_cr_in_command_is_one_line(self):
        c = self.client()
        c.send(b"NOOP\rRSET\r\n")
        self.assertIn(c.reply()[0], (500, 501))
        self.assertEqual(c.cmd("NOOP")[0], 250)

    def test_bdat_after_helo_refused(self):
        c = Client(self.gw.port)
        self.addCleanup(c.close)
        self.assertEqual(c.cmd("HELO client.test")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<a@x.test>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<b@hop.test>")[0], 250)
        c.send(b"BDAT 9 LAST\r\nNOOP\r\nXYZ")
        code, lines = c.reply()
        self.assertEqual(code, 503, lines)
        self.assertTrue(lines[0].startswith("5.5.1"), lines)
        # the 9 octets were discarded, not run as a command
        code, lines = c.cmd("RSET")
        self.assertEqual(code, 250, lines)
        self.assertEqual(c.cmd("NOOP")[0], 250)

    def test_lf_only_body_normalised(self):
        body = (b"Subject: lf-only\nX-Marker: lfbody1\n\nline one\n"
                b"line two\n" + b"a" * 998 + b"\n")
        with smtplib.SMTP("127.0.0.1", self.gw.port) as s:
            s.sendmail("a@x.test", ["b@hop.test"], body)
        data = self.relayed(b"lfbody1")
        self.assertNotIn(b"\n", data.replace(b"\r\n", b""))
        self.assertIn(b"\r\nline one\r\nline two\r\n" + b"a" * 998 +
                      b"\r\n", data)

    def test_998_counts_after_normalisation(self):
        body = b"Subject: long\n\n" + b"a" * 999 + b"\n"
        with smtplib.SMTP("127.0.0.1", self.gw.port) as s:
            with self.assertRaises(smtplib.SMTPDataError) as cm:
                s.sendmail("a@x.test", ["b@hop.test"], body)
        self.assertEqual(cm.exception.smtp_code, 554)
        self.assertIn(b"998", cm.exception.smtp_error)

    def test_arcpt_must_be_a_mailbox(self):
        c = self.client()
        self.assertEqual(c.cmd("MAIL FROM:<a@x.test>")[0], 250)
        for bad in ("not-an-address", "a@", "@x", "a@b@c", "a@b..c",
                    "x400;c@hop.test"):
            code, lines = c.cmd("RCPT TO:<b@hop.test> ARCPT=rfc822;" +
                                bad if ";" not in bad else
                                "RCPT TO:<b@hop.test> ARCPT=" + bad)
            self.assertEqual(code, 501, (bad, lines))
            self.assertTrue(lines[0].startswith("5.5.4"), (bad, lines))
        code, lines = c.cmd("RCPT TO:<b@hop.test> "
                            "ARCPT=rfc822;alt+2Bx@hop.test")
        self.assertEqual(code, 250, lines)


if __name__ == "__main__":
    unittest.main()
