#!/usr/bin/env python3
"""stats_demo.py: the program behind the real report in docs/stats.md. Four threads each build
a list of dicts and serialise it with json.dumps (the main thread 200 000 entries, three others
50 000). Run it with Python's small-object allocator off so every object comes from malloc:

    PYTHONMALLOC=malloc LD_PRELOAD=build/libarcalloc.so ARCALLOC_STATS=1 python3 tools/stats_demo.py
"""
import json
import threading

MAIN_ENTRIES = 200_000
WORKER_ENTRIES = 50_000
WORKERS = 3


def build(n):
    rows = [{"id": i, "name": "item%d" % i, "tags": ["t%d" % (i % 7), "x"], "score": i * 0.5}
            for i in range(n)]
    text = json.dumps(rows)
    if len(json.loads(text)) != n:
        raise SystemExit("round trip lost rows")


def main():
    threads = [threading.Thread(target=build, args=(WORKER_ENTRIES,)) for _ in range(WORKERS)]
    for t in threads:
        t.start()
    build(MAIN_ENTRIES)
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
