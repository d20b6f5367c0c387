/* test_slab.c: the slab allocator on caller memory: contract edges, trimming, overlap, class
 * boundaries, alignments to 1 MiB, page runs, slab return, regions, exhaustion, random and seed
 * shapes. Stats are held against a model after every operation; it never looks inside the state. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arcalloc.h"
#include "check.h"

#define KIB         ((size_t)1 << 10)
#define MIB         ((size_t)1 << 20)
#define PAGE        ((size_t)ARC_PAGE_SIZE)
#define CLASS_LIMIT 4096 /* the brief: classes from 16 B to 4 KiB, runs above */
#define MAX_CLASSES 256

static const arc_byte_ops_t *ops = &arc_slab_ops;
static arc_byte_allocator_t *st; /* the allocator's state, re-initialised by each test */
static size_t model_used;        /* sum of usable_size of the blocks the test holds */
static size_t classes[MAX_CLASSES], nclasses; /* learnt by test_classes from usable_size */

/* used is exact; available leaves out the slabs' own bookkeeping, so it is at most total - used
 * and all of total once nothing is live. */
static void stats_check(void)
{
    size_t used = ops->used_bytes(st), total = ops->total_bytes(st);
    size_t avail = ops->available_bytes(st);
    CHECKF(used == model_used, "used_bytes %zu, model %zu", used, model_used);
    CHECKF(avail <= total - used, "available %zu, total %zu, used %zu", avail, total, used);
    CHECKF(model_used || avail == total, "available %zu of %zu with nothing live", avail, total);
}

static int is_class(size_t u)
{
    for (size_t i = 0; i < nclasses; i++)
        if (classes[i] == u)
            return 1;
    return 0;
}

/* Allocates and checks the block: aligned, and either a size class or whole pages with less
 * than a page of rounding. NULL when the allocator has no memory. */
static void *take(size_t size, size_t align)
{
    void *p = NULL;
    int rc = ops->alloc(st, size, align, &p);
    if (rc != ARC_OK) {
        CHECKF(rc == ARC_NO_MEMORY, "alloc(%zu, %zu): %s", size, align, arc_result_str(rc));
        CHECK(p == NULL);
        stats_check();
        return NULL;
    }
    size_t u = ops->usable_size(st, p), want = align < ARC_MIN_ALIGN ? ARC_MIN_ALIGN : align;
    CHECKF(u >= size && (is_class(u) || (u % PAGE == 0 && u - size < PAGE)),
           "alloc(%zu, %zu): usable %zu", size, align, u);
    CHECKF((uintptr_t)p % want == 0, "%p not aligned to %zu", p, want);
    model_used += u;
    stats_check();
    return p;
}

static void give(void *p)
{
    size_t u = ops->usable_size(st, p);
    CHECK(u > 0);
    CHECK(ops->dealloc(st, p, u, ARC_MIN_ALIGN) == ARC_OK);
    model_used -= u;
    stats_check();
}

static void state_reset(void *start, size_t size)
{
    model_used = 0;
    CHECK(ops->init(st, start, size) == ARC_OK);
    stats_check();
    CHECK(ops->check(st) == 0);
}

/* A failed dealloc must change nothing. */
static void dealloc_refused(void *p, size_t size)
{
    size_t used = ops->used_bytes(st), avail = ops->available_bytes(st);
    CHECKF(ops->dealloc(st, p, size, ARC_MIN_ALIGN) == ARC_NOT_ALLOCATED, "dealloc(%p)", p);
    CHECK(ops->usable_size(st, p) == 0 || size > ops->usable_size(st, p));
    CHECK(ops->used_bytes(st) == used && ops->available_bytes(st) == avail);
    CHECK(ops->check(st) == 0);
}

/* Learns the classes from usable_size of every size up to the limit, then checks their shape
 * and both sides of every boundary: size = class and class + 1. */
static void test_classes(unsigned char *pool)
{
    state_reset(pool, 2 * MIB);
    size_t prev = 0;
    for (size_t size = 1; size <= CLASS_LIMIT; size++) {
        void *p = NULL;
        CHECK(ops->alloc(st, size, 1, &p) == ARC_OK);
        size_t u = ops->usable_size(st, p);
        CHECK(ops->dealloc(st, p, size, 1) == ARC_OK);
        CHECKF(u >= size && u >= prev, "size %zu: usable %zu after %zu", size, u, prev);
        if (u != prev && nclasses < MAX_CLASSES)
            classes[nclasses++] = u;
        prev = u;
    }
    CHECK(nclasses > 1 && classes[0] == ARC_MIN_ALIGN && classes[nclasses - 1] == CLASS_LIMIT);
    for (size_t i = 0; i < nclasses; i++) {
        CHECKF(classes[i] % ARC_MIN_ALIGN == 0, "class %zu", classes[i]);
        /* Finer than powers of two: above 64 B no class is more than 1.25 x the one before. */
        CHECKF(i == 0 || classes[i] <= 64 || 4 * classes[i] <= 5 * classes[i - 1],
               "class %zu after %zu", classes[i], classes[i - 1]);
    }
    for (size_t i = 0; i < nclasses; i++) {
        unsigned char *p = take(classes[i], 16), *q = take(classes[i] + 1, 16);
        CHECK(p && q);
        if (!p || !q)
            continue;
        CHECK(ops->usable_size(st, p) == classes[i]);
        if (i + 1 < nclasses)
            CHECK(ops->usable_size(st, q) == classes[i + 1]);
        else /* past the last class: a page run */
            CHECK(ops->usable_size(st, q) == (classes[i] + PAGE) / PAGE * PAGE);
        memset(p, 1, classes[i]);
        memset(q, 2, classes[i] + 1);
        give(p);
        give(q);
    }
    /* One live object makes its slab's header and tail bookkeeping; freeing it clears that. */
    void *o = take(16, 16);
    size_t book = ops->total_bytes(st) - ops->used_bytes(st) - ops->available_bytes(st);
    CHECKF(book > 0 && book < 64 * KIB, "bookkeeping %zu for one object", book);
    give(o);
    CHECK(ops->check(st) == 0);
}

static void test_alloc_edges(unsigned char *pool)
{
    state_reset(pool, MIB);
    void *out = (void *)1;
    CHECK(ops->alloc(st, 0, 16, &out) == ARC_INVALID_PARAM);
    CHECK(ops->alloc(st, 16, 0, &out) == ARC_INVALID_PARAM);
    CHECK(ops->alloc(st, 16, 3, &out) == ARC_INVALID_PARAM);
    CHECK(ops->alloc(st, 5000, 48, &out) == ARC_INVALID_PARAM);
    CHECK(ops->alloc(st, 16, 16, NULL) == ARC_INVALID_PARAM);
    out = (void *)1;
    CHECK(ops->alloc(st, SIZE_MAX, 16, &out) == ARC_NO_MEMORY);
    CHECK(out == NULL);
    CHECK(ops->alloc(st, SIZE_MAX - 4096, 16, &out) == ARC_NO_MEMORY);
    CHECK(ops->alloc(st, SIZE_MAX / 2 + 1, 4096, &out) == ARC_NO_MEMORY);
    CHECK(ops->alloc(st, 16, (size_t)1 << 63, &out) == ARC_NO_MEMORY);
    CHECK(ops->alloc(st, ops->total_bytes(st) + 1, 16, &out) == ARC_NO_MEMORY);
    stats_check();

    int local = 0;
    unsigned char *p = take(64, 16), *run = take(3 * PAGE, 16);
    CHECK(p && run);
    if (!p || !run)
        return;
    dealloc_refused(&local, sizeof local);
    dealloc_refused(NULL, 16);
    dealloc_refused(pool, 16);           /* the region header */
    dealloc_refused(pool + MIB, 16);     /* one past the region */
    dealloc_refused(p + 16, 16);         /* interior of a slab object, on a granule */
    dealloc_refused(p + 1, 1);           /* interior, unaligned */
    dealloc_refused(p + 64, 16);         /* the next object: never handed out */
    dealloc_refused(p, 65);              /* larger than the block: not what alloc was asked */
    dealloc_refused(run + 16, 16);       /* interior of a run, first page */
    dealloc_refused(run + PAGE, 16);     /* interior of a run, a later page */
    dealloc_refused(run + 2 * PAGE, 16); /* the run's last page */
    dealloc_refused(run + 3 * PAGE, 16); /* free pages after it */
    dealloc_refused(run, 3 * PAGE + 1);
    CHECK(ops->usable_size(st, p + 16) == 0 && ops->usable_size(st, run + PAGE) == 0);
    CHECK(ops->usable_size(st, &local) == 0 && ops->usable_size(st, NULL) == 0);
    give(p);
    dealloc_refused(p, 16); /* double free of an object */
    give(run);
    dealloc_refused(run, 16); /* double free of a run, now merged into free pages */
    CHECK(ops->check(st) == 0);
}

/* The smallest region init takes, found by search; the neighbours follow from the trimming. */
static void test_region_size(unsigned char *pool)
{
    size_t min = 0;
    for (size_t size = 16; size <= 64 * KIB && !min; size += 16)
        if (ops->init(st, pool, size) == ARC_OK)
            min = size;
    CHECKF(min > 0, "no region up to 64 KiB was accepted");
    if (!min)
        return;
    state_reset(pool, min);
    CHECK(ops->total_bytes(st) >= PAGE && ops->total_bytes(st) < min);
    CHECK(ops->total_bytes(st) % PAGE == 0);
    /* Too small for a slab: small requests fall back to a page. */
    void *p = take(16, 1);
    CHECK(p && ops->usable_size(st, p) == PAGE);
    give(p);
    CHECK(ops->init(st, pool, min - 16) == ARC_INVALID_PARAM);
    /* A page of bytes across a page boundary holds no whole page; the header in the half page
     * before one whole page is enough. */
    CHECK(ops->init(st, pool + PAGE / 2, PAGE) == ARC_INVALID_PARAM);
    CHECK(ops->init(st, pool + PAGE / 2, PAGE / 2 + PAGE) == ARC_OK);
    CHECK(ops->total_bytes(st) == PAGE);
    CHECK(ops->init(st, pool, 0) == ARC_INVALID_PARAM);
    CHECK(ops->init(st, NULL, MIB) == ARC_INVALID_PARAM);
    CHECK(ops->init(st, (void *)(UINTPTR_MAX - 4095), 8192) == ARC_INVALID_PARAM); /* wraps */
    /* A failed init leaves an empty, working allocator. */
    model_used = 0;
    stats_check();
    CHECK(ops->total_bytes(st) == 0);
    void *out = NULL;
    CHECK(ops->alloc(st, 16, 16, &out) == ARC_NO_MEMORY);
    CHECK(ops->check(st) == 0);
}

/* Overlap in every arrangement against regions A and B with a gap between them. */
static void test_overlap(unsigned char *pool)
{
    unsigned char *a = pool + 64 * KIB, *b = pool + 192 * KIB;
    size_t an = 64 * KIB, bn = 64 * KIB;
    state_reset(a, an);
    CHECK(ops->add_memory(st, b, bn) == ARC_OK);
    size_t total = ops->total_bytes(st);
    struct {
        unsigned char *start;
        size_t size;
        int rc;
    } cases[] = {
        {a, an, ARC_MEMORY_OVERLAP},                             /* identical */
        {a + 4 * KIB, 16 * KIB, ARC_MEMORY_OVERLAP},             /* inside */
        {a - 16 * KIB, an + 32 * KIB, ARC_MEMORY_OVERLAP},       /* containing */
        {a - 16 * KIB, 32 * KIB, ARC_MEMORY_OVERLAP},            /* over A's start */
        {a + an - 16 * KIB, 32 * KIB, ARC_MEMORY_OVERLAP},       /* over A's end */
        {a + an - 16, 32 * KIB, ARC_MEMORY_OVERLAP},             /* one granule of A */
        {a, (size_t)(b + bn - a), ARC_MEMORY_OVERLAP},           /* A, the gap and B */
        {a + an, (size_t)(b - a - an) + 16, ARC_MEMORY_OVERLAP}, /* the gap and B's first granule */
        {b - 32 * KIB, bn, ARC_MEMORY_OVERLAP},                  /* the gap's end and B */
        {a + an, (size_t)(b - a - an), ARC_OK},                  /* exactly the gap */
        {a - 32 * KIB, 32 * KIB, ARC_OK},                        /* touching A from below */
        {b + bn, 32 * KIB, ARC_OK},                              /* touching B from above */
        {a + an - 15, 32 * KIB, ARC_OK}, /* its start trims up to A's end: no overlap */
        {b + bn - 32 * KIB + 1, 32 * KIB, ARC_MEMORY_OVERLAP},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = ops->add_memory(st, cases[i].start, cases[i].size);
        CHECKF(rc == cases[i].rc, "case %zu: %s", i, arc_result_str(rc));
        if (rc == ARC_OK) {
            CHECK(ops->total_bytes(st) > total);
            CHECK(ops->check(st) == 0);
            CHECK(ops->remove_memory(st, cases[i].start, cases[i].size) == ARC_OK);
        }
        CHECK(ops->total_bytes(st) == total);
        stats_check();
    }
    /* A block handed out is inside a region: adding it is an overlap too. */
    void *blk = take(16 * KIB, 16);
    CHECK(blk && ops->add_memory(st, blk, 16 * KIB) == ARC_MEMORY_OVERLAP);
    give(blk);
    CHECK(ops->check(st) == 0);
}

/* Alignments 1 B .. 1 MiB, sizes around each alignment (small ones in slabs whose class is
 * aligned enough, or runs), on an 8 MiB pool at an odd address. */
static void test_alignments(unsigned char *pool)
{
    state_reset(pool + 48, 8 * MIB - 48);
    for (size_t align = 1; align <= MIB; align *= 2) {
        size_t sizes[] = {1, 48, 100, align / 2 + 1, align, align + 1, 3 * align};
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            if (sizes[i] > 3 * MIB)
                continue;
            unsigned char *p = take(sizes[i], align);
            CHECKF(p != NULL, "alloc(%zu, %zu) failed", sizes[i], align);
            if (!p)
                continue;
            CHECK(p >= pool + 48 && p + ops->usable_size(st, p) <= pool + 8 * MIB);
            memset(p, 0x5a, sizes[i]);
            give(p);
        }
    }
    CHECK(ops->check(st) == 0);
}

/* Requests above the last class, and over-aligned small ones, are whole pages. */
static void test_fallback(unsigned char *pool)
{
    state_reset(pool, 8 * MIB);
    size_t sizes[] = {CLASS_LIMIT + 1, 2 * PAGE, 2 * PAGE + 1, 4160, 100 * KIB, MIB, 3 * MIB};
    void *blk[sizeof sizes / sizeof sizes[0]];
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        blk[i] = take(sizes[i], 16);
        CHECK(blk[i] && (uintptr_t)blk[i] % PAGE == 0);
        CHECK(ops->usable_size(st, blk[i]) == (sizes[i] + PAGE - 1) / PAGE * PAGE);
    }
    CHECK(ops->check(st) == 0);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (blk[i])
            give(blk[i]);
    void *p = take(16, 2 * PAGE);
    CHECK(p && ops->usable_size(st, p) == PAGE);
    give(p);
    /* Freed runs coalesce: the whole pool is one run again. */
    p = take(ops->total_bytes(st), 16);
    CHECK(p != NULL);
    if (p)
        give(p);
    CHECK(ops->check(st) == 0);
}

/* Fill a pool with small objects of every class until no memory, free them in random order,
 * and the emptied slabs are pages again: one request for the whole pool fits. */
static void test_slabs_returned(unsigned char *pool)
{
    enum { MAXB = 1 << 19 };
    static void *blk[MAXB];
    state_reset(pool, 8 * MIB);
    size_t total = ops->total_bytes(st), n = 0;
    check_rng_t rng = {77};
    while (n < MAXB && (blk[n] = take((size_t)check_range(&rng, 1, 512), 16)) != NULL)
        n++;
    CHECK(n > 1000 && n < MAXB);
    CHECKF(ops->used_bytes(st) > total / 2, "only %zu of %zu bytes used at no memory",
           ops->used_bytes(st), total);
    CHECK(ops->check(st) == 0);
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)check_range(&rng, 0, i - 1);
        void *t = blk[i - 1];
        blk[i - 1] = blk[j];
        blk[j] = t;
    }
    for (size_t i = 0; i < n; i++) {
        give(blk[i]);
        if (i % 8192 == 0)
            CHECK(ops->check(st) == 0);
    }
    CHECK(ops->check(st) == 0);
    void *all = take(total, 16);
    CHECK(all != NULL);
    if (all)
        give(all);
    CHECK(ops->check(st) == 0);
}

/* Three regions, filled from all of them; remove_memory refused while live, accepted after. */
static void test_regions(unsigned char *pool)
{
    enum { NREG = 3, MAXB = 4096 };
    unsigned char *start[NREG] = {pool + 1 * MIB + 3, pool, pool + 3 * MIB};
    size_t size[NREG] = {MIB - 3, 512 * KIB, MIB + 4 * KIB}, part[NREG];
    static void *blk[MAXB];
    size_t total = 0, n = 0;
    state_reset(start[0], size[0]);
    for (int r = 0; r < NREG; r++) {
        CHECK(r == 0 || ops->add_memory(st, start[r], size[r]) == ARC_OK);
        part[r] = ops->total_bytes(st) - total;
        CHECK(part[r] > 0 && part[r] <= size[r] && part[r] % PAGE == 0);
        total += part[r];
    }
    CHECK(ops->check(st) == 0);
    while (n < MAXB && (blk[n] = take(PAGE, PAGE)) != NULL) /* page-aligned: one-page runs */
        n++;
    CHECKF(n * PAGE == total, "%zu pages in %zu bytes", n, total);
    size_t in[NREG] = {0};
    for (size_t i = 0; i < n; i++)
        for (int r = 0; r < NREG; r++)
            in[r] +=
                (unsigned char *)blk[i] >= start[r] && (unsigned char *)blk[i] < start[r] + size[r];
    CHECK(in[0] + in[1] + in[2] == n);
    for (int r = 0; r < NREG; r++) {
        CHECKF(in[r] * PAGE == part[r], "region %d: %zu pages", r, in[r]);
        CHECK(ops->remove_memory(st, start[r], size[r]) == ARC_INVALID_PARAM); /* live */
    }
    /* Free region 1's pages, leaving one small object there, then free that too: its slab stays
     * as a spare, which remove_memory gives back. */
    void *obj = NULL;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char *)blk[i] >= start[1] && (unsigned char *)blk[i] < start[1] + size[1]) {
            give(blk[i]);
            blk[i] = NULL;
        }
    obj = take(24, 16);
    CHECK(obj && (unsigned char *)obj >= start[1] && (unsigned char *)obj < start[1] + size[1]);
    CHECK(ops->remove_memory(st, start[1], size[1]) == ARC_INVALID_PARAM);
    give(obj);
    CHECK(ops->remove_memory(st, start[1], size[1] - 16) == ARC_INVALID_PARAM); /* not exact */
    CHECK(ops->remove_memory(st, start[1] + 16, size[1] - 16) == ARC_INVALID_PARAM);
    CHECK(ops->remove_memory(st, pool + 6 * MIB, MIB) == ARC_INVALID_PARAM); /* never added */
    CHECK(ops->remove_memory(st, start[0], size[0]) == ARC_INVALID_PARAM);
    CHECK(ops->remove_memory(st, start[1], size[1]) == ARC_OK);
    CHECK(ops->remove_memory(st, start[1], size[1]) == ARC_INVALID_PARAM); /* already gone */
    CHECK(ops->total_bytes(st) == total - part[1]);
    stats_check();
    CHECK(ops->check(st) == 0);
    void *out = NULL;
    CHECK(ops->alloc(st, PAGE, PAGE, &out) == ARC_NO_MEMORY); /* its memory is no longer ours */
    CHECK(ops->alloc(st, 16, 16, &out) == ARC_NO_MEMORY);
    dealloc_refused(obj, 16);
    /* Added again, it serves again; then everything goes back and both others are removed. */
    CHECK(ops->add_memory(st, start[1], size[1]) == ARC_OK);
    CHECK(ops->total_bytes(st) == total);
    void *again = take(PAGE, PAGE);
    CHECK(again && (unsigned char *)again >= start[1] &&
          (unsigned char *)again < start[1] + size[1]);
    give(again);
    for (size_t i = 0; i < n; i++)
        if (blk[i])
            give(blk[i]);
    CHECK(ops->remove_memory(st, start[0], size[0]) == ARC_OK);
    CHECK(ops->remove_memory(st, start[2], size[2]) == ARC_OK);
    CHECK(ops->total_bytes(st) == part[1]);
    stats_check();
    CHECK(ops->check(st) == 0);
}

static size_t fill(void **blk, size_t max, unsigned long long seed)
{
    check_rng_t rng = {seed};
    size_t n = 0;
    while (n < max) {
        size_t size = (size_t)check_range(&rng, 1, 64 * KIB);
        size_t align = (size_t)1 << check_range(&rng, 0, 12);
        if ((blk[n] = take(size, align)) == NULL)
            break;
        memset(blk[n], (int)(n & 0xff), size < 64 ? size : 64);
        n++;
    }
    return n;
}

static void free_shuffled(void **blk, size_t n, unsigned long long seed)
{
    check_rng_t rng = {seed};
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)check_range(&rng, 0, i - 1);
        void *t = blk[i - 1];
        blk[i - 1] = blk[j];
        blk[j] = t;
    }
    for (size_t i = 0; i < n; i++) {
        give(blk[i]);
        if (i % 4096 == 0)
            CHECK(ops->check(st) == 0);
    }
}

/* Run out (mixed sizes, then small objects until even those fail), free everything, twice. */
static void test_exhaustion(unsigned char *pool)
{
    enum { MAXB = 1 << 18 };
    static void *blk[MAXB];
    state_reset(pool + 16, 4 * MIB - 32);
    size_t total = ops->total_bytes(st);
    for (unsigned long long round = 0; round < 2; round++) {
        size_t n = fill(blk, MAXB, 7 + round);
        CHECK(n > 0 && n < MAXB);
        CHECK(ops->check(st) == 0);
        size_t m = n;
        while (m < MAXB && (blk[m] = take(16, 16)) != NULL)
            m++;
        CHECKF(m > n && m < MAXB, "round %llu: %zu + %zu blocks", round, n, m - n);
        /* Nothing is left but the free objects of partly used slabs. */
        void *out = NULL;
        CHECK(ops->alloc(st, PAGE, 16, &out) == ARC_NO_MEMORY);
        CHECK(ops->check(st) == 0);
        free_shuffled(blk, m, 8 + round);
        CHECK(ops->available_bytes(st) == total && ops->check(st) == 0);
    }
    void *all = take(total, PAGE);
    CHECK(all != NULL);
    if (all)
        give(all);
}

/* Random sizes and alignments over two regions; each block's bytes must survive until freed. */
static void test_random(unsigned char *pool)
{
    enum { MAXL = 2000, STEPS = 40000 };
    static struct {
        unsigned char *p;
        size_t size;
    } live[MAXL];
    size_t n = 0;
    check_rng_t rng = {0x7654321ULL};
    state_reset(pool + 5, 4 * MIB);
    CHECK(ops->add_memory(st, pool + 4 * MIB + 64 * KIB, 4 * MIB - 64 * KIB) == ARC_OK);
    for (int step = 0; step < STEPS; step++) {
        if (n < MAXL && (n == 0 || check_range(&rng, 0, 99) < 55)) {
            size_t size = check_range(&rng, 0, 9) < 8 ? (size_t)check_range(&rng, 1, 512)
                                                      : (size_t)check_range(&rng, 513, 64 * KIB);
            size_t align = (size_t)1 << check_range(&rng, 0, 12);
            unsigned char *p = take(size, align);
            if (p) {
                memset(p, (int)(size & 0xff), size);
                live[n].p = p;
                live[n++].size = size;
            }
        } else {
            size_t i = (size_t)check_range(&rng, 0, n - 1), bad = 0;
            for (size_t k = 0; k < live[i].size; k++)
                bad += live[i].p[k] != (unsigned char)(live[i].size & 0xff);
            CHECKF(bad == 0, "block %p of %zu lost %zu bytes", (void *)live[i].p, live[i].size,
                   bad);
            give(live[i].p);
            if (check_range(&rng, 0, 99) == 0)
                dealloc_refused(live[i].p, 16);
            live[i] = live[--n];
        }
        if (step % 1999 == 0)
            CHECKF(ops->check(st) == 0, "check() at step %d", step);
    }
    while (n)
        give(live[--n].p);
    CHECK(ops->check(st) == 0 && ops->available_bytes(st) == ops->total_bytes(st));
}

/* The seed's shapes on a 128 MiB pool: a 3 M-element vector grown by alloc-copy-free, then
 * 30 000 blocks of 512 B and 7 500 of 4160 B freed in random order. */
static void test_seed_shapes(void)
{
    enum { PUSHES = 3000000, SMALL = 30000, LARGE = 7500 };
    unsigned char *pool = malloc(128 * MIB);
    static void *blk[SMALL + LARGE];
    CHECK(pool != NULL);
    if (!pool)
        return;
    state_reset(pool, 128 * MIB);
    size_t *vec = NULL, cap = 0, moves = 0;
    for (size_t i = 0; i < PUSHES; i++) {
        if (i == cap) {
            size_t ncap = cap ? 2 * cap : 4;
            size_t *nvec = take(ncap * sizeof *vec, _Alignof(size_t));
            CHECK(nvec != NULL);
            if (!nvec)
                break;
            if (vec) {
                memcpy(nvec, vec, cap * sizeof *vec);
                give(vec);
            }
            vec = nvec;
            cap = ncap;
            moves++;
        }
        vec[i] = i * 2654435761u;
    }
    size_t bad = 0;
    for (size_t i = 0; vec && i < PUSHES; i++)
        bad += vec[i] != i * 2654435761u;
    CHECK(bad == 0 && moves > 10);
    if (vec)
        give(vec);
    CHECK(ops->used_bytes(st) == 0 && ops->check(st) == 0);

    size_t n = 0;
    for (; n < SMALL + LARGE; n++) {
        size_t size = n < SMALL ? 512 : 4160;
        if ((blk[n] = take(size, 16)) == NULL)
            break;
        memcpy(blk[n], &n, sizeof n);
        ((unsigned char *)blk[n])[size - 1] = (unsigned char)n;
    }
    CHECK(n == SMALL + LARGE);
    CHECK(ops->check(st) == 0);
    check_rng_t rng = {0x5eed};
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)check_range(&rng, 0, i - 1);
        void *t = blk[i - 1];
        blk[i - 1] = blk[j];
        blk[j] = t;
    }
    bad = 0;
    for (size_t i = 0; i < n; i++) {
        size_t tag;
        memcpy(&tag, blk[i], sizeof tag);
        size_t size = tag < SMALL ? 512 : 4160;
        bad += tag >= SMALL + LARGE || ((unsigned char *)blk[i])[size - 1] != (unsigned char)tag;
        give(blk[i]);
    }
    CHECK(bad == 0);
    CHECK(ops->used_bytes(st) == 0 && ops->available_bytes(st) == ops->total_bytes(st));
    CHECK(ops->check(st) == 0);
    void *all = take(ops->total_bytes(st), 16); /* every slab went back: one run fits all */
    CHECK(all != NULL);
    if (all)
        give(all);
    free(pool);
}

int main(void)
{
    unsigned char *pool = aligned_alloc(MIB, 8 * MIB);
    st = aligned_alloc(64, (ops->state_size + 63) & ~(size_t)63);
    CHECK(pool && st && strcmp(ops->name, "slab") == 0);
    if (!pool || !st)
        return check_done();
    memset(st, 0xa5, ops->state_size); /* init must not rely on zeroed state */
    test_classes(pool);
    test_alloc_edges(pool);
    test_region_size(pool);
    test_overlap(pool);
    test_alignments(pool);
    test_fallback(pool);
    test_slabs_returned(pool);
    test_regions(pool);
    test_exhaustion(pool);
    test_random(pool);
    test_seed_shapes();
    free(st);
    free(pool);
    return check_done();
}
