/* span.c: the slow paths of small blocks: size classes, taking a span from the byte allocator and
 * cutting it into blocks, the ring of spans with room per class, giving an empty span back.
 * The fast paths (a pop and a push) are in heap.h. Never touches another heap's spans, the OS
 * or thread-local storage. */
#include "heap.h"

#include <string.h>

#include "vg.h"

/* A span that becomes its class's current span is relinked in address order when at least
 * 1/SPAN_RELINK_FREE_SHARE of its cut blocks are free: the scan then costs at most two map
 * tests per block it links, and a span with a few holes keeps its list as it is (bench/churn:
 * +1.2 allocator instructions per call at 1/2, +9 at 1/8; bench/phases is as fast either way). */
#define SPAN_RELINK_FREE_SHARE 2u

/* A current span that empties with at most this many spans taken or given back since it became
 * current is pinned (a loop of malloc and free on one class: its first span event is the span
 * it took); one that empties later is given back (a program that freed its blocks: test_rss). */
#define SPAN_PIN_EVENTS 1u
/* A class whose current span went back within this many span events gets this many instead of
 * SPAN_PIN_EVENTS for its next current span to empty in and be pinned: its blocks come and go in
 * bursts while other classes take and give back spans, and without it each burst would take a
 * span and give it back (test_stats: bursts). */
#define SPAN_REPIN_EVENTS 64u

/* A span_events value far enough back that a span stamped with it is outside any pin window,
 * and a class whose drop is stamped with it gets no wider one. */
static uint32_t events_long_ago(const arc_heap_t *h)
{
    return h->span_events - SPAN_REPIN_EVENTS - 1u;
}

arc_span_t arc_span_none;

const uint16_t arc_class_size[ARC_CLASSES] = {
    0,   16,  32,  48,  64,  80,  96,  112,  128, /* 16-byte steps to 128 B */
    160, 192, 224, 256,                           /* then four classes per doubling */
    320, 384, 448, 512, 640, 768, 896, 1024,
};
_Static_assert(ARC_SMALL_MAX == 1024, "the last class is the largest small block");

/* Row r of class_aligned, from class_of: the class of a granule's sizes rounded up to the row's
 * alignment, or the next class whose size is a multiple of it (0: none, or past the last). */
static void class_aligned_setup(arc_heap_t *h)
{
    for (size_t r = 0; r < ARC_ALIGN_ROWS; r++) {
        size_t align = (size_t)1 << (r + ARC_ALIGN_ROW0_SHIFT);
        for (size_t g = 0; g < ARC_SIZE_BINS; g++) {
            size_t rounded = (g * ARC_GRANULE + align - 1) & ~(align - 1);
            size_t cls = rounded > ARC_SMALL_MAX ? 0 : h->class_of[rounded / ARC_GRANULE];
            while (cls != 0 && (arc_class_size[cls] & (align - 1)) != 0)
                cls = cls + 1 < ARC_CLASSES ? cls + 1 : 0;
            h->class_aligned[r][g] = (uint8_t)cls;
        }
    }
}

/* Small requests of a thread heap go to spans; a shared heap, or any heap under valgrind (where
 * every block must pass the slow paths that tell memcheck), keeps class_of at 0. */
void arc_span_classes_setup(arc_heap_t *h)
{
    for (size_t c = 0; c < ARC_CLASSES; c++) {
        h->current[c] = &arc_span_none;
        h->dropped_at[c] = events_long_ago(h);
    }
#if ARC_SECURE
    for (size_t c = 1; c < ARC_CLASSES; c++)
        h->block_magic[c] = UINT64_MAX / arc_class_size[c] + 1;
#endif
    memset(h->class_of, 0, sizeof h->class_of);
    if (h->kind == ARC_HEAP_THREAD && !ARC_VG_RUNNING()) {
        /* Zero granules: class 0, whose current span never has a free block, so malloc(0)
         * leaves the fast path with no test of its own and gets a zero-size block (zero.c) on the
         * slow one. */
        size_t c = 1;
        for (size_t g = 1; g < ARC_SIZE_BINS; g++) {
            while (arc_class_size[c] < g * ARC_GRANULE)
                c++;
            h->class_of[g] = (uint8_t)c;
        }
    }
    class_aligned_setup(h);
}

/* ---- the ring of spans with room ------------------------------------------------------------
 * current[cls] is the ring's head (the span malloc takes from); a span that fills up leaves the
 * ring, and comes back at its tail when a block of it is freed, so it gathers more free blocks
 * before it is the head again. */

/* Makes `head` its class's current span, not pinned (the old one loses its pin). It counts as
 * current since long ago until malloc's slow path takes a block from it (arc_span_alloc): a
 * span that became the head while the program was freeing is no candidate for the pin. */
static void ring_set_head(arc_heap_t *h, size_t cls, arc_span_t *head)
{
    arc_span_t *old = h->current[cls];
    if (old != &arc_span_none)
        old->used &= ~ARC_SPAN_CURRENT;
    if (head != &arc_span_none)
        head->current_since = events_long_ago(h);
    h->current[cls] = head;
}

static void ring_insert_tail(arc_heap_t *h, arc_span_t *span)
{
    arc_span_t *head = h->current[span->cls];
    if (head == &arc_span_none) {
        span->next = span->prev = span;
        ring_set_head(h, span->cls, span);
        return;
    }
    span->prev = head->prev;
    span->next = head;
    head->prev->next = span;
    head->prev = span;
}

static void ring_remove(arc_heap_t *h, arc_span_t *span)
{
    if (span->next == span) {
        ring_set_head(h, span->cls, &arc_span_none);
        return;
    }
    span->prev->next = span->next;
    span->next->prev = span->prev;
    if (h->current[span->cls] == span)
        ring_set_head(h, span->cls, span->next);
}

/* ---- taking and giving back spans ----------------------------------------------------------- */

static size_t span_first_page(const arc_segment_t *seg, const arc_span_t *span)
{
    return ((uintptr_t)span->start - (uintptr_t)seg) / ARC_PAGE_SIZE;
}

/* Pages the page map sends to span: those its blocks lie in (its end is set once, at its cut). */
static size_t span_pages(const arc_span_t *span)
{
    return ((size_t)(span->end - span->start) + ARC_PAGE_SIZE - 1) / ARC_PAGE_SIZE;
}

static arc_span_t *span_new(arc_heap_t *h, size_t cls)
{
    /* A class's first span in this heap is one page (ARC_SPAN_FIRST_SIZE); the next ones full. */
    uint32_t bit = (uint32_t)1 << cls;
    size_t want = (h->spanned_classes & bit) ? ARC_SPAN_SIZE : ARC_SPAN_FIRST_SIZE;
    char *mem = arc_heap_backend_alloc(h, want - ARC_SPAN_HEAD_ROOM, ARC_PAGE_SIZE);
    if (!mem)
        return NULL;
    arc_segment_t *seg = arc_segment_of(mem);
    size_t bytes = h->ops->usable_size_in(h->backend, arc_segment_body(seg), mem);
    if (bytes > want)
        bytes = want;
    uint64_t free_slots = ~seg->span_slots;
    if (free_slots == 0) { /* cannot happen: ARC_SPAN_SLOTS covers a segment */
        arc_heap_backend_free(h, seg, mem);
        return NULL;
    }
    size_t slot = (size_t)__builtin_ctzll(free_slots);
    arc_span_t *span = &seg->spans[slot];
    size_t size = arc_class_size[cls];
    *span = (arc_span_t){.start = mem,
                         .bump = mem,
                         .end = mem + bytes / size * size,
                         .block_size = (uint32_t)size,
                         .cls = (uint8_t)cls};
    seg->span_slots |= (uint64_t)1 << slot;
    h->spanned_classes |= bit;
    size_t first = span_first_page(seg, span), pages = span_pages(span);
    for (size_t i = 0; i < pages; i++)
        seg->span_at[first + i] = span;
    h->span_events++;
    ARC_STAT_ADD(h, spans_added, 1);
    return span;
}

static void span_release(arc_heap_t *h, arc_span_t *span)
{
    if (!(span->used & ARC_SPAN_FULL))
        ring_remove(h, span);
#if ARC_SECURE
    if (h->secure)
        arc_secure_span_check(span, true);
#endif
    arc_segment_t *seg = arc_segment_of(span->start);
    size_t first = span_first_page(seg, span), pages = span_pages(span);
    for (size_t i = 0; i < pages; i++)
        seg->span_at[first + i] = NULL;
    seg->span_slots &= ~((uint64_t)1 << (span - seg->spans));
    h->span_events++;
    ARC_STAT_ADD(h, spans_released, 1);
    arc_heap_backend_free(h, seg, span->start);
}

/* Cuts the next ARC_SPAN_EXTEND_BYTES of the never-used tail into free blocks, in address
 * order. The free list is empty when this runs. */
static void span_extend(arc_heap_t *h, arc_span_t *span)
{
    size_t size = span->block_size, n = ARC_SPAN_EXTEND_BYTES / size;
    size_t left = (size_t)(span->end - span->bump) / size;
    if (n == 0)
        n = 1;
    if (n > left)
        n = left;
    char *p = span->bump;
#if ARC_SECURE
    /* Secure mode: free blocks are zero but for their link (checked when taken); the byte
     * allocator's memory may hold anything. A span's first block stays zero and is never handed
     * out: an underflow of the block after it, which secure.c checks at its free, lands there
     * instead of in the byte allocator's memory before the span. */
    if (h->secure) {
        if (p == span->start && left > 1) {
            memset(p, 0, size);
            p += size;
            span->bump = p;
            if (n > --left)
                n = left;
        }
        memset(p, 0, n * size);
    }
#endif
    span->bump += n * size;
    span->free = p;
    for (size_t i = 1; i < n; i++, p += size)
        arc_link_store(h, p, p + size);
    arc_link_store(h, p, NULL);
}

/* Relinks span's free blocks in address order, from the live-block map (below the tail, a block
 * whose live bit is clear is on the free list: blocks other threads free keep their bit until
 * the owner drains them). The order frees left the list in is the program's; address order
 * makes the next run of mallocs walk memory forwards, which the CPU prefetches. */
static void span_relink(arc_heap_t *h, arc_span_t *span)
{
    arc_segment_t *seg = arc_segment_of(span->start);
    size_t step = span->block_size / ARC_GRANULE;
    size_t bit = ((uintptr_t)span->start - (uintptr_t)seg) / ARC_GRANULE;
    char *last = NULL;
    for (char *p = span->start; p < span->bump; p += span->block_size, bit += step) {
        if ((seg->live[bit / 64] >> (bit % 64)) & 1)
            continue;
        if (last)
            arc_link_store(h, last, p);
        else
            span->free = p;
        last = p;
    }
    if (last)
        arc_link_store(h, last, NULL);
}

/* True when at least 1/SPAN_RELINK_FREE_SHARE of span's cut blocks are free: with cut blocks
 * of which `out` are out, (cut - out) * SHARE >= cut, that is cut * (SHARE - 1) >= out * SHARE,
 * in bytes so that no division is needed ([start, bump) is a whole number of blocks). */
static bool span_worth_relinking(const arc_heap_t *h, const arc_span_t *span)
{
#if ARC_SECURE
    /* Secure mode: a block in the quarantine has its live bit clear but is not free: the map
     * cannot tell the two apart, so the free list stays as frees left it. */
    if (h->secure)
        return false;
#else
    (void)h;
#endif
    size_t cut_bytes = (size_t)(span->bump - span->start);
    size_t out_bytes = (size_t)(span->used & ARC_SPAN_COUNT) * span->block_size;
    return cut_bytes * (SPAN_RELINK_FREE_SHARE - 1u) >= out_bytes * SPAN_RELINK_FREE_SHARE;
}

void *arc_span_alloc(arc_heap_t *h, size_t cls, size_t size)
{
    bool switched = false;
    for (;;) {
        arc_span_t *span = h->current[cls];
        if (span == &arc_span_none) {
            span = span_new(h, cls);
            if (!span)
                return NULL;
            ring_insert_tail(h, span);
            switched = true;
            continue;
        }
        if (span->free == NULL && span->bump < span->end)
            span_extend(h, span);
        else if (switched && span_worth_relinking(h, span))
            span_relink(h, span);
        if (span->free != NULL) {
            if (switched)
                span->current_since = h->span_events;
            return arc_span_take(h, span, span->free, size);
        }
        ring_remove(h, span); /* full: the next span of the ring is the head now */
        span->used |= ARC_SPAN_FULL;
        switched = true;
    }
}

void arc_span_sweep_lone(arc_heap_t *h)
{
    for (size_t c = 1; c < ARC_CLASSES; c++) {
        arc_span_t *cur = h->current[c];
        if (cur == &arc_span_none || arc_segment_of(cur->start)->backend_blocks != 1)
            continue;
        if ((cur->used & ~ARC_SPAN_CURRENT) == 0) {
            span_release(h, cur);
        } else { /* no pin now, and none when it empties: it goes back then */
            cur->used &= ~ARC_SPAN_CURRENT;
            cur->current_since = events_long_ago(h);
        }
    }
}

/* Each span given back also gives back one class's current span, in turn, when it is empty (a
 * class in use rarely has an empty current span), and looks for current spans left alone in
 * their segments (arc_span_sweep_lone). */
static void sweep_current(arc_heap_t *h)
{
    size_t turn = h->sweep_class + 1u < ARC_CLASSES ? h->sweep_class + 1u : 1u;
    h->sweep_class = (uint8_t)turn;
    arc_span_t *cur = h->current[turn];
    if (cur != &arc_span_none && (cur->used & ~ARC_SPAN_CURRENT) == 0)
        span_release(h, cur);
    arc_span_sweep_lone(h);
}

void arc_span_free_slow(arc_heap_t *h, arc_span_t *span, const void *p)
{
#if ARC_PROF
    if ((span->used & ARC_SPAN_SAMPLED) && arc_prof_forget(p) && --span->sampled == 0)
        span->used &= ~ARC_SPAN_SAMPLED;
#else
    (void)p;
#endif
    if (span->used & ARC_SPAN_FULL) {
        span->used &= ~ARC_SPAN_FULL;
        ring_insert_tail(h, span);
    }
    if (span->used != 0)
        return;
    /* An empty span goes back, except the current span of a class whose blocks come and go:
     * if it empties within its pin window of span events after malloc took it, it is pinned and
     * kept. Otherwise the class's drop is noted, which widens the window of its next span. */
    if (span == h->current[span->cls]) {
        /* The window is wide when the class gave back its previous current span shortly before
         * malloc took this one (dropped_at only moves when this class's current span goes). */
        uint32_t window = span->current_since - h->dropped_at[span->cls] <= SPAN_REPIN_EVENTS
                              ? SPAN_REPIN_EVENTS
                              : SPAN_PIN_EVENTS;
        if (h->span_events - span->current_since <= window) {
            span->used = ARC_SPAN_CURRENT;
            return;
        }
        h->dropped_at[span->cls] = h->span_events;
    }
    span_release(h, span);
    sweep_current(h);
}

/* Classes whose current span is empty and lies in seg. O(classes). */
static size_t empty_current_in(const arc_heap_t *h, const arc_segment_t *seg)
{
    size_t n = 0;
    for (size_t c = 1; c < ARC_CLASSES; c++) {
        const arc_span_t *cur = h->current[c];
        n += cur != &arc_span_none && (cur->used & ARC_SPAN_COUNT) == 0 &&
             arc_segment_of(cur->start) == seg;
    }
    return n;
}

/* Every empty span goes back but each class's current one, which stays for the next requests
 * of its class (the thread's own, or the next thread's that takes the heap over) while its
 * segment holds a block besides the empty current spans: a heap whose thread freed everything
 * keeps no segment for spans. Given back at a thread's exit, the byte allocator placed the next
 * thread's spans elsewhere: 1000 threads one after another, each with 128 blocks of 16 B - 1 KiB
 * and handing 32 to the main thread, took 7543 spans, and the process's RSS crept from 2.2 to
 * 3.1 MiB (48 spans and 2.6 MiB kept). Given back at malloc_trim, a program that trims after
 * each burst of requests faulted each class's page in again at the next burst: 100 blocks of
 * 16 B - 3 KiB and a trim, 20 000 times beside 50 000 live blocks, took 61 page faults a burst
 * and 2.5x glibc's time, 36 and 1.45x with current spans kept. O(classes * spans) for the first
 * pass, O(classes^2) the second. */
void arc_span_release_empty(arc_heap_t *h)
{
    for (size_t c = 1; c < ARC_CLASSES; c++) {
        arc_span_t *head = h->current[c];
        if (head == &arc_span_none)
            continue;
        size_t n = 1;
        for (arc_span_t *s = head->next; s != head; s = s->next)
            n++;
        arc_span_t *span = head;
        for (size_t i = 0; i < n; i++) {
            arc_span_t *next = span->next;
            if ((span->used & ARC_SPAN_COUNT) == 0 && span != head)
                span_release(h, span);
            span = next;
        }
    }
    for (size_t c = 1; c < ARC_CLASSES; c++) {
        arc_span_t *cur = h->current[c];
        if (cur == &arc_span_none || (cur->used & ARC_SPAN_COUNT) != 0)
            continue;
        const arc_segment_t *seg = arc_segment_of(cur->start);
        if (seg->backend_blocks == empty_current_in(h, seg))
            span_release(h, cur);
#if ARC_SECURE
        else if (h->secure) /* kept: its free blocks are checked as a released span's are */
            arc_secure_span_check(cur, false);
#endif
    }
}
