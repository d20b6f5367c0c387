"""tests/pycheck.py: what check.h is to the C tests, for the python ones: count checks, say each
failure on stderr in one line, and end with "N passed, M failed" (exit status 1 on any failure);
and the clean environment a test runs arcalloc in. Owns only its two counters; never runs a
program or reads a file.

    sys.path.insert(0, <tests/>); from pycheck import check, clean_env, done
"""
import os
import sys

_counts = {"passed": 0, "failed": 0}


def check(cond, what):
    """Counts one check; a failed one prints `FAIL: what`. Returns cond, so a caller can stop
    early on a check the rest depends on."""
    if cond:
        _counts["passed"] += 1
    else:
        _counts["failed"] += 1
        print("FAIL: " + what, file=sys.stderr)
    return cond


def counts():
    """(passed, failed) so far."""
    return _counts["passed"], _counts["failed"]


def done(prefix=""):
    """Prints the closing line (after `prefix`, when given, a line of its own with the same
    figures) and returns the exit status."""
    passed, failed = counts()
    if prefix:
        print("%s: %d passed, %d failed" % (prefix, passed, failed))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


def clean_env(**extra):
    """The caller's environment without any ARCALLOC_* setting or LD_PRELOAD, plus `extra`: a
    test's runs see only the settings it gives them."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("ARCALLOC_") and k != "LD_PRELOAD"}
    env.update(extra)
    return env
