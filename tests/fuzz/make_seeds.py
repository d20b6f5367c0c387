#!/usr/bin/env python3
"""tests/fuzz/make_seeds.py: writes the seed corpus, tests/fuzz/corpus/<harness>/<name>.

Each seed is an operation sequence in its harness's input format (the decoders at the top of
fuzz_byte.c, fuzz_pages.c, fuzz_ids.c and fuzz_malloc.c): a few named scenarios per harness that
reach deep states at once (many live blocks, several and adjacent regions, exhaustion, big id
maps, page runs), where libFuzzer alone takes minutes. Deterministic: run it again after changing
a decoder and commit the result. Keeps the whole corpus far below 100 KiB.

    python3 tests/fuzz/make_seeds.py
"""
import os
import random
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def le(value, width):
    return struct.pack('<Q', value % (1 << 64))[:width]


def below(value, n):
    """fuzz_below(n) reading `value`: two bytes when n fits them, else four or eight."""
    if n <= 1 << 16:
        return le(value, 2)
    if n <= 1 << 32:
        return le(value, 4)
    return le(value, 8)


def log2(x):
    return x.bit_length() - 1


# ---- fuzz_byte.c --------------------------------------------------------------------------

class Byte:
    POOL_PAGES = (2 << 20) // 4096
    OP_ALLOC, OP_FREE, OP_INTERIOR, OP_WILD, OP_STALE = 0, 10, 16, 17, 18
    OP_ADD, OP_REMOVE, OP_INIT, OP_EXHAUST, OP_FREE_MANY, OP_VERIFY, OP_CHECK = range(19, 26)
    SIZE_SPECIALS = 24  # entries in size_specials[]

    def __init__(self):
        self.out = bytearray()
        self.nlive = 0

    @staticmethod
    def size(n):
        if 1 <= n <= 256:
            return bytes([0, n - 1])
        if n <= 4096:
            return bytes([4]) + le(n - 1, 2)
        return bytes([6]) + le(n - 1, 4)

    @staticmethod
    def special_size(index):
        return bytes([7 + 8 * index])

    @staticmethod
    def align(a):
        k = log2(a)
        if k <= 4:
            return bytes([k])
        if k <= 12:
            return bytes([160 + k - 5])
        return bytes([230 + (k - 13 - 230 % 6) % 6])

    @staticmethod
    def pages_range(first_page, pages):
        """A range of whole pages: no jitter, exactly `pages` pages (1..128)."""
        return below(first_page, Byte.POOL_PAGES) + bytes([0, 2 + 4 * 16, pages - 1])

    @staticmethod
    def rest_of_pool(first_page, jitter=0):
        return below(first_page, Byte.POOL_PAGES) + bytes([jitter, 3])

    def init(self, rng, garbage=0xa5):
        self.out += bytes([self.OP_INIT]) + rng + bytes([garbage])
        self.nlive = 0

    def add(self, rng):
        self.out += bytes([self.OP_ADD]) + rng

    def alloc(self, size, align=16, seed=0):
        self.out += bytes([self.OP_ALLOC]) + self.size(size) + self.align(align) + bytes([seed])
        self.nlive += 1

    def free(self, index, how=0):
        if self.nlive:
            self.out += bytes([self.OP_FREE]) + below(index, 1 << 16) + bytes([how])
            self.nlive -= 1

    def interior(self, index, offset):
        self.out += bytes([self.OP_INTERIOR]) + below(index, 1 << 16) + le(offset, 2)

    def edge(self, region, e):
        """op_wild case 3: a region's first bytes (e even: lo + e/2) or last ones (hi - e/2)."""
        self.out += bytes([self.OP_WILD, 3]) + le(region, 2) + bytes([e])

    def wild(self, offset, aligned=True):
        self.out += bytes([self.OP_WILD, 5 + (8 if aligned else 0)]) + le(offset, 4)

    def special_pointer(self, kind):
        self.out += bytes([self.OP_WILD, kind])  # 0 NULL, 1 stack, 2 global

    def stale(self, k):
        self.out += bytes([self.OP_STALE, k])

    def remove(self, region, bogus=False):
        self.out += bytes([self.OP_REMOVE, 224 + region if bogus else region])

    def exhaust(self, size, align=16, seed=0):
        self.out += bytes([self.OP_EXHAUST]) + self.size(size) + self.align(align) + bytes([seed])

    def free_many(self, count, rnd):
        self.out += bytes([self.OP_FREE_MANY, count - 1])
        for _ in range(count):
            self.out += le(rnd.randrange(1 << 16), 2) + bytes([rnd.randrange(256)])

    def verify(self):
        self.out += bytes([self.OP_VERIFY])

    def edges_of_all(self, regions):
        for r in range(regions):
            for e in (0, 32, 64, 1, 33):  # lo, lo + 16, lo + 32, hi, hi - 16
                self.edge(r, e)


def byte_seeds():
    rnd = random.Random(6)
    seeds = {}

    # One region over the whole pool: every size class and alignment, frees of every kind.
    s = Byte()
    s.init(Byte.rest_of_pool(0))
    sizes = [1, 8, 16, 17, 24, 48, 64, 100, 256, 500, 1000, 1024, 2000, 4096, 5000, 20000,
             65536, 70000, 200000]
    for i, n in enumerate(sizes):
        s.alloc(n, [1, 16, 32, 64, 4096, 16, 256][i % 7], seed=i)
    for i in range(15):  # blocks up to 20000 bytes: the offset is read as two bytes
        s.interior(i, 8 + i)
        s.interior(i, 16 * (i + 1))
    for i in range(8):
        s.free(rnd.randrange(s.nlive), how=i)
    s.stale(0)
    s.stale(1)
    s.wild(4096 * 3 + 48)
    s.wild(777, aligned=False)
    for k in (0, 1, 2):
        s.special_pointer(k)
    s.verify()
    seeds['mixed'] = s

    # Three regions, the last two adjacent, probed at their edges; blocks in all of them, the
    # middle region emptied and removed, then added back.
    s = Byte()
    s.init(Byte.pages_range(0, 64))
    s.add(Byte.pages_range(128, 64))
    s.add(Byte.pages_range(192, 64))
    s.edges_of_all(3)
    for i in range(40):
        s.alloc(rnd.choice([16, 48, 200, 1000, 3000, 9000]), rnd.choice([16, 16, 64, 1024]), i)
    s.edges_of_all(3)
    s.free_many(40, rnd)
    s.remove(1)
    s.remove(2, bogus=True)
    s.add(Byte.pages_range(128, 64))
    s.edges_of_all(3)
    s.verify()
    seeds['regions'] = s

    # Exhaustion: small blocks until the region is full, half freed, big blocks into the holes.
    s = Byte()
    s.init(Byte.pages_range(16, 100))
    s.exhaust(48, seed=1)
    s.free_many(64, rnd)
    s.exhaust(4096, 64, seed=2)
    s.free_many(64, rnd)
    s.exhaust(20000, 4096, seed=3)
    s.verify()
    seeds['exhaust'] = s

    # Refusals: bad parameters, absurd sizes, overlapping and bogus regions, removal with
    # blocks live, a region added at an unaligned start.
    s = Byte()
    s.init(Byte.pages_range(1, 32))
    s.alloc(16, 16)
    for index in range(Byte.SIZE_SPECIALS - 6, Byte.SIZE_SPECIALS):
        s.out += bytes([Byte.OP_ALLOC]) + Byte.special_size(index) + Byte.align(16) + b'\x00'
    s.out += bytes([Byte.OP_ALLOC]) + Byte.size(64) + bytes([250, 0])  # align 0, 3, ...
    s.add(Byte.pages_range(8, 16))  # overlaps the first region
    s.add(below(40, Byte.POOL_PAGES) + bytes([200, 0, 5]))  # 5 bytes at page 40 + 512
    s.add(below(64, Byte.POOL_PAGES) + bytes([130, 2 + 4 * 7, 3]))  # unaligned start and end
    s.remove(0)  # a block is live
    s.remove(0, bogus=True)
    s.free(0, how=4 | 8)
    s.remove(0)
    s.verify()
    seeds['refusals'] = s
    return {name: bytes(seed.out) for name, seed in seeds.items()}


# ---- fuzz_pages.c -------------------------------------------------------------------------

class Pages:
    SLICE_PAGES = 4096
    OP_INIT, OP_ADD, OP_ALLOC, OP_ALLOC_AT, OP_DEALLOC = 0, 1, 2, 8, 10

    def __init__(self):
        self.out = bytearray()
        self.ready = False

    @staticmethod
    def range_key(slice_, pages_mode, case, tail_mode=0):
        """The k byte of pick_range: slice = k % 3, bit 7 the size's width, bits 3-4 the
        case (0: head jitter, 1: below the window, 2: past its end, 3: anything), bits 5-6 the
        tail jitter."""
        for k in range(256):
            if (k % 3 == slice_ and bool(k & 0x80) == pages_mode and (k >> 3) % 4 == case and
                    (k >> 5) % 4 == tail_mode):
                return k
        raise ValueError('no such key')

    def range_(self, slice_, off, pages, case=0, extra=0, init=False):
        """case 0: exactly the pages (a zero head jitter); 1: `extra` + 1 pages more below
        (slice 0); 2: `extra` + 1 pages more past the end (slice 2)."""
        wide = pages > 64
        k = self.range_key(slice_, wide, case)
        out = bytes([k]) + le(off, 2)
        out += le(pages - 1, 2) if wide else bytes([pages - 1])
        if case == 0:
            out += bytes([0])
        if (case == 1 and slice_ == 0 and not init) or (case == 2 and slice_ == 2):
            out += bytes([extra])
        return out

    def init(self, base_index, off, pages):
        if self.ready:
            self.out += bytes([self.OP_INIT, 255, base_index])
        else:
            self.out += bytes([self.OP_INIT, base_index])
        self.out += self.range_(0, off, pages, init=True)
        self.ready = True

    def add(self, slice_, off, pages, case=0, extra=0):
        self.out += bytes([self.OP_ADD]) + self.range_(slice_, off, pages, case, extra)

    @staticmethod
    def pages(n):
        if n == 0:
            return bytes([6])
        if 1 <= n <= 8:
            return bytes([8 * (n - 1)])
        if n <= 256:
            return bytes([3, n - 1])
        return bytes([5]) + le(n - 1, 2)

    @staticmethod
    def align(a):
        k = log2(a) - 12
        if k == 0:
            return bytes([0])
        return bytes([128 + (k - 128 % 19) % 19])

    def alloc(self, n, align=4096):
        self.out += bytes([self.OP_ALLOC]) + self.pages(n) + self.align(align)

    def alloc_at_region(self, region, page, n, align=4096):
        self.out += bytes([self.OP_ALLOC_AT, 3, region]) + le(page, 2) + self.pages(n)
        self.out += self.align(align) + bytes([0])

    def dealloc_recent(self, kind, recent, pages, cut=0):
        """kind: 0 whole, 1 head, 2 tail, 3 one page, 4 one page more, of remembered run
        `recent` (`pages` long: a cut is read only when it is longer than one page)."""
        self.out += bytes([self.OP_DEALLOC, kind, recent])
        if pages > 1:
            self.out += le(cut, 2)


def pages_seeds():
    seeds = {}
    # The seed crate's test: a big region, runs of 1, 10, 100, 1000 pages at 4 KiB, 2 MiB and
    # 1 GiB alignment, with fixed bases too; partial frees.
    s = Pages()
    s.init(0, 1, 4095)
    for align in (4096, 2 << 20, 1 << 30):
        for n in (1, 10, 100, 1000):
            s.alloc(n, align)
    s.alloc_at_region(0, 3000, 10)
    s.alloc_at_region(0, 512, 512, 2 << 20)
    runs = [1, 10, 100, 1000, 1, 10, 100, 1000, 10]  # the allocations that succeed, in order
    for r, pages in enumerate(runs):
        s.dealloc_recent(r % 5, r, pages, 3)
    seeds['seed_test'] = s

    # Regions in every slice: adjacent, below the window, past its end; runs across them.
    s = Pages()
    s.init(1, 10, 100)
    s.add(0, 110, 100)  # adjacent to the first
    s.add(0, 2, 3, case=1, extra=5)  # from 4 pages below the window's start
    s.add(1, 2000, 200)  # straddles a BASE_ALIGN boundary
    s.add(2, 4000, 96, case=2, extra=10)  # past the window's end
    s.add(0, 50, 100)  # overlaps
    for n in (50, 100, 150, 200, 300, 96, 1):
        s.alloc(n)
    s.alloc(64, 1 << 30)
    for r, pages in enumerate([50, 100, 150, 96, 1]):
        s.dealloc_recent(r % 5, r, pages, 1)
    s.alloc(200)
    seeds['regions'] = s

    # The window at the top of the address space, then re-initialised after freeing.
    s = Pages()
    s.init(4, 0, 64)
    s.add(2, 4090, 6, case=2, extra=4)
    s.add(2, 4000, 50)
    for n in (1, 2, 4, 8, 64, 6):
        s.alloc(n)
    s.alloc(4, 1 << 14)
    for r, pages in enumerate([1, 2, 4, 8, 6, 4]):
        s.dealloc_recent(0, r, pages)
    s.init(2, 5, 300)
    s.alloc(300)
    seeds['top'] = s
    return {name: bytes(seed.out) for name, seed in seeds.items()}


# ---- fuzz_ids.c ---------------------------------------------------------------------------

class Ids:
    OP_INIT, OP_ALLOC, OP_FIXED, OP_DEALLOC, OP_IS = 0, 1, 6, 7, 11
    EDGES = [0, 1, 63, 64, 65, 4095, 4096, 4097, 262143, 262144, 262145]
    BIG = [1 << 20, (1 << 25) - 1, 1 << 25, 1 << 28, (1 << 28) + 1, (1 << 64) - 1]

    def __init__(self):
        self.out = bytearray()
        self.cap = 1

    def init(self, capacity):
        if 0 < capacity <= 1 << 25:
            self.cap = capacity
        if capacity in self.BIG:
            self.out += bytes([self.OP_INIT, 15 + 16 * self.BIG.index(capacity)])
        elif capacity in self.EDGES:
            self.out += bytes([self.OP_INIT, 11 + 16 * self.EDGES.index(capacity)])
        elif capacity <= 256:
            self.out += bytes([self.OP_INIT, 0, capacity - 1])
        else:
            self.out += bytes([self.OP_INIT, 6]) + le(capacity - 1, 2)
        self.out += b'\x5a'  # garbage

    @staticmethod
    def count(n):
        if 1 <= n <= 4:
            return bytes([8 * (n - 1)])
        return bytes([4, n - 1])

    @staticmethod
    def align(a):
        if a == 1:
            return bytes([0])
        return bytes([128 + (log2(a) - 128 % 26) % 26])

    def alloc(self, n, align=1):
        self.out += bytes([self.OP_ALLOC]) + self.count(n) + self.align(align)

    def fixed(self, id_):
        self.out += bytes([self.OP_FIXED, 3]) + below(id_, self.cap)

    def dealloc_recent(self, kind, recent, count, cut=0):
        self.out += bytes([self.OP_DEALLOC, kind, recent])
        if count > 1:
            self.out += le(cut, 2)

    def is_allocated(self, id_):
        self.out += bytes([self.OP_IS, 3]) + below(id_, self.cap)


def ids_seeds():
    seeds = {}
    s = Ids()
    s.init(1000)
    for n, a in ((1, 1), (3, 4), (64, 64), (100, 1), (5, 128), (200, 256), (1, 512)):
        s.alloc(n, a)
    for i in (0, 63, 64, 999, 500):
        s.fixed(i)
        s.is_allocated(i)
    for r, count in enumerate([1, 3, 64, 100, 5, 200]):
        s.dealloc_recent(r % 4, r, count, 1)
    s.alloc(250, 2)
    seeds['small'] = s

    s = Ids()
    s.init(262145)  # four levels, one id past a full third level
    for n, a in ((200, 1), (255, 4096), (64, 1 << 17), (1, 1 << 18), (128, 64)):
        s.alloc(n, a)
    s.fixed(262144)
    s.fixed(262143)
    for r, count in enumerate([200, 255, 64, 1, 128, 1]):
        s.dealloc_recent(r % 4, r, count, 2)
    s.init(4097)
    for _ in range(20):
        s.alloc(200)
    s.alloc(97)
    seeds['levels'] = s

    s = Ids()
    s.init(1 << 25)  # five levels
    for n, a in ((256, 1 << 20), (1, 1 << 24), (200, 64)):
        s.alloc(n, a)
    s.init((1 << 28) + 1)  # refused
    s.init(0)
    s.init(64)
    for _ in range(17):
        s.alloc(4)
    seeds['big'] = s
    return {name: bytes(seed.out) for name, seed in seeds.items()}


# ---- fuzz_malloc.c ------------------------------------------------------------------------

class Malloc:
    OP_MALLOC, OP_CALLOC, OP_ALIGNED, OP_REALLOC, OP_FREE, OP_REFUSALS = 0, 6, 7, 8, 10, 15
    OP_HEAP_NEW, OP_HEAP_DESTROY, OP_HEAP_ALLOC, OP_THREAD, OP_INSPECT = 16, 17, 18, 21, 22

    def __init__(self):
        self.out = bytearray()

    @staticmethod
    def size(n):
        if n <= 255:
            return bytes([0, n])
        if n < 1100:
            return bytes([3]) + le(n, 2)
        if n < (128 << 10) + 4096:
            return bytes([5]) + le(n, 4)
        return bytes([6]) + le(n, 4)

    @staticmethod
    def align(a):
        k = log2(a)
        if k <= 4:
            return bytes([k])
        if k <= 12:
            return bytes([96 + (k - 5 - 96 % 8) % 8])
        return bytes([224 + (k - 13 - 224 % 10) % 10])

    def malloc(self, n, seed=0):
        self.out += bytes([self.OP_MALLOC]) + self.size(n) + bytes([seed])

    def calloc(self, n, count=1, seed=0):
        self.out += bytes([self.OP_CALLOC]) + self.size(n) + bytes([count - 1, seed])

    def aligned(self, which, n, align, seed=0, odd=None):
        """odd: memalign (which 2 | 0x80) with align - 1 - odd instead of align."""
        self.out += bytes([self.OP_ALIGNED, which]) + self.size(n) + self.align(align)
        self.out += bytes([seed])
        if odd is not None:
            self.out += bytes([odd])

    def realloc(self, index, n, which=0):
        self.out += bytes([self.OP_REALLOC]) + le(index, 2) + bytes([which & ~7]) + self.size(n)

    def realloc_impossible(self, index, huge, array=False):
        self.out += bytes([self.OP_REALLOC]) + le(index, 2) + bytes([7 + (8 if array else 0)])
        self.out += bytes([huge])

    def free(self, index, which=0):
        self.out += bytes([self.OP_FREE]) + le(index, 2) + bytes([which])

    def refusals(self, which, huge=0):
        self.out += bytes([self.OP_REFUSALS, which, huge])

    def heap_new(self, slot, backend):
        self.out += bytes([self.OP_HEAP_NEW, slot + 4 * backend])

    def heap_alloc(self, slot, which, n, align=16, seed=0):
        self.out += bytes([self.OP_HEAP_ALLOC, slot, which]) + self.size(n) + self.align(align)
        self.out += bytes([seed])

    def heap_destroy(self, slot):
        self.out += bytes([self.OP_HEAP_DESTROY, slot])

    def thread(self, nfree, nmade, picks, sizes):
        self.out += bytes([self.OP_THREAD, nfree, nmade])
        for p in picks:
            self.out += le(p, 2)
        for n in sizes:
            self.out += self.size(n)

    def inspect(self, trim=False):
        self.out += bytes([self.OP_INSPECT, 0 if trim else 1])


def malloc_seeds():
    rnd = random.Random(6)
    seeds = {}
    s = Malloc()
    for i, n in enumerate([0, 1, 16, 17, 100, 1024, 1025, 4096, 70000, 131072, 131073, 500000]):
        s.malloc(n, i)
    s.calloc(1000, 4)
    s.calloc(200000, 2)
    for which in range(5):
        s.aligned(which, 3000, 64 << which)
        s.aligned(which, 200, 8192)
    s.aligned(2 | 0x80, 500, 256, odd=30)  # memalign(225): rounded up to 256
    for i in range(12):
        s.realloc(rnd.randrange(20), rnd.choice([10, 500, 2000, 100000, 300000, 0]), i * 8)
    s.inspect(trim=True)
    for i in range(10):
        s.free(rnd.randrange(20), i)
    seeds['api'] = s

    s = Malloc()
    for slot, backend in ((0, 0), (1, 1), (2, 2), (3, 3)):
        s.heap_new(slot, backend)
    for i in range(24):
        s.heap_alloc(i % 4, i % 4, rnd.choice([8, 100, 1000, 5000, 150000]), 64, i)
    s.heap_alloc(1, 2, 100, 16384)
    s.heap_destroy(1)
    s.out += bytes([Malloc.OP_HEAP_NEW, 0x81])  # an unknown backend name is refused
    for i in range(6):
        s.free(rnd.randrange(20), 3)
    s.heap_new(1, 4)
    s.heap_alloc(1, 0, 300)
    s.inspect()
    seeds['heaps'] = s

    s = Malloc()
    for i in range(30):
        s.malloc(rnd.choice([16, 48, 300, 1000, 20000]), i)
    s.thread(6, 6, [rnd.randrange(30) for _ in range(6)], [32, 64, 2000, 200000, 1, 0])
    s.thread(8, 0, [rnd.randrange(30) for _ in range(8)], [])
    for i in range(10):
        s.malloc(64, i)
    s.inspect(trim=True)
    for which in range(8):
        s.refusals(which, which)
    for i in range(8):
        s.realloc_impossible(rnd.randrange(30), i, array=i % 2 == 1)  # the block stays as it was
    seeds['threads'] = s
    return {name: bytes(seed.out) for name, seed in seeds.items()}


def main():
    corpora = {'fuzz_pages': pages_seeds(), 'fuzz_ids': ids_seeds(),
               'fuzz_malloc': malloc_seeds()}
    for backend in ('tlsf', 'buddy', 'slab'):
        corpora['fuzz_byte_' + backend] = byte_seeds()
    total = 0
    for harness, seeds in corpora.items():
        folder = os.path.join(HERE, 'corpus', harness)
        os.makedirs(folder, exist_ok=True)
        for old in os.listdir(folder):
            os.remove(os.path.join(folder, old))
        for name, data in seeds.items():
            with open(os.path.join(folder, name), 'wb') as f:
                f.write(data)
            total += len(data)
    print(f'{sum(len(s) for s in corpora.values())} seeds, {total} bytes')


if __name__ == '__main__':
    main()
