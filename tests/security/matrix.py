#!/usr/bin/env python3
"""tests/security/matrix.py: arcalloc's security matrix (issue 15, docs/security.md). Owns the
list of cases, running each in its own process under each allocator, classifying how each
ended, the side-by-side table (text on stdout, Markdown with --markdown) and the comparison of
arcalloc's results with those stated in expected.txt beside this script. Builds nothing: meson
builds the case programs (tests/security/meson.build) and libarcalloc.so. Standard library only.

  matrix.py                       arcalloc (build/, build-secure/ when present), glibc and the
                                  peers in ../shared/peers/secure/ when present: the table
  matrix.py --builddir DIR        arcalloc from DIR (repeatable); a -Dsecure=true build is run
                                  in secure mode (ARCALLOC_SECURE=1), a normal one in default mode
  matrix.py --with NAME=PATH[:VAR=VALUE...]   also a peer allocator library (repeatable)
  matrix.py --with-dir DIR        also every DIR/*.so as a peer, named by its file name
  matrix.py --no-peers            no peers (not even the default directory's)
  matrix.py --backend B           arcalloc's backend (tlsf, buddy, slab or all; default tlsf)
  matrix.py --markdown FILE       also write the table as Markdown
  matrix.py --check               arcalloc only; exit 1 when a result differs from expected.txt
  matrix.py --record              arcalloc only; write its results into expected.txt
  matrix.py --verbose             one line per case and allocator with how it ended
  matrix.py --runs N              each case N times; where the runs disagree the table says ~

Each case is sec_case KIND SIZE (or sec_delete SIZE, the C++ case), sizes 8 B, 4 KiB and
256 KiB (the zero-size kinds once). A case is "caught" when its process is killed by SIGSEGV,
SIGBUS, SIGABRT, SIGILL or SIGTRAP (a fault, or an allocator that reports and aborts), or ends
with an allocator's own report and a nonzero exit, or (the property kinds) exits saying the
property holds; "missed" when it ran to completion with the misuse unseen ("warned" when it ran
to completion but the allocator wrote something on stderr: counted as missed); "hang" when it
did not end in --timeout seconds; "error" when it could not be set up. A peer's VAR=VALUE lines
in NAME.env (or PATH.env) beside its library are set for its runs, as bench/run does.
"""
import argparse
import concurrent.futures
import os
import re
import resource
import signal
import subprocess
import sys

HERE = os.path.dirname(os.path.realpath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
EXPECTED_FILE = os.path.join(HERE, "expected.txt")
# The peers issue 15 compares against, beside the repository when present.
DEFAULT_PEER_DIR = os.path.join(os.path.dirname(ROOT), "shared", "peers", "secure")
DEFAULT_BUILDDIRS = ("build", "build-secure")

# ---- the cases ---------------------------------------------------------------------------------

SIZES = (("8B", 8), ("4KiB", 4096), ("256KiB", 256 * 1024))
ZERO_SIZE = (("0B", 0),)

# (kind, program, sizes, one-line description); program "case" is sec_case KIND SIZE, "delete"
# is sec_delete SIZE. The order is the table's.
KINDS = [
    ("double_free", "case", SIZES, "free twice"),
    ("free_interior", "case", SIZES, "free of a pointer into the middle of a block"),
    ("free_never_allocated", "case", SIZES, "free of a pointer malloc never returned"),
] + [
    ("%s_%s_%s" % (way, dist, how), "case", SIZES,
     "%s bytes written %s the block %s" % (label, "after" if way == "overflow" else "before",
                                          "byte by byte" if how == "direct" else "by memcpy"))
    for way in ("overflow", "underflow") for how in ("direct", "memcpy")
    for dist, label in (("1", "1"), ("32", "32"), ("1m", "1 Mi"))
] + [
    ("write_after_free", "case", SIZES, "write to a freed block, the size not allocated again"),
    ("write_after_free_reuse", "case", SIZES,
     "write to a freed block, then the size allocated until it comes back"),
    ("zero_size_read", "case", ZERO_SIZE, "read of byte 0 of malloc(0)"),
    ("zero_size_write", "case", ZERO_SIZE, "write of byte 0 of malloc(0)"),
    ("zero_size_read_after_free", "case", ZERO_SIZE, "the read after the block's free"),
    ("zero_size_write_after_free", "case", ZERO_SIZE, "the write after the block's free"),
    ("zeroed_on_free", "case", SIZES, "a freed block reads as zeroes"),
    ("zeroed_new", "case", SIZES, "malloc after a dirty block's free returns zeroes"),
    ("reuse_at_once", "case", SIZES,
     "no just-freed block comes back on the next malloc (32 tries)"),
    ("sized_delete", "delete", SIZES, "C++ sized delete told 4 times the size"),
    ("exec_heap", "case", SIZES, "the block's mapping is not executable"),
    ("huge_malloc", "case", SIZES, "malloc(SIZE_MAX - size) gives NULL and ENOMEM"),
    ("calloc_overflow", "case", SIZES, "calloc(SIZE_MAX / size + 1, size) gives NULL and ENOMEM"),
]
CASES = [(kind, prog, label, size) for kind, prog, sizes, _ in KINDS for label, size in sizes]
PROGRAMS = {"case": "sec_case", "delete": "sec_delete"}

# Exit statuses of the case programs (sec_case.c).
CASE_MISSED = 0
CASE_HOLDS = 40
CASE_SETUP = 41
# Deaths that mean the misuse was stopped: a fault, or an allocator's abort or trap.
CAUGHT_SIGNALS = (signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT, signal.SIGILL, signal.SIGTRAP)
CASE_TIMEOUT = 10.0  # seconds a case may run
DEFAULT_JOBS = 2  # cases run at once: the development machine has 2 cores
CHECK_RETRIES = 2  # --check: times a case whose result differs from expected.txt runs again
RESULTS = ("caught", "missed", "warned", "hang", "error", "varies")
MARKS_TEXT = {"caught": "+", "missed": "-", "warned": "w", "hang": "h", "error": "e",
              "varies": "~"}
MARKS_MD = {"caught": "✓", "missed": "✗", "warned": "w", "hang": "h", "error": "e",
            "varies": "~"}

# expected.txt's columns after the case name: arcalloc's mode and backend.
BACKENDS = ("tlsf", "buddy", "slab")
MODES = ("default", "secure")
EXPECTED_COLUMNS = [(mode, backend) for mode in MODES for backend in BACKENDS]

# Variables a run sets itself: never inherited from the caller's environment (meson test sets
# MALLOC_PERTURB_, which changes what glibc leaves in freed memory).
INHERITED_DROP = re.compile(r"^(LD_PRELOAD|ARCALLOC_.*|MALLOC_.*|GLIBC_TUNABLES)$")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---- allocators --------------------------------------------------------------------------------

class Allocator:
    def __init__(self, name, preload=None, env=None, missing=None, mode=None, backend=None,
                 bindir=None):
        self.name, self.preload, self.env, self.missing = name, preload, env or {}, missing
        self.mode, self.backend = mode, backend  # arcalloc's; None for the others
        self.bindir = bindir  # where the case programs are; None: the first arcalloc build's


def build_is_secure(builddir):
    """Whether builddir was configured -Dsecure=true (its arcalloc_config.h says so)."""
    with open(os.path.join(builddir, "include", "arcalloc_config.h")) as f:
        return re.search(r"^#define ARC_SECURE 1\b", f.read(), re.M) is not None


def arcalloc_allocators(builddirs, backends):
    out = []
    for builddir in builddirs:
        lib = os.path.join(builddir, "libarcalloc.so")
        bindir = os.path.join(builddir, "tests", "security")
        if not os.path.isfile(lib):
            log("matrix.py: %s: no libarcalloc.so, not built" % builddir)
            continue
        mode = "secure" if build_is_secure(builddir) else "default"
        for backend in backends:
            name = "arcalloc" if mode == "default" else "arcalloc-secure"
            if len(backends) > 1:
                name += "-" + backend
            env = {"ARCALLOC_BACKEND": backend}
            if mode == "secure":
                env["ARCALLOC_SECURE"] = "1"
            out.append(Allocator(name, lib, env, mode=mode, backend=backend, bindir=bindir))
    return out


def env_file_of(path):
    """The .env file beside a peer library: PATH.env, else PATH with .so replaced by .env."""
    candidates = [path + ".env"]
    if path.endswith(".so"):
        candidates.append(path[:-len(".so")] + ".env")
    return next((c for c in candidates if os.path.isfile(c)), None)


def read_env_file(path):
    """VAR=VALUE lines; blank lines and lines starting with # are skipped."""
    out = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            var, eq, value = line.partition("=")
            if not eq or not var.strip():
                raise ValueError("%s:%d: not VAR=VALUE: %r" % (path, n, line))
            out[var.strip()] = value.strip()
    return out


def peer(name, path, inline_env=None):
    path = os.path.abspath(os.path.expanduser(path))
    env = {}
    envfile = env_file_of(path)
    if envfile:
        env.update(read_env_file(envfile))
    env.update(inline_env or {})
    missing = None if os.path.isfile(path) else "%s not found" % path
    return Allocator(name, path, env, missing)


def parse_with(spec):
    """--with NAME=PATH[:VAR=VALUE...] -> an Allocator; ValueError when malformed."""
    name, eq, rest = spec.partition("=")
    if not eq or not name or not rest:
        raise ValueError("--with wants NAME=PATH[:VAR=VALUE...], got %r" % spec)
    path, *pairs = rest.split(":")
    inline = {}
    for pair in pairs:
        var, eq, value = pair.partition("=")
        if not eq or not var:
            raise ValueError("--with %s: %r is not VAR=VALUE" % (name, pair))
        inline[var] = value
    return peer(name, path, inline)


def peers_in(directory):
    """Every DIR/*.so as a peer named by its file name without .so, sorted by name."""
    if not os.path.isdir(directory):
        return []
    return [peer(f[:-len(".so")], os.path.join(directory, f))
            for f in sorted(os.listdir(directory))
            if f.endswith(".so") and os.path.isfile(os.path.join(directory, f))]


# ---- running -----------------------------------------------------------------------------------

def base_env():
    return {k: v for k, v in os.environ.items() if not INHERITED_DROP.match(k)}


def classify(returncode, out, err):
    """(result, detail) of one finished case."""
    line = out.strip().splitlines()[0] if out.strip() else ""
    first_err = err.strip().splitlines()[0] if err.strip() else ""
    if returncode < 0:
        sig = signal.Signals(-returncode)
        detail = sig.name + (": " + first_err if first_err else "")
        return ("caught" if sig in CAUGHT_SIGNALS else "error"), detail
    if returncode == CASE_HOLDS:
        return "caught", line
    if returncode == CASE_MISSED:
        if first_err:
            return "warned", "%s (stderr: %s)" % (line, first_err)
        return "missed", line
    if returncode == CASE_SETUP:
        return "error", line or "setup failed"
    if first_err:  # an allocator's own report and exit
        return "caught", "exit %d: %s" % (returncode, first_err)
    return "error", "exit %d, nothing on stderr" % returncode


def run_case(alloc, bindir, case, timeout):
    kind, prog, _, size = case
    argv = [os.path.join(bindir, PROGRAMS[prog])]
    argv += [kind, str(size)] if prog == "case" else [str(size)]
    env = base_env()
    env.update(alloc.env)
    if alloc.preload:
        env["LD_PRELOAD"] = alloc.preload
    try:
        p = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return "hang", "no end in %g s" % timeout
    except OSError as e:
        return "error", str(e)
    return classify(p.returncode,
                    p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace"))


def combine(outcomes):
    """One (result, detail) of a case's runs: theirs when all agree, else "varies"."""
    kinds = [res for res, _ in outcomes]
    if all(k == kinds[0] for k in kinds):
        return outcomes[0]
    counts = ", ".join("%s %d" % (k, kinds.count(k)) for k in RESULTS if k in kinds)
    return "varies", "%s of %d runs: %s" % (counts, len(kinds),
                                            "; ".join(d for _, d in outcomes))


def run_all(allocs, cases, bindir, jobs, timeout, verbose, runs=1):
    """{(allocator name, case id): (result, detail)}, each case run `runs` times."""
    outcomes = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {}
        for _ in range(runs):
            for alloc in allocs:
                for case in cases:
                    f = pool.submit(run_case, alloc, alloc.bindir or bindir, case, timeout)
                    futures[f] = (alloc.name, case_id(case))
        for f in concurrent.futures.as_completed(futures):
            outcomes.setdefault(futures[f], []).append(f.result())
    results = {key: combine(outs) for key, outs in outcomes.items()}
    if verbose:
        for alloc in allocs:
            for case in cases:
                res, detail = results[(alloc.name, case_id(case))]
                print("%-18s %-36s %-6s %s" % (alloc.name, case_id(case), res, detail))
    return results


def case_id(case):
    return "%s/%s" % (case[0], case[2])


# ---- the table ---------------------------------------------------------------------------------

def table_rows(allocs, cases, results, marks):
    """[kind, cell per allocator...] rows, then the totals row."""
    rows = []
    for kind, _, sizes, _ in KINDS:
        ids = ["%s/%s" % (kind, label) for label, _ in sizes]
        if not any(i in {case_id(c) for c in cases} for i in ids):
            continue
        row = [kind]
        for alloc in allocs:
            row.append(" ".join(marks[results[(alloc.name, i)][0]] if (alloc.name, i) in results
                                else "." for i in ids))
        rows.append(row)
    totals = ["caught, of %d" % len(cases)]
    for alloc in allocs:
        totals.append(str(sum(results[(alloc.name, case_id(c))][0] == "caught" for c in cases)))
    return rows, totals


def print_table(allocs, cases, results):
    rows, totals = table_rows(allocs, cases, results, MARKS_TEXT)
    head = ["case (8B 4KiB 256KiB)"] + [a.name for a in allocs]
    widths = [max(len(r[i]) for r in rows + [head, totals]) for i in range(len(head))]
    fmt = "  ".join("%%-%ds" % w for w in widths)
    print(fmt % tuple(head))
    for row in rows:
        print(fmt % tuple(row))
    print(fmt % tuple(totals))
    print("+ caught  - missed  w missed, with a line on stderr  h hang  e error"
          "  ~ differs between runs")


def markdown_table(allocs, cases, results):
    rows, totals = table_rows(allocs, cases, results, MARKS_MD)
    out = ["| case (8 B, 4 KiB, 256 KiB) | " + " | ".join(a.name for a in allocs) + " |",
           "|---|" + ":-:|" * len(allocs)]
    for row in rows:
        out.append("| `%s` | %s |" % (row[0], " | ".join(row[1:])))
    out.append("| **%s** | %s |" % (totals[0], " | ".join("**%s**" % t for t in totals[1:])))
    return "\n".join(out) + "\n"


# ---- expectations ------------------------------------------------------------------------------

def read_expected(path):
    """{case id: {(mode, backend): result}}."""
    out = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            fields = line.split()
            if len(fields) != 1 + len(EXPECTED_COLUMNS):
                raise ValueError("%s:%d: want a case and %d results"
                                 % (path, n, len(EXPECTED_COLUMNS)))
            out[fields[0]] = dict(zip(EXPECTED_COLUMNS, fields[1:]))
    return out


def write_expected(path, expected):
    head = ("# tests/security/expected.txt: what arcalloc catches today in each case of the\n"
            "# security matrix (matrix.py), per mode and backend, as measured with\n"
            "# `tests/security/matrix.py --record`. The meson test (suite malloc) fails when a\n"
            "# result differs: flip an entry when arcalloc learns to catch a case.\n"
            "# caught / missed; - : not recorded.\n")
    width = max(len(case_id(c)) for c in CASES)
    cols = "  ".join("%s-%s" % mb for mb in EXPECTED_COLUMNS)
    lines = [head, "# %-*s  %s\n" % (width, "case", cols)]
    for case in CASES:
        cid = case_id(case)
        vals = expected.get(cid, {})
        cells = ["%-*s" % (len("%s-%s" % mb), vals.get(mb, "-")) for mb in EXPECTED_COLUMNS]
        lines.append(("  %-*s  %s" % (width, cid, "  ".join(cells))).rstrip() + "\n")
    with open(path, "w") as f:
        f.writelines(lines)


def compare(allocs, cases, results, expected):
    """Lines saying where arcalloc's results differ from the expectations."""
    diffs = []
    for alloc in allocs:
        for case in cases:
            cid = case_id(case)
            want = expected.get(cid, {}).get((alloc.mode, alloc.backend), "-")
            got, detail = results[(alloc.name, cid)]
            if got != want:
                diffs.append("%s %s backend %s: expected %s, got %s (%s)"
                             % (cid, alloc.mode, alloc.backend, want, got, detail))
    return diffs


# ---- main --------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--builddir", action="append", default=[],
                    help="an arcalloc build directory (repeatable; default build, build-secure)")
    ap.add_argument("--with", dest="peers", action="append", default=[],
                    metavar="NAME=PATH[:VAR=VALUE...]")
    ap.add_argument("--with-dir", action="append", default=[], metavar="DIR")
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--no-glibc", action="store_true")
    ap.add_argument("--backend", default="tlsf", choices=BACKENDS + ("all",))
    ap.add_argument("--cases", default="", metavar="REGEX", help="only the matching case ids")
    ap.add_argument("--markdown", metavar="FILE")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--record", action="store_true")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--jobs", type=int, default=DEFAULT_JOBS)
    ap.add_argument("--timeout", type=float, default=CASE_TIMEOUT)
    ap.add_argument("--runs", type=int, default=1,
                    help="run each case N times; a case whose runs disagree shows as ~")
    ap.add_argument("--expected", default=EXPECTED_FILE, metavar="FILE",
                    help="the expectations --check reads and --record writes")
    args = ap.parse_args()
    # No core files from the cases that die (inherited; set here rather than in each child, so
    # that subprocess can start the children without running Python code in them).
    resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))

    builddirs = args.builddir or [os.path.join(ROOT, d) for d in DEFAULT_BUILDDIRS
                                  if os.path.isdir(os.path.join(ROOT, d))]
    backends = BACKENDS if args.backend == "all" else (args.backend,)
    allocs = arcalloc_allocators(builddirs, backends)
    if not allocs:
        log("matrix.py: no arcalloc build found (meson setup build && ninja -C build)")
        return 2
    arcalloc_only = args.check or args.record
    if not arcalloc_only:
        if not args.no_glibc:
            allocs.append(Allocator("glibc"))
        if not args.no_peers:
            peer_dirs = args.with_dir or [DEFAULT_PEER_DIR]
            try:
                others = [parse_with(s) for s in args.peers]
            except ValueError as e:
                log("matrix.py: %s" % e)
                return 2
            for d in peer_dirs:
                others += peers_in(d)
            for p in others:
                if p.missing:
                    log("matrix.py: %s skipped: %s" % (p.name, p.missing))
                else:
                    allocs.append(p)
    bindir = allocs[0].bindir
    for prog in PROGRAMS.values():
        if not os.access(os.path.join(bindir, prog), os.X_OK):
            log("matrix.py: %s/%s not built (ninja -C <builddir>)" % (bindir, prog))
            return 2

    cases = [c for c in CASES if re.search(args.cases, case_id(c))]
    results = run_all(allocs, cases, bindir, max(1, args.jobs), args.timeout, args.verbose,
                      max(1, args.runs))
    print_table(allocs, cases, results)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(markdown_table(allocs, cases, results))

    status = 0
    arc = [a for a in allocs if a.mode]
    if args.record:
        expected = read_expected(args.expected) if os.path.exists(args.expected) else {}
        for alloc in arc:
            for case in cases:
                res = results[(alloc.name, case_id(case))][0]
                expected.setdefault(case_id(case), {})[(alloc.mode, alloc.backend)] = res
        write_expected(args.expected, expected)
        print("recorded %d results in %s" % (len(arc) * len(cases), args.expected))
    elif args.check:
        expected = read_expected(args.expected)
        diffs = compare(arc, cases, results, expected)
        # A difference is run again: some checks are probabilistic (a one-byte overwrite of a
        # keyed canary or checksum byte goes unseen once in 256 runs), a real change shows in
        # every run.
        for retry in range(CHECK_RETRIES):
            if not diffs:
                break
            again = {}
            for alloc in arc:
                redo = [c for c in cases if
                        results[(alloc.name, case_id(c))][0]
                        != expected.get(case_id(c), {}).get((alloc.mode, alloc.backend))]
                again.update(run_all([alloc], redo, bindir, max(1, args.jobs), args.timeout,
                                     False))
            for key, (res, detail) in again.items():
                print("run again: %s %s: %s (%s)" % (key[0], key[1], res, detail))
            results.update(again)
            diffs = compare(arc, cases, results, expected)
        for d in diffs:
            print("DIFFERS: " + d)
        print("%d of %d results as expected" % (len(arc) * len(cases) - len(diffs),
                                               len(arc) * len(cases)))
        status = 1 if diffs else 0
    return status


if __name__ == "__main__":
    sys.exit(main())
