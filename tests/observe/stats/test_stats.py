#!/usr/bin/env python3
"""test_stats.py: arcalloc's statistics and configuration seen from outside, the way a user
sees them. Runs test_stats (linked with -larcalloc) in its driver modes under one backend and
checks, with python's own parsers:

* ARCALLOC_STATS=json + ARCALLOC_STATS_FILE=.../stats.%p.json: one file named by the pid, one
  JSON object whose figures match the work the program says it did;
* ARCALLOC_STATS=1: the text report on stderr, the same figure names and values' invariants;
* ARCALLOC_STATS_SIGNAL=USR2: a running multi-threaded program dumps on each signal while its
  threads allocate, and still finishes correctly;
* ARCALLOC_CONF, the precedence of ARCALLOC_* over it, and the one-line warnings for unknown
  variables, unknown keys and bad values; ARCALLOC_VERBOSE=1;
* malloc_info()'s XML (xml.etree);
* no silent gaps: an option asked for in a build without it (ARCALLOC_PROF=1 without libunwind,
  ARCALLOC_STATS with -Dstats=false) says so in one line, a report file that cannot be written
  names itself and the report goes to stderr, even from a program that closes its stderr at exit
  (coreutils' ls under LD_PRELOAD), and ARCALLOC_STATS_FILE alone says that nothing writes it;
* the timeline (ARCALLOC_STATS_INTERVAL, ARCALLOC_TIMELINE_FILE): one JSON line per interval
  from a running multi-threaded program, and its last line at exit.

Ends with "N passed, M failed"; exit status 1 on any failure.
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from pycheck import check, done  # noqa: E402
from pycheck import clean_env as pycheck_clean_env  # noqa: E402

# A cross build's emulator (meson sets ARC_TEST_WRAPPER): the command prefix of every run.
WRAPPER = os.environ.get("ARC_TEST_WRAPPER", "").split()

# Seconds one run may take, and the wait for a signal dump to land in its file.
RUN_TIMEOUT = 60
DUMP_WAIT = 15
# Signal dumps taken from the running program.
SIGNAL_DUMPS = 3
# Seconds the timeline test lets its program run.
TIMELINE_RUN = 1.0

# Every figure of the report (stats.h: ARC_HEAP_COUNTERS and ARC_PROCESS_FIGURES).
COUNTERS = """requested_bytes allocated_bytes freed_bytes medium_allocs medium_frees large_allocs
large_frees remote_frees_sent remote_frees_received segments_added segments_released
spans_added spans_released heap_reuses holes_made holes_returned holes_wasted holes_joined""".split()
FIGURES = """stats_enabled allocs frees live_bytes peak_live_bytes cached_bytes byte_total_bytes
byte_used_bytes byte_available_bytes page_total_pages page_used_pages page_available_pages
page_peak_pages address_space_bytes segments segment_bytes large_live large_bytes
dirty_bytes decayed_bytes hole_wait_bytes purger_thread committed_bytes fragmentation_bytes resident_bytes peak_resident_bytes returned_bytes
madvise_calls mmap_calls munmap_calls mremap_calls hugepage_calls threads_live threads_started heaps_created heaps_waiting
shared_heaps_live""".split()
NAMES = COUNTERS + FIGURES



# The line a build without counters prints once for ARCALLOC_STATS or ARCALLOC_STATS_INTERVAL
# (test_gaps checks it); the other tests read stderr without it.
NO_COUNTERS = "this build has no statistics counters (-Dstats=false)"


def without_gap_lines(text):
    return "".join(l for l in text.splitlines(True) if NO_COUNTERS not in l)


def clean_env(**extra):
    """pycheck's clean environment, but keeping ARCALLOC_SECURE (a secure build runs these checks
    with secure mode off: tests/observe/stats/meson.build), plus `extra`."""
    keep = {k: os.environ[k] for k in ("ARCALLOC_SECURE",) if k in os.environ}
    return pycheck_clean_env(**dict(keep, **extra))


def run(prog, mode, env, stdin=None, raw=False):
    p = subprocess.run(WRAPPER + [prog, mode], env=env, input=stdin, capture_output=True,
                       text=True, timeout=RUN_TIMEOUT)
    if not raw:
        p.stderr = without_gap_lines(p.stderr)
    return p


# A dump of a running program reads its figures one after another while other threads allocate,
# free and purge: a page run on its way between a dirty cache and the page allocator may be
# counted by one figure and not yet by the other. Two segments or runs of 4 MiB in flight bound it.
RUNNING_SLACK = 8 << 20


def check_report(r, what, backend, running=False):
    """Invariants every report keeps, whatever the program did (a dump of a running program:
    within RUNNING_SLACK where two figures are read apart)."""
    check(set(NAMES) <= set(r), what + ": every figure present (missing: %s)"
          % sorted(set(NAMES) - set(r)))
    check(all(isinstance(r.get(n), int) and r[n] >= 0 for n in NAMES),
          what + ": figures are non-negative integers")
    check(r.get("backend") == backend, what + ": backend %r" % r.get("backend"))
    if not set(NAMES) <= set(r):
        return
    check(r["committed_bytes"] == r["segment_bytes"] + r["large_bytes"] + r["dirty_bytes"],
          what + ": committed = segments + large + dirty")
    slack = RUNNING_SLACK if running else 0
    check(r["page_used_pages"] * 4096 + slack >= r["committed_bytes"],
          what + ": the page allocator holds every committed byte (%d pages, %d committed)"
          % (r["page_used_pages"], r["committed_bytes"]))
    check(r["purger_thread"] in (0, 1), what + ": purger_thread is 0 or 1")
    check(r["fragmentation_bytes"] == max(0, r["committed_bytes"] - r["live_bytes"]),
          what + ": fragmentation = committed - live")
    check(r["page_used_pages"] + r["page_available_pages"] == r["page_total_pages"],
          what + ": pages add up")
    if r["stats_enabled"]:  # without counters there is no peak (0)
        check(r["peak_live_bytes"] >= r["live_bytes"], what + ": peak >= live")
    else:
        check(r["peak_live_bytes"] == 0 and r["requested_bytes"] == 0,
              what + ": no counters, no peak")
    check(r["peak_resident_bytes"] >= r["resident_bytes"] > 0, what + ": RSS figures")
    classes = r.get("size_classes", [])
    check(all(c["live"] == c["allocs"] - c["frees"] and c["size"] % 16 == 0 for c in classes),
          what + ": size classes consistent")
    if r["stats_enabled"]:
        small_allocs = sum(c["allocs"] for c in classes)
        check(r["allocs"] == small_allocs + r["medium_allocs"] + r["large_allocs"],
              what + ": allocs = classes + medium + large")
        check(r["live_bytes"] == r["allocated_bytes"] - r["freed_bytes"],
              what + ": live = allocated - freed")
        check(r["requested_bytes"] <= r["allocated_bytes"] + 16 * r["allocs"],
              what + ": requested close to allocated")


def check_work(r, exp, what):
    """The figures against what `test_stats work` says it left live at exit."""
    check(r["pid"] == exp["pid"], what + ": pid")
    check(r["large_live"] == exp["large_live"],
          what + ": large_live %d, expected %d" % (r["large_live"], exp["large_live"]))
    check(r["large_bytes"] == exp["large_bytes"], what + ": large_bytes")
    check(r["threads_live"] == 1, what + ": threads_live %d" % r["threads_live"])
    if not r["stats_enabled"]:
        return
    check(r["threads_started"] == 1 + exp["threads"],
          what + ": threads_started %d" % r["threads_started"])
    check(r["remote_frees_sent"] >= exp["remote_sent_min"], what + ": remote frees sent")
    check(r["remote_frees_received"] <= r["remote_frees_sent"], what + ": received <= sent")
    check(r["live_bytes"] >= exp["live_min"], what + ": live_bytes >= what the program kept")
    check(r["large_allocs"] >= exp["large_live"], what + ": large_allocs")
    cls = [c for c in r["size_classes"] if c["size"] == exp["class"]]
    check(len(cls) == 1 and cls[0]["live"] >= exp["class_live_min"],
          what + ": size class %d live >= %d" % (exp["class"], exp["class_live_min"]))


def parse_text(stderr):
    """name -> value from the text report's figure lines ("  name   value  ...")."""
    out = {}
    for line in stderr.splitlines():
        m = re.match(r"^  ([a-z_]+) +(\d+)(?:\s|$)", line)
        if m:
            out[m.group(1)] = int(m.group(2))
    return out


def test_json_and_text(prog, backend, work):
    # JSON to a file named by the pid.
    pattern = str(work / "stats.%p.json")
    p = run(prog, "work", clean_env(ARCALLOC_BACKEND=backend, ARCALLOC_STATS="json",
                                    ARCALLOC_STATS_FILE=pattern))
    check(p.returncode == 0, "work (json) exit status %d: %s" % (p.returncode, p.stderr[-500:]))
    exp = json.loads(p.stdout.strip().splitlines()[-1])
    path = work / ("stats.%d.json" % exp["pid"])
    if check(path.exists(), "ARCALLOC_STATS_FILE with %%p made %s" % path):
        lines = path.read_text().splitlines()
        check(len(lines) == 1, "one JSON object at exit, got %d lines" % len(lines))
        r = json.loads(lines[0])
        check_report(r, "json", backend)
        check_work(r, exp, "json")
    check(p.stderr == "", "nothing on stderr when the report goes to a file: %r" % p.stderr[:200])

    # The text report on stderr: the same names, the same figures for the same work.
    p = run(prog, "work", clean_env(ARCALLOC_BACKEND=backend, ARCALLOC_STATS="1"))
    check(p.returncode == 0, "work (text) exit status")
    exp = json.loads(p.stdout.strip().splitlines()[-1])
    check(p.stderr.startswith("arcalloc statistics: pid %d, backend %s" % (exp["pid"], backend)),
          "text report header: %r" % p.stderr[:80])
    t = parse_text(p.stderr)
    check(set(t) == set(NAMES), "text report names == JSON names (diff %s)"
          % sorted(set(t) ^ set(NAMES)))
    if set(NAMES) <= set(t):
        t["pid"] = exp["pid"]
        t["backend"] = backend
        t["size_classes"] = []
        check(t["large_live"] == exp["large_live"] and t["threads_live"] == 1,
              "text: large_live and threads_live")
        check(t["committed_bytes"] == t["segment_bytes"] + t["large_bytes"], "text: committed")
        if t["stats_enabled"]:
            check(t["threads_started"] == 1 + exp["threads"], "text: threads_started")
            check(t["live_bytes"] >= exp["live_min"], "text: live_bytes")

    # ARCALLOC_CONF=stats:json gives the same object on stderr.
    p = run(prog, "work", clean_env(ARCALLOC_BACKEND=backend, ARCALLOC_CONF="stats:json"))
    exp = json.loads(p.stdout.strip().splitlines()[-1])
    try:
        r = json.loads(p.stderr.strip().splitlines()[-1])
        check_report(r, "conf json", backend)
        check_work(r, exp, "conf json")
    except (ValueError, IndexError) as e:
        check(False, "ARCALLOC_CONF=stats:json: no JSON on stderr (%s): %r" % (e, p.stderr[:300]))

    # A file that cannot be opened: one warning naming it, and the report on stderr instead.
    p = run(prog, "work", clean_env(ARCALLOC_BACKEND=backend, ARCALLOC_STATS="json",
                                    ARCALLOC_STATS_FILE="/nonexistent-dir/stats.%p"))
    exp = json.loads(p.stdout.strip().splitlines()[-1])
    lines = p.stderr.strip().splitlines()
    check(len(lines) == 2 and "ARCALLOC_STATS_FILE" in lines[0]
          and "/nonexistent-dir/stats.%d" % exp["pid"] in lines[0] and "stderr" in lines[0]
          and lines[1].startswith("{"),
          "unopenable ARCALLOC_STATS_FILE: warning naming it + report on stderr: %r"
          % p.stderr[:300])


def read_dumps(path):
    """The complete JSON lines of a dump file so far."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.split("\n")[:-1] if line]


def test_signal(prog, backend, work):
    pattern = str(work / "signal.%p.json")
    env = clean_env(ARCALLOC_BACKEND=backend, ARCALLOC_STATS="json",
                    ARCALLOC_STATS_FILE=pattern, ARCALLOC_STATS_SIGNAL="USR2")
    proc = subprocess.Popen(WRAPPER + [prog, "signal"], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        hello = json.loads(proc.stdout.readline())
        path = work / ("signal.%d.json" % hello["pid"])
        dumps = []
        for i in range(SIGNAL_DUMPS):
            time.sleep(0.2)  # the threads are allocating meanwhile
            os.kill(proc.pid, signal.SIGUSR2)
            deadline = time.monotonic() + DUMP_WAIT
            while len(dumps) <= i and time.monotonic() < deadline:
                time.sleep(0.05)
                dumps = read_dumps(path)
            check(len(dumps) == i + 1, "signal %d: dump arrived (%d in the file)"
                  % (i + 1, len(dumps)))
        for i, r in enumerate(dumps):
            check_report(r, "signal dump %d" % (i + 1), backend, running=True)
            check(r["pid"] == hello["pid"], "signal dump: pid")
            check(r["threads_live"] == 1 + hello["threads"],
                  "signal dump %d: threads_live %d while %d threads run"
                  % (i + 1, r["threads_live"], 1 + hello["threads"]))
        if len(dumps) >= 2 and dumps[0]["stats_enabled"]:
            check(dumps[-1]["allocs"] > dumps[0]["allocs"],
                  "the threads kept allocating between dumps")
        out, err = proc.communicate("stop\n", timeout=RUN_TIMEOUT)
    except Exception:
        proc.kill()
        proc.communicate()
        raise
    check(proc.returncode == 0, "signal program finished correctly (status %d, %r)"
          % (proc.returncode, err[-300:]))
    check(json.loads(out.strip().splitlines()[-1]).get("corrupt") == 0, "no block corrupted")
    final = read_dumps(path)
    check(len(final) == SIGNAL_DUMPS + 1, "signal dumps + the exit dump: %d" % len(final))
    if final:
        check(final[-1]["threads_live"] == 1, "exit dump: threads joined")

    # The signal alone (no ARCALLOC_STATS, SIG prefix): a text dump on stderr.
    env = clean_env(ARCALLOC_BACKEND=backend, ARCALLOC_STATS_SIGNAL="SIGUSR1")
    proc = subprocess.Popen(WRAPPER + [prog, "signal"], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.readline()
    time.sleep(0.2)
    os.kill(proc.pid, signal.SIGUSR1)
    time.sleep(1.0)
    out, err = proc.communicate("stop\n", timeout=RUN_TIMEOUT)
    check(proc.returncode == 0 and err.count("arcalloc statistics: pid") == 1,
          "SIGUSR1 with ARCALLOC_STATS unset: one text dump, program fine (%r)" % err[:200])


def warning_lines(stderr):
    return [l for l in stderr.splitlines() if l.startswith("arcalloc: warning: ")]


def test_conf(prog, backend):
    # Precedence: default < ARCALLOC_CONF < ARCALLOC_*.
    other = {"tlsf": "buddy", "buddy": "slab", "slab": "tlsf"}[backend]
    p = run(prog, "child", clean_env(ARCALLOC_CONF="backend:" + other))
    check(p.stdout.strip() == other and p.stderr == "", "ARCALLOC_CONF backend:%s" % other)
    p = run(prog, "child", clean_env(ARCALLOC_CONF="backend:" + other, ARCALLOC_BACKEND=backend))
    check(p.stdout.strip() == backend, "ARCALLOC_BACKEND wins over ARCALLOC_CONF")
    p = run(prog, "child", clean_env(ARCALLOC_CONF="prof_sample:64k, backend=%s ,,stats:0" % other))
    check(p.stdout.strip() == other and p.stderr == "",
          "key=value, spaces and empty entries: %r" % p.stderr)

    cases = [
        # (environment, words the one warning line must hold)
        ({"ARCALLOC_STATZ": "1"}, ["unknown variable ARCALLOC_STATZ", "ARCALLOC_STATS,",
                                   "ARCALLOC_CONF"]),
        ({"ARCALLOC_CONF": "statz:1"}, ["ARCALLOC_CONF", "unknown key \"statz\"", "stats,"]),
        ({"ARCALLOC_CONF": "stats"}, ["ARCALLOC_CONF", "not key:value", "\"stats\""]),
        ({"ARCALLOC_STATS": "xml"}, ["ARCALLOC_STATS", "\"xml\"", "0, 1, text, json"]),
        ({"ARCALLOC_CONF": "prof_sample:12q"}, ["ARCALLOC_CONF prof_sample", "\"12q\"",
                                               "k, m or g"]),
        ({"ARCALLOC_PROF_SAMPLE": "0"}, ["ARCALLOC_PROF_SAMPLE", "\"0\""]),
        ({"ARCALLOC_STATS_SIGNAL": "KILL"}, ["ARCALLOC_STATS_SIGNAL", "\"KILL\"", "USR2"]),
        ({"ARCALLOC_VERBOSE": "maybe"}, ["ARCALLOC_VERBOSE", "\"maybe\"", "0, 1"]),
        ({"ARCALLOC_BACKEND": "bogus"}, ["ARCALLOC_BACKEND", "\"bogus\"", "tlsf, buddy, slab"]),
        ({"ARCALLOC_GUARDS": "auto"}, ["ARCALLOC_GUARDS", "\"auto\"", "mprotect, markers"]),
    ]
    for env, words in cases:
        p = run(prog, "child", clean_env(**env))
        w = warning_lines(p.stderr)
        check(p.returncode == 0 and len(w) == 1 and p.stderr.count("\n") == 1
              and all(x in w[0] for x in words),
              "%s: one warning naming %s, got %r" % (env, words, p.stderr))
    # A bad value keeps what the option had: here the default backend.
    p = run(prog, "child", clean_env(ARCALLOC_BACKEND="bogus"))
    check(p.stdout.strip() == run(prog, "child", clean_env()).stdout.strip(),
          "bad ARCALLOC_BACKEND keeps the build default")


def test_verbose(prog, backend):
    p = run(prog, "child", clean_env(ARCALLOC_VERBOSE="1", ARCALLOC_STATS="json",
                                     ARCALLOC_CONF="prof_sample:64k,backend:" + backend,
                                     ARCALLOC_STATS_FILE=os.devnull))
    lines = p.stderr.splitlines()
    check(len(lines) >= 9 and lines[0].startswith("arcalloc: configuration ("),
          "ARCALLOC_VERBOSE header: %r" % p.stderr[:200])
    conf = {}
    for l in lines[1:]:
        m = re.match(r"^arcalloc:   (ARCALLOC_[A-Z_]+)=(.*) \(([a-zA-Z_ ]+)\)$", l)
        if m:
            conf[m.group(1)] = (m.group(2), m.group(3))
    expect = {
        "ARCALLOC_BACKEND": (backend, "ARCALLOC_CONF"),
        "ARCALLOC_STATS": ("json", "environment"),
        "ARCALLOC_STATS_FILE": (os.devnull, "environment"),
        "ARCALLOC_STATS_SIGNAL": ("", "unset"),
        "ARCALLOC_PROF_SAMPLE": ("64k", "ARCALLOC_CONF"),
        "ARCALLOC_PROF_FILE": ("arcalloc-prof.%p.folded", "default"),
        "ARCALLOC_VERBOSE": ("1", "environment"),
    }
    for name, value in expect.items():
        check(conf.get(name) == value, "verbose %s: %r, expected %r"
              % (name, conf.get(name), value))
    p = run(prog, "child", clean_env(ARCALLOC_VERBOSE="1"))
    check("arcalloc:   ARCALLOC_BACKEND=" in p.stderr and "(build option)" in p.stderr,
          "verbose: the backend's default is the build option")


def test_malloc_info(prog, backend):
    p = run(prog, "info", clean_env(ARCALLOC_BACKEND=backend))
    check(p.returncode == 0, "info mode exit status %d" % p.returncode)
    exp = json.loads(p.stderr.strip().splitlines()[-1])
    try:
        root = ET.fromstring(p.stdout)
    except ET.ParseError as e:
        check(False, "malloc_info XML does not parse: %s" % e)
        return
    check(root.tag == "malloc" and root.get("version") == "1", "malloc_info root element")
    heaps = root.findall("heap")
    check(len(heaps) >= 1, "malloc_info: at least one <heap>")
    cached = 0
    for h in heaps:
        check(h.get("backend") == backend, "heap backend %r" % h.get("backend"))
        for s in h.find("sizes").findall("size"):
            check(int(s.get("total")) == int(s.get("count")) * int(s.get("from")),
                  "size element: total = count * size")
            if int(s.get("from")) == exp["cached_size"]:
                cached += int(s.get("count"))
        for t in ("fast", "rest"):
            check(h.find("total[@type='%s']" % t) is not None, "heap total type=%s" % t)
    check(cached >= exp["cached_min"], "cached blocks of %d bytes: %d, expected >= %d"
          % (exp["cached_size"], cached, exp["cached_min"]))
    mmap = root.find("total[@type='mmap']")
    check(mmap is not None and int(mmap.get("count")) == exp["large_live"]
          and int(mmap.get("size")) == exp["large_bytes"], "total type=mmap: the large blocks")
    fast = root.find("total[@type='fast']")
    check(fast is not None and int(fast.get("size")) >= exp["cached_min"] * exp["cached_size"],
          "total type=fast: the cached blocks")
    for t in ("current", "max"):
        check(root.find("system[@type='%s']" % t) is not None, "system type=%s" % t)
    arc = root.find("arcalloc")
    check(arc is not None and arc.get("backend") == exp["backend"] == backend,
          "<arcalloc backend=...>")


def test_gaps(prog, backend, lib, stats_built, prof_built, preload_system=True):
    """An option asked for but not built in, and reports that cannot go where they were asked."""
    base = clean_env(ARCALLOC_BACKEND=backend)
    # Heap profiling asked for, by its variable and by ARCALLOC_CONF: one line when the build has
    # no profiler, nothing when it has one.
    for extra, quoted in (({"ARCALLOC_PROF": "1"}, "ARCALLOC_PROF=1"),
                          ({"ARCALLOC_CONF": "prof:1"}, "ARCALLOC_CONF prof:1")):
        env = dict(base, ARCALLOC_PROF_FILE=os.devnull, **extra)
        p = run(prog, "child", env)
        w = warning_lines(p.stderr)
        if prof_built:
            check(w == [], "%s in a build with the profiler: no warning, got %r" % (quoted, w))
        else:
            check(len(w) == 1 and quoted in w[0] and "libunwind" in w[0],
                  "%s without the profiler built in: one line naming libunwind, got %r"
                  % (quoted, p.stderr))
    # Statistics asked for in a build without counters.
    p = run(prog, "child", dict(base, ARCALLOC_STATS="json", ARCALLOC_STATS_FILE=os.devnull),
            raw=True)
    w = warning_lines(p.stderr)
    if stats_built:
        check(w == [], "ARCALLOC_STATS with counters built in: no warning, got %r" % w)
    else:
        check(len(w) == 1 and "ARCALLOC_STATS=json" in w[0] and "-Dstats=false" in w[0],
              "ARCALLOC_STATS with -Dstats=false: one line saying so, got %r" % p.stderr)
    # ARCALLOC_STATS_FILE alone: nothing would ever write it, and the user is told.
    p = run(prog, "child", dict(base, ARCALLOC_STATS_FILE=os.devnull))
    w = warning_lines(p.stderr)
    check(len(w) == 1 and "ARCALLOC_STATS_FILE" in w[0] and "ARCALLOC_STATS=1" in w[0],
          "ARCALLOC_STATS_FILE without ARCALLOC_STATS: one line, got %r" % p.stderr)
    # A program that closes stderr in its own exit handler (coreutils' ls) still gets the warning
    # and the report, on the stderr it started with.
    ls = "/bin/ls"
    if not preload_system:
        print("gaps: ls is not run (the library cannot be preloaded into this machine's programs)")
    elif os.path.exists(ls):
        env = dict(base, LD_PRELOAD=lib, ARCALLOC_STATS="json",
                   ARCALLOC_STATS_FILE="/nonexistent-dir/ls.%p.json")
        p = subprocess.run([ls, "/"], env=env, capture_output=True, text=True,
                           timeout=RUN_TIMEOUT)
        lines = without_gap_lines(p.stderr).strip().splitlines()
        check(p.returncode == 0 and len(lines) == 2 and "/nonexistent-dir/ls." in lines[0]
              and lines[1].startswith("{\"pid\""),
              "ls with an unwritable ARCALLOC_STATS_FILE: warning + report on stderr: %r"
              % p.stderr[:300])


def test_timeline(prog, backend, work):
    """ARCALLOC_STATS_INTERVAL: JSON lines from a running multi-threaded program."""
    interval_ms = 50
    for how in ("env", "conf"):
        pattern = str(work / ("timeline-%s.%%p.jsonl" % how))
        if how == "env":
            env = clean_env(ARCALLOC_BACKEND=backend, ARCALLOC_STATS_INTERVAL="%dms" % interval_ms,
                            ARCALLOC_TIMELINE_FILE=pattern)
        else:
            env = clean_env(ARCALLOC_BACKEND=backend, ARCALLOC_CONF="stats_interval:%dms,"
                            "timeline_file:%s" % (interval_ms, pattern))
        started = time.monotonic()
        proc = subprocess.Popen([prog, "signal"], env=env, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            hello = json.loads(proc.stdout.readline())
            hello_at = time.monotonic()
            time.sleep(TIMELINE_RUN)
            # Lines with t_ms below this were written before "stop" (t_ms counts from arcalloc's
            # start, which came before the hello).
            before_stop_ms = (time.monotonic() - hello_at) * 1000
            out, err = proc.communicate("stop\n", timeout=RUN_TIMEOUT)
            err = without_gap_lines(err)
        except Exception:
            proc.kill()
            proc.communicate()
            raise
        check(proc.returncode == 0 and err == "", "timeline (%s): program fine, stderr %r"
              % (how, err[:200]))
        path = work / ("timeline-%s.%d.jsonl" % (how, hello["pid"]))
        if not check(path.exists(), "timeline (%s): %s written" % (how, path)):
            continue
        lines = [json.loads(l) for l in path.read_text().splitlines()]
        # One line per interval while it ran (a loaded machine may skip some), one at exit; the
        # run lasts from its start to its exit, longer than TIMELINE_RUN on a loaded machine.
        expected = TIMELINE_RUN * 1000 / interval_ms
        most = (time.monotonic() - started) * 1000 / interval_ms + 3
        check(expected / 3 <= len(lines) <= most,
              "timeline (%s): %d lines for %.1f s at %d ms" % (how, len(lines), TIMELINE_RUN,
                                                                interval_ms))
        names = {"t_ms", "pid", "live_bytes", "peak_live_bytes", "committed_bytes",
                 "resident_bytes", "returned_bytes", "dirty_bytes", "large_bytes",
                 "segment_bytes", "cached_bytes", "allocs", "frees", "threads_live", "classes"}
        check(all(set(l) == names for l in lines), "timeline (%s): every line has %s"
              % (how, sorted(names)))
        check(all(l["pid"] == hello["pid"] for l in lines), "timeline (%s): pid" % how)
        times = [l["t_ms"] for l in lines]
        check(times == sorted(times) and times[0] < TIMELINE_RUN * 1000,
              "timeline (%s): time goes forward: %s" % (how, times[:8]))
        # While the threads ran (a loaded machine may start them after the first line).
        running = [l for l in lines if l["t_ms"] < before_stop_ms]
        full = [l for l in running if l["threads_live"] == 1 + hello["threads"]]
        check(running and len(full) >= 0.8 * len(running),
              "timeline (%s): threads_live while the threads run: %s"
              % (how, [(l["t_ms"], l["threads_live"]) for l in running]))
        check(lines[-1]["threads_live"] == 1, "timeline (%s): the last line, at exit: threads "
              "joined" % how)
        check(all(l["committed_bytes"] >= l["large_bytes"] and l["resident_bytes"] > 0
                  and all(len(c) == 2 and c[0] % 16 == 0 and c[1] > 0 for c in l["classes"])
                  for l in lines), "timeline (%s): figures consistent" % how)
        if lines[0]["allocs"]:
            check(lines[-1]["allocs"] > lines[0]["allocs"], "timeline (%s): the threads kept "
                  "allocating" % how)
    # The signal and the timeline together: one thread serves both.
    env = clean_env(ARCALLOC_BACKEND=backend, ARCALLOC_STATS="json",
                    ARCALLOC_STATS_FILE=str(work / "both.%p.json"), ARCALLOC_STATS_SIGNAL="USR2",
                    ARCALLOC_STATS_INTERVAL="%dms" % interval_ms,
                    ARCALLOC_TIMELINE_FILE=str(work / "both.%p.jsonl"))
    proc = subprocess.Popen([prog, "signal"], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        hello = json.loads(proc.stdout.readline())
        dumps_path = work / ("both.%d.json" % hello["pid"])
        time.sleep(TIMELINE_RUN / 2)
        os.kill(proc.pid, signal.SIGUSR2)
        deadline = time.monotonic() + DUMP_WAIT
        while not read_dumps(dumps_path) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(TIMELINE_RUN / 2)
        proc.communicate("stop\n", timeout=RUN_TIMEOUT)
    except Exception:
        proc.kill()
        proc.communicate()
        raise
    tl_path = work / ("both.%d.jsonl" % hello["pid"])
    check(proc.returncode == 0 and len(read_dumps(dumps_path)) == 2 and tl_path.exists()
          and len(tl_path.read_text().splitlines()) >= 3,
          "signal and timeline together: a signal dump, the exit dump and the lines")

    # A timeline file that cannot be written: one warning naming it, and the program is fine.
    p = run(prog, "work", clean_env(ARCALLOC_BACKEND=backend, ARCALLOC_STATS_INTERVAL="10ms",
                                    ARCALLOC_TIMELINE_FILE="/nonexistent-dir/t.%p.jsonl"))
    w = warning_lines(p.stderr)
    check(p.returncode == 0 and len(w) == 1 and "/nonexistent-dir/t." in w[0],
          "unwritable ARCALLOC_TIMELINE_FILE: one warning naming it, got %r" % p.stderr[:300])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prog", required=True)
    ap.add_argument("--backend", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--lib", required=True, help="libarcalloc.so, for programs run preloaded")
    ap.add_argument("--stats-built", required=True, choices=("true", "false"))
    ap.add_argument("--prof-built", required=True, choices=("true", "false"))
    ap.add_argument("--preload-system", default="true", choices=("true", "false"),
                    help="whether the library can be preloaded into the machine's programs")
    args = ap.parse_args()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    for f in work.iterdir():
        f.unlink()
    test_json_and_text(args.prog, args.backend, work)
    test_signal(args.prog, args.backend, work)
    test_conf(args.prog, args.backend)
    test_verbose(args.prog, args.backend)
    test_malloc_info(args.prog, args.backend)
    test_gaps(args.prog, args.backend, os.path.abspath(args.lib), args.stats_built == "true",
              args.prof_built == "true", args.preload_system == "true")
    test_timeline(args.prog, args.backend, work)
    return done()


if __name__ == "__main__":
    sys.exit(main())
