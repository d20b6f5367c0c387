/* test_pages.c: the page allocator: the seed's own test (a 2 GiB region at 1 GiB + 4 KiB, runs
 * of 1..1000 pages at 4 KiB, 2 MiB and 1 GiB alignment, with and without a fixed base), every
 * contract edge, several regions, a randomized model test and lazy residency of the state.
 * Expectations are derived from ARC_ADDRESS_SPACE_BYTES, so one source serves every build. It
 * goes through the public API only and must never assert anything that cannot fail. */
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arcalloc.h"
#include "check.h"

#define PAGE ((uintptr_t)ARC_PAGE_SIZE)
#define KIB  ((uintptr_t)1 << 10)
#define MIB  ((uintptr_t)1 << 20)
#define GIB  ((uintptr_t)1 << 30)
/* The map window: its size, and the alignment of its base (arcalloc.h: the first region's start
 * aligned down to ARC_PAGES_MAX_ALIGN, or to the window size when that is smaller, when the
 * region fits in the window from there). */
#define WINDOW       ((uintptr_t)ARC_ADDRESS_SPACE_BYTES)
#define WINDOW_ALIGN (WINDOW < ARC_PAGES_MAX_ALIGN ? WINDOW : (uintptr_t)ARC_PAGES_MAX_ALIGN)
#define WINDOW_PAGES ((size_t)(WINDOW / PAGE))
/* No address: what first_fit returns when nothing fits. */
#define NO_ADDR UINTPTR_MAX

/* State memory as arcalloc.h asks: zero-filled (calloc: fresh pages for a large size) and 64-byte
 * aligned (calloc promises 16, so over-allocate and round up). */
typedef struct state {
    void *raw;
    arc_pages_t *pa;
} state_t;

static state_t state_new(void)
{
    state_t s;
    s.raw = calloc(1, arc_pages_state_size() + 64);
    s.pa = (arc_pages_t *)(((uintptr_t)s.raw + 63) & ~(uintptr_t)63);
    return s;
}

/* The lowest address >= start aligned to align with n pages fitting below end, or NO_ADDR. */
static uintptr_t first_fit(uintptr_t start, uintptr_t end, size_t n, uintptr_t align)
{
    uintptr_t a = (start + align - 1) / align * align;
    if (a < start || a >= end || (end - a) / PAGE < n)
        return NO_ADDR;
    return a;
}

static void check_stats(const arc_pages_t *pa, size_t total, size_t used, const char *what)
{
    CHECKF(arc_pages_total_pages(pa) == total, "%s: total %zu, want %zu", what,
           arc_pages_total_pages(pa), total);
    CHECKF(arc_pages_used_pages(pa) == used, "%s: used %zu, want %zu", what,
           arc_pages_used_pages(pa), used);
    CHECKF(arc_pages_available_pages(pa) == total - used, "%s: available %zu, want %zu", what,
           arc_pages_available_pages(pa), total - used);
}

/* ---- the seed's test ------------------------------------------------------------------------ */

static void test_seed(void)
{
    state_t s = state_new();
    arc_pages_t *pa = s.pa;
    const uintptr_t start = GIB + PAGE, size = 2 * GIB;
    const uintptr_t base = start / WINDOW_ALIGN * WINDOW_ALIGN;
    const uintptr_t end = start + size < base + WINDOW ? start + size : base + WINDOW;
    const size_t total = (size_t)((end - start) / PAGE);
    CHECK(arc_pages_check(pa) == 0);
    CHECK(arc_pages_init(pa, start, size) == ARC_OK);
    check_stats(pa, total, 0, "seed init");
    CHECK(arc_pages_check(pa) == 0);

    static const size_t counts[] = {1, 10, 100, 1000};
    static const uintptr_t aligns[] = {4 * KIB, 2 * MIB, 1 * GIB};
    for (size_t ai = 0; ai < 3; ai++) {
        uintptr_t align = aligns[ai];
        /* One at a time, on an empty map: the lowest aligned address that fits. */
        for (size_t ci = 0; ci < 4; ci++) {
            size_t n = counts[ci];
            uintptr_t want = first_fit(start, end, n, align), addr = 0;
            int rc = arc_pages_alloc(pa, n, align, &addr);
            CHECKF(rc == (want == NO_ADDR ? ARC_NO_MEMORY : ARC_OK), "n %zu align %#lx: rc %d", n,
                   (unsigned long)align, rc);
            if (rc != ARC_OK)
                continue;
            CHECK(addr == want);
            CHECK(addr % align == 0);
            CHECK(addr >= start && addr + n * PAGE <= end);
            check_stats(pa, total, n, "seed alloc");
            CHECK(arc_pages_check(pa) == 0);
            CHECK(arc_pages_dealloc(pa, addr, n) == ARC_OK);
            check_stats(pa, total, 0, "seed dealloc");
        }
        /* All four at once: disjoint, each aligned and inside. */
        uintptr_t got[4] = {0};
        size_t live = 0, live_pages = 0;
        for (size_t ci = 0; ci < 4; ci++) {
            if (arc_pages_alloc(pa, counts[ci], align, &got[ci]) != ARC_OK) {
                got[ci] = 0;
                continue;
            }
            live++;
            live_pages += counts[ci];
            CHECK(got[ci] % align == 0 && got[ci] >= start && got[ci] + counts[ci] * PAGE <= end);
            for (size_t o = 0; o < ci; o++)
                CHECK(!got[o] || got[o] + counts[o] * PAGE <= got[ci] ||
                      got[ci] + counts[ci] * PAGE <= got[o]);
        }
        CHECK(live >= (align < GIB ? 4u : 0u)); /* every build's window holds these */
        check_stats(pa, total, live_pages, "seed together");
        CHECK(arc_pages_check(pa) == 0);
        for (size_t ci = 0; ci < 4; ci++)
            if (got[ci])
                CHECK(arc_pages_dealloc(pa, got[ci], counts[ci]) == ARC_OK);
        check_stats(pa, total, 0, "seed together freed");

        /* Fixed bases: the second aligned address past the start (the first when only one). */
        for (size_t ci = 0; ci < 4; ci++) {
            size_t n = counts[ci];
            uintptr_t at = first_fit(start + align, end, n, align);
            if (at == NO_ADDR)
                at = first_fit(start, end, n, align);
            if (at == NO_ADDR) {
                /* Nothing aligned fits: a base past the region is refused as a parameter. */
                uintptr_t past = (end + align - 1) / align * align;
                CHECK(arc_pages_alloc_at(pa, past, n, align) == ARC_INVALID_PARAM);
                continue;
            }
            CHECK(arc_pages_alloc_at(pa, at, n, align) == ARC_OK);
            check_stats(pa, total, n, "seed alloc_at");
            CHECK(arc_pages_alloc_at(pa, at, n, align) == ARC_NO_MEMORY);
            CHECK(arc_pages_alloc_at(pa, at + (n - 1) * PAGE, 1, PAGE) == ARC_NO_MEMORY);
            uintptr_t other = 0;
            if (arc_pages_alloc(pa, n, align, &other) == ARC_OK) {
                CHECK(other % align == 0 && (other + n * PAGE <= at || at + n * PAGE <= other));
                CHECK(arc_pages_dealloc(pa, other, n) == ARC_OK);
            }
            CHECK(arc_pages_check(pa) == 0);
            CHECK(arc_pages_dealloc(pa, at, n) == ARC_OK);
            check_stats(pa, total, 0, "seed alloc_at freed");
        }
    }
    CHECK(arc_pages_check(pa) == 0);
    free(s.raw);
}

/* ---- contract edges ------------------------------------------------------------------------- */

/* Parameters of init and add_memory: trimming, the window, overlap, the region limit. */
static void test_regions(void)
{
    const uintptr_t base = 8 * WINDOW_ALIGN; /* also a multiple of WINDOW when that is smaller */
    state_t s = state_new();
    arc_pages_t *pa = s.pa;
    CHECK(arc_pages_add_memory(pa, base, 16 * PAGE) == ARC_INVALID_PARAM); /* before init */
    CHECK(arc_pages_init(pa, base, 0) == ARC_INVALID_PARAM);
    CHECK(arc_pages_init(pa, base + 1, PAGE) == ARC_INVALID_PARAM); /* no whole page */
    CHECK(arc_pages_init(pa, UINTPTR_MAX - 10, 5) == ARC_INVALID_PARAM);
    check_stats(pa, 0, 0, "refused init");
    /* Trimming: start rounds up, end rounds down. */
    CHECK(arc_pages_init(pa, base + PAGE / 2, 10 * PAGE) == ARC_OK);
    check_stats(pa, 9, 0, "trimmed init");
    uintptr_t a = 0;
    CHECK(arc_pages_alloc(pa, 9, PAGE, &a) == ARC_OK && a == base + PAGE);
    CHECK(arc_pages_alloc(pa, 1, PAGE, &a) == ARC_NO_MEMORY);
    CHECK(arc_pages_dealloc(pa, base + PAGE, 9) == ARC_OK);
    CHECK(arc_pages_dealloc(pa, base, 1) == ARC_INVALID_PARAM); /* trimmed away */

    /* add_memory: trimming, nothing left, outside the window, straddling its end. */
    CHECK(arc_pages_add_memory(pa, base + 20 * PAGE + 1, PAGE) == ARC_INVALID_PARAM);
    CHECK(arc_pages_add_memory(pa, base + 20 * PAGE, 0) == ARC_INVALID_PARAM);
    CHECK(arc_pages_add_memory(pa, base + WINDOW, 4 * PAGE) == ARC_INVALID_PARAM);
    CHECK(arc_pages_add_memory(pa, base - 4 * PAGE, 4 * PAGE) == ARC_INVALID_PARAM);
    CHECK(arc_pages_add_memory(pa, base + 20 * PAGE - 1, 3 * PAGE) == ARC_OK); /* 20, 21 */
    check_stats(pa, 11, 0, "trimmed add");
    CHECK(arc_pages_add_memory(pa, base + WINDOW - 2 * PAGE, 8 * PAGE) == ARC_OK); /* 2 pages */
    check_stats(pa, 13, 0, "straddling end");
    CHECK(arc_pages_alloc_at(pa, base + WINDOW - 2 * PAGE, 2, PAGE) == ARC_OK);
    CHECK(arc_pages_alloc_at(pa, base + WINDOW, 1, PAGE) == ARC_INVALID_PARAM);
    CHECK(arc_pages_dealloc(pa, base + WINDOW - 2 * PAGE, 2) == ARC_OK);
    CHECK(arc_pages_dealloc(pa, base + WINDOW - 2 * PAGE, 3) == ARC_INVALID_PARAM);

    /* Overlap, judged on the trimmed pages: same, inside, across an edge; adjacent is fine. */
    CHECK(arc_pages_add_memory(pa, base + PAGE, 9 * PAGE) == ARC_MEMORY_OVERLAP);
    CHECK(arc_pages_add_memory(pa, base + 3 * PAGE, PAGE) == ARC_MEMORY_OVERLAP);
    CHECK(arc_pages_add_memory(pa, base + 9 * PAGE, 4 * PAGE) == ARC_MEMORY_OVERLAP);
    CHECK(arc_pages_add_memory(pa, base + 21 * PAGE, 4 * PAGE) == ARC_MEMORY_OVERLAP);
    CHECK(arc_pages_add_memory(pa, base + 10 * PAGE + 5, PAGE) == ARC_INVALID_PARAM);
    check_stats(pa, 13, 0, "after refusals");
    /* Adjacent at the end of the first region (pages 1-9): it extends that region, so a run may
     * span both parts; before extending, 11 pages found no room. */
    CHECK(arc_pages_alloc(pa, 11, PAGE, &a) == ARC_NO_MEMORY);
    CHECK(arc_pages_add_memory(pa, base + 10 * PAGE, 2 * PAGE) == ARC_OK);
    CHECK(arc_pages_alloc(pa, 11, PAGE, &a) == ARC_OK && a == base + PAGE);
    CHECK(arc_pages_dealloc(pa, base + PAGE, 11) == ARC_OK);
    CHECK(arc_pages_add_memory(pa, base, PAGE) == ARC_OK); /* adjacent below: a region of its own */
    check_stats(pa, 16, 0, "adjacent");
    CHECK(arc_pages_check(pa) == 0);

    /* Up to ARC_PAGES_MAX_REGIONS regions in all, then ARC_NO_MEMORY: four so far (1-11, 20-21,
     * the window's last two pages, 0). */
    size_t have = 4, total = 16;
    for (uintptr_t at = base + 100 * PAGE; have < ARC_PAGES_MAX_REGIONS; at += 4 * PAGE) {
        CHECK(arc_pages_add_memory(pa, at, 2 * PAGE) == ARC_OK);
        have++;
        total += 2;
    }
    CHECK(arc_pages_add_memory(pa, base + 1000 * PAGE, 2 * PAGE) == ARC_NO_MEMORY);
    /* A full table still takes memory that extends a region. */
    CHECK(arc_pages_add_memory(pa, base + 12 * PAGE, 2 * PAGE) == ARC_OK);
    total += 2;
    CHECK(arc_pages_add_memory(pa, base + 100 * PAGE, 2 * PAGE) == ARC_MEMORY_OVERLAP);
    check_stats(pa, total, 0, "full region table");
    CHECK(arc_pages_check(pa) == 0);
    free(s.raw);

    /* A first region past the window's size: the window starts where it starts. */
    s = state_new();
    CHECK(arc_pages_init(s.pa, base + WINDOW + 3 * PAGE, 4 * PAGE) == ARC_OK);
    CHECK(arc_pages_add_memory(s.pa, base + WINDOW - 4 * PAGE, 4 * PAGE) == ARC_INVALID_PARAM);
    CHECK(arc_pages_add_memory(s.pa, base + 2 * WINDOW, 4 * PAGE) == ARC_INVALID_PARAM);
    check_stats(s.pa, 4, 0, "second window");
    CHECK(arc_pages_alloc(s.pa, 4, PAGE, &a) == ARC_OK && a == base + WINDOW + 3 * PAGE);
    CHECK(arc_pages_check(s.pa) == 0);
    free(s.raw);

    /* A region larger than the window is trimmed to it. */
    s = state_new();
    CHECK(arc_pages_init(s.pa, base, 3 * WINDOW) == ARC_OK);
    check_stats(s.pa, WINDOW_PAGES, 0, "window-sized");
    CHECK(arc_pages_alloc(s.pa, WINDOW_PAGES, PAGE, &a) == ARC_OK && a == base);
    CHECK(arc_pages_alloc(s.pa, 1, PAGE, &a) == ARC_NO_MEMORY);
    CHECK(arc_pages_check(s.pa) == 0);
    CHECK(arc_pages_init(s.pa, base, PAGE) == ARC_INVALID_PARAM); /* pages still in use */
    CHECK(arc_pages_dealloc(s.pa, base, WINDOW_PAGES) == ARC_OK);
    CHECK(arc_pages_check(s.pa) == 0);
    free(s.raw);
}

/* A first region no larger than the window that straddles a WINDOW_ALIGN boundary: it starts
 *14 MiB below one and runs 64 MiB past the window's size less that alignment, as the 256m
 * build's arena did when RLIMIT_AS shrank it to 64 MiB aligned to 2 MiB only. A base aligned
 * down to WINDOW_ALIGN put its top 50 MiB past the window's end (allocation failed there while
 * most of the arena was free); every page of it is usable, at every alignment. */
static void test_straddle(void)
{
    const uintptr_t start = 8 * WINDOW_ALIGN - 14 * MIB, size = WINDOW - WINDOW_ALIGN + 64 * MIB;
    const size_t pages = (size_t)(size / PAGE);
    state_t s = state_new();
    CHECK(arc_pages_init(s.pa, start, size) == ARC_OK);
    check_stats(s.pa, pages, 0, "straddling region");
    uintptr_t a = 0;
    CHECK(arc_pages_alloc(s.pa, pages, PAGE, &a) == ARC_OK && a == start);
    CHECK(arc_pages_dealloc(s.pa, start, pages) == ARC_OK);
    CHECK(arc_pages_alloc_at(s.pa, start + size - PAGE, 1, PAGE) == ARC_OK);
    CHECK(arc_pages_dealloc(s.pa, start + size - PAGE, 1) == ARC_OK);
    for (uintptr_t align = PAGE; align <= ARC_PAGES_MAX_ALIGN; align *= 2) {
        uintptr_t want = first_fit(start, start + size, 1, align);
        int rc = arc_pages_alloc(s.pa, 1, align, &a);
        CHECKF(want == NO_ADDR ? rc == ARC_NO_MEMORY : rc == ARC_OK && a == want,
               "straddling region, align %#lx: rc %d at %#lx, want %#lx", (unsigned long)align, rc,
               (unsigned long)a, (unsigned long)want);
        if (rc == ARC_OK)
            CHECK(arc_pages_dealloc(s.pa, a, 1) == ARC_OK);
    }
    CHECK(arc_pages_check(s.pa) == 0);
    free(s.raw);
}

/* Parameters of alloc, alloc_at and dealloc; double and partial frees; exhaustion. */
static void test_edges(void)
{
    const uintptr_t base = 4 * WINDOW_ALIGN;
    state_t s = state_new();
    arc_pages_t *pa = s.pa;
    const size_t n0 = 1000;
    CHECK(arc_pages_init(pa, base, n0 * PAGE) == ARC_OK);
    uintptr_t a = 0;
    CHECK(arc_pages_alloc(pa, 0, PAGE, &a) == ARC_INVALID_PARAM);
    CHECK(arc_pages_alloc(pa, 1, 0, &a) == ARC_INVALID_PARAM);
    CHECK(arc_pages_alloc(pa, 1, 3 * PAGE, &a) == ARC_INVALID_PARAM);
    CHECK(arc_pages_alloc(pa, 1, PAGE / 2, &a) == ARC_INVALID_PARAM);
    CHECK(arc_pages_alloc(pa, 1, 2 * ARC_PAGES_MAX_ALIGN, &a) == ARC_INVALID_PARAM);
    CHECK(arc_pages_alloc(pa, 1, PAGE, NULL) == ARC_INVALID_PARAM);
    CHECK(arc_pages_alloc(pa, n0 + 1, PAGE, &a) == ARC_NO_MEMORY);
    CHECK(arc_pages_alloc(pa, SIZE_MAX, PAGE, &a) == ARC_NO_MEMORY);
    CHECK(arc_pages_alloc_at(pa, base, 0, PAGE) == ARC_INVALID_PARAM);
    CHECK(arc_pages_alloc_at(pa, base + 1, 1, PAGE) == ARC_INVALID_PARAM);
    CHECK(arc_pages_alloc_at(pa, base + PAGE, 1, 2 * PAGE) == ARC_INVALID_PARAM);
    CHECK(arc_pages_alloc_at(pa, base, 1, 3 * PAGE) == ARC_INVALID_PARAM);
    CHECK(arc_pages_alloc_at(pa, base, 1, 2 * ARC_PAGES_MAX_ALIGN) == ARC_INVALID_PARAM);
    CHECK(arc_pages_alloc_at(pa, base + (n0 - 1) * PAGE, 2, PAGE) == ARC_INVALID_PARAM);
    CHECK(arc_pages_alloc_at(pa, base - PAGE, 1, PAGE) == ARC_INVALID_PARAM);
    CHECK(arc_pages_alloc_at(pa, base, SIZE_MAX, PAGE) == ARC_INVALID_PARAM);
    check_stats(pa, n0, 0, "refused allocs");

    /* dealloc: parameters, never-allocated, partial, double. */
    CHECK(arc_pages_alloc_at(pa, base + 10 * PAGE, 20, PAGE) == ARC_OK);
    CHECK(arc_pages_dealloc(pa, base + 10 * PAGE, 0) == ARC_INVALID_PARAM);
    CHECK(arc_pages_dealloc(pa, base + 10 * PAGE + 8, 1) == ARC_INVALID_PARAM);
    CHECK(arc_pages_dealloc(pa, base + n0 * PAGE, 1) == ARC_INVALID_PARAM);
    CHECK(arc_pages_dealloc(pa, base - PAGE, 2) == ARC_INVALID_PARAM);
    CHECK(arc_pages_dealloc(pa, base + 10 * PAGE, SIZE_MAX) == ARC_INVALID_PARAM);
    CHECK(arc_pages_dealloc(pa, base + 5 * PAGE, 1) == ARC_NOT_ALLOCATED);
    CHECK(arc_pages_dealloc(pa, base + 9 * PAGE, 3) == ARC_NOT_ALLOCATED);  /* starts free */
    CHECK(arc_pages_dealloc(pa, base + 25 * PAGE, 6) == ARC_NOT_ALLOCATED); /* ends free */
    check_stats(pa, n0, 20, "nothing changed");
    CHECK(arc_pages_alloc_at(pa, base + 10 * PAGE, 1, PAGE) == ARC_NO_MEMORY);
    CHECK(arc_pages_alloc_at(pa, base + 29 * PAGE, 1, PAGE) == ARC_NO_MEMORY);
    CHECK(arc_pages_alloc_at(pa, base + 5 * PAGE, 6, PAGE) == ARC_NO_MEMORY); /* 10 is used */
    CHECK(arc_pages_dealloc(pa, base + 15 * PAGE, 5) == ARC_OK);              /* the middle */
    check_stats(pa, n0, 15, "partial free");
    CHECK(arc_pages_dealloc(pa, base + 15 * PAGE, 5) == ARC_NOT_ALLOCATED); /* again */
    CHECK(arc_pages_dealloc(pa, base + 10 * PAGE, 20) == ARC_NOT_ALLOCATED);
    check_stats(pa, n0, 15, "double free refused");
    CHECK(arc_pages_alloc(pa, 5, PAGE, &a) == ARC_OK && a == base); /* lowest fit: 0..4 */
    CHECK(arc_pages_alloc(pa, 5, PAGE, &a) == ARC_OK && a == base + 5 * PAGE);  /* 5..9 */
    CHECK(arc_pages_alloc(pa, 5, PAGE, &a) == ARC_OK && a == base + 15 * PAGE); /* the hole */
    CHECK(arc_pages_alloc(pa, 8, 8 * PAGE, &a) == ARC_OK && a == base + 32 * PAGE);
    CHECK(arc_pages_check(pa) == 0);
    CHECK(arc_pages_dealloc(pa, base, 10) == ARC_OK);             /* across two allocations */
    CHECK(arc_pages_dealloc(pa, base + 10 * PAGE, 20) == ARC_OK); /* across three */
    CHECK(arc_pages_dealloc(pa, base + 32 * PAGE, 8) == ARC_OK);
    check_stats(pa, n0, 0, "all freed");

    /* Exhaustion one page at a time, then recovery. */
    for (size_t i = 0; i < n0; i++) {
        if (arc_pages_alloc(pa, 1, PAGE, &a) != ARC_OK || a != base + i * PAGE) {
            CHECKF(0, "page %zu", i);
            break;
        }
    }
    check_stats(pa, n0, n0, "exhausted");
    CHECK(arc_pages_alloc(pa, 1, PAGE, &a) == ARC_NO_MEMORY);
    CHECK(arc_pages_check(pa) == 0);
    CHECK(arc_pages_dealloc(pa, base + 700 * PAGE, 1) == ARC_OK);
    CHECK(arc_pages_dealloc(pa, base + 300 * PAGE, 2) == ARC_OK);
    CHECK(arc_pages_alloc(pa, 2, 2 * PAGE, &a) == ARC_OK && a == base + 300 * PAGE);
    CHECK(arc_pages_alloc(pa, 2, PAGE, &a) == ARC_NO_MEMORY);
    CHECK(arc_pages_alloc(pa, 1, PAGE, &a) == ARC_OK && a == base + 700 * PAGE);
    CHECK(arc_pages_dealloc(pa, base, n0) == ARC_OK);
    check_stats(pa, n0, 0, "recovered");
    CHECK(arc_pages_alloc(pa, n0, PAGE, &a) == ARC_OK && a == base);
    CHECK(arc_pages_dealloc(pa, base, n0) == ARC_OK);
    CHECK(arc_pages_check(pa) == 0);

    /* The check notices a page marked used behind the counters' back: pages 1 and 3 make the
     * first leaf word 0b1010, a value no header field holds here; find it and add page 5. */
    CHECK(arc_pages_alloc_at(pa, base + PAGE, 1, PAGE) == ARC_OK);
    CHECK(arc_pages_alloc_at(pa, base + 3 * PAGE, 1, PAGE) == ARC_OK);
    uint64_t *w = (uint64_t *)pa, *leaf = NULL;
    for (size_t i = 0; i < arc_pages_state_size() / sizeof *w; i++)
        if (w[i] == 10) {
            CHECK(leaf == NULL);
            leaf = &w[i];
        }
    CHECK(leaf != NULL);
    if (leaf) {
        CHECK(arc_pages_check(pa) == 0);
        *leaf |= 1u << 5;
        CHECK(arc_pages_check(pa) > 0);
        *leaf &= ~(uint64_t)(1u << 5);
        CHECK(arc_pages_check(pa) == 0);
    }
    CHECK(arc_pages_dealloc(pa, base + PAGE, 3) == ARC_NOT_ALLOCATED);
    CHECK(arc_pages_dealloc(pa, base + PAGE, 1) == ARC_OK);
    CHECK(arc_pages_dealloc(pa, base + 3 * PAGE, 1) == ARC_OK);
    check_stats(pa, n0, 0, "end of edges");
    free(s.raw);
}

/* Several regions: searched in the order added, runs never cross a region edge. B ends where C
 * starts but is added after it, so it stays a region of its own (a region that starts where an
 * earlier one ends would extend that one instead: test_regions). */
static void test_several(void)
{
    const uintptr_t base = 2 * WINDOW_ALIGN;
    state_t s = state_new();
    arc_pages_t *pa = s.pa;
    uintptr_t a = 0;
    CHECK(arc_pages_init(pa, base + 100 * PAGE, 10 * PAGE) == ARC_OK);      /* A: 100..110 */
    CHECK(arc_pages_add_memory(pa, base + 50 * PAGE, 30 * PAGE) == ARC_OK); /* C: 50..80 */
    CHECK(arc_pages_add_memory(pa, base + 20 * PAGE, 30 * PAGE) == ARC_OK); /* B: 20..50 */
    check_stats(pa, 70, 0, "three regions");
    CHECK(arc_pages_alloc(pa, 4, PAGE, &a) == ARC_OK && a == base + 100 * PAGE); /* A first */
    CHECK(arc_pages_alloc(pa, 7, PAGE, &a) == ARC_OK && a == base + 50 * PAGE);  /* C */
    CHECK(arc_pages_alloc(pa, 6, PAGE, &a) == ARC_OK && a == base + 104 * PAGE); /* A again */
    CHECK(arc_pages_alloc(pa, 24, PAGE, &a) == ARC_OK && a == base + 20 * PAGE); /* B */
    CHECK(arc_pages_alloc(pa, 23, PAGE, &a) == ARC_OK && a == base + 57 * PAGE); /* C rest */
    CHECK(arc_pages_alloc(pa, 7, PAGE, &a) == ARC_NO_MEMORY);                    /* B has 6 */
    CHECK(arc_pages_alloc(pa, 2, 32 * PAGE, &a) == ARC_NO_MEMORY);
    CHECK(arc_pages_dealloc(pa, base + 50 * PAGE, 5) == ARC_OK); /* C: 50..55 */
    CHECK(arc_pages_alloc(pa, 11, PAGE, &a) == ARC_NO_MEMORY);   /* 44..50 + 50..55 would cross */
    CHECK(arc_pages_alloc_at(pa, base + 44 * PAGE, 11, PAGE) == ARC_INVALID_PARAM);
    CHECK(arc_pages_alloc(pa, 6, PAGE, &a) == ARC_OK && a == base + 44 * PAGE);
    CHECK(arc_pages_alloc(pa, 1, 64 * PAGE, &a) == ARC_NO_MEMORY); /* page 64 is used */
    CHECK(arc_pages_dealloc(pa, base + 60 * PAGE, 10) == ARC_OK);
    CHECK(arc_pages_alloc(pa, 1, 64 * PAGE, &a) == ARC_OK && a == base + 64 * PAGE);
    CHECK(arc_pages_check(pa) == 0);
    /* Adjacent regions: a free may span the edge between pages of two runs. */
    CHECK(arc_pages_dealloc(pa, base + 40 * PAGE, 5 + 10) == ARC_NOT_ALLOCATED); /* 50.. free */
    CHECK(arc_pages_alloc_at(pa, base + 50 * PAGE, 5, PAGE) == ARC_OK);
    CHECK(arc_pages_dealloc(pa, base + 40 * PAGE, 20) == ARC_OK); /* B 40..50 and C 50..60 */
    check_stats(pa, 70, 70 - 20 - 9, "across regions");
    CHECK(arc_pages_dealloc(pa, base + 75 * PAGE, 30) == ARC_INVALID_PARAM); /* past C, gap */
    CHECK(arc_pages_dealloc(pa, base + 19 * PAGE, 2) == ARC_INVALID_PARAM);  /* before B */
    CHECK(arc_pages_check(pa) == 0);
    free(s.raw);
}

/* Every alignment from a page to ARC_PAGES_MAX_ALIGN on a window whose base is aligned only to
 * WINDOW_ALIGN (odd multiple): on small windows a large alignment needs the bitmap's phase. */
static void test_alignments(void)
{
    const uintptr_t base = 3 * WINDOW_ALIGN;
    state_t s = state_new();
    arc_pages_t *pa = s.pa;
    CHECK(arc_pages_init(pa, base, WINDOW) == ARC_OK);
    const uintptr_t start = base, end = base + WINDOW;
    static const size_t counts[] = {1, 3, 512};
    for (uintptr_t align = PAGE; align <= ARC_PAGES_MAX_ALIGN; align *= 2) {
        for (size_t ci = 0; ci < 3; ci++) {
            size_t n = counts[ci];
            uintptr_t want = first_fit(start, end, n, align), a = 0;
            int rc = arc_pages_alloc(pa, n, align, &a);
            CHECKF(rc == (want == NO_ADDR ? ARC_NO_MEMORY : ARC_OK) && (rc || a == want),
                   "align %#lx n %zu: rc %d at %#lx, want %#lx", (unsigned long)align, n, rc,
                   (unsigned long)a, (unsigned long)want);
            if (rc == ARC_OK)
                CHECK(arc_pages_dealloc(pa, a, n) == ARC_OK);
        }
    }
    check_stats(pa, WINDOW_PAGES, 0, "alignments");
    free(s.raw);
}

/* ---- randomized model test ------------------------------------------------------------------ */

/* Window pages the model tracks; the regions lie inside, the rest is outside every region. */
#define MODEL_PAGES 25000
/* Regions of the model test, in the order added (the third is adjacent to the second). Half
 * way through, the first grows to MODEL_GROWN_END (an arc_pages_add_memory where it ends), so
 * runs may cross its old end from then on. */
static size_t model_regions[][2] = {{5, 8005}, {17000, 25000}, {9000, 17000}};
#define MODEL_REGIONS         3
#define MODEL_FIRST_END       8005
#define MODEL_GROWN_END       8900
#define MODEL_STEPS           12000
#define MODEL_SEEDS           2
#define MODEL_CHECK_EVERY     500
#define MODEL_MAX_RUN         600
#define MODEL_MAX_ALIGN_SHIFT 9 /* 4 KiB << 9 = 2 MiB */
#define MODEL_MAX_LIVE        4096

_Static_assert(MODEL_PAGES <= (size_t)(ARC_ADDRESS_SPACE_BYTES / ARC_PAGE_SIZE),
               "the model fits the smallest window");

typedef struct model {
    unsigned char used[MODEL_PAGES];
    signed char region[MODEL_PAGES];
    size_t total, nused;
} model_t;

typedef struct run {
    size_t first, n;
} run_t;

static size_t model_alloc(const model_t *m, size_t n, size_t align_pages)
{
    for (size_t r = 0; r < MODEL_REGIONS; r++) {
        size_t lo = model_regions[r][0], hi = model_regions[r][1];
        size_t i = (lo + align_pages - 1) / align_pages * align_pages;
        while (i + n <= hi) {
            size_t j = i;
            while (j < i + n && !m->used[j])
                j++;
            if (j == i + n)
                return i;
            i = (j + 1 + align_pages - 1) / align_pages * align_pages;
        }
    }
    return SIZE_MAX;
}

static void model_mark(model_t *m, size_t first, size_t n, unsigned char v)
{
    for (size_t i = first; i < first + n; i++)
        m->used[i] = v;
    if (v)
        m->nused += n;
    else
        m->nused -= n;
}

/* Expected result of dealloc over window pages [first, first + n). */
static int model_dealloc_rc(const model_t *m, size_t first, size_t n)
{
    for (size_t i = first; i < first + n; i++)
        if (i >= MODEL_PAGES || m->region[i] < 0)
            return ARC_INVALID_PARAM;
    for (size_t i = first; i < first + n; i++)
        if (!m->used[i])
            return ARC_NOT_ALLOCATED;
    return ARC_OK;
}

static void test_model(unsigned long long seed)
{
    const uintptr_t base = 5 * WINDOW_ALIGN;
    static model_t m;
    static run_t live[MODEL_MAX_LIVE];
    size_t nlive = 0;
    memset(&m, 0, sizeof m);
    memset(m.region, -1, sizeof m.region);
    state_t s = state_new();
    arc_pages_t *pa = s.pa;
    model_regions[0][1] = MODEL_FIRST_END; /* as before the last seed grew it */
    for (size_t r = 0; r < MODEL_REGIONS; r++) {
        size_t lo = model_regions[r][0], hi = model_regions[r][1];
        int rc = r == 0 ? arc_pages_init(pa, base + lo * PAGE, (hi - lo) * PAGE)
                        : arc_pages_add_memory(pa, base + lo * PAGE, (hi - lo) * PAGE);
        CHECK(rc == ARC_OK);
        memset(m.region + lo, (int)r, hi - lo);
        m.total += hi - lo;
    }
    check_rng_t rng = {seed};
    size_t counts[5] = {0};
    for (int step = 1; step <= MODEL_STEPS; step++) {
        unsigned kind = (unsigned)check_range(&rng, 0, 99);
        size_t n = (size_t)check_range(&rng, 1, MODEL_MAX_RUN);
        size_t align_pages = (size_t)1 << check_range(&rng, 0, MODEL_MAX_ALIGN_SHIFT);
        if (step == MODEL_STEPS / 2) { /* the first region grows at its end */
            size_t lo = model_regions[0][1], hi = MODEL_GROWN_END;
            CHECK(arc_pages_add_memory(pa, base + lo * PAGE, (hi - lo) * PAGE) == ARC_OK);
            memset(m.region + lo, 0, hi - lo);
            m.total += hi - lo;
            model_regions[0][1] = hi;
        }
        /* Half the runs unaligned: those searches descend the stretch summary. */
        if (check_range(&rng, 0, 1) == 0)
            align_pages = 1;
        if (kind < 42) { /* alloc */
            size_t want = model_alloc(&m, n, align_pages);
            uintptr_t a = 0;
            int rc = arc_pages_alloc(pa, n, align_pages * PAGE, &a);
            CHECKF(rc == (want == SIZE_MAX ? ARC_NO_MEMORY : ARC_OK), "step %d alloc rc %d", step,
                   rc);
            if (rc == ARC_OK) {
                CHECKF(a == base + want * PAGE, "step %d alloc at page %ld, model %zu", step,
                       (long)((a - base) / PAGE), want);
                model_mark(&m, want, n, 1);
                if (nlive < MODEL_MAX_LIVE)
                    live[nlive++] = (run_t){want, n};
                counts[0]++;
            }
        } else if (kind < 52) { /* alloc_at, valid or not; shorter runs so some fit */
            n = n % 64 + 1;
            size_t p = (size_t)check_range(&rng, 0, MODEL_PAGES + 100);
            if (check_range(&rng, 0, 3) != 0)
                p = p / align_pages * align_pages;
            int want = ARC_OK;
            if (p % align_pages)
                want = ARC_INVALID_PARAM;
            else if (p + n > MODEL_PAGES || m.region[p] < 0 || m.region[p + n - 1] != m.region[p])
                want = ARC_INVALID_PARAM;
            else
                for (size_t i = p; i < p + n; i++)
                    if (m.used[i])
                        want = ARC_NO_MEMORY;
            int rc = arc_pages_alloc_at(pa, base + p * PAGE, n, align_pages * PAGE);
            CHECKF(rc == want, "step %d alloc_at page %zu n %zu: rc %d, model %d", step, p, n, rc,
                   want);
            if (rc == ARC_OK && want == ARC_OK) {
                model_mark(&m, p, n, 1);
                if (nlive < MODEL_MAX_LIVE)
                    live[nlive++] = (run_t){p, n};
                counts[1]++;
            }
        } else if (kind < 90 && nlive > 0) { /* free a live run: whole or part */
            size_t k = (size_t)check_range(&rng, 0, nlive - 1);
            run_t run = live[k];
            live[k] = live[--nlive];
            size_t first = run.first, cnt = run.n;
            bool part = check_range(&rng, 0, 2) == 0 && run.n > 1;
            if (part) {
                first = run.first + (size_t)check_range(&rng, 0, run.n - 1);
                cnt = (size_t)check_range(&rng, 1, run.first + run.n - first);
            }
            int want = model_dealloc_rc(&m, first, cnt);
            int rc = arc_pages_dealloc(pa, base + first * PAGE, cnt);
            CHECKF(rc == want, "step %d dealloc page %zu n %zu: rc %d, model %d", step, first, cnt,
                   rc, want);
            if (rc == ARC_OK && want == ARC_OK) {
                model_mark(&m, first, cnt, 0);
                counts[2]++;
                /* Keep what is left of a partly freed run. */
                if (first > run.first && nlive < MODEL_MAX_LIVE)
                    live[nlive++] = (run_t){run.first, first - run.first};
                if (first + cnt < run.first + run.n && nlive < MODEL_MAX_LIVE)
                    live[nlive++] = (run_t){first + cnt, run.first + run.n - first - cnt};
                if (check_range(&rng, 0, 3) == 0) { /* and a double free */
                    CHECK(arc_pages_dealloc(pa, base + first * PAGE, cnt) == ARC_NOT_ALLOCATED);
                    counts[3]++;
                }
            }
        } else { /* a random range: outside, free, part free, or all used */
            size_t p = (size_t)check_range(&rng, 0, MODEL_PAGES + 50);
            size_t cnt = (size_t)check_range(&rng, 1, 40);
            int want = model_dealloc_rc(&m, p, cnt);
            int rc = arc_pages_dealloc(pa, base + p * PAGE, cnt);
            CHECKF(rc == want, "step %d random dealloc page %zu n %zu: rc %d, model %d", step, p,
                   cnt, rc, want);
            if (rc == ARC_OK && want == ARC_OK)
                model_mark(&m, p, cnt, 0); /* live runs over it now fail as double frees */
            counts[4]++;
        }
        CHECKF(arc_pages_total_pages(pa) == m.total && arc_pages_used_pages(pa) == m.nused &&
                   arc_pages_available_pages(pa) == m.total - m.nused,
               "step %d: stats %zu/%zu/%zu, model %zu/%zu", step, arc_pages_total_pages(pa),
               arc_pages_used_pages(pa), arc_pages_available_pages(pa), m.total, m.nused);
        if (step % MODEL_CHECK_EVERY == 0)
            CHECKF(arc_pages_check(pa) == 0, "step %d", step);
    }
    /* Every kind of step happened. */
    for (size_t k = 0; k < 5; k++)
        CHECKF(counts[k] > 100, "kind %zu ran %zu times", k, counts[k]);
    /* Free what is left, page by page runs from the model. */
    for (size_t i = 0; i < MODEL_PAGES; i++)
        if (m.used[i]) {
            CHECK(arc_pages_dealloc(pa, base + i * PAGE, 1) == ARC_OK);
            m.used[i] = 0;
            m.nused--;
        }
    check_stats(pa, m.total, 0, "model drained");
    CHECK(arc_pages_check(pa) == 0);
    free(s.raw);
}

/* ---- lazy residency ---------------------------------------------------------------------------
 */

/* The allocation pattern measured below: 100 allocs and frees of short runs, and one run at a
 * fixed base half way into the window. Run once beforehand so code and stdio pages are in. */
static void residency_pattern(arc_pages_t *pa, uintptr_t base)
{
    check_rng_t rng = {77};
    uintptr_t held[50];
    size_t held_n[50], nheld = 0;
    for (int i = 0; i < 100; i++) {
        size_t n = (size_t)check_range(&rng, 1, 16);
        uintptr_t align = PAGE << check_range(&rng, 0, 4), a = 0;
        CHECK(arc_pages_alloc(pa, n, align, &a) == ARC_OK);
        if (i % 2 == 0) {
            held[nheld] = a;
            held_n[nheld++] = n;
        } else {
            CHECK(arc_pages_dealloc(pa, a, n) == ARC_OK);
        }
    }
    CHECK(arc_pages_alloc_at(pa, base + WINDOW / 2, 8, PAGE) == ARC_OK);
    CHECK(arc_pages_check(pa) == 0);
    for (size_t i = 0; i < nheld / 2; i++)
        CHECK(arc_pages_dealloc(pa, held[i], held_n[i]) == ARC_OK);
    CHECK(arc_pages_check(pa) == 0);
}

static void test_residency(void)
{
    const uintptr_t base = (uintptr_t)1 << 41; /* aligned for every build */
    state_t warm = state_new();
    CHECK(arc_pages_init(warm.pa, base, WINDOW) == ARC_OK);
    residency_pattern(warm.pa, base);
    state_t s = state_new();
    arc_pages_t *pa = s.pa;
    CHECK(s.raw != NULL);
    size_t before = check_rss_bytes();
    CHECK(before > 0);
    CHECK(arc_pages_init(pa, base, WINDOW) == ARC_OK);
    check_stats(pa, WINDOW_PAGES, 0, "residency init");
    residency_pattern(pa, base);
    size_t after = check_rss_bytes();
    long growth = (long)after - (long)before;
    CHECKF(growth < (long)MIB, "resident growth %ld bytes for a %zu-byte state (%s)", growth,
           arc_pages_state_size(), ARC_ADDRESS_SPACE_NAME);
    printf("residency (%s): state %zu KiB, resident growth %ld KiB\n", ARC_ADDRESS_SPACE_NAME,
           arc_pages_state_size() >> 10, growth >> 10);
    /* Both states went through the same pattern: same counters. */
    CHECK(arc_pages_used_pages(pa) == arc_pages_used_pages(warm.pa));
    CHECK(arc_pages_used_pages(pa) > 8);
    free(s.raw);
    free(warm.raw);
}

/* A state of arc_pages_state_size_below(bytes) serves regions within the first `bytes` of the
 * map: it ends right before inaccessible pages, as many as the full state's words past it, so
 * any word read or written past it faults (and the test dies). (With one inaccessible page,
 * arc_pages_check's read of the map's last word landed further on and faulted one run in eight,
 * under ASan.) Runs of every alignment fill the regions, a region added at the end of the first
 * one extends it, and one run then spans the whole range. */
static void test_state_below(void)
{
    const uintptr_t base = 5 * WINDOW_ALIGN, bytes = WINDOW / 4;
    size_t size = arc_pages_state_size_below(bytes), os_page = (size_t)sysconf(_SC_PAGESIZE);
    CHECK(size % 64 == 0 && size < arc_pages_state_size());
    CHECK(arc_pages_state_size_below(WINDOW) == arc_pages_state_size());
    size_t mapped = (size + os_page - 1) / os_page * os_page;
    size_t closed = (arc_pages_state_size() - size + os_page - 1) / os_page * os_page + os_page;
    char *raw =
        mmap(NULL, mapped + closed, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(raw != MAP_FAILED);
    if (raw == MAP_FAILED)
        return;
    CHECK(mprotect(raw + mapped, closed, PROT_NONE) == 0);
    arc_pages_t *pa = (arc_pages_t *)(raw + mapped - size);
    CHECK(arc_pages_init(pa, base, bytes / 2) == ARC_OK);
    size_t pages = (size_t)(bytes / PAGE), used = 0;
    uintptr_t a = 0;
    for (uintptr_t align = PAGE; align <= bytes / 8; align *= 4)
        while (arc_pages_alloc(pa, 3, align, &a) == ARC_OK) {
            CHECK(a % align == 0 && a >= base && a + 3 * PAGE <= base + bytes / 2);
            used += 3;
        }
    check_stats(pa, pages / 2, used, "prefix state, first half");
    CHECK(arc_pages_check(pa) == 0);
    /* Free everything the first half holds, page by page where the runs were. */
    for (uintptr_t at = base; at < base + bytes / 2; at += PAGE)
        if (arc_pages_dealloc(pa, at, 1) == ARC_OK)
            used--;
    CHECK(used == 0);
    CHECK(arc_pages_add_memory(pa, base + bytes / 2, bytes / 2) == ARC_OK);
    check_stats(pa, pages, 0, "prefix state, extended");
    CHECK(arc_pages_alloc(pa, pages, PAGE, &a) == ARC_OK && a == base);
    CHECK(arc_pages_check(pa) == 0);
    CHECK(arc_pages_dealloc(pa, base, pages) == ARC_OK);
    munmap(raw, mapped + closed);
}

int main(void)
{
    CHECK(arc_pages_state_size() % 64 == 0);
    CHECK(arc_pages_state_size() >= WINDOW_PAGES / 8);
    test_residency(); /* first, before the heap holds freed pages that calloc could reuse */
    test_seed();
    test_regions();
    test_straddle();
    test_edges();
    test_several();
    test_state_below();
    test_alignments();
    for (unsigned long long k = 0; k < MODEL_SEEDS; k++)
        test_model(0xA5A5F00DULL + k * 7919);
    return check_done();
}
