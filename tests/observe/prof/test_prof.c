/* test_prof.c: the heap profiler's subject, run by check_prof.py with ARCALLOC_PROF=1. Three
 * functions keep live bytes in a 1:2:4 ratio (small, medium and large blocks, through malloc,
 * calloc and realloc, one of them on its own thread); a fourth allocates as much and frees all
 * of it (locally, from another thread, and through a first-class heap it destroys); a fifth
 * keeps blocks of one size, whose sample count tells exponential sampling from any other.
 * Prints what it keeps live; the profile itself is checked by the script. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arcalloc.h"
#include "check.h"

/* Live bytes of the 1:2:4 functions: fn_a keeps one unit, fn_b two, fn_c four. */
#define UNIT_BYTES ((size_t)4 << 20)
/* Each function's bytes go a third to each size class. */
#define SMALL_MAX  ((size_t)1024)      /* the cached sizes (heap.h: ARC_CACHE_MAX) */
#define MEDIUM_MAX ((size_t)64 << 10)  /* byte-allocator blocks below large runs */
#define LARGE_MIN  ((size_t)129 << 10) /* above arena.h's 128 KiB: page runs */
#define LARGE_MAX  ((size_t)1 << 20)
/* fn_fixed: this many blocks of FIXED_BYTES (the checker's sample mean: 4 KiB). */
#define FIXED_COUNT 4000
#define FIXED_BYTES ((size_t)4096)
#define BLOCKS_MAX  200000 /* blocks one function may hold: 4 MiB of 16-byte blocks fits */

typedef struct block_set {
    void *p[BLOCKS_MAX];
    size_t n;
    size_t bytes;
} block_set_t;

/* The build hides symbols by default (-fvisibility=hidden); dladdr names only exported ones. */
#define NAMED __attribute__((visibility("default"), noinline))
NAMED void fn_a(void);
NAMED void fn_b(void);
NAMED void *fn_c(void *arg);
NAMED void fn_fixed(void);
NAMED void fn_free(void);

static block_set_t set_a, set_b, set_c, set_fixed, set_free;
static volatile unsigned calls; /* after each call: keeps the callers' frames (no tail calls) */

/* Allocates `bytes` in blocks of class sizes into s, a third per class, exactly. The way each
 * block is made (malloc, calloc, realloc of a smaller one, or a first-class heap) varies. */
static __attribute__((noinline)) void fill(block_set_t *s, size_t bytes, unsigned long long seed,
                                           arc_heap_t *heap)
{
    check_rng_t rng = {seed};
    static const size_t lo[3] = {16, SMALL_MAX + 1, LARGE_MIN};
    static const size_t hi[3] = {SMALL_MAX, MEDIUM_MAX, LARGE_MAX};
    for (int cls = 0; cls < 3; cls++) {
        size_t left = bytes / 3 + (cls == 2 ? bytes % 3 : 0);
        while (left > 0) {
            size_t size = (size_t)check_range(&rng, lo[cls], hi[cls]);
            if (size > left || left - size < lo[cls])
                size = left;
            void *p;
            unsigned how = (unsigned)check_range(&rng, 0, 3);
            if (heap)
                p = arc_heap_malloc(heap, size);
            else if (how == 0)
                p = calloc(1, size);
            else if (how == 1 && size >= 32)
                p = realloc(malloc(size / 2), size);
            else
                p = malloc(size);
            CHECK(p != NULL);
            if (!p || s->n == BLOCKS_MAX)
                return;
            memset(p, 0xa5, size < 64 ? size : 64);
            s->p[s->n++] = p;
            s->bytes += size;
            left -= size;
        }
    }
}

NAMED void fn_a(void)
{
    fill(&set_a, UNIT_BYTES, 11, NULL);
    calls++;
}

NAMED void fn_b(void)
{
    fill(&set_b, 2 * UNIT_BYTES, 22, NULL);
    calls++;
}

NAMED void *fn_c(void *arg)
{
    (void)arg;
    fill(&set_c, 4 * UNIT_BYTES, 33, NULL);
    calls++;
    return NULL;
}

NAMED void fn_fixed(void)
{
    for (int i = 0; i < FIXED_COUNT; i++) {
        void *p = malloc(FIXED_BYTES);
        CHECK(p != NULL);
        set_fixed.p[set_fixed.n++] = p;
        set_fixed.bytes += FIXED_BYTES;
    }
    calls++;
}

static void *free_odd_blocks(void *arg)
{
    block_set_t *s = arg;
    for (size_t i = 1; i < s->n; i += 2)
        free(s->p[i]);
    return NULL;
}

/* As much as fn_c, none of it live by the end. */
NAMED void fn_free(void)
{
    fill(&set_free, 2 * UNIT_BYTES, 44, NULL);
    pthread_t t; /* odd blocks freed by another thread: remote frees into this thread's heap */
    CHECK(pthread_create(&t, NULL, free_odd_blocks, &set_free) == 0);
    pthread_join(t, NULL);
    for (size_t i = 0; i < set_free.n; i += 2)
        free(set_free.p[i]);
    set_free.n = 0;

    arc_heap_t *heap = arc_heap_new(NULL); /* a first-class heap: some freed, then destroyed */
    CHECK(heap != NULL);
    fill(&set_free, 2 * UNIT_BYTES, 55, heap);
    for (size_t i = 0; i < set_free.n; i += 3)
        arc_heap_free(heap, set_free.p[i]);
    arc_heap_destroy(heap);
    set_free.n = 0;
    calls++;
}

int main(void)
{
    fn_free(); /* first: the remote frees are drained by the allocations that follow */
    fn_a();
    fn_b();
    pthread_t t;
    CHECK(pthread_create(&t, NULL, fn_c, NULL) == 0);
    pthread_join(t, NULL);
    fn_fixed();
    CHECK(set_b.bytes == 2 * set_a.bytes && set_c.bytes == 4 * set_a.bytes);
    printf("live fn_a %zu\nlive fn_b %zu\nlive fn_c %zu\nlive fn_fixed %zu %zu\nlive fn_free 0\n",
           set_a.bytes, set_b.bytes, set_c.bytes, set_fixed.bytes, (size_t)FIXED_COUNT);
    return check_done(); /* every block above stays live: the profile at exit holds them */
}
