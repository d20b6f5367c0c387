/* heap.c: the slow paths of a heap: growing by segments (with a guard page at the end in secure
 * mode), refilling and flushing the cache, draining blocks other threads freed, giving empty
 * segments back. Never called with another heap's state; never touches symbol names or
 * thread-local storage. */
#include "heap.h"

#include <string.h>

#include "os.h"
#include "vg.h"

_Static_assert(ARC_LARGE_THRESHOLD + ARC_HEAP_MAX_ALIGN <
                   ARC_SEGMENT_SIZE - sizeof(arc_segment_t) - ARC_GUARD_PAGES * ARC_PAGE_SIZE,
               "every heap request must fit in a fresh segment that ends in a guard page");

static void cache_gc_tick(arc_heap_t *h);

/* Creates a heap whose byte-allocator state follows it in the same metadata block. The backend
 * is initialised lazily with the first segment. */
arc_heap_t *arc_heap_create(const arc_byte_ops_t *ops, int kind)
{
    size_t head = (sizeof(arc_heap_t) + 63) & ~(size_t)63;
    char *mem = arc_arena_meta_alloc(head + ops->state_size);
    if (!mem)
        return NULL;
    arc_heap_t *h = (arc_heap_t *)mem;
    h->ops = ops;
    h->backend = (arc_byte_allocator_t *)(mem + head);
    h->kind = kind;
#if ARC_PROF
    h->prof_left = arc_prof_first_countdown();
#else
    h->prof_left = INT64_MAX;
#endif
    atomic_init(&h->remote, NULL);
    pthread_mutex_init(&h->lock, NULL);
#if ARC_SECURE
    h->secure = arc_arena.secure;
    h->link_key = arc_arena.secure_key;
    /* Any nonzero state works for xorshift; the heap's address makes heaps differ. */
    h->reuse_rng = ((uint64_t)arc_arena.secure_key ^ (uint64_t)(uintptr_t)h) | 1;
#endif
    return h;
}

/* Learns the backend's rounding of each cached size: a request of g granules takes a block of
 * bin_of[g] granules, the size the backend really hands out, so a freed block of that usable
 * size serves every request that maps to its bin. */
static void bins_setup(arc_heap_t *h)
{
    /* Under valgrind nothing is cached: every block passes the slow paths, where memcheck is
     * told about it (vg.h). */
    if (ARC_VG_RUNNING())
        return;
    for (size_t g = 1; g < ARC_BINS; g++) {
        void *p = NULL;
        if (h->ops->alloc(h->backend, g * ARC_GRANULE, ARC_GRANULE, &p) != ARC_OK)
            continue;
        size_t usable = h->ops->usable_size(h->backend, p);
        h->ops->dealloc(h->backend, p, g * ARC_GRANULE, ARC_GRANULE);
        /* Usable sizes need not be granule multiples (TLSF adds its 8-byte tail): a block
         * serves its bin when it holds at least the bin's size. */
        if (usable / ARC_GRANULE < ARC_BINS)
            h->bin_of[g] = (uint8_t)(usable / ARC_GRANULE);
    }
    h->bin_of[0] = h->bin_of[1]; /* malloc(0) is a 1-byte request */
    for (size_t b = 1; b < ARC_BINS; b++) {
        size_t limit = ARC_BIN_BYTES / (b * ARC_GRANULE);
        h->bins[b].limit = (uint32_t)(limit < ARC_BIN_MIN_COUNT ? ARC_BIN_MIN_COUNT : limit);
    }
}

/* Pages at a segment's end that the byte allocator never gets: the guard, in secure mode. */
static size_t segment_guard_pages(void)
{
#if ARC_SECURE
    return arc_arena.secure ? ARC_GUARD_PAGES : 0;
#else
    return 0;
#endif
}

/* The byte allocator's region of a segment: after the header, up to the guard if any. */
static size_t segment_body_size(void)
{
    return ARC_SEGMENT_SIZE - ARC_SEGMENT_HEADER - segment_guard_pages() * ARC_PAGE_SIZE;
}

/* Makes the segment's guard inaccessible (or accessible again before its pages go back). */
static void segment_guard(arc_segment_t *seg, bool accessible)
{
    size_t guard = segment_guard_pages();
    if (guard)
        arc_os_protect((char *)seg + ARC_SEGMENT_SIZE - guard * ARC_PAGE_SIZE,
                       guard * ARC_PAGE_SIZE, accessible);
}

static bool heap_grow(arc_heap_t *h)
{
    uintptr_t addr = arc_arena_pages_alloc(ARC_SEGMENT_PAGES, ARC_PAGE_SIZE);
    if (!addr)
        return false;
    arc_segment_t *seg = (arc_segment_t *)addr;
    void *body = (char *)seg + ARC_SEGMENT_HEADER;
    size_t body_size = segment_body_size();
    int rc = h->backend_ready ? h->ops->add_memory(h->backend, body, body_size)
                              : h->ops->init(h->backend, body, body_size);
    if (rc != ARC_OK) {
        arc_arena_pages_free(addr, ARC_SEGMENT_PAGES);
        return false;
    }
    segment_guard(seg, false);
    seg->heap = h;
    seg->next = h->segments;
    if (h->segments)
        h->segments->prev = seg;
    h->segments = seg;
    h->nsegments++;
    ARC_STAT_ADD(h, segments_added, 1);
    /* The guard's page keeps entry 0: no block starts there (a free of it is "never returned"). */
    size_t first = (addr - arc_arena.base) / ARC_PAGE_SIZE;
    for (size_t i = 0; i < ARC_SEGMENT_PAGES - segment_guard_pages(); i++)
        arc_arena.pagemap[first + i] = addr;
    arc_arena_lock();
    arc_arena.segment_bytes += ARC_SEGMENT_SIZE;
    arc_arena_unlock();
    if (!h->backend_ready) {
        h->backend_ready = true;
        if (h->kind == ARC_HEAP_THREAD)
            bins_setup(h);
    }
    return true;
}

static void segment_release(arc_heap_t *h, arc_segment_t *seg)
{
    void *body = (char *)seg + ARC_SEGMENT_HEADER;
    ARC_VG_QUIET();
    int rc = h->ops->remove_memory(h->backend, body, segment_body_size());
    ARC_VG_LOUD();
    if (rc != ARC_OK)
        return;
    if (seg->prev)
        seg->prev->next = seg->next;
    else
        h->segments = seg->next;
    if (seg->next)
        seg->next->prev = seg->prev;
    h->nsegments--;
    ARC_STAT_ADD(h, segments_released, 1);
    size_t first = ((uintptr_t)seg - arc_arena.base) / ARC_PAGE_SIZE;
    for (size_t i = 0; i < ARC_SEGMENT_PAGES; i++)
        arc_arena.pagemap[first + i] = 0;
    arc_arena_lock();
    arc_arena.segment_bytes -= ARC_SEGMENT_SIZE;
    arc_arena_unlock();
    segment_guard(seg, true);
    arc_arena_pages_free((uintptr_t)seg, ARC_SEGMENT_PAGES);
}

static void *backend_alloc(arc_heap_t *h, size_t size, size_t align)
{
    void *p = NULL;
    ARC_VG_QUIET();
    int rc = h->backend_ready ? h->ops->alloc(h->backend, size, align, &p) : ARC_NO_MEMORY;
    if (rc == ARC_NO_MEMORY) {
        if (!heap_grow(h)) {
            ARC_VG_LOUD();
            return NULL;
        }
        rc = h->ops->alloc(h->backend, size, align, &p);
    }
    ARC_VG_LOUD();
    if (rc != ARC_OK)
        return NULL;
    /* Under valgrind every block is padded by a granule (arc_heap_alloc), so the granule
     * before p is padding or a header, never the program's bytes. */
    ARC_VG_DEFINED((char *)p - ARC_GRANULE, ARC_GRANULE);
    arc_segment_of(p)->backend_blocks++;
    return p;
}

/* p's live bit is already clear. The last block of a segment that is not the heap's only one
 * gives the segment back, so RSS follows the live heap. */
static void backend_free(arc_heap_t *h, arc_segment_t *seg, void *p)
{
    void *body = arc_segment_body(seg);
    ARC_VG_QUIET();
    size_t usable = h->ops->usable_size_in(h->backend, body, p);
    int rc = h->ops->dealloc_in(h->backend, body, p, usable, ARC_GRANULE);
    ARC_VG_LOUD();
    if (rc != ARC_OK)
        arc_report_misuse("free of a block its heap does not know", p);
    if (--seg->backend_blocks == 0 && h->nsegments > 1)
        segment_release(h, seg);
}

void *arc_heap_alloc(arc_heap_t *h, size_t size, size_t align)
{
    if (atomic_load_explicit(&h->remote, memory_order_relaxed))
        arc_heap_drain(h);
    size_t want = size ? size : 1, b = 0; /* malloc(0) and memalign(a, 0) get a real block */
    if (align <= ARC_GRANULE && size <= ARC_CACHE_MAX) {
        b = h->bin_of[(size + ARC_GRANULE - 1) / ARC_GRANULE];
        if (b) {
            void *p = arc_heap_cache_pop(h, size);
            if (p)
                return p;
            want = b * ARC_GRANULE;
            cache_gc_tick(h);
        }
    }
    /* Under valgrind a block gets one spare granule: the backend's own pointers to the next
     * block then never point inside the program's bytes, so memcheck calls a leak definite. */
    void *p = backend_alloc(h, ARC_VG_RUNNING() ? want + ARC_GRANULE : want, align);
    if (!p)
        return NULL;
    arc_segment_t *seg = arc_segment_of(p);
    arc_live_set(seg, p);
#if ARC_STATS
    /* Counted the way free counts it: the bin of the block's usable size rounded down to a
     * granule, or medium (the backend may hand out more than bin b asked for). */
    size_t got = h->ops->usable_size_in(h->backend, arc_segment_body(seg), p) / ARC_GRANULE;
    ARC_STAT_ADD(h, requested_bytes, size);
    ARC_STAT_ADD(h, allocated_bytes, got * ARC_GRANULE);
    if (got < ARC_BINS && h->bin_of[got] == got)
        ARC_STAT_BIN(h, bin_allocs, got);
    else
        ARC_STAT_ADD(h, medium_allocs, 1);
    ARC_STAT_CHECKPOINT(h);
#endif
    ARC_VG_MALLOC(p, size, 0); /* last: the backend header reads above are not the program's */
    return p;
}

/* Keeps the `keep` most recently freed blocks of a bin and gives the older ones back. Flushing
 * the oldest matters: a cache that kept its oldest blocks would pin old segments forever and RSS
 * would never follow the live heap. */
static void bin_flush(arc_heap_t *h, arc_bin_t *bin, uint32_t keep)
{
    if (bin->count <= keep)
        return;
    void *p = bin->head;
    if (keep == 0) {
        bin->head = NULL;
    } else {
        void *last = p; /* the keep-th block: its link ends the bin */
        for (uint32_t i = 1; i < keep; i++)
            last = arc_link_load(h, last);
        p = arc_link_load(h, last);
        arc_link_store(h, last, NULL);
    }
    bin->count = keep;
    ARC_STAT_ADD(h, cache_flushes, 1);
    while (p) {
        void *next = arc_link_load(h, p);
        backend_free(h, arc_segment_of(p), p);
        p = next;
    }
}

/* Cache decay: every ARC_CACHE_GC_EVENTS slow-path events (bin misses and overflows) each bin
 * gives back its older half. A bin for a size the program rarely frees would otherwise keep
 * blocks freed long ago, scattered over every segment, and no segment would ever empty. */
static void cache_gc_tick(arc_heap_t *h)
{
    if (++h->cache_events % ARC_CACHE_GC_EVENTS)
        return;
    for (size_t b = 1; b < ARC_BINS; b++)
        bin_flush(h, &h->bins[b], h->bins[b].count / 2);
}

void arc_heap_free_slow(arc_heap_t *h, arc_segment_t *seg, void *p)
{
    ARC_VG_FREE(p);
    size_t b = h->ops->usable_size_in(h->backend, arc_segment_body(seg), p) / ARC_GRANULE;
    if (b < ARC_BINS && h->bin_of[b] == b && h->kind == ARC_HEAP_THREAD) {
        arc_bin_t *bin = &h->bins[b];
        bin_flush(h, bin, bin->limit / 2);
        cache_gc_tick(h);
        arc_link_store(h, p, bin->head);
        bin->head = p;
        bin->count++;
        ARC_STAT_CHECKPOINT(h);
        return;
    }
    backend_free(h, seg, p);
    ARC_STAT_CHECKPOINT(h);
}

void arc_heap_flush(arc_heap_t *h)
{
    for (size_t b = 1; b < ARC_BINS; b++)
        bin_flush(h, &h->bins[b], 0);
}

void arc_heap_drain(arc_heap_t *h)
{
    void *p = atomic_exchange_explicit(&h->remote, NULL, memory_order_acquire);
    while (p) {
        void *next = *(void **)p;
        arc_segment_t *seg = arc_segment_of(p);
        if (h->kind == ARC_HEAP_THREAD) {
            arc_heap_free_local(h, seg, p);
        } else {
            if (!arc_live_take(seg, p))
                arc_heap_bad_free(h, seg, p, "free");
            backend_free(h, seg, p);
        }
        ARC_STAT_ADD(h, remote_frees_received, 1);
        p = next;
    }
}

void arc_heap_free_other(arc_heap_t *owner, void *p)
{
    if (owner->kind == ARC_HEAP_SHARED) {
        pthread_mutex_lock(&owner->lock);
        arc_segment_t *seg = arc_segment_of(p);
        if (!arc_live_take(seg, p))
            arc_heap_bad_free(owner, seg, p, "free");
#if ARC_PROF
        if (seg->sampled)
            arc_prof_forget_small(seg, p);
#endif
        ARC_STAT_ADD(owner, freed_bytes,
                     owner->ops->usable_size_in(owner->backend, arc_segment_body(seg), p) /
                         ARC_GRANULE * ARC_GRANULE);
        ARC_STAT_ADD(owner, medium_frees, 1);
        ARC_STAT_CHECKPOINT(owner);
        ARC_VG_FREE(p);
        backend_free(owner, seg, p);
        pthread_mutex_unlock(&owner->lock);
        return;
    }
    /* Another thread's heap: hand the block back on its lock-free list; the owner checks and
     * frees it on its next slow path. Release order publishes the link written into p. */
    void *head = atomic_load_explicit(&owner->remote, memory_order_relaxed);
    do {
        *(void **)p = head;
    } while (!atomic_compare_exchange_weak_explicit(&owner->remote, &head, p, memory_order_release,
                                                    memory_order_relaxed));
}

/* Flushing the cache already gives back every segment it empties (backend_free); what is left
 * empty after that (a segment emptied earlier while it was the heap's only one) goes here. */
bool arc_heap_trim(arc_heap_t *h)
{
    size_t before = h->nsegments;
    arc_heap_drain(h);
    arc_heap_flush(h);
    for (arc_segment_t *seg = h->segments, *next; seg; seg = next) {
        next = seg->next;
        if (seg->backend_blocks == 0 && h->nsegments > 1)
            segment_release(h, seg);
    }
    return h->nsegments < before;
}

void arc_heap_release_all(arc_heap_t *h)
{
    while (h->large) {
        arc_large_t *large = h->large;
        h->large = large->next;
#if ARC_PROF
        if (large->sampled)
            arc_prof_forget_large(large, (void *)large->addr);
#endif
        arc_large_free((void *)large->addr, large);
    }
    atomic_store_explicit(&h->remote, NULL, memory_order_relaxed);
    while (h->segments) {
        arc_segment_t *seg = h->segments;
        h->segments = seg->next;
#if ARC_PROF
        if (seg->sampled)
            arc_prof_forget_segment(seg);
#endif
        size_t first = ((uintptr_t)seg - arc_arena.base) / ARC_PAGE_SIZE;
        for (size_t i = 0; i < ARC_SEGMENT_PAGES; i++)
            arc_arena.pagemap[first + i] = 0;
        arc_arena_lock();
        arc_arena.segment_bytes -= ARC_SEGMENT_SIZE;
        arc_arena_unlock();
        segment_guard(seg, true);
        arc_arena_pages_free((uintptr_t)seg, ARC_SEGMENT_PAGES);
    }
    h->nsegments = 0;
    h->backend_ready = false;
    memset(h->bins, 0, sizeof h->bins);
#if ARC_STATS
    /* Every block the heap still had goes with it: counted as freed. (First-class heaps count
     * only medium and large blocks, their large frees included.) */
    h->stats.freed_bytes = h->stats.allocated_bytes;
    h->stats.medium_frees = h->stats.medium_allocs;
    h->stats.large_frees = h->stats.large_allocs;
    ARC_STAT_PUBLISH(h);
#endif
}

size_t arc_heap_cached_bytes(const arc_heap_t *h)
{
    size_t bytes = 0;
    for (size_t b = 1; b < ARC_BINS; b++)
        bytes += (size_t)h->bins[b].count * b * ARC_GRANULE;
    return bytes;
}

_Noreturn void arc_heap_bad_free(arc_heap_t *h, arc_segment_t *seg, const void *p, const char *op)
{
    static const char *const interior[] = {"free of a pointer into the middle of a block",
                                           "realloc of a pointer into the middle of a block"};
    static const char *const freed[] = {"double free", "realloc of a freed block"};
    int is_realloc = op[0] == 'r';
    uintptr_t body = (uintptr_t)seg + ARC_SEGMENT_HEADER;
    if ((uintptr_t)p < body)
        arc_report_misuse(is_realloc ? "realloc of a pointer arcalloc never returned"
                                     : "free of a pointer arcalloc never returned",
                          p);
    /* The nearest live block start before p: if p falls inside it, p is an interior pointer. */
    for (uintptr_t q = ((uintptr_t)p & ~(ARC_GRANULE - 1)); q >= body; q -= ARC_GRANULE) {
        if (q != (uintptr_t)p && arc_live_test(seg, (void *)q)) {
            if ((uintptr_t)p < q + h->ops->usable_size(h->backend, (void *)q))
                arc_report_misuse(interior[is_realloc], p);
            break;
        }
        if (q == body)
            break;
    }
    if ((uintptr_t)p % ARC_GRANULE)
        arc_report_misuse(interior[is_realloc], p);
    arc_report_misuse(freed[is_realloc], p);
}

#if ARC_SECURE
_Noreturn void arc_heap_bad_link(const void *block)
{
    arc_report_misuse("corrupted free list", block);
}
#endif
