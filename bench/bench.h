/* bench.h: what every benchmark workload shares: the scale argument, a fixed-seed generator,
 * block fill/verify patterns, failure reports and RSS readings. Header-only (static inline);
 * allocates only inside stdio when reading /proc, never prints on success. */
#ifndef ARC_BENCH_H
#define ARC_BENCH_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Alignment malloc must give any block of at least this many bytes: alignof(max_align_t)
 * on x86-64 and aarch64 Linux (C11 7.22.3). Smaller blocks need only their size rounded
 * down to a power of two. */
#define BENCH_MAX_ALIGN 16u

/* Seed of every workload's generator: fixed so that runs replay exactly and every
 * allocator sees the same sequence of requests. */
#define BENCH_SEED 0x9E3779B97F4A7C15ULL

/* Scales below this would round most loop counts to their minimum: refuse them. */
#define BENCH_MIN_SCALE 0.001
/* Scales above this would run for minutes: refuse them as a likely typo. */
#define BENCH_MAX_SCALE 100.0

/* ---- failure -------------------------------------------------------------------------------- */

/* "NAME: FAILED: why" on stderr, exit status 1. Every wrong result goes through here. */
__attribute__((noreturn, format(printf, 2, 3))) static inline void bench_fail(const char *name,
                                                                              const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: FAILED: ", name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

/* ---- arguments ------------------------------------------------------------------------------ */

/* argv[1] is the scale: 1.0 (the default) is the full run, 0.05 a quick check. */
static inline double bench_scale(const char *name, int argc, char **argv)
{
    if (argc < 2)
        return 1.0;
    char *end = NULL;
    double s = strtod(argv[1], &end);
    if (end == argv[1] || *end != '\0' || !(s >= BENCH_MIN_SCALE && s <= BENCH_MAX_SCALE))
        bench_fail(name, "scale must be a number in [%g, %g], got '%s'", BENCH_MIN_SCALE,
                   BENCH_MAX_SCALE, argv[1]);
    return s;
}

/* full * scale, at least min. */
static inline size_t bench_scaled(size_t full, double scale, size_t min)
{
    double v = (double)full * scale;
    return v < (double)min ? min : (size_t)v;
}

/* ---- generator (xorshift64*) ---------------------------------------------------------------- */

typedef struct {
    uint64_t s;
} bench_rng_t;

static inline bench_rng_t bench_rng(uint64_t stream)
{
    /* Distinct nonzero states per stream (threads take their index as the stream). */
    bench_rng_t r = {BENCH_SEED ^ (stream * 0xD1B54A32D192ED03ULL)};
    if (r.s == 0)
        r.s = BENCH_SEED;
    return r;
}

static inline uint64_t bench_rand(bench_rng_t *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 2685821657736338717ULL;
}

/* Uniform in [lo, hi]. */
static inline size_t bench_range(bench_rng_t *r, size_t lo, size_t hi)
{
    return lo + (size_t)(bench_rand(r) % (uint64_t)(hi - lo + 1));
}

/* ---- block patterns ------------------------------------------------------------------------- */

/* A block of n bytes tagged t holds: the tag in its first 8 bytes, the byte (t & 0xff) in
 * between, and the tag again in its last 8 bytes (blocks under 16 bytes: the byte alone).
 * Filling every byte makes each workload touch its memory as a real program would;
 * checking both ends and the middle catches overlapping blocks and blocks the allocator
 * scribbled on. */
static inline void bench_fill(void *p, size_t n, uint64_t t)
{
    memset(p, (int)(t & 0xff), n);
    if (n >= 2 * sizeof t) {
        memcpy(p, &t, sizeof t);
        memcpy((char *)p + n - sizeof t, &t, sizeof t);
    }
}

/* 1 when the block still holds bench_fill(p, n, t)'s pattern, 0 otherwise. */
static inline int bench_intact(const void *p, size_t n, uint64_t t)
{
    const unsigned char *b = p;
    unsigned char fill = (unsigned char)(t & 0xff);
    if (n >= 2 * sizeof t) {
        uint64_t head, tail;
        memcpy(&head, b, sizeof head);
        memcpy(&tail, b + n - sizeof tail, sizeof tail);
        if (head != t || tail != t)
            return 0;
        if (n == 2 * sizeof t)
            return 1;
        /* The filled middle runs from byte 8 to byte n-9: check its ends and its centre. */
        return b[sizeof t] == fill && b[n - sizeof t - 1] == fill && b[n / 2] == fill;
    }
    for (size_t i = 0; i < n; i++)
        if (b[i] != fill)
            return 0;
    return 1;
}

/* 1 when p meets malloc's alignment guarantee for an n-byte request. Only the address is
 * looked at: a macro, so gcc does not take a fresh block passed as `const void *` for a read of
 * uninitialised memory. */
static inline int bench_aligned_addr(uintptr_t addr, size_t n)
{
    size_t need = BENCH_MAX_ALIGN;
    while (need > 1 && need > n)
        need >>= 1;
    return (addr & (need - 1)) == 0;
}
#define bench_aligned(p, n) bench_aligned_addr((uintptr_t)(p), (n))

/* malloc(n) for workload `name`; a NULL or misaligned block fails the run. */
static inline void *bench_malloc(const char *name, size_t n)
{
    void *p = malloc(n);
    if (!p)
        bench_fail(name, "malloc(%zu) returned NULL", n);
    if (!bench_aligned(p, n))
        bench_fail(name, "malloc(%zu) returned misaligned %p", n, p);
    return p;
}

/* p, the answer to an aligned request of `size` bytes at `align`, or a failure if it is NULL or
 * not aligned. */
static inline void *bench_aligned_block(const char *name, void *p, size_t size, size_t align)
{
    if (!p)
        bench_fail(name, "aligned request of %zu bytes at %zu returned NULL", size, align);
    if ((uintptr_t)p % align != 0)
        bench_fail(name, "block %p of %zu bytes is not aligned to %zu", p, size, align);
    return p;
}

/* ---- slot tables ------------------------------------------------------------------------------
 * The churn-style workloads keep blocks in a table of slots: each block carries a tag pattern
 * over its first `size` bytes, checked when the block is freed. */
typedef struct {
    void *p;
    size_t size; /* bytes filled with the tag */
    uint64_t tag;
} bench_slot_t;

/* Checks the block in s, frees it, empties the slot and counts the free in *ops. */
static inline void bench_slot_release(const char *name, bench_slot_t *s, unsigned long long *ops)
{
    if (!bench_intact(s->p, s->size, s->tag))
        bench_fail(name, "block %p of %zu bytes was overwritten", s->p, s->size);
    free(s->p);
    s->p = NULL;
    (*ops)++;
}

/* Puts p, a fresh block of `size` bytes, in slot s with tag t, fills it with the tag's pattern
 * and counts its allocation in *ops. */
static inline void bench_slot_put(bench_slot_t *s, void *p, size_t size, uint64_t t,
                                  unsigned long long *ops)
{
    s->p = p;
    s->size = size;
    s->tag = t;
    (*ops)++;
    bench_fill(p, size, t);
}

/* A table of n empty slots (calloc: the table is the workload's own, not a measured block). */
static inline bench_slot_t *bench_slots_new(const char *name, size_t n)
{
    bench_slot_t *slots = calloc(n, sizeof *slots);
    if (!slots)
        bench_fail(name, "cannot allocate a table of %zu slots", n);
    return slots;
}

/* Checks and frees every block left in the n slots, counting the frees in *ops, then the table. */
static inline void bench_slots_free(const char *name, bench_slot_t *slots, size_t n,
                                    unsigned long long *ops)
{
    for (size_t i = 0; i < n; i++)
        if (slots[i].p)
            bench_slot_release(name, &slots[i], ops);
    free(slots);
}

/* The slot-table churn shared by single-thread workloads: `steps` times, a random slot's block
 * (if any) is checked and freed and, unless the step is one of the 1 in `skip_one_in` that leave
 * the slot empty (0: none do), a block of min..max bytes from alloc(name, size, r) takes its
 * place, r being the step's random word; the blocks left are checked and freed at the end.
 * Returns the allocation and free calls made. */
typedef void *(*bench_alloc_fn)(const char *name, size_t size, uint64_t r);
static inline unsigned long long bench_slot_churn(const char *name, size_t nslots, size_t steps,
                                                  size_t min, size_t max, unsigned skip_one_in,
                                                  bench_alloc_fn alloc)
{
    bench_rng_t rng = bench_rng(1);
    unsigned long long ops = 0;
    bench_slot_t *slots = bench_slots_new(name, nslots);
    for (size_t step = 0; step < steps; step++) {
        uint64_t r = bench_rand(&rng);
        bench_slot_t *s = &slots[r % nslots];
        if (s->p)
            bench_slot_release(name, s, &ops);
        if (skip_one_in && (r >> 32) % skip_one_in == 0)
            continue;
        size_t size = bench_range(&rng, min, max);
        uint64_t tag = bench_rand(&rng);
        bench_slot_put(s, alloc(name, size, r), size, tag, &ops);
    }
    bench_slots_free(name, slots, nslots, &ops);
    return ops;
}

/* A slot-churn workload: its table, its steps at scale 1 and the fewest at any scale, its sizes,
 * its empty-slot rate (bench_slot_churn) and where its blocks come from (NULL: plain malloc). */
typedef struct {
    size_t slots, steps, min_steps, min_size, max_size;
    unsigned skip_one_in;
    bench_alloc_fn alloc;
} bench_churn_t;

static inline void *bench_churn_block(const char *name, size_t size, uint64_t r)
{
    (void)r;
    return bench_malloc(name, size);
}

/* The whole program of such a workload: prints "NAME ops=N" (N = malloc + free calls). */
static inline int bench_churn_main(const char *name, int argc, char **argv, const bench_churn_t *c)
{
    double scale = bench_scale(name, argc, argv);
    size_t steps = bench_scaled(c->steps, scale, c->min_steps);
    unsigned long long ops =
        bench_slot_churn(name, c->slots, steps, c->min_size, c->max_size, c->skip_one_in,
                         c->alloc ? c->alloc : bench_churn_block);
    printf("%s ops=%llu\n", name, ops);
    return 0;
}

/* ---- memory --------------------------------------------------------------------------------- */

/* Resident set now, in KiB, from /proc/self/statm (second field, in pages); -1 if unreadable. */
static inline long bench_rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, resident = -1;
    if (!f)
        return -1;
    if (fscanf(f, "%ld %ld", &size, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Peak resident set so far, in KiB: VmHWM from /proc/self/status; -1 if unreadable. */
static inline long bench_peak_rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    return kb;
}

#endif
