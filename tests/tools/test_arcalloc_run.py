#!/usr/bin/env python3
"""test_arcalloc_run.py: the `arcalloc` command used as a person would. Runs `arcalloc run` on
Debian's python3 doing something with a known memory peak (a 64 MiB bytearray held for half a
second, then freed; a child python3 holding 16 MiB; exit status 7), and checks against what the
program did: the exit status, the message naming the report, the timeline's JSON lines (peak live
and RSS at least 64 MiB, back down after the free, time going forward), the statistics, the heap
profile at the peak (the bytearray's 64 MiB, always sampled), the child's own files, the HTML
report's figures and its self-containment (no network address, no external file), the SVG of the
timeline, `arcalloc report DIR` rebuilding it, `--help`, and a program that cannot be started.

  test_arcalloc_run.py --arcalloc build/arcalloc --workdir DIR --prof-built true|false
                       --stats-built true|false

Ends with "N passed, M failed"; exit status 1 on any failure. Standard library only."""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from pycheck import check, clean_env, done  # noqa: E402

MIB = 1 << 20
PEAK = 64 * MIB  # the bytearray the program holds
CHILD_PEAK = 16 * MIB  # what its child holds
HOLD_SECONDS = 0.6  # how long it holds it: several 100 ms lines see it
BASELINE_MAX = 48 * MIB  # what python3 itself may add to the live bytes at the peak
AFTER_FREE_MAX = 16 * MIB  # live (and committed) bytes left after the free
RUN_ENDS_MAX = 4 * MIB  # a freed run's two ends, each less than a 2 MiB huge page
EXIT_STATUS = 7
RUN_TIMEOUT = 120
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

PROGRAM = r"""
import subprocess, sys, time

time.sleep(0.25)
block = bytearray(%(peak)d)
block[::4096] = b"x" * (%(peak)d // 4096)   # one byte a page: all of it resident
time.sleep(%(hold)f)
del block
subprocess.run([sys.executable, "-c", "import time; b = bytearray(%(child)d); time.sleep(0.3)"],
               check=True)
time.sleep(0.3)
sys.exit(%(status)d)
""" % {"peak": PEAK, "hold": HOLD_SECONDS, "child": CHILD_PEAK, "status": EXIT_STATUS}



def lines_of(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def parse_size(text):
    """"64.1 MiB" -> bytes."""
    m = re.match(r"([\d.]+) (B|KiB|MiB|GiB)$", text.strip())
    return float(m.group(1)) * {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}[
        m.group(2)] if m else None


def folded_total(path):
    total, stacks = 0, []
    with open(path) as f:
        for line in f:
            stack, _, v = line.rstrip("\n").rpartition(" ")
            total += int(v)
            stacks.append((int(v), stack))
    return total, stacks


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arcalloc", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--prof-built", required=True, choices=("true", "false"))
    ap.add_argument("--stats-built", required=True, choices=("true", "false"))
    a = ap.parse_args()
    counters = a.stats_built == "true"  # without them: no peak, no allocs (the library says so)
    shutil.rmtree(a.workdir, ignore_errors=True)
    os.makedirs(a.workdir)
    out = os.path.join(a.workdir, "run")
    env = clean_env()

    p = subprocess.run([a.arcalloc, "run", "-o", out, "--", PYTHON, "-c", PROGRAM], env=env,
                       capture_output=True, text=True, timeout=RUN_TIMEOUT)
    check(p.returncode == EXIT_STATUS, "exit status is the program's: %d, stderr %r"
          % (p.returncode, p.stderr[-500:]))
    report = os.path.join(out, "report.html")
    check("arcalloc: report: " + report in p.stderr, "stderr names the report: %r" % p.stderr)
    warnings = [l for l in p.stderr.splitlines() if l.startswith("arcalloc: warning")]
    check(not warnings if counters else all("-Dstats=false" in l for l in warnings),
          "no warning but for a build without counters: %r" % warnings)
    with open(os.path.join(out, "run.json")) as f:
        meta = json.load(f)
    pid = meta["pid"]
    check(meta["exit_status"] == EXIT_STATUS, "run.json: exit status")

    # The timeline: the peak, the way back down, time going forward.
    tl = lines_of(os.path.join(out, "timeline.%d.jsonl" % pid))
    check(len(tl) >= 5, "timeline: %d lines" % len(tl))
    check([l["t_ms"] for l in tl] == sorted(l["t_ms"] for l in tl), "timeline: time goes forward")
    live = max(l["live_bytes"] for l in tl)
    check(PEAK <= live <= PEAK + BASELINE_MAX,
          "timeline: peak live %.1f MiB, the program held %d MiB" % (live / MIB, PEAK // MIB))
    rss = max(l["resident_bytes"] for l in tl)
    check(rss >= PEAK, "timeline: peak RSS %.1f MiB >= %d MiB" % (rss / MIB, PEAK // MIB))
    at_peak = [l for l in tl if l["live_bytes"] >= PEAK]
    check(len(at_peak) >= 2, "timeline: %d lines inside the %.1f s hold"
          % (len(at_peak), HOLD_SECONDS))
    check(all(l["committed_bytes"] >= l["live_bytes"] for l in tl),
          "timeline: committed >= live on every line")
    last = tl[-1]
    check(last["live_bytes"] <= AFTER_FREE_MAX, "timeline: live %.1f MiB at exit, after the free"
          % (last["live_bytes"] / MIB))
    # Freed over the dirty budget, the run goes back in whole huge pages at once; its two ends
    # (less than a huge page each) may stay cached for the next segments (docs/design.md, "Huge
    # pages"), so the memory held at exit is checked as well.
    check(last["returned_bytes"] >= PEAK - RUN_ENDS_MAX,
          "timeline: the 64 MiB went back to the OS (%d)" % last["returned_bytes"])
    check(last["committed_bytes"] <= AFTER_FREE_MAX, "timeline: %.1f MiB committed at exit"
          % (last["committed_bytes"] / MIB))
    check(last["peak_live_bytes"] >= PEAK or not counters, "timeline: peak_live_bytes at exit")

    # The statistics at exit.
    st = lines_of(os.path.join(out, "stats.%d.json" % pid))[-1]
    check(st["pid"] == pid and (not counters or PEAK <= st["peak_live_bytes"] <= PEAK +
                                BASELINE_MAX and st["large_allocs"] >= 1), "stats: peak_live_bytes %d, large_allocs %d"
          % (st["peak_live_bytes"], st["large_allocs"]))

    # The child python3: its own files, its own peak.
    kids = [f for f in os.listdir(out) if f.startswith("stats.") and f != "stats.%d.json" % pid]
    check(len(kids) == 1, "one child process's statistics: %s" % kids)
    if kids:
        kid = int(kids[0].split(".")[1])
        ktl = lines_of(os.path.join(out, "timeline.%d.jsonl" % kid))
        check(max(l["live_bytes"] for l in ktl) >= CHILD_PEAK, "child: peak in its timeline")

    # The heap profile at the peak: the bytearray, always sampled, weighs its size.
    if a.prof_built == "true":
        peak_folded = os.path.join(out, "prof.%d.peak.folded" % pid)
        if check(os.path.exists(peak_folded), "profile at the peak written"):
            total, stacks = folded_total(peak_folded)
            check(PEAK <= total <= PEAK + BASELINE_MAX,
                  "profile at the peak: %.1f MiB estimated live" % (total / MIB))
            heaviest = max(stacks)
            check(heaviest[0] >= PEAK, "profile at the peak: one stack holds the 64 MiB (%d)"
                  % heaviest[0])
        for suffix in (".folded", ".heap", ".top.txt", ".peak.heap", ".peak.top.txt"):
            check(os.path.exists(os.path.join(out, "prof.%d%s" % (pid, suffix))),
                  "profile file %s" % suffix)

    # The report: its figures, and nothing it would fetch.
    with open(report) as f:
        page = f.read()
    cards = dict((label, value) for value, label in
                 re.findall(r"<div class=card><b>([^<]*)</b><span>([^<]*)</span></div>", page))
    peak_card = [v for k, v in cards.items() if k.startswith("peak live")]
    size = parse_size(peak_card[0]) if peak_card else None
    check(size is not None and PEAK <= size <= PEAK + BASELINE_MAX,
          "report: peak live card %r" % peak_card)
    check(cards.get("exit status") == str(EXIT_STATUS), "report: exit status card %r"
          % cards.get("exit status"))
    rss_card = [v for k, v in cards.items() if k.startswith("peak RSS")]
    check(rss_card and parse_size(rss_card[0]) >= PEAK, "report: peak RSS card %r" % rss_card)
    check('id="timeline-chart"' in page and page.count('class="series"') == 3
          and page.count('class="peak"') == 3, "report: the chart, three series, three peaks")
    check("id=flame" in page and "id=stats-table" in page, "report: flame graph and statistics")
    if a.prof_built == "true":
        check("class=top-sites" in page, "report: top allocation sites")
    external = re.findall(r"""(?:src|href)\s*=\s*["']?[^"'\s>]+|url\(|@import|https?://(?!www\.w3\.org/2000/svg)""",
                          page)
    check(not external, "report: self-contained, nothing external: %s" % external[:5])
    check("Other processes" in page and "<td>%d</td>" % kid in page if kids else True,
          "report: the child listed")

    # The SVG of the timeline, on its own.
    svg = ET.parse(os.path.join(out, "timeline.svg")).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    check(svg.tag == ns + "svg" and len(svg.findall(ns + "polyline")) == 3,
          "timeline.svg: an SVG with three lines")

    # `arcalloc report DIR` rebuilds it.
    os.unlink(report)
    r = subprocess.run([a.arcalloc, "report", out], env=env, capture_output=True, text=True,
                       timeout=RUN_TIMEOUT)
    check(r.returncode == 0 and os.path.exists(report), "arcalloc report DIR: %r" % r.stderr)

    # --help, a program that cannot start, a folder with nothing in it.
    h = subprocess.run([a.arcalloc, "run", "--help"], capture_output=True, text=True)
    check(h.returncode == 0 and "--interval" in h.stdout and "--backend" in h.stdout,
          "arcalloc run --help")
    n = subprocess.run([a.arcalloc, "run", "-o", os.path.join(a.workdir, "none"), "--",
                        "/nonexistent/program"], env=env, capture_output=True, text=True)
    check(n.returncode == 127 and "cannot start" in n.stderr, "no such program: 127, %r"
          % n.stderr)
    e = subprocess.run([a.arcalloc, "report", a.workdir], capture_output=True, text=True)
    check(e.returncode == 1 and "no arcalloc file" in e.stderr, "report of an empty folder: %r"
          % e.stderr)

    return done()


if __name__ == "__main__":
    sys.exit(main())
