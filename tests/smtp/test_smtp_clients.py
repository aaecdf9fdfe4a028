#!/usr/bin/env python3
"""Real clients deliver into the real SMTP server: Python's smtplib (with
MAIL/RCPT parameters), swaks, and the real SQLite queue behind the server,
including kill -9 right after a 250 (the message is in the database)."""
import os
import shutil
import signal
import smtplib
import sqlite3
import subprocess
import sys
import unittest
from email.message import EmailMessage

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from smtp_harness import Client, Server  # noqa: E402


def message(subject, body="hello\n"):
    m = EmailMessage()
    m["From"] = "a@x.test"
    m["To"] = "b@y.test"
    m["Subject"] = subject
    m.set_content(body)
    return m


class Smtplib(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server()

    @classmethod
    def tearDownClass(cls):
        log = cls.srv.logtext()
        assert cls.srv.stop() == 0, log

    def test_parameters_reach_the_envelope(self):
        with smtplib.SMTP("127.0.0.1", self.srv.port, "client.test") as s:
            code, resp = s.ehlo()
            self.assertEqual(code, 250)
            for kw in ("pipelining", "size", "dsn", "deliverby",
                       "mt-priority", "chunking", "altrecip"):
                self.assertTrue(s.has_extn(kw), kw)
            self.assertEqual(s.esmtp_features["mt-priority"].strip(),
                             "STANAG4406")
            refused = s.send_message(
                message("params"), "a@x.test", ["p1@y.test", "p2@y.test"],
                mail_options=["MT-PRIORITY=3", "BY=120;R", "ENVID=E1",
                              "RET=HDRS", "BODY=8BITMIME"],
                rcpt_options=["NOTIFY=SUCCESS,FAILURE",
                              "ARCPT=rfc822;alt@z.test"])
            self.assertEqual(refused, {})
        env, msg = [(e, m) for e, m in self.srv.messages()
                    if e["rcpt"][0].startswith("p1@y.test ")][0]
        self.assertEqual(env["priority"], "3")
        self.assertEqual(env["by_mode"], "R")
        self.assertEqual(env["envid"], "E1")
        self.assertEqual(env["rcpt"][1], "p2@y.test notify=6 orcpt= "
                         "arcpt=rfc822;alt@z.test flags=0")
        self.assertIn(b"Subject: params", msg)
        self.assertTrue(msg.startswith(b"Received: from client.test "))

    def test_many_in_one_session(self):
        with smtplib.SMTP("127.0.0.1", self.srv.port) as s:
            for i in range(50):
                s.send_message(message("many %d" % i), "a@x.test",
                               ["many%d@y.test" % i])
        got = [e for e, m in self.srv.messages()
               if e["rcpt"][0].startswith("many")]
        self.assertEqual(len(got), 50)

    def test_refusals_are_reported(self):
        with smtplib.SMTP("127.0.0.1", self.srv.port) as s:
            with self.assertRaises(smtplib.SMTPSenderRefused) as cm:
                s.sendmail("a@x.test", ["b@y.test"], "x",
                           mail_options=["MT-PRIORITY=10"])
            self.assertEqual(cm.exception.smtp_code, 501)
            s.rset()
            refused = s.sendmail("a@x.test", ["ok@y.test", "bad@@y"], "x",
                                 rcpt_options=[])
            self.assertIn("bad@@y", refused)
            # smtplib adds its own SIZE=; a second one is a duplicate
            with self.assertRaises(smtplib.SMTPSenderRefused) as cm:
                s.sendmail("a@x.test", ["b@y.test"], "x" * 10,
                           mail_options=["SIZE=99999999"])
            self.assertEqual(cm.exception.smtp_code, 501)
            s.rset()
            code, _ = s.mail("a@x.test", ["SIZE=99999999"])
            self.assertEqual(code, 552)

    def test_8bit_body(self):
        body = "Grüße aus dem Funkraum\n".encode("utf-8")
        with smtplib.SMTP("127.0.0.1", self.srv.port) as s:
            s.sendmail("a@x.test", ["utf@y.test"],
                       b"Subject: 8bit\r\n\r\n" + body,
                       mail_options=["BODY=8BITMIME"])
        msg = [m for e, m in self.srv.messages()
               if e["rcpt"][0].startswith("utf@y.test ")][0]
        # smtplib sends bytes with their LF line ends: stored with CRLF
        self.assertIn(b"\r\n\r\n" + body.replace(b"\n", b"\r\n"), msg)
        self.assertNotIn(b"\n", msg.replace(b"\r\n", b""))


@unittest.skipUnless(shutil.which("swaks"), "swaks not installed")
class Swaks(unittest.TestCase):
    def test_swaks_pipelined_delivery(self):
        srv = Server()
        try:
            out = subprocess.run(
                ["swaks", "--server", "127.0.0.1:%d" % srv.port,
                 "--from", "a@x.test", "--to", "sw1@y.test,sw2@y.test",
                 "--pipeline", "--helo", "swaks.test",
                 "--add-header", "MT-Priority: 2",
                 "--body", "line one\n.leading dot\n"],
                capture_output=True, text=True, timeout=30)
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
            self.assertIn("250 2.0.0 Ok: queued as", out.stdout)
            env, msg = srv.messages()[0]
            self.assertEqual(env["priority"], "2")  # from the header
            self.assertEqual(len(env["rcpt"]), 2)
            self.assertIn(b"\r\n.leading dot\r\n", msg)
            # swaks reads the extension list
            out = subprocess.run(
                ["swaks", "--server", "127.0.0.1:%d" % srv.port,
                 "--quit-after", "EHLO"], capture_output=True, text=True,
                timeout=30)
            self.assertIn("MT-PRIORITY STANAG4406", out.stdout)
            self.assertIn("DELIVERBY 60", out.stdout)
        finally:
            self.assertEqual(srv.stop(), 0)


SMTP_SOURCE = shutil.which("smtp-source") or "/usr/sbin/smtp-source"


@unittest.skipUnless(os.access(SMTP_SOURCE, os.X_OK), "postfix not installed")
class SmtpSource(unittest.TestCase):
    def test_concurrent_sessions_into_the_queue(self):
        srv = Server("--per-client", "100", queue=True)
        db = os.path.join(srv.dir, "queue.db")
        try:
            out = subprocess.run(
                [SMTP_SOURCE, "-s", "20", "-m", "400", "-l", "4000",
                 "-f", "src@x.test", "-t", "dst@y.test",
                 "127.0.0.1:%d" % srv.port], capture_output=True,
                text=True, timeout=120)
            self.assertEqual(out.returncode, 0, out.stderr)
            srv.proc.send_signal(signal.SIGTERM)
            self.assertEqual(srv.proc.wait(20), 0, srv.logtext())
            con = sqlite3.connect(db)
            n = con.execute("SELECT count(*) FROM message").fetchone()[0]
            con.close()
            self.assertEqual(n, 400)
        finally:
            srv.stop()


class RealQueue(unittest.TestCase):
    """The server in front of the SQLite queue (queue_open in smtp_testd)."""

    def ids_in_db(self, path):
        con = sqlite3.connect(path)
        try:
            return {r[0].lower() for r in
                    con.execute("SELECT hex(id) FROM message")}
        finally:
            con.close()

    def test_commit_then_clean_stop(self):
        srv = Server(queue=True)
        db = os.path.join(srv.dir, "queue.db")
        try:
            ids = []
            with smtplib.SMTP("127.0.0.1", srv.port) as s:
                s.ehlo()
                for i in range(20):
                    s.mail("a@x.test", ["MT-PRIORITY=4"])
                    s.rcpt("q%d@y.test" % i)
                    code, resp = s.data(b"Subject: q\r\n\r\nbody\r\n")
                    self.assertEqual(code, 250)
                    ids.append(resp.decode().split()[-1])
            self.assertEqual(srv.proc.poll(), None)
            srv.proc.send_signal(signal.SIGTERM)
            self.assertEqual(srv.proc.wait(10), 0, srv.logtext())
            self.assertTrue(set(ids) <= self.ids_in_db(db))
        finally:
            srv.stop()

    def test_kill9_right_after_250(self):
        srv = Server(queue=True)
        db = os.path.join(srv.dir, "queue.db")
        try:
            c = Client(srv.port)
            c.ehlo()
            c.send("MAIL FROM:<a@x.test>\r\nRCPT TO:<k@y.test>\r\nDATA\r\n")
            for _ in range(3):
                c.reply()
            c.send("Subject: k\r\n\r\nkill me\r\n.\r\n")
            code, lines = c.reply()
            srv.proc.kill()  # SIGKILL the moment the 250 is read
            srv.proc.wait()
            self.assertEqual(code, 250, lines)
            qid = lines[0].split()[-1]
            self.assertIn(qid, self.ids_in_db(db))
        finally:
            srv.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2, warnings="ignore")
