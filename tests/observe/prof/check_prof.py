#!/usr/bin/env python3
"""check_prof.py: runs test_prof with ARCALLOC_PROF=1 under one backend and checks the three
files the heap profiler writes at exit: the folded stacks (fn_a:fn_b:fn_c within 15% of 1:2:4,
fn_free ~0, fn_fixed's estimate as exponential sampling predicts), the pprof text heap profile
(header, one line per stack, totals, MAPPED_LIBRARIES covering every address) and the top-20
table; google-pprof (Debian's google-perftools, when installed) reads the .heap with the same
total and the test functions' figures. Then with a profile file that cannot be written: one warning naming it, the top-sites
table on stderr instead. Then runs it with profiling off: no file at all. Ends with "N passed,
M failed".
Standard library only."""
import argparse
import glob
import math
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from pycheck import check, done  # noqa: E402

SAMPLE = 4096  # ARCALLOC_PROF_SAMPLE given as "4k": small, so the ratios rest on many samples
RATIO = {"fn_a": 1, "fn_b": 2, "fn_c": 4}
RATIO_TOLERANCE = 0.15  # the issue's: each share within 15% of its 1:2:4 share
FREED_MAX_SHARE = 0.001  # fn_free frees everything: at most 0.1% of the profile may remain
FIXED_TOLERANCE = 0.06  # fn_fixed: ~2500 samples, 1.2% standard error; other laws miss by ~20%
TOP_SITES = 20



def run(prog, env, workdir):
    proc = subprocess.Popen([prog], env=env, cwd=workdir, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=120)
    check(proc.returncode == 0, "%s exited %d: %s%s" % (prog, proc.returncode, out, err))
    return proc.pid, out, err


def owner(frames):
    """The test function a folded stack belongs to: the innermost fn_* frame in it."""
    for frame in reversed(frames):
        if frame.startswith("fn_"):
            return frame
    return None


def check_folded(path, truth):
    per_fn, total, lines, bad, rootless = {}, 0, 0, [], []
    with open(path) as f:
        for line in f:
            m = re.fullmatch(r"(\S+) (\d+)\n", line)
            frames = m.group(1).split(";") if m else []
            if not m or not all(frames):
                bad.append(line)
                continue
            fn = owner(frames)
            if fn in ("fn_a", "fn_b", "fn_fixed") and frames[0] != "_start":
                rootless.append(line)  # main-thread stacks: the root (_start) comes first
            per_fn[fn] = per_fn.get(fn, 0) + int(m.group(2))
            total += int(m.group(2))
            lines += 1
    check(not bad, "folded lines not 'frame;frame;... bytes': %r" % bad[:3])
    with open(path) as f:
        own = set(re.findall(r"(?:^|;)((?:arc_|libarcalloc)[^; ]*|malloc|calloc|realloc|free)[; ]",
                             f.read(), re.M))
    check(not own, "arcalloc's own frames left in the stacks: %s" % sorted(own))
    check(not rootless, "stacks not root first: %r" % rootless[:3])
    print("folded: %d stacks, %d bytes estimated live" % (lines, total))
    for fn in ("fn_a", "fn_b", "fn_c", "fn_fixed", "fn_free"):
        print("  %-9s estimated %10d  true %10d" % (fn, per_fn.get(fn, 0), truth.get(fn, 0)))
    ratio_sum = sum(per_fn.get(fn, 0) for fn in RATIO)
    for fn, parts in RATIO.items():
        want = parts / sum(RATIO.values())
        got = per_fn.get(fn, 0) / ratio_sum if ratio_sum else 0
        check(abs(got - want) <= RATIO_TOLERANCE * want,
              "%s holds %.3f of fn_a+fn_b+fn_c, want %.3f +- 15%%" % (fn, got, want))
    check(per_fn.get("fn_free", 0) <= FREED_MAX_SHARE * total,
          "fn_free freed everything but the profile holds %d of %d bytes"
          % (per_fn.get("fn_free", 0), total))
    fixed = per_fn.get("fn_fixed", 0)
    check(abs(fixed - truth["fn_fixed"]) <= FIXED_TOLERANCE * truth["fn_fixed"],
          "fn_fixed estimated %d bytes, true %d" % (fixed, truth["fn_fixed"]))
    # Unbiased overall: the three functions' estimate against what they really hold.
    true_sum = sum(truth[fn] for fn in RATIO)
    check(abs(ratio_sum - true_sum) <= 0.1 * true_sum,
          "fn_a+fn_b+fn_c estimated %d bytes, true %d" % (ratio_sum, true_sum))
    return {"stacks": lines, "bytes": total}


HEADER_RE = re.compile(r"heap profile: *(\d+): *(\d+) *\[ *(\d+): *(\d+) *\] *@ *heap_v2/(\d+)")
SAMPLE_RE = re.compile(r"\s*(\d+): *(\d+) *\[ *(\d+): *(\d+) *\] @((?: 0x[0-9a-f]+)+)")
MAPS_RE = re.compile(r"([0-9a-f]+)-([0-9a-f]+) ([r-][w-][x-][ps]) [0-9a-f]+ \S+ \d+\s*(.*)")


def unsample(count, nbytes, period):
    """pprof's scaleHeapSample (profile/legacy_profile.go): a line's raw sampled count and bytes
    divided by the probability 1 - exp(-avg/period) that a block of its average size is seen."""
    if count == 0 or nbytes == 0:
        return 0
    return nbytes / (1 - math.exp(-(nbytes / count) / period))


def check_heap(path, folded, prog, lib):
    with open(path) as f:
        text = f.read()
    lines = text.split("\n")
    m = HEADER_RE.fullmatch(lines[0])
    if not check(m is not None, "heap header %r" % lines[0]):
        return
    period = int(m.group(5))
    check(period == SAMPLE, "header period %d, want %d" % (period, SAMPLE))
    totals = [0, 0, 0, 0]
    live, alloc, stacks, unsampled, bad, i = {}, {}, [], 0.0, [], 1
    while i < len(lines) and lines[i]:
        s = SAMPLE_RE.fullmatch(lines[i])
        nums = [int(s.group(k)) for k in range(1, 5)] if s else []
        # Live lines hold one block size each (so pprof's unsampling is exact); allocation
        # totals come on lines of their own.
        if not s or not ((nums[0] and nums[2:] == [0, 0] and nums[1] % nums[0] == 0) or
                         (not nums[0] and not nums[1] and nums[2])):
            bad.append(lines[i])
            i += 1
            continue
        i += 1
        stack = tuple(int(a, 16) for a in s.group(5).split())
        totals = [t + n for t, n in zip(totals, nums)]
        stacks.append(stack)
        if nums[0]:
            live[stack] = live.get(stack, 0) + nums[0]
            unsampled += unsample(nums[0], nums[1], period)
        else:
            alloc[stack] = alloc.get(stack, 0) + nums[2]
    check(not bad, "heap lines neither 'n: n*size [0: 0] @ ...' nor '0: 0 [n: b] @ ...': %r"
          % bad[:3])
    check(totals == [int(m.group(k)) for k in range(1, 5)],
          "header totals %s, lines sum to %s" % (m.group(0), totals))
    check(len(live) == folded["stacks"],
          "%d live stacks in .heap, %d lines in .folded" % (len(live), folded["stacks"]))
    check(all(n <= alloc.get(st, 0) for st, n in live.items()), "more live than allocated")
    check(abs(unsampled - folded["bytes"]) <= 0.005 * folded["bytes"],
          "pprof would read %d live bytes from .heap, .folded says %d"
          % (unsampled, folded["bytes"]))
    print("heap: %d lines, %d live stacks, %d bytes live as pprof unsamples them"
          % (len(stacks), len(live), unsampled))
    while i < len(lines) and not lines[i]:
        i += 1
    if not check(i < len(lines) and lines[i] == "MAPPED_LIBRARIES:",
                 "no MAPPED_LIBRARIES: after the samples"):
        return
    maps, names, bad = [], set(), []
    for line in filter(None, lines[i + 1:]):
        mm = MAPS_RE.fullmatch(line)
        if not mm:
            bad.append(line)
            continue
        maps.append((int(mm.group(1), 16), int(mm.group(2), 16), mm.group(3)))
        names.add(os.path.basename(mm.group(4)))
    check(maps and not bad, "MAPPED_LIBRARIES lines not in /proc/self/maps form: %r" % bad[:3])
    # The library is mapped under its resolved name (libarcalloc.so.0.1.0 for libarcalloc.so.0).
    lib_stem = os.path.basename(lib).split(".so")[0] + ".so"
    check(os.path.basename(prog) in names and any(n.startswith(lib_stem) for n in names),
          "MAPPED_LIBRARIES lacks the program or %s: %s" % (lib_stem, sorted(names)))
    exec_ranges = [(lo, hi) for lo, hi, perms in maps if perms[2] == "x"]
    outside = [hex(a) for st in stacks for a in st
               if not any(lo <= a - 1 < hi for lo, hi in exec_ranges)]
    check(not outside, "return addresses outside executable mappings: %s" % outside[:5])


def check_top(path):
    with open(path) as f:
        lines = f.read().split("\n")
    m = re.fullmatch(r"arcalloc heap profile: live bytes by allocation site, top (\d+) of (\d+)",
                     lines[0])
    if not check(m is not None, "top header %r" % lines[0]):
        return
    shown, sites = int(m.group(1)), int(m.group(2))
    check(shown == min(TOP_SITES, sites) and sites >= 3, "top %d of %d" % (shown, sites))
    total = re.fullmatch(r"estimated live bytes: (\d+)", lines[2])
    check(total is not None, "top total line %r" % lines[2])
    rows = [l for l in lines[5:] if l]
    check(len(rows) == shown, "%d rows for top %d" % (len(rows), shown))
    parsed = [re.match(r"\s*(\d+)\s+(\d+\.\d)%\s+(\d+\.\d)%\s+(\d+)  (\S.*)", row) for row in rows]
    check(all(parsed), "top rows not 'bytes share cum samples site': %r" % rows)
    values = [int(r.group(1)) for r in parsed if r]
    check(values == sorted(values, reverse=True), "top rows not heaviest first: %s" % values)
    if total:
        check(sum(values) <= int(total.group(1)) + len(values), "rows sum above the total")


PPROF_TIMEOUT = 120  # seconds: google-pprof symbolises with addr2line/nm, slow on a loaded box
PPROF_TOLERANCE = 0.02  # its total is printed in MB with one decimal


def check_google_pprof(path, folded, prog, truth):
    """Debian's google-pprof (google-perftools), the client people use, reads the .heap: its
    total is the folded file's, and its per-function figures are the test's functions'."""
    pprof = shutil.which("google-pprof") or shutil.which("pprof")
    if not pprof:
        print("google-pprof not installed (apt-get install google-perftools): left out")
        return
    r = subprocess.run([pprof, "--text", "--cum", prog, path], capture_output=True, text=True,
                       timeout=PPROF_TIMEOUT)
    m = re.search(r"^Total: ([\d.]+) MB$", r.stdout, re.M)
    if not check(r.returncode == 0 and m, "google-pprof --text: %r" % (r.stdout + r.stderr)[-400:]):
        return
    total = float(m.group(1)) * (1 << 20)
    check(abs(total - folded["bytes"]) <= PPROF_TOLERANCE * folded["bytes"] + (1 << 20) / 10,
          "google-pprof total %.1f MiB, .folded %.1f MiB" % (total / (1 << 20),
                                                             folded["bytes"] / (1 << 20)))
    print("google-pprof: total %.1f MiB" % (total / (1 << 20)))
    cum = {}
    for line in r.stdout.splitlines():
        f = line.split()
        if len(f) == 6 and f[5].startswith("fn_"):
            cum[f[5]] = float(f[3]) * (1 << 20)
    for fn in list(RATIO) + ["fn_fixed"]:
        check(fn in cum and abs(cum[fn] - truth[fn]) <= 0.2 * truth[fn],
              "google-pprof: %s holds %.1f MiB, the program %.1f MiB"
              % (fn, cum.get(fn, 0) / (1 << 20), truth[fn] / (1 << 20)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prog", required=True)
    ap.add_argument("--lib", required=True)
    ap.add_argument("--backend", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    a.prog = os.path.abspath(a.prog)  # the runs below start in the work directory
    shutil.rmtree(a.workdir, ignore_errors=True)
    os.makedirs(a.workdir)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCALLOC_")}
    env["ARCALLOC_BACKEND"] = a.backend

    # Profiling on.
    on = dict(env, ARCALLOC_PROF="1", ARCALLOC_PROF_SAMPLE="4k",
              ARCALLOC_PROF_FILE=os.path.join(a.workdir, "prof.%p.folded"))
    pid, out, err = run(a.prog, on, a.workdir)
    check(err == "", "stderr with profiling on: %r" % err)
    truth = {}
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0] == "live":
            truth[parts[1]] = int(parts[2])
    check(set(truth) >= {"fn_a", "fn_b", "fn_c", "fn_fixed"}, "program output %r" % out)
    base = os.path.join(a.workdir, "prof.%d" % pid)
    made = sorted(glob.glob(os.path.join(a.workdir, "prof.*")))
    want = sorted(base + suffix for suffix in (".folded", ".heap", ".top.txt"))
    if check(made == want, "files written: %s, want %s" % (made, want)):
        folded = check_folded(base + ".folded", truth)
        check_heap(base + ".heap", folded, a.prog, a.lib)
        check_google_pprof(base + ".heap", folded, a.prog, truth)
        check_top(base + ".top.txt")

    # A profile that cannot be written: one warning naming where it could not go, and the top
    # sites on stderr instead (the same table the .top.txt file holds).
    lost = dict(on, ARCALLOC_PROF_FILE="/nonexistent-dir/prof.%p.folded")
    pid, _, err = run(a.prog, lost, a.workdir)
    lines = err.splitlines()
    warn = [l for l in lines if l.startswith("arcalloc: warning: ")]
    check(len(warn) == 1 and "/nonexistent-dir/prof.%d.folded" % pid in warn[0]
          and "stderr" in warn[0], "unwritable ARCALLOC_PROF_FILE: one warning naming it: %r"
          % warn)
    check(any(l.startswith("arcalloc heap profile: live bytes by allocation site") for l in lines)
          and any("fn_fixed" in l for l in lines),
          "unwritable ARCALLOC_PROF_FILE: the top sites on stderr: %r" % err[:400])

    # Profiling off (unset, then 0): the same run leaves no file and says nothing.
    for value in (None, "0"):
        off = dict(env, ARCALLOC_PROF_FILE=os.path.join(a.workdir, "off.%p.folded"))
        if value is not None:
            off["ARCALLOC_PROF"] = value
        _, out_off, err_off = run(a.prog, off, a.workdir)
        check(out_off == out and err_off == "", "profiling off changed the output: %r" % err_off)
        left = glob.glob(os.path.join(a.workdir, "off.*")) + glob.glob(
            os.path.join(a.workdir, "arcalloc-prof.*"))
        check(not left, "ARCALLOC_PROF=%s wrote %s" % (value, left))

    return done("backend " + a.backend)


if __name__ == "__main__":
    sys.exit(main())
