#!/usr/bin/env python3
"""run_real.py: runs one real program twice, plainly and under LD_PRELOAD=<lib> with
ARCALLOC_BACKEND=<backend>, and passes only when both runs succeed and print the same thing.
Owns the cases (their workloads, steps and output normalisation) and a probe run proving the
library really loads; never builds anything of arcalloc, never writes outside --workdir.

Usage: run_real.py --lib PATH --backend B --case NAME --workdir DIR [--prog PATH]
Exit status 0 only when every check passed; the last line is "N passed, M failed".
"""

import argparse
import difflib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import memcached_load
from lcg import Lcg

HERE = Path(__file__).resolve().parent

# Seconds one run of a case may take. The slowest case takes about 6 s under glibc; the margin is
# for a slow allocator on a loaded machine. Two runs and the probe stay inside the 600 s meson
# gives the test (tests/preload/meson.build).
DEFAULT_TIMEOUT = 240
# Seconds for the probe run: one trivial start of the program.
PROBE_TIMEOUT = 60
# Lines of a differing output shown in a unified diff before it is cut.
DIFF_LINES = 60
# Characters of a failing step's stderr shown in the report.
STDERR_TAIL = 2000

# The library prints one stderr line naming this variable for a value it does not know: a run
# with a bogus value that shows the line proves the preload reached the program.
DEFAULT_PROBE_ENV = "ARCALLOC_BACKEND=no-such-backend"
DEFAULT_PROBE_MARKER = "ARCALLOC_BACKEND"

# Stdlib test modules the python case runs with `python3 -m unittest` (about 2.5 s in all):
# allocation-heavy (json, re, containers) and deterministic in what they print (test_sort is
# not: it prints what unseeded random comparisons did).
PY_TEST_MODULES = [
    "test.test_json",
    "test.test_re",
    "test.test_collections",
    "test.test_dict",
    "test.test_ordered_dict",
]

# Generated C for the gcc case: functions and tables in the file (about 20 lines a function,
# about 3 000 lines in all; gcc -O2 -g takes about 2 s on it).
GEN_FUNCTIONS = 160
GEN_TABLES = 24
GEN_TABLE_WORDS = 64
# Every LEAF_EVERY-th function calls nothing, the others call one leaf: bounded run time.
GEN_LEAF_EVERY = 8

# The git case: commits made one `git commit` at a time, over this many tracked files.
GIT_COMMITS = 200
GIT_FILES = 40
GIT_EPOCH = 1700000000  # 2023-11-14T22:13:20Z: fixed dates give identical hashes

# The memcached case's server: worker threads, memory limit (MiB; the load stores about 45 MB and
# must never see an eviction), largest item (the load's biggest values are chained chunks) and
# the hash table's starting size (2^13 buckets: the load's 24 000 items make the server grow it
# once, on its own maintenance thread).
MC_WORKER_THREADS = 4
MC_MEMORY_MB = 128
MC_ITEM_MAX = "2m"
MC_HASHPOWER = 13
# Seconds the server may take to open its socket, to settle after the load, and to exit.
MC_START_TIMEOUT = 20
MC_SETTLE_TIMEOUT = 20
MC_EXIT_TIMEOUT = 20
# The server's counters that the load decides exactly, whatever order the threads ran in.
MC_STATS = [
    "curr_items",
    "total_items",
    "evictions",
    "cmd_set",
    "get_hits",
    "get_misses",
    "delete_hits",
    "delete_misses",
    "incr_hits",
    "hash_power_level",
]


class Failure(Exception):
    """A step of a run failed: the message says which and why."""


class Checks:
    """The house harness in miniature: count, report each failure, end with the summary."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok, what):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            print("CHECK failed: " + what, flush=True)
        return ok

    def done(self):
        print("%d passed, %d failed" % (self.passed, self.failed), flush=True)
        return 1 if self.failed else 0


class Run:
    """One execution of a case: its folder, environment, deadline and recorded outputs."""

    def __init__(self, name, folder, env, timeout):
        self.name = name
        self.folder = folder
        self.env = env
        self.deadline = time.monotonic() + timeout
        self.timeout = timeout
        self.outputs = []  # (label, text) in the order the case records them

    def record(self, label, text):
        self.outputs.append((label, text))

    def step(self, label, argv, cwd=None, stdin_path=None, ok_codes=(0,)):
        """Runs argv to completion inside the deadline; returns (stdout, stderr) as text."""
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise Failure("%s: no time left (run limit %d s)" % (label, self.timeout))
        stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
        try:
            # A session of its own, so a timeout kills the children too (gcc's cc1, git's
            # pack-objects) and no grandchild keeps the pipes open.
            proc = subprocess.Popen(
                [str(a) for a in argv],
                cwd=str(cwd or self.folder),
                env=self.env,
                stdin=stdin,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as e:
            raise Failure("%s: cannot start %s: %s" % (label, argv[0], e))
        finally:
            if stdin_path:
                stdin.close()
        try:
            out, err = proc.communicate(timeout=remaining)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise Failure("%s: timed out (run limit %d s)" % (label, self.timeout))
        out = out.decode("utf-8", "replace")
        err = err.decode("utf-8", "replace")
        if proc.returncode not in ok_codes:
            raise Failure(
                "%s: %s\n--- stderr (tail) ---\n%s"
                % (label, describe_status(proc.returncode), err[-STDERR_TAIL:])
            )
        return out, err


def describe_status(code):
    if code < 0:
        try:
            return "killed by %s" % signal.Signals(-code).name
        except ValueError:
            return "killed by signal %d" % -code
    return "exit status %d" % code


# ---- cases -------------------------------------------------------------------------------------
# Each case is: the program it needs (name looked up on PATH unless --prog gives it), the Debian
# package that ships it, a probe argv (cheap, proves the preload reaches the program), a prepare
# function run once before both runs, and a body that records outputs into a Run.


def normalise_unittest(text):
    """unittest's summary carries the elapsed time: the only part two runs may differ in."""
    return re.sub(r"^(Ran \d+ tests?) in [0-9.]+s$", r"\1 in <T>s", text, flags=re.M)


def python_prepare(ctx):
    """Fails (naming the Debian package) when the stdlib test modules are not installed."""
    code = (
        "import importlib.util, sys\n"
        "missing = [m for m in sys.argv[1:] if importlib.util.find_spec(m) is None]\n"
        "print('%d.%d' % sys.version_info[:2]); print(' '.join(missing))\n"
    )
    proc = subprocess.run(
        [ctx.prog, "-c", code] + PY_TEST_MODULES,
        env=ctx.base_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
    )
    if proc.returncode != 0:
        raise Failure("python3 cannot run: " + proc.stderr[-STDERR_TAIL:])
    version, missing = (proc.stdout.split("\n") + ["", ""])[:2]
    if missing.strip():
        raise Failure(
            "%s lacks the stdlib test modules %s: install the Debian package "
            "libpython%s-testsuite (apt-get install -y libpython%s-testsuite)"
            % (ctx.prog, missing.strip(), version, version)
        )


def python_body(ctx, run):
    out, err = run.step("workload.py", [ctx.prog, HERE / "workload.py"])
    run.record("workload.py stdout", out)
    run.record("workload.py stderr", err)
    out, err = run.step("unittest", [ctx.prog, "-m", "unittest", "-q"] + PY_TEST_MODULES)
    run.record("unittest stdout", out)
    run.record("unittest stderr (times normalised)", normalise_unittest(err))


def perl_body(ctx, run):
    out, err = run.step("workload.pl", [ctx.prog, HERE / "workload.pl"])
    run.record("workload.pl stdout", out)
    run.record("workload.pl stderr", err)


def sqlite_body(ctx, run):
    out, err = run.step(
        "sqlite3 < workload.sql",
        [ctx.prog, "-bail", run.folder / "case.db"],
        stdin_path=HERE / "workload.sql",
    )
    run.record("sqlite3 stdout", out)
    run.record("sqlite3 stderr", err)


def cxx_body(ctx, run):
    out, err = run.step("cxx_churn", [ctx.prog])
    run.record("cxx_churn stdout", out)
    run.record("cxx_churn stderr", err)


def memcached_wait(path, server, run, timeout, ready):
    """Polls until ready() is true (the server's socket accepting, or its stats settled)."""
    deadline = min(run.deadline, time.monotonic() + timeout)
    while True:
        if server.poll() is not None:
            raise Failure("memcached exited early: %s" % describe_status(server.returncode))
        try:
            if ready():
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise Failure("memcached at %s: not ready within %d s" % (path, timeout))
        time.sleep(0.05)


def memcached_socket_up(path):
    memcached_load.Connection(path).close()
    return True


def memcached_body(ctx, run):
    # A socket of its own in a short folder: a unix socket's path holds at most 107 bytes.
    folder = tempfile.mkdtemp(prefix="arc-mc-")
    path = os.path.join(folder, "mc.sock")
    argv = [ctx.prog, "-s", path, "-t", str(MC_WORKER_THREADS), "-m", str(MC_MEMORY_MB),
            "-I", MC_ITEM_MAX, "-o", "hashpower=%d" % MC_HASHPOWER, "-A"]
    if os.geteuid() == 0:
        argv += ["-u", "root"]  # memcached refuses to run as root without it
    server = subprocess.Popen(argv, cwd=str(run.folder), env=run.env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              start_new_session=True)
    try:
        memcached_wait(path, server, run, MC_START_TIMEOUT, lambda: memcached_socket_up(path))
        try:
            run.record("client threads", memcached_load.run_load(path))
            stats = {}

            def settled():
                # The load's items pass 1.5 a bucket, so the table must have grown; the stats
                # show the growth only once the maintenance thread has started and finished it.
                stats.update(memcached_load.server_stats(path))
                level = int(stats.get("hash_power_level", "0"))
                return level > MC_HASHPOWER and stats.get("hash_is_expanding") == "0"

            memcached_wait(path, server, run, MC_SETTLE_TIMEOUT, settled)
            conn = memcached_load.Connection(path)
            conn.send(b"shutdown\r\n")
            conn.close()
        except memcached_load.ProtocolError as e:
            raise Failure("memcached load: %s" % e)
        try:
            out, err = server.communicate(timeout=MC_EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise Failure("memcached did not exit within %d s of shutdown" % MC_EXIT_TIMEOUT)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.communicate()
        shutil.rmtree(folder, ignore_errors=True)
    err = err.decode("utf-8", "replace")
    if server.returncode != 0:
        raise Failure("memcached: %s\n--- stderr (tail) ---\n%s"
                      % (describe_status(server.returncode), err[-STDERR_TAIL:]))
    if stats.get("evictions") != "0":
        raise Failure("memcached evicted %s items: the model cannot check them (raise "
                      "MC_MEMORY_MB)" % stats.get("evictions"))
    run.record("server counters", "".join("%s %s\n" % (k, stats.get(k)) for k in MC_STATS))
    run.record("memcached stdout", out.decode("utf-8", "replace"))
    run.record("memcached stderr", err)


def generate_c(path):
    """A C file of a few thousand lines: tables, structs, many small functions, a main that
    prints checksums. Every value is unsigned arithmetic, so the output is defined."""
    r = Lcg(7)
    w = []
    w.append("/* generated by run_real.py for the gcc case: do not edit */")
    w.append("#include <stdint.h>\n#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n")
    for t in range(GEN_TABLES):
        words = ", ".join("0x%08xu" % r.below(1 << 32) for _ in range(GEN_TABLE_WORDS))
        w.append("static const uint32_t table_%d[%d] = {%s};" % (t, GEN_TABLE_WORDS, words))
    w.append("")
    w.append("struct node {\n    struct node *next;\n    uint64_t key;\n    char name[24];\n};")
    w.append("")
    for f in range(GEN_FUNCTIONS):
        t = r.below(GEN_TABLES)
        leaf = f % GEN_LEAF_EVERY == 0
        callee = f - f % GEN_LEAF_EVERY  # the leaf of this group, defined before f
        w.append("static uint64_t fn_%d(uint64_t x)\n{" % f)
        w.append("    uint64_t acc = 0x%xull;" % r.below(1 << 62))
        w.append("    char buf[48];")
        w.append("    for (unsigned i = 0; i < %du; i++) {" % (4 + r.below(12)))
        w.append("        switch ((unsigned)((x + i) %% %du)) {" % (3 if leaf else 4))
        mul, shift = r.below(1 << 40), 1 + r.below(40)
        w.append("        case 0: acc += x * 0x%xull ^ (acc >> %d); break;" % (mul, shift))
        mask = GEN_TABLE_WORDS - 1
        w.append("        case 1: acc ^= table_%d[(acc + i) & %du]; break;" % (t, mask))
        rot = 1 + r.below(62)
        w.append("        case 2: acc = (acc << %d) | (acc >> %d); break;" % (rot, 64 - rot))
        if not leaf:
            w.append("        default: acc -= fn_%d(x ^ i); break;" % callee)
        else:
            w.append("        default: break;")
        w.append("        }\n    }")
        w.append('    snprintf(buf, sizeof buf, "f%d:%%llx", (unsigned long long)acc);' % f)
        w.append("    for (const char *p = buf; *p; p++)")
        w.append("        acc = acc * 31u + (unsigned char)*p;")
        w.append("    return acc;\n}\n")
    w.append("static int node_cmp(const void *a, const void *b)\n{")
    w.append("    const struct node *na = *(const struct node *const *)a;")
    w.append("    const struct node *nb = *(const struct node *const *)b;")
    w.append("    if (na->key != nb->key)\n        return na->key < nb->key ? -1 : 1;")
    w.append("    return strcmp(na->name, nb->name);\n}\n")
    names = ", ".join("fn_%d" % f for f in range(GEN_FUNCTIONS))
    w.append("static uint64_t (*const fns[%d])(uint64_t) = {%s};" % (GEN_FUNCTIONS, names))
    args = ", ".join("%du" % r.below(1 << 30) for _ in range(GEN_FUNCTIONS))
    w.append("static const uint32_t args[%d] = {%s};\n" % (GEN_FUNCTIONS, args))
    w.append("int main(void)\n{")
    w.append("    struct node *head = NULL;\n    size_t count = 0;\n    uint64_t total = 0;")
    w.append("    for (size_t f = 0; f < %du; f++) {" % GEN_FUNCTIONS)
    w.append("        struct node *n = malloc(sizeof *n);")
    w.append("        if (!n)\n            return 1;")
    w.append("        n->key = fns[f](args[f]);")
    w.append('        snprintf(n->name, sizeof n->name, "fn_%zu", f);')
    w.append("        n->next = head;\n        head = n;")
    w.append("        count++;\n        total += n->key;")
    w.append("        if (f % 40 == 39)")
    w.append('            printf("after %zu: %016llx\\n", f + 1, (unsigned long long)total);')
    w.append("    }")
    w.append("    struct node **all = malloc(count * sizeof *all);")
    w.append("    if (!all)\n        return 1;")
    w.append("    size_t i = 0;")
    w.append("    for (struct node *n = head; n; n = n->next)\n        all[i++] = n;")
    w.append("    qsort(all, count, sizeof *all, node_cmp);")
    w.append('    printf("min %s %016llx max %s %016llx\\n", all[0]->name,')
    w.append("           (unsigned long long)all[0]->key, all[count - 1]->name,")
    w.append("           (unsigned long long)all[count - 1]->key);")
    w.append("    for (i = 0; i < count; i++)\n        free(all[i]);")
    w.append("    free(all);\n    return 0;\n}")
    path.write_text("\n".join(w) + "\n")


def gcc_prepare(ctx):
    ctx.generated = ctx.workdir / "gen.c"
    generate_c(ctx.generated)


def gcc_body(ctx, run):
    src = run.folder / "gen.c"
    shutil.copyfile(ctx.generated, src)
    # -O2 -g: optimisation and debug info make gcc's cc1 allocate the most.
    out, err = run.step(
        "gcc", [ctx.prog, "-std=c11", "-O2", "-g", "-Wall", "-Wextra", "-o", "gen", "gen.c"]
    )
    run.record("gcc exit status", "0\n")
    run.record("gcc stdout", out)
    run.record("gcc stderr (warnings)", err)
    out, err = run.step("./gen", [run.folder / "gen"])
    run.record("gen stdout", out)
    run.record("gen stderr", err)


def git_file_text(r, commit, index):
    lines = []
    for n in range(20 + r.below(60)):
        lines.append("commit %d file %d line %d: %x" % (commit, index, n, r.below(1 << 48)))
    return "\n".join(lines) + "\n"


def git_path(repo, index):
    return repo / ("dir%d" % (index % 5)) / ("file%d.txt" % index)


def git_body(ctx, run):
    git = ctx.prog
    repo = run.folder / "repo"
    repo.mkdir()
    run.step("git init", [git, "init", "-q", "-b", "main", repo])
    r = Lcg(11)
    alive = list(range(GIT_FILES))
    for index in alive:
        git_path(repo, index).parent.mkdir(exist_ok=True)
        git_path(repo, index).write_text(git_file_text(r, 0, index))
    run.step("git add", [git, "add", "-A"], cwd=repo)
    for c in range(GIT_COMMITS):
        # Each commit rewrites a few tracked files, appends to one, every 25th deletes one: all
        # changes `git commit -a` takes, so a commit costs one process (400 would be slow).
        for _ in range(1 + r.below(4)):
            index = alive[r.below(len(alive))]
            git_path(repo, index).write_text(git_file_text(r, c, index))
        with open(repo / "CHANGES", "a") as f:
            f.write("change %d\n" % c)
        if c % 25 == 24:
            git_path(repo, alive.pop(r.below(len(alive)))).unlink()
        if c == 0:
            run.step("git add CHANGES", [git, "add", "CHANGES"], cwd=repo)
        stamp = "@%d +0000" % (GIT_EPOCH + 60 * c)
        run.env["GIT_AUTHOR_DATE"] = stamp
        run.env["GIT_COMMITTER_DATE"] = stamp
        run.step(
            "git commit %d" % c,
            [git, "commit", "-a", "-q", "-m", "commit %d\n\nGenerated change %d." % (c, c)],
            cwd=repo,
        )
    fmt = "--format=%H %an <%ae> %ad %cn %cd%n%s%n%b"
    out, _ = run.step("git log", [git, "log", "--stat", "--date=iso-strict", fmt], cwd=repo)
    run.record("git log --stat", out)
    out, _ = run.step("git log -p", [git, "log", "-p", "-n", "30", "--format=%H"], cwd=repo)
    run.record("git log -p -n 30", out)
    out, err = run.step("git gc", [git, "gc", "--quiet"], cwd=repo)
    run.record("git gc output", out + err)
    out, err = run.step("git fsck", [git, "fsck", "--full", "--strict", "--no-progress"], cwd=repo)
    run.record("git fsck output", out + err)
    out, _ = run.step("git rev-list", [git, "rev-list", "--objects", "--all"], cwd=repo)
    run.record("git rev-list --objects --all", out)
    out, _ = run.step("git count-objects", [git, "count-objects", "-v"], cwd=repo)
    # Pack sizes depend on delta search order across threads; the object count does not.
    counts = [l for l in out.splitlines() if l.startswith(("count:", "in-pack:", "garbage:"))]
    run.record("git count-objects (counts)", "\n".join(counts) + "\n")
    out, _ = run.step("git diff", [git, "diff", "--stat", "HEAD~150", "HEAD"], cwd=repo)
    run.record("git diff --stat HEAD~150", out)


def git_env(env, home):
    env.update(
        {
            "HOME": str(home),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_AUTHOR_NAME": "Arc Alloc",
            "GIT_AUTHOR_EMAIL": "arcalloc@example.invalid",
            "GIT_COMMITTER_NAME": "Arc Alloc",
            "GIT_COMMITTER_EMAIL": "arcalloc@example.invalid",
            "GIT_TERMINAL_PROMPT": "0",
            # No automatic maintenance process after each commit: 200 extra spawns for nothing.
            "GIT_CONFIG_COUNT": "2",
            "GIT_CONFIG_KEY_0": "maintenance.auto",
            "GIT_CONFIG_VALUE_0": "false",
            "GIT_CONFIG_KEY_1": "gc.auto",
            "GIT_CONFIG_VALUE_1": "0",
        }
    )


class Case:
    def __init__(self, programs, package, probe, body, prepare=None, env=None):
        self.programs = programs  # tried in order when --prog is not given (names: on PATH)
        self.package = package  # the Debian package that ships it, for the failure message
        self.probe = probe  # argv after the program: cheap, exits 0
        self.body = body
        self.prepare = prepare
        self.env = env


CASES = {
    # Debian's python3 first: its stdlib tests come from libpython3.X-testsuite.
    "python": Case(
        ["/usr/bin/python3", "python3"], "python3", ["-c", "pass"], python_body, python_prepare
    ),
    "perl": Case(["perl"], "perl", ["-e", "1"], perl_body),
    "gcc": Case(["gcc"], "gcc (and libc6-dev)", ["--version"], gcc_body, gcc_prepare),
    "git": Case(["git"], "git", ["--version"], git_body, env=git_env),
    "sqlite": Case(["sqlite3"], "sqlite3", ["-version"], sqlite_body),
    # A real multi-threaded server: its worker threads allocate and free for every connection
    # and item, its maintenance thread grows the hash table, its slabs are 1 MiB blocks.
    "memcached": Case(["memcached"], "memcached", ["-V"], memcached_body),
    "cxx": Case(["cxx_churn"], "g++ (build the meson target cxx_churn)", ["1"], cxx_body),
}


class Context:
    """What both runs of a case share."""

    def __init__(self, args, case):
        self.case = case
        self.lib = os.path.abspath(args.lib)
        self.backend = args.backend
        self.workdir = Path(args.workdir).resolve()
        self.timeout = args.timeout
        self.prog = None
        self.generated = None
        # Both runs start from the same environment: the caller's, without any preload or
        # arcalloc setting, with a fixed locale and zone and no bytecode written into /usr.
        env = {
            k: v
            for k, v in os.environ.items()
            if k != "LD_PRELOAD" and not k.startswith("ARCALLOC_")
        }
        env.update({"LC_ALL": "C", "TZ": "UTC", "PYTHONDONTWRITEBYTECODE": "1"})
        self.base_env = env


def find_program(case, given):
    if given:
        path = shutil.which(given)
        if path:  # absolute: the runs start in folders of their own
            return os.path.abspath(path)
        raise Failure(
            "%s (given by --prog) is not an executable: install the Debian package %s"
            % (given, case.package)
        )
    for name in case.programs:
        path = shutil.which(name)
        if path:
            return os.path.abspath(path)
    raise Failure(
        "%s not found: install the Debian package %s" % (" or ".join(case.programs), case.package)
    )


def fresh_folder(path):
    """Empties one of the runner's own subfolders of --workdir (never --workdir itself)."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def make_run(ctx, name, preload, extra_env=None):
    folder = fresh_folder(ctx.workdir / name)
    env = dict(ctx.base_env)
    if ctx.case.env:
        home = folder / "home"
        home.mkdir()
        ctx.case.env(env, home)
    if preload:
        env["LD_PRELOAD"] = ctx.lib
        env["ARCALLOC_BACKEND"] = ctx.backend
    if extra_env:
        env.update(extra_env)
    return Run(name, folder, env, ctx.timeout)


def execute(ctx, run, checks):
    """Runs the case body: the seconds it took when every step exited 0, else None."""
    start = time.monotonic()
    try:
        ctx.case.body(ctx, run)
    except Failure as e:
        checks.check(False, "%s run failed: %s" % (run.name, e))
        return None
    elapsed = time.monotonic() - start
    checks.check(True, "")
    return elapsed


def compare(plain, preload, checks):
    if not checks.check(
        [l for l, _ in plain.outputs] == [l for l, _ in preload.outputs],
        "the two runs recorded different outputs",
    ):
        return
    for (label, a), (_, b) in zip(plain.outputs, preload.outputs):
        if checks.check(a == b, "%s differs between the plain and the preloaded run" % label):
            continue
        diff = difflib.unified_diff(
            a.splitlines(), b.splitlines(), "plain: " + label, "preload: " + label, lineterm=""
        )
        for n, line in enumerate(diff):
            if n == DIFF_LINES:
                print("... (diff cut)")
                break
            print(line)


def probe(ctx, args, checks):
    """One cheap run of the program with the probe variable set: its stderr must show the
    marker, which proves the library was loaded into the program."""
    key, _, value = args.probe_env.partition("=")
    run = make_run(ctx, "probe", True, {key: value})
    run.deadline = time.monotonic() + PROBE_TIMEOUT
    run.timeout = PROBE_TIMEOUT
    argv = [ctx.prog] + ctx.case.probe
    try:
        _, err = run.step("probe", argv)
    except Failure as e:
        checks.check(False, "probe run failed: %s" % e)
        return
    lines = [l for l in err.splitlines() if args.probe_marker in l]
    if checks.check(
        bool(lines),
        "no stderr line containing %r from %s under LD_PRELOAD=%s %s: the library did not load"
        % (args.probe_marker, " ".join(argv), ctx.lib, args.probe_env),
    ):
        print("probe: %s -> %s" % (args.probe_env, lines[0].strip()))
    shutil.rmtree(run.folder)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lib", required=True, help="the shared library to preload")
    p.add_argument("--backend", required=True, help="ARCALLOC_BACKEND value for the preloaded run")
    p.add_argument("--case", required=True, choices=sorted(CASES))
    p.add_argument("--workdir", required=True, help="scratch folder (subfolders are replaced)")
    p.add_argument("--prog", help="the program to run (default: looked up on PATH)")
    p.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT, help="seconds per run")
    p.add_argument(
        "--probe-env",
        default=DEFAULT_PROBE_ENV,
        help="VAR=VALUE for the probe run (default %(default)s)",
    )
    p.add_argument(
        "--probe-marker",
        default=DEFAULT_PROBE_MARKER,
        help="text the probe run's stderr must contain (default %(default)s)",
    )
    return p.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    case = CASES[args.case]
    ctx = Context(args, case)
    checks = Checks()
    print("case %s, backend %s, lib %s" % (args.case, args.backend, ctx.lib), flush=True)
    try:
        if not checks.check(os.path.isfile(ctx.lib), "library %s does not exist" % ctx.lib):
            return checks.done()
        ctx.prog = find_program(case, args.prog)
        ctx.workdir.mkdir(parents=True, exist_ok=True)
        if case.prepare:
            case.prepare(ctx)
    except Failure as e:
        checks.check(False, str(e))
        return checks.done()
    print("program: %s" % ctx.prog, flush=True)

    probe(ctx, args, checks)
    plain = make_run(ctx, "plain", False)
    t_plain = execute(ctx, plain, checks)
    preload = make_run(ctx, "preload", True)
    t_preload = execute(ctx, preload, checks)
    if t_plain is not None and t_preload is not None:
        print(
            "time: plain %.2f s, preload %.2f s (%.2fx)"
            % (t_plain, t_preload, t_preload / max(t_plain, 1e-3))
        )
        compare(plain, preload, checks)
        print("compared %d outputs" % len(plain.outputs))
    status = checks.done()
    if status == 0:  # keep the folders of a failed run for a look
        for run in (plain, preload):
            shutil.rmtree(run.folder)
    else:
        print("kept %s for inspection" % ctx.workdir)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
