/* aligned.c: over-aligned small blocks, as C++ objects declared alignas(32) or alignas(64) and
 * SIMD buffers ask for them. A table of slots; each step frees the block in a random slot and
 * puts an aligned_alloc or posix_memalign block of 16 B - 1 KiB there, aligned to 32, 64 or 128
 * bytes. Checks every block's alignment when it is handed out and its bytes when it is freed;
 * prints "aligned ops=N" (N = allocation + free calls).
 * Never calls the allocator except through the standard malloc family; prints nothing else.
 */
#include "bench.h"

/* Live table: 4 096 blocks of about 520 B on average, ~2 MiB, more than the L2 holds. */
#define ALIGNED_SLOTS 4096u
/* Steps at scale 1.0: about half a second under glibc on the 2-core reference machine. */
#define ALIGNED_STEPS     3000000u
#define ALIGNED_MIN_STEPS 20000u
#define ALIGNED_MIN_SIZE  16u
#define ALIGNED_MAX_SIZE  1024u
/* Alignments in use: 32 (AVX vectors), 64 (cache lines, the most common alignas), 128. */
static const size_t aligned_aligns[] = {32, 64, 64, 128};
#define ALIGNED_ALIGNS (sizeof aligned_aligns / sizeof aligned_aligns[0])

static const char *const name = "aligned";

/* An aligned_alloc (size rounded to the alignment, as C11 asks) or posix_memalign block, by
 * the step's random word: the alignment from bits 32 and up, the call from bit 40. */
static void *aligned_block(const char *who, size_t size, uint64_t r)
{
    size_t align = aligned_aligns[(r >> 32) % ALIGNED_ALIGNS];
    void *p = NULL;
    if ((r >> 40) & 1) {
        if (posix_memalign(&p, align, size) != 0)
            p = NULL;
    } else {
        p = aligned_alloc(align, (size + align - 1) / align * align);
    }
    return bench_aligned_block(who, p, size, align);
}

int main(int argc, char **argv)
{
    const bench_churn_t aligned = {.slots = ALIGNED_SLOTS,
                                   .steps = ALIGNED_STEPS,
                                   .min_steps = ALIGNED_MIN_STEPS,
                                   .min_size = ALIGNED_MIN_SIZE,
                                   .max_size = ALIGNED_MAX_SIZE,
                                   .alloc = aligned_block};
    return bench_churn_main(name, argc, argv, &aligned);
}
