/* prodcons.c: producer/consumer. One thread allocates and fills blocks and passes them through
 * a single-producer single-consumer ring to a second thread, which checks and frees them, so
 * every free is a remote free. Prints "prodcons ops=N" (N = malloc + free calls).
 * Never calls the allocator except through the standard malloc family; prints nothing else.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "bench.h"

/* Blocks passed at scale 1.0: about one second under glibc on the reference machine. */
#define PRODCONS_BLOCKS     6000000u
#define PRODCONS_MIN_BLOCKS 20000u
/* Ring slots: a power of two (the index mask below); 4096 blocks in flight lets the producer
 * run ahead of the consumer by a few hundred KiB, as a real queue would. */
#define RING_SLOTS 4096u
_Static_assert((RING_SLOTS & (RING_SLOTS - 1)) == 0, "RING_SLOTS must be a power of two");
#define PRODCONS_MIN_SIZE 16u
#define PRODCONS_MAX_SIZE 1024u

typedef struct {
    void *p;
    size_t size;
} item_t;

typedef struct {
    item_t slots[RING_SLOTS];
    _Alignas(64) atomic_size_t head; /* next slot the consumer reads; own cache line */
    _Alignas(64) atomic_size_t tail; /* next slot the producer writes; own cache line */
    size_t blocks;
} ring_t;

static const char *const name = "prodcons";

/* Tag of the i-th block: the consumer recomputes it to check order and content. */
static uint64_t block_tag(size_t i)
{
    return (uint64_t)i * 0x9E3779B97F4A7C15ULL + 1;
}

static void *producer(void *arg)
{
    ring_t *q = arg;
    bench_rng_t rng = bench_rng(3);
    for (size_t i = 0; i < q->blocks; i++) {
        size_t size = bench_range(&rng, PRODCONS_MIN_SIZE, PRODCONS_MAX_SIZE);
        void *p = bench_malloc(name, size);
        bench_fill(p, size, block_tag(i));
        size_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
        while (tail - atomic_load_explicit(&q->head, memory_order_acquire) == RING_SLOTS)
            sched_yield();
        q->slots[tail & (RING_SLOTS - 1)] = (item_t){p, size};
        atomic_store_explicit(&q->tail, tail + 1, memory_order_release);
    }
    return NULL;
}

static void *consumer(void *arg)
{
    ring_t *q = arg;
    for (size_t i = 0; i < q->blocks; i++) {
        size_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
        while (atomic_load_explicit(&q->tail, memory_order_acquire) == head)
            sched_yield();
        item_t it = q->slots[head & (RING_SLOTS - 1)];
        atomic_store_explicit(&q->head, head + 1, memory_order_release);
        if (!bench_intact(it.p, it.size, block_tag(i)))
            bench_fail(name, "block %zu (%p, %zu bytes) arrived overwritten or out of order", i,
                       it.p, it.size);
        free(it.p);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    double scale = bench_scale(name, argc, argv);
    ring_t *q = aligned_alloc(64, sizeof *q);
    if (!q)
        bench_fail(name, "cannot allocate the ring");
    q->blocks = bench_scaled(PRODCONS_BLOCKS, scale, PRODCONS_MIN_BLOCKS);
    atomic_init(&q->head, 0);
    atomic_init(&q->tail, 0);

    pthread_t prod, cons;
    if (pthread_create(&cons, NULL, consumer, q) || pthread_create(&prod, NULL, producer, q))
        bench_fail(name, "pthread_create failed");
    pthread_join(prod, NULL);
    pthread_join(cons, NULL);
    if (atomic_load(&q->head) != q->blocks || atomic_load(&q->tail) != q->blocks)
        bench_fail(name, "ring ended at head %zu tail %zu, expected %zu", atomic_load(&q->head),
                   atomic_load(&q->tail), q->blocks);
    printf("%s ops=%zu\n", name, 2 * q->blocks);
    free(q);
    return 0;
}
