/* holes.c: the free pages inside a heap's segments, given back to the OS while the segments stay
 * in use. A hole is a large free block of the heap's byte allocator taken out whole (take_free)
 * and kept by the heap; its inner pages wait in the heap's held cache (dirty.h) and decay there
 * like any freed run: the purger decommits them even while the heap's thread sleeps, with no
 * lock of the heap, because nothing writes a block that is taken. The heap gives a hole back to
 * its byte allocator when a request finds no free block, and before the hole's segment goes.
 * Runs in the heap's owner only (a first-class heap: under its lock), never on a fast path and
 * never inside a byte-allocator call. */
#include "heap.h"

#include "os.h"
#include "vg.h"

/* The held cache's release: the pages go back to the OS and stay the segment's, reading as zero
 * (stored zeros where the program locked them). */
static void hole_release(uintptr_t addr, size_t pages)
{
    arc_os_decommit_zero((void *)addr, pages * ARC_PAGE_SIZE);
}

void arc_hole_heap_setup(arc_heap_t *h)
{
    h->hole_period = ARC_HOLE_SWEEP_BYTES;
    arc_dirty_register_held(&h->held, hole_release);
}

/* A hole's first words: the next hole of its segment, and when the hole was made. */
typedef struct hole_head {
    void *next;
    uint64_t made_ns;
} hole_head_t;

/* The pages that may go lie past the head: [*lo, *hi), the whole OS pages inside the hole p of
 * `usable` bytes after it (where the OS page is larger than arcalloc's, a part page would only
 * be zeroed: os.h). The byte allocator keeps nothing in a taken block's usable bytes (TLSF's
 * next header starts past them), so all of these may go. */
static void hole_pages(const void *p, size_t usable, uintptr_t *lo, uintptr_t *hi)
{
    uintptr_t page = arc_os_page_size();
    *lo = ((uintptr_t)p + sizeof(hole_head_t) + page - 1) & ~(page - 1);
    *hi = ((uintptr_t)p + usable) & ~(page - 1);
}

/* The least block made a hole: ARC_HOLE_MIN_BYTES, or two OS pages where those are larger (a
 * hole smaller than that may hold no whole OS page past its head: nothing it could give back). */
static size_t hole_min(void)
{
    size_t two_pages = 2 * arc_os_page_size();
    return two_pages > ARC_HOLE_MIN_BYTES ? two_pages : ARC_HOLE_MIN_BYTES;
}

/* Under memcheck, which tracks every byte itself, none is made; nor while huge pages are on: a
 * hole's decommit would split the huge page under it, and every later touch of its extent would
 * fault 4 KiB at a time (bench/frag: 171 page faults -> 15 403 with holes under huge pages). */
static bool holes_wanted(void)
{
    return !ARC_VG_RUNNING() && !arc_arena_huge_active();
}

static uint64_t hole_return(arc_heap_t *h, arc_segment_t *seg, void **link, bool for_request);

/* A range of OS pages, [lo, hi). */
typedef struct page_range {
    uintptr_t lo, hi;
} page_range_t;

/* Where on seg's list is a hole that touches the free block p of `usable` bytes (nothing but a
 * block header between them), or NULL. */
static void **hole_touching(arc_heap_t *h, arc_segment_t *seg, const void *p, size_t usable)
{
    uintptr_t lo = (uintptr_t)p, hi = lo + usable;
    for (void **link = &seg->holes; *link; link = (void **)*link) {
        uintptr_t q = (uintptr_t)*link;
        uintptr_t q_end = q + h->ops->usable_size_in(h->backend, arc_segment_body(seg), *link);
        if ((lo >= q_end && lo - q_end <= ARC_HOLE_JOIN_GAP) ||
            (q >= hi && q - hi <= ARC_HOLE_JOIN_GAP))
            return link;
    }
    return NULL;
}

/* Takes a free block of at least min_size bytes for a hole, joined with the holes it touches:
 * each goes back to the byte allocator with it, where they merge, and the merged block is taken
 * again (or one at least as large). Two holes side by side would keep the pages at their edges
 * resident (their links, a header between them): a segment that emptied in small steps was
 * dozens of holes and 70 of its 256 pages. A byte allocator that does not merge every two blocks
 * side by side (buddy merges only buddies) turns joins off for the heap at the first that fails:
 * a failed join has given back a hole for nothing, and retrying each time undid holes faster
 * than sweeps made them (a 40 KiB block taken 2 000 times made 32 000 holes). NULL when no free
 * block is that large. */
static void *hole_take(arc_heap_t *h, size_t min_size)
{
    void *p;
    if (h->ops->take_free(h->backend, min_size, &p) != ARC_OK)
        return NULL;
    while (!h->hole_joins_fail) {
        arc_segment_t *seg = arc_segment_of(p);
        void *body = arc_segment_body(seg);
        size_t usable = h->ops->usable_size_in(h->backend, body, p);
        void **link = hole_touching(h, seg, p, usable);
        if (!link)
            return p;
        size_t joined = usable + h->ops->usable_size_in(h->backend, body, *link);
        h->ops->dealloc_in(h->backend, body, p, usable, ARC_GRANULE);
        hole_return(h, seg, link, false);
        ARC_STAT_ADD(h, holes_joined, 1);
        if (h->ops->take_free(h->backend, joined, &p) != ARC_OK) {
            h->hole_joins_fail = true;
            return h->ops->take_free(h->backend, min_size, &p) == ARC_OK ? p : NULL;
        }
    }
    return p;
}

/* hole_keep's since_ns for a hole whose pages are all decommitted already (arc_hole_alloc). */
#define HOLE_CLEAN UINT64_MAX

/* p, a block just taken out of the byte allocator, becomes a hole whose pages count as freed at
 * since_ns (0: now; HOLE_CLEAN: they are back with the OS, and are not held again). False when the
 * held cache has all its slots waiting (32 holes): p goes back to the byte allocator, its pages in
 * use until a later sweep. Giving the pages of further holes back at once instead brought a heap of
 * 150 MB that frees nine blocks in ten and sleeps from 145 to 45 MB, but the same heap refilled
 * after its sleep faulted 135 000 pages in where it had 37 000 (the refill's frees swept, the
 * mallocs took the holes back, fresh). */
static bool hole_keep(arc_heap_t *h, void *p, uint64_t since_ns)
{
    arc_segment_t *seg = arc_segment_of(p);
    void *body = arc_segment_body(seg);
    size_t usable = h->ops->usable_size_in(h->backend, body, p);
    uintptr_t lo, hi;
    hole_pages(p, usable, &lo, &hi);
    if (since_ns == HOLE_CLEAN)
        lo = hi; /* nothing to hold: its pages are back with the OS already */
    if (hi > lo && !arc_dirty_hold(&h->held, lo, (hi - lo) / ARC_PAGE_SIZE, since_ns)) {
        h->ops->dealloc_in(h->backend, body, p, usable, ARC_GRANULE);
        return false;
    }
    if (seg->nholes++ == 0)
        arc_ilist_push(&h->holed, &seg->hole_link);
    *(hole_head_t *)p = (hole_head_t){.next = seg->holes, .made_ns = arc_os_now_ns()};
    seg->holes = p;
    h->hole_bytes += usable;
    ARC_STAT_ADD(h, holes_made, 1);
    return true;
}

/* Makes at most `most` holes. */
static void sweep(arc_heap_t *h, size_t most)
{
    if (h->hole_period != ARC_HOLE_SWEEP_BYTES && arc_os_now_ns() >= h->hole_quiet_ns)
        h->hole_period = ARC_HOLE_SWEEP_BYTES; /* no hole wasted for a decay time */
    /* Not now: the credit stays, so the first free after huge pages went off sweeps it all. */
    if (!h->backend_ready || !holes_wanted())
        return;
    h->hole_credit = 0;
    for (size_t n = 0; n < most; n++) {
        void *p = hole_take(h, hole_min());
        if (!p || !hole_keep(h, p, 0))
            return;
    }
}

void arc_hole_sweep(arc_heap_t *h)
{
    size_t credit = h->hole_credit > h->hole_period ? h->hole_credit : h->hole_period;
    sweep(h, credit / ARC_HOLE_MIN_BYTES * ARC_HOLE_SWEEP_PER_MIN);
}

void arc_hole_sweep_all(arc_heap_t *h)
{
    sweep(h, SIZE_MAX);
}

/* The hole p of seg (at *link on its list) goes back to the byte allocator. Its pages come out of
 * the held cache: returns when they were held, or 0 when they had gone back already (decommitted:
 * they read as zero). A request that takes back a hole made less than a decay time ago wasted it
 * (its pages were kept, or given back, for nothing): sweeps stay rare for a decay time
 * (ARC_HOLE_QUIET_BYTES). */
static uint64_t hole_return(arc_heap_t *h, arc_segment_t *seg, void **link, bool for_request)
{
    void *p = *link, *body = arc_segment_body(seg);
    size_t usable = h->ops->usable_size_in(h->backend, body, p);
    uintptr_t lo, hi;
    hole_pages(p, usable, &lo, &hi);
    uint64_t since = hi > lo ? arc_dirty_unhold(&h->held, lo, (hi - lo) / ARC_PAGE_SIZE) : 0;
    hole_head_t head = *(hole_head_t *)p;
#if ARC_SECURE
    if (h->secure) /* the byte allocator hands out what it is given: secure mode's are zeros */
        *(hole_head_t *)p = (hole_head_t){0};
#endif
    if (for_request) {
        uint64_t now = arc_os_now_ns();
        if (now - head.made_ns < arc_dirty_decay_ns()) {
            h->hole_period = ARC_HOLE_QUIET_BYTES;
            h->hole_quiet_ns = now + arc_dirty_decay_ns();
            ARC_STAT_ADD(h, holes_wasted, 1);
        }
    }
    *link = head.next;
    if (--seg->nholes == 0)
        arc_ilist_unlink(&h->holed, &seg->hole_link);
    h->hole_bytes -= usable;
    ARC_STAT_ADD(h, holes_returned, 1);
    /* Secure builds check the header: a write past a neighbouring block may have reached it. */
    if (usable == 0 || h->ops->dealloc_in(h->backend, body, p, usable, ARC_GRANULE) != ARC_OK)
        arc_report_misuse("corrupted block header", p);
    return since;
}

/* The smallest hole of at least `least` bytes among the first ARC_HOLE_SEARCH_MAX: where it is on
 * its segment's list, its segment in *seg_out; NULL when none is that large. */
static void **hole_best(arc_heap_t *h, size_t least, arc_segment_t **seg_out)
{
    size_t looked = 0, best_bytes = SIZE_MAX;
    void **best = NULL;
    for (arc_ilist_link_t *l = h->holed; l && looked < ARC_HOLE_SEARCH_MAX; l = l->next) {
        arc_segment_t *seg = ARC_ILIST_ENTRY(l, arc_segment_t, hole_link);
        void *body = arc_segment_body(seg);
        for (void **link = &seg->holes; *link && looked < ARC_HOLE_SEARCH_MAX;
             link = (void **)*link, looked++) {
            size_t bytes = h->ops->usable_size_in(h->backend, body, *link);
            if (bytes >= least && bytes < best_bytes) {
                best_bytes = bytes;
                best = link;
                *seg_out = seg;
            }
        }
    }
    return best;
}

/* The inner pages of seg's hole p: hole_pages of its usable bytes. */
static page_range_t hole_range(arc_heap_t *h, arc_segment_t *seg, const void *p)
{
    page_range_t range;
    hole_pages(p, h->ops->usable_size_in(h->backend, arc_segment_body(seg), p), &range.lo,
               &range.hi);
    return range;
}

/* Whether the inner pages of the block p lie within one of the n page ranges. */
static bool hole_inside(arc_heap_t *h, const void *p, const page_range_t *ranges, size_t n)
{
    page_range_t in = hole_range(h, arc_segment_of(p), p);
    for (size_t i = 0; i < n; i++)
        if (in.lo >= ranges[i].lo && in.hi <= ranges[i].hi)
            return true;
    return in.lo >= in.hi; /* no inner page: nothing to hold */
}

int arc_hole_alloc(arc_heap_t *h, size_t size, size_t align, void **out)
{
    /* The smallest hole with room for the request and its worst alignment gap (what the
     * backends' aligned searches ask), as the byte allocator's own good fit would choose: a
     * first fit let small requests chip the largest holes. Else holes of at least `size` go back
     * one by one, in case the free block beside one makes the room. A heap of thousands of
     * holes none of which serves grows instead of trying them all. */
    int rc = ARC_NO_MEMORY;
    uint64_t since = 0;
    size_t returned = 0, nclean = 0;
    page_range_t clean[ARC_HOLE_RETURN_MAX]; /* inner pages of returned holes, decommitted */
    for (size_t least = size + align; rc != ARC_OK && returned < ARC_HOLE_RETURN_MAX;
         least = size) {
        arc_segment_t *seg = NULL;
        void **link = hole_best(h, least, &seg);
        if (!link && least == size)
            break;
        if (!link)
            continue; /* no hole with room for the gap: try those of `size` */
        page_range_t pages = hole_range(h, seg, *link);
        uint64_t hole_since = hole_return(h, seg, link, true);
        if (hole_since == 0)
            clean[nclean++] = pages;
        since = hole_since > since ? hole_since : since;
        returned++;
        rc = h->ops->alloc(h->backend, size, align, out);
    }
    /* What the request left of the holes is taken out again at once, as old as the youngest of
     * them: pages a program stopped using still go back on time while it takes a block now and
     * then. A rest inside a hole whose pages had gone back already holds nothing: the request's
     * block and the headers the byte allocator wrote lie outside its inner pages, which are
     * still decommitted (holding them again gave each malloc that carved a block from such a
     * hole one madvise of the whole rest: 44 a burst of 100 blocks between two malloc_trim
     * calls). Any other rest may have had a header written in a page given back before: its
     * pages go back again at the next purge (held as freed long ago). */
    for (size_t i = 0; i < returned && holes_wanted(); i++) {
        void *rest = hole_take(h, hole_min());
        if (!rest)
            break;
        uint64_t rest_since = hole_inside(h, rest, clean, nclean) ? HOLE_CLEAN : since ? since : 1;
        if (!hole_keep(h, rest, rest_since))
            break;
    }
    return rc;
}

void arc_hole_return_segment(arc_heap_t *h, arc_segment_t *seg)
{
    while (seg->nholes > 0)
        hole_return(h, seg, &seg->holes, false);
}

void arc_hole_forget_all(arc_heap_t *h)
{
    arc_dirty_purge(&h->held); /* under its lock: done when it returns */
    while (h->holed) {
        arc_segment_t *seg = ARC_ILIST_ENTRY(h->holed, arc_segment_t, hole_link);
        arc_ilist_unlink(&h->holed, &seg->hole_link);
        seg->holes = NULL;
        seg->nholes = 0;
    }
    h->hole_bytes = 0;
    h->hole_credit = 0;
}
