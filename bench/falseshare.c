/* falseshare.c: allocator-induced false sharing. The main thread allocates one small block per
 * thread, back to back; each thread frees the block it was handed (cache-scratch), then keeps
 * allocating a small block and writing into it many times before freeing it (cache-thrash).
 * An allocator that gives two threads blocks on one cache line makes every write a cache miss.
 * Verifies every count written; prints "falseshare ops=N" (N = malloc + free calls).
 * Never calls the allocator except through the standard malloc family; prints nothing else.
 */
#include <pthread.h>

#include "bench.h"

#define FALSESHARE_THREADS 2u
/* Blocks each thread allocates and writes into at scale 1.0, and writes per block: together
 * about half a second on the reference machine when no cache line is shared. */
#define FALSESHARE_ROUNDS     4000u
#define FALSESHARE_MIN_ROUNDS 100u
#define FALSESHARE_WRITES     25000u
/* Small sizes only: 8..64 bytes, so several blocks fit in one 64-byte cache line. */
static const size_t falseshare_sizes[] = {8, 16, 24, 32, 48, 64};
#define FALSESHARE_NSIZES (sizeof falseshare_sizes / sizeof falseshare_sizes[0])

typedef struct {
    void *handed; /* allocated by the main thread, freed by this one */
    size_t rounds;
    unsigned id;
    unsigned long long ops;
} worker_t;

static const char *const name = "falseshare";

static void *worker(void *arg)
{
    worker_t *w = arg;
    bench_rng_t rng = bench_rng(200 + w->id);
    uint64_t handed_tag = w->id + 1;
    if (!bench_intact(w->handed, falseshare_sizes[0], handed_tag))
        bench_fail(name, "the block handed to thread %u was overwritten", w->id);
    free(w->handed);
    w->ops++;
    for (size_t r = 0; r < w->rounds; r++) {
        size_t size = falseshare_sizes[bench_rand(&rng) % FALSESHARE_NSIZES];
        unsigned char *p = bench_malloc(name, size);
        w->ops++;
        /* Each write is a load and a store of the block's first byte and last byte;
         * volatile keeps every one in memory, where sharing a line would hurt. */
        volatile unsigned char *first = p, *last = p + size - 1;
        *first = 0;
        *last = 0;
        for (unsigned i = 0; i < FALSESHARE_WRITES; i++) {
            *first = (unsigned char)(*first + 1);
            *last = (unsigned char)(*last + 3);
        }
        if (*first != (unsigned char)FALSESHARE_WRITES ||
            *last != (unsigned char)(3u * FALSESHARE_WRITES))
            bench_fail(name, "thread %u counted %u and %u in block %p, expected %u and %u", w->id,
                       *first, *last, (void *)p, FALSESHARE_WRITES & 0xffu,
                       (3u * FALSESHARE_WRITES) & 0xffu);
        free(p);
        w->ops++;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    double scale = bench_scale(name, argc, argv);
    worker_t w[FALSESHARE_THREADS];
    pthread_t t[FALSESHARE_THREADS];
    for (unsigned i = 0; i < FALSESHARE_THREADS; i++) {
        w[i] = (worker_t){malloc(falseshare_sizes[0]),
                          bench_scaled(FALSESHARE_ROUNDS, scale, FALSESHARE_MIN_ROUNDS), i, 1};
        if (!w[i].handed)
            bench_fail(name, "malloc(%zu) returned NULL", falseshare_sizes[0]);
        bench_fill(w[i].handed, falseshare_sizes[0], i + 1);
    }
    for (unsigned i = 0; i < FALSESHARE_THREADS; i++)
        if (pthread_create(&t[i], NULL, worker, &w[i]))
            bench_fail(name, "pthread_create failed");
    unsigned long long ops = 0;
    for (unsigned i = 0; i < FALSESHARE_THREADS; i++) {
        pthread_join(t[i], NULL);
        ops += w[i].ops;
    }
    printf("%s ops=%llu\n", name, ops);
    return 0;
}
