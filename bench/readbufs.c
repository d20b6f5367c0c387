/* readbufs.c: a server's read buffers. It keeps a set of connections, each with a read buffer of
 * 128 - 384 KiB (above the 128 KiB where glibc and arcalloc serve blocks as page runs of their
 * own) of which a message fills only the first 2 KiB. Each step closes a random connection (its
 * buffer checked and freed) and opens a new one in its place. Most of every buffer is never
 * written, so an allocator that backs the buffers with huge pages clears and keeps 2 MiB where 2
 * KiB are used: the peak RSS and time columns show which do. Checks every buffer's written bytes;
 * prints "readbufs ops=N" (N = malloc + free calls).
 * Never calls the allocator except through the standard malloc family; prints nothing else.
 */
#include "bench.h"

/* Connections open at once at scale 1.0: 4 000 buffers, about 1 GiB of address space; about
 * 40 MB resident under glibc on the reference machine. */
#define READ_SLOTS     4000u
#define READ_MIN_SLOTS 64u
/* Connections replaced at scale 1.0: ten times the open ones. */
#define READ_STEPS     40000u
#define READ_MIN_STEPS 640u
/* A connection's read buffer, and what one message writes of it. */
#define READ_MIN_BUFFER ((size_t)128 << 10)
#define READ_MAX_BUFFER ((size_t)384 << 10)
#define READ_WRITTEN    ((size_t)2 << 10)

static const char *const name = "readbufs";

/* A new connection in slot s: its buffer, with the message's bytes written. */
static void read_open(bench_slot_t *s, bench_rng_t *rng, unsigned long long *ops)
{
    size_t size = bench_range(rng, READ_MIN_BUFFER + 1, READ_MAX_BUFFER);
    bench_slot_put(s, bench_malloc(name, size), READ_WRITTEN, bench_rand(rng), ops);
}

int main(int argc, char **argv)
{
    double scale = bench_scale(name, argc, argv);
    size_t nslots = bench_scaled(READ_SLOTS, scale, READ_MIN_SLOTS);
    size_t steps = bench_scaled(READ_STEPS, scale, READ_MIN_STEPS);
    bench_rng_t rng = bench_rng(0);
    unsigned long long ops = 0;
    bench_slot_t *slots = bench_slots_new(name, nslots);
    for (size_t i = 0; i < nslots; i++)
        read_open(&slots[i], &rng, &ops);
    for (size_t step = 0; step < steps; step++) {
        bench_slot_t *s = &slots[bench_range(&rng, 0, nslots - 1)];
        bench_slot_release(name, s, &ops);
        read_open(s, &rng, &ops);
    }
    bench_slots_free(name, slots, nslots, &ops);
    printf("%s ops=%llu\n", name, ops);
    return 0;
}
