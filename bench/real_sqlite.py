#!/usr/bin/env python3
"""real_sqlite.py: the "sqlite" real-program workload. Writes a SQL script (a table of
hundreds of thousands of rows inserted in multi-row statements, two indexes, queries, an update
and a delete) and the exact output sqlite3 must print for it, computed here independently.
The runner feeds the script to `sqlite3 :memory:` under each allocator and compares outputs.
Never runs sqlite3 itself; stdlib only.

Standalone: real_sqlite.py SCALE OUTDIR  -> OUTDIR/sqlite-SCALE.sql and .expected
"""
import os
import sys

# Rows at scale 1.0: about a second of sqlite3 under glibc on the reference machine.
ROWS_FULL = 200_000
ROWS_MIN = 2_000
ROWS_PER_INSERT = 500  # rows per INSERT statement: sqlite's default limit is far above this
CATEGORIES = 97  # a prime, so id % CATEGORIES spreads evenly
UPDATED_CATEGORY = 7
DELETE_MOD, DELETE_REM = 10, 3  # rows with id % 10 == 3 are deleted
SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vu", "xe", "zo", "ab", "qi"]


def lcg(seed):
    """A fixed 64-bit LCG (Knuth's MMIX constants): same rows on every machine."""
    x = seed
    while True:
        x = (x * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
        yield x >> 33


def rows_for(scale):
    return max(ROWS_MIN, int(ROWS_FULL * scale))


def make_rows(n):
    rnd = lcg(12345)
    rows = []
    for i in range(1, n + 1):
        r = next(rnd)
        name = "".join(SYLLABLES[(r >> (4 * k)) % len(SYLLABLES)] for k in range(2 + r % 4))
        category = (r >> 20) % CATEGORIES
        price = (r >> 8) % 100_000
        note = "note-%d-%s" % (i, name * (1 + (r >> 28) % 6))
        rows.append((i, name, category, price, note))
    return rows


def sql_script(rows):
    out = [
        ".bail on",
        ".mode list",
        "PRAGMA cache_size = -262144;",
        "CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT NOT NULL, category INTEGER NOT NULL,"
        " price INTEGER NOT NULL, note TEXT NOT NULL);",
        "CREATE TABLE categories(id INTEGER PRIMARY KEY, label TEXT NOT NULL);",
        "BEGIN;",
    ]
    for c in range(CATEGORIES):
        out.append("INSERT INTO categories VALUES(%d, 'cat%02d');" % (c, c % 10))
    for start in range(0, len(rows), ROWS_PER_INSERT):
        chunk = rows[start:start + ROWS_PER_INSERT]
        out.append("INSERT INTO items VALUES " + ",".join(
            "(%d,'%s',%d,%d,'%s')" % r for r in chunk) + ";")
    out += [
        "COMMIT;",
        "CREATE INDEX items_category_price ON items(category, price);",
        "CREATE INDEX items_name ON items(name);",
        "SELECT count(*), sum(price) FROM items;",
        "SELECT category, count(*), sum(price), min(price), max(price) FROM items"
        " GROUP BY category ORDER BY category;",
        "SELECT count(*) FROM items WHERE name >= 'ka' AND name < 'kb';",
        "SELECT id, price FROM items WHERE category = 3 ORDER BY price DESC, id LIMIT 5;",
        "SELECT label, count(*), sum(length(note)) FROM items JOIN categories"
        " ON items.category = categories.id GROUP BY label ORDER BY label;",
        "UPDATE items SET price = price + 1, note = note || '!' WHERE category = %d;"
        % UPDATED_CATEGORY,
        "DELETE FROM items WHERE id %% %d = %d;" % (DELETE_MOD, DELETE_REM),
        "SELECT count(*), sum(price), sum(length(note)) FROM items;",
        "SELECT name, count(*) FROM items GROUP BY name ORDER BY count(*) DESC, name LIMIT 3;",
    ]
    return "\n".join(out) + "\n"


def expected_output(rows):
    out = []
    out.append("%d|%d" % (len(rows), sum(r[3] for r in rows)))
    by_cat = {}
    for r in rows:
        by_cat.setdefault(r[2], []).append(r[3])
    for c in sorted(by_cat):
        p = by_cat[c]
        out.append("%d|%d|%d|%d|%d" % (c, len(p), sum(p), min(p), max(p)))
    out.append("%d" % sum(1 for r in rows if "ka" <= r[1] < "kb"))
    top = sorted((r for r in rows if r[2] == 3), key=lambda r: (-r[3], r[0]))[:5]
    out += ["%d|%d" % (r[0], r[3]) for r in top]
    by_label = {}
    for r in rows:
        label = "cat%02d" % (r[2] % 10)
        n, length = by_label.get(label, (0, 0))
        by_label[label] = (n + 1, length + len(r[4]))
    out += ["%s|%d|%d" % (lb, n, ln) for lb, (n, ln) in sorted(by_label.items())]
    after = []
    for r in rows:
        if r[0] % DELETE_MOD == DELETE_REM:
            continue
        if r[2] == UPDATED_CATEGORY:
            r = (r[0], r[1], r[2], r[3] + 1, r[4] + "!")
        after.append(r)
    out.append("%d|%d|%d" % (len(after), sum(r[3] for r in after),
                             sum(len(r[4]) for r in after)))
    names = {}
    for r in after:
        names[r[1]] = names.get(r[1], 0) + 1
    out += ["%s|%d" % (nm, n) for nm, n in sorted(names.items(), key=lambda kv: (-kv[1], kv[0]))[:3]]
    return "\n".join(out) + "\n"


def generate(scale, outdir):
    """Writes the script and its expected output once per scale; returns their paths."""
    os.makedirs(outdir, exist_ok=True)
    tag = ("%g" % scale).replace(".", "_")
    sql = os.path.join(outdir, "sqlite-%s.sql" % tag)
    exp = os.path.join(outdir, "sqlite-%s.expected" % tag)
    if not (os.path.exists(sql) and os.path.exists(exp)):
        rows = make_rows(rows_for(scale))
        for path, text in ((sql, sql_script(rows)), (exp, expected_output(rows))):
            with open(path + ".tmp", "w") as f:
                f.write(text)
            os.replace(path + ".tmp", path)
    return sql, exp


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: real_sqlite.py SCALE OUTDIR")
    print(*generate(float(sys.argv[1]), sys.argv[2]))
