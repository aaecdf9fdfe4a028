#!/usr/bin/env python3
"""Maildir delivery against real file-system faults, not injected ones.

In a private mount namespace (unshare -m) the test mounts a 64 KiB tmpfs:
  - a small message is delivered (file in new/, tmp/ empty);
  - a message larger than the space left is deferred with 4.3.1 (ENOSPC),
    and nothing partial is left in new/ or tmp/;
  - after a read-only remount, delivery is deferred with 4.3.0 (EROFS).
Skips (exit 77) without root or without unshare/mount namespaces.
"""
import os
import shutil
import subprocess
import sys
import tempfile

TOOL = os.path.join(os.environ.get("SKYWAVE_BUILD", "."),
                    "tests/deliver/deliver_tool")


def outer():
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        print("SKIP: needs root and unshare(1) for a private tmpfs")
        sys.exit(77)
    if subprocess.run(["unshare", "-m", "true"]).returncode != 0:
        print("SKIP: mount namespaces are not available here")
        sys.exit(77)
    r = subprocess.run(["unshare", "-m", sys.executable,
                        os.path.abspath(__file__), "--inner"], timeout=100)
    sys.exit(r.returncode)


def tool(maildir, msgfile):
    r = subprocess.run([TOOL, "--route", "*=maildir:" + maildir,
                        "--from", "a@x.test", "--rcpt", "b@y.test",
                        "--file", msgfile], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    out = r.stdout.decode()
    print(out, end="")
    if r.returncode != 0:
        print(r.stderr.decode())
        raise SystemExit("deliver_tool failed")
    return out


def files(d):
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def inner():
    failures = []

    def check(cond, what):
        print(("ok   " if cond else "FAIL ") + what)
        if not cond:
            failures.append(what)

    work = tempfile.mkdtemp(prefix="skywave-mdfault-")
    mnt = os.path.join(work, "mnt")
    os.makedirs(mnt)
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs",
                        mnt], check=True)
        small = os.path.join(work, "small")
        big = os.path.join(work, "big")
        with open(small, "w") as f:
            f.write("Subject: small\n\nhello\n")
        with open(big, "w") as f:
            f.write("Subject: big\n\n" + ("x" * 79 + "\n") * 2000)
        md = os.path.join(mnt, "Maildir")
        out = tool(md, small)
        check("action=delivered" in out, "small message delivered")
        check(len(files(md + "/new")) == 1, "one file in new/")
        out = tool(md, big)
        check("action=deferred" in out and "status=4.3.1" in out,
              "full disk: deferred 4.3.1")
        check(len(files(md + "/new")) == 1, "nothing partial in new/")
        check(files(md + "/tmp") == [], "tmp/ cleaned up")
        subprocess.run(["mount", "-o", "remount,ro", mnt], check=True)
        out = tool(md, small)
        check("action=deferred" in out and "status=4.3.0" in out,
              "read-only file system: deferred 4.3.0")
        check(len(files(md + "/new")) == 1, "still one file in new/")
    finally:
        subprocess.run(["umount", mnt])
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        print("FAILED: %d checks" % len(failures))
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--inner":
        inner()
    else:
        outer()
