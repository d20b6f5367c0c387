/* sec_case.c: one case of arcalloc's security matrix (tests/security/matrix.py). It commits one
 * kind of heap misuse on a block of the size it is given, or checks one hardening property, and
 * says how it ended. It owns only the misuse: it links nothing but libc, so the runner can put
 * arcalloc (or any other malloc) under it with LD_PRELOAD, one process per case.
 *
 *   sec_case KIND SIZE
 *
 * Ending, read by the runner from the exit status:
 * - killed by a signal (SIGSEGV, SIGBUS, SIGABRT, ...): the allocator or the hardware stopped
 *   the misuse: caught;
 * - exit CASE_HOLDS: the property the case checks holds (memory zeroed, block not handed out
 *   again at once, heap not executable, impossible request refused): caught;
 * - exit CASE_MISSED (0): the program ran to completion with the misuse undetected: missed;
 * - exit CASE_SETUP: the case could not be set up (bad arguments, a normal request refused).
 * Before a normal exit it writes one line on stdout saying what it saw. No stdio stream is used
 * and exit() is never called: after a misuse the heap may be corrupt, so the line is written
 * with write(2) from static storage and the process ends with _exit(2). */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Exit statuses (see the header comment); 0 is "ran to completion". */
#define CASE_MISSED 0
#define CASE_HOLDS  40
#define CASE_SETUP  41

/* Distances of the overflow and underflow cases. */
#define DIST_BYTE  ((size_t)1)
#define DIST_SMALL ((size_t)32)
#define DIST_MIB   ((size_t)1 << 20)

/* The largest block size a case accepts (the matrix uses 8 B, 4 KiB and 256 KiB). */
#define SIZE_LIMIT ((size_t)1 << 20)

/* Byte values the cases write: the block's own contents, what an overflow or underflow writes,
 * and what a write after free writes. Distinct and nonzero, so each can be recognised. */
#define FILL_BYTE  0xa5
#define SMASH_BYTE 0x5a
#define STALE_BYTE 0x3c

/* Rounds of the just-freed case: one block handed straight back in any round is a miss (an
 * allocator that picks among free blocks at random still hands it back in some round). */
#define REUSE_ROUNDS 32
/* Write after free with reuse: blocks of the same size allocated (and kept) while waiting for
 * the freed one to come back, at most REUSE_TRIES of them and REUSE_BUDGET bytes in all. */
#define REUSE_TRIES  4096
#define REUSE_BUDGET ((size_t)64 << 20)

/* A pointer that was never allocated points this far into a mapping of its own, so an
 * allocator that reads a header just before it reads mapped zeroes. */
#define NEVER_OFFSET 64

/* /proc/self/maps is read in chunks of MAPS_CHUNK bytes; a line of it is kept up to MAPS_LINE
 * bytes (longer path names are cut, the address range and permissions come first). */
#define MAPS_CHUNK 4096
#define MAPS_LINE  512
/* The longest result line built at run time (the errno of a refused request). */
#define RESULT_LINE 128

/* Every pointer a misuse goes through passes this volatile, so the compiler can neither see
 * the misuse (and warn, or drop it) nor fold a malloc and free pair away. */
static void *volatile sink;

static void *launder(void *p)
{
    sink = p;
    return sink;
}

/* A freed block's address, stored before the free and read back after it, for the same reason
 * (and so that gcc's use-after-free warning, an error here, does not see the deliberate use). */
static void *volatile kept;

static void free_keeping(void *p)
{
    kept = p;
    free(p);
}

static void say(const char *line)
{
    size_t len = strlen(line);
    while (len > 0) {
        ssize_t n = write(STDOUT_FILENO, line, len);
        if (n <= 0)
            return;
        line += n;
        len -= (size_t)n;
    }
}

static _Noreturn void finish(int status, const char *line)
{
    say(line);
    say("\n");
    _exit(status);
}

/* A block of `size` bytes from malloc filled with FILL_BYTE; ends the case when refused. */
static char *filled_block(size_t size)
{
    char *p = malloc(size);
    if (!p)
        finish(CASE_SETUP, "setup: malloc refused a normal request");
    memset(p, FILL_BYTE, size);
    return launder(p);
}

/* Memory from mmap (never from the allocator under test), readable and writable. */
static char *mapped(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        finish(CASE_SETUP, "setup: mmap failed");
    return p;
}

static bool all_zero(const volatile char *p, size_t size)
{
    for (size_t i = 0; i < size; i++) {
        if (p[i] != 0)
            return false;
    }
    return true;
}

static bool any_byte(const volatile char *p, size_t size, int value)
{
    for (size_t i = 0; i < size; i++) {
        if ((unsigned char)p[i] == (unsigned char)value)
            return true;
    }
    return false;
}

/* ---- frees ------------------------------------------------------------------------------- */

static void double_free(size_t size)
{
    free_keeping(filled_block(size));
    free(kept);
    finish(CASE_MISSED, "missed: the second free returned");
}

static void free_interior(size_t size)
{
    char *p = filled_block(size);
    free(launder(p + size / 2));
    finish(CASE_MISSED, "missed: free of the block's middle returned");
}

static void free_never(size_t size)
{
    char *region = mapped(size + NEVER_OFFSET);
    free(launder(region + NEVER_OFFSET));
    finish(CASE_MISSED, "missed: free of a pointer malloc never returned returned");
}

/* ---- overflows and underflows --------------------------------------------------------------
 * The block is written past its requested size (overflow) or before its start (underflow) by
 * `dist` bytes, byte by byte outward from the block, or with one memcpy over the block and the
 * bytes beyond it; then it is freed, as the program would. */

static void overflow(size_t size, size_t dist, bool use_memcpy)
{
    char *p = filled_block(size);
    if (use_memcpy) {
        char *src = mapped(size + dist);
        memset(src, SMASH_BYTE, size + dist);
        memcpy(launder(p), src, size + dist);
    } else {
        volatile char *v = launder(p);
        for (size_t i = 0; i < dist; i++)
            v[size + i] = (char)SMASH_BYTE;
    }
    free(p);
    finish(CASE_MISSED, "missed: overflow written and the block freed");
}

static void underflow(size_t size, size_t dist, bool use_memcpy)
{
    char *p = filled_block(size);
    if (use_memcpy) {
        char *src = mapped(size + dist);
        memset(src, SMASH_BYTE, size + dist);
        memcpy(launder(p - dist), src, size + dist);
    } else {
        volatile char *v = launder(p);
        for (size_t i = 1; i <= dist; i++)
            *(v - i) = (char)SMASH_BYTE;
    }
    free(p);
    finish(CASE_MISSED, "missed: underflow written and the block freed");
}

/* ---- use after free ------------------------------------------------------------------------ */

/* The freed block is overwritten and nothing of that size is allocated again. */
static void write_after_free(size_t size)
{
    free_keeping(filled_block(size));
    memset(kept, STALE_BYTE, size);
    finish(CASE_MISSED, "missed: the freed block was written");
}

/* The freed block is overwritten, then the same size allocated until it comes back: caught
 * when the allocator stops there, or hands the block back without the stale bytes. */
static void write_after_free_reuse(size_t size)
{
    free_keeping(filled_block(size));
    char *p = kept;
    memset(p, STALE_BYTE, size);
    size_t tries = REUSE_BUDGET / size < REUSE_TRIES ? REUSE_BUDGET / size : REUSE_TRIES;
    for (size_t i = 0; i < tries; i++) {
        char *q = launder(malloc(size));
        if (!q)
            finish(CASE_SETUP, "setup: malloc refused a normal request");
        if (q == p) {
            if (any_byte(q, size, STALE_BYTE))
                finish(CASE_MISSED, "missed: the block came back with the stale write");
            finish(CASE_HOLDS, "holds: the block came back without the stale write");
        }
    }
    finish(CASE_MISSED, "missed: the written block never came back to be checked");
}

/* ---- zero-size allocations ----------------------------------------------------------------- */

static void zero_size(bool after_free, bool write_it)
{
    kept = malloc(0);
    if (after_free)
        free(kept);
    volatile char *p = kept;
    if (write_it)
        p[0] = (char)SMASH_BYTE;
    else
        (void)p[0];
    if (!after_free)
        free(kept);
    finish(CASE_MISSED, "missed: the zero-size block's byte was accessed");
}

/* ---- properties ---------------------------------------------------------------------------- */

static void zeroed_on_free(size_t size)
{
    free_keeping(filled_block(size));
    if (all_zero(kept, size))
        finish(CASE_HOLDS, "holds: the freed block reads as zeroes");
    finish(CASE_MISSED, "missed: the freed block keeps its bytes");
}

static void zeroed_new(size_t size)
{
    char *p = filled_block(size);
    free(p);
    char *q = launder(malloc(size));
    if (!q)
        finish(CASE_SETUP, "setup: malloc refused a normal request");
    if (all_zero(q, size))
        finish(CASE_HOLDS, "holds: the new block reads as zeroes");
    finish(CASE_MISSED, "missed: the new block holds old bytes");
}

static void reuse_at_once(size_t size)
{
    for (int r = 0; r < REUSE_ROUNDS; r++) {
        char *p = filled_block(size);
        uintptr_t was = (uintptr_t)p;
        free(p);
        char *q = launder(malloc(size));
        if (!q)
            finish(CASE_SETUP, "setup: malloc refused a normal request");
        /* Compared as integers read back through the volatile: a compiler may assume a fresh
         * malloc result never equals a freed pointer. */
        bool same = (uintptr_t)launder(q) == was;
        free(q);
        if (same)
            finish(CASE_MISSED, "missed: the just-freed block came back at once");
    }
    finish(CASE_HOLDS, "holds: no just-freed block came back at once");
}

/* Whether the line "START-END PERMS ..." of /proc/self/maps covers addr; *exec says whether the
 * mapping is executable. */
static bool maps_line_covers(const char *line, uintptr_t addr, bool *exec)
{
    unsigned long long start, end;
    char perms[8];
    if (sscanf(line, "%llx-%llx %7s", &start, &end, perms) != 3)
        return false;
    if (addr < start || addr >= end)
        return false;
    *exec = strchr(perms, 'x') != NULL;
    return true;
}

/* Looks the block's mapping up in /proc/self/maps (read with plain read(2) into static
 * buffers: no allocation while looking); the heap must not be mapped executable. */
static void exec_heap(size_t size)
{
    static char chunk[MAPS_CHUNK], line[MAPS_LINE];
    char *p = filled_block(size);
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        finish(CASE_SETUP, "setup: cannot open /proc/self/maps");
    size_t len = 0;
    ssize_t n;
    while ((n = read(fd, chunk, sizeof chunk)) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            if (chunk[i] != '\n') {
                if (len < sizeof line - 1)
                    line[len++] = chunk[i];
                continue;
            }
            line[len] = '\0';
            len = 0;
            bool exec;
            if (maps_line_covers(line, (uintptr_t)p, &exec)) {
                close(fd);
                if (exec)
                    finish(CASE_MISSED, "missed: the block's mapping is executable");
                finish(CASE_HOLDS, "holds: the block's mapping is not executable");
            }
        }
    }
    close(fd);
    finish(CASE_SETUP, "setup: the block is in no mapping of /proc/self/maps");
}

/* The line of a refused impossible request: errno's number and text, when it is not ENOMEM. */
static char refused_line[RESULT_LINE];

static void refused(const void *p)
{
    if (p)
        finish(CASE_MISSED, "missed: the impossible request returned memory");
    if (errno != ENOMEM) {
        int err = errno;
        snprintf(refused_line, sizeof refused_line, "missed: NULL with errno %d (%s), not ENOMEM",
                 err, strerror(err));
        finish(CASE_MISSED, refused_line);
    }
    finish(CASE_HOLDS, "holds: NULL and ENOMEM");
}

static void huge_malloc(size_t size)
{
    errno = 0;
    refused(launder(malloc(SIZE_MAX - size)));
}

static void calloc_overflow(size_t size)
{
    errno = 0;
    refused(launder(calloc(SIZE_MAX / size + 1, size)));
}

/* ---- the table of kinds -------------------------------------------------------------------- */

typedef struct {
    const char *name;
    void (*sized)(size_t size);                      /* the kinds with a block size */
    void (*dist)(size_t size, size_t d, bool memcp); /* overflows and underflows */
    size_t distance;
    bool use_memcpy;
    void (*zero)(bool after_free, bool write_it); /* the zero-size kinds */
    bool after_free, write_it;
} kind_t;

static const kind_t kinds[] = {
    {.name = "double_free", .sized = double_free},
    {.name = "free_interior", .sized = free_interior},
    {.name = "free_never_allocated", .sized = free_never},
    {.name = "overflow_1_direct", .dist = overflow, .distance = DIST_BYTE},
    {.name = "overflow_32_direct", .dist = overflow, .distance = DIST_SMALL},
    {.name = "overflow_1m_direct", .dist = overflow, .distance = DIST_MIB},
    {.name = "overflow_1_memcpy", .dist = overflow, .distance = DIST_BYTE, .use_memcpy = true},
    {.name = "overflow_32_memcpy", .dist = overflow, .distance = DIST_SMALL, .use_memcpy = true},
    {.name = "overflow_1m_memcpy", .dist = overflow, .distance = DIST_MIB, .use_memcpy = true},
    {.name = "underflow_1_direct", .dist = underflow, .distance = DIST_BYTE},
    {.name = "underflow_32_direct", .dist = underflow, .distance = DIST_SMALL},
    {.name = "underflow_1m_direct", .dist = underflow, .distance = DIST_MIB},
    {.name = "underflow_1_memcpy", .dist = underflow, .distance = DIST_BYTE, .use_memcpy = true},
    {.name = "underflow_32_memcpy", .dist = underflow, .distance = DIST_SMALL, .use_memcpy = true},
    {.name = "underflow_1m_memcpy", .dist = underflow, .distance = DIST_MIB, .use_memcpy = true},
    {.name = "write_after_free", .sized = write_after_free},
    {.name = "write_after_free_reuse", .sized = write_after_free_reuse},
    {.name = "zero_size_read", .zero = zero_size},
    {.name = "zero_size_write", .zero = zero_size, .write_it = true},
    {.name = "zero_size_read_after_free", .zero = zero_size, .after_free = true},
    {.name = "zero_size_write_after_free", .zero = zero_size, .after_free = true, .write_it = true},
    {.name = "zeroed_on_free", .sized = zeroed_on_free},
    {.name = "zeroed_new", .sized = zeroed_new},
    {.name = "reuse_at_once", .sized = reuse_at_once},
    {.name = "exec_heap", .sized = exec_heap},
    {.name = "huge_malloc", .sized = huge_malloc},
    {.name = "calloc_overflow", .sized = calloc_overflow},
};

int main(int argc, char **argv)
{
    if (argc != 3)
        finish(CASE_SETUP, "usage: sec_case KIND SIZE");
    char *end;
    errno = 0;
    unsigned long long size = strtoull(argv[2], &end, 10);
    if (errno != 0 || *end != '\0' || size > SIZE_LIMIT)
        finish(CASE_SETUP, "usage: SIZE is a byte count of at most 1 MiB");
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        const kind_t *k = &kinds[i];
        if (strcmp(k->name, argv[1]) != 0)
            continue;
        if (k->zero)
            k->zero(k->after_free, k->write_it);
        else if (size == 0)
            finish(CASE_SETUP, "usage: this kind wants a nonzero SIZE");
        else if (k->dist)
            k->dist((size_t)size, k->distance, k->use_memcpy);
        else
            k->sized((size_t)size);
    }
    finish(CASE_SETUP, "usage: unknown KIND");
}
