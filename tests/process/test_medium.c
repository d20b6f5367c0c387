/* test_medium.c: a thread heap's cache of freed medium blocks (src/process/medium.c, heap.h
 * "Medium cache"): a freed block of 1-128 KiB comes back for the next request of its bin or of
 * the few bins below it, every block serves every size of its bin, the cache keeps no more than its
 * bounds, gives its blocks back when the heap shrinks, at malloc_trim and at a thread's exit, and
 * never lets a segment that only kept blocks hold stay; misuse of a kept block is reported. Linked
 * with arcalloc's objects (the program's malloc is arcalloc's) so it can look at heap state; it
 * changes a heap only through the calls a program makes. Built with -fno-builtin: a compiler that
 * knows malloc as a builtin takes it to write nothing but errno, and may read a heap's fields
 * across it from a register (GCC moved a read of the segment count past the mallocs that changed
 * it). */
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "heap.h"
#include "thread.h"

/* A medium size and another of the same bin (bin 11: 2817-3072 bytes), and one of another. */
#define SIZE_A  3000
#define SIZE_A2 2900
#define SIZE_B  5000

static size_t bin_of(size_t n)
{
    return arc_medium_bin(n);
}

static size_t kept_in(const arc_heap_t *h)
{
    size_t n = 0;
    for (size_t b = 0; b < ARC_MEDIUM_BINS; b++)
        n += h->medium_count[b];
    return n;
}

/* The bins' lists agree with their counts and with medium_bytes, and stay in the bounds. */
static void check_bounds(const arc_heap_t *h, const char *when)
{
    size_t bytes = 0;
    bool counts_ok = true, bins_ok = true;
    for (size_t b = 0; b < ARC_MEDIUM_BINS; b++) {
        size_t n = 0;
        for (const arc_medium_link_t *l = h->medium[b]; l; l = l->next) {
            n++;
            bytes += l->usable;
            bins_ok &= l->usable >= arc_medium_bin_size(b);
        }
        counts_ok &= n == h->medium_count[b] && n <= ARC_MEDIUM_BIN_BLOCKS;
    }
    CHECKF(counts_ok, "%s: a bin's list and count differ, or it holds too many", when);
    CHECKF(bins_ok, "%s: a kept block is smaller than its bin", when);
    CHECKF(bytes == h->medium_bytes && bytes <= ARC_MEDIUM_CACHE_BYTES,
           "%s: %zu bytes kept, medium_bytes %zu, bound %zu", when, bytes, h->medium_bytes,
           (size_t)ARC_MEDIUM_CACHE_BYTES);
}

/* Bins: every request of 1025 .. 131072 bytes maps to a bin whose size holds it and whose
 * lower neighbour's does not. */
static void bins_map(void)
{
    bool mapped = true;
    for (size_t n = ARC_SMALL_MAX + 1; n <= ARC_MEDIUM_CACHE_MAX; n++) {
        size_t b = bin_of(n);
        mapped &= b < ARC_MEDIUM_BINS && arc_medium_bin_size(b) >= n &&
                  (b == 0 ? n > ARC_SMALL_MAX : arc_medium_bin_size(b - 1) < n);
    }
    CHECKF(mapped, "a request maps to a bin that does not hold it, or to one too large");
    CHECK(arc_medium_bin_size(0) == 1152 &&
          arc_medium_bin_size(ARC_MEDIUM_BINS - 1) == ARC_LARGE_THRESHOLD);
}

/* Each miss lets its bin keep one more block (a size no other case asks for, so its bin starts
 * with none wanted). */
static void wanted(arc_heap_t *h)
{
    enum { SIZE_W = 12000 };
    size_t b = bin_of(SIZE_W);
    CHECK(h->medium_want[b] == 0 && h->medium_count[b] == 0);
    /* volatile: a compiler may drop a malloc whose block is only freed, or move it past a read
     * of the heap it cannot see malloc write (GCC does). */
    void *volatile x = malloc(SIZE_W);
    void *volatile y = malloc(SIZE_W);
    CHECK(h->medium_want[b] == 2);
    free(x);
    free(y);
    CHECK(h->medium_count[b] == 2);
    void *volatile z[3] = {malloc(SIZE_W), malloc(SIZE_W), malloc(SIZE_W)}; /* 2 kept, 1 miss */
    CHECK(h->medium_count[b] == 0 && h->medium_want[b] == 3);
    void *volatile w = malloc(SIZE_W); /* want 4: the three frees fill 3, the fourth too */
    free(z[0]);
    free(z[1]);
    free(z[2]);
    CHECK(h->medium_count[b] == 3);
    free(w);
    CHECK(h->medium_count[b] == 4);
    check_bounds(h, "wanted");
}

/* Every block a miss gives serves the largest request of its bin. */
static void bins_served(void)
{
    bool served = true;
    for (size_t n = ARC_SMALL_MAX + 1; n <= ARC_MEDIUM_CACHE_MAX; n += 97) {
        void *p = malloc(n);
        served &= p != NULL && malloc_usable_size(p) >= arc_medium_bin_size(bin_of(n));
        free(p);
    }
    CHECKF(served, "a block of the byte allocator is smaller than its request's bin");
}

/* A freed block comes back for the next request of its bin, whatever size in it; another bin's
 * request does not take it; calloc clears it. */
static void reuse(arc_heap_t *h)
{
    unsigned char *p = malloc(SIZE_A);
    CHECK(p != NULL);
    fill_kept(p, 0xab, SIZE_A);
    uintptr_t freed = (uintptr_t)p; /* compared as a number: the pointer is dead once freed */
    free(p);
    CHECK(h->medium_count[bin_of(SIZE_A)] == 1);
    void *other = malloc(SIZE_B);
    CHECK((uintptr_t)other != freed);
    unsigned char *q = malloc(SIZE_A2);
    CHECKF((uintptr_t)q == freed, "a request of the same bin got %p, not the freed block",
           (void *)q);
    CHECK(malloc_usable_size(q) >= SIZE_A);
    free(q);
    unsigned char *z = calloc(1, SIZE_A);
    CHECK((uintptr_t)z == freed);
    bool zero = z != NULL;
    for (size_t i = 0; zero && i < SIZE_A; i++)
        zero = z[i] == 0;
    CHECKF(zero, "calloc handed out a kept block without clearing it");
    free(z);
    free(other);
    check_bounds(h, "reuse");
}

/* A request above 32 KiB whose bin keeps nothing takes a kept block of a bin at most
 * ARC_MEDIUM_REACH above its own, never one further up; a request below takes its own bin's
 * blocks only. Blocks up to the large threshold are kept, a large run is not. */
static void reach(arc_heap_t *h)
{
    enum { SIZE_R = 40000 }; /* the second bin above 32 KiB: 36865 .. 40960 bytes */
    arc_malloc_trim(0);
    size_t b = bin_of(SIZE_R);
    CHECK(b == ARC_MEDIUM_REACH_BIN + 1);
    size_t top = arc_medium_bin_size(b + ARC_MEDIUM_REACH);
    void *volatile far = malloc(top);
    uintptr_t kept = (uintptr_t)far;
    free(far);
    CHECKF(h->medium_count[b + ARC_MEDIUM_REACH] == 1, "a freed block of %zu bytes was not kept",
           top);
    void *volatile below = malloc(arc_medium_bin_size(b - 1)); /* one bin too far down */
    CHECKF((uintptr_t)below != kept, "a request %u bins below took the kept block",
           ARC_MEDIUM_REACH + 1);
    void *volatile near = malloc(SIZE_R);
    CHECKF((uintptr_t)near == kept, "a request %u bins below did not take the kept block",
           ARC_MEDIUM_REACH);
    CHECK(malloc_usable_size(near) >= top && h->medium_count[b + ARC_MEDIUM_REACH] == 0);
    free(near);
    free(below);
    /* Below 32 KiB: the next bin's block stays for its own requests. */
    size_t last_own = ARC_MEDIUM_REACH_BIN - 1;
    void *volatile own = malloc(arc_medium_bin_size(last_own));
    uintptr_t own_at = (uintptr_t)own;
    free(own);
    CHECK(h->medium_count[last_own] == 1);
    void *volatile lower = malloc(arc_medium_bin_size(last_own - 1));
    CHECKF((uintptr_t)lower != own_at, "a request below 32 KiB took the next bin's block");
    free(lower);
    size_t bytes = h->medium_bytes;
    void *volatile last = malloc(ARC_LARGE_THRESHOLD); /* the largest heap block */
    free(last);
    CHECKF(h->medium_bytes > bytes, "a block of %zu bytes was not kept", ARC_LARGE_THRESHOLD);
    bytes = h->medium_bytes;
    void *volatile run = malloc(ARC_LARGE_THRESHOLD + 1); /* a large run */
    free(run);
    CHECK(h->medium_bytes == bytes);
    check_bounds(h, "reach");
}

/* An aligned request takes a kept block whose address has its alignment: a page-aligned buffer
 * freed comes back for the next page-aligned request of its bin; a kept block without the
 * alignment is left for the requests it fits. */
static void aligned(arc_heap_t *h)
{
    enum { PAGE = 4096, SIZE_P = 3 * PAGE };
    arc_malloc_trim(0);
    size_t b = bin_of(SIZE_P);
    void *volatile first = NULL;
    CHECK(posix_memalign((void **)&first, PAGE, SIZE_P) == 0 && first != NULL);
    CHECK(((uintptr_t)first & (PAGE - 1)) == 0);
    void *volatile second = NULL; /* a miss lets the bin keep two */
    CHECK(posix_memalign((void **)&second, PAGE, SIZE_P) == 0);
    uintptr_t at = (uintptr_t)first;
    free(second);
    free(first);
    CHECKF(h->medium_count[b] == 2, "%u page-aligned blocks kept, not 2", h->medium_count[b]);
    void *volatile again = aligned_alloc(PAGE, SIZE_P - 100);
    CHECKF((uintptr_t)again == at, "a page-aligned request got %p, not the kept block %p",
           (void *)again, (void *)at);
    CHECK(h->medium_count[b] == 1);
    free(again);
    /* A kept block at an odd granule: an aligned request leaves it, malloc takes it. */
    enum { TRIES = 64 };
    void *hold[2 * TRIES];
    size_t held = 0;
    void *volatile odd = NULL;
    for (int i = 0; i < TRIES && odd == NULL; i++) {
        hold[held++] = malloc(ARC_SMALL_MAX + 1 + 16 * (size_t)i); /* moves the next block on */
        void *q = malloc(SIZE_P);
        if (((uintptr_t)q & (PAGE - 1)) != 0)
            odd = q;
        else
            hold[held++] = q;
    }
    CHECKF(odd != NULL, "no block of %d bytes off a page boundary in %d tries", SIZE_P, TRIES);
    while (held > 0)
        free(hold[--held]);
    arc_malloc_trim(0);
    CHECK(h->medium_count[b] == 0);
    uintptr_t odd_at = (uintptr_t)odd;
    h->medium_want[b] = 1;
    free(odd);
    CHECK(h->medium_count[b] == 1 && (uintptr_t)h->medium[b] == odd_at);
    void *volatile paged = memalign(PAGE, SIZE_P);
    CHECKF(paged != NULL && ((uintptr_t)paged & (PAGE - 1)) == 0 && (uintptr_t)paged != odd_at,
           "a page-aligned request took a kept block off a page boundary");
    CHECK(h->medium_count[b] == 1);
    void *volatile plain = malloc(SIZE_P);
    CHECK((uintptr_t)plain == odd_at && h->medium_count[b] == 0);
    free(plain);
    free(paged);
    check_bounds(h, "aligned");
}

/* Many blocks of many bins freed at once: each bin keeps at most its bound, the cache at most
 * its bytes; a bin keeps only as many blocks as requests missed it. */
static void bounded(arc_heap_t *h)
{
    enum { SIZES = 24, PER_SIZE = 10 };
    static void *held[SIZES][PER_SIZE];
    arc_malloc_trim(0);
    CHECK(h->medium_bytes == 0 && kept_in(h) == 0);
    for (size_t s = 0; s < SIZES; s++)
        for (size_t i = 0; i < PER_SIZE; i++)
            held[s][i] = malloc(ARC_SMALL_MAX + 1 + s * 1300);
    for (size_t s = 0; s < SIZES; s++)
        for (size_t i = 0; i < PER_SIZE; i++)
            free(held[s][i]);
    check_bounds(h, "bounded");
    CHECKF(h->medium_bytes > ARC_MEDIUM_CACHE_BYTES / 2, "only %zu bytes kept of 240 blocks",
           h->medium_bytes);
    arc_malloc_trim(0);
    CHECK(h->medium_bytes == 0 && kept_in(h) == 0);
}

/* A realloc that moves a block passes by the cache: the block it leaves goes back to the byte
 * allocator, not into its bin, and the cache is on again after it. */
static void realloc_moves(arc_heap_t *h)
{
    arc_malloc_trim(0);
    unsigned char *p = malloc(SIZE_A);
    CHECK(p != NULL);
    fill_kept(p, 0x3c, SIZE_A);
    uintptr_t old = (uintptr_t)p;
    size_t kept_before = h->medium_count[bin_of(SIZE_A)];
    unsigned char *q = realloc(p, 4 * SIZE_A);
    CHECK(q != NULL && (uintptr_t)q != old && q[SIZE_A - 1] == 0x3c);
    CHECKF(h->medium_count[bin_of(SIZE_A)] == kept_before,
           "the block realloc left went into the cache");
    CHECK(h->medium_on);
    free(q);
    check_bounds(h, "realloc");
}

/* A heap that frees far more than it asks for (a table dropped) keeps nothing: the kept blocks
 * go back with the rest, and no bin keeps again before a request misses it. */
static void shrinking(arc_heap_t *h)
{
    enum { BLOCKS = 2000 };
    static void *table[BLOCKS];
    for (size_t i = 0; i < BLOCKS; i++)
        table[i] = malloc(2000 + i % 2000);
    for (size_t i = 0; i < BLOCKS; i++)
        free(table[i]);
    CHECKF(kept_in(h) <= 1, "%zu blocks kept after 2000 frees and no request", kept_in(h));
    bool none_wanted = true;
    for (size_t b = 0; b < ARC_MEDIUM_BINS; b++)
        none_wanted &= h->medium_want[b] <= 1;
    CHECK(none_wanted);
    void *volatile p = malloc(SIZE_A);
    free(p);
    CHECK(h->medium_count[bin_of(SIZE_A)] == 1); /* the miss let its bin keep one again */
    check_bounds(h, "shrinking");
}

/* Segments: after freeing every block of a few segments, no segment of the heap is held by kept
 * blocks alone, but the one a heap always keeps. */
static void segments_go(arc_heap_t *h)
{
    enum { BLOCKS = 150, SIZE = 30000 };
    static void *big[BLOCKS];
    arc_malloc_trim(0);
    size_t before = h->nsegments;
    for (size_t i = 0; i < BLOCKS; i++)
        big[i] = malloc(SIZE);
    CHECKF(h->nsegments >= before + 2, "150 blocks of 30000 bytes: %zu segments", h->nsegments);
    /* A request between frees keeps the heap from counting as shrinking (that flush would hide
     * whether the segments went back on their own). */
    for (size_t i = 0; i < BLOCKS; i++) {
        free(big[i]);
        void *volatile between = malloc(SIZE_B);
        free(between);
    }
    size_t held_by_kept = 0;
    for (const arc_ilist_link_t *l = h->segments; l; l = l->next) {
        const arc_segment_t *seg = ARC_ILIST_ENTRY(l, arc_segment_t, link);
        held_by_kept += seg->backend_blocks > 0 && seg->backend_blocks == seg->medium_kept;
    }
    CHECKF(held_by_kept == 0 || h->nsegments == 1,
           "%zu of %zu segments are held by kept blocks alone", held_by_kept, h->nsegments);
    CHECKF(h->nsegments <= before + 1, "%zu segments after freeing everything (%zu before)",
           h->nsegments, before);
    check_bounds(h, "segments");
}

/* Another thread frees the owner's medium block: the owner's drain keeps it for its next
 * request. A thread's exit gives its own kept blocks back. */
static void *free_block(void *arg)
{
    free(arg);
    return NULL;
}

static arc_heap_t *exited_heap;
static size_t exited_kept_before;

static void *keep_then_exit(void *arg)
{
    (void)arg;
    void *volatile p = malloc(SIZE_B);
    free(p);
    exited_heap = arc_tls_heap;
    exited_kept_before = exited_heap ? exited_heap->medium_bytes : 0;
    return NULL;
}

static void threads(arc_heap_t *h)
{
    arc_malloc_trim(0);
    void *p = malloc(SIZE_A);
    uintptr_t handed = (uintptr_t)p;
    pthread_t t;
    CHECK(pthread_create(&t, NULL, free_block, p) == 0);
    pthread_join(t, NULL);
    void *q = malloc(SIZE_A2); /* the miss drains what the other thread handed back */
    void *r = malloc(SIZE_A2);
    CHECKF((uintptr_t)q == handed || (uintptr_t)r == handed,
           "the block another thread freed did not come back to its owner");
    free(q);
    free(r);
    CHECK(pthread_create(&t, NULL, keep_then_exit, NULL) == 0);
    pthread_join(t, NULL);
    CHECK(exited_heap != NULL && exited_heap != h && exited_kept_before > 0);
    CHECKF(exited_heap && exited_heap->medium_bytes == 0 && kept_in(exited_heap) == 0,
           "an exited thread's heap still keeps %zu bytes", exited_heap->medium_bytes);
}

static void double_free_kept(void *arg)
{
    (void)arg;
    void *volatile p = malloc(SIZE_A);
    free(p);
    free(p);
}

static void write_after_free_kept(void *arg)
{
    (void)arg;
    void *volatile p = malloc(SIZE_A);
    free(p);
    fill_kept(p, 0x5a, 64); /* a stale pointer's memset over the block's first words */
    void *volatile q = malloc(SIZE_A2);
    (void)q;
}

int main(void)
{
    malloc_free_kept(64); /* the main thread's heap */
    arc_heap_t *h = arc_tls_heap;
    CHECK(h != NULL);
    if (!h)
        return check_done();
    bool on = h->medium_on;
#if ARC_SECURE
    /* Secure mode keeps freed blocks in its quarantine instead: no cache. */
    CHECK(on == !h->secure);
#else
    CHECK(on);
#endif
    bins_map();
    if (!on) {
        printf("secure mode: no medium cache (the quarantine holds freed blocks)\n");
        return check_done();
    }
    wanted(h);
    bins_served();
    reuse(h);
    realloc_moves(h);
    reach(h);
    aligned(h);
    bounded(h);
    shrinking(h);
    segments_go(h);
    threads(h);
    check_aborts(double_free_kept, NULL, "double free", "a kept block freed again");
    check_aborts(write_after_free_kept, NULL, "write after free",
                 "a kept block written after free");
    return check_done();
}
