"""memcached_load.py: the load run_real.py's memcached case drives a real memcached with: several
client threads at once, each on keys of its own, storing, reading back, rewriting, deleting and
counting, over connections that open and close. Owns the text-protocol client and the model of
what the server must hold; never starts or stops the server, never writes a file.

Every value is derived from its key and version, so each thread can check every byte it reads
back, and what a thread reports (counts and a digest of all it read) is the same in every run
whatever order the threads' requests met in the server.
"""

import hashlib
import socket
import threading

from lcg import Lcg

# Client threads at once, each with its own keys (memcached serves each connection on one of its
# worker threads; the server's own threads then allocate and free across each other).
THREADS = 4
# Keys per thread: with 4 threads, 24 000 items, past 1.5 items a bucket of the 2^13-bucket table
# run_real.py starts the server with (it grows the table then, on its maintenance thread).
KEYS = 6000
# Values: mostly 1 B .. 2 KiB; one in LARGE_ONE_IN up to LARGE_MAX (the server's medium slab
# classes); one in HUGE_ONE_IN up to HUGE_MAX, past the server's 512 KiB slab chunk limit, so
# it is stored as a chain of chunks. About 45 MB in all, below the server's memory limit: no
# item is ever evicted, which the case checks.
SMALL_MAX = 2048
LARGE_ONE_IN = 60
LARGE_MAX = 96 << 10
HUGE_ONE_IN = 1500
HUGE_MAX = 1200 << 10
# Requests sent in one write before the replies are read (pipelining keeps the run short).
BATCH = 100
# Short-lived connections each thread opens, reads a few keys on and closes.
CHURN_CONNECTIONS = 40
CHURN_KEYS = 25
# Seconds a socket waits for a reply before the run fails.
REPLY_TIMEOUT = 60


class ProtocolError(Exception):
    """The server answered something the model did not expect."""


def value_of(key, version, size):
    """The bytes key holds at `version`: a 32-byte digest of both, repeated to `size`."""
    seed = hashlib.blake2s(b"%s/%d" % (key, version)).digest()
    return (seed * (size // len(seed) + 1))[:size]


def size_draw(r):
    if r.below(HUGE_ONE_IN) == 0:
        return 1 + r.below(HUGE_MAX)
    if r.below(LARGE_ONE_IN) == 0:
        return 1 + r.below(LARGE_MAX)
    return 1 + r.below(SMALL_MAX)


class Connection:
    """One client connection speaking memcached's text protocol."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(REPLY_TIMEOUT)
        self.sock.connect(path)
        self.buf = b""

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ProtocolError("the server closed the connection")
        self.buf += chunk

    def line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n", 1)
        return head

    def exactly(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2 :]
        return data

    def expect(self, want):
        got = self.line()
        if got != want:
            raise ProtocolError("expected %r, got %r" % (want, got))

    def get_many(self, keys):
        """{key: value} of the keys the server holds, by one multi-key get."""
        self.send(b"get " + b" ".join(keys) + b"\r\n")
        found = {}
        while True:
            head = self.line()
            if head == b"END":
                return found
            parts = head.split()
            if len(parts) != 4 or parts[0] != b"VALUE":
                raise ProtocolError("bad get reply %r" % head[:80])
            found[parts[1]] = self.exactly(int(parts[3]))


class Worker:
    """One client thread: its keys, the versions and sizes the server must hold, a tally."""

    def __init__(self, path, index):
        self.path = path
        self.index = index
        self.r = Lcg(1000 + index)
        self.keys = [b"t%d:k%d" % (index, i) for i in range(KEYS)]
        self.model = {}  # key -> (version, size), or absent when deleted
        self.counter = b"t%d:counter" % index
        self.count = 0
        self.digest = hashlib.sha256()
        self.tally = {"stored": 0, "read": 0, "bytes_read": 0, "deleted": 0, "missing": 0}
        self.error = None

    def store(self, conn, keys, version):
        """Sets keys to `version` (pipelined, noreply), then syncs on a no-op."""
        for start in range(0, len(keys), BATCH):
            out = []
            for key in keys[start : start + BATCH]:
                size = size_draw(self.r)
                out.append(b"set %s 0 0 %d noreply\r\n%s\r\n" % (key, size,
                                                                value_of(key, version, size)))
                self.model[key] = (version, size)
                self.tally["stored"] += 1
            conn.send(b"".join(out))
        conn.send(b"mn\r\n")
        conn.expect(b"MN")

    def check(self, conn, keys):
        """Reads keys back in batches; every value must be the model's, byte for byte."""
        for start in range(0, len(keys), BATCH):
            part = keys[start : start + BATCH]
            found = conn.get_many(part)
            for key in part:
                want = self.model.get(key)
                got = found.get(key)
                if want is None:
                    if got is not None:
                        raise ProtocolError("%r was deleted but the server returned it" % key)
                    self.tally["missing"] += 1
                    continue
                if got is None:
                    raise ProtocolError("%r (version %d) is missing" % (key, want[0]))
                if got != value_of(key, *want):
                    raise ProtocolError("%r (version %d, %d B) came back changed" % (
                        key, want[0], want[1]))
                self.digest.update(key + b"=" + got[:16])
                self.tally["read"] += 1
                self.tally["bytes_read"] += len(got)

    def delete_some(self, conn):
        """Deletes about a third of the keys, each confirmed."""
        doomed = [k for k in self.keys if self.r.below(3) == 0]
        for start in range(0, len(doomed), BATCH):
            part = doomed[start : start + BATCH]
            conn.send(b"".join(b"delete %s\r\n" % k for k in part))
            for key in part:
                want = b"DELETED" if key in self.model else b"NOT_FOUND"
                conn.expect(want)
                self.model.pop(key, None)
                self.tally["deleted"] += 1

    def count_up(self, conn, steps):
        """incr on the thread's counter: the server's number must follow the model's."""
        for _ in range(steps):
            step = 1 + self.r.below(1000)
            conn.send(b"incr %s %d\r\n" % (self.counter, step))
            self.count += step
            conn.expect(b"%d" % self.count)

    def churn(self):
        """Connections opened, used for a few reads and closed, one after another."""
        for _ in range(CHURN_CONNECTIONS):
            conn = Connection(self.path)
            try:
                picks = [self.keys[self.r.below(KEYS)] for _ in range(CHURN_KEYS)]
                self.check(conn, picks)
            finally:
                conn.close()

    def run(self):
        try:
            conn = Connection(self.path)
            try:
                conn.send(b"set %s 0 0 1\r\n0\r\n" % self.counter)
                conn.expect(b"STORED")
                self.store(conn, self.keys, 1)
                self.check(conn, self.keys)
                self.count_up(conn, 200)
                rewrite = [k for k in self.keys if self.r.below(2) == 0]
                self.store(conn, rewrite, 2)
                self.churn()
                self.delete_some(conn)
                self.store(conn, [k for k in self.keys if self.r.below(5) == 0], 3)
                self.check(conn, self.keys)
            finally:
                conn.close()
        except (OSError, ProtocolError) as e:
            self.error = "client thread %d: %s" % (self.index, e)

    def report(self):
        t = self.tally
        return ("thread %d: stored %d, read %d (%d bytes), deleted %d, absent %d, counter %d, "
                "digest %s" % (self.index, t["stored"], t["read"], t["bytes_read"], t["deleted"],
                               t["missing"], self.count, self.digest.hexdigest()[:16]))


def run_load(path):
    """Runs THREADS workers against the server at `path`: their reports, one line each, or
    raises ProtocolError with every failing thread's message."""
    workers = [Worker(path, i) for i in range(THREADS)]
    threads = [threading.Thread(target=w.run) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    errors = [w.error for w in workers if w.error]
    if errors:
        raise ProtocolError("; ".join(errors))
    return "\n".join(w.report() for w in workers) + "\n"


def server_stats(path):
    """{name: value} of the server's `stats` reply."""
    conn = Connection(path)
    try:
        conn.send(b"stats\r\n")
        stats = {}
        while True:
            head = conn.line()
            if head == b"END":
                return stats
            parts = head.decode("ascii", "replace").split(" ", 2)
            if len(parts) == 3 and parts[0] == "STAT":
                stats[parts[1]] = parts[2]
    finally:
        conn.close()
