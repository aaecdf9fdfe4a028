#!/usr/bin/env python3
"""`skywave console` in a real terminal (tmux) against a fake daemon.

The fake daemon (ctl_fake_daemon) serves the control protocol with two
links, a transfer on the air whose progress follows the clock, a message at
risk and a held list, and logs every action it receives. The test drives the
console with keystrokes and reads the screen with capture-pane:

  - link states, the progress bar moving between two captures, the message
    at risk with its planned redirect;
  - hold (after y/n confirmation) then release of the on-air message reach
    the daemon, and the screen shows the effect; 'n' declines;
  - a link taken down and up from the console;
  - requeue (route typed in) and cancel of the message at risk;
  - resize to 200x60 (one row per transfer, whole ids) and back to 80x24;
  - the daemon stopping and coming back: DISCONNECTED, then reconnected;
  - colour on a colour terminal, monochrome attributes on a vt100;
  - q quits, and the sanitizers found nothing.

It uses the real `skywave` binary when that lists the console command, else
the test tool that runs the same subcommand functions.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

BUILD = os.environ.get("SKYWAVE_BUILD", os.getcwd())
FAKE = os.path.join(BUILD, "tests/control/ctl_fake_daemon")
ONAIR = "3f2a9c0e11d84b7a9e5c2d1f0a6b8c4d"
RISK = "9c1d77e2a0b34f5c8d6e1a2b3c4d5e6f"


def tool():
    sky = os.path.join(BUILD, "gateway/skywave")
    if os.path.exists(sky):
        out = subprocess.run([sky, "help"], capture_output=True, text=True)
        if re.search(r"^\s+console\s", out.stdout, re.M):
            return sky
    return os.path.join(BUILD, "tests/control/ctl_tool")


class Tmux:
    def __init__(self, name):
        self.base = ["tmux", "-L", name, "-f", "/dev/null"]

    def run(self, *args, check=True):
        return subprocess.run(self.base + list(args), capture_output=True,
                              text=True, check=check, timeout=10)

    def capture(self, escapes=False):
        args = ["capture-pane", "-p", "-t", "main"]
        if escapes:
            args.append("-e")
        return self.run(*args).stdout

    def keys(self, *keys):
        self.run("send-keys", "-t", "main", *keys)

    def alive(self):
        return self.run("has-session", "-t", "main", check=False) \
            .returncode == 0

    def kill(self):
        self.run("kill-server", check=False)


def wait_for(what, fn, timeout=8.0):
    end = time.time() + timeout
    last = None
    while time.time() < end:
        last = fn()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError("timed out waiting for %s" % what)


def screen_has(t, *needles):
    def check():
        s = t.capture()
        return s if all(n in s for n in needles) else None
    return check


def line_with(screen, needle):
    for line in screen.splitlines():
        if needle in line:
            return line
    return None


def actions(path):
    with open(path) as f:
        return [l.strip() for l in f if l.startswith("action ")]


def main():
    tmp = tempfile.mkdtemp(prefix="skywave-console-")
    alog = os.path.join(tmp, "actions.log")
    errlog = os.path.join(tmp, "console.err")
    fake = subprocess.Popen([FAKE, tmp, alog], stdout=subprocess.PIPE,
                            stderr=open(os.path.join(tmp, "fake.err"), "w"),
                            text=True)
    t = Tmux("skywave-test-%d" % os.getpid())
    ok = False
    try:
        ready = fake.stdout.readline()
        assert ready.startswith("ready"), ready
        sock = os.path.join(tmp, "control.sock")
        cmd = "%s console --socket %s --interval 500 2>%s" % (
            tool(), sock, errlog)
        t.run("new-session", "-d", "-s", "main", "-x", "80", "-y", "24",
              "-e", "LANG=C.UTF-8", cmd)

        # link state, on-air transfer, deadline at risk
        s = wait_for("first screen", screen_has(t, "LINKS (2, 1 down)",
                                                "ON AIR", "kB / 60.0 kB"))
        assert re.search(r"hf1\s+SENDING", s), s
        assert re.search(r"vhf2\s+DOWN", s), s
        risk = line_with(s, RISK[:12])
        assert risk and "LATE" in risk and "redirect to duty@" in risk, s
        assert s.splitlines()[line_index(s, "DEADLINES AT RISK") + 1] \
            == risk
        print(s)

        # the progress bar moves: bytes and '#' both grow
        def bar(screen):
            m = re.search(r"\[(#*)\.*\]\s+(\d+)%\s+([\d.]+ k?B) / 60.0 kB",
                          screen)
            assert m, screen
            return m.group(1), m.group(3)
        b1 = bar(t.capture())
        time.sleep(2.5)
        b2 = bar(t.capture())
        print("bar", b1, "->", b2)
        assert b1[1] != b2[1], (b1, b2)
        assert len(b2[0]) != len(b1[0]), (b1, b2)

        # hold the on-air message: Tab to ON AIR, h, then n declines
        t.keys("Tab", "h")
        wait_for("hold prompt", screen_has(t, "Hold message %s? (y/n)" %
                                           ONAIR))
        t.keys("n")
        wait_for("declined", screen_has(t, "hold cancelled"))
        assert actions(alog) == [], actions(alog)
        t.keys("h")
        wait_for("hold prompt", screen_has(t, "Hold message"))
        t.keys("y")
        s = wait_for("held", screen_has(t, "held message", "ON AIR  nothing"))
        assert actions(alog) == [
            "action op=hold id=%s link=- route=- uid=%d" % (
                ONAIR, os.getuid())], actions(alog)
        held = s[s.index("HELD"):]
        assert ONAIR[:12] in held, s
        print(s)

        # release it from the HELD panel (second item)
        t.keys("Tab", "Tab", "j", "r")
        wait_for("release prompt", screen_has(
            t, "Release message %s? (y/n)" % ONAIR))
        t.keys("y")
        s = wait_for("released", screen_has(t, "released message"))
        wait_for("back on air", lambda: "ON AIR  nothing" not in t.capture()
                 and "kB / 60.0 kB" in t.capture())
        assert actions(alog)[-1] == \
            "action op=release id=%s link=- route=- uid=%d" % (
                ONAIR, os.getuid()), actions(alog)

        # take link hf1 down and up again (d/u act on the links panel)
        t.keys("d")
        wait_for("down prompt", screen_has(t, "Take link hf1 DOWN? (y/n)"))
        t.keys("y")
        wait_for("hf1 down", lambda: re.search(r"hf1\s+DOWN", t.capture()))
        t.keys("u", "y")
        wait_for("hf1 up", lambda: re.search(r"hf1\s+SENDING", t.capture()))
        assert actions(alog)[-2:] == [
            "action op=link_down id=- link=hf1 route=- uid=%d" % os.getuid(),
            "action op=link_up id=- link=hf1 route=- uid=%d" % os.getuid()]

        # requeue the message at risk to another route (typed in), then
        # cancel it (the prompt says the sender gets a DSN)
        t.keys("Tab", "Tab", "Tab", "R")
        wait_for("route prompt", screen_has(t, "Requeue %s to route" % RISK))
        t.keys("-l", "link:vhf3")
        t.keys("BSpace", "2", "Enter")
        wait_for("requeue confirm", screen_has(
            t, "Requeue %s to link:vhf2? (y/n)" % RISK))
        t.keys("y")
        wait_for("requeued", screen_has(t, "requeued to link:vhf2"))
        t.keys("c")
        wait_for("cancel prompt", screen_has(
            t, "Cancel message %s; the sender gets a DSN? (y/n)" % RISK))
        t.keys("y")
        wait_for("cancelled", screen_has(t, "cancelled; DSN sent"))
        assert actions(alog)[-2:] == [
            "action op=requeue id=%s link=- route=link:vhf2 uid=%d" % (
                RISK, os.getuid()),
            "action op=cancel id=%s link=- route=- uid=%d" % (
                RISK, os.getuid())], actions(alog)

        # a large terminal: whole ids, one row per transfer
        t.run("resize-window", "-t", "main", "-x", "200", "-y", "60")
        s = wait_for("wide", lambda: (lambda c: c if ONAIR in c and
                     "ETA" in (line_with(c, ONAIR) or "") else None)(
                         t.capture()))
        assert max(len(l) for l in s.splitlines()) > 150, s
        assert len(s.splitlines()) >= 59 or s.count("\n") >= 20
        print(s)
        # and back to 80x24
        t.run("resize-window", "-t", "main", "-x", "80", "-y", "24")
        def narrow():
            c = t.capture()
            row = line_with(c, "P+2 hf1")
            return c if row and ONAIR[:12] in row and ONAIR not in row \
                else None
        s = wait_for("narrow", narrow)
        assert max(len(l) for l in s.splitlines()) <= 80, s
        assert "DEADLINES AT RISK" in s and "q quit" in s, s

        # the daemon goes away: the console says so and keeps the last
        # picture; when it is back, the console reconnects by itself
        fake.send_signal(signal.SIGTERM)
        fake.wait(timeout=10)
        wait_for("disconnected", screen_has(t, "DISCONNECTED", "LINKS"))
        fake = subprocess.Popen([FAKE, tmp, alog], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        assert fake.stdout.readline().startswith("ready")
        wait_for("reconnected", lambda: "DISCONNECTED" not in t.capture()
                 and "connected" in t.capture(), timeout=10)

        # colour on this terminal
        esc = t.capture(escapes=True)
        assert re.search(r"\x1b\[(3[1-6]|9[1-6])m", esc), repr(esc[:400])

        # q quits; the sanitizers said nothing
        t.keys("q")
        wait_for("exit", lambda: not t.alive())

        # monochrome: a vt100 has no colour, trouble shows as attributes
        t.run("new-session", "-d", "-s", "main", "-x", "80", "-y", "24",
              "-e", "LANG=C.UTF-8", "env TERM=vt100 " + cmd.replace(
                  "2>", "2>>"))
        wait_for("mono screen", screen_has(t, "LINKS (2, 1 down)",
                                           "DEADLINES AT RISK"))
        time.sleep(0.6)
        esc = t.capture(escapes=True)
        assert not re.search(r"\x1b\[(3[1-7]|9[1-7])m", esc), repr(esc)
        assert re.search(r"\x1b\[[0-9;]*[147]m", esc), repr(esc[:400])
        t.keys("q")
        wait_for("exit", lambda: not t.alive())
        with open(errlog) as f:
            err = f.read()
        assert "Sanitizer" not in err and "runtime error" not in err, err
        ok = True
    finally:
        t.kill()
        fake.send_signal(signal.SIGTERM)
        try:
            fake.wait(timeout=10)
        except subprocess.TimeoutExpired:
            fake.kill()
        if ok:
            assert fake.returncode == 0, fake.returncode
            shutil.rmtree(tmp)
        else:
            print("kept", tmp, file=sys.stderr)
    print("console tmux test: ok")


def line_index(screen, needle):
    for i, line in enumerate(screen.splitlines()):
        if needle in line:
            return i
    return -1


if __name__ == "__main__":
    main()
