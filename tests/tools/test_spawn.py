#!/usr/bin/env python3
"""test_spawn.py: bench/run's launcher (bench/spawn.c). A program's figures are the program's
own: a tiny program reports a small peak RSS and few page faults whether or not the launcher
warmed memory first (--warm-mb writes and frees that memory before the fork, so none of it may
show in the program's rusage); a program that touches 64 MiB reports at least that; the exit
status and the NAME=VALUE environment reach the report and the program."""
import argparse
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True
from pycheck import check, clean_env, done  # noqa: E402

# Far below the 256 MiB warmed: a program of a few MiB (python3 itself) stays under it.
SMALL_RSS_KB = 64 * 1024
# 256 MiB of 4 KiB pages would be 65 536 faults; python3 starting takes a few thousand.
SMALL_FAULTS = 20000
WARM_MB = 256
TOUCH_MB = 64


def run(spawn, args, program):
    """Runs python3 -c program under the launcher; (report figures, program's stdout), or
    (None, why) when the launcher itself failed."""
    with tempfile.TemporaryDirectory() as d:
        report = os.path.join(d, "report")
        r = subprocess.run([spawn] + args + [report, "60", "-", "ARC_SPAWN_TEST=seen",
                                             sys.executable, "-c", program],
                           capture_output=True, text=True, check=False, env=clean_env())
        if r.returncode != 0:
            return None, "spawn exited %d: %s" % (r.returncode, r.stderr.strip())
        with open(report) as f:
            rep = dict(kv.split("=", 1) for kv in f.read().split())
    return {k: float(v) for k, v in rep.items()}, r.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spawn", required=True)
    spawn = ap.parse_args().spawn
    tiny = "import os; print(os.environ.get('ARC_SPAWN_TEST'))"
    for args in ([], ["--warm-mb=%d" % WARM_MB]):
        label = " ".join(args) or "no warm-up"
        rep, out = run(spawn, args, tiny)
        if not check(rep is not None, "%s: %s" % (label, out)):
            continue
        check(out.strip() == "seen", "%s: the program did not get ARC_SPAWN_TEST (printed %r)"
              % (label, out))
        check(rep["status"] == 0, "%s: status %d" % (label, rep["status"]))
        check(0 < rep["maxrss_kb"] < SMALL_RSS_KB, "%s: peak RSS %d KiB, want below %d"
              % (label, rep["maxrss_kb"], SMALL_RSS_KB))
        check(0 < rep["minflt"] < SMALL_FAULTS, "%s: %d faults, want below %d"
              % (label, rep["minflt"], SMALL_FAULTS))
        print("%s: peak RSS %d KiB, %d faults" % (label, rep["maxrss_kb"], rep["minflt"]))
    big = "b = bytearray(%d << 20)\nfor i in range(0, len(b), 4096): b[i] = 1" % TOUCH_MB
    rep, why = run(spawn, ["--warm-mb=%d" % WARM_MB], big)
    if check(rep is not None, "a %d MiB program: %s" % (TOUCH_MB, why)):
        check(rep["maxrss_kb"] >= TOUCH_MB * 1024, "a program that touched %d MiB reported a "
              "peak RSS of %d KiB" % (TOUCH_MB, rep["maxrss_kb"]))
    rep, why = run(spawn, [], "import sys; sys.exit(3)")
    if check(rep is not None, "exit 3: %s" % why):
        status = int(rep["status"])
        check(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 3,
              "exit status 3 reported as wait status %d" % status)
    return done("bench_spawn")


if __name__ == "__main__":
    sys.exit(main())
