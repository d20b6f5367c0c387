/* test_headers.c: the block-header checks of the byte allocators (secure builds, docs/security.md):
 * a header overwritten by an underflow or by an overflow from the block before is refused by
 * dealloc (ARC_INVALID_PARAM, nothing changed) and usable_size (0), per backend, keyed and with
 * the default key. In a normal build: the same API works with the checks compiled out. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arcalloc.h"
#include "check.h"

/* Each allocator gets one region of this size, aligned to a slab (64 KiB) so slab layouts are
 * the same every run. */
#define REGION_BYTES ((size_t)4 << 20)
#define REGION_ALIGN ((size_t)64 << 10)
/* What the tests overwrite: the 16 bytes before a block (two header words), and 8 bytes past
 * the end of a block (one word, the first of whatever follows it). */
#define UNDER_BYTES 16
#define OVER_BYTES  8
#define JUNK        0x41
/* The key set through arc_byte_set_key (any nonzero value; 0 picks the default). */
#define TEST_KEY 0x5eed5eed12345678ull
/* Blocks allocated to find a layout (buddy pairs, a slab's objects). */
#define MANY 64

typedef struct bench {
    const arc_byte_ops_t *ops;
    arc_byte_allocator_t *state;
    unsigned char *region;
} bench_t;

static bench_t bench_open(const arc_byte_ops_t *ops, int keyed)
{
    bench_t b = {ops, aligned_alloc(64, (ops->state_size + 63) & ~(size_t)63),
                 aligned_alloc(REGION_ALIGN, REGION_BYTES)};
    if (!b.state || !b.region) {
        fprintf(stderr, "test_headers: out of memory\n");
        exit(1);
    }
    CHECK(ops->init(b.state, b.region, REGION_BYTES) == ARC_OK);
    if (keyed)
        arc_byte_set_key(ops, b.state, TEST_KEY);
    return b;
}

static void bench_close(bench_t *b)
{
    CHECK(b->ops->check(b->state) == 0);
    free(b->state);
    free(b->region);
}

static void *take(bench_t *b, size_t size)
{
    void *p = NULL;
    CHECK(b->ops->alloc(b->state, size, 16, &p) == ARC_OK && p);
    if (p)
        memset(p, 0x77, size);
    return p;
}

static int give(bench_t *b, void *p)
{
    return b->ops->dealloc(b->state, p, 1, 16);
}

#if ARC_SECURE
/* The refusals every backend owes a block whose header is bad. */
static void expect_refused(bench_t *b, void *p)
{
    CHECK(give(b, p) == ARC_INVALID_PARAM);
    CHECK(b->ops->dealloc_in(b->state, b->region, p, 1, 16) == ARC_INVALID_PARAM);
}

/* TLSF: a live block's head word is the 8 bytes right before it (the 8 before those are lent to
 * the previous block). */
static void tlsf_case(int keyed)
{
    bench_t b = bench_open(&arc_tlsf_ops, keyed);
    unsigned char *x = take(&b, 64), *y = take(&b, 64), *z = take(&b, 64);
    unsigned char *w = take(&b, 64), *v = take(&b, 64), *u = take(&b, 64);
    unsigned char saved[UNDER_BYTES];
    /* Underflow of y: its 16 bytes before. */
    memcpy(saved, y - UNDER_BYTES, UNDER_BYTES);
    memset(y - UNDER_BYTES, JUNK, UNDER_BYTES);
    expect_refused(&b, y);
    CHECK(b.ops->usable_size(b.state, y) == 0);
    CHECK(b.ops->usable_size_in(b.state, b.region, y) == 0);
    CHECK(b.ops->check(b.state) > 0);
    CHECK(give(&b, z) == ARC_OK);            /* the untouched neighbour after y still frees */
    CHECK(give(&b, x) == ARC_INVALID_PARAM); /* x's successor is y: no blind merge */
    memcpy(y - UNDER_BYTES, saved, UNDER_BYTES);
    CHECK(b.ops->check(b.state) == 0); /* the refusals changed nothing */
    CHECK(b.ops->usable_size(b.state, y) >= 64);
    CHECK(give(&b, y) == ARC_OK);
    CHECK(give(&b, x) == ARC_OK);
    /* An overflow from w past its usable size: the next word is v's head. */
    size_t usable = b.ops->usable_size(b.state, w);
    CHECKF(w + usable + 8 == v, "w %p usable %zu, v %p", (void *)w, usable, (void *)v);
    memcpy(saved, w + usable, OVER_BYTES);
    memset(w + usable, JUNK, OVER_BYTES);
    CHECK(give(&b, v) == ARC_INVALID_PARAM); /* caught when the next block is freed */
    CHECK(b.ops->usable_size(b.state, v) == 0);
    CHECK(give(&b, u) == ARC_OK);
    memcpy(w + usable, saved, OVER_BYTES);
    CHECK(give(&b, v) == ARC_OK);
    CHECK(give(&b, w) == ARC_OK);
    bench_close(&b);
}

/* Buddy: a live block has no header (its map byte is out of band); the 16 bytes before a block
 * whose lower buddy is a free 16-byte block are that buddy's list links, which the free of the
 * block reads to merge. */
static void buddy_case(int keyed)
{
    bench_t b = bench_open(&arc_buddy_ops, keyed);
    unsigned char *blk[MANY];
    for (int i = 0; i < MANY; i++)
        blk[i] = take(&b, 16);
    /* A pair (lo, hi) of 16-byte buddies, hi = lo + 16, and an unrelated live block. */
    int hi = -1, lo = -1;
    for (int i = 0; i < MANY && hi < 0; i++)
        for (int j = 0; j < MANY; j++)
            if (((uintptr_t)blk[i] & 16) && blk[j] == blk[i] - 16)
                hi = i, lo = j;
    CHECK(hi >= 0);
    if (hi < 0) {
        bench_close(&b);
        return;
    }
    /* An untouched block of another order (a list the bad block is not in). */
    unsigned char *h = blk[hi], *big = take(&b, 256), saved[UNDER_BYTES];
    CHECK(give(&b, blk[lo]) == ARC_OK); /* its buddy h is live: no merge */
    memcpy(saved, h - UNDER_BYTES, UNDER_BYTES);
    memset(h - UNDER_BYTES, JUNK, UNDER_BYTES);
    expect_refused(&b, h);
    /* h's own metadata (its map byte) is intact: its size is still known. */
    CHECK(b.ops->usable_size(b.state, h) == 16);
    CHECK(b.ops->check(b.state) > 0);
    void *p = NULL;
    CHECK(b.ops->alloc(b.state, 16, 16, &p) == ARC_NO_MEMORY); /* would pop the bad block */
    CHECK(give(&b, big) == ARC_OK);                            /* an untouched block still frees */
    memcpy(h - UNDER_BYTES, saved, UNDER_BYTES);
    CHECK(b.ops->check(b.state) == 0);
    CHECK(give(&b, h) == ARC_OK);
    /* An overflow from a live block into the free buddy after it, caught when the live one is
     * freed (the merge reads the buddy's links). */
    int l2 = -1, h2 = -1;
    for (int i = 0; i < MANY && l2 < 0; i++)
        for (int j = 0; j < MANY; j++)
            if (i != hi && i != lo && !((uintptr_t)blk[i] & 16) && blk[j] == blk[i] + 16)
                l2 = i, h2 = j;
    CHECK(l2 >= 0);
    if (l2 >= 0) {
        CHECK(give(&b, blk[h2]) == ARC_OK);
        memcpy(saved, blk[l2] + 16, OVER_BYTES);
        memset(blk[l2] + 16, JUNK, OVER_BYTES);
        expect_refused(&b, blk[l2]);
        memcpy(blk[l2] + 16, saved, OVER_BYTES);
    }
    for (int i = 0; i < MANY; i++)
        if (i != hi && i != lo && i != h2)
            CHECK(give(&b, blk[i]) == ARC_OK);
    bench_close(&b);
}

/* Slab: objects have no header; the slab's header (seal first, canary last) sits between the
 * memory before the slab and the slab's object 0. */
static void slab_case(int keyed)
{
    bench_t b = bench_open(&arc_slab_ops, keyed);
    /* 64-byte objects fill a slab exactly (64 KiB - 1 KiB header = 1008 objects), so the last
     * object of one slab ends where the next slab's header starts. */
    enum { OBJ = 64, PER_SLAB = (64 * 1024 - 1024) / OBJ };
    static unsigned char *obj[PER_SLAB + 1];
    for (int i = 0; i <= PER_SLAB; i++)
        obj[i] = take(&b, OBJ);
    unsigned char *first = obj[0], *second = obj[1], *next_slab = obj[PER_SLAB];
    unsigned char *other = take(&b, 256), *run = take(&b, 3 * 4096), saved[UNDER_BYTES];
    CHECK(((uintptr_t)first & (REGION_ALIGN - 1)) == 1024);
    /* Underflow of the slab's first object: the header's canary. */
    memcpy(saved, first - UNDER_BYTES, UNDER_BYTES);
    memset(first - UNDER_BYTES, JUNK, UNDER_BYTES);
    expect_refused(&b, first);
    expect_refused(&b, second); /* every object of that slab: its header is not trusted */
    CHECK(b.ops->usable_size(b.state, first) == 0);
    CHECK(b.ops->usable_size_in(b.state, b.region, second) == 0);
    CHECK(b.ops->check(b.state) > 0);
    CHECK(give(&b, other) == ARC_OK); /* another class's slab and a run are untouched */
    CHECK(give(&b, run) == ARC_OK);
    memcpy(first - UNDER_BYTES, saved, UNDER_BYTES);
    CHECK(b.ops->check(b.state) == 0);
    CHECK(b.ops->usable_size(b.state, first) == OBJ);
    CHECK(give(&b, first) == ARC_OK);
    /* An overflow from the last object of a slab into the next slab's header (its seal). */
    unsigned char *last = obj[PER_SLAB - 1];
    CHECKF(last + OBJ == next_slab - 1024, "last %p, next slab's object 0 %p", (void *)last,
           (void *)next_slab);
    memcpy(saved, last + OBJ, OVER_BYTES);
    memset(last + OBJ, JUNK, OVER_BYTES);
    expect_refused(&b, next_slab);
    CHECK(b.ops->usable_size(b.state, next_slab) == 0);
    CHECK(give(&b, second) == ARC_OK); /* the first slab is fine */
    memcpy(last + OBJ, saved, OVER_BYTES);
    for (int i = 2; i <= PER_SLAB; i++)
        CHECK(give(&b, obj[i]) == ARC_OK);
    bench_close(&b);
}

/* arc_byte_set_key after blocks exist re-keys them: they still free, check stays clean. */
static void rekey_case(const arc_byte_ops_t *ops)
{
    bench_t b = bench_open(ops, 0);
    unsigned char *p[MANY];
    for (int i = 0; i < MANY; i++)
        p[i] = take(&b, 16 + 48 * (size_t)i);
    for (int i = 0; i < MANY; i += 2)
        CHECK(give(&b, p[i]) == ARC_OK);
    arc_byte_set_key(ops, b.state, TEST_KEY ^ 1);
    CHECK(ops->check(b.state) == 0);
    for (int i = 1; i < MANY; i += 2)
        CHECK(give(&b, p[i]) == ARC_OK);
    bench_close(&b);
}
#endif

/* Both builds: the key call is accepted anywhere and alloc/dealloc work around it. */
static void api_case(const arc_byte_ops_t *ops)
{
    CHECK((ops->set_key != NULL) == (ARC_SECURE != 0));
    arc_byte_set_key(NULL, NULL, TEST_KEY); /* ignored */
    bench_t b = bench_open(ops, 1);
    unsigned char *p[MANY];
    for (int i = 0; i < MANY; i++)
        p[i] = take(&b, 8 + 40 * (size_t)i);
    for (int i = 0; i < MANY; i++) {
        CHECK(ops->usable_size(b.state, p[i]) >= 8 + 40 * (size_t)i);
        CHECK(give(&b, p[i]) == ARC_OK);
        CHECK(give(&b, p[i]) == ARC_NOT_ALLOCATED);
    }
    bench_close(&b);
}

int main(void)
{
    const arc_byte_ops_t *all[] = {&arc_tlsf_ops, &arc_buddy_ops, &arc_slab_ops};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        api_case(all[i]);
#if ARC_SECURE
    for (int keyed = 0; keyed <= 1; keyed++) {
        tlsf_case(keyed);
        buddy_case(keyed);
        slab_case(keyed);
    }
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        rekey_case(all[i]);
#else
    printf("test_headers: header checks are off in this build (-Dsecure=false)\n");
#endif
    return check_done();
}
