/* churn.c: single-thread small-object churn. A table of slots; each step frees the block in a
 * random slot (if any) and usually puts a new 8-512 byte block there, so frees come in random
 * order. Verifies every block on free; prints "churn ops=N" (N = malloc + free calls).
 * Never calls the allocator except through the standard malloc family; prints nothing else.
 */
#include "bench.h"

/* Slots in the live table: at 3/4 occupancy about 12 K blocks of 260 B on average, ~3 MiB,
 * more than a 512 KiB L2 holds, so the allocator's metadata locality shows. */
#define CHURN_SLOTS 16384u
/* Steps at scale 1.0: about one second under glibc on the 2-core reference machine. */
#define CHURN_STEPS 8000000u
/* Fewest steps at any scale: enough to fill the table a few times. */
#define CHURN_MIN_STEPS 50000u
#define CHURN_MIN_SIZE  8u
#define CHURN_MAX_SIZE  512u
/* One step in this many leaves its slot empty, so the live count moves instead of sitting
 * at the table size. */
#define CHURN_SKIP_ONE_IN 4u

static const char *const name = "churn";

int main(int argc, char **argv)
{
    double scale = bench_scale(name, argc, argv);
    size_t steps = bench_scaled(CHURN_STEPS, scale, CHURN_MIN_STEPS);
    bench_rng_t rng = bench_rng(1);
    unsigned long long ops = 0;
    bench_slot_t *slots = calloc(CHURN_SLOTS, sizeof *slots);
    if (!slots)
        bench_fail(name, "cannot allocate the slot table");

    for (size_t step = 0; step < steps; step++) {
        uint64_t r = bench_rand(&rng);
        bench_slot_t *s = &slots[r % CHURN_SLOTS];
        if (s->p)
            bench_slot_release(name, s, &ops);
        if ((r >> 32) % CHURN_SKIP_ONE_IN == 0)
            continue;
        s->size = bench_range(&rng, CHURN_MIN_SIZE, CHURN_MAX_SIZE);
        s->tag = bench_rand(&rng);
        s->p = bench_malloc(name, s->size);
        ops++;
        bench_fill(s->p, s->size, s->tag);
    }
    for (size_t i = 0; i < CHURN_SLOTS; i++)
        if (slots[i].p)
            bench_slot_release(name, &slots[i], &ops);
    free(slots);
    printf("%s ops=%llu\n", name, ops);
    return 0;
}
