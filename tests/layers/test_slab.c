/* test_slab.c: what only the slab allocator promises (src/layers/slab.c): size classes from 16 B to
 * 4 KiB, finer than powers of two; whole 4 KiB pages for everything else (page runs), which
 * coalesce when freed; slabs given back as pages once empty (one spare per class, which
 * remove_memory also gives back); bookkeeping only for slabs holding live objects; refusals
 * that need its layout (a slab's next object, a run's later pages). The contract every backend
 * keeps is test_byte_contract.c's: this file must never repeat it, and never looks inside the
 * allocator's state. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arcalloc.h"
#include "check.h"

#define KIB  ((size_t)1 << 10)
#define MIB  ((size_t)1 << 20)
#define PAGE ((size_t)ARC_PAGE_SIZE)

enum {
    POOL_BYTES = 8 << 20,
    POOL_ALIGN = 1 << 20,
    STATE_FILL = 0xa5,
    CLASS_LIMIT = 4096, /* the brief: classes from 16 B to 4 KiB, runs above */
    MAX_CLASSES = 256,
    CLASS_STEP_MAX_PCT = 125, /* above 64 B no class is more than 1.25 x the one before */
    CLASS_FINE_BELOW = 64,
    MAX_BLOCKS = 1 << 19,
    SMALL_MAX = 512,            /* test_slabs_returned fills with objects of 1 .. this */
    SLABS_SEED = 77,            /* ... of sizes from this seed */
    FREE_STRIDE = 7,            /* ... and frees them in this many interleaved passes */
    BOOKKEEPING_MAX = 64 << 10, /* one slab's header and tail at most */
    REGION_SEARCH_MAX = 64 << 10,
};

static const arc_byte_ops_t *ops = &arc_slab_ops;
static arc_byte_allocator_t *st;
static size_t classes[MAX_CLASSES], nclasses; /* learnt by test_classes from usable_size */
static int classes_learnt;

static int is_class(size_t u)
{
    for (size_t i = 0; i < nclasses; i++)
        if (classes[i] == u)
            return 1;
    return 0;
}

static size_t pages_for(size_t size)
{
    return (size + PAGE - 1) / PAGE * PAGE;
}

/* Empty slabs count as available: with nothing live, everything is. */
static void all_available_when_empty(void)
{
    CHECKF(ops->used_bytes(st) || ops->available_bytes(st) == ops->total_bytes(st),
           "available %zu of %zu with nothing live", ops->available_bytes(st),
           ops->total_bytes(st));
}

static void init_checked(void *start, size_t size)
{
    CHECK(ops->init(st, start, size) == ARC_OK);
    CHECK(ops->total_bytes(st) % PAGE == 0); /* whole pages only */
    all_available_when_empty();
}

/* Allocates and checks the block's shape: a size class (once they are learnt), or whole pages
 * with less than a page of rounding. NULL when nothing fits. */
static void *take(size_t size, size_t align)
{
    void *p = NULL;
    if (ops->alloc(st, size, align, &p) != ARC_OK)
        return NULL;
    size_t u = ops->usable_size(st, p);
    int run = u == pages_for(size) && (uintptr_t)p % PAGE == 0;
    CHECKF(!classes_learnt || is_class(u) || run, "alloc(%zu, %zu) = %p: usable %zu", size, align,
           p, u);
    return p;
}

static void give(void *p)
{
    CHECK(ops->dealloc(st, p, ops->usable_size(st, p), ARC_MIN_ALIGN) == ARC_OK);
    all_available_when_empty();
}

/* Learns the classes from usable_size of every size up to the limit, then checks their shape
 * and both sides of every boundary: size = class and class + 1. */
static void test_classes(unsigned char *pool)
{
    init_checked(pool, 2 * MIB);
    size_t prev = 0;
    for (size_t size = 1; size <= CLASS_LIMIT; size++) {
        void *p = take(size, 1);
        size_t u = p ? ops->usable_size(st, p) : 0;
        CHECKF(p && u >= prev, "size %zu: usable %zu after %zu", size, u, prev);
        if (p)
            give(p);
        if (u != prev && nclasses < MAX_CLASSES)
            classes[nclasses++] = u;
        prev = u;
    }
    classes_learnt = 1;
    CHECK(nclasses > 1 && classes[0] == ARC_MIN_ALIGN && classes[nclasses - 1] == CLASS_LIMIT);
    for (size_t i = 0; i < nclasses; i++) {
        CHECKF(classes[i] % ARC_MIN_ALIGN == 0, "class %zu", classes[i]);
        CHECKF(i == 0 || classes[i] <= CLASS_FINE_BELOW ||
                   100 * classes[i] <= CLASS_STEP_MAX_PCT * classes[i - 1],
               "class %zu after %zu", classes[i], classes[i - 1]);
    }
    for (size_t i = 0; i < nclasses; i++) {
        unsigned char *p = take(classes[i], ARC_MIN_ALIGN);
        unsigned char *q = take(classes[i] + 1, ARC_MIN_ALIGN);
        CHECK(p && q);
        if (!p || !q)
            continue;
        CHECK(ops->usable_size(st, p) == classes[i]);
        size_t next = i + 1 < nclasses ? classes[i + 1] : pages_for(classes[i] + 1);
        CHECK(ops->usable_size(st, q) == next); /* past the last class: a page run */
        give(p);
        give(q);
    }
    /* One live object makes its slab's header and tail bookkeeping; freeing it clears that. */
    void *o = take(ARC_MIN_ALIGN, ARC_MIN_ALIGN);
    size_t book = ops->total_bytes(st) - ops->used_bytes(st) - ops->available_bytes(st);
    CHECKF(book > 0 && book < BOOKKEEPING_MAX, "bookkeeping %zu for one object", book);
    give(o);
    CHECK(ops->check(st) == 0);
}

/* Refusals only the layout explains: the object after a live one in its slab, never handed
 * out, and every later page of a run, and the pages after it. */
static void test_layout_refusals(unsigned char *pool)
{
    enum { OBJ = 64, RUN_PAGES = 3 };
    init_checked(pool, MIB);
    unsigned char *p = take(OBJ, ARC_MIN_ALIGN), *run = take(RUN_PAGES * PAGE, ARC_MIN_ALIGN);
    CHECK(p && run);
    if (!p || !run)
        return;
    size_t used = ops->used_bytes(st);
    CHECK(ops->dealloc(st, p + OBJ, ARC_MIN_ALIGN, ARC_MIN_ALIGN) == ARC_NOT_ALLOCATED);
    CHECK(ops->usable_size(st, p + OBJ) == 0);
    for (size_t k = 1; k <= RUN_PAGES; k++) {
        CHECKF(ops->dealloc(st, run + k * PAGE, ARC_MIN_ALIGN, ARC_MIN_ALIGN) == ARC_NOT_ALLOCATED,
               "page %zu of a run", k);
        CHECK(ops->usable_size(st, run + k * PAGE) == 0);
    }
    CHECK(ops->used_bytes(st) == used && ops->check(st) == 0);
    give(run);
    /* A run's double free, after it merged into the free pages around it. */
    CHECK(ops->dealloc(st, run, PAGE, ARC_MIN_ALIGN) == ARC_NOT_ALLOCATED);
    give(p);
    CHECK(ops->check(st) == 0);
}

/* Regions are whole pages: the smallest holds one, which serves small requests as a page; a
 * page's worth of bytes across a page boundary holds none. */
static void test_region_pages(unsigned char *pool)
{
    size_t min = 0;
    for (size_t size = ARC_MIN_ALIGN; size <= REGION_SEARCH_MAX && !min; size += ARC_MIN_ALIGN)
        if (ops->init(st, pool, size) == ARC_OK)
            min = size;
    CHECK(min > PAGE);
    init_checked(pool, min);
    CHECK(ops->total_bytes(st) == PAGE);
    void *p = take(ARC_MIN_ALIGN, 1); /* too small for a slab: a page */
    CHECK(p && ops->usable_size(st, p) == PAGE);
    if (p)
        give(p);
    /* The header in the half page before one whole page is enough. */
    CHECK(ops->init(st, pool + PAGE / 2, PAGE) == ARC_INVALID_PARAM);
    CHECK(ops->init(st, pool + PAGE / 2, PAGE / 2 + PAGE) == ARC_OK);
    CHECK(ops->total_bytes(st) == PAGE);
}

/* Requests above the last class, and over-aligned small ones, are whole pages; freed runs
 * coalesce until the whole pool is one run again. Page-aligned pages fill every region. */
static void test_runs(unsigned char *pool)
{
    init_checked(pool, POOL_BYTES);
    size_t sizes[] = {CLASS_LIMIT + 1, 2 * PAGE, 2 * PAGE + 1, 4160, 100 * KIB, MIB, 3 * MIB};
    void *blk[sizeof sizes / sizeof sizes[0]];
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        blk[i] = take(sizes[i], ARC_MIN_ALIGN);
        CHECK(blk[i] && ops->usable_size(st, blk[i]) == pages_for(sizes[i]));
    }
    CHECK(ops->check(st) == 0);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (blk[i])
            give(blk[i]);
    void *p = take(ARC_MIN_ALIGN, 2 * PAGE);
    CHECK(p && ops->usable_size(st, p) == PAGE);
    if (p)
        give(p);
    p = take(ops->total_bytes(st), ARC_MIN_ALIGN);
    CHECK(p != NULL);
    if (p)
        give(p);

    static void *page[MAX_BLOCKS];
    unsigned char *second = pool + 3 * MIB + 5;
    init_checked(pool + 3, 3 * MIB - 3);
    CHECK(ops->add_memory(st, second, MIB + 4 * KIB) == ARC_OK);
    size_t n = 0, total = ops->total_bytes(st);
    while (n < MAX_BLOCKS && (page[n] = take(PAGE, PAGE)) != NULL)
        n++;
    CHECKF(n * PAGE == total, "%zu pages in %zu bytes", n, total);
    for (size_t i = 0; i < n; i++)
        give(page[i]);
    CHECK(ops->check(st) == 0);
}

/* Fill a pool with small objects of every class until no memory, free them all a few at a time
 * from every slab, and the emptied slabs are pages again: one request for the whole pool fits. */
static void test_slabs_returned(unsigned char *pool)
{
    static void *blk[MAX_BLOCKS];
    init_checked(pool, POOL_BYTES);
    size_t total = ops->total_bytes(st), n = 0;
    check_rng_t rng = {SLABS_SEED};
    while (n < MAX_BLOCKS &&
           (blk[n] = take((size_t)check_range(&rng, 1, SMALL_MAX), ARC_MIN_ALIGN)) != NULL)
        n++;
    CHECK(n > 1000 && n < MAX_BLOCKS);
    CHECKF(ops->used_bytes(st) > total / 2, "only %zu of %zu bytes used at no memory",
           ops->used_bytes(st), total);
    /* Every FREE_STRIDE-th object per pass: slabs thin out together, and most empty only in
     * the last pass. */
    for (size_t pass = 0; pass < FREE_STRIDE; pass++)
        for (size_t i = pass; i < n; i += FREE_STRIDE)
            give(blk[i]);
    CHECK(ops->check(st) == 0);
    void *all = take(total, ARC_MIN_ALIGN);
    CHECK(all != NULL);
    if (all)
        give(all);
}

/* An emptied slab kept as its class's spare still lets its region go: remove_memory gives the
 * spare back with it. */
static void test_spare_slab_removed(unsigned char *pool)
{
    enum { OBJ = 24 };
    init_checked(pool, MIB);
    unsigned char *other = pool + 2 * MIB;
    void *obj = take(OBJ, ARC_MIN_ALIGN);
    CHECK(obj != NULL);
    CHECK(ops->add_memory(st, other, MIB) == ARC_OK);
    give(obj); /* its slab, the class's only one, stays as the spare */
    CHECK(ops->remove_memory(st, pool, MIB) == ARC_OK);
    CHECK(ops->total_bytes(st) == ops->available_bytes(st));
    void *again = take(OBJ, ARC_MIN_ALIGN); /* a new slab, in the region left */
    CHECK(again && (unsigned char *)again >= other && (unsigned char *)again < other + MIB);
    if (again)
        give(again);
    CHECK(ops->check(st) == 0);
}

int main(void)
{
    /* The state right below the pool, in the same dirty allocation: regions start where it
     * ends, so nothing they hand out may reach into it. */
    CHECK(strcmp(ops->name, "slab") == 0 && ops->state_size <= POOL_ALIGN);
    unsigned char *mem = aligned_alloc(POOL_ALIGN, POOL_ALIGN + POOL_BYTES);
    if (!mem || ops->state_size > POOL_ALIGN)
        return check_done();
    memset(mem, STATE_FILL, POOL_ALIGN);
    st = (arc_byte_allocator_t *)mem;
    unsigned char *pool = mem + POOL_ALIGN;
    test_classes(pool);
    test_layout_refusals(pool);
    test_region_pages(pool);
    test_runs(pool);
    test_slabs_returned(pool);
    test_spare_slab_removed(pool);
    free(mem);
    return check_done();
}
