/* frag.c: fragmentation and memory return. Each cycle allocates many small blocks, frees most
 * of them leaving scattered survivors, allocates medium blocks that cannot fit the small holes,
 * frees most of those, then a burst of 64-256 KiB blocks. At the end all but the long-lived
 * survivors are freed. Verifies every block; prints "frag ops=N peak_rss_kb=P final_rss_kb=F
 * live_kb=L": the peak resident set, the resident set once the program has freed nearly
 * everything, and the bytes still allocated then.
 * Never calls the allocator except through the standard malloc family; prints nothing else.
 */
#include <time.h>

#include "bench.h"

/* Cycles at scale 1.0: about one second under glibc on the reference machine. */
#define FRAG_CYCLES     12u
#define FRAG_MIN_CYCLES 1u
/* Per cycle at scale 1.0: small blocks (16..256 B, ~27 MiB), medium blocks (1..16 KiB,
 * ~34 MiB) and big blocks (64..256 KiB, ~20 MiB). Quick runs shrink these too. */
#define FRAG_SMALL      200000u
#define FRAG_MEDIUM     4000u
#define FRAG_BIG        128u
#define FRAG_MIN_COUNT  64u
#define FRAG_SMALL_MIN  16u
#define FRAG_SMALL_MAX  256u
#define FRAG_MEDIUM_MIN 1024u
#define FRAG_MEDIUM_MAX (16u << 10)
#define FRAG_BIG_MIN    (64u << 10)
#define FRAG_BIG_MAX    (256u << 10)
/* Survivors: one small block in this many outlives its cycle's first free pass, one in
 * FRAG_KEEP_ONE_IN of those lives to the end (a program's long-lived data). */
#define FRAG_SURVIVE_ONE_IN        10u
#define FRAG_MEDIUM_SURVIVE_ONE_IN 8u
#define FRAG_KEEP_ONE_IN           20u
/* Idle time before the final reading, and tiny allocations made after it: allocators that
 * return memory on a timer or on their next call get the chance to (jemalloc's decay and
 * mimalloc's delayed purge both work this way). */
#define FRAG_SETTLE_NS     200000000L
#define FRAG_SETTLE_ALLOCS 1000u

typedef struct {
    unsigned char *p;
    size_t size;
    uint64_t tag;
} block_t;

static const char *const name = "frag";
static unsigned long long ops;
static size_t live_bytes;

static void block_new(block_t *b, bench_rng_t *rng, size_t lo, size_t hi)
{
    b->size = bench_range(rng, lo, hi);
    b->tag = bench_rand(rng);
    b->p = bench_malloc(name, b->size);
    ops++;
    bench_fill(b->p, b->size, b->tag);
    live_bytes += b->size;
}

static void block_drop(block_t *b)
{
    if (!bench_intact(b->p, b->size, b->tag))
        bench_fail(name, "block %p of %zu bytes was overwritten", (void *)b->p, b->size);
    free(b->p);
    ops++;
    live_bytes -= b->size;
    b->p = NULL;
}

int main(int argc, char **argv)
{
    double scale = bench_scale(name, argc, argv);
    double per_cycle = scale < 1 ? scale : 1; /* quick runs shrink the cycles too */
    size_t cycles = bench_scaled(FRAG_CYCLES, scale, FRAG_MIN_CYCLES);
    size_t nsmall = bench_scaled(FRAG_SMALL, per_cycle, FRAG_MIN_COUNT);
    size_t nmedium = bench_scaled(FRAG_MEDIUM, per_cycle, FRAG_MIN_COUNT);
    size_t nbig = bench_scaled(FRAG_BIG, per_cycle, FRAG_MIN_COUNT);
    bench_rng_t rng = bench_rng(6);
    block_t *small = calloc(nsmall, sizeof *small);
    block_t *medium = calloc(nmedium, sizeof *medium);
    block_t *big = calloc(nbig, sizeof *big);
    block_t *kept = calloc(cycles * (nsmall / FRAG_SURVIVE_ONE_IN + 1), sizeof *kept);
    size_t nkept = 0;
    if (!small || !medium || !big || !kept)
        bench_fail(name, "cannot allocate the block tables");

    for (size_t c = 0; c < cycles; c++) {
        for (size_t i = 0; i < nsmall; i++)
            block_new(&small[i], &rng, FRAG_SMALL_MIN, FRAG_SMALL_MAX);
        /* Free all but scattered survivors: every hole is too small for what comes next. */
        for (size_t i = 0; i < nsmall; i++)
            if (bench_rand(&rng) % FRAG_SURVIVE_ONE_IN)
                block_drop(&small[i]);
        for (size_t i = 0; i < nmedium; i++)
            block_new(&medium[i], &rng, FRAG_MEDIUM_MIN, FRAG_MEDIUM_MAX);
        for (size_t i = 0; i < nmedium; i++)
            if (bench_rand(&rng) % FRAG_MEDIUM_SURVIVE_ONE_IN)
                block_drop(&medium[i]);
        for (size_t i = 0; i < nbig; i++)
            block_new(&big[i], &rng, FRAG_BIG_MIN, FRAG_BIG_MAX);
        for (size_t i = 0; i < nbig; i++)
            block_drop(&big[i]);
        /* End of cycle: the small survivors become long-lived or go; medium ones go. */
        for (size_t i = 0; i < nsmall; i++)
            if (small[i].p) {
                if (bench_rand(&rng) % FRAG_KEEP_ONE_IN == 0)
                    kept[nkept++] = small[i];
                else
                    block_drop(&small[i]);
                small[i].p = NULL;
            }
        for (size_t i = 0; i < nmedium; i++)
            if (medium[i].p)
                block_drop(&medium[i]);
    }

    long peak = bench_peak_rss_kb();
    struct timespec settle = {0, FRAG_SETTLE_NS};
    nanosleep(&settle, NULL);
    for (size_t i = 0; i < FRAG_SETTLE_ALLOCS; i++) {
        block_t b;
        block_new(&b, &rng, FRAG_SMALL_MIN, FRAG_SMALL_MAX);
        block_drop(&b);
    }
    long final = bench_rss_kb();
    size_t live_kb = live_bytes / 1024;

    for (size_t i = 0; i < nkept; i++)
        block_drop(&kept[i]);
    if (live_bytes != 0)
        bench_fail(name, "%zu bytes still counted live after freeing everything", live_bytes);
    free(small);
    free(medium);
    free(big);
    free(kept);
    if (peak <= 0 || final <= 0)
        bench_fail(name, "cannot read the resident set from /proc/self");
    printf("%s ops=%llu peak_rss_kb=%ld final_rss_kb=%ld live_kb=%zu\n", name, ops, peak, final,
           live_kb);
    return 0;
}
