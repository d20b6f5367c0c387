/* larson.c: a server-like workload after Larson and Krishnan: two threads replace random slots
 * of one shared table, freeing whatever block was there (often the other thread's). Every
 * epoch ends its threads and starts new ones, which free blocks their predecessors allocated.
 * Verifies every block; prints "larson ops=N" (N = malloc + free calls).
 * Never calls the allocator except through the standard malloc family; prints nothing else.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "bench.h"

#define LARSON_THREADS 2u
/* Shared slots: 8 K blocks of ~500 B, ~4 MiB live. */
#define LARSON_SLOTS 8192u
/* Epochs (thread generations) at scale 1.0 and steps each thread takes per epoch: together
 * about one second under glibc on the reference machine. */
#define LARSON_EPOCHS     40u
#define LARSON_MIN_EPOCHS 2u
#define LARSON_STEPS      80000u
/* Block sizes, as in the original benchmark's usual 10..1000 B runs; 16 B is the least that
 * holds the header below. */
#define LARSON_MIN_SIZE 16u
#define LARSON_MAX_SIZE 1000u

/* What a block carries before its fill bytes, so any thread can check it. */
typedef struct {
    uint64_t tag;
    uint64_t size;
} header_t;
_Static_assert(sizeof(header_t) <= LARSON_MIN_SIZE, "a block must hold its header");

typedef struct {
    _Atomic(void *) *table;
    size_t steps;
    unsigned id;
    unsigned long long allocs, frees;
} worker_t;

static const char *const name = "larson";

static void *block_new(bench_rng_t *rng)
{
    size_t size = bench_range(rng, LARSON_MIN_SIZE, LARSON_MAX_SIZE);
    header_t h = {bench_rand(rng), size};
    unsigned char *p = bench_malloc(name, size);
    memcpy(p, &h, sizeof h);
    bench_fill(p + sizeof h, size - sizeof h, h.tag);
    return p;
}

static void block_drop(void *p)
{
    header_t h;
    memcpy(&h, p, sizeof h);
    if (h.size < LARSON_MIN_SIZE || h.size > LARSON_MAX_SIZE ||
        !bench_intact((unsigned char *)p + sizeof h, h.size - sizeof h, h.tag))
        bench_fail(name, "block %p was overwritten", p);
    free(p);
}

static void *worker(void *arg)
{
    worker_t *w = arg;
    bench_rng_t rng = bench_rng(100 + w->id);
    for (size_t i = 0; i < w->steps; i++) {
        void *p = block_new(&rng);
        w->allocs++;
        void *old = atomic_exchange(&w->table[bench_rand(&rng) % LARSON_SLOTS], p);
        if (old) {
            block_drop(old);
            w->frees++;
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    double scale = bench_scale(name, argc, argv);
    size_t epochs = bench_scaled(LARSON_EPOCHS, scale, LARSON_MIN_EPOCHS);
    _Atomic(void *) *table = calloc(LARSON_SLOTS, sizeof *table);
    if (!table)
        bench_fail(name, "cannot allocate the table");
    unsigned long long allocs = 0, frees = 0;

    /* The main thread fills half the table first, as the original does before its threads. */
    bench_rng_t rng = bench_rng(99);
    for (size_t i = 0; i < LARSON_SLOTS; i += 2) {
        atomic_store(&table[i], block_new(&rng));
        allocs++;
    }
    for (size_t e = 0; e < epochs; e++) {
        worker_t w[LARSON_THREADS];
        pthread_t t[LARSON_THREADS];
        for (unsigned i = 0; i < LARSON_THREADS; i++) {
            w[i] = (worker_t){table, LARSON_STEPS, (unsigned)(e * LARSON_THREADS + i), 0, 0};
            if (pthread_create(&t[i], NULL, worker, &w[i]))
                bench_fail(name, "pthread_create failed");
        }
        for (unsigned i = 0; i < LARSON_THREADS; i++) {
            pthread_join(t[i], NULL);
            allocs += w[i].allocs;
            frees += w[i].frees;
        }
    }
    size_t live = 0;
    for (size_t i = 0; i < LARSON_SLOTS; i++) {
        void *p = atomic_load(&table[i]);
        if (p) {
            block_drop(p);
            live++;
            frees++;
        }
    }
    free(table);
    if (allocs != frees)
        bench_fail(name, "%llu blocks allocated but %llu freed (%zu left in the table)", allocs,
                   frees, live);
    printf("%s ops=%llu\n", name, allocs + frees);
    return 0;
}
