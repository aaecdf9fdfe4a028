#!/usr/bin/env python3
"""The gateway's include arrows (cmake/layers.cmake, table in
gateway/CMakeLists.txt): the real tree passes; a role that includes a
header of a role it may not use, a folder that is not a role, or a role
that includes the daemon's own headers each fail with a message naming
the file and the arrow."""
import os
import subprocess
import sys
import tempfile

CMAKE, LAYERS = sys.argv[1], sys.argv[2].replace("|", ";")
SRC = os.environ["SKYWAVE_SRC"]
SCRIPT = os.path.join(SRC, "cmake", "layers.cmake")


def check(tree):
    r = subprocess.run([CMAKE, "-DDIR=" + tree, "-DLAYERS=" + LAYERS,
                        "-P", SCRIPT], capture_output=True, text=True,
                       timeout=30)
    return r.returncode, r.stdout + r.stderr


def tree(files):
    d = tempfile.mkdtemp(prefix="layers-")
    for path, text in files.items():
        full = os.path.join(d, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(text)
    return d


failures = []


def expect(name, ok, out, want=None):
    if not ok or (want and want not in out):
        failures.append("%s: %s" % (name, out.strip()[:400]))


rc, out = check(os.path.join(SRC, "gateway"))
expect("real tree passes", rc == 0, out)

good = {
    "mail/route.h": "#include \"common/err.h\"\n",
    "sched/sched.c": "#include \"gateway/mail/route.h\"\n",
    "daemon.c": "#include \"gateway/sched/sched.h\"\n#include \"gateway/cli/x.h\"\n",
}
rc, out = check(tree(good))
expect("allowed arrows pass", rc == 0, out)

rc, out = check(tree(dict(good, **{
    "mail/intake.c": "#include \"gateway/sched/planner.h\"\n"})))
expect("mail -> sched fails", rc != 0, out, "mail -> sched")
expect("the file is named", rc != 0, out, "gateway/mail/intake.c")

rc, out = check(tree(dict(good, **{
    "air/airlink.h": "#  include \"gateway/config.h\"\n"})))
expect("a role including the daemon's header fails", rc != 0, out,
       "air -> ROOT")

rc, out = check(tree(dict(good, **{"misc/x.c": "int x;\n"})))
expect("an undeclared folder fails", rc != 0, out, "not a declared role")

rc, out = check(tree(dict(good, **{
    "cli/console.c": "#include \"gateway/deliver/dispatch.h\"\n"})))
expect("cli -> deliver fails", rc != 0, out, "cli -> deliver")

if failures:
    print("FAIL:\n  " + "\n  ".join(failures))
    sys.exit(1)
print("ok: include arrows hold and wrong-way includes are refused")
