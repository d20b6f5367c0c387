/* largethreads.c: large blocks on many threads at once. 16 threads each own 8 slots; each step
 * frees a random slot's block and allocates one of 130 .. 530 KiB (uniform) in its place, then
 * writes a word on every page of it, as a thread filling its own buffers would. Blocks never
 * cross threads, so this measures how arcalloc's large-block path (and each peer's) holds up
 * when every thread uses it together (locks, page reuse, returning memory). Checks every page's
 * word of a block before freeing it; prints "largethreads ops=N" (N = malloc + free calls).
 * Never calls the allocator except through the standard malloc family; prints nothing else.
 */
#include <pthread.h>

#include "bench.h"

/* Threads at once: eight per core of the 2-core reference machine, so they contend. */
#define LT_THREADS 16u
/* Blocks each thread keeps: 16 x 8 x ~330 KiB = ~41 MiB live on average. */
#define LT_SLOTS 8u
/* Steps per thread at scale 1.0: 0.4-1.1 s under glibc on the reference machine (measured). */
#define LT_STEPS 240u
/* Enough steps that every slot is replaced several times even at the smallest scale. */
#define LT_MIN_STEPS 32u
/* Block sizes: just over the 128 KiB from which arcalloc serves large page runs
 * (src/process/arena.h) and from which glibc maps blocks of their own, to a little over 512 KiB. */
#define LT_MIN_SIZE (130u << 10)
#define LT_MAX_SIZE (530u << 10)
/* Stride of the touch: the smallest page size Linux uses on x86-64 and aarch64. */
#define LT_PAGE 4096u

typedef struct {
    unsigned char *p;
    size_t size;
    uint64_t tag;
} block_t;

/* One cache line each: the threads share nothing but the allocator. */
typedef struct {
    _Alignas(64) size_t steps;
    unsigned id;
    unsigned long long ops;
} worker_t;

static const char *const name = "largethreads";

/* Every page's first word is the tag mixed with the page's offset, so a page that moved, was
 * lost or was handed to another block shows; the last word is the tag itself. */
static void touch_pages(block_t *b)
{
    for (size_t off = 0; off + sizeof b->tag <= b->size; off += LT_PAGE) {
        uint64_t v = b->tag ^ off;
        memcpy(b->p + off, &v, sizeof v);
    }
    memcpy(b->p + b->size - sizeof b->tag, &b->tag, sizeof b->tag);
}

/* Reads back what touch_pages wrote, then frees the block. */
static void drop_block(block_t *b, unsigned long long *ops)
{
    uint64_t v;
    for (size_t off = 0; off + 2 * sizeof v <= b->size; off += LT_PAGE) {
        memcpy(&v, b->p + off, sizeof v);
        if (v != (b->tag ^ off))
            bench_fail(name, "page at offset %zu of a %zu-byte block was overwritten", off,
                       b->size);
    }
    memcpy(&v, b->p + b->size - sizeof v, sizeof v);
    if (v != b->tag)
        bench_fail(name, "the end of a %zu-byte block was overwritten", b->size);
    free(b->p);
    b->p = NULL;
    (*ops)++;
}

static void *worker(void *arg)
{
    worker_t *w = arg;
    bench_rng_t rng = bench_rng(500 + w->id);
    block_t slots[LT_SLOTS] = {{0}};
    unsigned long long ops = 0;
    for (size_t step = 0; step < w->steps; step++) {
        block_t *b = &slots[bench_rand(&rng) % LT_SLOTS];
        if (b->p)
            drop_block(b, &ops);
        b->size = bench_range(&rng, LT_MIN_SIZE, LT_MAX_SIZE);
        b->tag = bench_rand(&rng);
        b->p = bench_malloc(name, b->size);
        ops++;
        touch_pages(b);
    }
    for (size_t i = 0; i < LT_SLOTS; i++)
        if (slots[i].p)
            drop_block(&slots[i], &ops);
    w->ops = ops;
    return NULL;
}

int main(int argc, char **argv)
{
    double scale = bench_scale(name, argc, argv);
    size_t steps = bench_scaled(LT_STEPS, scale, LT_MIN_STEPS);
    worker_t w[LT_THREADS];
    pthread_t t[LT_THREADS];
    for (unsigned i = 0; i < LT_THREADS; i++) {
        w[i] = (worker_t){.steps = steps, .id = i, .ops = 0};
        if (pthread_create(&t[i], NULL, worker, &w[i]))
            bench_fail(name, "pthread_create failed");
    }
    unsigned long long ops = 0;
    for (unsigned i = 0; i < LT_THREADS; i++) {
        pthread_join(t[i], NULL);
        ops += w[i].ops;
    }
    printf("%s ops=%llu\n", name, ops);
    return 0;
}
