/* pairs.c: the allocator's fastest path alone. For every size from 16 B to 1 KiB in 16-byte
 * steps, malloc a block, write its first and last byte, free it, many times over; checks the
 * bytes survive until the free. Prints "pairs ops=N" (N = malloc + free calls).
 * Never calls the allocator except through malloc and free; prints nothing else.
 */
#include "bench.h"

/* Sizes: 16, 32, ..., 1024 (the small sizes every allocator serves from a thread cache). */
#define PAIRS_MIN_SIZE 16u
#define PAIRS_MAX_SIZE 1024u
#define PAIRS_STEP     16u
/* Pairs per size at scale 1.0: about half a second under glibc on the reference machine. */
#define PAIRS_PER_SIZE 400000u
#define PAIRS_MIN      1000u

static const char *const name = "pairs";

int main(int argc, char **argv)
{
    double scale = bench_scale(name, argc, argv);
    size_t per_size = bench_scaled(PAIRS_PER_SIZE, scale, PAIRS_MIN);
    unsigned long long ops = 0;
    for (size_t size = PAIRS_MIN_SIZE; size <= PAIRS_MAX_SIZE; size += PAIRS_STEP) {
        for (size_t i = 0; i < per_size; i++) {
            unsigned char *p = malloc(size);
            if (!p)
                bench_fail(name, "malloc(%zu) returned NULL", size);
            p[0] = (unsigned char)i;
            p[size - 1] = (unsigned char)(i >> 8);
            if (p[0] != (unsigned char)i || p[size - 1] != (unsigned char)(i >> 8))
                bench_fail(name, "block %p of %zu bytes lost a byte", (void *)p, size);
            free(p);
            ops += 2;
        }
    }
    printf("%s ops=%llu\n", name, ops);
    return 0;
}
