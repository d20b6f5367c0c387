/* test_ids.c: the id allocator: every contract edge, capacities that are not multiples of 64,
 * the largest capacity, and a randomized test (fixed seeds) against a byte-per-id model. It
 * goes through the public API only and must never assert anything that cannot fail. */
#include <stdint.h>
#include <string.h>

#include "arcalloc.h"
#include "check.h"

/* The largest capacity: one bit per 4 KiB page of a 1 TiB window (src/layers/bitmap.h). */
#define IDS_MAX ((size_t)1 << 28)

/* Zero-filled state, 64-byte aligned as arcalloc.h asks; *raw is what to free. */
static arc_ids_t *ids_new(size_t capacity, void **raw)
{
    size_t bytes = arc_ids_state_size(capacity);
    *raw = calloc(1, bytes + 64);
    return (arc_ids_t *)(((uintptr_t)*raw + 63) & ~(uintptr_t)63);
}

static void check_stats(const arc_ids_t *ids, size_t size, size_t used, const char *what)
{
    CHECKF(arc_ids_size(ids) == size && arc_ids_used(ids) == used &&
               arc_ids_available(ids) == size - used,
           "%s: %zu/%zu/%zu, want %zu/%zu", what, arc_ids_size(ids), arc_ids_used(ids),
           arc_ids_available(ids), size, used);
}

static void test_sizes(void)
{
    CHECK(arc_ids_state_size(0) == 0);
    CHECK(arc_ids_state_size(IDS_MAX + 1) == 0);
    CHECK(arc_ids_state_size(1) > 0 && arc_ids_state_size(1) % 64 == 0);
    CHECK(arc_ids_state_size(IDS_MAX) >= IDS_MAX / 8);
    CHECK(arc_ids_state_size(1000) >= 1000 / 8 && arc_ids_state_size(1000) < 1024);
    void *raw;
    arc_ids_t *ids = ids_new(1, &raw);
    CHECK(arc_ids_init(ids, 0) == ARC_INVALID_PARAM);
    CHECK(arc_ids_init(ids, IDS_MAX + 1) == ARC_INVALID_PARAM);
    CHECK(arc_ids_init(NULL, 10) == ARC_INVALID_PARAM);
    free(raw);
}

static void test_edges(void)
{
    const size_t cap = 100;
    void *raw;
    arc_ids_t *ids = ids_new(cap, &raw);
    /* init clears whatever was there. */
    memset(ids, 0xA5, arc_ids_state_size(cap));
    CHECK(arc_ids_init(ids, cap) == ARC_OK);
    check_stats(ids, cap, 0, "init");
    CHECK(arc_ids_check(ids) == 0);
    for (size_t i = 0; i < cap; i++)
        CHECK(!arc_ids_is_allocated(ids, i));
    size_t first = 12345;
    CHECK(arc_ids_alloc(ids, 0, 1, &first) == ARC_INVALID_PARAM);
    CHECK(arc_ids_alloc(ids, 1, 0, &first) == ARC_INVALID_PARAM);
    CHECK(arc_ids_alloc(ids, 1, 3, &first) == ARC_INVALID_PARAM);
    CHECK(arc_ids_alloc(ids, 1, 1, NULL) == ARC_INVALID_PARAM);
    CHECK(arc_ids_alloc(ids, cap + 1, 1, &first) == ARC_NO_MEMORY);
    CHECK(arc_ids_alloc(ids, SIZE_MAX, 1, &first) == ARC_NO_MEMORY);
    CHECK(first == 12345);
    CHECK(arc_ids_alloc_fixed(ids, cap) == ARC_INVALID_PARAM);
    CHECK(arc_ids_alloc_fixed(ids, SIZE_MAX) == ARC_INVALID_PARAM);
    CHECK(!arc_ids_is_allocated(ids, cap));
    CHECK(!arc_ids_is_allocated(ids, SIZE_MAX));
    check_stats(ids, cap, 0, "refusals");

    /* Lowest fit, alignment, fixed ids. */
    CHECK(arc_ids_alloc(ids, 1, 1, &first) == ARC_OK && first == 0);
    CHECK(arc_ids_alloc(ids, 3, 4, &first) == ARC_OK && first == 4);
    CHECK(arc_ids_alloc(ids, 3, 1, &first) == ARC_OK && first == 1);
    CHECK(arc_ids_alloc(ids, 2, 1, &first) == ARC_OK && first == 7);
    CHECK(arc_ids_alloc_fixed(ids, 9) == ARC_OK);
    CHECK(arc_ids_alloc_fixed(ids, 9) == ARC_NO_MEMORY);
    CHECK(arc_ids_alloc_fixed(ids, 8) == ARC_NO_MEMORY);
    CHECK(arc_ids_alloc_fixed(ids, 99) == ARC_OK);
    CHECK(arc_ids_alloc(ids, 1, 1, &first) == ARC_OK && first == 10);
    CHECK(arc_ids_alloc(ids, 1, 64, &first) == ARC_OK && first == 64);
    CHECK(arc_ids_alloc(ids, 1, 64, &first) == ARC_NO_MEMORY); /* 0 and 64 taken */
    CHECK(arc_ids_alloc(ids, 1, 128, &first) == ARC_NO_MEMORY);
    CHECK(arc_ids_alloc(ids, 54, 1, &first) == ARC_NO_MEMORY); /* holes 11..63 (53), 65..98 */
    CHECK(arc_ids_alloc(ids, 34, 1, &first) == ARC_OK && first == 11);
    CHECK(arc_ids_alloc(ids, 34, 1, &first) == ARC_OK && first == 65);
    check_stats(ids, cap, 1 + 3 + 3 + 2 + 1 + 1 + 1 + 1 + 34 + 34, "filled");
    CHECK(arc_ids_check(ids) == 0);
    for (size_t i = 0; i < cap; i++)
        CHECKF(arc_ids_is_allocated(ids, i) == !(i >= 45 && i <= 63), "id %zu", i);

    /* dealloc: parameters, not allocated (nothing changes), partial, double. */
    size_t used = arc_ids_used(ids);
    CHECK(arc_ids_dealloc(ids, 0, 0) == ARC_INVALID_PARAM);
    CHECK(arc_ids_dealloc(ids, cap, 1) == ARC_INVALID_PARAM);
    CHECK(arc_ids_dealloc(ids, 99, 2) == ARC_INVALID_PARAM);
    CHECK(arc_ids_dealloc(ids, 1, SIZE_MAX) == ARC_INVALID_PARAM);
    CHECK(arc_ids_dealloc(ids, 45, 1) == ARC_NOT_ALLOCATED);
    CHECK(arc_ids_dealloc(ids, 40, 10) == ARC_NOT_ALLOCATED);
    CHECK(arc_ids_dealloc(ids, 60, 10) == ARC_NOT_ALLOCATED);
    check_stats(ids, cap, used, "nothing changed");
    CHECK(arc_ids_is_allocated(ids, 40) && arc_ids_is_allocated(ids, 65));
    CHECK(arc_ids_dealloc(ids, 2, 6) == ARC_OK); /* parts of two runs */
    CHECK(arc_ids_dealloc(ids, 2, 1) == ARC_NOT_ALLOCATED);
    check_stats(ids, cap, used - 6, "partial");
    CHECK(arc_ids_alloc(ids, 6, 2, &first) == ARC_OK && first == 2);
    CHECK(arc_ids_dealloc(ids, 0, 45) == ARC_OK);
    CHECK(arc_ids_dealloc(ids, 64, 36) == ARC_OK);
    check_stats(ids, cap, 0, "emptied");
    CHECK(arc_ids_dealloc(ids, 0, cap) == ARC_NOT_ALLOCATED);
    CHECK(arc_ids_alloc(ids, cap, 1, &first) == ARC_OK && first == 0);
    CHECK(arc_ids_alloc_fixed(ids, 0) == ARC_NO_MEMORY);
    CHECK(arc_ids_dealloc(ids, 0, cap) == ARC_OK);
    CHECK(arc_ids_check(ids) == 0);

    /* The check sees an id marked behind the counters' back: ids 1 and 3 make the first leaf
     * word 0b1010, a value no header field holds here; find it and add id 5. */
    CHECK(arc_ids_alloc_fixed(ids, 1) == ARC_OK && arc_ids_alloc_fixed(ids, 3) == ARC_OK);
    uint64_t *w = (uint64_t *)ids, *leaf = NULL;
    for (size_t i = 0; i < arc_ids_state_size(cap) / sizeof *w; i++)
        if (w[i] == 10) {
            CHECK(leaf == NULL);
            leaf = &w[i];
        }
    CHECK(leaf != NULL);
    if (leaf) {
        *leaf |= 1u << 5;
        CHECK(arc_ids_check(ids) > 0);
        *leaf &= ~(uint64_t)(1u << 5);
    }
    CHECK(arc_ids_check(ids) == 0);
    free(raw);
}

static void test_small(void)
{
    void *raw;
    arc_ids_t *ids = ids_new(1, &raw);
    size_t first = 7;
    CHECK(arc_ids_init(ids, 1) == ARC_OK);
    CHECK(arc_ids_alloc(ids, 1, 1, &first) == ARC_OK && first == 0);
    CHECK(arc_ids_alloc(ids, 1, 1, &first) == ARC_NO_MEMORY);
    CHECK(arc_ids_alloc_fixed(ids, 0) == ARC_NO_MEMORY);
    CHECK(arc_ids_dealloc(ids, 0, 1) == ARC_OK);
    CHECK(arc_ids_alloc(ids, 1, (size_t)1 << 63, &first) == ARC_OK && first == 0);
    check_stats(ids, 1, 1, "capacity 1");
    free(raw);

    ids = ids_new(65, &raw);
    CHECK(arc_ids_init(ids, 65) == ARC_OK);
    CHECK(arc_ids_alloc(ids, 65, 1, &first) == ARC_OK && first == 0);
    CHECK(arc_ids_check(ids) == 0);
    CHECK(arc_ids_alloc(ids, 1, 1, &first) == ARC_NO_MEMORY);
    CHECK(arc_ids_dealloc(ids, 0, 65) == ARC_OK);
    CHECK(arc_ids_alloc(ids, 2, 64, &first) == ARC_OK && first == 0);
    CHECK(arc_ids_alloc(ids, 1, 64, &first) == ARC_OK && first == 64);
    CHECK(arc_ids_alloc(ids, 2, 64, &first) == ARC_NO_MEMORY);
    CHECK(arc_ids_alloc(ids, 62, 1, &first) == ARC_OK && first == 2);
    check_stats(ids, 65, 65, "capacity 65");
    CHECK(arc_ids_check(ids) == 0);
    free(raw);

    /* The largest capacity: one run of all of it, then ids at both ends. */
    ids = ids_new(IDS_MAX, &raw);
    CHECK(arc_ids_init(ids, IDS_MAX) == ARC_OK);
    CHECK(arc_ids_alloc(ids, IDS_MAX, 1, &first) == ARC_OK && first == 0);
    CHECK(arc_ids_alloc_fixed(ids, IDS_MAX - 1) == ARC_NO_MEMORY);
    CHECK(arc_ids_check(ids) == 0);
    CHECK(arc_ids_dealloc(ids, 1, IDS_MAX - 2) == ARC_OK);
    CHECK(arc_ids_alloc(ids, 1, (size_t)1 << 27, &first) == ARC_OK && first == (size_t)1 << 27);
    CHECK(arc_ids_alloc(ids, IDS_MAX - 3, 1, &first) == ARC_NO_MEMORY);
    check_stats(ids, IDS_MAX, 3, "largest");
    CHECK(arc_ids_check(ids) == 0);
    free(raw);
}

/* ---- randomized model test ------------------------------------------------------------------ */

#define MODEL_STEPS       12000
#define MODEL_CHECK_EVERY 500
#define MODEL_MAX_LIVE    4096
/* Capacities of the model runs: not multiples of 64, the second past one summary word. */
static const size_t model_caps[] = {1000, 20011};

typedef struct run {
    size_t first, n;
} run_t;

static size_t model_find(const unsigned char *used, size_t cap, size_t n, size_t align)
{
    size_t i = 0;
    while (i < cap && cap - i >= n) {
        size_t j = i;
        while (j < i + n && !used[j])
            j++;
        if (j == i + n)
            return i;
        i = (j + align) / align * align;
    }
    return SIZE_MAX;
}

static int model_dealloc_rc(const unsigned char *used, size_t cap, size_t first, size_t n)
{
    if (n == 0 || first >= cap || n > cap - first)
        return ARC_INVALID_PARAM;
    for (size_t i = first; i < first + n; i++)
        if (!used[i])
            return ARC_NOT_ALLOCATED;
    return ARC_OK;
}

static void test_model(size_t cap, unsigned long long seed)
{
    void *raw;
    arc_ids_t *ids = ids_new(cap, &raw);
    unsigned char *used = calloc(cap, 1);
    static run_t live[MODEL_MAX_LIVE];
    size_t nlive = 0, nused = 0, kinds[5] = {0};
    CHECK(arc_ids_init(ids, cap) == ARC_OK);
    check_rng_t rng = {seed};
    size_t max_run = cap / 20;
    for (int step = 1; step <= MODEL_STEPS; step++) {
        unsigned kind = (unsigned)check_range(&rng, 0, 99);
        if (kind < 40) { /* alloc */
            size_t n = (size_t)check_range(&rng, 1, check_range(&rng, 0, 3) ? 8 : max_run);
            size_t align = (size_t)1 << check_range(&rng, 0, 8);
            size_t want = model_find(used, cap, n, align), got = SIZE_MAX;
            int rc = arc_ids_alloc(ids, n, align, &got);
            CHECKF(rc == (want == SIZE_MAX ? ARC_NO_MEMORY : ARC_OK) && (rc || got == want),
                   "step %d alloc %zu/%zu: rc %d first %zu, model %zu", step, n, align, rc, got,
                   want);
            if (rc == ARC_OK && want != SIZE_MAX) {
                memset(used + want, 1, n);
                nused += n;
                if (nlive < MODEL_MAX_LIVE)
                    live[nlive++] = (run_t){want, n};
                kinds[0]++;
            }
        } else if (kind < 50) { /* alloc_fixed, in range or past it */
            size_t id = (size_t)check_range(&rng, 0, cap + 5);
            int want = id >= cap ? ARC_INVALID_PARAM : used[id] ? ARC_NO_MEMORY : ARC_OK;
            int rc = arc_ids_alloc_fixed(ids, id);
            CHECKF(rc == want, "step %d fixed %zu: rc %d, model %d", step, id, rc, want);
            if (rc == ARC_OK && want == ARC_OK) {
                used[id] = 1;
                nused++;
                if (nlive < MODEL_MAX_LIVE)
                    live[nlive++] = (run_t){id, 1};
                kinds[1]++;
            }
        } else if (kind < 85 && nlive > 0) { /* free a live run, whole or part */
            size_t k = (size_t)check_range(&rng, 0, nlive - 1);
            run_t run = live[k];
            live[k] = live[--nlive];
            size_t first = run.first, n = run.n;
            if (run.n > 1 && check_range(&rng, 0, 2) == 0) {
                first += (size_t)check_range(&rng, 0, run.n - 1);
                n = (size_t)check_range(&rng, 1, run.first + run.n - first);
            }
            int want = model_dealloc_rc(used, cap, first, n);
            int rc = arc_ids_dealloc(ids, first, n);
            CHECKF(rc == want, "step %d dealloc %zu+%zu: rc %d, model %d", step, first, n, rc,
                   want);
            if (rc == ARC_OK && want == ARC_OK) {
                memset(used + first, 0, n);
                nused -= n;
                kinds[2]++;
                if (first > run.first && nlive < MODEL_MAX_LIVE)
                    live[nlive++] = (run_t){run.first, first - run.first};
                if (first + n < run.first + run.n && nlive < MODEL_MAX_LIVE)
                    live[nlive++] = (run_t){first + n, run.first + run.n - first - n};
                if (check_range(&rng, 0, 3) == 0) {
                    CHECK(arc_ids_dealloc(ids, first, n) == ARC_NOT_ALLOCATED);
                    kinds[3]++;
                }
            }
        } else { /* random range: past the end, free, part free or used */
            size_t first = (size_t)check_range(&rng, 0, cap + 3);
            size_t n = (size_t)check_range(&rng, 0, 12);
            int want = model_dealloc_rc(used, cap, first, n);
            int rc = arc_ids_dealloc(ids, first, n);
            CHECKF(rc == want, "step %d random dealloc %zu+%zu: rc %d, model %d", step, first, n,
                   rc, want);
            if (rc == ARC_OK && want == ARC_OK) {
                memset(used + first, 0, n);
                nused -= n;
            }
            kinds[4]++;
        }
        size_t probe = (size_t)check_range(&rng, 0, cap);
        CHECK(arc_ids_is_allocated(ids, probe) == (probe < cap && used[probe]));
        CHECKF(arc_ids_used(ids) == nused && arc_ids_available(ids) == cap - nused &&
                   arc_ids_size(ids) == cap,
               "step %d: used %zu, available %zu, size %zu; model %zu of %zu", step,
               arc_ids_used(ids), arc_ids_available(ids), arc_ids_size(ids), nused, cap);
        if (step % MODEL_CHECK_EVERY == 0)
            CHECKF(arc_ids_check(ids) == 0, "step %d", step);
    }
    for (size_t k = 0; k < 5; k++)
        CHECKF(kinds[k] > 100, "cap %zu: kind %zu ran %zu times", cap, k, kinds[k]);
    for (size_t i = 0; i < cap; i++)
        CHECK(arc_ids_is_allocated(ids, i) == (used[i] != 0));
    free(used);
    free(raw);
}

int main(void)
{
    test_sizes();
    test_edges();
    test_small();
    for (size_t i = 0; i < sizeof model_caps / sizeof model_caps[0]; i++)
        test_model(model_caps[i], 0xC0FFEEULL + i);
    return check_done();
}
