#!/usr/bin/env python3
"""tests/include_graph.py: derives the include graph of arcalloc's src/ and preload/ and checks
that data flows one way. A module is a .c file with its .h (heap.c + heap.h); each module sits in
a layer (the table below, lowest first). It fails (exit 1) on an include that points up a layer
and on any cycle between modules, and prints the graph: one line per module with the modules it
includes, grouped by layer. Owns nothing but this check; never changes a file.

  tests/include_graph.py [--dot]    (--dot: the graph in Graphviz form instead)
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
SCAN = ["src", "preload"]

# Layers, lowest first: a module may include its own layer's modules and those below. The
# standalone layers know nothing of the process; the base (OS doorway, options, messages,
# output, unwinding, valgrind) is shared by everything above it; hooks are what the allocator
# calls into statistics and profiling with plain arguments; reports and dumps sit on top. Each
# layer lives in the folder named beside it (src/meson.build gives each folder the include path
# of the folders below it, so the compiler refuses an upward include between folders; this check
# adds the finer layers inside src/process and the placement of every file).
LAYERS = [
    ("layers", "src/layers", "bitmap stretch pages ids tlsf buddy slab byte_ops result region_tree bits ilist"),
    ("base", "src/base", "os out unwind report options vg"),
    ("hooks", "src/hooks", "counters prof_hooks startup"),
    ("memory", "src/process", "dirty arena zero"),
    ("heap", "src/process", "heap span holes secure medium"),
    ("threads", "src/process", "thread"),
    ("api", "src/process", "api"),
    ("observe", "src/observe", "stats prof info"),
    ("start", "src/start", "start"),
    ("shim", "preload", "shim cxx"),
]
LAYER_OF = {m: i for i, (_, _, mods) in enumerate(LAYERS) for m in mods.split()}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def module_of(path):
    return os.path.splitext(os.path.basename(path))[0]


def scan():
    """{module: set(modules it includes)} over SCAN; headers of include/ are the public API
    (every layer may use it) and are left out."""
    edges, unknown, misplaced = {}, [], []
    for top in SCAN:
        for dirpath, _, files in os.walk(os.path.join(ROOT, top)):
            for f in sorted(files):
                if not f.endswith((".c", ".h", ".cpp")):
                    continue
                mod = module_of(f)
                if mod not in LAYER_OF:
                    unknown.append(os.path.relpath(os.path.join(dirpath, f), ROOT))
                    continue
                folder = os.path.relpath(dirpath, ROOT)
                if folder != LAYERS[LAYER_OF[mod]][1]:
                    misplaced.append((os.path.join(folder, f), LAYERS[LAYER_OF[mod]]))
                with open(os.path.join(dirpath, f), encoding="utf-8") as fh:
                    text = fh.read()
                deps = edges.setdefault(mod, set())
                for inc in INCLUDE.findall(text):
                    dep = module_of(inc)
                    if dep in ("arcalloc", "arcalloc_config") or dep == mod:
                        continue
                    deps.add(dep)
    return edges, unknown, misplaced


def find_cycles(edges):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def main():
    edges, unknown, misplaced = scan()
    problems = []
    for path, (name, folder, _) in misplaced:
        problems.append("%s: a module of layer %s, which lives in %s/" % (path, name, folder))
    for path in unknown:
        problems.append("%s: no layer (add its module to LAYERS in %s)" % (path, __file__))
    for mod, deps in sorted(edges.items()):
        for dep in sorted(deps):
            if dep not in LAYER_OF:
                problems.append("%s includes %s, which is not a module of src/" % (mod, dep))
            elif LAYER_OF[dep] > LAYER_OF[mod]:
                problems.append("%s (%s) includes %s (%s): up a layer" % (
                    mod, LAYERS[LAYER_OF[mod]][0], dep, LAYERS[LAYER_OF[dep]][0]))
    for comp in find_cycles(edges):
        problems.append("include cycle of %d modules: %s" % (len(comp), " ".join(comp)))

    if "--dot" in sys.argv[1:]:
        print("digraph arcalloc {")
        for i, (name, _, _) in enumerate(LAYERS):
            mods = sorted(m for m in edges if LAYER_OF.get(m) == i)
            print('  subgraph cluster_%s { label="%s"; %s }' % (name, name, "; ".join(mods)))
        for mod, deps in sorted(edges.items()):
            for dep in sorted(deps):
                print("  %s -> %s;" % (mod, dep))
        print("}")
    else:
        for i, (name, folder, _) in reversed(list(enumerate(LAYERS))):
            mods = sorted(m for m in edges if LAYER_OF.get(m) == i)
            if not mods:
                continue
            print("%s (%s):" % (name, folder))
            for mod in mods:
                deps = sorted(edges[mod])
                print("  %-10s -> %s" % (mod, " ".join(deps) if deps else "(nothing)"))
    for p in problems:
        print("FAIL: " + p, file=sys.stderr)
    print("include graph: %d modules, %d edges, %d problems" % (
        len(edges), sum(len(d) for d in edges.values()), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
