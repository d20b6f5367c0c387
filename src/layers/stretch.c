/* stretch.c: the free-stretch summary (see stretch.h): chunk summaries computed from the bitmap's
 * leaf words, node summaries combined from their children, and the first-fit search that climbs
 * right from its start and descends into the first node that holds the fit. Owns no memory;
 * writes a summary only when it changes, so untouched caller words stay untouched. */
#include "stretch.h"

#include <stdbool.h>

/* All ones: a full word. */
#define WORD_ONES (~(uint64_t)0)
/* Mask of a bit's position inside its word. */
#define WORD_MASK ((size_t)ARC_BITMAP_WORD_BITS - 1)

_Static_assert(ARC_STRETCH_MIN_CHUNK % ARC_BITMAP_WORD_BITS == 0, "a chunk is whole words");
_Static_assert(ARC_BITMAP_MAX_BITS / ARC_STRETCH_MAX_CHUNKS % ARC_BITMAP_WORD_BITS == 0,
               "the largest map's chunks are whole words too");
_Static_assert(ARC_BITMAP_MAX_BITS <= UINT32_MAX, "a node's pages fit its 32-bit fields");

/* Free pages of a node, read from its summary. */
typedef struct stretch_free {
    size_t head, tail, best;
} stretch_free_t;

/* Lowest bit in [pos, hi) of the leaf that is set (want_used) or clear; hi when none. */
static size_t leaf_next(const uint64_t *leaf, size_t pos, size_t hi, bool want_used)
{
    while (pos < hi) {
        size_t w = pos >> ARC_BITMAP_WORD_SHIFT;
        uint64_t m = (want_used ? leaf[w] : ~leaf[w]) & (WORD_ONES << (pos & WORD_MASK));
        if (m) {
            size_t i = (w << ARC_BITMAP_WORD_SHIFT) + (size_t)__builtin_ctzll(m);
            return i < hi ? i : hi;
        }
        pos = (w + 1) << ARC_BITMAP_WORD_SHIFT;
    }
    return hi;
}

/* Depth of node i (the root's is 0). */
static unsigned node_depth(size_t i)
{
    return (unsigned)(63 - __builtin_clzll((unsigned long long)i));
}

static size_t node_size(const arc_stretch_t *st, size_t i)
{
    return (st->chunks >> node_depth(i)) * st->chunk;
}

static size_t node_start(const arc_stretch_t *st, size_t i)
{
    return (i - ((size_t)1 << node_depth(i))) * node_size(st, i);
}

static stretch_free_t node_free(const arc_stretch_t *st, size_t i)
{
    size_t size = node_size(st, i);
    const arc_stretch_node_t *n = &st->node[i];
    return (stretch_free_t){size - n->head_short, size - n->tail_short, size - n->best_short};
}

/* Stores node i's summary when it differs; whether it did. */
static bool node_store(const arc_stretch_t *st, size_t i, stretch_free_t f)
{
    size_t size = node_size(st, i);
    arc_stretch_node_t v = {(uint32_t)(size - f.head), (uint32_t)(size - f.tail),
                            (uint32_t)(size - f.best)};
    arc_stretch_node_t *n = &st->node[i];
    if (n->head_short == v.head_short && n->tail_short == v.tail_short &&
        n->best_short == v.best_short)
        return false;
    *n = v;
    return true;
}

/* Chunk c's free pages, from the leaf words, run by run: the checker's reference
 * (arc_stretch_check), which chunk_free must agree with. */
static stretch_free_t chunk_free_by_runs(const arc_stretch_t *st, const arc_bitmap_t *bm, size_t c)
{
    const uint64_t *leaf = bm->level[0].full;
    size_t lo = c * st->chunk, hi = lo + st->chunk, pos = lo;
    stretch_free_t f = {0, 0, 0};
    while (pos < hi) {
        size_t s = leaf_next(leaf, pos, hi, false);
        if (s == hi)
            break;
        size_t e = leaf_next(leaf, s, hi, true), len = e - s;
        if (s == lo)
            f.head = len;
        if (e == hi)
            f.tail = len;
        if (len > f.best)
            f.best = len;
        pos = e;
    }
    return f;
}

/* The longest run of set bits in v. O(that run). */
static size_t longest_ones(uint64_t v)
{
    size_t n = 0;
    for (; v; n++)
        v &= v >> 1;
    return n;
}

/* Chunk c's free pages, word by word: a free or full word is one test, a word with one boundary
 * two bit counts; only a word with free bits between two used ones walks them. Every change of
 * the map summarises its chunks again (a run's alloc and free). */
static stretch_free_t chunk_free(const arc_stretch_t *st, const arc_bitmap_t *bm, size_t c)
{
    const uint64_t *w = bm->level[0].full + c * st->chunk / ARC_BITMAP_WORD_BITS;
    size_t words = st->chunk / ARC_BITMAP_WORD_BITS, run = 0;
    stretch_free_t f = {0, 0, 0};
    bool head_found = false;
    for (size_t i = 0; i < words; i++) {
        uint64_t x = w[i];
        if (x == 0) {
            run += ARC_BITMAP_WORD_BITS;
            continue;
        }
        size_t low = (size_t)__builtin_ctzll(x), high = (size_t)__builtin_clzll(x);
        run += low; /* the run before the word's first used page ends there */
        if (!head_found)
            f.head = run, head_found = true;
        if (run > f.best)
            f.best = run;
        uint64_t inner = ~x & (WORD_ONES << low) & (WORD_ONES >> high);
        if (inner) {
            size_t n = longest_ones(inner);
            if (n > f.best)
                f.best = n;
        }
        run = high; /* free pages after the word's last used one */
    }
    if (!head_found)
        f.head = run;
    f.tail = run;
    if (run > f.best)
        f.best = run;
    return f;
}

/* Node i's free pages, from its children's summaries (i is not a chunk). */
static stretch_free_t children_free(const arc_stretch_t *st, size_t i)
{
    size_t half = node_size(st, i) / 2;
    stretch_free_t l = node_free(st, 2 * i), r = node_free(st, 2 * i + 1);
    stretch_free_t f = {l.head == half ? half + r.head : l.head,
                        r.tail == half ? half + l.tail : r.tail, l.best};
    if (r.best > f.best)
        f.best = r.best;
    if (l.tail + r.head > f.best)
        f.best = l.tail + r.head;
    return f;
}

/* The first fit of n pages in bits [lo, hi) when the `carry` bits before lo are free; else
 * ARC_BITMAP_NONE, with the free bits that end at hi (carry included) in *carry_out. */
static size_t leaf_scan(const arc_bitmap_t *bm, size_t lo, size_t hi, size_t n, size_t carry,
                        size_t *carry_out)
{
    const uint64_t *leaf = bm->level[0].full;
    size_t pos = lo;
    *carry_out = 0;
    while (pos < hi) {
        size_t s = leaf_next(leaf, pos, hi, false);
        if (s == hi)
            break;
        size_t e = leaf_next(leaf, s, hi, true), start = s == lo ? s - carry : s;
        if (e - start >= n)
            return start;
        if (e == hi)
            *carry_out = e - start;
        pos = e;
    }
    return ARC_BITMAP_NONE;
}

/* The fit inside node i, where it lies (after `carry` free bits before the node, and the node's
 * head with them too short). */
static size_t descend(const arc_stretch_t *st, const arc_bitmap_t *bm, size_t i, size_t carry,
                      size_t n)
{
    while (i < st->chunks) {
        size_t left = 2 * i, half = node_size(st, i) / 2;
        stretch_free_t l = node_free(st, left);
        if (carry + l.head >= n)
            return node_start(st, left) - carry;
        if (l.best >= n) {
            i = left;
            continue;
        }
        carry = l.head == half ? carry + half : l.tail;
        stretch_free_t r = node_free(st, left + 1);
        if (carry + r.head >= n)
            return node_start(st, left + 1) - carry;
        i = left + 1;
    }
    size_t lo = (i - st->chunks) * st->chunk, unused;
    return leaf_scan(bm, lo, lo + st->chunk, n, carry, &unused);
}

size_t arc_stretch_words(size_t bits)
{
    size_t chunks = bits / ARC_STRETCH_CHUNK_OF(bits);
    return (2 * chunks * sizeof(arc_stretch_node_t) + sizeof(uint64_t) - 1) / sizeof(uint64_t);
}

void arc_stretch_setup(arc_stretch_t *st, uint64_t *words, size_t bits)
{
    st->node = (arc_stretch_node_t *)(void *)words;
    st->chunk = ARC_STRETCH_CHUNK_OF(bits);
    st->chunks = bits / st->chunk;
}

void arc_stretch_update(arc_stretch_t *st, const arc_bitmap_t *bm, size_t from, size_t to)
{
    if (from >= to)
        return;
    size_t lo = st->chunks + from / st->chunk, hi = st->chunks + (to - 1) / st->chunk;
    bool changed = false;
    for (size_t i = lo; i <= hi; i++)
        changed |= node_store(st, i, chunk_free(st, bm, i - st->chunks));
    /* A level left as it was leaves every level above as it was. */
    for (lo /= 2, hi /= 2; lo >= 1 && changed; lo /= 2, hi /= 2) {
        changed = false;
        for (size_t i = lo; i <= hi; i++)
            changed |= node_store(st, i, children_free(st, i));
    }
}

size_t arc_stretch_find(const arc_stretch_t *st, const arc_bitmap_t *bm, size_t from, size_t to,
                        size_t n)
{
    size_t total = st->chunks * st->chunk;
    if (to > total)
        to = total;
    if (n == 0 || from >= to || n > to - from)
        return ARC_BITMAP_NONE;
    /* The rest of from's chunk, word by word. */
    size_t c = from / st->chunk, carry, p;
    p = leaf_scan(bm, from, (c + 1) * st->chunk, n, 0, &carry);
    /* Then node after node to the right, each the largest that starts where the last ended. */
    for (size_t i = st->chunks + c; p == ARC_BITMAP_NONE;) {
        i++;
        if ((i & (i - 1)) == 0)
            return ARC_BITMAP_NONE; /* past the window's end */
        while ((i & 1) == 0)
            i >>= 1;
        size_t start = node_start(st, i), size = node_size(st, i);
        if (start >= to)
            return ARC_BITMAP_NONE;
        stretch_free_t f = node_free(st, i);
        if (carry + f.head >= n)
            p = start - carry;
        else if (f.best >= n)
            p = descend(st, bm, i, carry, n);
        else
            carry = f.head == size ? carry + size : f.tail;
    }
    return p + n <= to ? p : ARC_BITMAP_NONE;
}

/* Node i and below, where not all free; no leaf word at or past `backed` is read. */
static size_t check_node(const arc_stretch_t *st, const arc_bitmap_t *bm, size_t i, size_t backed)
{
    const arc_stretch_node_t *n = &st->node[i];
    size_t start = node_start(st, i), end = start + node_size(st, i);
    if (n->head_short == 0 && n->tail_short == 0 && n->best_short == 0)
        return start < backed && !arc_bitmap_all_free(bm, start, end < backed ? end : backed);
    if (i >= st->chunks && end > backed)
        return 1; /* a chunk with used pages past the map's backed words */
    stretch_free_t want =
        i >= st->chunks ? chunk_free_by_runs(st, bm, i - st->chunks) : children_free(st, i);
    stretch_free_t have = node_free(st, i);
    size_t bad = want.head != have.head || want.tail != have.tail || want.best != have.best;
    if (i < st->chunks)
        bad += check_node(st, bm, 2 * i, backed) + check_node(st, bm, 2 * i + 1, backed);
    return bad;
}

size_t arc_stretch_check(const arc_stretch_t *st, const arc_bitmap_t *bm, size_t backed)
{
    backed = (backed + st->chunk - 1) / st->chunk * st->chunk;
    return check_node(st, bm, 1, backed);
}
