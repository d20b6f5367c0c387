/* scaling.c: thread-local throughput on one thread, then on two. Each thread replaces random
 * slots of its own table (free the block there, allocate a new 16..515 B one), so no block
 * crosses threads and nothing is shared but the allocator. The two phases are timed apart; with
 * two free cores, twice the work in the same time is perfect scaling. Verifies every block on
 * free; prints "scaling ops=N one_kops=A two_kops=B scaling_pct=P" (thousand steps per second
 * with one thread and with two, and 100 * B / A).
 * Never calls the allocator except through the standard malloc family; prints nothing else.
 */
#include <pthread.h>
#include <time.h>

#include "bench.h"

/* Free+malloc steps per thread at scale 1.0: each phase about 0.3 s on the reference machine. */
#define SCALING_STEPS     8000000u
#define SCALING_MIN_STEPS 20000u
/* Slots per thread: 4 096 blocks of ~265 B, ~1 MiB live per thread, in its own heap. */
#define SCALING_SLOTS    4096u
#define SCALING_MIN_SIZE 16u
#define SCALING_MAX_SIZE 515u
#define SCALING_THREADS  2u
/* Bytes of each block filled and verified: the smallest block's size. */
#define SCALING_CHECKED SCALING_MIN_SIZE

/* One cache line each, and ops counted in a local until the end: the threads share nothing. */
typedef struct {
    _Alignas(64) size_t steps;
    unsigned id;
    unsigned long long ops;
} worker_t;

static const char *const name = "scaling";

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void *worker(void *arg)
{
    worker_t *w = arg;
    bench_rng_t rng = bench_rng(300 + w->id);
    bench_slot_t *slots = bench_slots_new(name, SCALING_SLOTS);
    unsigned long long ops = 0;
    for (size_t step = 0; step < w->steps; step++) {
        bench_slot_t *s = &slots[bench_rand(&rng) % SCALING_SLOTS];
        if (s->p)
            bench_slot_release(name, s, &ops);
        s->size = bench_range(&rng, SCALING_MIN_SIZE, SCALING_MAX_SIZE);
        s->tag = bench_rand(&rng);
        s->p = bench_malloc(name, s->size);
        ops++;
        /* Its first SCALING_CHECKED bytes carry the tag: the block is touched as a program
         * touches what it allocates, at a cost that does not hide the allocator's. */
        s->size = SCALING_CHECKED;
        bench_fill(s->p, s->size, s->tag);
    }
    bench_slots_free(name, slots, SCALING_SLOTS, &ops);
    w->ops = ops;
    return NULL;
}

/* Runs `threads` workers of `steps` steps each; returns the wall time, adds their calls to ops. */
static double phase_run(unsigned threads, size_t steps, unsigned long long *ops)
{
    pthread_t tid[SCALING_THREADS];
    worker_t w[SCALING_THREADS];
    double start = now_seconds();
    for (unsigned i = 0; i < threads; i++) {
        w[i] = (worker_t){.steps = steps, .id = i + 10u * threads};
        if (pthread_create(&tid[i], NULL, worker, &w[i]) != 0)
            bench_fail(name, "cannot start thread %u", i);
    }
    for (unsigned i = 0; i < threads; i++) {
        pthread_join(tid[i], NULL);
        *ops += w[i].ops;
    }
    return now_seconds() - start;
}

int main(int argc, char **argv)
{
    double scale = bench_scale(name, argc, argv);
    size_t steps = bench_scaled(SCALING_STEPS, scale, SCALING_MIN_STEPS);
    unsigned long long ops = 0;
    double one = phase_run(1, steps, &ops);
    double two = phase_run(SCALING_THREADS, steps, &ops);
    double one_kops = (double)steps / one / 1e3;
    double two_kops = (double)steps * SCALING_THREADS / two / 1e3;
    printf("%s ops=%llu one_kops=%.0f two_kops=%.0f scaling_pct=%.0f\n", name, ops, one_kops,
           two_kops, 100.0 * two_kops / one_kops);
    return 0;
}
