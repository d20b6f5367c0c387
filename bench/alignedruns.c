/* alignedruns.c: buffers aligned beyond a page, as direct I/O, DMA-style rings and SIMD tile
 * buffers ask for them. A table of slots; each step frees the block in a random slot and puts a
 * posix_memalign block there, aligned to 16, 64 or 256 KiB, of 1 to 256 KiB, filled whole. Checks
 * every block's alignment when it is handed out and its bytes when it is freed; prints "alignedruns
 * ops=N" (N = allocation + free calls). Never calls the allocator except through the standard
 * malloc family; prints nothing else.
 */
#include "bench.h"

/* Live table: 256 blocks of about 128 KiB on average, ~32 MiB. */
#define ALIGNEDRUNS_SLOTS 256u
/* Steps at scale 1.0: about half a second under glibc on the 2-core reference machine. */
#define ALIGNEDRUNS_STEPS     12000u
#define ALIGNEDRUNS_MIN_STEPS 1000u
#define ALIGNEDRUNS_MIN_SIZE  (1u << 10)
#define ALIGNEDRUNS_MAX_SIZE  (256u << 10)
/* Alignments in use: 16 KiB, 64 KiB (the most common, twice), 256 KiB. */
static const size_t alignedruns_aligns[] = {16u << 10, 64u << 10, 64u << 10, 256u << 10};
#define ALIGNEDRUNS_ALIGNS (sizeof alignedruns_aligns / sizeof alignedruns_aligns[0])

static const char *const name = "alignedruns";

/* A posix_memalign block of `size` bytes, aligned as the step's random word r says (its bits 32
 * and up). */
static void *alignedruns_block(const char *who, size_t size, uint64_t r)
{
    size_t align = alignedruns_aligns[(r >> 32) % ALIGNEDRUNS_ALIGNS];
    void *p = NULL;
    if (posix_memalign(&p, align, size) != 0)
        p = NULL;
    return bench_aligned_block(who, p, size, align);
}

int main(int argc, char **argv)
{
    const bench_churn_t runs = {.slots = ALIGNEDRUNS_SLOTS,
                                .steps = ALIGNEDRUNS_STEPS,
                                .min_steps = ALIGNEDRUNS_MIN_STEPS,
                                .min_size = ALIGNEDRUNS_MIN_SIZE,
                                .max_size = ALIGNEDRUNS_MAX_SIZE,
                                .alloc = alignedruns_block};
    return bench_churn_main(name, argc, argv, &runs);
}
