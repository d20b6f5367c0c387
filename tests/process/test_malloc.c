/* test_malloc.c: conformance of the malloc family as libarcalloc.so exports it (this program
 * links -larcalloc, so the standard names are arcalloc's). Sizes, alignments, errno, contents
 * across realloc boundaries, usable sizes, calloc zeroing, introspection figures, malloc_trim
 * and the backend in use. It must never misuse the heap (test_misuse.c does, in children) nor
 * assert anything that cannot fail. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arcalloc.h"
#include "arcalloc_config.h"
#include "check.h"
#include "libc_names.h"

void free_sized(void *ptr, size_t size);
void free_aligned_sized(void *ptr, size_t align, size_t size);

static int aligned_to(const void *p, size_t align)
{
    return ((uintptr_t)p & (align - 1)) == 0;
}

static int ptr_cmp(const void *a, const void *b)
{
    void *const *pa = a, *const *pb = b;
    uintptr_t x = (uintptr_t)*pa, y = (uintptr_t)*pb;
    return (x > y) - (x < y);
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(seed + i * 7);
}

static int filled(const unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(seed + i * 7))
            return 0;
    return 1;
}

static void test_basic_sizes(void)
{
    static const size_t sizes[] = {0,    1,     7,      8,      15,      16,      17,
                                   24,   100,   1000,   1024,   1025,    4095,    4096,
                                   4097, 65536, 131072, 131073, 1 << 20, 5 << 20, 33 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char *p = malloc(sizes[i]);
        CHECKF(p != NULL, "malloc(%zu)", sizes[i]);
        if (!p)
            continue;
        CHECK(arc_owns(p));
        CHECKF(aligned_to(p, 16), "malloc(%zu) = %p not 16-aligned", sizes[i], (void *)p);
        size_t usable = malloc_usable_size(p);
        CHECKF(usable >= sizes[i], "usable %zu < %zu", usable, sizes[i]);
        fill_kept(p, 0xab, usable);                  /* writable to its full usable size */
        CHECK(usable == 0 || p[usable - 1] == 0xab); /* malloc(0) may have no bytes */
        free(p);
    }
    /* malloc(0) gives distinct, freeable pointers. */
    void *a = malloc(0), *b = malloc(0);
    CHECK(a && b && a != b);
    free(a);
    free(b);
    free(NULL);
}

/* More zero-size blocks live than the zero-size region has slots (65 536): the rest are ordinary
 * minimal blocks, all distinct and freeable; a slot freed while the region is full is the next
 * malloc(0)'s, from a region the search had given up on. */
#define ZERO_BLOCKS 70000
static void test_zero_size_many(void)
{
    static void *blocks[ZERO_BLOCKS];
    bool all = true;
    for (size_t i = 0; i < ZERO_BLOCKS; i++)
        all &= (blocks[i] = malloc(0)) != NULL;
    CHECK(all);
    void *past = malloc(0); /* the region is full now: an ordinary block */
    CHECK(past != NULL && arc_owns(past));
    uintptr_t first = (uintptr_t)blocks[0]; /* an address, compared after the free */
    free(blocks[0]);
    void *again = malloc(0);
    CHECKF((uintptr_t)again == first,
           "malloc(0) after a slot was freed: %p, not the freed slot %#" PRIxPTR, again, first);
    blocks[0] = again;
    free(past);
    /* Sorted, the addresses must all differ. */
    qsort(blocks, ZERO_BLOCKS, sizeof blocks[0], ptr_cmp);
    size_t same = 0;
    for (size_t i = 1; i < ZERO_BLOCKS; i++)
        same += blocks[i] == blocks[i - 1];
    CHECKF(same == 0, "%zu zero-size blocks share an address", same);
    for (size_t i = 0; i < ZERO_BLOCKS; i++)
        free(blocks[i]);
}

/* A block resized back and forth across the large threshold (128 KiB) stays where it is once it
 * is a page run: shrinking to half the run or more and growing back keep the run (where the
 * pages after it are free), so no crossing copies it. Below half, it moves to a heap block. */
static void test_realloc_across_threshold(void)
{
    size_t big = (size_t)136 << 10;
    unsigned char *p = malloc(big);
    CHECK(p != NULL);
    if (!p)
        return;
    fill(p, big, 9);
    unsigned char *run = p;
    size_t kept = big, moves = 0;
    for (size_t i = 0; i < 64; i++) {
        size_t n = ((size_t)120 << 10) + (i % 17) * 1024; /* 120 .. 136 KiB */
        unsigned char *q = realloc(p, n);
        CHECK(q != NULL);
        if (!q)
            return;
        moves += q != run;
        size_t common = kept < n ? kept : n;
        CHECKF(filled(q, common, 9), "contents lost realloc %zu -> %zu", kept, n);
        fill(q, n, 9);
        p = q;
        kept = n;
    }
    CHECKF(moves == 0, "a page run resized between 120 and 136 KiB moved %zu times", moves);
    unsigned char *q = realloc(p, (size_t)40 << 10); /* below half: a heap block now */
    CHECK(q != NULL && filled(q, (size_t)40 << 10, 9));
    free(q ? q : p);
}

/* Sizes go through volatile variables: the compiler must not see the misuse at build time. */
static volatile size_t size_max = SIZE_MAX, half_max = SIZE_MAX / 2, two_33 = (size_t)1 << 33;

static void test_impossible_sizes(void)
{
    CHECK_ERRNO_SET(0);
    CHECK(CHECK_KEEP(malloc(size_max)) == NULL && CHECK_ERRNO() == ENOMEM);
    CHECK_ERRNO_SET(0);
    CHECK(CHECK_KEEP(malloc(half_max)) == NULL && CHECK_ERRNO() == ENOMEM);
    CHECK_ERRNO_SET(0);
    CHECK(CHECK_KEEP(calloc(half_max, 3)) == NULL && CHECK_ERRNO() == ENOMEM);
    CHECK_ERRNO_SET(0);
    CHECK(CHECK_KEEP(calloc(two_33, two_33)) == NULL && CHECK_ERRNO() == ENOMEM);
    void *volatile p = malloc(16);
    CHECK_ERRNO_SET(0);
    CHECK(CHECK_KEEP(reallocarray(p, half_max, 4)) == NULL && CHECK_ERRNO() == ENOMEM);
    CHECK_ERRNO_SET(0);
    CHECK(CHECK_KEEP(realloc(p, size_max - 8)) == NULL && CHECK_ERRNO() == ENOMEM);
    free(p); /* the failed reallocs left p alive */
    CHECK_ERRNO_SET(0);
    CHECK(CHECK_KEEP(pvalloc(size_max - 10)) == NULL && CHECK_ERRNO() == ENOMEM);
    /* Aligned requests of sizes that wrap when secure mode adds its 8-byte canary (the secure
     * build's fuzzer found posix_memalign(64, SIZE_MAX) answered with a small block). */
    const size_t wrapping[] = {size_max, size_max - 7, size_max - 15};
    for (size_t i = 0; i < sizeof wrapping / sizeof wrapping[0]; i++) {
        for (size_t align = 32; align <= 4096; align *= 8) {
            void *q = (void *)&q;
            CHECKF(posix_memalign(&q, align, wrapping[i]) == ENOMEM && q == (void *)&q,
                   "posix_memalign(%zu, SIZE_MAX - %zu)", align, size_max - wrapping[i]);
            CHECK_ERRNO_SET(0);
            CHECKF(CHECK_KEEP(aligned_alloc(align, wrapping[i])) == NULL && CHECK_ERRNO() == ENOMEM,
                   "aligned_alloc(%zu, SIZE_MAX - %zu)", align, size_max - wrapping[i]);
        }
    }
}

/* Aligned small requests (issue 13's patterns: C++ alignas(32/64) objects, SIMD buffers) take
 * blocks of a size class whose blocks all have the alignment, not the byte allocator's: every
 * alignment from 32 to 1 KiB and every size up to 1 KiB gives an aligned block of at least the
 * size; 600 of them live at once keep their bytes; and (counters compiled in) none of those
 * that fit a class with room for a canary went to the byte allocator (medium_allocs). */
#define ALIGNED_LIVE 600
/* Room kept for secure mode's canary word when deciding which requests a class must serve. */
#define ALIGNED_CANARY_ROOM 16u

static void test_aligned_small(void)
{
    static unsigned char *live[ALIGNED_LIVE];
    static size_t live_size[ALIGNED_LIVE];
    struct arc_stats s0, s1;
    size_t expected_small = 0, n = 0;
    arc_stats_get(&s0);
    for (size_t align = 32; align <= 1024; align *= 2) {
        for (size_t size = 1; size <= 1024; size += (size < 64 ? 1 : 7)) {
            unsigned char *p = aligned_alloc(align, size);
            CHECKF(p && aligned_to(p, align), "aligned_alloc(%zu, %zu) = %p", align, size,
                   (void *)p);
            CHECKF(malloc_usable_size(p) >= size, "aligned_alloc(%zu, %zu): usable %zu", align,
                   size, malloc_usable_size(p));
            size_t rounded = (size + ALIGNED_CANARY_ROOM + align - 1) & ~(align - 1);
            expected_small += rounded <= 1024;
            if (live[n % ALIGNED_LIVE]) {
                CHECKF(filled(live[n % ALIGNED_LIVE], live_size[n % ALIGNED_LIVE], (unsigned)n),
                       "aligned block %zu lost its bytes", n % ALIGNED_LIVE);
                free(live[n % ALIGNED_LIVE]);
            }
            fill(p, size, (unsigned)(n + ALIGNED_LIVE));
            live[n % ALIGNED_LIVE] = p;
            live_size[n % ALIGNED_LIVE] = size;
            n++;
        }
    }
    arc_stats_get(&s1);
    for (size_t i = 0; i < ALIGNED_LIVE; i++) {
        /* The (n - 600 + i)th block, filled with seed n + i. */
        size_t k = (n - ALIGNED_LIVE + i) % ALIGNED_LIVE;
        CHECKF(filled(live[k], live_size[k], (unsigned)(n + i)), "aligned block %zu lost its bytes",
               k);
        free(live[k]);
    }
    CHECK(expected_small > 0);
    if (s0.stats_enabled)
        CHECKF(s1.medium_allocs - s0.medium_allocs <= n - expected_small,
               "%" PRIu64 " aligned requests went to the byte allocator, at most %zu should",
               s1.medium_allocs - s0.medium_allocs, n - expected_small);
}

/* Odd alignments through volatiles: clang refuses them as constants. */
static volatile size_t align_24 = 24, align_48 = 48;

static void test_alignment(void)
{
    for (size_t align = 8; align <= ((size_t)4 << 20); align *= 2) {
        size_t sizes[] = {1, align / 2 + 1, align, 3 * align + 5};
        for (int k = 0; k < 4; k++) {
            void *p = NULL;
            CHECKF(posix_memalign(&p, align, sizes[k]) == 0 && p, "posix_memalign(%zu)", align);
            CHECKF(aligned_to(p, align), "posix_memalign %p not aligned to %zu", p, align);
            CHECK(malloc_usable_size(p) >= sizes[k]);
            fill_kept(p, 1, sizes[k]);
            free(p);
            void *q = aligned_alloc(align, sizes[k]);
            CHECKF(q && aligned_to(q, align), "aligned_alloc(%zu)", align);
            free(q);
            void *r = memalign(align, sizes[k]);
            CHECKF(r && aligned_to(r, align), "memalign(%zu)", align);
            free_aligned_sized(r, align, sizes[k]);
        }
    }
    /* Size 0 with an alignment still gives a real, freeable, aligned block. */
    for (size_t align = 32; align <= ((size_t)1 << 16); align *= 8) {
        void *z = NULL;
        CHECKF(posix_memalign(&z, align, 0) == 0 && z && aligned_to(z, align),
               "posix_memalign(%zu, 0)", align);
        free(z);
        z = aligned_alloc(align, 0);
        CHECKF(z && aligned_to(z, align), "aligned_alloc(%zu, 0)", align);
        free(z);
    }
    void *p = (void *)1;
    CHECK(posix_memalign(&p, 0, 16) == EINVAL);
    CHECK(posix_memalign(&p, 3, 16) == EINVAL);
    CHECK(posix_memalign(&p, 4, 16) == EINVAL); /* below sizeof(void *) */
    CHECK(posix_memalign(&p, 24, 16) == EINVAL);
    CHECK(p == (void *)1); /* untouched on failure */
    CHECK_ERRNO_SET(0);
    CHECK(CHECK_KEEP(aligned_alloc(align_24, 48)) == NULL && CHECK_ERRNO() == EINVAL);
    /* memalign rounds a non-power-of-two alignment up, as glibc does. */
    void *m = memalign(align_48, 100);
    CHECK(m && aligned_to(m, 64));
    free(m);
    void *v = valloc(100), *pv = pvalloc(100);
    CHECK(v && aligned_to(v, 4096) && pv && aligned_to(pv, 4096));
    CHECK(malloc_usable_size(pv) >= 4096);
    free(v);
    free(pv);
}

static void test_realloc_boundaries(void)
{
    static const size_t steps[] = {1,       8,      16,     17,     100,     1024,    1025,
                                   4096,    65536,  131072, 131073, 1 << 20, 3 << 20, 17 << 20,
                                   1 << 20, 131073, 131072, 1025,   1024,    16,      1};
    size_t n = sizeof steps / sizeof steps[0];
    unsigned char *p = malloc(steps[0]);
    fill(p, steps[0], 3);
    size_t kept = steps[0];
    for (size_t i = 1; i < n; i++) {
        unsigned char *q = realloc(p, steps[i]);
        CHECKF(q != NULL, "realloc to %zu", steps[i]);
        if (!q)
            break;
        size_t common = kept < steps[i] ? kept : steps[i];
        CHECKF(filled(q, common, 3), "contents lost realloc %zu -> %zu", steps[i - 1], steps[i]);
        fill(q, steps[i], 3);
        kept = steps[i];
        p = q;
    }
    free(p);
    /* realloc(NULL, n) is malloc; realloc(p, 0) frees and returns NULL (glibc's choice). */
    p = realloc(NULL, 40);
    CHECK(p != NULL);
    CHECK(CHECK_KEEP(realloc(p, 0)) == NULL);
}

static void test_calloc_recycled(void)
{
    enum { COUNT = 500 };
    static const size_t sizes[] = {24, 256, 1000, 4000, 60000, 200000};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        void *blocks[COUNT];
        for (int i = 0; i < COUNT; i++) {
            blocks[i] = malloc(sizes[s]);
            memset(blocks[i], 0xff, sizes[s]);
        }
        for (int i = 0; i < COUNT; i++)
            free(blocks[i]);
        int dirty = 0;
        for (int i = 0; i < COUNT; i++) {
            unsigned char *c = calloc(1, sizes[s]);
            for (size_t k = 0; k < sizes[s]; k++)
                dirty |= c[k];
            blocks[i] = c;
        }
        CHECKF(!dirty, "calloc(%zu) returned recycled memory not zeroed", sizes[s]);
        for (int i = 0; i < COUNT; i++)
            free(blocks[i]);
    }
}

static void test_errno_and_sized(void)
{
    void *p = malloc(100), *big = malloc(1 << 20);
    CHECK_ERRNO_SET(12345);
    free(p);
    free(big);
    CHECK(CHECK_ERRNO() == 12345);
    p = malloc(100);
    free_sized(p, 100);
    p = malloc(300000);
    free_sized(p, 300000);
    CHECK(CHECK_ERRNO() == 12345);
}

#if ARC_HAVE_MALLINFO
/* The old mallinfo's int fields: glibc clamps what does not fit. */
static int clamp_int(size_t v)
{
    return v > INT_MAX ? INT_MAX : (int)v;
}
#endif

static void test_introspection(void)
{
    enum { COUNT = 1000, SIZE = 512, LARGE_BYTES = 8 << 20 };
    malloc_trim(0); /* what the tests before left cached goes now: the trim below is ours */
    /* A large block live throughout: freed runs are kept committed (dirty) while large blocks
     * live, so the one freed below waits for malloc_trim instead of going back at once. */
    unsigned char *volatile keep = malloc(LARGE_BYTES);
    CHECK(keep != NULL);
    struct mallinfo2 before = mallinfo2();
    void *volatile blocks[COUNT];
    for (int i = 0; i < COUNT; i++)
        blocks[i] = malloc(SIZE);
    unsigned char *volatile large = malloc(LARGE_BYTES);
    memset(large, 1, LARGE_BYTES); /* its pages are real memory now */
    struct mallinfo2 during = mallinfo2();
#if ARC_HAVE_MALLINFO
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    struct mallinfo old = mallinfo(); /* the old int interface: the same figures, clamped */
#pragma GCC diagnostic pop
    CHECK(old.arena == clamp_int(during.arena) && old.ordblks == clamp_int(during.ordblks));
    CHECK(old.hblks == clamp_int(during.hblks) && old.hblkhd == clamp_int(during.hblkhd));
    CHECK(old.uordblks == clamp_int(during.uordblks) && old.hblks >= 1);
#endif
    CHECKF(during.uordblks >= before.uordblks + COUNT * SIZE, "uordblks %zu -> %zu",
           before.uordblks, during.uordblks);
    CHECK(during.hblks == before.hblks + 1);
    CHECK(during.hblkhd >= before.hblkhd + LARGE_BYTES);
    CHECK(during.arena >= during.uordblks);
    for (int i = 0; i < COUNT; i++)
        free(blocks[i]);
    free(large);
    struct mallinfo2 after = mallinfo2();
    CHECK(after.hblks == before.hblks);
    CHECK(after.uordblks < during.uordblks);
    /* All but `keep` is free: malloc_trim gives memory back to the OS and says so; then nothing
     * is left to give. */
    struct arc_stats s0, s1;
    arc_stats_get(&s0);
    CHECK(malloc_trim(0) == 1);
    arc_stats_get(&s1);
    CHECKF(s1.returned_bytes > s0.returned_bytes, "returned %" PRIu64 " -> %" PRIu64 " bytes",
           s0.returned_bytes, s1.returned_bytes);
    CHECK(malloc_trim(0) == 0);
    free(keep);
}

/* The thread heaps' backend is the one ARCALLOC_BACKEND names (meson runs this program once per
 * backend), or the build's default without it. */
static void test_backend_name(void)
{
    const char *env = getenv("ARCALLOC_BACKEND");
    const char *want = env && *env ? env : ARC_DEFAULT_BACKEND;
    CHECKF(strcmp(arc_backend_name(), want) == 0, "backend \"%s\", want \"%s\"", arc_backend_name(),
           want);
}

static void test_first_class_heaps(void)
{
    static const char *const backends[] = {"tlsf", "buddy", "slab", NULL};
    for (int b = 0; b < 4; b++) {
        arc_heap_t *h = arc_heap_new(backends[b]);
        CHECKF(h != NULL, "arc_heap_new(%s)", backends[b] ? backends[b] : "default");
        if (!h)
            continue;
        enum { COUNT = 3000 };
        unsigned char *blocks[COUNT];
        for (int i = 0; i < COUNT; i++) {
            size_t size = 1 + (size_t)(i * 131) % 3000;
            blocks[i] = arc_heap_malloc(h, size);
            CHECK(blocks[i] && arc_owns(blocks[i]));
            fill(blocks[i], size, (unsigned)i);
        }
        unsigned char *big = arc_heap_malloc(h, 1 << 20);
        unsigned char *zero = arc_heap_calloc(h, 100, 10);
        CHECK(big && zero && zero[0] == 0 && zero[999] == 0);
        CHECK(arc_heap_used_bytes(h) >= (1 << 20) + 1000);
        int intact = 1;
        for (int i = 0; i < COUNT; i += 2) {
            size_t size = 1 + (size_t)(i * 131) % 3000;
            intact &= filled(blocks[i], size, (unsigned)i);
            blocks[i] = arc_heap_realloc(h, blocks[i], size * 2);
            intact &= filled(blocks[i], size, (unsigned)i);
        }
        CHECK(intact);
        for (int i = 1; i < COUNT; i += 4)
            arc_heap_free(h, blocks[i]);
        for (int i = 3; i < COUNT; i += 4)
            free(blocks[i]); /* the general free finds the heap too */
        void *aligned = arc_heap_memalign(h, 256, 100);
        CHECK(aligned && aligned_to(aligned, 256));
        arc_heap_destroy(h); /* everything else at once */
    }
    CHECK_ERRNO_SET(0);
    CHECK(CHECK_KEEP(arc_heap_new("nonesuch")) == NULL && CHECK_ERRNO() == EINVAL);
    /* A destroyed heap's memory is reusable: many cycles do not grow the process. */
    struct mallinfo2 before = mallinfo2();
    for (int cycle = 0; cycle < 200; cycle++) {
        arc_heap_t *h = arc_heap_new("tlsf");
        for (int i = 0; i < 200; i++)
            arc_heap_malloc(h, 4000);
        arc_heap_destroy(h);
    }
    struct mallinfo2 after = mallinfo2();
    CHECKF(after.arena <= before.arena + (4 << 20), "arena %zu -> %zu after heap cycles",
           before.arena, after.arena);
}

/* Blocks freed in random order come back in address order once malloc moves on to their span:
 * a program that drops one phase's objects and builds the next walks its memory forwards. Freed
 * in a shuffled order and handed back last-in first-out, about half the steps would go down. */
static void test_reuse_in_address_order(void)
{
    enum { COUNT = 8192, SIZE = 112, FREED = COUNT * 3 / 4 };
    static void *blocks[COUNT];
    static unsigned order[COUNT];
    for (unsigned i = 0; i < COUNT; i++) {
        blocks[i] = malloc(SIZE);
        order[i] = i;
    }
    uint64_t x = 0x9E3779B97F4A7C15u; /* xorshift64 (Marsaglia 2003): a fixed shuffle */
    for (unsigned i = COUNT - 1; i > 0; i--) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        unsigned j = (unsigned)(x % (i + 1)), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (unsigned i = 0; i < FREED; i++)
        free(blocks[order[i]]);
    unsigned up = 0;
    uintptr_t prev = 0;
    for (unsigned i = 0; i < FREED; i++) {
        void *p = malloc(SIZE);
        up += (uintptr_t)p > prev;
        prev = (uintptr_t)p;
        blocks[order[i]] = p;
    }
    /* Secure mode promises no order: freed blocks wait in a quarantine and come back in the
     * order it lets them go, at random (docs/security.md). */
    const char *env = getenv("ARCALLOC_SECURE");
    bool secure = ARC_SECURE && !(env && strcmp(env, "0") == 0);
    unsigned share = secure ? 0u : 90u;
    CHECKF(up * 100u >= FREED * share, "%u of %u blocks came back above the one before", up, FREED);
    for (unsigned i = 0; i < COUNT; i++)
        free(blocks[i]);
}

int main(void)
{
    test_basic_sizes();
    test_zero_size_many();
    test_impossible_sizes();
    test_alignment();
    test_aligned_small();
    test_realloc_boundaries();
    test_realloc_across_threshold();
    test_calloc_recycled();
    test_errno_and_sized();
    test_introspection();
    test_backend_name();
    test_first_class_heaps();
    test_reuse_in_address_order();
    return check_done();
}
