#!/usr/bin/env python3
"""Crash test for the queue with the real process.

Starts tests/queue/queue_crashee (a stream of submits, each acknowledged on
stdout only from its commit callback), kills it with SIGKILL at a random
moment (a quarter of the kills anywhere from the start, including open and
recovery; the rest after a random number of acknowledged commits, so the
kills land in the commit stream however fast the machine is), and runs `queue_crashee verify` on what it acknowledged: every
acknowledged message must be present with an intact SHA-256 (or finished by
the crashee's own deliveries), nothing half-written may be visible, and the
queue must open (recovery, quick check) every time.

--kills N sets the number of kills; without it, 200, or 2000 when
SKYWAVE_LONG_TESTS is set. ctest runs 200 (test_queue_crash) and, when
configured with -DSKYWAVE_LONG_TESTS=ON, 2000 (test_queue_crash_long).
Prints the seed; repeat a run with SKYWAVE_SEED=<seed>.
"""
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

VERIFY_EVERY = 8


def acked_since(path, start):
    with open(path, "rb") as f:
        f.seek(start)
        return f.read().count(b"\n")


def main():
    build = os.environ.get("SKYWAVE_BUILD", ".")
    exe = os.path.join(build, "tests", "queue", "queue_crashee")
    kills = 2000 if os.environ.get("SKYWAVE_LONG_TESTS") else 200
    if len(sys.argv) > 2 and sys.argv[1] == "--kills":
        kills = int(sys.argv[2])
    seed = int(os.environ.get("SKYWAVE_SEED") or
               (int(time.time()) ^ (os.getpid() << 16)))
    print(f"crash_test: seed={seed} kills={kills} "
          f"(repeat with SKYWAVE_SEED={seed})", flush=True)
    rng = random.Random(seed)
    tmp = tempfile.mkdtemp(prefix="skywave-qcrash-")
    db = os.path.join(tmp, "queue.db")
    acks_total = 0
    appends_total = 0
    t0 = time.monotonic()
    try:
        ackfile = os.path.join(tmp, "acks.txt")
        open(ackfile, "wb").close()
        for i in range(kills):
            start = os.path.getsize(ackfile)
            with open(ackfile, "ab") as out:
                p = subprocess.Popen([exe, "run", db,
                                      str(rng.getrandbits(63))],
                                     stdout=out)
                if rng.random() < 0.25:
                    # anywhere from the start: during open and recovery
                    time.sleep(rng.uniform(0.0, 0.15))
                else:
                    # in the stream: after a random number of commits,
                    # whatever the machine's speed, then a little more
                    want = rng.randint(1, 8)
                    deadline = time.monotonic() + 3.0
                    while time.monotonic() < deadline:
                        if acked_since(ackfile, start) >= want:
                            break
                        time.sleep(0.002)
                    time.sleep(rng.uniform(0.0, 0.02))
                p.kill()
                p.wait()
            if p.returncode not in (-9, 0):
                print(f"crash_test: run {i}: crashee exited with "
                      f"{p.returncode} (seed={seed})")
                return 1
            # Verify after every few kills (and the last): the acks of
            # all runs since the previous check, each run having
            # restarted (and recovered) the queue the previous one left.
            if i % VERIFY_EVERY != VERIFY_EVERY - 1 and i != kills - 1:
                continue
            with open(ackfile, "rb") as f:
                data = f.read()
            # a torn last line was not acknowledged
            acks_total += data.count(b"\n") - data.count(b"\nO ") - \
                data.startswith(b"O ")
            appends_total += data.count(b"\nO ") + data.startswith(b"O ")
            v = subprocess.run([exe, "verify", db, ackfile],
                               capture_output=True, text=True)
            if v.returncode != 0:
                print(f"crash_test: kill {i}: verify FAILED (seed={seed})")
                print(v.stdout + v.stderr)
                return 1
            open(ackfile, "wb").close()
        print(f"crash_test: {kills} kills, {acks_total} acknowledged "
              f"messages all intact, {appends_total} acknowledged partial "
              f"appends kept, {time.monotonic() - t0:.1f} s")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
