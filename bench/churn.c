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

int main(int argc, char **argv)
{
    const bench_churn_t churn = {.slots = CHURN_SLOTS,
                                 .steps = CHURN_STEPS,
                                 .min_steps = CHURN_MIN_STEPS,
                                 .min_size = CHURN_MIN_SIZE,
                                 .max_size = CHURN_MAX_SIZE,
                                 .skip_one_in = CHURN_SKIP_ONE_IN};
    return bench_churn_main("churn", argc, argv, &churn);
}
