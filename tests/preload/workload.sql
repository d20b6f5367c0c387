-- workload.sql: the sqlite case of run_real.py (fed to sqlite3 on stdin against a fresh file
-- database). 300 000 generated rows, indexes, aggregates, joins, window functions, updates,
-- deletes, VACUUM and an integrity check. Never uses random() or the clock: output is exact.
PRAGMA journal_mode = WAL;
PRAGMA synchronous = OFF;
PRAGMA cache_size = -65536;

CREATE TABLE item (
    id INTEGER PRIMARY KEY,
    k INTEGER NOT NULL,
    grp TEXT NOT NULL,
    v REAL NOT NULL,
    s TEXT NOT NULL
);

-- Knuth's multiplicative hash (2654435761) spreads ids over 32 bits without random().
BEGIN;
WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 300000)
INSERT INTO item
SELECT x,
       (x * 7919) % 100003,
       'g' || (x % 97),
       (x % 1000) / 8.0,
       printf('%08x-%s', (x * 2654435761) % 4294967296,
              substr('abcdefghijklmnopqrstuvwxyz', 1 + x % 26, 1 + x % 9))
FROM n;
COMMIT;

CREATE INDEX item_k ON item(k);
CREATE INDEX item_grp_v ON item(grp, v);

SELECT 'rows', count(*), sum(k), total(v) FROM item;
SELECT 'distinct', count(DISTINCT k), count(DISTINCT grp) FROM item;
SELECT 'grp', grp, count(*), sum(k), printf('%.4f', avg(v)), min(s), max(s)
  FROM item GROUP BY grp ORDER BY grp LIMIT 12;
SELECT 'range', k, count(*), group_concat(id, ',')
  FROM (SELECT k, id FROM item WHERE k BETWEEN 5000 AND 5040 ORDER BY id)
 GROUP BY k ORDER BY k;
SELECT 'prefix', count(*) FROM item WHERE s >= '8' AND s < '9';

CREATE TABLE grp_info AS
  SELECT grp, count(*) AS n, max(v) AS top FROM item GROUP BY grp;
SELECT 'join', count(*), sum(g.n), printf('%.3f', sum(i.v * g.top))
  FROM item i JOIN grp_info g ON g.grp = i.grp WHERE i.v > 100;

SELECT 'window', grp, id, rnk, printf('%.3f', running)
  FROM (SELECT grp, id,
               rank() OVER (PARTITION BY grp ORDER BY v DESC, id) AS rnk,
               sum(v) OVER (PARTITION BY grp ORDER BY id
                            ROWS BETWEEN 50 PRECEDING AND CURRENT ROW) AS running
          FROM item)
 WHERE rnk <= 2 AND grp IN ('g1', 'g42', 'g96') ORDER BY grp, rnk, id;

BEGIN;
UPDATE item SET v = v * 2, s = s || '+' WHERE id % 3 = 0;
DELETE FROM item WHERE id % 5 = 0;
INSERT INTO item (id, k, grp, v, s)
  SELECT id + 300000, k, grp, v / 2, upper(s) FROM item WHERE id % 7 = 0;
COMMIT;

SELECT 'after', count(*), sum(k), printf('%.2f', total(v)), sum(length(s)) FROM item;
SELECT 'top', id, k, grp, v, s FROM item ORDER BY v DESC, id LIMIT 5;
SELECT 'grp2', grp, count(*), printf('%.4f', avg(v))
  FROM item GROUP BY grp ORDER BY count(*) DESC, grp LIMIT 5;

VACUUM;
PRAGMA integrity_check;
SELECT 'final', count(*), sum(k) FROM item;
