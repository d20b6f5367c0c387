/* test_static.c: a fully static program linked with libarcalloc.a (meson links it -static, as
 * `cc -static prog.c -larcalloc -lpthread` would). Its malloc must be arcalloc's: the blocks of
 * every standard name, and those the C library allocates for the program itself (strdup,
 * asprintf, getline, open_memstream), are arcalloc's blocks, its statistics count them, its usable
 * sizes answer, and no shared object is mapped. That the link succeeded at all says the C
 * library's own malloc object stayed out: its malloc and free would clash with arcalloc's. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arcalloc.h"
#include "arcalloc_config.h"
#include "check.h"
#include "libc_names.h"

/* A size for each path: a small block, a medium block, a page run. */
#define SMALL_BYTES  48
#define MEDIUM_BYTES 3000
#define LARGE_BYTES  (1u << 20)
/* An alignment above the page size's and one a small block can meet. */
#define BIG_ALIGN   65536
#define SMALL_ALIGN 64
/* Blocks each thread allocates and hands to the main thread to free. */
#define THREAD_BLOCKS 1000
#define THREADS       4
/* A line of /proc/self/maps fits in this (the path is what matters; longer lines are cut). */
#define MAPS_LINE_BYTES 4096

static void test_standard_names(void)
{
    void *blocks[9];
    size_t n = 0;
    blocks[n++] = malloc(SMALL_BYTES);
    blocks[n++] = malloc(MEDIUM_BYTES);
    blocks[n++] = malloc(LARGE_BYTES);
    blocks[n++] = calloc(SMALL_BYTES, 2);
    blocks[n++] = realloc(NULL, MEDIUM_BYTES);
    blocks[n++] = aligned_alloc(BIG_ALIGN, BIG_ALIGN);
    blocks[n++] = memalign(SMALL_ALIGN, SMALL_BYTES);
    blocks[n++] = valloc(SMALL_BYTES);
    void *p = NULL;
    CHECK(posix_memalign(&p, SMALL_ALIGN, MEDIUM_BYTES) == 0);
    blocks[n++] = p;
    for (size_t i = 0; i < n; i++) {
        CHECKF(blocks[i] != NULL && arc_owns(blocks[i]), "block %zu (%p) is not arcalloc's", i,
               blocks[i]);
        /* The standard name and the arc_ one answer alike: one allocator. */
        CHECK(malloc_usable_size(blocks[i]) == arc_malloc_usable_size(blocks[i]));
    }
    CHECK(((uintptr_t)blocks[5] & (BIG_ALIGN - 1)) == 0);
    blocks[0] = realloc(blocks[0], LARGE_BYTES);
    CHECK(blocks[0] != NULL && arc_owns(blocks[0]));
    for (size_t i = 0; i < n; i++)
        free(blocks[i]);
#if ARC_HAVE_MALLOPT
    /* mallopt is arcalloc's too (accepted, no effect). */
    CHECK(mallopt(M_ARENA_MAX, 1) == 1);
#endif
}

/* The C library's own allocations for the program come from arcalloc and go back to it. */
static void test_libc_allocations(void)
{
    char *s = strdup("static");
    CHECK(s != NULL && arc_owns(s));
    free(s);
    char *t = NULL;
    CHECK(asprintf(&t, "%d %s", 17, "arcalloc") > 0);
    CHECK(t != NULL && arc_owns(t));
    free(t);
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    CHECK(mem != NULL);
    if (mem) {
        for (int i = 0; i < MEDIUM_BYTES; i++)
            fputc('a' + i % 26, mem);
        fclose(mem);
        CHECK(len == MEDIUM_BYTES && buf != NULL && arc_owns(buf));
        free(buf);
    }
    FILE *f = fopen("/proc/self/maps", "r");
    CHECK(f != NULL);
    if (f) {
        char *line = NULL;
        size_t cap = 0;
        CHECK(getline(&line, &cap, f) > 0);
        CHECK(line != NULL && arc_owns(line));
        free(line);
        fclose(f);
    }
}

/* arcalloc's counters see the program's allocations (builds with statistics). */
static void test_statistics(void)
{
    struct arc_stats before, after;
    arc_stats_get(&before);
    void *volatile a = malloc(SMALL_BYTES), *volatile b = malloc(LARGE_BYTES);
    arc_stats_get(&after);
    CHECK(strcmp(after.backend, arc_backend_name()) == 0);
    if (after.stats_enabled) {
        CHECKF(after.allocs >= before.allocs + 2, "allocs %llu -> %llu",
               (unsigned long long)before.allocs, (unsigned long long)after.allocs);
        CHECK(after.large_live == before.large_live + 1);
    }
    free(a);
    free(b);
}

/* Nothing is loaded: no dynamic loader and no shared C library in the address space. */
static void test_no_shared_objects(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    CHECK(f != NULL);
    if (!f)
        return;
    char line[MAPS_LINE_BYTES];
    int shared = 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, ".so"))
            shared++;
    fclose(f);
    CHECKF(shared == 0, "%d shared objects mapped", shared);
}

static void *allocate_blocks(void *arg)
{
    (void)arg;
    void **blocks = malloc(THREAD_BLOCKS * sizeof *blocks);
    if (!blocks)
        return NULL;
    for (int i = 0; i < THREAD_BLOCKS; i++)
        blocks[i] = malloc((size_t)(i % MEDIUM_BYTES) + 1);
    return blocks;
}

/* Threads of a static program: each allocates, the main thread frees (remote frees). */
static void test_threads(void)
{
    pthread_t tid[THREADS];
    for (int t = 0; t < THREADS; t++)
        CHECK(pthread_create(&tid[t], NULL, allocate_blocks, NULL) == 0);
    for (int t = 0; t < THREADS; t++) {
        void **blocks = NULL;
        CHECK(pthread_join(tid[t], (void **)&blocks) == 0);
        CHECK(blocks != NULL && arc_owns(blocks));
        if (!blocks)
            continue;
        int owned = 0;
        for (int i = 0; i < THREAD_BLOCKS; i++) {
            owned += arc_owns(blocks[i]);
            free(blocks[i]);
        }
        CHECK(owned == THREAD_BLOCKS);
        free(blocks);
    }
}

int main(void)
{
    test_standard_names();
    test_libc_allocations();
    test_statistics();
    test_no_shared_objects();
    test_threads();
    return check_done();
}
