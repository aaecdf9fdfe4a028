#!/usr/bin/env python3
"""`skywave status`, `skywave queue` and the action commands against a fake
daemon: output for people and for scripts (--json), exit codes (0 ok, 1
refused, 64 usage, 69 no daemon, 77 permission denied), and that each action
reaches the daemon with the caller's uid.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile

BUILD = os.environ.get("SKYWAVE_BUILD", os.getcwd())
FAKE = os.path.join(BUILD, "tests/control/ctl_fake_daemon")


def tool():
    sky = os.path.join(BUILD, "gateway/skywave")
    if os.path.exists(sky):
        out = subprocess.run([sky, "help"], capture_output=True, text=True)
        if re.search(r"^\s+status\s", out.stdout, re.M):
            return sky
    return os.path.join(BUILD, "tests/control/ctl_tool")


TOOL = tool()


def run(sock, *args, prefix=()):
    p = subprocess.run(list(prefix) + [TOOL] + list(args) +
                       ["--socket", sock], capture_output=True, text=True,
                       timeout=20)
    return p.returncode, p.stdout, p.stderr


def main():
    tmp = tempfile.mkdtemp(prefix="skywave-cli-")
    os.chmod(tmp, 0o755)
    alog = os.path.join(tmp, "actions.log")
    fake = subprocess.Popen([FAKE, tmp, alog], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    ok = False
    try:
        assert fake.stdout.readline().startswith("ready")
        sock = os.path.join(tmp, "control.sock")
        uid = os.getuid()

        rc, out, err = run(sock, "status")
        assert rc == 0, err
        assert "gateway alpha.test" in out, out
        assert re.search(r"^  hf1\s+sending\s+profile=pactor3", out, re.M)
        assert "on_miss=redirect to=duty@charlie.test" in out, out
        assert "link=vhf2 event=down" in out, out  # recent events

        rc, out, err = run(sock, "status", "--json")
        assert rc == 0, err
        st = json.loads(out)
        assert st["version"] == 1 and st["links"][0]["name"] == "hf1"
        assert st["links"][1]["state"] == "down"
        assert st["risk"][0]["slack_ms"] < 0

        rc, out, err = run(sock, "queue")
        assert rc == 0, err
        lines = out.strip().splitlines()
        assert lines[0].startswith("ID") and len(lines) == 4, out
        assert re.search(r"held\s+\+2", lines[3]), lines[3]
        rc, out, err = run(sock, "queue", "list", "--json", "--limit", "2")
        assert rc == 0 and len(json.loads(out)) == 2, out
        rc, out, err = run(sock, "queue", "show", "m1")
        assert rc == 0 and re.search(r"^route:\s+link:hf1$", out, re.M), out
        rc, out, err = run(sock, "queue", "show", "nosuch")
        assert rc == 1 and "no such message" in err, (rc, err)

        cases = [
            (("hold", "m1"), 0, "held message m1", "hold id=m1 link=-"),
            (("hold", "--link", "hf1"), 0, "held link hf1",
             "hold id=- link=hf1"),
            (("release", "--link", "hf1"), 0, "released link hf1",
             "release id=- link=hf1"),
            (("cancel", "m1"), 0, "cancelled; DSN sent to the sender",
             "cancel id=m1"),
            (("flush",), 0, "retrying now", "flush id=- link=-"),
            (("requeue", "m1", "link:vhf2"), 0, "requeued to link:vhf2",
             "requeue id=m1 link=- route=link:vhf2"),
            (("link", "down", "hf1"), 0, "link hf1 down",
             "link_down id=- link=hf1"),
            (("link", "up", "hf1"), 0, "link hf1 up",
             "link_up id=- link=hf1"),
            (("hold", "nosuch"), 1, "no such message", "hold id=nosuch"),
            (("hold",), 64, "usage", None),
            (("hold", "m1", "--link", "hf1"), 64, "usage", None),
            (("link", "sideways", "hf1"), 64, "usage", None),
            (("requeue", "m1"), 64, "usage", None),
            (("cancel", "--bogus"), 64, "unknown option", None),
        ]
        for args, want, text, logged in cases:
            before = open(alog).read().count("\n")
            rc, out, err = run(sock, *args)
            assert rc == want, (args, rc, out, err)
            assert text in (out if rc == 0 else err), (args, out, err)
            after = open(alog).read().splitlines()
            if logged:
                assert len(after) == before + 1, (args, after)
                assert after[-1].startswith("action op=" + logged), after[-1]
                assert after[-1].endswith("uid=%d" % uid), after[-1]
            else:
                assert len(after) == before, (args, after)

        rc, out, err = run(sock, "hold", "m1", "--json")
        assert rc == 0 and json.loads(out)["ok"] is True, out

        # no daemon there
        rc, out, err = run(os.path.join(tmp, "absent.sock"), "status")
        assert rc == 69 and "not running" in err, (rc, err)

        # the socket's permissions keep out users outside the group
        if os.getuid() == 0 and shutil.which("setpriv"):
            rc, out, err = run(sock, "status", prefix=(
                "setpriv", "--reuid=65534", "--regid=65534",
                "--clear-groups"))
            assert rc == 77 and "permission denied" in err, (rc, err)
        else:
            print("skipped the permission check (needs root and setpriv)")
        ok = True
    finally:
        fake.send_signal(signal.SIGTERM)
        fake.wait(timeout=10)
        if ok:
            shutil.rmtree(tmp)
    print("cli test: ok")


if __name__ == "__main__":
    main()
