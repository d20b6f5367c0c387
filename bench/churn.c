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

static void *churn_block(const char *who, size_t size, uint64_t r)
{
    (void)r;
    return bench_malloc(who, size);
}

int main(int argc, char **argv)
{
    double scale = bench_scale(name, argc, argv);
    size_t steps = bench_scaled(CHURN_STEPS, scale, CHURN_MIN_STEPS);
    unsigned long long ops = bench_slot_churn(name, CHURN_SLOTS, steps, CHURN_MIN_SIZE,
                                              CHURN_MAX_SIZE, CHURN_SKIP_ONE_IN, churn_block);
    printf("%s ops=%llu\n", name, ops);
    return 0;
}
