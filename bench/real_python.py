#!/usr/bin/env python3
"""real_python.py: the "python" real-program workload, run by python3 under each allocator
(the runner sets PYTHONMALLOC=malloc so every object goes through the allocator under test,
not only those over pymalloc's 512 bytes). Builds records in dicts, round-trips them through
json, scans generated text with regular expressions, counts words in a dict and sorts; checks
every result against one computed another way. Exits 1 with a message on a wrong result;
prints "python ops=N" (N = records processed) on success.

Usage: real_python.py [SCALE]   (1.0: about a second under glibc on the reference machine)
"""
import json
import re
import sys

RECORDS_FULL = 30_000
RECORDS_MIN = 1_000
WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
         "lambda", "mu", "nu", "xi", "omicron", "pi", "rho", "sigma", "tau", "upsilon"]


def fail(why):
    sys.stderr.write("python: FAILED: %s\n" % why)
    sys.exit(1)


def lcg(seed):
    x = seed
    while True:
        x = (x * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
        yield x >> 33


def main():
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    if not 0.001 <= scale <= 100:
        fail("scale must be in [0.001, 100]")
    n = max(RECORDS_MIN, int(RECORDS_FULL * scale))
    rnd = lcg(2024)

    # Records: nested dicts and lists of small strings and ints, like parsed API data.
    records = []
    for i in range(n):
        r = next(rnd)
        words = [WORDS[(r >> k) % len(WORDS)] for k in range(0, 3 + r % 7)]
        records.append({
            "id": i,
            "user": "user%05d" % (r % 20000),
            "tags": words,
            "score": (r >> 7) % 1000,
            "geo": {"lat": (r % 18000) / 100.0 - 90, "lon": (r % 36000) / 100.0 - 180},
            "text": " ".join(words) + " id=%d score=%d" % (i, (r >> 7) % 1000),
        })

    # JSON round trip, in chunks as a server would handle requests.
    chunk = 500
    back = []
    for s in range(0, n, chunk):
        blob = json.dumps(records[s:s + chunk], sort_keys=True)
        back.extend(json.loads(blob))
    if back != records:
        fail("json round trip changed the records")

    # Regular expressions over the text fields, checked against plain string methods.
    pat = re.compile(r"id=(\d+) score=(\d+)")
    total_score = 0
    for rec in back:
        m = pat.search(rec["text"])
        if not m or int(m.group(1)) != rec["id"]:
            fail("regex lost record %d" % rec["id"])
        total_score += int(m.group(2))
    if total_score != sum(rec["score"] for rec in records):
        fail("regex scores do not add up")
    text = "\n".join(rec["text"] for rec in back)
    found = len(re.findall(r"\bsigma\b", text))
    if found != sum(rec["tags"].count("sigma") for rec in records):
        fail("regex found %d sigmas" % found)

    # Word counts in a dict, a per-user index, and a sort.
    counts = {}
    by_user = {}
    for rec in back:
        for w in rec["tags"]:
            counts[w] = counts.get(w, 0) + 1
        by_user.setdefault(rec["user"], []).append(rec["id"])
    if sum(counts.values()) != sum(len(rec["tags"]) for rec in records):
        fail("word counts do not add up")
    if sum(len(v) for v in by_user.values()) != n:
        fail("user index lost records")
    ranked = sorted(back, key=lambda rec: (-rec["score"], rec["id"]))
    if any(ranked[i]["score"] < ranked[i + 1]["score"] for i in range(n - 1)):
        fail("sort is not ordered")
    print("python ops=%d" % n)


if __name__ == "__main__":
    main()
