/* test_rss.c: RSS follows the live heap. A program that allocates 1 GiB in small blocks and
 * frees them all must come back within 10 % of where it started; so must one that cycles large
 * blocks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arcalloc.h"
#include "check.h"

enum { KIB = 1 << 10, MIB = 1 << 20 };

/* The target: after a phase that frees everything, RSS is back within 10 % of its start. */
static size_t start_plus_tenth(size_t start)
{
    return start + start / 10;
}

/* 1 GiB of small blocks, or a quarter of the heap limit on the small address_space builds. */
static size_t total_bytes(void)
{
    size_t limit = (size_t)ARC_ADDRESS_SPACE_BYTES / 4, gib = (size_t)1 << 30;
    return limit < gib ? limit : gib;
}

/* Allocates about `total` bytes of 16..512-byte blocks into blocks[] (at most cap of them) and
 * fills each; returns how many, their bytes in *bytes. */
static size_t fill_small(void **blocks, size_t cap, size_t total, size_t *bytes)
{
    size_t count = 0;
    unsigned r = 7;
    *bytes = 0;
    while (*bytes < total && count < cap) {
        r = r * 1103515245 + 12345;
        size_t size = 16 + (r >> 8) % 497;
        blocks[count] = malloc(size);
        if (!blocks[count]) {
            CHECKF(0, "malloc(%zu) failed after %zu MiB", size, *bytes / MIB);
            break;
        }
        memset(blocks[count], (int)count, size);
        *bytes += size;
        count++;
    }
    return count;
}

/* Frees blocks[0..count) in an interleaved order, as real programs do. */
static void free_interleaved(void **blocks, size_t count)
{
    for (size_t i = 0; i < count; i += 2)
        free(blocks[i]);
    for (size_t i = 1; i < count; i += 2)
        free(blocks[i]);
}

int main(void)
{
    /* A first, small phase (256 KiB, within the heap's first segment): the start figure then
     * includes arcalloc's fixed costs and the C library code a phase runs (memset), so what is
     * compared is what the big phase leaves behind. */
    enum { WARM_BLOCKS = 2048, WARM_BYTES = 256 * KIB };
    static void *warm[WARM_BLOCKS];
    size_t warm_bytes;
    free_interleaved(warm, fill_small(warm, WARM_BLOCKS, WARM_BYTES, &warm_bytes));
    size_t start = check_rss_bytes();

    const size_t total = total_bytes();
    size_t bytes, cap = total / 128; /* sizes average 264 B */
    void **blocks = malloc(cap * sizeof *blocks);
    CHECK(blocks != NULL);
    if (!blocks)
        return check_done();
    size_t count = fill_small(blocks, cap, total, &bytes);
    size_t peak = check_rss_bytes();
    free_interleaved(blocks, count);
    free(blocks);
    size_t after = check_rss_bytes();
    printf(
        "small blocks: %zu blocks, %zu MiB; RSS start %zu KiB, peak %zu MiB, after free %zu KiB\n",
        count, bytes / MIB, start / KIB, peak / MIB, after / KIB);
    CHECK(peak >= start + total / 2); /* the blocks were really resident */
    CHECKF(after <= start_plus_tenth(start), "RSS after freeing 1 GiB: %zu KiB (start %zu KiB)",
           after / KIB, start / KIB);

    /* Large blocks: 64 rounds of 16 MiB blocks, touched and freed. */
    for (int round = 0; round < 64; round++) {
        char *p = malloc(16 * MIB);
        memset(p, round, 16 * MIB);
        free(p);
    }
    size_t after_large = check_rss_bytes();
    printf("large blocks: RSS after 64 x 16 MiB %zu KiB\n", after_large / KIB);
    CHECKF(after_large <= start_plus_tenth(start),
           "RSS after the large blocks: %zu KiB (start %zu KiB)", after_large / KIB, start / KIB);
    return check_done();
}
