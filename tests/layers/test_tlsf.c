/* test_tlsf.c: what only the TLSF backend promises (src/layers/tlsf.c's layout): exact statistics
 * (an 8-byte head word a live block, 48 bytes a region), the smallest region, refusals of pointers
 * into its headers and sentinels, check() seeing a broken head word, immediate coalescing in
 * every order, aligned blocks whose gaps merge back, one region's whole size as one block,
 * exhaustion that wastes nothing but a tail, and a pool above 8 GiB. Stats are predicted by the
 * test and compared after every operation. The contract every backend keeps is
 * test_byte_contract.c's: this file must never repeat it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "arcalloc.h"
#include "check.h"

/* A pointer that is no live block: ARC_NOT_ALLOCATED; in a secure build its would-be head word
 * may instead fail its seal, which is ARC_INVALID_PARAM (tests/layers/test_headers.c). */
#define REFUSED(rc) ((rc) == ARC_NOT_ALLOCATED || (ARC_SECURE && (rc) == ARC_INVALID_PARAM))

/* Layout facts documented at the top of src/layers/tlsf.c, restated so the stats can be predicted.
 */
#define LIVE_HEADER     8u  /* a live block costs its usable size plus one 8-byte head word */
#define REGION_OVERHEAD 48u /* region header + end sentinel: total = trimmed size - 48 */
#define REGION_MIN      80u /* region overhead + one minimum (32-byte) block */
#define MIN_ALIGN       ((size_t)ARC_MIN_ALIGN)

#define KIB ((size_t)1 << 10)
#define MIB ((size_t)1 << 20)
#define GIB ((size_t)1 << 30)

static const arc_byte_ops_t *ops = &arc_tlsf_ops;

/* ---- a pool whose statistics the test predicts -------------------------------------------- */

typedef struct {
    arc_byte_allocator_t *a;
    size_t total, used, live; /* expected */
    int full_check;           /* run check() after every operation */
} pool_t;

static void pool_expect(const pool_t *p, int line)
{
    size_t total = ops->total_bytes(p->a), used = ops->used_bytes(p->a);
    size_t avail = ops->available_bytes(p->a);
    CHECKF(total == p->total, "line %d: total %zu, expected %zu", line, total, p->total);
    CHECKF(used == p->used, "line %d: used %zu, expected %zu", line, used, p->used);
    CHECKF(avail == p->total - p->used - LIVE_HEADER * p->live,
           "line %d: available %zu, expected %zu", line, avail,
           p->total - p->used - LIVE_HEADER * p->live);
    if (p->full_check) {
        size_t bad = ops->check(p->a);
        CHECKF(bad == 0, "line %d: check() = %zu", line, bad);
    }
}
#define EXPECT(p) pool_expect((p), __LINE__)

/* Bytes a region keeps after trimming to 16-byte boundaries; 0 when nothing is left. */
static size_t trimmed(const void *start, size_t size)
{
    uintptr_t lo = ((uintptr_t)start + MIN_ALIGN - 1) & ~(uintptr_t)(MIN_ALIGN - 1);
    uintptr_t hi = ((uintptr_t)start + size) & ~(uintptr_t)(MIN_ALIGN - 1);
    return hi > lo ? hi - lo : 0;
}

static void pool_open(pool_t *p)
{
    p->a = aligned_alloc(64, ops->state_size);
    p->total = p->used = p->live = 0;
    p->full_check = 1;
}

static void pool_close(pool_t *p)
{
    free(p->a);
    p->a = NULL;
}

/* init (first) or add_memory; on success the expected total grows by the trimmed size - 48. */
static int pool_add(pool_t *p, void *start, size_t size, int first)
{
    int rc = first ? ops->init(p->a, start, size) : ops->add_memory(p->a, start, size);
    if (first)
        p->total = p->used = p->live = 0;
    if (rc == ARC_OK)
        p->total += trimmed(start, size) - REGION_OVERHEAD;
    return rc;
}

static int pool_alloc(pool_t *p, size_t size, size_t align, void **out)
{
    int rc = ops->alloc(p->a, size, align, out);
    if (rc == ARC_OK) {
        size_t want = align > MIN_ALIGN ? align : MIN_ALIGN;
        size_t usable = ops->usable_size(p->a, *out);
        CHECKF((uintptr_t)*out % want == 0, "%p not %zu-aligned", *out, want);
        CHECKF(usable >= size, "usable %zu < size %zu", usable, size);
        p->used += usable;
        p->live++;
    }
    return rc;
}

static int pool_free(pool_t *p, void *ptr, size_t size, size_t align)
{
    size_t usable = ops->usable_size(p->a, ptr);
    int rc = ops->dealloc(p->a, ptr, size, align);
    if (rc == ARC_OK) {
        p->used -= usable;
        p->live--;
    }
    return rc;
}

/* Alloc that must succeed; the pointer or NULL. */
static void *must_alloc(pool_t *p, size_t size, size_t align, int line)
{
    void *ptr = NULL;
    int rc = pool_alloc(p, size, align, &ptr);
    CHECKF(rc == ARC_OK, "line %d: alloc(%zu, %zu) = %s", line, size, align, arc_result_str(rc));
    pool_expect(p, line);
    return rc == ARC_OK ? ptr : NULL;
}
#define MUST_ALLOC(p, size, align) must_alloc((p), (size), (align), __LINE__)

static void must_free(pool_t *p, void *ptr, size_t size, size_t align, int line)
{
    int rc = pool_free(p, ptr, size, align);
    CHECKF(rc == ARC_OK, "line %d: dealloc(%p) = %s", line, ptr, arc_result_str(rc));
    pool_expect(p, line);
}
#define MUST_FREE(p, ptr, size, align) must_free((p), (ptr), (size), (align), __LINE__)

static size_t usable(const pool_t *p, const void *ptr)
{
    return ops->usable_size(p->a, ptr);
}

/* A 16-byte aligned test buffer (malloc's guarantee on this platform, checked). */
static unsigned char *buffer(size_t size)
{
    unsigned char *b = malloc(size);
    if (!b) {
        fprintf(stderr, "test buffer of %zu bytes: out of memory\n", size);
        exit(2);
    }
    CHECK((uintptr_t)b % MIN_ALIGN == 0);
    return b;
}

/* ---- regions and refusals that the layout explains ----------------------------------------- */

static void test_params(void)
{
    pool_t p;
    pool_open(&p);
    unsigned char *buf = buffer(64 * KIB);
    CHECK(strcmp(ops->name, "tlsf") == 0);
    CHECK(ops->state_size > 0 && ops->state_size % 64 == 0);

    /* Regions: one byte short, exactly one minimum block. */
    CHECK(pool_add(&p, buf, REGION_MIN - 1, 1) == ARC_INVALID_PARAM);
    CHECK(pool_add(&p, buf + 1, REGION_MIN + 14, 1) == ARC_INVALID_PARAM); /* trims to 64 */
    CHECK(pool_add(&p, buf, REGION_MIN, 1) == ARC_OK);
    EXPECT(&p);
    CHECK(p.total == REGION_MIN - REGION_OVERHEAD);
    void *x = MUST_ALLOC(&p, 24, 1); /* one minimum block: 24 usable bytes */
    void *y = NULL;
    CHECK(pool_alloc(&p, 1, 1, &y) == ARC_NO_MEMORY);
    MUST_FREE(&p, x, 24, 1);
    CHECK(pool_alloc(&p, 25, 1, &y) == ARC_NO_MEMORY);
    EXPECT(&p);

    /* Trimming: start rounded up, end rounded down, blocks stay inside what is left. */
    CHECK(pool_add(&p, buf + 3, 1000, 1) == ARC_OK);
    EXPECT(&p);
    CHECK(p.total == (1000 - 16 - 8) - REGION_OVERHEAD); /* [buf+16, buf+992) */
    x = MUST_ALLOC(&p, p.total - LIVE_HEADER, 1);
    CHECK(x && (unsigned char *)x >= buf + 16 && (unsigned char *)x + usable(&p, x) <= buf + 992);
    CHECK(ops->available_bytes(p.a) == 0);
    MUST_FREE(&p, x, p.total - LIVE_HEADER, 1);
    free(buf);
    pool_close(&p);
}

/* Pointers into the layout's own words (head words, region headers, sentinels) and interior
 * pointers over crafted "headers": refused, nothing changed. */
static void test_misuse(void)
{
    pool_t p;
    pool_open(&p);
    unsigned char *buf = buffer(64 * KIB);
    memset(buf, 0, 64 * KIB);
    /* Two regions with a zero-filled gap between them: [0, 16K) and [32K, 48K). */
    CHECK(pool_add(&p, buf, 16 * KIB, 1) == ARC_OK);
    CHECK(pool_add(&p, buf + 32 * KIB, 16 * KIB, 0) == ARC_OK);
    unsigned char *x = MUST_ALLOC(&p, 300, 1);
    unsigned char *y = MUST_ALLOC(&p, 200, 1);
    unsigned char *z = MUST_ALLOC(&p, 100, 1);
    CHECK(x && y && z);
    if (!x || !y || !z)
        return;
    CHECK(y == x + usable(&p, x) + LIVE_HEADER); /* adjacent blocks */

    unsigned char *wrong[] = {
        x + 16,              /* interior, zero header */
        x + 160,             /* interior, zero header */
        buf + 16,            /* inside the first region's header */
        buf + 32,            /* the first block's header word */
        buf + 32 * KIB + 16, /* inside the second region's header */
        buf + 32 * KIB + 32, /* the second region's first block header word */
        buf + 16 * KIB - 16, /* the first region's sentinel slot */
        buf + 32 * KIB - 16, /* the end of the gap, right before the second region */
        buf + 48 * KIB - 16, /* the sentinel */
    };
    memset(x, 0, usable(&p, x));
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        CHECKF(REFUSED(pool_free(&p, wrong[i], 1, 1)), "case %zu", i);
        CHECKF(usable(&p, wrong[i]) == 0, "case %zu", i);
        EXPECT(&p);
    }
    /* An interior pointer whose "header" is all ones: flagged free and reserved bits set. */
    memset(x, 0xff, usable(&p, x));
    CHECK(REFUSED(pool_free(&p, x + 32, 1, 1)));
    /* An interior "header" that looks like a live block of a plausible size: refused because
     * the next head word (x + 88, all ones) says its previous block is free. */
    size_t fake[2] = {0, 64};
    memcpy(x + 16, fake, sizeof fake);
    CHECK(REFUSED(pool_free(&p, x + 32, 1, 1)));
    /* An interior "header" whose stride runs far past every region: refused unread. */
    fake[1] = (size_t)1 << 40;
    memcpy(x + 16, fake, sizeof fake);
    CHECK(REFUSED(pool_free(&p, x + 32, 1, 1)));
    EXPECT(&p);
    /* Plausible live-looking blocks just outside the span of all regions: refused by range. */
    fake[1] = 64;
    memcpy(buf + 48 * KIB + 64, fake, sizeof fake); /* next head word (+80+8) is zero */
    CHECK(pool_free(&p, buf + 48 * KIB + 80, 1, 1) == ARC_NOT_ALLOCATED);
    memcpy(buf + 48 * KIB - 32, fake, sizeof fake); /* the sentinel slot of the last region */
    CHECK(pool_free(&p, buf + 48 * KIB - 16, 1, 1) == ARC_NOT_ALLOCATED);
    EXPECT(&p);

    /* A stale head word inside a free block: y's, after y merged into x. */
    MUST_FREE(&p, y, 200, 1);
    MUST_FREE(&p, x, 300, 1);
    CHECK(pool_free(&p, y, 200, 1) == ARC_NOT_ALLOCATED);
    MUST_FREE(&p, z, 100, 1);
    EXPECT(&p);
    CHECK(ops->used_bytes(p.a) == 0 && ops->available_bytes(p.a) == p.total);
    free(buf);
    pool_close(&p);
}

/* check() is only worth running if it sees damage: break one header word at a time (the layout
 * is documented in src/layers/tlsf.c: a block's head word sits just before its payload), then mend.
 */
static void test_check_detects(void)
{
    pool_t p;
    pool_open(&p);
    unsigned char *buf = buffer(64 * KIB);
    CHECK(pool_add(&p, buf, 64 * KIB, 1) == ARC_OK);
    unsigned char *x = MUST_ALLOC(&p, 100, 1);
    unsigned char *y = MUST_ALLOC(&p, 100, 1);
    unsigned char *z = MUST_ALLOC(&p, 100, 1);
    if (!x || !y || !z)
        return;
    MUST_FREE(&p, y, 100, 1);
    const size_t flips[] = {1, 2, 16, 32, 4096};
    unsigned char *victims[] = {x, y, z};
    for (size_t v = 0; v < 3; v++) {
        for (size_t f = 0; f < sizeof flips / sizeof flips[0]; f++) {
            size_t head;
            memcpy(&head, victims[v] - 8, sizeof head);
            size_t broken = head ^ flips[f];
            memcpy(victims[v] - 8, &broken, sizeof broken);
            CHECKF(ops->check(p.a) > 0, "victim %zu, flip %zu", v, flips[f]);
            memcpy(victims[v] - 8, &head, sizeof head);
            CHECK(ops->check(p.a) == 0);
        }
    }
    EXPECT(&p);
    free(buf);
    pool_close(&p);
}

/* usable_size_checked_in, given the region, checks the head words as usable_size does: the malloc
 * heap asks it at every free of a medium block it would keep for reuse, so an overflow that
 * reached the next block's head word must turn it to 0 (usable_size_in trusts the head word). */
static void test_usable_checked_in(void)
{
    pool_t p;
    pool_open(&p);
    unsigned char *buf = buffer(64 * KIB);
    CHECK(pool_add(&p, buf, 64 * KIB, 1) == ARC_OK);
    unsigned char *x = MUST_ALLOC(&p, 300, 1);
    unsigned char *y = MUST_ALLOC(&p, 200, 1);
    if (!x || !y)
        return;
    size_t ux = usable(&p, x), uy = usable(&p, y);
    CHECK(y == x + ux + LIVE_HEADER); /* x's overflow reaches y's head word first */
    CHECK(ops->usable_size_checked_in(p.a, buf, x) == ux &&
          ops->usable_size_checked_in(p.a, buf, y) == uy);
    unsigned char head[8], ones[8];
    memcpy(head, y - 8, sizeof head);
    memset(ones, 0xff, sizeof ones);
    memcpy(y - 8, ones, sizeof ones);                     /* 8 bytes written past x */
    CHECK(ops->usable_size_checked_in(p.a, buf, x) == 0); /* its successor calls it free */
    CHECK(ops->usable_size_checked_in(p.a, buf, y) == 0); /* flagged free and reserved */
    CHECK(REFUSED(ops->dealloc_in(p.a, buf, x, 300, 1)));
    memset(y - 8, 0, sizeof head); /* a zero head word: no stride */
    CHECK(ops->usable_size_checked_in(p.a, buf, y) == 0);
    CHECK(REFUSED(ops->dealloc_in(p.a, buf, y, 200, 1)));
    memcpy(y - 8, head, sizeof head); /* mended: the refusals changed nothing */
    CHECK(ops->usable_size_checked_in(p.a, buf, x) == ux &&
          ops->usable_size_checked_in(p.a, buf, y) == uy);
    MUST_FREE(&p, y, 200, 1);
    CHECK(ops->usable_size_checked_in(p.a, buf, y) == 0); /* freed */
    MUST_FREE(&p, x, 300, 1);
    EXPECT(&p);
    free(buf);
    pool_close(&p);
}

/* ---- coalescing and alignment ------------------------------------------------------------- */

static void test_coalesce(void)
{
    static const int orders[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
                                     {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    const size_t sizes[3] = {1000, 2000, 3000};
    pool_t p;
    pool_open(&p);
    unsigned char *buf = buffer(64 * KIB);
    for (int o = 0; o < 6; o++) {
        CHECK(pool_add(&p, buf, 64 * KIB, 1) == ARC_OK);
        unsigned char *blk[3];
        size_t strides = 0;
        for (int i = 0; i < 3; i++) {
            blk[i] = MUST_ALLOC(&p, sizes[i], 1);
            strides += usable(&p, blk[i]) + LIVE_HEADER;
        }
        CHECK(blk[1] == blk[0] + usable(&p, blk[0]) + LIVE_HEADER);
        CHECK(blk[2] == blk[1] + usable(&p, blk[1]) + LIVE_HEADER);
        size_t rest_size = ops->available_bytes(p.a) - LIVE_HEADER; /* one free block left */
        void *rest = MUST_ALLOC(&p, rest_size, 1);
        CHECK(ops->available_bytes(p.a) == 0);
        for (int i = 0; i < 3; i++) {
            int k = orders[o][i];
            MUST_FREE(&p, blk[k], sizes[k], 1);
        }
        CHECK(ops->available_bytes(p.a) == strides);
        void *whole = MUST_ALLOC(&p, strides - LIVE_HEADER, 1); /* only if all three merged */
        CHECKF(whole == blk[0], "order %d", o);
        MUST_FREE(&p, whole, strides - LIVE_HEADER, 1);
        MUST_FREE(&p, rest, rest_size, 1);
        void *all = MUST_ALLOC(&p, p.total - LIVE_HEADER, 1);
        MUST_FREE(&p, all, p.total - LIVE_HEADER, 1);
    }
    free(buf);
    pool_close(&p);
}

/* Aligned blocks split a gap off in front; freed, every gap merges back into one block. */
static void test_alignment_gaps(void)
{
    enum { SIZES = 5, LOG_MIN = 4, LOG_MAX = 20, N = (LOG_MAX - LOG_MIN + 1) * SIZES * 2 };
    const size_t sizes[SIZES] = {1, 24, 100, 4096, 70000};
    struct {
        unsigned char *ptr;
        size_t size, align;
    } live[N];
    size_t n = 0;
    pool_t p;
    pool_open(&p);
    unsigned char *buf = buffer(32 * MIB + 8);
    CHECK(pool_add(&p, buf + 8, 32 * MIB, 1) == ARC_OK); /* an odd start: 8 mod 16 */
    for (int k = LOG_MIN; k <= LOG_MAX; k++) {
        for (int s = 0; s < SIZES; s++) {
            size_t align = (size_t)1 << k;
            unsigned char *a = MUST_ALLOC(&p, sizes[s], align);
            unsigned char *b = MUST_ALLOC(&p, sizes[s] + 40, 1); /* an unaligned neighbour */
            if (!a || !b)
                continue;
            memset(a, 0xa5, sizes[s]);
            memset(b, 0x11, sizes[s] + 40);
            live[n].ptr = a, live[n].size = sizes[s], live[n].align = align, n++;
            live[n].ptr = b, live[n].size = sizes[s] + 40, live[n].align = 1, n++;
        }
    }
    check_rng_t rng = {0x7a11c0de};
    while (n) {
        size_t i = (size_t)check_range(&rng, 0, n - 1);
        if (live[i].align > 1)
            CHECK(live[i].ptr[0] == 0xa5 && live[i].ptr[live[i].size - 1] == 0xa5);
        else
            CHECK(live[i].ptr[0] == 0x11 && live[i].ptr[live[i].size - 1] == 0x11);
        MUST_FREE(&p, live[i].ptr, live[i].size, live[i].align);
        live[i] = live[--n];
    }
    void *all = MUST_ALLOC(&p, p.total - LIVE_HEADER, 1); /* every gap merged back */
    MUST_FREE(&p, all, p.total - LIVE_HEADER, 1);
    /* A 16 MiB alignment in a 32 MiB pool: the leading gap is split off and merged back. */
    void *big = MUST_ALLOC(&p, 12 * MIB, 16 * MIB);
    MUST_FREE(&p, big, 12 * MIB, 16 * MIB);
    free(buf);
    pool_close(&p);
}

/* ---- regions ------------------------------------------------------------------------------ */

/* One block never spans two regions; each region serves its whole size as one block. */
static void test_regions(void)
{
    const size_t sizes[3] = {64 * KIB, 256 * KIB + 5, 128 * KIB};
    unsigned char *bufs[3];
    pool_t p;
    pool_open(&p);
    for (int i = 0; i < 3; i++) {
        bufs[i] = buffer(sizes[i] + 16);
        CHECK(pool_add(&p, bufs[i] + 3, sizes[i], i == 0) == ARC_OK);
        EXPECT(&p);
    }
    /* The biggest single block is one whole region, not the sum. */
    size_t biggest = trimmed(bufs[1] + 3, sizes[1]) - REGION_OVERHEAD - LIVE_HEADER;
    void *y = NULL;
    CHECK(pool_alloc(&p, biggest + 1, 1, &y) == ARC_NO_MEMORY);
    EXPECT(&p);
    void *whole[3];
    for (int i = 0; i < 3; i++) { /* each region hands out one block of its whole size */
        size_t size = trimmed(bufs[i] + 3, sizes[i]) - REGION_OVERHEAD - LIVE_HEADER;
        whole[i] = MUST_ALLOC(&p, size, 1);
        CHECK((unsigned char *)whole[i] > bufs[i] &&
              (unsigned char *)whole[i] + usable(&p, whole[i]) <= bufs[i] + 3 + sizes[i]);
    }
    CHECK(ops->available_bytes(p.a) == 0);
    CHECK(pool_alloc(&p, 1, 1, &y) == ARC_NO_MEMORY);
    for (int i = 0; i < 3; i++)
        MUST_FREE(&p, whole[i], 1, 1);
    for (int i = 0; i < 3; i++)
        free(bufs[i]);
    pool_close(&p);
}

/* Many regions (a malloc heap's segments): MANY_REGIONS of MANY_SIZE bytes with a gap after each,
 * added in a shuffled order; each serves a block, refuses an overlapping add in its middle and a
 * pointer into the gap after it, and comes back out by remove_memory in another order, leaving a
 * pool whose check() is clean throughout. Regions sit in an address treap (tlsf.c's header), so
 * every step is O(log regions). */
#define MANY_REGIONS 4096u
#define MANY_SIZE    (4 * KIB)
#define MANY_STRIDE  (MANY_SIZE + 4 * KIB) /* each region, then a gap no region covers */

static void shuffle(void **v, size_t n, check_rng_t *rng);

static void test_many_regions(void)
{
    static void *starts[MANY_REGIONS], *blocks[MANY_REGIONS];
    unsigned char *buf = buffer(MANY_REGIONS * MANY_STRIDE);
    check_rng_t rng = {0x7e9a};
    pool_t p;
    pool_open(&p);
    p.full_check = 0; /* one check() per phase: each walks every region */
    for (size_t i = 0; i < MANY_REGIONS; i++)
        starts[i] = buf + i * MANY_STRIDE;
    shuffle(starts, MANY_REGIONS, &rng);
    size_t bad_add = 0, bad_overlap = 0, bad_gap = 0, bad_block = 0, bad_remove = 0;
    for (size_t i = 0; i < MANY_REGIONS; i++)
        bad_add += pool_add(&p, starts[i], MANY_SIZE, i == 0) != ARC_OK;
    CHECKF(bad_add == 0, "%zu of %u regions refused", bad_add, MANY_REGIONS);
    CHECK(ops->check(p.a) == 0);
    EXPECT(&p);
    for (size_t i = 0; i < MANY_REGIONS; i++) {
        unsigned char *r = buf + i * MANY_STRIDE;
        bad_overlap += ops->add_memory(p.a, r + MANY_SIZE / 2, MANY_SIZE) != ARC_MEMORY_OVERLAP;
        bad_gap += usable(&p, r + MANY_SIZE + 2 * KIB) != 0 ||
                   ops->dealloc(p.a, r + MANY_SIZE + 2 * KIB, 1, 1) != ARC_NOT_ALLOCATED;
    }
    for (size_t i = 0; i < MANY_REGIONS; i++) {
        blocks[i] = NULL;
        bad_block += pool_alloc(&p, MANY_SIZE / 2, 1, &blocks[i]) != ARC_OK;
    }
    CHECK(ops->check(p.a) == 0);
    EXPECT(&p);
    shuffle(blocks, MANY_REGIONS, &rng);
    for (size_t i = 0; i < MANY_REGIONS; i++)
        bad_block += blocks[i] == NULL || pool_free(&p, blocks[i], 1, 1) != ARC_OK;
    CHECKF(bad_overlap == 0, "%zu overlapping regions taken", bad_overlap);
    CHECKF(bad_gap == 0, "%zu pointers into gaps between regions taken", bad_gap);
    CHECKF(bad_block == 0, "%zu blocks not served or not taken back", bad_block);
    EXPECT(&p);
    shuffle(starts, MANY_REGIONS, &rng);
    for (size_t i = 0; i < MANY_REGIONS; i++) {
        bad_remove += ops->remove_memory(p.a, starts[i], MANY_SIZE) != ARC_OK;
        if (i % (MANY_REGIONS / 4) == 0)
            bad_remove += ops->check(p.a) != 0;
    }
    CHECKF(bad_remove == 0, "%zu regions not removed cleanly", bad_remove);
    CHECK(ops->total_bytes(p.a) == 0 && ops->check(p.a) == 0);
    free(buf);
    pool_close(&p);
}

/* ---- exhaustion --------------------------------------------------------------------------- */

static void shuffle(void **v, size_t n, check_rng_t *rng)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)check_range(rng, 0, i - 1);
        void *t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

/* Equal blocks use everything but a tail too small for one more, and all merge back. */
static void test_exhaustion(void)
{
    enum { MAX = 1100, SIZE = 1000 };
    void *blk[MAX];
    pool_t p;
    pool_open(&p);
    unsigned char *buf = buffer(MIB);
    CHECK(pool_add(&p, buf, MIB, 1) == ARC_OK);
    check_rng_t rng = {99};
    for (int round = 0; round < 3; round++) {
        size_t n = 0;
        void *y = NULL;
        int rc;
        while (n < MAX && (rc = pool_alloc(&p, SIZE, 1, &y)) == ARC_OK) {
            blk[n++] = y;
            EXPECT(&p);
        }
        size_t stride = usable(&p, blk[0]) + LIVE_HEADER;
        CHECK(n == p.total / stride); /* every byte used but a tail too small for one more */
        CHECK(ops->available_bytes(p.a) == p.total - n * stride);
        EXPECT(&p);
        shuffle(blk, n, &rng);
        for (size_t i = 0; i < n; i++)
            MUST_FREE(&p, blk[i], SIZE, 1);
        void *all = MUST_ALLOC(&p, p.total - LIVE_HEADER, 1);
        MUST_FREE(&p, all, p.total - LIVE_HEADER, 1);
    }
    free(buf);
    pool_close(&p);
}

/* A pool above 8 GiB (32-bit bitmaps would cap it): 16 GiB reserved, 9 GiB handed out. */
static void test_big_pool(void)
{
    const size_t pool_size = 16 * GIB, size = 9 * GIB;
    void *mem = mmap(NULL, pool_size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    CHECKF(mem != MAP_FAILED, "mmap of 16 GiB (address space only) refused");
    if (mem == MAP_FAILED)
        return;
    pool_t p;
    pool_open(&p);
    CHECK(pool_add(&p, mem, pool_size, 1) == ARC_OK);
    EXPECT(&p);
    unsigned char *b = MUST_ALLOC(&p, size, 1);
    if (b) {
        b[0] = 1;
        b[size - 1] = 2;
        CHECK(b[0] == 1 && b[size - 1] == 2 && usable(&p, b) >= size);
        void *y = NULL;
        CHECK(pool_alloc(&p, 8 * GIB, 1, &y) == ARC_NO_MEMORY); /* only ~7 GiB left */
        MUST_FREE(&p, b, size, 1);
    }
    b = MUST_ALLOC(&p, size, GIB); /* and aligned to 1 GiB */
    if (b) {
        b[size - 1] = 3;
        MUST_FREE(&p, b, size, GIB);
    }
    pool_close(&p);
    munmap(mem, pool_size);
}

/* Found by fuzz_byte_tlsf (tests/fuzz/crashes/fuzz_byte_tlsf/region-header-free): a pointer
 * 16 bytes into a region that is not the lowest, with another region right after it, looked
 * like a live block spanning the whole region; freeing it corrupted the allocator. */
static void test_region_header_pointer(void)
{
    static _Alignas(64) unsigned char state[1 << 16];
    static _Alignas(4096) unsigned char mem[3 * 4096];
    arc_byte_allocator_t *a = (arc_byte_allocator_t *)state;
    CHECK(ops->init(a, mem, 4096) == ARC_OK);
    CHECK(ops->add_memory(a, mem + 4096, 4096) == ARC_OK);
    CHECK(ops->add_memory(a, mem + 2 * 4096, 4096) == ARC_OK);
    size_t used = ops->used_bytes(a), avail = ops->available_bytes(a);
    for (int r = 0; r < 3; r++) {
        void *fake = mem + (size_t)r * 4096 + 16;
        CHECKF(REFUSED(ops->dealloc(a, fake, 16, 16)), "region %d header freed", r);
        CHECK(REFUSED(ops->dealloc_in(a, mem + (size_t)r * 4096, fake, 16, 16)));
    }
    CHECK(ops->used_bytes(a) == used && ops->available_bytes(a) == avail);
    CHECK(ops->check(a) == 0);
}

int main(void)
{
    test_region_header_pointer();
    test_params();
    test_misuse();
    test_check_detects();
    test_usable_checked_in();
    test_coalesce();
    test_alignment_gaps();
    test_regions();
    test_many_regions();
    test_exhaustion();
    test_big_pool();
    return check_done();
}
