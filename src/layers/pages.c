/* pages.c: the page allocator: runs of ARC_PAGE_SIZE pages from up to ARC_PAGES_MAX_REGIONS
 * regions, one bit per page in a hierarchical bitmap (bitmap.c) over ARC_ADDRESS_SPACE_BYTES.
 * Never touches the memory it manages, and writes only the bitmap words of pages it changes. */
#include <stddef.h>

#include "arcalloc.h"
#include "bitmap.h"
#include "stretch.h"

/* Pages in the map window: one bit each (the 1t build needs the bitmap's largest capacity). */
#define PAGES_WINDOW ((size_t)(ARC_ADDRESS_SPACE_BYTES / ARC_PAGE_SIZE))
/* The window's base alignment: ARC_PAGES_MAX_ALIGN (arcalloc.h), unless the window is smaller, or
 * the first region would not fit in the window from a base so aligned (base_for). */
#define PAGES_BASE_ALIGN                                                                           \
    ((uintptr_t)(ARC_ADDRESS_SPACE_BYTES < ARC_PAGES_MAX_ALIGN ? ARC_ADDRESS_SPACE_BYTES           \
                                                               : ARC_PAGES_MAX_ALIGN))
/* arcalloc.h promises callers a 64-byte aligned state; its size is kept a multiple of that. */
#define PAGES_STATE_ALIGN 64u

_Static_assert((ARC_PAGE_SIZE & (ARC_PAGE_SIZE - 1)) == 0, "page size is a power of two");
_Static_assert(ARC_ADDRESS_SPACE_BYTES % ARC_PAGE_SIZE == 0, "window is whole pages");
_Static_assert(PAGES_WINDOW >= 1 && PAGES_WINDOW <= ARC_BITMAP_MAX_BITS, "bitmap holds the window");
_Static_assert((ARC_PAGES_MAX_ALIGN & (ARC_PAGES_MAX_ALIGN - 1)) == 0, "max align is a power of 2");
_Static_assert(ARC_PAGES_MAX_ALIGN % ARC_PAGE_SIZE == 0, "max align is whole pages");
_Static_assert((ARC_ADDRESS_SPACE_BYTES & (ARC_ADDRESS_SPACE_BYTES - 1)) == 0,
               "window size is a power of two, so the base alignment is one too");
/* Pages a chunk of the stretch summary covers in this build's window. */
#define PAGES_STRETCH_CHUNK ARC_STRETCH_CHUNK_OF(PAGES_WINDOW)
_Static_assert(PAGES_WINDOW % PAGES_STRETCH_CHUNK == 0, "the stretch summary has whole chunks");

/* Alignments in pages are powers of two, 2^k for k below this: at most ARC_PAGES_MAX_ALIGN /
 * ARC_PAGE_SIZE (2^18 with 4 KiB pages), so 32 orders cover every build. */
#define PAGES_ORDERS 32
_Static_assert(ARC_PAGES_MAX_ALIGN / ARC_PAGE_SIZE < ((size_t)1 << (PAGES_ORDERS - 1)),
               "an order for every alignment");

/* A region: pages [first, end) of the window. floor[k], k >= 1: every page of the region below
 * it at an address aligned to 2^k pages is in use, so a search for a run of that alignment starts
 * there. Searches raise it (arc_bitmap_find_run_open), frees lower it. Without it a search walked
 * every used run below the first fit: a window holding thousands of small runs 64 KiB apart
 * took each new 64 KiB-aligned run a scan of all of them. Unaligned searches (k = 0) descend the
 * stretch summary instead, which no free makes useless. */
typedef struct arc_pages_region {
    size_t first, end;
    size_t floor[PAGES_ORDERS];
} arc_pages_region_t;

struct arc_pages {
    uintptr_t base;  /* address of window page 0: the first region aligned down (base_for) */
    size_t nregions; /* 0 until init */
    size_t total;    /* pages in all regions */
    size_t used;     /* pages handed out */
    arc_pages_region_t regions[ARC_PAGES_MAX_REGIONS]; /* in the order added */
    arc_bitmap_t map;
    arc_stretch_t stretch; /* the free stretches of the map, for unaligned first fit */
    /* The stretch summary's words, then the bitmap's (its leaf last): zero-filled by the caller,
     * written only where used. */
    uint64_t words[];
};

/* Words of the stretch summary, before the bitmap's in the state. */
#define PAGES_STRETCH_WORDS arc_stretch_words(PAGES_WINDOW)

/* O(1). */
size_t arc_pages_state_size(void)
{
    return arc_pages_state_size_below(ARC_ADDRESS_SPACE_BYTES);
}

/* The bitmap keeps its leaf last (bitmap.c), so the leaf words of the map's first pages are a
 * prefix of the state. O(1). */
size_t arc_pages_state_size_below(size_t bytes)
{
    size_t pages = bytes / ARC_PAGE_SIZE + (bytes % ARC_PAGE_SIZE != 0);
    /* Whole chunks: the stretch summary reads every leaf word of a chunk it summarises. */
    pages = (pages + PAGES_STRETCH_CHUNK - 1) / PAGES_STRETCH_CHUNK * PAGES_STRETCH_CHUNK;
    size_t words = PAGES_STRETCH_WORDS + arc_bitmap_words_below(PAGES_WINDOW, pages);
    size_t total = offsetof(arc_pages_t, words) + words * sizeof(uint64_t);
    return (total + PAGES_STATE_ALIGN - 1) / PAGES_STATE_ALIGN * PAGES_STATE_ALIGN;
}

/* Whole pages of [start, start + size) inside the window, as window pages [*first, *end);
 * false when none. O(1). */
static bool region_trim(const arc_pages_t *pa, uintptr_t start, size_t size, size_t *first,
                        size_t *end)
{
    const uintptr_t page_mask = ARC_PAGE_SIZE - 1;
    if (size == 0 || start > UINTPTR_MAX - page_mask)
        return false;
    uintptr_t s = (start + page_mask) & ~page_mask;
    uintptr_t e = size > UINTPTR_MAX - start ? UINTPTR_MAX : start + size;
    e &= ~page_mask;
    if (e <= s || e <= pa->base)
        return false;
    if (s < pa->base)
        s = pa->base;
    uintptr_t f = (s - pa->base) / ARC_PAGE_SIZE, l = (e - pa->base) / ARC_PAGE_SIZE;
    if (l > PAGES_WINDOW)
        l = PAGES_WINDOW;
    if (f >= l)
        return false;
    *first = (size_t)f;
    *end = (size_t)l;
    return true;
}

/* The region holding all of pages [first, end), or NULL. O(regions). */
static const arc_pages_region_t *region_find(const arc_pages_t *pa, size_t first, size_t end)
{
    for (size_t r = 0; r < pa->nregions; r++)
        if (pa->regions[r].first <= first && end <= pa->regions[r].end)
            return &pa->regions[r];
    return NULL;
}

/* Whether the regions together cover pages [first, end) (adjacent regions may share a range).
 * O(regions^2). */
static bool regions_cover(const arc_pages_t *pa, size_t first, size_t end)
{
    while (first < end) {
        const arc_pages_region_t *r = region_find(pa, first, first + 1);
        if (!r)
            return false;
        first = r->end;
    }
    return true;
}

/* Adds a trimmed region after the overlap and count checks. A region starting where an earlier
 * one ends extends that one instead of taking a slot: a run may then span both, and memory grown
 * in steps at the end of one range (the arena's window under RLIMIT_AS) stays one region however
 * many steps it takes. Its floors stay true: the pages added are free and above them. O(regions).
 */
static int region_add(arc_pages_t *pa, size_t first, size_t end)
{
    for (size_t r = 0; r < pa->nregions; r++)
        if (first < pa->regions[r].end && pa->regions[r].first < end)
            return ARC_MEMORY_OVERLAP;
    for (size_t r = 0; r < pa->nregions; r++)
        if (pa->regions[r].end == first) {
            pa->regions[r].end = end;
            pa->total += end - first;
            return ARC_OK;
        }
    if (pa->nregions == ARC_PAGES_MAX_REGIONS)
        return ARC_NO_MEMORY;
    pa->regions[pa->nregions++] = (arc_pages_region_t){.first = first, .end = end};
    pa->total += end - first;
    return ARC_OK;
}

/* An alignment in bytes: a power of two, whole pages, at most ARC_PAGES_MAX_ALIGN. O(1). */
static bool align_valid(size_t align)
{
    return align != 0 && (align & (align - 1)) == 0 && align % ARC_PAGE_SIZE == 0 &&
           align <= ARC_PAGES_MAX_ALIGN;
}

/* Window page of a page-aligned address, with [page, page + n) inside the window; false when
 * outside. O(1). */
static bool addr_page(const arc_pages_t *pa, uintptr_t addr, size_t n, size_t *page)
{
    if (addr < pa->base || n > PAGES_WINDOW)
        return false;
    uintptr_t p = (addr - pa->base) / ARC_PAGE_SIZE;
    if (p > PAGES_WINDOW - n)
        return false;
    *page = (size_t)p;
    return true;
}

/* The window's base for a first region [start, start + size): its first whole page aligned
 * down to PAGES_BASE_ALIGN, or to the largest smaller power of two from which the region still
 * fits in the window. A region no larger than the window but straddling a PAGES_BASE_ALIGN boundary
 * (the 256m build's arena, shrunk under RLIMIT_AS and aligned only to a huge page) would otherwise
 * lose its pages past the window's end; alignments above the base's own are served by the phase
 * in arc_pages_alloc. O(log PAGES_BASE_ALIGN). */
static uintptr_t base_for(uintptr_t start, size_t size)
{
    uintptr_t s = (start + ARC_PAGE_SIZE - 1) & ~(uintptr_t)(ARC_PAGE_SIZE - 1);
    uintptr_t e = size > UINTPTR_MAX - start ? UINTPTR_MAX : start + size;
    size_t pages = e > s ? (size_t)((e - s) / ARC_PAGE_SIZE) : 0;
    uintptr_t align = PAGES_BASE_ALIGN;
    if (pages <= PAGES_WINDOW)
        while (align > ARC_PAGE_SIZE && (s & (align - 1)) / ARC_PAGE_SIZE + pages > PAGES_WINDOW)
            align /= 2;
    return s & ~(align - 1);
}

/* A state still holding used pages cannot be initialised again (its words are not all clear).
 * O(L). */
int arc_pages_init(arc_pages_t *pa, uintptr_t start, size_t size)
{
    if (!pa || size == 0 || start > UINTPTR_MAX - (ARC_PAGE_SIZE - 1) || (pa->nregions && pa->used))
        return ARC_INVALID_PARAM;
    arc_pages_t fresh = {.base = base_for(start, size)};
    size_t first, end;
    if (!region_trim(&fresh, start, size, &first, &end))
        return ARC_INVALID_PARAM;
    *pa = fresh;
    arc_stretch_setup(&pa->stretch, pa->words, PAGES_WINDOW);
    arc_bitmap_setup(&pa->map, pa->words + PAGES_STRETCH_WORDS, PAGES_WINDOW);
    return region_add(pa, first, end);
}

/* O(regions). */
int arc_pages_add_memory(arc_pages_t *pa, uintptr_t start, size_t size)
{
    size_t first, end;
    if (!pa || pa->nregions == 0 || !region_trim(pa, start, size, &first, &end))
        return ARC_INVALID_PARAM;
    return region_add(pa, first, end);
}

/* Marks pages [first, first + n) used, in the bitmap and its stretch summary. */
static void pages_mark_used(arc_pages_t *pa, size_t first, size_t n)
{
    arc_bitmap_set(&pa->map, first, first + n);
    arc_stretch_update(&pa->stretch, &pa->map, first, first + n);
    pa->used += n;
}

/* The lowest run of n pages in region reg at pages aligned to 2^order (i % 2^order == phase);
 * ARC_BITMAP_NONE if none. Unaligned, the stretch summary finds it whatever lies before it (a
 * window fragmented into 10 000 short free stretches took each search a walk over them: 1.4 s
 * for 10 000 runs, where glibc's mmap took 0.13). Aligned, from the alignment's floor. */
static size_t region_find_run(arc_pages_t *pa, arc_pages_region_t *reg, size_t n, size_t order,
                              size_t phase)
{
    if (order == 0)
        return arc_stretch_find(&pa->stretch, &pa->map, reg->first, reg->end, n);
    size_t from = reg->floor[order] > reg->first ? reg->floor[order] : reg->first, open;
    if (from >= reg->end)
        return ARC_BITMAP_NONE;
    size_t i =
        arc_bitmap_find_run_open(&pa->map, from, reg->end, n, (size_t)1 << order, phase, &open);
    /* The run taken starts at an aligned page, in use from now on. */
    reg->floor[order] = open == i ? i + 1 : open;
    return i;
}

/* Lowest fitting run, regions in the order added. Page index i is at base + i * page, so the
 * address is aligned when i % (align / page) equals the phase below (0 unless align exceeds
 * the base's own alignment: a window under ARC_PAGES_MAX_ALIGN, or a base lowered by base_for).
 * Unaligned: O(regions * (log chunks + 32)) word reads (stretch.h). Aligned: each search starts
 * at its region's floor for the alignment, O(regions * L) for one page, O(L) more per used run
 * a search jumps over between the floor and the fit. O(n / 64 + L + log chunks) to mark the
 * run. */
int arc_pages_alloc(arc_pages_t *pa, size_t num_pages, size_t align, uintptr_t *out)
{
    if (!pa || !out || num_pages == 0 || !align_valid(align))
        return ARC_INVALID_PARAM;
    size_t align_pages = align / ARC_PAGE_SIZE;
    size_t order = (size_t)__builtin_ctzll((unsigned long long)align_pages);
    size_t phase = (size_t)((align - (pa->base & (align - 1))) & (align - 1)) / ARC_PAGE_SIZE;
    for (size_t r = 0; r < pa->nregions; r++) {
        size_t i = region_find_run(pa, &pa->regions[r], num_pages, order, phase);
        if (i == ARC_BITMAP_NONE)
            continue;
        pages_mark_used(pa, i, num_pages);
        *out = pa->base + (uintptr_t)i * ARC_PAGE_SIZE;
        return ARC_OK;
    }
    return ARC_NO_MEMORY;
}

/* O(regions + n / 64 + L). */
int arc_pages_alloc_at(arc_pages_t *pa, uintptr_t base, size_t num_pages, size_t align)
{
    size_t first;
    if (!pa || num_pages == 0 || !align_valid(align) || base % ARC_PAGE_SIZE || base % align ||
        !addr_page(pa, base, num_pages, &first) || !region_find(pa, first, first + num_pages))
        return ARC_INVALID_PARAM;
    if (!arc_bitmap_all_free(&pa->map, first, first + num_pages))
        return ARC_NO_MEMORY;
    pages_mark_used(pa, first, num_pages);
    return ARC_OK;
}

/* Any part of any run may be freed, as long as every page of it is in use; the floors above it
 * of the regions holding it come down to it. One page: O(regions^2 + L + PAGES_ORDERS). */
int arc_pages_dealloc(arc_pages_t *pa, uintptr_t addr, size_t num_pages)
{
    size_t first;
    if (!pa || num_pages == 0 || addr % ARC_PAGE_SIZE || !addr_page(pa, addr, num_pages, &first) ||
        !regions_cover(pa, first, first + num_pages))
        return ARC_INVALID_PARAM;
    if (!arc_bitmap_all_used(&pa->map, first, first + num_pages))
        return ARC_NOT_ALLOCATED;
    arc_bitmap_clear(&pa->map, first, first + num_pages);
    arc_stretch_update(&pa->stretch, &pa->map, first, first + num_pages);
    pa->used -= num_pages;
    for (size_t r = 0; r < pa->nregions; r++) {
        arc_pages_region_t *reg = &pa->regions[r];
        if (reg->first >= first + num_pages || first >= reg->end)
            continue; /* another region's floors say nothing of these pages */
        for (size_t k = 0; k < PAGES_ORDERS; k++)
            if (reg->floor[k] > first)
                reg->floor[k] = first;
    }
    return ARC_OK;
}

/* O(1). */
size_t arc_pages_total_pages(const arc_pages_t *pa)
{
    return pa->total;
}

/* O(1). */
size_t arc_pages_used_pages(const arc_pages_t *pa)
{
    return pa->used;
}

/* O(1). */
size_t arc_pages_available_pages(const arc_pages_t *pa)
{
    return pa->total - pa->used;
}

/* Regions sound and disjoint, their sizes adding to total, the bitmap's own walk (only where
 * pages are used), set bits == used, and no used page in the gaps between regions (one search
 * per gap). O(regions^2 + regions * L + words in use * 64). */
size_t arc_pages_check(const arc_pages_t *pa)
{
    if (pa->nregions == 0)
        return (pa->used != 0) + (pa->total != 0);
    size_t bad = 0, sum = 0, reach = 0;
    if (pa->nregions > ARC_PAGES_MAX_REGIONS || pa->base % ARC_PAGE_SIZE)
        return 1; /* nothing else can be trusted */
    for (size_t r = 0; r < pa->nregions; r++) {
        const arc_pages_region_t *a = &pa->regions[r];
        bad += !(a->first < a->end && a->end <= PAGES_WINDOW);
        sum += a->end - a->first;
        if (a->end > reach)
            reach = a->end;
        for (size_t o = 0; o < r; o++)
            bad += a->first < pa->regions[o].end && pa->regions[o].first < a->end;
    }
    bad += sum != pa->total;
    bad += pa->used > pa->total;
    size_t set = 0;
    /* A state of arc_pages_state_size_below holds the map's words up to its regions' reach. */
    bad += arc_bitmap_check(&pa->map, reach, &set);
    bad += arc_stretch_check(&pa->stretch, &pa->map, reach);
    bad += set != pa->used;
    /* Gaps: from each region end (and page 0) to the next region start above it. */
    for (size_t r = 0; r <= pa->nregions; r++) {
        size_t from = r < pa->nregions ? pa->regions[r].end : 0, to = PAGES_WINDOW;
        for (size_t o = 0; o < pa->nregions; o++)
            if (pa->regions[o].first >= from && pa->regions[o].first < to)
                to = pa->regions[o].first;
        bad += arc_bitmap_next_used(&pa->map, from, to) != ARC_BITMAP_NONE;
    }
    return bad;
}
