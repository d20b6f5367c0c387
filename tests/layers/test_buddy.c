/* test_buddy.c: what only the buddy allocator promises (src/layers/buddy.c): blocks are powers of
 * two from 16 B, the smallest that fits the request and its alignment, aligned to their own size;
 * regions are carved greedily into the largest naturally aligned blocks; a freed block merges
 * with its buddy (addr ^ size) and with nothing else; no bookkeeping inside the area, so
 * available is exactly total - used. The contract every backend keeps is test_byte_contract.c's:
 * this file must never repeat it, and never looks inside the allocator's state. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arcalloc.h"
#include "check.h"

#define KIB ((size_t)1 << 10)
#define MIB ((size_t)1 << 20)

enum {
    POOL_BYTES = 8 << 20,
    POOL_ALIGN = 1 << 20,
    STATE_ALIGN = 64,
    STATE_BYTES_MAX = 64 << 10,
    STATE_FILL = 0xa5,
    MAX_BLOCKS = 1 << 18,
    SHAPE_SIZE_MAX = 4096,     /* every size up to this has its block shape checked */
    SHAPE_ALIGN_LOG2_MAX = 20, /* ... at alignments 1 B .. 1 MiB */
    CARVE_BLOCK = 4 << 10,     /* test_carving fills its regions with blocks of this size */
    PAIR = 64,                 /* test_split_merge's blocks: two of them are a 128-byte pair */
    FREE_ORDER_SEED = 11,      /* the order test_split_merge frees its granules in */
};

static const arc_byte_ops_t *ops = &arc_buddy_ops;
static arc_byte_allocator_t *st;

static size_t pow2_at_least(size_t x)
{
    size_t p = ARC_MIN_ALIGN;
    while (p < x)
        p *= 2;
    return p;
}

/* The statistics are exact: available is total - used, nothing kept aside. */
static void stats_exact(void)
{
    size_t total = ops->total_bytes(st), used = ops->used_bytes(st);
    CHECKF(used <= total && ops->available_bytes(st) == total - used,
           "available %zu, total %zu, used %zu", ops->available_bytes(st), total, used);
}

/* Allocates and checks the block's shape: the smallest power of two >= max(size, align, 16),
 * aligned to that size. NULL when nothing fits. */
static void *take(size_t size, size_t align)
{
    void *p = NULL;
    if (ops->alloc(st, size, align, &p) != ARC_OK)
        return NULL;
    size_t u = ops->usable_size(st, p), want = pow2_at_least(size > align ? size : align);
    CHECKF(u == want, "alloc(%zu, %zu): block of %zu, want %zu", size, align, u, want);
    CHECKF((uintptr_t)p % want == 0, "alloc(%zu, %zu) = %p, not aligned to its size", size, align,
           p);
    stats_exact();
    return p;
}

static void give(void *p)
{
    CHECK(ops->dealloc(st, p, ops->usable_size(st, p), ARC_MIN_ALIGN) == ARC_OK);
    stats_exact();
}

static void init_checked(void *start, size_t size)
{
    CHECK(ops->init(st, start, size) == ARC_OK);
    size_t total = ops->total_bytes(st);
    /* total is the area: whole granules, less than the trimmed region (the map is outside). */
    CHECKF(total % ARC_MIN_ALIGN == 0 && total < size, "total %zu of a %zu-byte region", total,
           size);
    stats_exact();
}

static void test_block_shape(unsigned char *pool)
{
    init_checked(pool + ARC_MIN_ALIGN, POOL_BYTES - ARC_MIN_ALIGN);
    for (size_t size = 1; size <= SHAPE_SIZE_MAX; size++)
        for (int k = 0; k <= SHAPE_ALIGN_LOG2_MAX; k++) {
            void *p = take(size, (size_t)1 << k);
            CHECKF(p != NULL, "alloc(%zu, %zu) failed", size, (size_t)1 << k);
            if (p)
                give(p);
        }
    CHECK(ops->used_bytes(st) == 0 && ops->check(st) == 0);
}

/* Greedy carving: each region's area is cut into the largest naturally aligned blocks, so a
 * region filled with 4 KiB blocks leaves only the pieces below 4 KiB at either end. */
static void test_carving(unsigned char *pool)
{
    enum { NREG = 3 };
    static void *blk[MAX_BLOCKS];
    unsigned char *start[NREG] = {pool + 1 * MIB + 3, pool, pool + 3 * MIB};
    size_t size[NREG] = {MIB - 3, 512 * KIB, MIB + 4 * KIB}, n = 0;
    init_checked(start[0], size[0]);
    for (int r = 1; r < NREG; r++)
        CHECK(ops->add_memory(st, start[r], size[r]) == ARC_OK);
    size_t total = ops->total_bytes(st);
    while (n < MAX_BLOCKS && (blk[n] = take(CARVE_BLOCK, ARC_MIN_ALIGN)) != NULL)
        n++;
    CHECKF(n * CARVE_BLOCK <= total && total - n * CARVE_BLOCK < NREG * 2 * CARVE_BLOCK,
           "%zu blocks of 4 KiB in %zu bytes", n, total);
    for (size_t i = 0; i < n; i++)
        give(blk[i]);
    CHECK(ops->check(st) == 0);
}

/* Split and merge: buddies are addr ^ size; after any mix of frees, the top blocks come back. */
static void test_split_merge(unsigned char *pool)
{
    static void *blk[MAX_BLOCKS];
    init_checked(pool, 4 * MIB);
    size_t total = ops->total_bytes(st), top = ARC_MIN_ALIGN, tops = 0;
    void *p;
    while ((p = take(2 * top, ARC_MIN_ALIGN)) != NULL) { /* the largest block the carving made */
        give(p);
        top *= 2;
    }
    while (tops < MAX_BLOCKS && (blk[tops] = take(top, ARC_MIN_ALIGN)) != NULL)
        tops++;
    CHECK(tops > 0 && tops * top <= total);
    for (size_t i = 0; i < tops; i++)
        give(blk[i]);

    /* All of it as 64-byte blocks: then the only 128-byte block free is one made by merging
     * two buddies (addr ^ 64); two free neighbours that are not buddies never merge. */
    size_t n = 0;
    while (n < MAX_BLOCKS && (blk[n] = take(PAIR, ARC_MIN_ALIGN)) != NULL)
        n++;
    CHECK(n > 4 && total - n * PAIR < 2 * PAIR); /* pieces below 64 B at either end */
    uintptr_t pair = ((uintptr_t)blk[n / 2] & ~(uintptr_t)(2 * PAIR - 1)) + 2 * PAIR;
    size_t at[3] = {n, n, n}; /* pair - 64, pair, pair + 64 */
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 3; k++)
            if ((uintptr_t)blk[i] == pair - PAIR + PAIR * (uintptr_t)k)
                at[k] = i;
    CHECK(at[0] < n && at[1] < n && at[2] < n);
    if (at[0] < n && at[1] < n && at[2] < n) {
        void *out = NULL;
        give(blk[at[0]]); /* pair - 64 and pair: neighbours, not buddies */
        give(blk[at[1]]);
        CHECK(ops->alloc(st, 2 * PAIR, ARC_MIN_ALIGN, &out) == ARC_NO_MEMORY);
        CHECK(ops->check(st) == 0);
        give(blk[at[2]]); /* pair + 64: pair's buddy, they merge */
        blk[at[1]] = take(2 * PAIR, ARC_MIN_ALIGN);
        CHECK(blk[at[1]] == (void *)pair);
        blk[at[0]] = take(PAIR, ARC_MIN_ALIGN);
        CHECK(blk[at[0]] == (void *)(pair - PAIR));
        blk[at[2]] = NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (blk[i])
            give(blk[i]);
    CHECK(ops->available_bytes(st) == total && ops->check(st) == 0);

    /* All of it as 16-byte blocks: no bookkeeping inside the area, so exactly total / 16. */
    n = 0;
    while (n < MAX_BLOCKS && (blk[n] = take(ARC_MIN_ALIGN, 1)) != NULL)
        n++;
    CHECKF(n * ARC_MIN_ALIGN == total, "%zu granules in %zu bytes", n, total);
    CHECK(ops->available_bytes(st) == 0 && ops->check(st) == 0);
    check_rng_t rng = {FREE_ORDER_SEED};
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)check_range(&rng, 0, i - 1);
        void *t = blk[i - 1];
        blk[i - 1] = blk[j];
        blk[j] = t;
    }
    for (size_t i = 0; i < n; i++)
        give(blk[i]);
    CHECK(ops->check(st) == 0);
    size_t again = 0;
    while (again < MAX_BLOCKS && (blk[again] = take(top, ARC_MIN_ALIGN)) != NULL)
        again++;
    CHECKF(again == tops, "%zu top blocks after merging, %zu at first", again, tops);
    for (size_t i = 0; i < again; i++)
        give(blk[i]);
    void *out = NULL;
    CHECK(ops->alloc(st, 2 * top, ARC_MIN_ALIGN, &out) == ARC_NO_MEMORY);
    CHECK(ops->check(st) == 0);
}

int main(void)
{
    /* The state in static storage, dirty: init must write all it needs. */
    static _Alignas(STATE_ALIGN) unsigned char state[STATE_BYTES_MAX];
    memset(state, STATE_FILL, sizeof state);
    st = (arc_byte_allocator_t *)state;
    CHECKF(ops->state_size <= sizeof state, "state_size %zu", ops->state_size);
    CHECK(strcmp(ops->name, "buddy") == 0);
    unsigned char *pool = aligned_alloc(POOL_ALIGN, POOL_BYTES);
    if (pool && ops->state_size <= sizeof state) {
        test_block_shape(pool);
        test_carving(pool);
        test_split_merge(pool);
    }
    free(pool);
    return check_done();
}
