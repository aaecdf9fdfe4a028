#!/usr/bin/env python3
"""What `cmake --install` gives an administrator: the programs, the manual
pages skywaved(8), skywave(1), skywave-sim(1) and skywave.conf(5) (which
groff formats without a warning), a systemd unit that passes
`systemd-analyze verify` and names the installed binary, and sysusers.d
and tmpfiles.d entries that create the user, groups and directories the
unit names."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
import gwharness as h  # noqa: E402


def run(*cmd, env=None):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                       env=env)
    assert r.returncode == 0, (cmd, r.stdout, r.stderr)
    return r.stdout + r.stderr


def main():
    top = tempfile.mkdtemp(prefix="skywave-pkg-")
    prefix = os.path.join(top, "usr")
    run("cmake", "--install", h.BUILD, "--prefix", prefix)
    for f in ("bin/skywaved", "bin/skywave", "bin/skywave-sim"):
        assert os.access(os.path.join(prefix, f), os.X_OK), f
    mans = ["share/man/man8/skywaved.8", "share/man/man1/skywave.1",
            "share/man/man1/skywave-sim.1", "share/man/man5/skywave.conf.5"]
    for m in mans:
        p = os.path.join(prefix, m)
        assert os.path.exists(p), m
        if shutil.which("groff"):
            out = run("groff", "-man", "-ww", "-z", p)
            assert out.strip() == "", (m, out)
    unit = os.path.join(prefix, "lib/systemd/system/skywaved.service")
    text = open(unit).read()
    assert "ExecStart=%s/bin/skywaved " % prefix in text, text
    env = dict(os.environ, MANPATH=os.path.join(prefix, "share/man"))
    out = run("systemd-analyze", "verify", unit, env=env)
    assert out.strip() == "", out

    sysusers = open(os.path.join(prefix, "lib/sysusers.d/skywave.conf")).read()
    tmpfiles = open(os.path.join(prefix, "lib/tmpfiles.d/skywave.conf")).read()
    user = re.search(r"^User=(\S+)", text, re.M).group(1)
    groups = [re.search(r"^Group=(\S+)", text, re.M).group(1)] + \
        re.search(r"^SupplementaryGroups=(.+)$", text, re.M).group(1).split()
    assert re.search(r"^u %s " % user, sysusers, re.M), sysusers
    for g in groups:
        if g == "dialout":  # the system's group; the user joins it
            assert re.search(r"^m %s dialout" % user, sysusers, re.M)
        else:
            assert re.search(r"^g %s " % g, sysusers, re.M) or \
                re.search(r"^m %s %s" % (user, g), sysusers, re.M), g
    state = re.search(r"^WorkingDirectory=(\S+)", text, re.M).group(1)
    assert re.search(r"^d %s \d+ %s " % (state, user), tmpfiles, re.M), \
        tmpfiles
    assert re.search(r"^d /etc/skywave ", tmpfiles, re.M), tmpfiles
    if shutil.which("systemd-sysusers"):
        out = run("systemd-sysusers", "--dry-run",
                  os.path.join(prefix, "lib/sysusers.d/skywave.conf"))
        assert "skywave" in out, out
    shutil.rmtree(top, ignore_errors=True)
    print("ok")


if __name__ == "__main__":
    main()
