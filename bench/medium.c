/* medium.c: single-thread churn of medium blocks, 1-16 KiB (I/O buffers, strings, arrays): a
 * table of slots, each step frees the block in a random slot and usually puts a new one of a
 * random size there. Verifies every block on free; prints "medium ops=N" (N = malloc + free
 * calls). Never calls the allocator except through the standard malloc family; prints nothing
 * else.
 */
#include "bench.h"

static const bench_churn_t medium = {
    /* At 3/4 occupancy about 1.5 K blocks of 8.7 KiB on average: ~13 MiB live. */
    .slots = 2048,
    /* About one second under glibc on the 2-core reference machine at scale 1.0. */
    .steps = 4000000,
    /* Enough to fill the table many times at any scale. */
    .min_steps = 20000,
    /* Sizes just above the small blocks of most allocators' front caches, to four pages. */
    .min_size = 1025,
    .max_size = 16384,
    /* One step in four leaves its slot empty, so the live count moves. */
    .skip_one_in = 4,
};

int main(int argc, char **argv)
{
    return bench_churn_main("medium", argc, argv, &medium);
}
