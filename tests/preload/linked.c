/* linked.c: a C program linked with -larcalloc (no LD_PRELOAD) proving that the standard malloc
 * family resolves to arcalloc: every block malloc, calloc, realloc, strdup (and the aligned
 * forms) return lies in arcalloc's heap (arc_owns) and keeps its contents. Never calls arc_malloc
 * directly: it tests the names every C program uses. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arcalloc.h"
#include "check.h"

/* Sizes from 1 byte to past any small-size class into whole-page and multi-megabyte blocks. */
#define SIZE_STEPS    48
#define LARGEST_BYTES ((size_t)8 << 20)
/* Randomized churn: live slots and operations (each checked), fixed seed. */
#define CHURN_SLOTS     512
#define CHURN_OPS       40000
#define CHURN_MAX_BYTES 20000
#define CHURN_SEED      0x5eed1234abcdULL
/* Alignments for posix_memalign / aligned_alloc: 16 B up to a 64 KiB, past the page size. */
#define ALIGN_MIN_SHIFT 4
#define ALIGN_MAX_SHIFT 16

static unsigned char static_byte;

/* Storing a pointer here makes it escape: clang elides a malloc/free pair whose pointer goes
 * nowhere and then folds `p == NULL` to false, calling no allocator at all. */
static void *volatile escaped;

/* errno read through a volatile lvalue: clang 14 treats malloc as touching no memory of ours and
 * would otherwise forward the `errno = 0` stored before the call to the check after it. */
static int errno_now(void)
{
    return *(volatile int *)&errno;
}

/* The byte pattern a block of `tag` holds at offset i: tells blocks and offsets apart. */
static unsigned char pattern(size_t tag, size_t i)
{
    return (unsigned char)(tag * 131u + i * 7u + 1u);
}

static void pattern_fill(unsigned char *p, size_t n, size_t tag)
{
    for (size_t i = 0; i < n; i++)
        p[i] = pattern(tag, i);
}

static size_t pattern_mismatches(const unsigned char *p, size_t n, size_t tag)
{
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += p[i] != pattern(tag, i);
    return bad;
}

/* Size number i of SIZE_STEPS: 1, 2, 3 ... then growing by about a third up to LARGEST_BYTES. */
static size_t size_step(unsigned i)
{
    size_t n = 1;
    for (unsigned k = 0; k < i; k++)
        n = n < 8 ? n + 1 : n + n / 3;
    return n < LARGEST_BYTES ? n : LARGEST_BYTES;
}

static void test_owns_is_not_always_true(void)
{
    unsigned char stack_byte = 0;
    CHECK(!arc_owns(NULL));
    CHECK(!arc_owns(&stack_byte));
    CHECK(!arc_owns(&static_byte));
    CHECK(!arc_owns("a string literal in read-only data"));
}

static void test_malloc_sizes(void)
{
    unsigned char *blocks[SIZE_STEPS];
    for (unsigned i = 0; i < SIZE_STEPS; i++) {
        size_t n = size_step(i);
        blocks[i] = malloc(n);
        CHECKF(blocks[i] != NULL, "malloc(%zu)", n);
        CHECKF(arc_owns(blocks[i]), "malloc(%zu) = %p is not arcalloc's", n, (void *)blocks[i]);
        CHECKF((uintptr_t)blocks[i] % ARC_MIN_ALIGN == 0, "malloc(%zu) = %p misaligned", n,
               (void *)blocks[i]);
        if (blocks[i]) {
            CHECK(arc_owns(blocks[i] + n - 1));
            pattern_fill(blocks[i], n, i);
        }
    }
    for (unsigned i = 0; i < SIZE_STEPS; i++) {
        if (blocks[i])
            CHECKF(pattern_mismatches(blocks[i], size_step(i), i) == 0, "malloc(%zu) overwritten",
                   size_step(i));
        free(blocks[i]);
    }
    free(NULL);
}

static void test_calloc(void)
{
    for (unsigned i = 0; i < SIZE_STEPS; i += 3) {
        size_t n = size_step(i);
        /* Dirty some memory first so a calloc that reuses it must really clear it. */
        unsigned char *dirty = malloc(n);
        if (dirty)
            fill_kept(dirty, 0xa5, n);
        free(dirty);
        unsigned char *p = calloc(n, 1);
        CHECKF(p != NULL && arc_owns(p), "calloc(%zu, 1) = %p", n, (void *)p);
        size_t nonzero = 0;
        for (size_t k = 0; p && k < n; k++)
            nonzero += p[k] != 0;
        CHECKF(nonzero == 0, "calloc(%zu, 1): %zu bytes not zero", n, nonzero);
        free(p);
    }
    int *arr = calloc(1000, sizeof *arr);
    CHECK(arr != NULL && arc_owns(arr));
    if (arr)
        CHECK(arr[0] == 0 && arr[999] == 0);
    free(arr);
    /* n * size overflows size_t: NULL and ENOMEM, never a short block. (volatile: a constant
     * would draw gcc's -Walloc-size-larger-than at compile time.) */
    volatile size_t half = SIZE_MAX / 2;
    errno = 0;
    void *overflow = calloc(half, 4);
    escaped = overflow;
    CHECK(overflow == NULL);
    CHECK(errno_now() == ENOMEM);
    free(overflow);
}

static void test_malloc_impossible(void)
{
    volatile size_t impossible = SIZE_MAX - ARC_PAGE_SIZE; /* volatile: see test_calloc */
    errno = 0;
    void *p = malloc(impossible);
    escaped = p;
    CHECK(p == NULL);
    CHECK(errno_now() == ENOMEM);
    free(p);
}

static void test_realloc(void)
{
    unsigned char *p = realloc(NULL, 10); /* realloc(NULL, n) is malloc(n) */
    CHECK(p != NULL && arc_owns(p));
    if (!p)
        return;
    pattern_fill(p, 10, 1);
    size_t have = 10;
    /* Grow through every size class to 8 MiB, then shrink back: contents must survive. */
    for (unsigned i = 0; i < SIZE_STEPS * 2; i++) {
        size_t want = i < SIZE_STEPS ? size_step(i) : size_step(SIZE_STEPS * 2 - 1 - i);
        unsigned char *q = realloc(p, want);
        CHECKF(q != NULL, "realloc to %zu", want);
        if (!q)
            break;
        p = q;
        CHECKF(arc_owns(p), "realloc to %zu = %p is not arcalloc's", want, (void *)p);
        size_t keep = have < want ? have : want;
        CHECKF(pattern_mismatches(p, keep, 1) == 0, "realloc %zu -> %zu lost contents", have, want);
        pattern_fill(p, want, 1);
        have = want;
    }
    free(p);
}

static void test_strdup(void)
{
    char text[3000];
    for (size_t i = 0; i < sizeof text - 1; i++)
        text[i] = (char)('a' + i % 26);
    text[sizeof text - 1] = '\0';
    size_t lengths[] = {0, 1, 15, 16, 100, sizeof text - 1};
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        char *dup = strndup(text, lengths[i]);
        CHECKF(dup != NULL && arc_owns(dup), "strndup(%zu) = %p", lengths[i], (void *)dup);
        if (dup)
            CHECK(strlen(dup) == lengths[i] && memcmp(dup, text, lengths[i]) == 0);
        char *full = dup ? strdup(dup) : NULL;
        CHECKF(full != NULL && arc_owns(full), "strdup of %zu chars = %p", lengths[i],
               (void *)full);
        if (full && dup)
            CHECK(strcmp(full, dup) == 0);
        free(full);
        free(dup);
    }
}

static void test_aligned(void)
{
    for (unsigned shift = ALIGN_MIN_SHIFT; shift <= ALIGN_MAX_SHIFT; shift++) {
        size_t align = (size_t)1 << shift;
        void *p = NULL;
        CHECK(posix_memalign(&p, align, 3 * align + 5) == 0);
        CHECKF(p != NULL && arc_owns(p) && (uintptr_t)p % align == 0, "posix_memalign(%zu) = %p",
               align, p);
        if (p)
            fill_kept(p, 0x5a, 3 * align + 5);
        free(p);
        void *q = aligned_alloc(align, align * 2); /* C11: size a multiple of align */
        CHECKF(q != NULL && arc_owns(q) && (uintptr_t)q % align == 0, "aligned_alloc(%zu) = %p",
               align, q);
        free(q);
    }
    void *bad = NULL;
    CHECK(posix_memalign(&bad, 24, 64) == EINVAL); /* not a power of two */
}

static void test_churn(void)
{
    check_rng_t rng = {CHURN_SEED};
    unsigned char *slot[CHURN_SLOTS] = {0};
    size_t size[CHURN_SLOTS] = {0};
    size_t not_owned = 0, corrupted = 0, failed = 0;
    for (size_t op = 0; op < CHURN_OPS; op++) {
        size_t i = (size_t)check_range(&rng, 0, CHURN_SLOTS - 1);
        if (slot[i]) {
            corrupted += pattern_mismatches(slot[i], size[i], i) != 0;
            if (check_range(&rng, 0, 3) == 0) { /* a quarter of the live hits: realloc */
                size_t want = (size_t)check_range(&rng, 1, CHURN_MAX_BYTES);
                unsigned char *q = realloc(slot[i], want);
                if (!q) {
                    failed++;
                    continue;
                }
                size_t keep = size[i] < want ? size[i] : want;
                corrupted += pattern_mismatches(q, keep, i) != 0;
                slot[i] = q;
                size[i] = want;
                not_owned += !arc_owns(q);
                pattern_fill(q, want, i);
                continue;
            }
            free(slot[i]);
            slot[i] = NULL;
            continue;
        }
        size[i] = (size_t)check_range(&rng, 1, CHURN_MAX_BYTES);
        slot[i] = check_range(&rng, 0, 1) ? malloc(size[i]) : calloc(1, size[i]);
        if (!slot[i]) {
            failed++;
            continue;
        }
        not_owned += !arc_owns(slot[i]);
        pattern_fill(slot[i], size[i], i);
    }
    for (size_t i = 0; i < CHURN_SLOTS; i++) {
        if (slot[i])
            corrupted += pattern_mismatches(slot[i], size[i], i) != 0;
        free(slot[i]);
    }
    CHECKF(failed == 0, "%zu allocations failed", failed);
    CHECKF(not_owned == 0, "%zu blocks not arcalloc's", not_owned);
    CHECKF(corrupted == 0, "%zu blocks lost their contents", corrupted);
}

int main(void)
{
    test_owns_is_not_always_true();
    test_malloc_sizes();
    test_calloc();
    test_malloc_impossible();
    test_realloc();
    test_strdup();
    test_aligned();
    test_churn();
    return check_done();
}
