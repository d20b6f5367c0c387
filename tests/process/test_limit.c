/* test_limit.c: the heap limit (the address_space build option). Filling the whole range makes
 * every allocating call return NULL with errno = ENOMEM; the program carries on, and after it
 * frees, allocation works again. Pages are never touched, so this costs address space only. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arcalloc.h"
#include "check.h"

enum { MAX_HOLD = 4096 };
static void *held[MAX_HOLD];
static size_t held_count;

int main(void)
{
    malloc_free_kept(1); /* start arcalloc */
    size_t reserved = 0;
    /* Fill with halving sizes: big blocks first, then whatever gaps remain. */
    for (size_t size = (size_t)ARC_ADDRESS_SPACE_BYTES / 8; size >= ((size_t)256 << 10);
         size /= 2) {
        void *p;
        while (held_count < MAX_HOLD && (p = malloc(size)) != NULL) {
            held[held_count++] = p;
            reserved += size;
        }
    }
    printf("held %zu blocks, %zu MiB of a %zu MiB address space\n", held_count, reserved >> 20,
           (size_t)(ARC_ADDRESS_SPACE_BYTES >> 20));
    CHECK(held_count < MAX_HOLD);
    CHECK(reserved >= (size_t)ARC_ADDRESS_SPACE_BYTES / 2);

    /* Medium blocks exhaust the last segments too; then every call says ENOMEM. */
    size_t medium = 0;
    while (medium < 100000 && CHECK_KEEP(malloc(100000)) != NULL)
        medium++;
    CHECK_ERRNO_SET(0);
    CHECK(CHECK_KEEP(malloc(100000)) == NULL && CHECK_ERRNO() == ENOMEM);
    CHECK_ERRNO_SET(0);
    CHECK(CHECK_KEEP(malloc((size_t)1 << 20)) == NULL && CHECK_ERRNO() == ENOMEM);
    CHECK_ERRNO_SET(0);
    CHECK(CHECK_KEEP(calloc(1, (size_t)1 << 20)) == NULL && CHECK_ERRNO() == ENOMEM);
    void *aligned = (void *)1;
    CHECK(posix_memalign(&aligned, (size_t)1 << 20, 4096) == ENOMEM);
    CHECK(aligned == (void *)1);
    void *volatile small = malloc(64);
    CHECK(small != NULL || CHECK_ERRNO() == ENOMEM);
    if (small) {
        memset(small, 1, 64);
        CHECK_ERRNO_SET(0);
        void *grown = realloc(small, (size_t)64 << 20);
        CHECK(grown == NULL && CHECK_ERRNO() == ENOMEM);
        CHECK(((unsigned char *)small)[63] == 1); /* a failed realloc keeps the block */
        free(small);
    }

    /* Carry on: free the biggest block, and the program can allocate again. */
    free(held[0]);
    void *again = malloc((size_t)1 << 20);
    CHECK(again != NULL);
    if (again)
        fill_kept(again, 2, (size_t)1 << 20);
    free(again);
    for (size_t i = 1; i < held_count; i++)
        free(held[i]);
    void *after = malloc((size_t)ARC_ADDRESS_SPACE_BYTES / 8);
    CHECK(after != NULL);
    free(after);
    return check_done();
}
