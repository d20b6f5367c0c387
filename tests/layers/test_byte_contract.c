/* test_byte_contract.c: the byte-allocator contract of include/arcalloc.h, written once over
 * arc_byte_ops_t and run for each backend (argv[1] = tlsf | buddy | slab): regions (trimming,
 * the smallest one, overlap, remove_memory), alloc's parameters and alignments, usable_size,
 * dealloc and dealloc_in with every size the contract allows and every pointer it refuses, the
 * statistics, exhaustion and recovery, take_free, and the seed's shapes.
 * Owns only what the header promises for every backend: it must never assert a number that one
 * backend's layout explains (block shapes, header sizes, size classes); those belong in
 * test_tlsf.c, test_buddy.c and test_slab.c. It never looks inside the allocator's state. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arcalloc.h"
#include "check.h"

#define KIB ((size_t)1 << 10)
#define MIB ((size_t)1 << 20)

/* A pointer that is no live block start: ARC_NOT_ALLOCATED; in a secure build the header check
 * may refuse it first, which the header documents as ARC_INVALID_PARAM. */
#define REFUSED(rc) ((rc) == ARC_NOT_ALLOCATED || (ARC_SECURE && (rc) == ARC_INVALID_PARAM))

enum {
    POOL_BYTES = 8 << 20,        /* the test pool, aligned to POOL_ALIGN */
    POOL_ALIGN = 1 << 20,        /* so no address inside (pool, pool + 1 MiB) is 1 MiB aligned */
    SEED_POOL_BYTES = 128 << 20, /* the seed's shapes run on their own pool */
    STATE_ALIGN = 64,            /* arcalloc.h: the state is 64-byte aligned caller memory */
    STATE_FILL = 0xa5,           /* init must not rely on zeroed state */
    MAX_REGIONS = 8,
    MAX_BLOCKS = 1 << 19, /* the most live blocks a test keeps */
    SWEEP_SIZES = 300,    /* every size 1 .. this is allocated at every small alignment */
    SWEEP_ALIGN_MAX = 64,
    REGION_SEARCH_MAX = 64 << 10, /* the smallest region is searched for up to this size */
    CHECK_EVERY = 4096,           /* check() every this many frees in long loops */
    FILL_SIZE_MAX = 64 << 10,     /* random fills: sizes 1 .. this */
    FILL_ALIGN_LOG2_MAX = 12,     /* ... and alignments 1 .. 4 KiB */
    NEIGHBOUR_EXTRA = 40,         /* an unaligned neighbour a little larger than its block */
    NEIGHBOUR_SIZE_MAX = 64 << 10,
    REGION_BLOCK = 4 << 10,       /* test_regions fills its regions with blocks of this size */
    GIVE_WAYS = 4,                /* the ways give() hands a block back, in turn */
    TAKE_REGION_BYTES = 2 << 20,  /* the take_free tests' region */
    TAKE_BLOCK = 64 << 10,        /* their blocks: large enough for any backend's large path */
    CLEAN_REGION_BYTES = 4 << 20, /* test_clean_blocks' region, its live blocks and steps */
    CLEAN_LIVE = 512,
    CLEAN_STEPS = 40000,
    CLEAN_SIZE_MAX = 24 << 10,
    CLEAN_TAKE_EVERY = 64, /* one step in this many takes a free block whole */
    CLEAN_ALIGN_EVERY = 8, /* one alloc in this many asks an alignment of up to 4 KiB */
    CLEAN_FILL = 0xc3,     /* what the caller writes into every block it holds */
};

/* A live block as the test knows it: what alloc was asked and what usable_size said. */
typedef struct {
    unsigned char *ptr;
    size_t size, align, usable;
} block_t;

/* An added region: the start and size given, the trimmed bounds, the total it added. */
typedef struct {
    unsigned char *start, *lo, *hi;
    size_t size, part;
} region_t;

static const arc_byte_ops_t *ops;
static arc_byte_allocator_t *st;
static region_t regions[MAX_REGIONS];
static size_t nregions;
static size_t model_used, model_total;
/* available_bytes with nothing live, learnt after each change of regions: freeing everything
 * must bring it back (the allocator keeps nothing for itself from blocks gone). */
static size_t empty_avail;
static int empty_avail_known;
static unsigned give_turn;
static block_t blocks[MAX_BLOCKS];

/* ---- the model ---------------------------------------------------------------------------- */

static void stats_check(int line)
{
    size_t total = ops->total_bytes(st), used = ops->used_bytes(st);
    size_t avail = ops->available_bytes(st);
    CHECKF(total == model_total, "line %d: total %zu, model %zu", line, total, model_total);
    CHECKF(used == model_used, "line %d: used %zu, model %zu", line, used, model_used);
    CHECKF(used <= total && avail <= total - used, "line %d: available %zu, total %zu, used %zu",
           line, avail, total, used);
    if (model_used == 0 && empty_avail_known)
        CHECKF(avail == empty_avail, "line %d: available %zu with nothing live, was %zu", line,
               avail, empty_avail);
    if (model_used == 0 && !empty_avail_known) {
        empty_avail = avail;
        empty_avail_known = 1;
    }
}
#define STATS() stats_check(__LINE__)

static uintptr_t align_up(uintptr_t v)
{
    return (v + ARC_MIN_ALIGN - 1) & ~(uintptr_t)(ARC_MIN_ALIGN - 1);
}

static uintptr_t align_down(uintptr_t v)
{
    return v & ~(uintptr_t)(ARC_MIN_ALIGN - 1);
}

/* The region holding p and the n bytes from it, or NULL. */
static const region_t *region_of(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < nregions; i++)
        if (p >= regions[i].lo && p < regions[i].hi && n <= (size_t)(regions[i].hi - p))
            return &regions[i];
    return NULL;
}

/* init (first) or add_memory, noted in the model when it succeeds. */
static int region_add(void *start, size_t size, int first)
{
    size_t before = first ? 0 : ops->total_bytes(st);
    int rc = first ? ops->init(st, start, size) : ops->add_memory(st, start, size);
    if (first) {
        nregions = 0;
        model_used = model_total = 0;
    }
    if (rc == ARC_OK && nregions < MAX_REGIONS) {
        region_t *r = &regions[nregions++];
        r->start = start;
        r->size = size;
        r->lo = (unsigned char *)align_up((uintptr_t)start);
        r->hi = (unsigned char *)align_down((uintptr_t)start + size);
        r->part = ops->total_bytes(st) - before;
        /* Trimmed to 16-byte boundaries: what it adds is some of what is left, never more. */
        CHECKF(r->part > 0 && r->part <= (size_t)(r->hi - r->lo), "region of %zu adds %zu", size,
               r->part);
        model_total += r->part;
    }
    empty_avail_known = 0;
    return rc;
}

static void state_reset(void *start, size_t size)
{
    CHECK(region_add(start, size, 1) == ARC_OK);
    STATS();
    CHECK(ops->check(st) == 0);
}

static int region_remove(void *start, size_t size)
{
    int rc = ops->remove_memory(st, start, size);
    for (size_t i = 0; rc == ARC_OK && i < nregions; i++) {
        if (regions[i].start == start && regions[i].size == size) {
            model_total -= regions[i].part;
            regions[i] = regions[--nregions];
            empty_avail_known = 0;
            break;
        }
    }
    return rc;
}

/* Allocates and checks what the contract promises of a block; 1 when it has one (else *b is
 * all zero). */
static int take(block_t *b, size_t size, size_t align)
{
    void *p = NULL;
    int rc = ops->alloc(st, size, align, &p);
    *b = (block_t){0};
    if (rc != ARC_OK) {
        CHECKF(rc == ARC_NO_MEMORY, "alloc(%zu, %zu): %s", size, align, arc_result_str(rc));
        STATS();
        return 0;
    }
    size_t want = align > ARC_MIN_ALIGN ? align : ARC_MIN_ALIGN;
    size_t usable = ops->usable_size(st, p);
    const region_t *r = region_of(p, usable);
    CHECKF(usable >= size, "alloc(%zu, %zu): usable %zu", size, align, usable);
    CHECKF((uintptr_t)p % want == 0, "alloc(%zu, %zu) = %p", size, align, p);
    CHECKF(r != NULL, "alloc(%zu, %zu) = %p + %zu: outside every region", size, align, p, usable);
    CHECK(!r || ops->usable_size_in(st, r->start, p) == usable);
    CHECK(!r || ops->usable_size_checked_in(st, r->start, p) == usable);
    *b = (block_t){p, size, align, usable};
    model_used += usable;
    STATS();
    return 1;
}

/* Hands a block back in turn with each size and call the contract allows: the size asked,
 * the usable size without the alignment, one byte, and through dealloc_in. */
static void give(const block_t *b)
{
    const region_t *r = region_of(b->ptr, b->usable);
    int rc = ARC_INVALID_PARAM;
    CHECK(ops->usable_size(st, b->ptr) == b->usable);
    switch (give_turn++ % GIVE_WAYS) {
    case 0:
        rc = ops->dealloc(st, b->ptr, b->size, b->align);
        break;
    case 1:
        rc = ops->dealloc(st, b->ptr, b->usable, 1); /* align is not needed */
        break;
    case 2:
        rc = ops->dealloc(st, b->ptr, 1, ARC_MIN_ALIGN);
        break;
    default:
        rc = r ? ops->dealloc_in(st, r->start, b->ptr, b->size, b->align) : ARC_INVALID_PARAM;
        break;
    }
    CHECKF(rc == ARC_OK, "dealloc(%p, %zu): %s", (void *)b->ptr, b->size, arc_result_str(rc));
    if (rc == ARC_OK)
        model_used -= b->usable;
    STATS();
}

/* A dealloc the contract refuses changes nothing: dealloc, and dealloc_in when p is inside a
 * region (its precondition), both refuse. */
static void refused(const void *p, size_t size, int line)
{
    size_t used = ops->used_bytes(st), avail = ops->available_bytes(st);
    int rc = ops->dealloc(st, (void *)p, size, ARC_MIN_ALIGN);
    CHECKF(REFUSED(rc), "line %d: dealloc(%p, %zu): %s", line, p, size, arc_result_str(rc));
    const region_t *r = region_of(p, 0);
    if (r) {
        rc = ops->dealloc_in(st, r->start, (void *)p, size, ARC_MIN_ALIGN);
        CHECKF(REFUSED(rc), "line %d: dealloc_in(%p, %zu): %s", line, p, size, arc_result_str(rc));
    }
    CHECKF(ops->used_bytes(st) == used && ops->available_bytes(st) == avail,
           "line %d: a refused dealloc changed the statistics", line);
    CHECKF(ops->check(st) == 0, "line %d", line);
}
#define REFUSE(p, size) refused((p), (size), __LINE__)

/* A non-NULL pointer to preset *out with: take_free must clear it when it fails. */
static unsigned char not_null;

/* take_free(min_size) and what the contract promises of the block it hands out: at least
 * min_size usable bytes inside a region, usable_size_in agreeing, used_bytes grown by exactly its
 * usable size and available_bytes fallen by at least as much. 1 when it has one (else *b is all
 * zero, and the refusal must be ARC_NO_MEMORY with *out cleared and nothing changed). */
static int take_whole(block_t *b, size_t min_size)
{
    size_t used = ops->used_bytes(st), avail = ops->available_bytes(st);
    void *p = &not_null;
    int rc = ops->take_free(st, min_size, &p);
    *b = (block_t){0};
    if (rc != ARC_OK) {
        CHECKF(rc == ARC_NO_MEMORY, "take_free(%zu): %s", min_size, arc_result_str(rc));
        CHECKF(p == NULL, "take_free(%zu) failed, *out %p", min_size, p);
        CHECKF(ops->used_bytes(st) == used && ops->available_bytes(st) == avail,
               "a refused take_free(%zu) changed the statistics", min_size);
        STATS();
        return 0;
    }
    size_t usable = ops->usable_size(st, p), after = ops->available_bytes(st);
    const region_t *r = region_of(p, usable);
    CHECKF(usable >= min_size && usable > 0, "take_free(%zu): usable %zu", min_size, usable);
    CHECKF((uintptr_t)p % ARC_MIN_ALIGN == 0, "take_free(%zu) = %p", min_size, p);
    CHECKF(r != NULL, "take_free(%zu) = %p + %zu: outside every region", min_size, p, usable);
    CHECK(!r || ops->usable_size_in(st, r->start, p) == usable);
    CHECKF(after <= avail && avail - after >= usable,
           "take_free(%zu): usable %zu, available %zu before, %zu after", min_size, usable, avail,
           after);
    *b = (block_t){p, min_size ? min_size : 1, ARC_MIN_ALIGN, usable};
    model_used += usable;
    STATS();
    return 1;
}

/* Whether alloc serves size now (the block is freed at once: nothing changes). */
static int served(size_t size)
{
    void *p = NULL;
    if (ops->alloc(st, size, ARC_MIN_ALIGN, &p) != ARC_OK)
        return 0;
    CHECK(ops->dealloc(st, p, size, ARC_MIN_ALIGN) == ARC_OK);
    return 1;
}

/* The largest size from lo up that alloc serves now, by bisection (0 when not even lo): the
 * largest free block as alloc sees it. Nothing above available_bytes can be served. Only sizes
 * from lo up are asked, so a large lo keeps every backend on its path for large blocks. */
static size_t largest_alloc(size_t lo)
{
    size_t hi = ops->available_bytes(st) + 1;
    CHECKF(!served(hi), "alloc(%zu) served with %zu available", hi, hi - 1);
    if (lo >= hi || !served(lo))
        return 0;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (served(mid))
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

static int by_address(const void *a, const void *b)
{
    const block_t *x = a, *y = b;
    return x->ptr < y->ptr ? -1 : x->ptr > y->ptr;
}

/* No two live blocks share a byte. Sorts the blocks. */
static void no_overlap(block_t *b, size_t n)
{
    qsort(b, n, sizeof *b, by_address);
    size_t bad = 0;
    for (size_t i = 1; i < n; i++)
        bad += b[i - 1].ptr + b[i - 1].usable > b[i].ptr;
    CHECKF(bad == 0, "%zu of %zu live blocks overlap the next one", bad, n);
}

static void shuffle(block_t *b, size_t n, check_rng_t *rng)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)check_range(rng, 0, i - 1);
        block_t t = b[i - 1];
        b[i - 1] = b[j];
        b[j] = t;
    }
}

static void give_all(block_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        give(&b[i]);
        if (i % CHECK_EVERY == 0)
            CHECK(ops->check(st) == 0);
    }
    CHECK(ops->check(st) == 0);
}

/* ---- clean blocks (secure builds) ---------------------------------------------------------- */

/* A backend that says clean_blocks hands out only what its callers left in a block's bytes: on a
 * zeroed region, with every block written over whole while held and cleared before it goes back,
 * every block alloc or take_free hands out reads as zero, through splits, merges, alignment gaps
 * and whole takes. Normal builds promise nothing of the kind (the flag is false); in secure
 * builds tlsf says it. */
static void test_clean_blocks(unsigned char *pool)
{
    CHECK(!ops->clean_blocks || ARC_SECURE);
    CHECK(!ARC_SECURE || strcmp(ops->name, "tlsf") != 0 || ops->clean_blocks);
    if (!ops->clean_blocks)
        return;
    memset(pool, 0, CLEAN_REGION_BYTES);
    state_reset(pool, CLEAN_REGION_BYTES);
    check_rng_t rng = {0xc1ea};
    size_t n = 0, handed = 0, dirty = 0;
    for (size_t step = 0; step < CLEAN_STEPS; step++) {
        bool add = n < CLEAN_LIVE && (n == 0 || check_range(&rng, 0, 1) == 0);
        if (!add) {
            size_t i = (size_t)check_range(&rng, 0, n - 1);
            memset(blocks[i].ptr, 0, blocks[i].usable);
            give(&blocks[i]);
            blocks[i] = blocks[--n];
            continue;
        }
        int got;
        if (step % CLEAN_TAKE_EVERY == 0) {
            got = take_whole(&blocks[n], 1);
        } else {
            size_t size = (size_t)check_range(&rng, 1, CLEAN_SIZE_MAX);
            size_t align = check_range(&rng, 0, CLEAN_ALIGN_EVERY - 1) == 0
                               ? (size_t)1 << check_range(&rng, 0, FILL_ALIGN_LOG2_MAX)
                               : 1;
            got = take(&blocks[n], size, align);
        }
        if (!got)
            continue;
        handed++;
        const unsigned char *b = blocks[n].ptr;
        for (size_t j = 0; j < blocks[n].usable; j++) {
            if (b[j] != 0) {
                dirty++;
                break;
            }
        }
        memset(blocks[n].ptr, CLEAN_FILL, blocks[n].usable);
        n++;
    }
    CHECKF(dirty == 0 && handed > CLEAN_STEPS / 4, "%s: %zu of %zu blocks handed out not zero",
           ops->name, dirty, handed);
    CHECK(ops->check(st) == 0);
    for (size_t i = 0; i < n; i++)
        memset(blocks[i].ptr, 0, blocks[i].usable);
    give_all(blocks, n);
}

/* ---- alloc -------------------------------------------------------------------------------- */

static void test_alloc_params(unsigned char *pool)
{
    /* [pool + 16, pool + 1 MiB): no address inside is 1 MiB aligned. */
    state_reset(pool + ARC_MIN_ALIGN, MIB - ARC_MIN_ALIGN);
    void *out = NULL;
    const size_t bad_aligns[] = {0, 3, 6, 24, 48, 100, 3 * KIB, SIZE_MAX};
    const size_t sizes[] = {64, 5000, 100 * KIB}; /* small, and large enough for any path */
    for (size_t i = 0; i < sizeof bad_aligns / sizeof bad_aligns[0]; i++)
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
            CHECKF(ops->alloc(st, sizes[k], bad_aligns[i], &out) == ARC_INVALID_PARAM,
                   "alloc(%zu, %zu)", sizes[k], bad_aligns[i]);
    CHECK(ops->alloc(st, 0, ARC_MIN_ALIGN, &out) == ARC_INVALID_PARAM);
    CHECK(ops->alloc(st, 0, 1, &out) == ARC_INVALID_PARAM);
    CHECK(ops->alloc(st, 0, 3, &out) == ARC_INVALID_PARAM);
    CHECK(ops->alloc(st, ARC_MIN_ALIGN, ARC_MIN_ALIGN, NULL) == ARC_INVALID_PARAM);
    const size_t absurd[] = {
        SIZE_MAX,        SIZE_MAX - 15, SIZE_MAX - 4096, SIZE_MAX / 2 + 1, (size_t)1 << 62,
        (size_t)1 << 40, MIB,           model_total + 1};
    for (size_t i = 0; i < sizeof absurd / sizeof absurd[0]; i++) {
        CHECKF(ops->alloc(st, absurd[i], 1, &out) == ARC_NO_MEMORY, "size %zu", absurd[i]);
        CHECKF(ops->alloc(st, absurd[i], 4 * KIB, &out) == ARC_NO_MEMORY, "size %zu", absurd[i]);
    }
    CHECK(ops->alloc(st, 1, (size_t)1 << 63, &out) == ARC_NO_MEMORY);
    CHECK(ops->alloc(st, 1, (size_t)1 << 62, &out) == ARC_NO_MEMORY);
    CHECK(ops->alloc(st, 1, MIB, &out) == ARC_NO_MEMORY); /* no such address in the region */
    STATS();
    CHECK(ops->check(st) == 0);

    /* Every size up to SWEEP_SIZES at every alignment up to SWEEP_ALIGN_MAX, written whole. */
    block_t b;
    for (size_t size = 1; size <= SWEEP_SIZES; size++)
        for (size_t align = 1; align <= SWEEP_ALIGN_MAX; align *= 2)
            if (take(&b, size, align)) {
                memset(b.ptr, (int)size, b.usable);
                give(&b);
            }
    CHECK(ops->check(st) == 0);
}

/* Alignments 1 B .. 1 MiB, sizes around each, each with an unaligned neighbour, on a pool at
 * an address that is 48 mod 1 MiB; contents survive until freed. */
static void test_alignments(unsigned char *pool)
{
    enum { START = 48 };
    state_reset(pool + START, POOL_BYTES - START);
    for (size_t align = 1; align <= MIB; align *= 2) {
        size_t sizes[] = {1, 48, 100, align / 2 + 1, align, align + 1, 3 * align};
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            size_t size = sizes[i];
            block_t a = {0}, n = {0};
            if (size > 3 * MIB)
                continue;
            CHECKF(take(&a, size, align), "alloc(%zu, %zu) failed", size, align);
            int has_n = size <= NEIGHBOUR_SIZE_MAX && take(&n, size + NEIGHBOUR_EXTRA, 1);
            CHECK(has_n || size > NEIGHBOUR_SIZE_MAX);
            if (a.ptr)
                memset(a.ptr, 0x5a, size);
            if (has_n)
                memset(n.ptr, 0x11, size + NEIGHBOUR_EXTRA);
            if (a.ptr) {
                CHECK(a.ptr[0] == 0x5a && a.ptr[size - 1] == 0x5a);
                give(&a);
            }
            if (has_n) {
                CHECK(n.ptr[0] == 0x11 && n.ptr[size + NEIGHBOUR_EXTRA - 1] == 0x11);
                give(&n);
            }
        }
    }
    CHECK(ops->check(st) == 0);
}

/* ---- dealloc and usable_size -------------------------------------------------------------- */

static void test_refusals(unsigned char *pool)
{
    state_reset(pool, MIB);
    int local = 0;
    block_t p, q, big;
    CHECK(take(&p, 100, ARC_MIN_ALIGN) && take(&q, ARC_MIN_ALIGN, ARC_MIN_ALIGN));
    CHECK(take(&big, 3 * 4 * KIB, 4 * KIB));
    if (!p.ptr || !q.ptr || !big.ptr)
        return;
    REFUSE(&local, sizeof local);
    REFUSE(NULL, ARC_MIN_ALIGN);
    REFUSE(pool, ARC_MIN_ALIGN);       /* the region's first bytes: no block starts there */
    REFUSE(pool + MIB, ARC_MIN_ALIGN); /* one past the region */
    REFUSE(pool - 4 * KIB, ARC_MIN_ALIGN);
    if (q.ptr != pool + MIB - ARC_MIN_ALIGN && big.ptr != pool + MIB - ARC_MIN_ALIGN)
        REFUSE(pool + MIB - ARC_MIN_ALIGN, ARC_MIN_ALIGN); /* the last granule */
    REFUSE(p.ptr + ARC_MIN_ALIGN, ARC_MIN_ALIGN);          /* interior, on a granule */
    REFUSE(p.ptr + 1, 1);                                  /* interior, unaligned */
    REFUSE(p.ptr + 8, 1);
    REFUSE(big.ptr + ARC_MIN_ALIGN, ARC_MIN_ALIGN);
    REFUSE(big.ptr + 4 * KIB, ARC_MIN_ALIGN); /* interior, a later page */
    REFUSE(big.ptr + big.usable - ARC_MIN_ALIGN, ARC_MIN_ALIGN);
    /* More than usable_size cannot be what alloc was asked. */
    CHECK(ops->dealloc(st, p.ptr, p.usable + 1, ARC_MIN_ALIGN) == ARC_NOT_ALLOCATED);
    CHECK(ops->dealloc(st, big.ptr, big.usable + 1, 4 * KIB) == ARC_NOT_ALLOCATED);
    CHECK(ops->dealloc(st, p.ptr, SIZE_MAX, ARC_MIN_ALIGN) == ARC_NOT_ALLOCATED);
    STATS();
    /* usable_size: 0 for anything that is not a live block start. */
    CHECK(ops->usable_size(st, p.ptr + ARC_MIN_ALIGN) == 0 && ops->usable_size(st, p.ptr + 1) == 0);
    CHECK(ops->usable_size(st, &local) == 0 && ops->usable_size(st, NULL) == 0);
    CHECK(ops->usable_size(st, pool + MIB) == 0 && ops->usable_size(st, big.ptr + 4 * KIB) == 0);
    CHECK(ops->usable_size(st, p.ptr) == p.usable && ops->usable_size(st, q.ptr) == q.usable);
    /* usable_size_checked_in: the same answers, given the region (the pool). */
    const void *in = pool;
    CHECK(ops->usable_size_checked_in(st, in, p.ptr + ARC_MIN_ALIGN) == 0);
    CHECK(ops->usable_size_checked_in(st, in, p.ptr + 1) == 0);
    CHECK(ops->usable_size_checked_in(st, in, big.ptr + 4 * KIB) == 0);
    CHECK(ops->usable_size_checked_in(st, in, pool) == 0);
    CHECK(ops->usable_size_checked_in(st, in, p.ptr) == p.usable);
    CHECK(ops->usable_size_checked_in(st, in, big.ptr) == big.usable);
    /* Double frees: the block alone, then after its neighbours went too. */
    give(&p);
    CHECK(ops->usable_size(st, p.ptr) == 0);
    CHECK(ops->usable_size_checked_in(st, in, p.ptr) == 0);
    REFUSE(p.ptr, p.size);
    give(&q);
    REFUSE(q.ptr, q.size);
    REFUSE(p.ptr, p.size);
    give(&big);
    REFUSE(big.ptr, big.size);
    CHECK(ops->usable_size(st, big.ptr) == 0);
    /* Refusals changed nothing: the whole empty allocator still serves. */
    CHECK(take(&p, 100, ARC_MIN_ALIGN));
    if (p.ptr)
        give(&p);
    CHECK(ops->check(st) == 0);
}

/* ---- regions ------------------------------------------------------------------------------ */

/* init/add_memory trim to 16-byte boundaries: a region behaves exactly as its trimmed self. */
static void trimmed_same(unsigned char *start, size_t size, unsigned char *base)
{
    uintptr_t lo = align_up((uintptr_t)start), hi = align_down((uintptr_t)start + size);
    int rc = ops->init(st, start, size);
    size_t total = rc == ARC_OK ? ops->total_bytes(st) : 0;
    int rc_trim = ops->init(st, (void *)lo, hi > lo ? hi - lo : 0);
    size_t total_trim = rc_trim == ARC_OK ? ops->total_bytes(st) : 0;
    CHECKF(rc == rc_trim && total == total_trim,
           "[%+td, +%zu): %s, total %zu; trimmed: %s, total %zu", start - base, size,
           arc_result_str(rc), total, arc_result_str(rc_trim), total_trim);
}

/* The smallest region init takes: it holds a block; anything smaller holds none. */
static void test_region_size(unsigned char *pool)
{
    size_t min = 0;
    for (size_t size = ARC_MIN_ALIGN; size <= REGION_SEARCH_MAX && !min; size += ARC_MIN_ALIGN)
        if (ops->init(st, pool, size) == ARC_OK)
            min = size;
    CHECKF(min > 0, "no region up to %d bytes was accepted", REGION_SEARCH_MAX);
    if (!min)
        return;
    state_reset(pool, min);
    block_t b;
    CHECK(take(&b, 1, 1));
    if (b.ptr)
        give(&b);
    CHECK(ops->init(st, pool, min - ARC_MIN_ALIGN) == ARC_INVALID_PARAM);
    CHECK(ops->init(st, pool, min - 1) == ARC_INVALID_PARAM);
    const size_t offsets[] = {1, 3, 8, 15, 16, 17};
    const size_t sizes[] = {min - 1, min, min + 1, min + 14, min + 15, min + 31, 64 * KIB + 5};
    for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++)
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
            trimmed_same(pool + offsets[i], sizes[k], pool);
    CHECK(ops->init(st, pool, 0) == ARC_INVALID_PARAM);
    CHECK(ops->init(st, pool + 1, ARC_MIN_ALIGN) == ARC_INVALID_PARAM); /* nothing left */
    CHECK(ops->init(st, NULL, MIB) == ARC_INVALID_PARAM);
    CHECK(ops->init(st, (void *)(UINTPTR_MAX - 4095), 8192) == ARC_INVALID_PARAM); /* wraps */
    CHECK(ops->init(st, pool + 8, SIZE_MAX) == ARC_INVALID_PARAM);                 /* wraps */
    /* A failed init leaves an empty, working allocator. */
    nregions = 0;
    model_used = model_total = 0;
    empty_avail_known = 0;
    STATS();
    void *out = NULL;
    CHECK(ops->alloc(st, ARC_MIN_ALIGN, ARC_MIN_ALIGN, &out) == ARC_NO_MEMORY);
    CHECK(ops->check(st) == 0);
    CHECK(region_add(pool, MIB, 0) == ARC_OK); /* ... which add_memory can fill */
    CHECK(take(&b, 1, 1));
    if (b.ptr)
        give(&b);
}

/* Overlap in every arrangement against regions A and B with a gap between them. */
static void test_overlap(unsigned char *pool)
{
    unsigned char *a = pool + 64 * KIB, *b = pool + 192 * KIB;
    size_t an = 64 * KIB, bn = 64 * KIB, gap = (size_t)(b - a) - an;
    state_reset(a, an);
    CHECK(region_add(b, bn, 0) == ARC_OK);
    block_t live;
    CHECK(take(&live, 100, 1)); /* a live block changes nothing below */
    size_t total = model_total;
    struct {
        unsigned char *start;
        size_t size;
        int rc;
    } cases[] = {
        {a, an, ARC_MEMORY_OVERLAP},                       /* identical */
        {a + 4 * KIB, 16 * KIB, ARC_MEMORY_OVERLAP},       /* inside */
        {a + 16, an - 32, ARC_MEMORY_OVERLAP},             /* strictly inside */
        {a - 16 * KIB, an + 32 * KIB, ARC_MEMORY_OVERLAP}, /* containing */
        {a - 16 * KIB, 32 * KIB, ARC_MEMORY_OVERLAP},      /* over A's start */
        {a - 32 * KIB, 32 * KIB + 16, ARC_MEMORY_OVERLAP}, /* one granule of A's start */
        {a + an - 16 * KIB, 32 * KIB, ARC_MEMORY_OVERLAP}, /* over A's end */
        {a + an - 16, 32 * KIB, ARC_MEMORY_OVERLAP},       /* one granule of A's end */
        {a, (size_t)(b + bn - a), ARC_MEMORY_OVERLAP},     /* A, the gap and B */
        {a + an, gap + 16, ARC_MEMORY_OVERLAP},            /* the gap and B's first granule */
        {b - 32 * KIB, bn, ARC_MEMORY_OVERLAP},            /* the gap's end and B */
        {pool, 2 * MIB, ARC_MEMORY_OVERLAP},               /* around both */
        {b + bn - 32 * KIB + 1, 32 * KIB, ARC_MEMORY_OVERLAP},
        {live.ptr, 32 * KIB, ARC_MEMORY_OVERLAP}, /* a block handed out is inside a region */
        {a + an, gap, ARC_OK},                    /* exactly the gap */
        {a - 32 * KIB, 32 * KIB, ARC_OK},         /* touching A from below */
        {a - 32 * KIB, 32 * KIB + 15, ARC_OK},    /* its end trims down to A's start */
        {b + bn, 32 * KIB, ARC_OK},               /* touching B from above */
        {a + an - 15, 32 * KIB, ARC_OK},          /* its start trims up to A's end */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = region_add(cases[i].start, cases[i].size, 0);
        CHECKF(rc == cases[i].rc, "case %zu: %s", i, arc_result_str(rc));
        if (rc == ARC_OK) {
            CHECK(model_total > total);
            CHECK(ops->check(st) == 0);
            STATS();
            CHECK(region_remove(cases[i].start, cases[i].size) == ARC_OK);
        }
        CHECK(model_total == total);
        STATS();
    }
    if (live.ptr)
        give(&live);
    /* The gap, then both sides: all of it is one allocator's, and nothing more overlaps. */
    CHECK(region_add(a + an, gap, 0) == ARC_OK);
    CHECK(region_add(a - 32 * KIB, 32 * KIB, 0) == ARC_OK);
    CHECK(region_add(b + bn, 32 * KIB, 0) == ARC_OK);
    CHECK(region_add(a - 32 * KIB, (size_t)(b + bn - a) + 64 * KIB, 0) == ARC_MEMORY_OVERLAP);
    STATS();
    CHECK(ops->check(st) == 0);
}

/* Three regions filled from all of them; remove_memory refused while anything is live, for a
 * region not given whole, or not added; accepted once empty; added again it serves again. */
static void test_regions(unsigned char *pool)
{
    enum { NREG = 3 };
    unsigned char *start[NREG] = {pool + 1 * MIB + 3, pool, pool + 3 * MIB + 5};
    size_t size[NREG] = {MIB - 3, 512 * KIB, MIB + 4 * KIB}, part[NREG];
    size_t n = 0, in[NREG] = {0};
    state_reset(start[0], size[0]);
    for (int r = 1; r < NREG; r++)
        CHECK(region_add(start[r], size[r], 0) == ARC_OK);
    for (int r = 0; r < NREG; r++)
        part[r] = regions[r].part;
    size_t total = model_total;
    while (n < MAX_BLOCKS && take(&blocks[n], REGION_BLOCK, ARC_MIN_ALIGN))
        n++;
    CHECK(n > 0 && n < MAX_BLOCKS && n * REGION_BLOCK <= total);
    no_overlap(blocks, n);
    for (size_t i = 0; i < n; i++)
        for (int r = 0; r < NREG; r++)
            in[r] += blocks[i].ptr >= start[r] && blocks[i].ptr < start[r] + size[r];
    CHECK(in[0] + in[1] + in[2] == n);
    for (int r = 0; r < NREG; r++) {
        CHECKF(in[r] > 0, "region %d unused", r);
        CHECK(region_remove(start[r], size[r]) == ARC_INVALID_PARAM); /* live */
    }
    STATS();
    /* Region 1 is kept by any one live block, the last one freed included. */
    size_t last = n;
    for (size_t i = 0; i < n; i++) {
        if (blocks[i].ptr < start[1] || blocks[i].ptr >= start[1] + size[1])
            continue;
        if (last < n)
            give(&blocks[last]);
        last = i;
    }
    CHECK(last < n && region_remove(start[1], size[1]) == ARC_INVALID_PARAM);
    if (last < n) {
        give(&blocks[last]);
        size_t keep = 0; /* every block of region 1 is gone now */
        for (size_t i = 0; i < n; i++)
            if (blocks[i].ptr < start[1] || blocks[i].ptr >= start[1] + size[1])
                blocks[keep++] = blocks[i];
        n = keep;
    }
    CHECK(region_remove(start[1], size[1] - 16) == ARC_INVALID_PARAM); /* not the whole */
    CHECK(region_remove(start[1] + 16, size[1] - 16) == ARC_INVALID_PARAM);
    CHECK(region_remove(start[1], size[1] + 16) == ARC_INVALID_PARAM);
    CHECK(region_remove(pool + 6 * MIB, MIB) == ARC_INVALID_PARAM); /* never added */
    CHECK(region_remove(NULL, MIB) == ARC_INVALID_PARAM);
    CHECK(region_remove(start[0], size[0]) == ARC_INVALID_PARAM); /* still live */
    STATS();
    CHECK(region_remove(start[1], size[1]) == ARC_OK);
    CHECK(region_remove(start[1], size[1]) == ARC_INVALID_PARAM); /* already gone */
    CHECK(model_total == total - part[1]);
    STATS();
    CHECK(ops->check(st) == 0);
    void *out = NULL;
    CHECK(ops->alloc(st, REGION_BLOCK, ARC_MIN_ALIGN, &out) == ARC_NO_MEMORY); /* not ours */
    REFUSE(start[1] + 4 * KIB, ARC_MIN_ALIGN);
    /* Added again, it serves again; then everything goes back and all are removed. */
    CHECK(region_add(start[1], size[1], 0) == ARC_OK);
    CHECK(model_total == total);
    block_t again;
    CHECK(take(&again, REGION_BLOCK, ARC_MIN_ALIGN));
    CHECK(again.ptr >= start[1] && again.ptr < start[1] + size[1]);
    if (again.ptr)
        give(&again);
    give_all(blocks, n);
    CHECK(region_remove(start[0], size[0]) == ARC_OK);
    CHECK(region_remove(start[2], size[2]) == ARC_OK);
    CHECK(model_total == part[1]);
    STATS();
    CHECK(region_remove(start[1], size[1]) == ARC_OK); /* the last one */
    CHECK(model_total == 0);
    STATS();
    CHECK(ops->alloc(st, 1, 1, &out) == ARC_NO_MEMORY);
    REFUSE(start[0] + 4 * KIB, ARC_MIN_ALIGN);
    CHECK(ops->check(st) == 0);
    /* An empty allocator takes regions again, in any order; removal takes the same arguments. */
    CHECK(region_add(start[2], size[2], 0) == ARC_OK);
    CHECK(region_add(start[0], size[0], 0) == ARC_OK);
    CHECK(take(&again, REGION_BLOCK, 4 * KIB));
    if (again.ptr)
        give(&again);
    CHECK(region_remove(start[0], size[0]) == ARC_OK);
    CHECK(region_remove(start[2], size[2]) == ARC_OK);
    STATS();
}

/* ---- exhaustion --------------------------------------------------------------------------- */

/* Random sizes and alignments until no memory, then the smallest blocks until not even those
 * fit; every block inside a region and apart; then everything back, twice. */
static void test_exhaustion(unsigned char *pool)
{
    enum { ROUNDS = 2 };
    state_reset(pool + ARC_MIN_ALIGN, 4 * MIB - 2 * ARC_MIN_ALIGN);
    CHECK(region_add(pool + 5 * MIB + 7, MIB, 0) == ARC_OK);
    for (unsigned long long round = 0; round < ROUNDS; round++) {
        check_rng_t rng = {7 + round};
        size_t n = 0;
        while (n < MAX_BLOCKS) {
            size_t size = (size_t)check_range(&rng, 1, FILL_SIZE_MAX);
            size_t align = (size_t)1 << check_range(&rng, 0, FILL_ALIGN_LOG2_MAX);
            if (!take(&blocks[n], size, align))
                break;
            memset(blocks[n].ptr, (int)(n & 0xff), size);
            n++;
        }
        size_t mixed = n;
        while (n < MAX_BLOCKS && take(&blocks[n], 1, 1))
            n++;
        CHECKF(mixed > 0 && n < MAX_BLOCKS, "round %llu: %zu + %zu blocks", round, mixed,
               n - mixed);
        void *out = NULL;
        CHECK(ops->alloc(st, 1, 1, &out) == ARC_NO_MEMORY);
        CHECK(ops->alloc(st, ARC_MIN_ALIGN, ARC_MIN_ALIGN, &out) == ARC_NO_MEMORY);
        CHECK(ops->check(st) == 0);
        size_t bad = 0;
        for (size_t i = 0; i < mixed; i++)
            bad += blocks[i].ptr[0] != (unsigned char)(i & 0xff) ||
                   blocks[i].ptr[blocks[i].size - 1] != (unsigned char)(i & 0xff);
        CHECKF(bad == 0, "round %llu: %zu blocks lost their contents", round, bad);
        no_overlap(blocks, n);
        shuffle(blocks, n, &rng);
        give_all(blocks, n);
        block_t b;
        CHECK(take(&b, FILL_SIZE_MAX, 4 * KIB)); /* it works again */
        if (b.ptr)
            give(&b);
    }
}

/* ---- take_free ---------------------------------------------------------------------------- */

/* NULL out is ARC_INVALID_PARAM; a min_size no free block can have is ARC_NO_MEMORY, absurd
 * ones included (none may wrap into a small request); neither changes anything. */
static void test_take_params(unsigned char *pool)
{
    state_reset(pool, TAKE_REGION_BYTES);
    CHECK(ops->take_free(st, 1, NULL) == ARC_INVALID_PARAM);
    CHECK(ops->take_free(st, TAKE_BLOCK, NULL) == ARC_INVALID_PARAM);
    CHECK(ops->take_free(st, SIZE_MAX, NULL) == ARC_INVALID_PARAM);
    STATS();
    const size_t absurd[] = {SIZE_MAX,        SIZE_MAX - 15,   SIZE_MAX - 4095, SIZE_MAX / 2 + 1,
                             (size_t)1 << 62, (size_t)1 << 48, (size_t)1 << 40, model_total + 1};
    block_t b;
    for (size_t i = 0; i < sizeof absurd / sizeof absurd[0]; i++)
        CHECKF(!take_whole(&b, absurd[i]), "take_free(%zu) served", absurd[i]);
    CHECK(ops->check(st) == 0);
    /* The refusals left all of the free memory there. */
    CHECK(take_whole(&b, TAKE_BLOCK));
    if (b.ptr)
        give(&b);
    CHECK(ops->check(st) == 0);
}

/* The most usable bytes of the first n blocks. */
static size_t most_usable(const block_t *b, size_t n)
{
    size_t most = 0;
    for (size_t i = 0; i < n; i++)
        most = b[i].usable > most ? b[i].usable : most;
    return most;
}

/* On a fresh region: take_free of more than the largest size alloc serves is refused; of less,
 * it gets a block at least as large as asked; take_free(1) then until refused must leave no free
 * byte (available 0, alloc refused), and the free block alloc would have cut the largest size
 * from was among the blocks, whole (no take cut a smaller block off it). Written over whole and
 * given back in random order, the blocks leave the largest block what it was. */
static void test_take_whole(unsigned char *pool)
{
    state_reset(pool, TAKE_REGION_BYTES);
    size_t largest = largest_alloc(TAKE_BLOCK), n = 0;
    CHECK(largest >= TAKE_BLOCK);
    CHECK(!take_whole(&blocks[0], largest + 1));
    CHECK(take_whole(&blocks[0], TAKE_BLOCK));
    n += blocks[0].ptr != NULL;
    while (n < MAX_BLOCKS && take_whole(&blocks[n], 1))
        n++;
    CHECK(n > 0 && n < MAX_BLOCKS);
    CHECKF(most_usable(blocks, n) >= largest, "%zu blocks taken, the largest %zu, alloc served %zu",
           n, most_usable(blocks, n), largest);
    CHECKF(ops->available_bytes(st) == 0, "%zu bytes available after all free blocks were taken",
           ops->available_bytes(st));
    void *out = NULL;
    CHECK(ops->alloc(st, 1, 1, &out) == ARC_NO_MEMORY);
    CHECK(ops->check(st) == 0);
    no_overlap(blocks, n);
    for (size_t i = 0; i < n; i++)
        memset(blocks[i].ptr, (int)(i + 1), blocks[i].usable);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += blocks[i].ptr[0] != (unsigned char)(i + 1) ||
               blocks[i].ptr[blocks[i].usable - 1] != (unsigned char)(i + 1);
    CHECKF(bad == 0, "%zu taken blocks lost their contents", bad);
    CHECK(ops->check(st) == 0);
    check_rng_t rng = {0x7a4e};
    shuffle(blocks, n, &rng);
    give_all(blocks, n);
    STATS();
    CHECK(largest_alloc(TAKE_BLOCK) == largest);
}

/* Blocks of half the largest size alloc serves until the largest block is cut, then every free
 * block taken whole around them (the largest size alloc serves then is served by one of them)
 * and written over whole: given back, the cut ones first, all of it must merge again (the
 * largest block alloc serves is what it was on the fresh region). */
static void test_take_coalesce(unsigned char *pool)
{
    enum { CUTS_MAX = 8 };
    state_reset(pool + 2 * MIB + 8, TAKE_REGION_BYTES);
    size_t largest = largest_alloc(TAKE_BLOCK), n = 0, cuts = 0;
    block_t cut[CUTS_MAX];
    CHECK(largest >= 2 * TAKE_BLOCK);
    while (cuts < CUTS_MAX && largest_alloc(TAKE_BLOCK) == largest &&
           take(&cut[cuts], largest / 2, ARC_MIN_ALIGN))
        cuts++;
    CHECKF(cuts > 0 && largest_alloc(TAKE_BLOCK) < largest, "%zu blocks cut nothing", cuts);
    size_t rest = largest_alloc(TAKE_BLOCK);
    while (n < MAX_BLOCKS && take_whole(&blocks[n], 1)) {
        memset(blocks[n].ptr, 0xff, blocks[n].usable);
        n++;
    }
    CHECK(n > 0 && n < MAX_BLOCKS);
    CHECKF(rest >= TAKE_BLOCK && most_usable(blocks, n) >= rest,
           "%zu blocks taken, the largest %zu, alloc served %zu", n, most_usable(blocks, n), rest);
    CHECK(ops->check(st) == 0);
    for (size_t i = 0; i < cuts; i++)
        give(&cut[i]);
    CHECK(ops->check(st) == 0);
    check_rng_t rng = {0xc0a1};
    shuffle(blocks, n, &rng);
    give_all(blocks, n);
    STATS();
    CHECKF(largest_alloc(TAKE_BLOCK) == largest, "largest block %zu, was %zu",
           largest_alloc(TAKE_BLOCK), largest);
}

/* Blocks fill a region and one in the middle is given back. take_free of more than the largest
 * block alloc then serves is refused and changes nothing; take_free of that size gets a block,
 * which written over whole and given back leaves the largest block what it was. */
static void test_take_too_large(unsigned char *pool)
{
    state_reset(pool + 5 * MIB, TAKE_REGION_BYTES);
    size_t n = 0;
    while (n < MAX_BLOCKS && take(&blocks[n], TAKE_BLOCK, ARC_MIN_ALIGN))
        n++;
    CHECK(n >= 3 && n < MAX_BLOCKS);
    if (n < 3 || n >= MAX_BLOCKS)
        return;
    block_t hole = blocks[n / 2];
    blocks[n / 2] = blocks[n - 1];
    n--;
    give(&hole);
    size_t largest = largest_alloc(TAKE_BLOCK);
    CHECK(largest >= TAKE_BLOCK); /* the hole serves its own size again */
    size_t used = ops->used_bytes(st), avail = ops->available_bytes(st);
    block_t b;
    CHECK(!take_whole(&b, largest + 1));
    CHECK(!take_whole(&b, 2 * largest));
    CHECK(ops->used_bytes(st) == used && ops->available_bytes(st) == avail);
    CHECK(ops->check(st) == 0);
    CHECK(largest_alloc(TAKE_BLOCK) == largest);
    CHECK(take_whole(&b, largest));
    if (b.ptr) {
        memset(b.ptr, 0x5a, b.usable);
        give(&b);
    }
    CHECK(ops->check(st) == 0);
    CHECK(largest_alloc(TAKE_BLOCK) == largest);
    give_all(blocks, n);
    STATS();
}

/* The seed's shapes on a 128 MiB pool: a 3 M-element vector grown by alloc-copy-free, then
 * 30 000 blocks of 512 B and 7 500 of 4160 B freed in random order. */
static void test_seed_shapes(void)
{
    enum { PUSHES = 3000000, SMALL = 30000, LARGE = 7500, SMALL_SIZE = 512, LARGE_SIZE = 4160 };
    const size_t mix = 2654435761u; /* Knuth's multiplicative hash: distinct values per index */
    unsigned char *pool = malloc(SEED_POOL_BYTES);
    CHECK(pool != NULL);
    if (!pool)
        return;
    state_reset(pool, SEED_POOL_BYTES);
    block_t vec = {0}, grown;
    size_t cap = 0, moves = 0;
    for (size_t i = 0; i < PUSHES; i++) {
        if (i == cap) {
            size_t ncap = cap ? 2 * cap : 4;
            if (!take(&grown, ncap * sizeof(size_t), _Alignof(size_t)))
                break;
            if (vec.ptr) {
                memcpy(grown.ptr, vec.ptr, cap * sizeof(size_t));
                give(&vec);
            }
            vec = grown;
            cap = ncap;
            moves++;
        }
        ((size_t *)vec.ptr)[i] = i * mix;
    }
    size_t bad = 0;
    for (size_t i = 0; i < cap && i < PUSHES; i++)
        bad += ((size_t *)vec.ptr)[i] != i * mix;
    CHECK(bad == 0 && cap >= PUSHES && moves > 10);
    if (vec.ptr)
        give(&vec);
    CHECK(ops->check(st) == 0);

    size_t n = 0;
    for (; n < SMALL + LARGE; n++) {
        size_t size = n < SMALL ? SMALL_SIZE : LARGE_SIZE;
        if (!take(&blocks[n], size, ARC_MIN_ALIGN))
            break;
        memcpy(blocks[n].ptr, &n, sizeof n);
        blocks[n].ptr[size - 1] = (unsigned char)n;
    }
    CHECK(n == SMALL + LARGE);
    CHECK(ops->check(st) == 0);
    check_rng_t rng = {0x5eed};
    shuffle(blocks, n, &rng);
    bad = 0;
    for (size_t i = 0; i < n; i++) {
        size_t tag;
        memcpy(&tag, blocks[i].ptr, sizeof tag);
        bad += tag >= SMALL + LARGE || blocks[i].size != (tag < SMALL ? SMALL_SIZE : LARGE_SIZE) ||
               blocks[i].ptr[blocks[i].size - 1] != (unsigned char)tag;
    }
    CHECK(bad == 0);
    give_all(blocks, n);
    STATS();
    free(pool);
}

int main(int argc, char **argv)
{
    const char *name = argc > 1 ? argv[1] : "";
    ops = arc_byte_ops_find(name);
    CHECKF(ops != NULL, "no backend \"%s\"", name);
    if (!ops)
        return check_done();
    CHECK(strcmp(ops->name, name) == 0 && ops->state_size > 0);
    CHECK(arc_byte_ops_find("nonesuch") == NULL);
    unsigned char *pool = aligned_alloc(POOL_ALIGN, POOL_BYTES);
    st = aligned_alloc(STATE_ALIGN,
                       (ops->state_size + STATE_ALIGN - 1) & ~(size_t)(STATE_ALIGN - 1));
    CHECK(pool && st);
    if (!pool || !st)
        return check_done();
    memset(st, STATE_FILL, ops->state_size);
    test_alloc_params(pool);
    test_alignments(pool);
    test_refusals(pool);
    test_region_size(pool);
    test_overlap(pool);
    test_regions(pool);
    test_exhaustion(pool);
    CHECK(ops->take_free != NULL);
    if (ops->take_free) {
        test_take_params(pool);
        test_take_whole(pool);
        test_take_coalesce(pool);
        test_take_too_large(pool);
    }
    test_clean_blocks(pool);
    test_seed_shapes();
    printf("%s: the byte-allocator contract\n", ops->name);
    free(st);
    free(pool);
    return check_done();
}
