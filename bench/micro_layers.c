/* micro_layers.c (issue 2.7): operations per second of the raw allocator layers on caller
 * memory, through the public API only: each byte allocator via arc_byte_ops_t on a 256 MiB pool,
 * and the page allocator. Checks every result and each layer's invariants after each case;
 * prints one Markdown table. Never preloads or measures the malloc shim (bench/run does that).
 *
 * usage: micro_layers [SECONDS_PER_CASE]   (default 0.3; 0.02 is a quick check) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "arcalloc.h"

/* The byte allocators' pool, as the brief of issue 2.7 asks. */
#define MICRO_POOL_BYTES ((size_t)256 << 20)
/* The page allocator's region: the same 256 MiB (65 536 pages). Its map state is mmap'ed
 * zero-filled, as arc_pages_state_size's contract asks. */
#define MICRO_PAGES_BYTES MICRO_POOL_BYTES
/* 512 pages aligned to 2 MiB: a huge-page-sized run. */
#define MICRO_HUGE_PAGES 512u
#define MICRO_HUGE_ALIGN ((size_t)2 << 20)
_Static_assert(MICRO_HUGE_PAGES *ARC_PAGE_SIZE == MICRO_HUGE_ALIGN, "512 pages make 2 MiB");
/* Operations per timed batch: large enough that reading the clock costs nothing. */
#define MICRO_BATCH 4096u
/* Live set of the random-size churn: 4096 blocks of 16..4096 B (~8 MiB, fits any pool). */
#define MICRO_LIVE     4096u
#define MICRO_MIN_SIZE 16u
#define MICRO_MAX_SIZE 4096u
/* Default seconds per case. */
#define MICRO_DEFAULT_SECONDS 0.3
/* The fragmented page case: half the pages taken at random, then runs of this many pages
 * allocated and freed in what is left. */
#define MICRO_FRAG_RUN 4u
/* Seed of the fixed-seed generator (xorshift64*): every run replays exactly. */
#define MICRO_SEED 0x9E3779B97F4A7C15ULL

typedef struct {
    const char *layer, *what;
    double ops_per_s;
} row_t;

/* Enough for 3 backends x 2 cases + 4 page cases. */
#define MICRO_MAX_ROWS 16u
static row_t rows[MICRO_MAX_ROWS];
static size_t nrows;
static int failures;

static void micro_fail(const char *layer, const char *what, const char *why, int rc)
{
    fprintf(stderr, "micro_layers: FAILED: %s %s: %s (%s)\n", layer, what, why, arc_result_str(rc));
    failures++;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

static void row_add(const char *layer, const char *what, unsigned long long ops, double secs)
{
    if (nrows < MICRO_MAX_ROWS)
        rows[nrows++] = (row_t){layer, what, secs > 0 ? (double)ops / secs : 0};
}

static void *map_zeroed(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* ---- byte allocators ------------------------------------------------------------------------ */

/* Fixed 64 B alloc+free pairs: the allocator's fast path. */
static void byte_fixed(const arc_byte_ops_t *ops, arc_byte_allocator_t *a, double seconds)
{
    unsigned long long n = 0;
    double t0 = now_s(), t;
    do {
        for (unsigned i = 0; i < MICRO_BATCH; i++) {
            void *p;
            int rc = ops->alloc(a, 64, ARC_MIN_ALIGN, &p);
            if (rc) {
                micro_fail(ops->name, "64 B pairs", "alloc failed", rc);
                return;
            }
            *(volatile char *)p = 1;
            rc = ops->dealloc(a, p, 64, ARC_MIN_ALIGN);
            if (rc) {
                micro_fail(ops->name, "64 B pairs", "dealloc failed", rc);
                return;
            }
        }
        n += 2 * MICRO_BATCH;
        t = now_s();
    } while (t - t0 < seconds);
    row_add(ops->name, "64 B alloc+free pairs", n, t - t0);
}

/* Random 16..4096 B sizes over a live set: each step frees a random live block and
 * allocates a new one in its place. */
static void byte_churn(const arc_byte_ops_t *ops, arc_byte_allocator_t *a, double seconds)
{
    static void *live[MICRO_LIVE];
    static size_t size[MICRO_LIVE];
    uint64_t s = MICRO_SEED;
    for (unsigned i = 0; i < MICRO_LIVE; i++) {
        size[i] = MICRO_MIN_SIZE + rng_next(&s) % (MICRO_MAX_SIZE - MICRO_MIN_SIZE + 1);
        int rc = ops->alloc(a, size[i], ARC_MIN_ALIGN, &live[i]);
        if (rc) {
            micro_fail(ops->name, "churn", "filling the live set failed", rc);
            return;
        }
    }
    unsigned long long n = 0;
    double t0 = now_s(), t;
    do {
        for (unsigned k = 0; k < MICRO_BATCH; k++) {
            uint64_t r = rng_next(&s);
            unsigned i = (unsigned)(r % MICRO_LIVE);
            int rc = ops->dealloc(a, live[i], size[i], ARC_MIN_ALIGN);
            if (rc) {
                micro_fail(ops->name, "churn", "dealloc failed", rc);
                return;
            }
            size[i] = MICRO_MIN_SIZE + (size_t)((r >> 20) % (MICRO_MAX_SIZE - MICRO_MIN_SIZE + 1));
            rc = ops->alloc(a, size[i], ARC_MIN_ALIGN, &live[i]);
            if (rc) {
                micro_fail(ops->name, "churn", "alloc failed", rc);
                return;
            }
            *(volatile char *)live[i] = 1;
        }
        n += 2 * MICRO_BATCH;
        t = now_s();
    } while (t - t0 < seconds);
    row_add(ops->name, "16..4096 B churn, 4096 live", n, t - t0);
    for (unsigned i = 0; i < MICRO_LIVE; i++) {
        int rc = ops->dealloc(a, live[i], size[i], ARC_MIN_ALIGN);
        if (rc)
            micro_fail(ops->name, "churn", "emptying the live set failed", rc);
    }
}

static void bench_byte(const arc_byte_ops_t *ops, void *pool, double seconds)
{
    arc_byte_allocator_t *a = aligned_alloc(64, (ops->state_size + 63) & ~(size_t)63);
    if (!a) {
        micro_fail(ops->name, "state", "cannot allocate", ARC_NO_MEMORY);
        return;
    }
    int rc = ops->init(a, pool, MICRO_POOL_BYTES);
    if (rc) {
        micro_fail(ops->name, "init", "256 MiB pool refused", rc);
        free(a);
        return;
    }
    byte_fixed(ops, a, seconds);
    byte_churn(ops, a, seconds);
    if (ops->used_bytes(a) != 0)
        micro_fail(ops->name, "end", "used_bytes is not 0 after freeing everything", 0);
    if (ops->check(a) != 0)
        micro_fail(ops->name, "end", "check() found broken invariants", 0);
    free(a);
}

/* ---- page allocator ------------------------------------------------------------------------- */

static void pages_pairs(arc_pages_t *pa, const char *what, size_t npages, size_t align,
                        double seconds)
{
    unsigned long long n = 0;
    double t0 = now_s(), t;
    do {
        for (unsigned i = 0; i < MICRO_BATCH; i++) {
            uintptr_t addr;
            int rc = arc_pages_alloc(pa, npages, align, &addr);
            if (rc) {
                micro_fail("pages", what, "alloc failed", rc);
                return;
            }
            if (addr % align) {
                micro_fail("pages", what, "misaligned run", 0);
                return;
            }
            rc = arc_pages_dealloc(pa, addr, npages);
            if (rc) {
                micro_fail("pages", what, "dealloc failed", rc);
                return;
            }
        }
        n += 2 * MICRO_BATCH;
        t = now_s();
    } while (t - t0 < seconds);
    row_add("pages", what, n, t - t0);
}

/* Takes every page, frees a random half, times MICRO_FRAG_RUN-page pairs in the holes, then
 * frees the rest. */
static void pages_fragmented(arc_pages_t *pa, uintptr_t base, size_t total, double seconds)
{
    unsigned char *taken = calloc(total, 1);
    uint64_t s = MICRO_SEED ^ 1;
    size_t held = 0;
    if (!taken) {
        micro_fail("pages", "fragmented", "cannot allocate the page table", ARC_NO_MEMORY);
        return;
    }
    for (size_t i = 0; i < total; i++) {
        int rc = arc_pages_alloc_at(pa, base + i * ARC_PAGE_SIZE, 1, ARC_PAGE_SIZE);
        if (rc) {
            micro_fail("pages", "fragmented", "alloc_at failed", rc);
            goto out;
        }
        taken[i] = 1;
    }
    for (size_t i = 0; i < total; i++)
        if (rng_next(&s) & 1) {
            int rc = arc_pages_dealloc(pa, base + i * ARC_PAGE_SIZE, 1);
            if (rc) {
                micro_fail("pages", "fragmented", "dealloc failed", rc);
                goto out;
            }
            taken[i] = 0;
        } else {
            held++;
        }
    if (arc_pages_used_pages(pa) != held)
        micro_fail("pages", "fragmented", "used_pages disagrees with the pages held", 0);
    pages_pairs(pa, "4-page pairs, half the pages taken at random", MICRO_FRAG_RUN, ARC_PAGE_SIZE,
                seconds);
out:
    for (size_t i = 0; i < total; i++)
        if (taken[i] && arc_pages_dealloc(pa, base + i * ARC_PAGE_SIZE, 1))
            micro_fail("pages", "fragmented", "freeing the held pages failed", 0);
    free(taken);
}

static void bench_pages(double seconds)
{
    arc_pages_t *pa = map_zeroed(arc_pages_state_size());
    /* Reserve one extra alignment unit so the region can start on a 2 MiB boundary. */
    unsigned char *raw = mmap(NULL, MICRO_PAGES_BYTES + MICRO_HUGE_ALIGN, PROT_NONE,
                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (!pa || raw == MAP_FAILED) {
        micro_fail("pages", "setup", "cannot map the state or the region", ARC_NO_MEMORY);
        return;
    }
    uintptr_t base = ((uintptr_t)raw + MICRO_HUGE_ALIGN - 1) & ~(uintptr_t)(MICRO_HUGE_ALIGN - 1);
    int rc = arc_pages_init(pa, base, MICRO_PAGES_BYTES);
    if (rc) {
        micro_fail("pages", "init", "256 MiB region refused", rc);
        return;
    }
    size_t total = arc_pages_total_pages(pa);
    if (total != MICRO_PAGES_BYTES / ARC_PAGE_SIZE)
        micro_fail("pages", "init", "total_pages is not 256 MiB / 4 KiB", 0);
    pages_pairs(pa, "1-page pairs", 1, ARC_PAGE_SIZE, seconds);
    pages_pairs(pa, "16-page pairs", 16, ARC_PAGE_SIZE, seconds);
    pages_pairs(pa, "512-page pairs, 2 MiB aligned", MICRO_HUGE_PAGES, MICRO_HUGE_ALIGN, seconds);
    pages_fragmented(pa, base, total, seconds);
    if (arc_pages_used_pages(pa) != 0)
        micro_fail("pages", "end", "used_pages is not 0 after freeing everything", 0);
    if (arc_pages_check(pa) != 0)
        micro_fail("pages", "end", "check() found broken invariants", 0);
    munmap(raw, MICRO_PAGES_BYTES + MICRO_HUGE_ALIGN);
    munmap(pa, arc_pages_state_size());
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? strtod(argv[1], NULL) : MICRO_DEFAULT_SECONDS;
    if (!(seconds > 0 && seconds <= 60)) {
        fprintf(stderr, "usage: micro_layers [SECONDS_PER_CASE in (0, 60]]\n");
        return 2;
    }
    const arc_byte_ops_t *backends[] = {&arc_tlsf_ops, &arc_buddy_ops, &arc_slab_ops};
    void *pool = map_zeroed(MICRO_POOL_BYTES);
    if (!pool) {
        fprintf(stderr, "micro_layers: cannot map the 256 MiB pool\n");
        return 1;
    }
    for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
        bench_byte(backends[i], pool, seconds);
    munmap(pool, MICRO_POOL_BYTES);
    bench_pages(seconds);

    printf("| layer | case | million ops/s | ns/op |\n|---|---|--:|--:|\n");
    for (size_t i = 0; i < nrows; i++)
        printf("| %s | %s | %.1f | %.1f |\n", rows[i].layer, rows[i].what, rows[i].ops_per_s / 1e6,
               rows[i].ops_per_s > 0 ? 1e9 / rows[i].ops_per_s : 0);
    printf("\nAn op is one alloc or one free; %.2f s per case, address space %s.\n", seconds,
           ARC_ADDRESS_SPACE_NAME);
    if (failures)
        fprintf(stderr, "micro_layers: %d failure(s)\n", failures);
    return failures ? 1 : 0;
}
