/* test_oom.c: running out of memory mid-workload. RLIMIT_AS caps the process before arcalloc
 * starts, so arcalloc reserves what the OS allows; the workload then allocates and writes mixed
 * sizes until arcalloc says no. Every call must then return NULL with errno = ENOMEM, nothing
 * may crash, no block may lose its contents, and after freeing the program allocates again. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <pthread.h>
#include <unistd.h>

#include "arcalloc.h"
#include "check.h"
#include "libc_names.h"

enum { MAX_BLOCKS = 1 << 20 };
static unsigned char *blocks[MAX_BLOCKS];
static size_t sizes[MAX_BLOCKS];

static size_t pick(unsigned *r)
{
    *r = *r * 1103515245 + 12345;
    unsigned k = (*r >> 16) % 100;
    if (k < 80)
        return 16 + (*r >> 4) % 1000;
    if (k < 97)
        return 1024 + (*r >> 4) % 100000;
    return ((size_t)256 << 10) + (*r >> 4) % ((size_t)4 << 20);
}

/* The process's mapped bytes now (/proc/self/statm's first field), read without stdio: fopen
 * would malloc, starting arcalloc before the limit is set. */
static size_t mapped_bytes(void)
{
    char buf[64] = {0};
    int fd = open("/proc/self/statm", O_RDONLY);
    if (fd < 0)
        return 0;
    ssize_t got = read(fd, buf, sizeof buf - 1);
    close(fd);
    return got > 0 ? (size_t)strtoul(buf, NULL, 10) * (size_t)sysconf(_SC_PAGESIZE) : 0;
}

static void *thread_touch(void *arg)
{
    unsigned char *p = malloc(4096);
    if (p)
        memset(p, 7, 4096);
    *(unsigned char **)arg = p;
    return NULL;
}

/* A tight RLIMIT_AS, set before arcalloc starts: TIGHT_ROOM bytes beyond what the process maps.
 * arcalloc must fit its window inside that room, reserve no more of it than the heap uses (so the
 * program's own big mapping fits at the start), grow the window as the heap grows, past the
 * three quarters of the room it once took at start-up and kept as its limit, and say ENOMEM when
 * the room is used up, with every block intact, and serve again once blocks are freed. A thread
 * starts (its 8 MiB stack comes from the room left) and the program maps memory of its own. */
enum { TIGHT_ROOM = 96 << 20, TIGHT_OWN_MAP = 8 << 20, TIGHT_EARLY_MAP = 48 << 20 };
/* The heap the room must hold before ENOMEM: more than the window fixed at start-up had, three
 * quarters of the room (less the page allocator's whole state, which that window needed: 2 MiB
 * in the 64g build, 32 MiB in the 1t one). */
#define TIGHT_HEAP ((size_t)TIGHT_ROOM / 4 * 3)
/* Blocks of the filling phase: 8 KiB - 72 KiB, so segments and large runs both grow. */
#define TIGHT_BLOCK_MIN ((size_t)8 << 10)

static int tight(void)
{
    size_t limit = mapped_bytes() + TIGHT_ROOM;
    struct rlimit lim = {(rlim_t)limit, (rlim_t)limit};
    CHECK(setrlimit(RLIMIT_AS, &lim) == 0);
    unsigned char *first = malloc(100);
    CHECKF(first != NULL, "malloc(100) under a %d MiB room: NULL", TIGHT_ROOM >> 20);
    struct arc_stats st;
    arc_stats_get(&st);
    printf("tight: window %llu MiB of a %d MiB room at start\n",
           (unsigned long long)(st.address_space_bytes >> 20), TIGHT_ROOM >> 20);
    CHECK(st.address_space_bytes >= ((uint64_t)8 << 20) &&
          st.address_space_bytes <= (uint64_t)TIGHT_ROOM / 4 * 3);
    /* Half the room for the program's own mapping, at once: a window that took three quarters
     * of the room at start-up left it a quarter. */
    void *early =
        mmap(NULL, TIGHT_EARLY_MAP, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECKF(early != MAP_FAILED, "the program's own %d MiB mapping at start was refused",
           TIGHT_EARLY_MAP >> 20);
    if (early != MAP_FAILED)
        munmap(early, TIGHT_EARLY_MAP);
    size_t n = 0, bytes = 0;
    unsigned r = 7;
    while (bytes < ((size_t)16 << 20) && n < MAX_BLOCKS) {
        size_t size = pick(&r) % (64 << 10) + 1;
        blocks[n] = malloc(size);
        if (!blocks[n])
            break;
        memset(blocks[n], (int)(n & 0xff), size);
        sizes[n++] = size;
        bytes += size;
    }
    CHECKF(bytes >= ((size_t)16 << 20), "only %zu KiB allocated under the tight limit",
           bytes >> 10);
    pthread_t t;
    unsigned char *from_thread = NULL;
    int started = pthread_create(&t, NULL, thread_touch, &from_thread);
    CHECKF(started == 0, "pthread_create under the tight limit: %d", started);
    if (started == 0)
        pthread_join(t, NULL);
    CHECK(from_thread != NULL && from_thread[4095] == 7);
    free(from_thread);
    void *own =
        mmap(NULL, TIGHT_OWN_MAP, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECKF(own != MAP_FAILED, "the program's own %d MiB mapping was refused", TIGHT_OWN_MAP >> 20);
    if (own != MAP_FAILED)
        munmap(own, TIGHT_OWN_MAP);
    /* Filling the room: the window grows until the cap says no, then ENOMEM. */
    size_t filled_from = n;
    for (;;) {
        size_t size = TIGHT_BLOCK_MIN + pick(&r) % ((size_t)64 << 10);
        if (n == MAX_BLOCKS)
            break;
        CHECK_ERRNO_SET(0);
        blocks[n] = malloc(size);
        if (!blocks[n]) {
            CHECK(CHECK_ERRNO() == ENOMEM);
            break;
        }
        memset(blocks[n], (int)(n & 0xff), size);
        sizes[n++] = size;
        bytes += size;
    }
    arc_stats_get(&st);
    printf("tight: %zu MiB allocated, window %llu MiB\n", bytes >> 20,
           (unsigned long long)(st.address_space_bytes >> 20));
    CHECKF(bytes > TIGHT_HEAP, "%zu MiB allocated before ENOMEM, not past %zu MiB", bytes >> 20,
           TIGHT_HEAP >> 20);
    /* Running out: ENOMEM, blocks intact. */
    CHECK_ERRNO_SET(0);
    CHECK(CHECK_KEEP(malloc((size_t)TIGHT_ROOM)) == NULL && CHECK_ERRNO() == ENOMEM);
    int intact = 1;
    for (size_t i = 0; i < n; i++)
        intact &= blocks[i][0] == (unsigned char)(i & 0xff) &&
                  blocks[i][sizes[i] - 1] == (unsigned char)(i & 0xff);
    CHECK(intact);
    /* The blocks of the filling phase freed: the same sizes fit again. */
    for (size_t i = filled_from; i < n; i++)
        free(blocks[i]);
    size_t again = 0;
    for (size_t i = filled_from; i < n; i++) {
        blocks[i] = malloc(sizes[i]);
        again += blocks[i] != NULL;
    }
    /* Nine in ten, as in main below: the freed pages fit the same sizes but in another order
     * (secure mode also keeps freed blocks in quarantine a while). */
    CHECKF(again >= (n - filled_from) / 10 * 9, "after freeing, %zu of %zu blocks allocated again",
           again, n - filled_from);
    for (size_t i = 0; i < n; i++)
        free(blocks[i]);
    free(first);
    return check_done();
}

/* Under the same tight cap, one block grown by realloc a MiB at a time: at the window's end it
 * grows in place, the window growing under it, so it gets past three quarters of the room. A
 * window that could not grow under it made each step a move, which needs the old block's range
 * and the new one's at once: it stopped near half the room. Every step keeps the contents. */
#define TIGHT_STEP ((size_t)1 << 20)

static int tight_realloc(void)
{
    size_t limit = mapped_bytes() + TIGHT_ROOM;
    struct rlimit lim = {(rlim_t)limit, (rlim_t)limit};
    CHECK(setrlimit(RLIMIT_AS, &lim) == 0);
    size_t size = TIGHT_STEP;
    unsigned char *p = malloc(size);
    CHECK(p != NULL);
    if (!p)
        return check_done();
    memset(p, 0x5a, size);
    int intact = 1;
    for (;;) {
        CHECK_ERRNO_SET(0);
        unsigned char *q = realloc(p, size + TIGHT_STEP);
        if (!q) {
            CHECK(CHECK_ERRNO() == ENOMEM);
            break;
        }
        intact &= q[0] == 0x5a && q[size / 2] == 0x5a && q[size - 1] == 0x5a;
        memset(q + size, 0x5a, TIGHT_STEP);
        p = q;
        size += TIGHT_STEP;
    }
    printf("tight_realloc: one block grown to %zu MiB\n", size >> 20);
    CHECK(intact);
    CHECKF(size > TIGHT_HEAP, "realloc stopped at %zu MiB, not past %zu MiB", size >> 20,
           TIGHT_HEAP >> 20);
    free(p);
    return check_done();
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "tight") == 0)
        return tight();
    if (argc > 1 && strcmp(argv[1], "tight_realloc") == 0)
        return tight_realloc();
    /* 768 MiB of address space for everything: code, stacks, arcalloc's reservation. */
    struct rlimit lim = {(rlim_t)768 << 20, (rlim_t)768 << 20};
    CHECK(setrlimit(RLIMIT_AS, &lim) == 0);

    size_t n = 0, bytes = 0;
    unsigned r = 99;
    int failed_errno = 0;
    while (n < MAX_BLOCKS) {
        size_t size = pick(&r);
        CHECK_ERRNO_SET(0);
        unsigned char *p = malloc(size);
        if (!p) {
            failed_errno = CHECK_ERRNO();
            break;
        }
        memset(p, (int)(n & 0xff), size);
        blocks[n] = p;
        sizes[n] = size;
        bytes += size;
        n++;
    }
    printf("allocated %zu blocks, %zu MiB before running out\n", n, bytes >> 20);
    CHECK(n > 1000 && n < MAX_BLOCKS);
    CHECK(failed_errno == ENOMEM);

    /* Out of memory: every allocating call says so, and the program carries on. */
    CHECK_ERRNO_SET(0);
    CHECK(CHECK_KEEP(malloc((size_t)64 << 20)) == NULL && CHECK_ERRNO() == ENOMEM);
    CHECK_ERRNO_SET(0);
    CHECK(CHECK_KEEP(calloc(1, (size_t)64 << 20)) == NULL && CHECK_ERRNO() == ENOMEM);
    void *aligned = NULL;
    CHECK(posix_memalign(&aligned, 4096, (size_t)64 << 20) == ENOMEM);
    CHECK_ERRNO_SET(0);
    unsigned char *grown = realloc(blocks[0], (size_t)256 << 20);
    CHECK(grown == NULL && CHECK_ERRNO() == ENOMEM);

    /* Nothing lost: every block still holds its pattern. */
    int intact = 1;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < sizes[i]; k += 97)
            intact &= blocks[i][k] == (unsigned char)(i & 0xff);
    CHECK(intact);

    /* Free every other block: allocation works again, for the sizes freed. */
    for (size_t i = 0; i < n; i += 2) {
        free(blocks[i]);
        blocks[i] = NULL;
    }
    size_t again = 0;
    for (size_t i = 0; i < n; i += 2) {
        blocks[i] = malloc(sizes[i]);
        if (blocks[i]) {
            memset(blocks[i], 1, sizes[i]);
            again++;
        }
    }
    printf("after freeing half: %zu of %zu blocks allocated again\n", again, (n + 1) / 2);
    CHECK(again >= (n + 1) / 2 * 9 / 10);
    for (size_t i = 0; i < n; i++)
        free(blocks[i]);
    /* The heap held far more than 8 segments, so freeing everything gave them all back but
     * the one malloc took since (heap.h: ARC_HEAP_EMPTIED_AFTER_SEGMENTS); malloc_trim then has
     * at most dirty large pages to purge, and a second call finds nothing. */
    struct arc_stats st;
    arc_stats_get(&st);
    size_t before_trim = (size_t)st.segment_bytes;
    CHECK(before_trim <= ((size_t)1 << 20));
    CHECK(malloc_trim(0) <= 1);
    CHECK(malloc_trim(0) == 0);
    arc_stats_get(&st);
    printf("after freeing all: %zu KiB in segments, %zu KiB after malloc_trim\n", before_trim >> 10,
           (size_t)st.segment_bytes >> 10);
    CHECK(st.segment_bytes <= ((uint64_t)2 << 20));
    void *big = malloc((size_t)64 << 20);
    CHECK(big != NULL);
    free(big);
    return check_done();
}
