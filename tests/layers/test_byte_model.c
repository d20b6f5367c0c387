/* test_byte_model.c: one randomized model test written once over arc_byte_ops_t and run for
 * each backend (argv[1] = tlsf | buddy | slab). Every block must sit inside an added region,
 * be aligned as asked, overlap no live block, keep its fill pattern until freed; the statistics
 * must equal the model's after every step; exhaustion must be followed by recovery. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arcalloc.h"
#include "check.h"

enum {
    POOL_BYTES = 48 << 20, /* two regions carved from this, with a gap between them */
    GAP_BYTES = 1 << 20,
    MAX_LIVE = 4096,
    STEPS = 40000,
    CHECK_EVERY = 997, /* a prime, so the walk lands on varied states */
};

typedef struct {
    unsigned char *ptr;
    size_t size, align, usable;
    unsigned char fill;
} live_block_t;

static const arc_byte_ops_t *ops;
static arc_byte_allocator_t *alloc_state;
static unsigned char *region_lo[2], *region_hi[2];
static live_block_t live[MAX_LIVE];
static size_t live_count, model_used;

static size_t pick_size(check_rng_t *rng)
{
    unsigned long long r = check_range(rng, 0, 99);
    if (r < 60)
        return (size_t)check_range(rng, 1, 256);
    if (r < 90)
        return (size_t)check_range(rng, 257, 4096);
    if (r < 99)
        return (size_t)check_range(rng, 4097, 65536);
    return (size_t)check_range(rng, 65537, 1 << 20);
}

static size_t pick_align(check_rng_t *rng)
{
    unsigned long long r = check_range(rng, 0, 99);
    if (r < 70)
        return 1u << check_range(rng, 0, 4);
    if (r < 97)
        return 1u << check_range(rng, 5, 7); /* the seed's test: up to 128 */
    return 1u << check_range(rng, 8, 14);
}

/* The start given to init/add_memory for the region holding p (the _in calls' hint). */
static unsigned char *region_of(const unsigned char *p)
{
    return p >= region_lo[1] ? region_lo[1] : region_lo[0];
}

static int in_region(const unsigned char *p, size_t n)
{
    for (int r = 0; r < 2; r++)
        if (p >= region_lo[r] && p + n <= region_hi[r])
            return 1;
    return 0;
}

static int overlaps_live(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < live_count; i++)
        if (p < live[i].ptr + live[i].usable && live[i].ptr < p + n)
            return 1;
    return 0;
}

static int fill_intact(const live_block_t *b)
{
    for (size_t i = 0; i < b->size; i++)
        if (b->ptr[i] != (unsigned char)(b->fill + i))
            return 0;
    return 1;
}

/* Allocates one block and checks it against the model; returns the rc. */
static int model_alloc(size_t size, size_t align, unsigned char fill)
{
    void *out = NULL;
    int rc = ops->alloc(alloc_state, size, align, &out);
    if (rc != ARC_OK) {
        CHECKF(rc == ARC_NO_MEMORY, "alloc(%zu, %zu) -> %s", size, align, arc_result_str(rc));
        return rc;
    }
    unsigned char *p = out;
    size_t usable = ops->usable_size(alloc_state, p);
    CHECK(ops->usable_size_in(alloc_state, region_of(p), p) == usable);
    size_t want_align = align > ARC_MIN_ALIGN ? align : ARC_MIN_ALIGN;
    CHECKF(usable >= size, "usable %zu < size %zu", usable, size);
    CHECKF(((uintptr_t)p & (want_align - 1)) == 0, "%p not aligned to %zu", (void *)p, want_align);
    CHECKF(in_region(p, usable), "%p+%zu outside the regions", (void *)p, usable);
    CHECKF(!overlaps_live(p, usable), "%p+%zu overlaps a live block", (void *)p, usable);
    if (live_count == MAX_LIVE) {
        CHECK(!"model table full");
        return ARC_NO_MEMORY;
    }
    for (size_t i = 0; i < size; i++)
        p[i] = (unsigned char)(fill + i);
    live[live_count++] = (live_block_t){p, size, align, usable, fill};
    model_used += usable;
    return ARC_OK;
}

static void model_free(size_t index, int try_double_free)
{
    live_block_t b = live[index];
    CHECKF(fill_intact(&b), "block %p of %zu lost its contents", (void *)b.ptr, b.size);
    CHECK(ops->usable_size(alloc_state, b.ptr) == b.usable);
    /* Half the frees go through the region-hinted call: both must behave the same. */
    int hinted = (b.fill & 1) != 0;
    unsigned char *region = region_of(b.ptr);
    CHECK((hinted ? ops->dealloc_in(alloc_state, region, b.ptr, b.size, b.align)
                  : ops->dealloc(alloc_state, b.ptr, b.size, b.align)) == ARC_OK);
    live[index] = live[--live_count];
    model_used -= b.usable;
    if (try_double_free) {
        CHECK(ops->dealloc(alloc_state, b.ptr, b.size, b.align) == ARC_NOT_ALLOCATED);
        CHECK(ops->dealloc_in(alloc_state, region, b.ptr, b.size, b.align) == ARC_NOT_ALLOCATED);
    }
}

static void check_stats(size_t total)
{
    size_t used = ops->used_bytes(alloc_state), avail = ops->available_bytes(alloc_state);
    CHECKF(used == model_used, "used_bytes %zu, model %zu", used, model_used);
    CHECK(ops->total_bytes(alloc_state) == total);
    CHECKF(avail <= total - used, "available %zu > total %zu - used %zu", avail, total, used);
}

static void run_random(unsigned long long seed, size_t total)
{
    check_rng_t rng = {seed};
    for (int step = 0; step < STEPS; step++) {
        int want_alloc =
            live_count == 0 ||
            (live_count < MAX_LIVE && check_range(&rng, 0, 99) < (live_count < 500 ? 65 : 45));
        if (want_alloc)
            model_alloc(pick_size(&rng), pick_align(&rng), (unsigned char)check_rand(&rng));
        else
            model_free((size_t)check_range(&rng, 0, live_count - 1), check_range(&rng, 0, 49) == 0);
        check_stats(total);
        if (step % CHECK_EVERY == 0)
            CHECKF(ops->check(alloc_state) == 0, "check() found violations at step %d", step);
    }
    while (live_count)
        model_free(live_count - 1, 0);
    check_stats(total);
    CHECK(ops->check(alloc_state) == 0);
}

/* Fill the allocator with a mix of sizes until it says no memory, then free everything and
 * show it works as new: the allocator keeps working after running out. */
static void run_exhaustion(unsigned long long seed, size_t total, size_t avail_empty)
{
    check_rng_t rng = {seed};
    int rc = ARC_OK, allocs = 0;
    while (live_count < MAX_LIVE) {
        size_t size = (size_t)check_range(&rng, 2048, 65536);
        rc = model_alloc(size, 16, (unsigned char)allocs);
        if (rc != ARC_OK)
            break;
        allocs++;
    }
    CHECKF(rc == ARC_NO_MEMORY, "pool never ran out after %d allocations", allocs);
    check_stats(total);
    /* Small blocks may still fit in what is left; then nothing at all. */
    while (live_count < MAX_LIVE && model_alloc(16, 16, 7) == ARC_OK)
        ;
    void *out = NULL;
    CHECK(ops->alloc(alloc_state, total, 16, &out) == ARC_NO_MEMORY);
    check_rng_t order = {seed ^ 0x5bd1e995};
    while (live_count)
        model_free((size_t)check_range(&order, 0, live_count - 1), 0);
    check_stats(total);
    CHECK(ops->available_bytes(alloc_state) == avail_empty);
    CHECK(ops->check(alloc_state) == 0);
    CHECK(model_alloc(1 << 20, 4096, 1) == ARC_OK);
    model_free(0, 1);
}

static void run_contract_edges(void)
{
    void *out = NULL;
    CHECK(ops->alloc(alloc_state, 0, 16, &out) == ARC_INVALID_PARAM);
    CHECK(ops->alloc(alloc_state, 16, 3, &out) == ARC_INVALID_PARAM);
    CHECK(ops->alloc(alloc_state, 16, 0, &out) == ARC_INVALID_PARAM);
    CHECK(ops->alloc(alloc_state, SIZE_MAX, 16, &out) == ARC_NO_MEMORY);
    CHECK(ops->alloc(alloc_state, SIZE_MAX - 4096, 16, &out) == ARC_NO_MEMORY);
    /* Overlapping either region in any way is refused. */
    CHECK(ops->add_memory(alloc_state, region_lo[0], 1 << 20) == ARC_MEMORY_OVERLAP);
    CHECK(ops->add_memory(alloc_state, region_lo[1] - 4096, 1 << 20) == ARC_MEMORY_OVERLAP);
    CHECK(ops->add_memory(alloc_state, region_hi[0] - 4096, GAP_BYTES) == ARC_MEMORY_OVERLAP);
    CHECK(ops->add_memory(alloc_state, region_lo[0] - 64,
                          (size_t)(region_hi[1] - region_lo[0]) + 128) == ARC_MEMORY_OVERLAP);
    /* Pointers the allocator never handed out. */
    int local = 0;
    CHECK(ops->dealloc(alloc_state, &local, sizeof local, 4) == ARC_NOT_ALLOCATED);
    CHECK(ops->dealloc(alloc_state, region_hi[1] + 4096, 16, 16) == ARC_NOT_ALLOCATED);
    check_stats(ops->total_bytes(alloc_state));
}

int main(int argc, char **argv)
{
    ops = arc_byte_ops_find(argc > 1 ? argv[1] : "tlsf");
    CHECK(ops != NULL);
    if (!ops)
        return check_done();
    CHECK(arc_byte_ops_find("nonesuch") == NULL);

    unsigned char *pool = aligned_alloc(4096, POOL_BYTES);
    alloc_state = aligned_alloc(64, (ops->state_size + 63) & ~(size_t)63);
    CHECK(pool && alloc_state);
    if (!pool || !alloc_state)
        return check_done();
    memset(alloc_state, 0xa5, ops->state_size); /* init must not rely on zeroed state */

    /* Region 0: an unaligned start and size, trimmed by the allocator. Region 1 after a gap. */
    size_t half = (POOL_BYTES - GAP_BYTES) / 2;
    region_lo[0] = pool + 3;
    region_hi[0] = pool + half - 5;
    region_lo[1] = pool + half + GAP_BYTES;
    region_hi[1] = pool + POOL_BYTES;
    CHECK(ops->init(alloc_state, region_lo[0], (size_t)(region_hi[0] - region_lo[0])) == ARC_OK);
    size_t total_one = ops->total_bytes(alloc_state);
    CHECK(total_one > 0 && total_one <= (size_t)(region_hi[0] - region_lo[0]));
    CHECK(ops->add_memory(alloc_state, region_lo[1], (size_t)(region_hi[1] - region_lo[1])) ==
          ARC_OK);
    size_t total = ops->total_bytes(alloc_state);
    CHECK(total > total_one && total <= POOL_BYTES);
    CHECK(ops->used_bytes(alloc_state) == 0);
    size_t avail_empty = ops->available_bytes(alloc_state);
    CHECK(avail_empty > 0 && avail_empty <= total);
    CHECK(ops->check(alloc_state) == 0);

    run_contract_edges();
    for (unsigned long long seed = 1; seed <= 3; seed++)
        run_random(seed * 0x9e3779b97f4a7c15ULL, total);
    run_exhaustion(42, total, avail_empty);
    CHECK(ops->available_bytes(alloc_state) == avail_empty);

    printf("%s: total %zu bytes, available when empty %zu\n", ops->name, total, avail_empty);
    free(alloc_state);
    free(pool);
    return check_done();
}
