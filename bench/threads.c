/* threads.c: thread churn. Many short-lived threads, two at a time, each allocating a burst of
 * blocks, freeing most and handing the rest to the main thread, which checks and frees them
 * after the thread has exited (frees into a dead thread's heap). Prints "threads ops=N"
 * (N = malloc + free calls) after checking that every block came back intact.
 * Never calls the allocator except through the standard malloc family; prints nothing else.
 */
#include <pthread.h>

#include "bench.h"

/* Threads over the run at scale 1.0 (the brief's 20 000), started this many at a time. */
#define THREADS_TOTAL     20000u
#define THREADS_MIN_TOTAL 200u
#define THREADS_AT_ONCE   2u
/* Each thread allocates this many blocks of 16 B .. 2 KiB and hands back one in
 * THREADS_HAND_ONE_IN of them. */
#define THREAD_BLOCKS       128u
#define THREAD_MIN_SIZE     16u
#define THREAD_MAX_SIZE     2048u
#define THREADS_HAND_ONE_IN 4u
#define THREAD_HANDED_MAX   (THREAD_BLOCKS / THREADS_HAND_ONE_IN)
_Static_assert(THREAD_BLOCKS % THREADS_HAND_ONE_IN == 0, "handed blocks fill the array exactly");
/* Small stacks: the default 8 MiB would make the run about mapping stacks, not the heap. */
#define THREAD_STACK_BYTES (256u << 10)

typedef struct {
    unsigned id;
    size_t nhanded;
    void *handed[THREAD_HANDED_MAX];
    size_t sizes[THREAD_HANDED_MAX];
    uint64_t tags[THREAD_HANDED_MAX];
    unsigned long long ops;
} job_t;

static const char *const name = "threads";

static void *thread_main(void *arg)
{
    job_t *j = arg;
    bench_rng_t rng = bench_rng(1000 + j->id);
    void *p[THREAD_BLOCKS];
    size_t size[THREAD_BLOCKS];
    uint64_t tag[THREAD_BLOCKS];
    for (size_t i = 0; i < THREAD_BLOCKS; i++) {
        size[i] = bench_range(&rng, THREAD_MIN_SIZE, THREAD_MAX_SIZE);
        tag[i] = bench_rand(&rng);
        p[i] = bench_malloc(name, size[i]);
        j->ops++;
        bench_fill(p[i], size[i], tag[i]);
    }
    j->nhanded = 0;
    for (size_t i = 0; i < THREAD_BLOCKS; i++) {
        if (i % THREADS_HAND_ONE_IN == 0) {
            j->handed[j->nhanded] = p[i];
            j->sizes[j->nhanded] = size[i];
            j->tags[j->nhanded] = tag[i];
            j->nhanded++;
            continue;
        }
        if (!bench_intact(p[i], size[i], tag[i]))
            bench_fail(name, "thread %u: block %p of %zu bytes was overwritten", j->id, p[i],
                       size[i]);
        free(p[i]);
        j->ops++;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    double scale = bench_scale(name, argc, argv);
    size_t total = bench_scaled(THREADS_TOTAL, scale, THREADS_MIN_TOTAL);
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) || pthread_attr_setstacksize(&attr, THREAD_STACK_BYTES))
        bench_fail(name, "cannot set up thread attributes");
    job_t jobs[THREADS_AT_ONCE];
    pthread_t t[THREADS_AT_ONCE];
    unsigned long long ops = 0;
    size_t started = 0, returned = 0;

    while (started < total) {
        size_t n = 0;
        for (; n < THREADS_AT_ONCE && started < total; n++, started++) {
            jobs[n] = (job_t){.id = (unsigned)started};
            if (pthread_create(&t[n], &attr, thread_main, &jobs[n]))
                bench_fail(name, "pthread_create failed after %zu threads", started);
        }
        for (size_t i = 0; i < n; i++) {
            pthread_join(t[i], NULL);
            ops += jobs[i].ops;
            for (size_t k = 0; k < jobs[i].nhanded; k++) {
                if (!bench_intact(jobs[i].handed[k], jobs[i].sizes[k], jobs[i].tags[k]))
                    bench_fail(name, "a block from exited thread %u was overwritten", jobs[i].id);
                free(jobs[i].handed[k]);
                ops++;
                returned++;
            }
        }
    }
    pthread_attr_destroy(&attr);
    if (returned != total * THREAD_HANDED_MAX)
        bench_fail(name, "%zu blocks came back from %zu threads, expected %zu", returned, total,
                   total * (size_t)THREAD_HANDED_MAX);
    printf("%s ops=%llu\n", name, ops);
    return 0;
}
