"""workload.py: the python case of run_real.py. Real interpreter work (json, re, dict/set churn,
sorting, a class-heavy simulation) whose printed digest depends only on the computation, never
on addresses, hash seeds or timing. Never reads the clock, never prints pointers or ids."""

import hashlib
import heapq
import json
import random
import re
import sys

# Fixed seed: both runs of the case must compute exactly the same thing.
SEED = 20240519
# Sizes chosen so the whole workload takes about 2 s under glibc on the 2-core CI machine.
JSON_RECORDS = 12000
JSON_ROUNDS = 3
TEXT_LINES = 30000
CHURN_STEPS = 200000
SORT_ITEMS = 120000
SIM_PARTICLES = 3000
SIM_STEPS = 60


def digest(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def report(name, *values):
    print(name + ": " + " ".join(str(v) for v in values))


def json_roundtrips(rng):
    words = ["alpha", "beta", "gamma", "delta", "ünïcödé", "long-" + "x" * 200, ""]
    records = []
    for i in range(JSON_RECORDS):
        records.append(
            {
                "id": i,
                "name": rng.choice(words) + str(rng.randrange(10**6)),
                "score": rng.randrange(-(10**12), 10**12) / 1000.0,
                "tags": [rng.choice(words) for _ in range(rng.randrange(0, 8))],
                "nested": {"depth": [[j, str(j)] for j in range(rng.randrange(0, 5))]},
                "flag": rng.random() < 0.5,
                "none": None,
            }
        )
    doc = {"records": records, "meta": {"count": len(records), "seed": SEED}}
    text = json.dumps(doc, sort_keys=True)
    for _ in range(JSON_ROUNDS):
        back = json.loads(text)
        if back != doc:
            raise SystemExit("json round-trip changed the document")
        text = json.dumps(back, sort_keys=True, ensure_ascii=bool(_ % 2))
    report("json", len(text), digest(json.dumps(json.loads(text), sort_keys=True)))


def regex_work(rng):
    syllables = ["ka", "lo", "mi", "zu", "ter", "an", "qu", "ix", "-", " ", "42", "@", "."]
    lines = []
    for i in range(TEXT_LINES):
        parts = [rng.choice(syllables) for _ in range(rng.randrange(3, 25))]
        lines.append("%05d %s user%d@host%d.example" % (i, "".join(parts), i % 97, i % 13))
    text = "\n".join(lines)
    emails = re.findall(r"\b([a-z]+\d+)@(host\d+)\.example\b", text)
    words = re.findall(r"[a-z]{4,}", text)
    swapped = re.sub(r"(\d+)-(\w+)", lambda m: m.group(2).upper() + "+" + m.group(1), text)
    fields = [re.split(r"[ .@-]+", line) for line in lines[::7]]
    pairs = [(a, b) for a in ("ka", "lo", "mi") for b in ("an", "ix")]
    compiled = [re.compile(r"%s(\w{0,4})%s" % pair) for pair in pairs]
    hits = sum(len(c.findall(text)) for c in compiled)
    report(
        "re",
        len(emails),
        len(words),
        len(swapped),
        sum(len(f) for f in fields),
        hits,
        digest(swapped),
    )


def dict_set_churn(rng):
    table = {}
    seen = set()
    frozen = set()
    for step in range(CHURN_STEPS):
        op = rng.randrange(10)
        key = "k%d" % rng.randrange(50000)
        if op < 5:
            table[key] = [step, key * (step % 3)]
            seen.add((key, step % 11))
        elif op < 8:
            table.pop(key, None)
            seen.discard((key, step % 11))
        elif op < 9:
            frozen.add(frozenset(k for k in (key, str(step % 100), "z")))
        else:
            if len(table) > 30000:
                for k in sorted(table)[: len(table) // 3]:
                    del table[k]
    total = sum(v[0] for v in table.values())
    report("churn", len(table), len(seen), len(frozen), total, digest(repr(sorted(table))))


def sorting(rng):
    ints = [rng.randrange(-(10**9), 10**9) for _ in range(SORT_ITEMS)]
    strs = ["%x-%d" % (rng.randrange(1 << 40), i % 17) for i in range(SORT_ITEMS // 2)]
    tuples = [(i % 101, -i, str(i)) for i in ints[: SORT_ITEMS // 2]]
    a = sorted(ints)
    b = sorted(strs, key=lambda s: (len(s), s[::-1]))
    c = sorted(tuples, reverse=True)
    merged = list(heapq.merge(a[::2], a[1::2]))
    if merged != a:
        raise SystemExit("heapq.merge disagrees with sorted")
    report("sort", a[0], a[-1], b[0], b[-1], c[0], digest(repr(a[::997]) + repr(b[::991])))


class Particle:
    def __init__(self, pid, x, y, vx, vy):
        self.pid = pid
        self.x, self.y, self.vx, self.vy = x, y, vx, vy
        self.history = []

    def step(self, size):
        self.x += self.vx
        self.y += self.vy
        if not 0 <= self.x < size:
            self.vx = -self.vx
            self.x = max(0, min(size - 1, self.x))
        if not 0 <= self.y < size:
            self.vy = -self.vy
            self.y = max(0, min(size - 1, self.y))
        self.history.append((self.x, self.y))
        if len(self.history) > 8:
            self.history = self.history[-4:]


class Heavy(Particle):
    __slots__ = ()

    def step(self, size):
        super().step(size)
        self.vx = int(self.vx * 0.99) or 1


class Event:
    __slots__ = ("time", "kind", "who")

    def __init__(self, time, kind, who):
        self.time, self.kind, self.who = time, kind, who

    def __lt__(self, other):
        return (self.time, self.kind, self.who) < (other.time, other.kind, other.who)


def simulation(rng):
    size = 1000
    particles = {}
    next_id = 0
    for _ in range(SIM_PARTICLES):
        cls = Heavy if rng.random() < 0.3 else Particle
        particles[next_id] = cls(
            next_id,
            rng.randrange(size),
            rng.randrange(size),
            rng.randrange(-9, 10),
            rng.randrange(-9, 10),
        )
        next_id += 1
    events = []
    collisions = 0
    for t in range(SIM_STEPS):
        grid = {}
        for p in particles.values():
            p.step(size)
            grid.setdefault((p.x // 25, p.y // 25), []).append(p)
        for cell in grid.values():
            if len(cell) > 3:
                collisions += 1
                victim = min(cell, key=lambda q: q.pid)
                heapq.heappush(events, Event(t + 1, "die", victim.pid))
        while events and events[0].time <= t:
            ev = heapq.heappop(events)
            if particles.pop(ev.who, None) is not None:
                particles[next_id] = Particle(next_id, ev.who % size, t % size, 1, -1)
                next_id += 1
    state = sorted((p.pid, p.x, p.y, p.vx, p.vy, tuple(p.history)) for p in particles.values())
    report("sim", len(particles), next_id, collisions, digest(repr(state)))


def main():
    rng = random.Random(SEED)
    json_roundtrips(rng)
    regex_work(rng)
    dict_set_churn(rng)
    sorting(rng)
    simulation(rng)
    report("done", sys.version_info[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
