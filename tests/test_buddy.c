/* test_buddy.c: the buddy allocator on caller memory: contract edges, trimming, overlap, alignments
 * to 1 MiB, regions and remove_memory, exhaustion, split/merge, random and seed shapes. Stats are
 * held against a model after every operation; it never looks inside the allocator's state. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arcalloc.h"
#include "check.h"

#define KIB ((size_t)1 << 10)
#define MIB ((size_t)1 << 20)

static const arc_byte_ops_t *ops = &arc_buddy_ops;
static arc_byte_allocator_t *st; /* the allocator's state, re-initialised by each test */
static size_t model_used;        /* sum of usable_size of the blocks the test holds */

/* The buddy has no per-block bookkeeping: available is exactly total - used. */
static void stats_check(void)
{
    size_t used = ops->used_bytes(st), total = ops->total_bytes(st);
    CHECKF(used == model_used, "used_bytes %zu, model %zu", used, model_used);
    CHECKF(ops->available_bytes(st) == total - used, "available %zu, total %zu, used %zu",
           ops->available_bytes(st), total, used);
}

static int is_pow2(size_t x)
{
    return x && !(x & (x - 1));
}

/* Allocates and checks the block: aligned, a power of two >= max(size, align, 16), aligned to
 * its own size (the buddy's natural alignment). NULL when the allocator has no memory. */
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
    size_t u = ops->usable_size(st, p), need = size > align ? size : align;
    CHECKF(u >= need && u >= ARC_MIN_ALIGN && is_pow2(u) && (u == ARC_MIN_ALIGN || u / 2 < need),
           "alloc(%zu, %zu): usable %zu", size, align, u);
    CHECKF(u && (uintptr_t)p % u == 0, "%p not aligned to its size %zu", p, u);
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

static void test_alloc_edges(unsigned char *pool)
{
    state_reset(pool, MIB);
    void *out = (void *)1;
    CHECK(ops->alloc(st, 0, 16, &out) == ARC_INVALID_PARAM);
    CHECK(ops->alloc(st, 16, 0, &out) == ARC_INVALID_PARAM);
    CHECK(ops->alloc(st, 16, 3, &out) == ARC_INVALID_PARAM);
    CHECK(ops->alloc(st, 16, 48, &out) == ARC_INVALID_PARAM);
    CHECK(ops->alloc(st, 16, 16, NULL) == ARC_INVALID_PARAM);
    CHECK(ops->alloc(st, SIZE_MAX, 16, &out) == ARC_NO_MEMORY);
    CHECK(ops->alloc(st, SIZE_MAX / 2 + 1, 16, &out) == ARC_NO_MEMORY);
    CHECK(ops->alloc(st, 16, (size_t)1 << 63, &out) == ARC_NO_MEMORY);
    CHECK(ops->alloc(st, SIZE_MAX - 4096, 4096, &out) == ARC_NO_MEMORY);
    CHECK(ops->alloc(st, ops->total_bytes(st) + 1, 16, &out) == ARC_NO_MEMORY);
    CHECK(out == NULL);
    stats_check();

    /* Every size 1..64 and alignments 1..16 round to the 16-byte minimum or the next power. */
    for (size_t size = 1; size <= 64; size++)
        for (size_t align = 1; align <= 16; align *= 2)
            give(take(size, align));

    /* Pointers that are not live block starts. */
    int local = 0;
    unsigned char *p = take(100, 16), *q = take(16, 16);
    CHECK(p && q);
    if (!p || !q)
        return;
    size_t up = ops->usable_size(st, p);
    dealloc_refused(&local, sizeof local);
    dealloc_refused(NULL, 16);
    dealloc_refused(pool, 16);       /* the region header */
    dealloc_refused(pool + MIB, 16); /* one past the region */
    if (q != pool + MIB - 16)
        dealloc_refused(pool + MIB - 16, 16); /* the last granule: free memory */
    dealloc_refused(p + 16, 16);              /* interior, on a granule */
    dealloc_refused(p + 1, 1);                /* interior, unaligned */
    dealloc_refused(p, up + 1);               /* larger than the block: not what alloc was asked */
    CHECK(ops->usable_size(st, p + 16) == 0 && ops->usable_size(st, &local) == 0);
    CHECK(ops->usable_size(st, NULL) == 0);
    give(p);
    dealloc_refused(p, 16); /* double free, after merging */
    give(q);
    dealloc_refused(q, 16);
    CHECK(ops->check(st) == 0);
}

/* The smallest region init takes, found by search; the contract then pins the neighbours. */
static void test_region_size(unsigned char *pool)
{
    size_t min = 0;
    for (size_t size = 16; size <= 4096 && !min; size += 16)
        if (ops->init(st, pool, size) == ARC_OK)
            min = size;
    CHECKF(min > 0, "no region up to 4 KiB was accepted");
    if (!min)
        return;
    state_reset(pool, min);
    CHECK(ops->total_bytes(st) >= ARC_MIN_ALIGN && ops->total_bytes(st) < min);
    give(take(ARC_MIN_ALIGN, 1));
    CHECK(ops->init(st, pool, min - 16) == ARC_INVALID_PARAM);
    CHECK(ops->init(st, pool, min - 1) == ARC_INVALID_PARAM);
    CHECK(ops->init(st, pool + 1, min) == ARC_INVALID_PARAM);      /* trims to min - 16 */
    CHECK(ops->init(st, pool + 1, min + 14) == ARC_INVALID_PARAM); /* still min - 16 */
    CHECK(ops->init(st, pool + 1, min + 15) == ARC_OK);            /* trims to exactly min */
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

/* Alignments 1 B .. 1 MiB, sizes around each alignment, on an 8 MiB pool at an odd address. */
static void test_alignments(unsigned char *pool)
{
    state_reset(pool + 48, 8 * MIB - 48);
    for (size_t align = 1; align <= MIB; align *= 2) {
        size_t sizes[] = {1, align / 2 + 1, align, align + 1, 3 * align};
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            if (sizes[i] > 2 * MIB)
                continue;
            unsigned char *p = take(sizes[i], align);
            CHECKF(p != NULL, "alloc(%zu, %zu) failed", sizes[i], align);
            if (!p)
                continue;
            CHECK((uintptr_t)p % (align < 16 ? 16 : align) == 0);
            CHECK(p >= pool + 48 && p + ops->usable_size(st, p) <= pool + 8 * MIB);
            memset(p, 0x5a, sizes[i]);
            give(p);
        }
    }
    CHECK(ops->check(st) == 0);
}

/* Three regions, filled from all of them; remove_memory refused while live, accepted after. */
static void test_regions(unsigned char *pool)
{
    enum { NREG = 3, MAXB = 1024 };
    unsigned char *start[NREG] = {pool + 1 * MIB + 3, pool, pool + 3 * MIB};
    size_t size[NREG] = {MIB - 3, 512 * KIB, MIB + 4 * KIB}, part[NREG];
    static void *blk[MAXB];
    size_t total = 0, n = 0;
    state_reset(start[0], size[0]);
    for (int r = 0; r < NREG; r++) {
        CHECK(r == 0 || ops->add_memory(st, start[r], size[r]) == ARC_OK);
        part[r] = ops->total_bytes(st) - total;
        CHECK(part[r] > 0 && part[r] <= size[r]);
        total += part[r];
    }
    CHECK(ops->check(st) == 0);
    while (n < MAXB && (blk[n] = take(4 * KIB, 16)) != NULL)
        n++;
    /* Only the pieces below 4 KiB at each end of each area stay free. */
    CHECKF(n * 4 * KIB <= total && total - n * 4 * KIB < NREG * 8 * KIB,
           "%zu blocks of 4 KiB in %zu bytes", n, total);
    size_t in[NREG] = {0};
    for (size_t i = 0; i < n; i++)
        for (int r = 0; r < NREG; r++)
            in[r] +=
                (unsigned char *)blk[i] >= start[r] && (unsigned char *)blk[i] < start[r] + size[r];
    CHECK(in[0] + in[1] + in[2] == n);
    for (int r = 0; r < NREG; r++) {
        CHECKF(in[r] > 0, "region %d unused", r);
        CHECK(ops->remove_memory(st, start[r], size[r]) == ARC_INVALID_PARAM); /* live */
    }
    /* Free region 1's blocks only: it can go, the others not. */
    for (size_t i = 0; i < n; i++)
        if ((unsigned char *)blk[i] >= start[1] && (unsigned char *)blk[i] < start[1] + size[1]) {
            give(blk[i]);
            blk[i] = NULL;
        }
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
    CHECK(ops->alloc(st, 4 * KIB, 16, &out) == ARC_NO_MEMORY); /* its memory is no longer ours */
    dealloc_refused(start[1] + 4 * KIB, 16);
    /* Added again, it serves again; then everything goes back and both others are removed. */
    CHECK(ops->add_memory(st, start[1], size[1]) == ARC_OK);
    CHECK(ops->total_bytes(st) == total);
    void *again = take(4 * KIB, 16);
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

/* Allocation order from one seed: returns how many blocks were taken before no memory. */
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

/* Run out, free everything, and the same requests succeed again exactly as before. */
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
        size_t m = n; /* small blocks still fit what is left, until nothing does */
        while (m < MAXB && (blk[m] = take(16, 16)) != NULL)
            m++;
        CHECKF(m > n && m < MAXB && ops->available_bytes(st) == 0 && ops->used_bytes(st) == total,
               "round %llu: %zu + %zu blocks, %zu bytes available", round, n, m - n,
               ops->available_bytes(st));
        free_shuffled(blk, m, 8 + round);
        CHECK(ops->available_bytes(st) == total && ops->check(st) == 0);
    }
}

/* Split and merge: buddies are addr ^ size; after any mix of frees, the top blocks come back. */
static void test_split_merge(unsigned char *pool)
{
    enum { MAXB = 1 << 18 };
    static void *blk[MAXB];
    state_reset(pool, 4 * MIB);
    size_t total = ops->total_bytes(st), top = 16, tops = 0;
    void *p;
    while ((p = take(2 * top, 16)) != NULL) { /* the largest block the carving made */
        give(p);
        top *= 2;
    }
    while (tops < MAXB && (blk[tops] = take(top, 16)) != NULL)
        tops++;
    CHECK(tops > 0 && tops * top <= total);
    for (size_t i = 0; i < tops; i++)
        give(blk[i]);

    /* All of it as 64-byte blocks: then the only 128-byte block free is one made by merging
     * two buddies (addr ^ 64); two free neighbours that are not buddies never merge. */
    size_t n = 0;
    while (n < MAXB && (blk[n] = take(64, 16)) != NULL)
        n++;
    CHECK(n > 4 && total - n * 64 < 2 * 64); /* pieces below 64 B at either end of the area */
    uintptr_t pair = ((uintptr_t)blk[n / 2] & ~(uintptr_t)127) + 128; /* a 128-aligned pair */
    size_t at[3] = {n, n, n}; /* pair - 64, pair, pair + 64 */
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 3; k++)
            if ((uintptr_t)blk[i] == pair - 64 + 64 * (uintptr_t)k)
                at[k] = i;
    CHECK(at[0] < n && at[1] < n && at[2] < n);
    if (at[0] < n && at[1] < n && at[2] < n) {
        void *out = NULL;
        give(blk[at[0]]); /* pair - 64 and pair: neighbours, not buddies */
        give(blk[at[1]]);
        CHECK(ops->alloc(st, 128, 16, &out) == ARC_NO_MEMORY);
        CHECK(ops->check(st) == 0);
        give(blk[at[2]]); /* pair + 64: pair's buddy, they merge */
        blk[at[1]] = take(128, 16);
        CHECK(blk[at[1]] == (void *)pair);
        blk[at[0]] = take(64, 16);
        CHECK(blk[at[0]] == (void *)(pair - 64));
        blk[at[2]] = NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (blk[i])
            give(blk[i]);
    CHECK(ops->available_bytes(st) == total && ops->check(st) == 0);

    /* All of it as 16-byte blocks: no bookkeeping inside the area, so exactly total / 16. */
    n = 0;
    while (n < MAXB && (blk[n] = take(16, 1)) != NULL)
        n++;
    CHECKF(n * 16 == total, "%zu granules in %zu bytes", n, total);
    CHECK(ops->check(st) == 0);
    free_shuffled(blk, n, 11);
    CHECK(ops->check(st) == 0);
    size_t again = 0;
    while (again < MAXB && (blk[again] = take(top, 16)) != NULL)
        again++;
    CHECKF(again == tops, "%zu top blocks after merging, %zu at first", again, tops);
    for (size_t i = 0; i < again; i++)
        give(blk[i]);
    void *out = NULL;
    CHECK(ops->alloc(st, 2 * top, 16, &out) == ARC_NO_MEMORY);
    CHECK(ops->check(st) == 0);
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
    check_rng_t rng = {0x1234567ULL};
    state_reset(pool + 5, 4 * MIB);
    CHECK(ops->add_memory(st, pool + 4 * MIB + 64 * KIB, 4 * MIB - 64 * KIB) == ARC_OK);
    for (int step = 0; step < STEPS; step++) {
        if (n < MAXL && (n == 0 || check_range(&rng, 0, 99) < 55)) {
            size_t size = check_range(&rng, 0, 9) < 8 ? (size_t)check_range(&rng, 1, 512)
                                                      : (size_t)check_range(&rng, 513, 64 * KIB);
            size_t align = (size_t)1 << check_range(&rng, 0, 10);
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
    free(pool);
}

int main(void)
{
    unsigned char *pool = aligned_alloc(MIB, 8 * MIB);
    st = aligned_alloc(64, (ops->state_size + 63) & ~(size_t)63);
    CHECK(pool && st && strcmp(ops->name, "buddy") == 0);
    if (!pool || !st)
        return check_done();
    memset(st, 0xa5, ops->state_size); /* init must not rely on zeroed state */
    test_alloc_edges(pool);
    test_region_size(pool);
    test_overlap(pool);
    test_alignments(pool);
    test_regions(pool);
    test_exhaustion(pool);
    test_split_merge(pool);
    test_random(pool);
    test_seed_shapes();
    free(st);
    free(pool);
    return check_done();
}
