/* test_rss.c: RSS follows the live heap. A program that allocates 1 GiB in small blocks and
 * frees them all must come back near where it started; so must one that cycles large blocks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arcalloc.h"
#include "check.h"

enum { MIB = 1 << 20, SLACK = 48 * MIB };

/* 1 GiB of small blocks, or a quarter of the heap limit on the small address_space builds. */
static size_t total_bytes(void)
{
    size_t limit = (size_t)ARC_ADDRESS_SPACE_BYTES / 4, gib = (size_t)1 << 30;
    return limit < gib ? limit : gib;
}

int main(void)
{
    /* Warm up the thread heap so the start figure includes arcalloc's fixed costs. */
    free(malloc(100));
    size_t start = check_rss_bytes();

    const size_t total = total_bytes();
    size_t count = 0, bytes = 0, cap = total / 128; /* sizes average 264 B */
    void **blocks = malloc(cap * sizeof *blocks);
    CHECK(blocks != NULL);
    if (!blocks)
        return check_done();
    unsigned r = 7;
    while (bytes < total && count < cap) {
        r = r * 1103515245 + 12345;
        size_t size = 16 + (r >> 8) % 497;
        blocks[count] = malloc(size);
        if (!blocks[count]) {
            CHECKF(0, "malloc(%zu) failed after %zu MiB", size, bytes / MIB);
            break;
        }
        memset(blocks[count], (int)count, size);
        bytes += size;
        count++;
    }
    size_t peak = check_rss_bytes();
    /* Free in an interleaved order, as real programs do. */
    for (size_t i = 0; i < count; i += 2)
        free(blocks[i]);
    for (size_t i = 1; i < count; i += 2)
        free(blocks[i]);
    free(blocks);
    size_t after = check_rss_bytes();
    printf(
        "small blocks: %zu blocks, %zu MiB; RSS start %zu MiB, peak %zu MiB, after free %zu MiB\n",
        count, bytes / MIB, start / MIB, peak / MIB, after / MIB);
    CHECK(peak >= start + total / 2); /* the blocks were really resident */
    CHECKF(after <= start + SLACK, "RSS after freeing 1 GiB: %zu MiB (start %zu MiB)", after / MIB,
           start / MIB);

    /* Large blocks: 64 rounds of 16 MiB blocks, touched and freed. */
    for (int round = 0; round < 64; round++) {
        char *p = malloc(16 * MIB);
        memset(p, round, 16 * MIB);
        free(p);
    }
    size_t after_large = check_rss_bytes();
    printf("large blocks: RSS after 64 x 16 MiB %zu MiB\n", after_large / MIB);
    CHECK(after_large <= start + SLACK);
    return check_done();
}
