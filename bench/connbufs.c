/* connbufs.c: a server's memory as it runs. At start-up it builds an index table and fills it;
 * then it keeps a set of connections, each with a 64 KiB receive buffer of which a request fills
 * only the first 2 KiB. Each step closes a random connection (its buffer checked and freed) and
 * opens a new one in its place, with a short-lived header string made and freed around it. Most
 * of every buffer is never written, so an allocator that backs the buffers with huge pages keeps
 * 64 KiB resident where 2-4 KiB are used: the peak RSS column shows which do. Checks the table
 * and every buffer's written bytes; prints "connbufs ops=N" (N = malloc + free calls).
 * Never calls the allocator except through the standard malloc family; prints nothing else.
 */
#include "bench.h"

/* The index table built at start-up: 4 MiB, past the 3 MiB of arcalloc's huge page threshold
 * (src/process/arena.h), filled before the first connection. */
#define CONN_TABLE ((size_t)4 << 20)
/* Connections open at once at scale 1.0: 20 000 buffers, 1.25 GiB of address space; about
 * 130 MB resident under glibc on the reference machine. */
#define CONN_SLOTS     20000u
#define CONN_MIN_SLOTS 256u
/* Connections replaced at scale 1.0: ten times the open ones. */
#define CONN_STEPS     200000u
#define CONN_MIN_STEPS 2560u
/* A connection's receive buffer, and what one request writes of it. */
#define CONN_BUFFER  ((size_t)64 << 10)
#define CONN_WRITTEN ((size_t)2 << 10)
/* The header string made per step (without its terminator). */
#define CONN_MIN_HEADER 16u
#define CONN_MAX_HEADER 200u

static const char *const name = "connbufs";

/* CONN_MAX_HEADER letters: a header of length n is its last n characters. */
static char source[CONN_MAX_HEADER + 1];

/* A header string: made, checked and freed within the step. */
static void header_round(bench_rng_t *rng, unsigned long long *ops)
{
    size_t len = bench_range(rng, CONN_MIN_HEADER, CONN_MAX_HEADER);
    char *s = bench_malloc(name, len + 1);
    memcpy(s, source + CONN_MAX_HEADER - len, len + 1);
    if (strlen(s) != len || s[0] != source[CONN_MAX_HEADER - len])
        bench_fail(name, "header string %p of %zu bytes lost its bytes", (void *)s, len);
    free(s);
    *ops += 2;
}

/* A new connection in slot s: its buffer, with the request's bytes written. */
static void conn_open(bench_slot_t *s, uint64_t tag, unsigned long long *ops)
{
    bench_slot_put(s, bench_malloc(name, CONN_BUFFER), CONN_WRITTEN, tag, ops);
}

int main(int argc, char **argv)
{
    double scale = bench_scale(name, argc, argv);
    size_t nslots = bench_scaled(CONN_SLOTS, scale, CONN_MIN_SLOTS);
    size_t steps = bench_scaled(CONN_STEPS, scale, CONN_MIN_STEPS);
    for (size_t i = 0; i < CONN_MAX_HEADER; i++)
        source[i] = (char)('a' + i % 26);
    bench_rng_t rng = bench_rng(0);
    unsigned long long ops = 0;

    void *table = bench_malloc(name, CONN_TABLE);
    bench_fill(table, CONN_TABLE, BENCH_SEED);
    ops++;
    bench_slot_t *slots = bench_slots_new(name, nslots);
    for (size_t i = 0; i < nslots; i++)
        conn_open(&slots[i], bench_rand(&rng), &ops);
    for (size_t step = 0; step < steps; step++) {
        bench_slot_t *s = &slots[bench_range(&rng, 0, nslots - 1)];
        header_round(&rng, &ops);
        bench_slot_release(name, s, &ops);
        conn_open(s, bench_rand(&rng), &ops);
    }
    bench_slots_free(name, slots, nslots, &ops);
    if (!bench_intact(table, CONN_TABLE, BENCH_SEED))
        bench_fail(name, "the index table %p was overwritten", table);
    free(table);
    ops++;
    printf("%s ops=%llu\n", name, ops);
    return 0;
}
