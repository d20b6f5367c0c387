/* heap.c: the slow paths of a heap: growing by segments (with a guard page at the end in secure
 * mode), blocks of the byte allocator (medium sizes, spans), draining blocks other threads freed,
 * giving empty segments back. Never called with another heap's state; never touches symbol names
 * or thread-local storage. */
#include "heap.h"

#include <errno.h>
#include <string.h>

#include "os.h"
#include "vg.h"
#include "zero.h"

_Static_assert(ARC_LARGE_THRESHOLD + ARC_HEAP_MAX_ALIGN <
                   ARC_SEGMENT_SIZE - sizeof(arc_segment_t) - ARC_GUARD_MAX_BYTES,
               "every heap request must fit in a fresh segment that ends in a guard");

/* Creates a heap whose byte-allocator state follows it in the same metadata block. The backend
 * is initialised lazily with the first segment. */
arc_heap_t *arc_heap_make(const arc_byte_ops_t *ops, arc_heap_kind_t kind)
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
    h->prof_left = arc_prof_first_countdown(&h->prof_rng);
#else
    h->prof_left = INT64_MAX;
#endif
    atomic_init(&h->remote, NULL);
    atomic_init(&h->remote_batches, NULL);
    atomic_init(&h->batches_back, NULL);
    pthread_mutex_init(&h->lock, NULL);
    arc_dirty_register(&h->cache);
    arc_hole_heap_setup(h);
#if ARC_SECURE
    h->secure = arc_arena_secure();
    h->link_key = arc_arena_secure_key();
    /* Any nonzero state works for xorshift; the heap's address makes heaps differ. */
    h->reuse_rng = ((uint64_t)arc_arena_secure_key() ^ (uint64_t)(uintptr_t)h) | 1;
    if (h->secure) {
        arc_arena_guarded_register(&h->guarded);
        arc_secure_setup();
    }
#endif
    arc_span_classes_setup(h);
    h->medium_on = kind == ARC_HEAP_THREAD && !ARC_VG_RUNNING();
#if ARC_SECURE
    h->medium_on = h->medium_on && !h->secure; /* a freed block waits in the quarantine instead */
#endif
    return h;
}

/* Pages at a segment's end that the byte allocator never gets: the guard, in secure mode. */
static size_t segment_guard_pages(void)
{
#if ARC_SECURE
    return arc_arena_secure() ? arc_guard_pages() : 0;
#else
    return 0;
#endif
}

/* The byte allocator's region of a segment: after the header, up to the guard if any. */
static size_t segment_body_size(void)
{
    return ARC_SEGMENT_SIZE - ARC_SEGMENT_BODY_OFFSET - segment_guard_pages() * ARC_PAGE_SIZE;
}

/* Closes the segment's guard (or opens it again before its pages go back). */
static void segment_guard(arc_segment_t *seg, bool closed)
{
    size_t guard = segment_guard_pages();
    if (guard)
        arc_os_guard((char *)seg + ARC_SEGMENT_SIZE - guard * ARC_PAGE_SIZE, guard * ARC_PAGE_SIZE,
                     closed);
}

/* ---- empty segments -------------------------------------------------------------------------
 * A segment whose last block goes back leaves the heap at once for the heap's dirty cache, where
 * it stays committed until it decays (dirty.h): a program that frees and refills in waves takes
 * it back without page faults, and memory it stopped using goes back to the OS by time. A heap
 * keeps its only segment, empty or not, so that a thread whose few blocks come and go does not
 * move it in and out each time, unless it is empty after holding
 * ARC_HEAP_EMPTIED_AFTER_SEGMENTS or more (a program that built up a heap and freed it all). */

static void empty_add(arc_heap_t *h, arc_segment_t *seg)
{
    if (!h->empty_newest)
        h->empty_oldest = seg;
    arc_ilist_push(&h->empty_newest, &seg->empty_link);
    h->nempty++;
}

static void empty_remove(arc_heap_t *h, arc_segment_t *seg)
{
    if (h->empty_oldest == seg)
        h->empty_oldest = ARC_ILIST_ENTRY(seg->empty_link.prev, arc_segment_t, empty_link);
    arc_ilist_unlink(&h->empty_newest, &seg->empty_link);
    h->nempty--;
}

static void segment_release(arc_heap_t *h, arc_segment_t *seg);

bool arc_heap_segment_may_go(const arc_heap_t *h)
{
    return h->nsegments > 1 || h->peak_segments >= ARC_HEAP_EMPTIED_AFTER_SEGMENTS;
}

/* Gives back every empty segment but the heap's only one (that one too when `all`: trim and
 * thread exit, or when the heap is empty after it held ARC_HEAP_EMPTIED_AFTER_SEGMENTS). */
static void empty_give_back(arc_heap_t *h, bool all)
{
    bool emptied = h->nempty == h->nsegments && h->peak_segments >= ARC_HEAP_EMPTIED_AFTER_SEGMENTS;
    size_t keep = all || emptied ? 0 : 1;
    while (h->nsegments > keep && h->nempty > 0) {
        size_t before = h->nsegments;
        segment_release(h, h->empty_oldest);
        if (h->nsegments == before)
            break; /* the backend refused to let the region go: keep it */
    }
    if (h->nsegments == 0) {
        h->peak_segments = 0;
        /* A heap emptied after a big phase starts small again: its next segment starts clean,
         * its pages faulting in as used, rather than resident whole as the phase left it (it
         * would stay so for as long as a few blocks live in it: tests/process/test_rss.c). */
        h->grow_clean |= emptied;
    }
}

static bool heap_grow(arc_heap_t *h)
{
    bool dirty = false, clean = h->grow_clean;
    h->grow_clean = false;
    uintptr_t addr =
        arc_arena_pages_alloc(&h->cache, ARC_SEGMENT_PAGES, ARC_SEGMENT_SIZE, false, &dirty, NULL);
    if (!addr)
        return false;
    /* A clean start takes a cached segment too, and gives its pages back first: a fresh one
     * would leave the cached one resident until it decays, and a heap that fills and empties
     * over and over (a thread per batch of work) would add a segment to its cache each time
     * (tests/process/test_rss.c, cycles). */
    if (dirty && clean) {
        arc_arena_run_decommit(addr, ARC_SEGMENT_PAGES);
        dirty = false;
    }
    arc_segment_t *seg = (arc_segment_t *)addr;
    /* The header's maps must read as zero; the byte allocator sets up the body itself. A body
     * on dirty pages may hold old bytes (a freed large run's): a clean byte allocator hands them
     * out as they are, so secure malloc clears the medium blocks of such a segment
     * (body_dirty). Clearing the body here instead cost a thread that starts on the segment of
     * one that ended the clear of every page that one used (2 000 short threads in secure mode:
     * 128 -> 169 ms). */
    if (dirty)
        memset(seg, 0, ARC_SEGMENT_HEADER);
    seg->body_dirty = dirty;
    void *body = arc_segment_body(seg);
    size_t body_size = segment_body_size();
    int rc = h->backend_ready ? h->ops->add_memory(h->backend, body, body_size)
                              : h->ops->init(h->backend, body, body_size);
    if (rc != ARC_OK) {
        arc_arena_pages_free(&h->cache, addr, ARC_SEGMENT_PAGES);
        return false;
    }
#if ARC_SECURE
    /* The backend's block-header checks get the process's secret key (docs/security.md). */
    if (!h->backend_ready && h->secure)
        arc_byte_set_key(h->ops, h->backend, arc_arena_secure_key());
#endif
    segment_guard(seg, true);
    seg->heap = h;
    seg->span_slots = 1; /* slot 0 is "no span" */
    arc_ilist_push(&h->segments, &seg->link);
    h->nsegments++;
    if (h->nsegments > h->peak_segments)
        h->peak_segments = h->nsegments;
    empty_add(h, seg); /* no block in it yet */
    ARC_STAT_ADD(h, segments_added, 1);
    arc_arena_segment_add(addr, h->nsegments == 1);
    h->backend_ready = true;
    return true;
}

/* The segment leaves the segment map and its pages go to the heap's dirty cache. */
static void segment_unmap(arc_heap_t *h, arc_segment_t *seg, bool only)
{
    arc_arena_segment_remove((uintptr_t)seg, only);
    segment_guard(seg, false);
    arc_arena_pages_free(&h->cache, (uintptr_t)seg, ARC_SEGMENT_PAGES);
}

static void segment_release(arc_heap_t *h, arc_segment_t *seg)
{
    void *body = arc_segment_body(seg);
    arc_hole_return_segment(h, seg); /* its pages are no longer the heap's to decommit */
    ARC_VG_QUIET();
    int rc = h->ops->remove_memory(h->backend, body, segment_body_size());
    ARC_VG_LOUD();
    if (rc != ARC_OK)
        return;
    arc_ilist_unlink(&h->segments, &seg->link);
    h->nsegments--;
    empty_remove(h, seg);
    ARC_STAT_ADD(h, segments_released, 1);
    segment_unmap(h, seg, h->nsegments == 0);
}

void *arc_heap_backend_alloc(arc_heap_t *h, size_t size, size_t align)
{
    void *p = NULL;
    ARC_VG_QUIET();
    int rc = h->backend_ready ? h->ops->alloc(h->backend, size, align, &p) : ARC_NO_MEMORY;
    /* A hole that holds the request comes back before the heap grows. */
    if (rc == ARC_NO_MEMORY && h->holed)
        rc = arc_hole_alloc(h, size, align, &p);
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
    /* Under valgrind every block is padded by a granule (arc_heap_block_alloc), so the granule
     * before p is padding or a header, never the program's bytes. */
    ARC_VG_DEFINED((char *)p - ARC_GRANULE, ARC_GRANULE);
    arc_segment_t *seg = arc_segment_of(p);
    if (seg->backend_blocks++ == 0)
        empty_remove(h, seg);
    return p;
}

/* p's live bit is already clear. A segment whose last block this was joins the heap's empty
 * segments (see empty_give_back). */
void arc_heap_backend_free(arc_heap_t *h, arc_segment_t *seg, void *p)
{
    void *body = arc_segment_body(seg);
    ARC_VG_QUIET();
    size_t usable = h->ops->usable_size_in(h->backend, body, p);
    int rc = h->ops->dealloc_in(h->backend, body, p, usable, ARC_GRANULE);
    ARC_VG_LOUD();
    /* A live block whose size the backend cannot read, or that it refuses, had its header (or
     * a neighbour's) overwritten: secure builds check every header they read. */
    if (usable == 0 || rc == ARC_INVALID_PARAM)
        arc_report_misuse("corrupted block header", p);
    if (rc != ARC_OK)
        arc_report_misuse("free of a block its heap does not know", p);
    if (--seg->backend_blocks == 0) {
        empty_add(h, seg);
        empty_give_back(h, false);
    } else if (seg->backend_blocks == seg->medium_kept && !h->medium_flushing &&
               arc_heap_segment_may_go(h)) {
        arc_heap_medium_flush(h); /* only kept blocks hold the segment: they go, and it does */
    }
    arc_hole_credit(h, usable);
}

/* A block of at least size bytes for a request of `asked` (size less secure mode's canary):
 * statistics and memcheck are told of `asked`. */
static void *block_alloc(arc_heap_t *h, size_t size, size_t align, size_t asked);

void *arc_heap_block_alloc(arc_heap_t *h, size_t size, size_t align)
{
    /* A zero-size block of a thread heap is an inaccessible address (zero.c); a first-class
     * heap's is an ordinary minimal block, so that arc_heap_destroy frees every block it gave. */
    if (size == 0 && h->kind == ARC_HEAP_THREAD) {
        void *p = arc_zero_alloc(align);
        if (p)
            return p;
    }
#if ARC_SECURE
    /* Secure mode: a block gets room for its canary, and its bytes are checked or cleared and
     * its canary written (secure.c). */
    if (h->secure) {
        if (h->kind == ARC_HEAP_THREAD)
            arc_secure_scrub(h);
        void *p;
        size_t need = size + ARC_CANARY_BYTES;
        size_t cls = arc_heap_class_aligned(h, need, align);
        if (cls) {
            p = arc_heap_class_slow(h, cls, need);
            if (p)
                arc_secure_prepare(h, p, size, arc_span_of(arc_segment_of(p), p)->block_size, true);
            return p;
        }
        p = block_alloc(h, need, align, size);
        if (p) {
            if (h->kind == ARC_HEAP_SHARED)
                h->canaried_live++;
            arc_segment_t *seg = arc_segment_of(p);
            arc_secure_prepare(h, p, size,
                               h->ops->usable_size_in(h->backend, arc_segment_body(seg), p), false);
        }
        return p;
    }
#endif
    return block_alloc(h, size, align, size);
}

static void *block_alloc(arc_heap_t *h, size_t size, size_t align, size_t asked)
{
    /* Size 0 here (a first-class heap's, or the zero-size region is full) takes the smallest
     * class, as one byte would: class 0 is the size-0 marker, whose span never has a block. */
    size_t cls = arc_heap_class_aligned(h, size ? size : 1, align);
    if (cls)
        return arc_heap_class_slow(h, cls, size);
    if (arc_heap_has_remote(h))
        arc_heap_drain(h);
    size_t want = size ? size : 1; /* malloc(0) and memalign(a, 0) get a real block */
    bool binned = h->medium_on && size > ARC_SMALL_MAX && size <= ARC_MEDIUM_CACHE_MAX;
    if (binned) {
        h->medium_taken++;
        void *kept = arc_heap_medium_pop(h, size, align);
        if (kept) {
            ARC_STAT_CHECKPOINT(h);
            return kept;
        }
        size_t b = arc_medium_bin(size);
        if (h->medium_want[b] < ARC_MEDIUM_BIN_BLOCKS)
            h->medium_want[b]++;
        want = arc_medium_bin_size(b); /* so that it serves its whole bin once freed */
    }
    /* Under valgrind a block gets one spare granule: the backend's own pointers to the next
     * block then never point inside the program's bytes, so memcheck calls a leak definite. */
    void *p = arc_heap_backend_alloc(h, ARC_VG_RUNNING() ? want + ARC_GRANULE : want, align);
    if (!p)
        return NULL;
    arc_segment_t *seg = arc_segment_of(p);
    arc_live_set(seg, p);
#if ARC_STATS
    size_t got = h->ops->usable_size_in(h->backend, arc_segment_body(seg), p) / ARC_GRANULE;
    ARC_STAT_ADD(h, requested_bytes, asked);
    ARC_STAT_ADD(h, allocated_bytes, got * ARC_GRANULE);
    ARC_STAT_ADD(h, medium_allocs, 1);
    ARC_STAT_CHECKPOINT(h);
#endif
    ARC_VG_MALLOC(p, asked, 0); /* last: the backend header reads above are not the program's */
    return p;
}

/* malloc's miss on a thread heap: blocks other threads freed first, then the class's spans. */
void *arc_heap_class_slow(arc_heap_t *h, size_t cls, size_t size)
{
    arc_heap_outbox_flush(h);
    if (arc_heap_has_remote(h))
        arc_heap_drain(h);
    void *p = cls ? arc_span_alloc(h, cls, size) : arc_heap_block_alloc(h, size, ARC_GRANULE);
    ARC_STAT_CHECKPOINT(h);
    return p;
}

void arc_heap_free_rare(arc_heap_t *h, arc_segment_t *seg, void *p)
{
    if (!arc_live_take(seg, p))
        arc_heap_bad_free(h, seg, p, ARC_OP_FREE);
    arc_heap_forget_sampled(seg, p);
    arc_span_t *span = arc_span_of(seg, p);
    if (span)
        arc_span_push(h, span, p);
    else
        arc_heap_free_medium(h, seg, p);
}

/* A block of the byte allocator (not in a span), its live bit already clear: kept in the
 * medium cache when it has room, else given back. */
void arc_heap_free_medium(arc_heap_t *h, arc_segment_t *seg, void *p)
{
    ARC_VG_FREE(p);
    size_t usable = h->ops->usable_size_in(h->backend, arc_segment_body(seg), p);
    ARC_STAT_ADD(h, freed_bytes, usable / ARC_GRANULE * ARC_GRANULE);
    ARC_STAT_ADD(h, medium_frees, 1);
    if (arc_heap_medium_keep(h, p, usable))
        return;
    arc_heap_medium_release(h, seg, p);
}

void arc_heap_medium_release(arc_heap_t *h, arc_segment_t *seg, void *p)
{
    bool leaves_one = seg->backend_blocks == 2; /* read first: an emptied segment may go */
    arc_heap_backend_free(h, seg, p);
    if (leaves_one && h->kind == ARC_HEAP_THREAD)
        arc_span_sweep_lone(h);
    ARC_STAT_CHECKPOINT(h);
}

/* Reads the link of a block on h's remote list (decoded and checked in secure mode: the next
 * block must be NULL or a live block start in one of h's segments). */
static void *remote_link_load(const arc_heap_t *h, void *block)
{
#if ARC_SECURE
    if (h->secure) {
        void *next = (void *)(*(uintptr_t *)block ^ arc_link_code(h, block));
        uintptr_t entry = next ? arc_arena_entry(next) : 0;
        if (next != NULL &&
            (entry == 0 || (entry & ARC_MAP_LARGE) || (uintptr_t)next % ARC_GRANULE ||
             ((arc_segment_t *)entry)->heap != h || !arc_live_test((arc_segment_t *)entry, next)))
            arc_heap_bad_link(block);
        return next;
    }
#else
    (void)h;
#endif
    return *(void **)block;
}

/* Frees one block another thread handed back to h (`linked`: it came on the remote list, its
 * first word a link). */
static void drain_one(arc_heap_t *h, void *p, bool linked)
{
    arc_segment_t *seg = arc_segment_of(p);
    if (h->kind == ARC_HEAP_THREAD) {
#if ARC_SECURE
        if (h->secure)
            arc_secure_free(h, seg, p, linked);
        else
#else
        (void)linked;
#endif
            arc_heap_free_own(h, seg, p);
    } else {
        if (!arc_live_take(seg, p))
            arc_heap_bad_free(h, seg, p, ARC_OP_FREE);
        arc_heap_backend_free(h, seg, p);
    }
    ARC_STAT_ADD(h, remote_frees_received, 1);
}

/* Pushes batch b onto the list at *list in one atomic step. Release order publishes what was
 * written into the batch (its blocks to the owner, its emptiness to the sender). */
static void batch_push(_Atomic(arc_remote_batch_t *) *list, arc_remote_batch_t *b)
{
    arc_remote_batch_t *head = atomic_load_explicit(list, memory_order_relaxed);
    do {
        b->next = head;
    } while (!atomic_compare_exchange_weak_explicit(list, &head, b, memory_order_release,
                                                    memory_order_relaxed));
}

/* Batches first: their blocks are read from an array, so the owner's misses on blocks the other
 * core wrote overlap instead of waiting one on the next, as walking links must. */
void arc_heap_drain(arc_heap_t *h)
{
    arc_remote_batch_t *b =
        atomic_exchange_explicit(&h->remote_batches, NULL, memory_order_acquire);
    while (b) {
        arc_remote_batch_t *next = b->next; /* read before b goes back: its sender reuses it */
        for (uint32_t i = 0; i < b->count; i++)
            drain_one(h, b->blocks[i], false);
        batch_push(&b->sender->batches_back, b);
        b = next;
    }
    void *p = atomic_exchange_explicit(&h->remote, NULL, memory_order_acquire);
    while (p) {
#if ARC_SECURE
        /* A block on the list twice (freed twice by threads without a heap): its first free
         * below zeroed its link, so the second is told before the link is read. */
        if (h->secure && !arc_live_test(arc_segment_of(p), p))
            arc_heap_bad_free(h, arc_segment_of(p), p, ARC_OP_FREE);
#endif
        void *next = remote_link_load(h, p);
        drain_one(h, p, true);
        p = next;
    }
}

/* Pushes the chain first .. last (linked already) on owner's remote list in one atomic step.
 * Release order publishes the links written into the blocks. */
static void remote_push(arc_heap_t *owner, void *first, void *last)
{
    void *head = atomic_load_explicit(&owner->remote, memory_order_relaxed);
    do {
        arc_link_store(owner, last, head);
    } while (!atomic_compare_exchange_weak_explicit(&owner->remote, &head, first,
                                                    memory_order_release, memory_order_relaxed));
}

/* The batches owners emptied come back to self's spares. Only self's thread takes from
 * batches_back, and it takes the whole list, so a batch pushed back meanwhile is never lost or
 * taken twice. */
static void batches_reclaim(arc_heap_t *self)
{
    arc_remote_batch_t *b =
        atomic_exchange_explicit(&self->batches_back, NULL, memory_order_acquire);
    while (b) {
        arc_remote_batch_t *next = b->next;
        b->next = self->spare_batches;
        self->spare_batches = b;
        self->batches_out--;
        b = next;
    }
}

/* The blocks of batch b go to owner linked through their first words, one atomic push, and b
 * stays with self. A block twice in the chain would corrupt its links: that is checked first. */
static void outbox_link(arc_heap_t *self, arc_heap_t *owner, arc_remote_batch_t *b)
{
    uint32_t n = b->count;
    for (uint32_t i = 1; i < n; i++)
        for (uint32_t j = 0; j < i; j++)
            if (b->blocks[j] == b->blocks[i])
                arc_report_bad_pointer(ARC_OP_FREE, ARC_BAD_FREED, b->blocks[i]);
    for (uint32_t i = 0; i + 1 < n; i++)
        arc_link_store(owner, b->blocks[i], b->blocks[i + 1]);
    remote_push(owner, b->blocks[0], b->blocks[n - 1]);
    b->next = self->spare_batches;
    self->spare_batches = b;
}

/* A full batch goes over whole while fewer than ARC_OUTBOX_BATCHES_OUT of self's batches wait in
 * other heaps. Fewer blocks (the outbox flushed early: a block of another owner, a malloc miss,
 * trim, exit), or a full batch past that bound, go linked (outbox_link): only full batches cross,
 * so the batches waiting in other heaps are at most one per 32 blocks waiting there, however the
 * program's frees alternate between owners, and at most ARC_OUTBOX_BATCHES_OUT a heap, however
 * long their owners leave them. */
void arc_heap_outbox_flush(arc_heap_t *self)
{
    arc_remote_batch_t *b = self->outbox;
    if (!b)
        return;
    arc_heap_t *owner = self->out_owner;
    bool full = b->count == ARC_OUTBOX_BLOCKS;
    if (full && self->batches_out >= ARC_OUTBOX_BATCHES_OUT)
        batches_reclaim(self); /* batches given back no longer count as out */
    if (full && self->batches_out < ARC_OUTBOX_BATCHES_OUT) {
        batch_push(&owner->remote_batches, b);
        self->batches_out++;
    } else {
        outbox_link(self, owner, b);
    }
    self->outbox = NULL;
    self->out_owner = NULL;
}

/* An empty batch for self's outbox: a spare, else one owners gave back, else a new one (NULL
 * when metadata runs out). */
static arc_remote_batch_t *batch_take(arc_heap_t *self)
{
    if (!self->spare_batches)
        batches_reclaim(self);
    arc_remote_batch_t *b = self->spare_batches;
    if (b) {
        self->spare_batches = b->next;
        return b;
    }
    int saved_errno = errno; /* free never changes errno; the metadata may be mapped here */
    b = arc_arena_meta_alloc(sizeof *b);
    errno = saved_errno;
    if (b)
        b->sender = self;
    return b;
}

/* Blocks for one other thread heap wait in the freeing thread's outbox and are handed over
 * ARC_OUTBOX_BLOCKS at a time: one contended atomic per batch instead of one per block. A
 * block of another owner, the freeing thread's next malloc miss, trim and thread exit flush
 * it, so a block waits there at most until then. The owner checks each block when it drains
 * what it was handed: a second free is a double free there, whether the owner took the block
 * back already or finds it twice in one batch (the first copy took its live bit; nothing is
 * written into a block of a batch on its way). A block twice in an outbox that goes linked (a
 * partial one, or one past the bound on batches out) is caught when it is flushed. */
void arc_heap_free_foreign(arc_heap_t *self, arc_heap_t *owner, void *p)
{
#if ARC_SECURE
    /* Checked by the thread that frees: the report names the free that went wrong. */
    if (owner->secure && owner->kind == ARC_HEAP_THREAD)
        arc_secure_check_remote(owner, arc_segment_of(p), p);
#endif
    if (!self || owner->kind != ARC_HEAP_THREAD) {
        arc_heap_free_to_owner(owner, p);
        return;
    }
    ARC_STAT_ADD(self, remote_frees_sent, 1);
    if (self->out_owner != owner)
        arc_heap_outbox_flush(self);
    arc_remote_batch_t *b = self->outbox;
    if (!b) {
        b = batch_take(self);
        if (!b) {
            remote_push(owner, p, p);
            return;
        }
        b->count = 0;
        self->outbox = b;
        self->out_owner = owner;
    }
    b->blocks[b->count++] = p;
    if (b->count == ARC_OUTBOX_BLOCKS)
        arc_heap_outbox_flush(self);
}

void arc_heap_free_to_owner(arc_heap_t *owner, void *p)
{
    if (owner->kind == ARC_HEAP_SHARED) {
        pthread_mutex_lock(&owner->lock);
        arc_segment_t *seg = arc_segment_of(p);
        if (!arc_live_take(seg, p))
            arc_heap_bad_free(owner, seg, p, ARC_OP_FREE);
#if ARC_SECURE
        if (owner->secure) {
            arc_secure_check_zero(owner, seg, p);
            owner->canaried_live--;
        }
#endif
        arc_heap_forget_sampled(seg, p);
        arc_heap_free_medium(owner, seg, p);
        pthread_mutex_unlock(&owner->lock);
        return;
    }
    /* Another thread's heap: hand the block back on its lock-free list; the owner checks and
     * frees it on its next slow path. */
    remote_push(owner, p, p);
}

/* Empty spans go back to the byte allocator, then every empty segment (heap.h). */
bool arc_heap_trim(arc_heap_t *h, bool exiting)
{
    size_t before = h->nsegments;
#if ARC_SECURE
    arc_secure_quarantine_flush(h);
#endif
    arc_heap_outbox_flush(h);
    arc_heap_drain(h);
    arc_heap_medium_flush(h);
    arc_span_release_empty(h);
    empty_give_back(h, true);
    if (!exiting)
        arc_hole_sweep_all(h);
    return h->nsegments < before;
}

void arc_heap_release_all(arc_heap_t *h)
{
    arc_hole_forget_all(h); /* before its segments go where others may take them */
    while (h->large) {
        arc_large_t *large = ARC_ILIST_ENTRY(h->large, arc_large_t, link);
        h->large = large->link.next;
        arc_heap_forget_large(large);
        arc_large_free((void *)large->addr, large);
    }
    atomic_store_explicit(&h->remote, NULL, memory_order_relaxed);
    while (h->segments) {
        arc_segment_t *seg = ARC_ILIST_ENTRY(h->segments, arc_segment_t, link);
        h->segments = seg->link.next;
#if ARC_PROF
        if (seg->sampled) {
            arc_prof_forget_range((uintptr_t)seg, ARC_SEGMENT_SIZE);
            seg->sampled = 0;
        }
#endif
        segment_unmap(h, seg, h->segments == NULL);
    }
    arc_dirty_purge(&h->cache); /* a destroyed heap's memory goes back now */
#if ARC_SECURE
    if (h->secure)
        arc_dirty_purge(&h->guarded);
#endif
    h->nsegments = 0;
    h->nempty = 0;
    h->empty_newest = NULL;
    h->empty_oldest = NULL;
    h->backend_ready = false;
    for (size_t c = 0; c < ARC_CLASSES; c++)
        h->current[c] = &arc_span_none;
    for (size_t b = 0; b < ARC_MEDIUM_BINS; b++) { /* its blocks went with the segments */
        h->medium[b] = NULL;
        h->medium_count[b] = 0;
        h->medium_want[b] = 0;
    }
    h->medium_bytes = 0;
    h->medium_full = 0;
#if ARC_SECURE
    h->canaried_live = 0;
#endif
#if ARC_STATS
    /* Every block the heap still had goes with it: counted as freed. (First-class heaps count
     * only medium and large blocks, their large frees included.) */
    h->stats.freed_bytes = h->stats.allocated_bytes;
    h->stats.medium_frees = h->stats.medium_allocs;
    h->stats.large_frees = h->stats.large_allocs;
    ARC_STAT_PUBLISH(h);
#endif
}

/* Another thread's segments may come and go while this runs: the walk reads each word once and
 * stops after more segments than the heap could hold, so a list changed under it costs a wrong
 * figure, never a loop. */
size_t arc_heap_cached(const arc_heap_t *h, size_t counts[ARC_SIZE_BINS])
{
    size_t bytes = 0, limit = __atomic_load_n(&h->nsegments, __ATOMIC_RELAXED) + 1;
    for (size_t b = 0; counts && b < ARC_SIZE_BINS; b++)
        counts[b] = 0;
    const arc_ilist_link_t *link = __atomic_load_n(&h->segments, __ATOMIC_RELAXED);
    for (size_t n = 0; link && n < limit; n++) {
        const arc_segment_t *seg = ARC_ILIST_ENTRY(link, arc_segment_t, link);
        uint64_t slots = __atomic_load_n(&seg->span_slots, __ATOMIC_RELAXED) & ~(uint64_t)1;
        for (; slots; slots &= slots - 1) {
            const arc_span_t *span = &seg->spans[__builtin_ctzll(slots)];
            size_t size = __atomic_load_n(&span->block_size, __ATOMIC_RELAXED);
            size_t used = __atomic_load_n(&span->used, __ATOMIC_RELAXED) & ARC_SPAN_COUNT;
            size_t span_bytes = (size_t)(__atomic_load_n(&span->end, __ATOMIC_RELAXED) -
                                         __atomic_load_n(&span->start, __ATOMIC_RELAXED));
            size_t capacity = size ? span_bytes / size : 0;
            if (size / ARC_GRANULE >= ARC_SIZE_BINS || used > capacity)
                continue;
            if (counts)
                counts[size / ARC_GRANULE] += capacity - used;
            bytes += (capacity - used) * size;
        }
        link = __atomic_load_n(&link->next, __ATOMIC_RELAXED);
    }
    return bytes;
}

void arc_heap_large_keep(arc_heap_t *h, arc_large_t *large)
{
    arc_ilist_push(&h->large, &large->link);
}

void arc_heap_large_forget(arc_heap_t *h, arc_large_t *large)
{
    arc_ilist_unlink(&h->large, &large->link);
}

size_t arc_heap_shared_used(const arc_heap_t *h)
{
    size_t used = h->backend_ready ? h->ops->used_bytes(h->backend) - h->hole_bytes : 0;
#if ARC_SECURE
    used -= h->canaried_live * ARC_CANARY_BYTES;
#endif
    for (const arc_ilist_link_t *l = h->large; l; l = l->next)
        used += arc_large_usable(ARC_ILIST_ENTRY(l, const arc_large_t, link));
    return used;
}

void arc_heap_figures(arc_heap_t *h, arc_heap_figures_t *out)
{
    bool shared = h->kind == ARC_HEAP_SHARED;
    /* A first-class heap changes only under its lock; thread heaps are read as they run, each
     * word once and untorn: a figure may be a few blocks stale, never garbage. */
    if (shared)
        pthread_mutex_lock(&h->lock);
    *out = (arc_heap_figures_t){.shared = shared,
                                .abandoned = __atomic_load_n(&h->abandoned, __ATOMIC_RELAXED),
                                .segments = __atomic_load_n(&h->nsegments, __ATOMIC_RELAXED)};
#if ARC_STATS
    const uint64_t *from = (const uint64_t *)&h->stats;
    uint64_t *to = (uint64_t *)&out->counters;
    for (size_t i = 0; i < sizeof h->stats / sizeof(uint64_t); i++)
        to[i] = __atomic_load_n(&from[i], __ATOMIC_RELAXED);
#endif
    if (__atomic_load_n(&h->backend_ready, __ATOMIC_RELAXED)) {
        out->byte_total = h->ops->total_bytes(h->backend);
        /* Holes are free memory the heap set apart: available, not the program's. */
        size_t holes = __atomic_load_n(&h->hole_bytes, __ATOMIC_RELAXED);
        out->byte_used = h->ops->used_bytes(h->backend) - holes;
        out->byte_available = h->ops->available_bytes(h->backend) + holes;
    }
    if (!shared)
        out->cached =
            arc_heap_cached(h, NULL) + __atomic_load_n(&h->medium_bytes, __ATOMIC_RELAXED);
    if (shared)
        pthread_mutex_unlock(&h->lock);
}

/* ---- heap profiler samples -------------------------------------------------------------------
 * The profiler keeps the samples; the heap keeps where they are, so that a free looks it up
 * only for a block in a large run, span or segment that holds one. */

#if ARC_PROF
/* The countdown ran out: the profiler may record p; its large run, or its span (a small block:
 * the owner thread is the one sampling) or segment, counts the sample. */
void *arc_heap_sampled(arc_heap_t *h, void *p, size_t size)
{
    arc_prof_mark_t mark;
    h->prof_left = arc_prof_sample(&h->prof_rng, p, size, &mark);
    if (mark == ARC_PROF_UNMARKED)
        return p;
    uintptr_t entry = arc_arena_entry(p);
    if (entry & ARC_MAP_LARGE) {
        ((arc_large_t *)(entry & ~ARC_MAP_LARGE))->sampled = true;
    } else if (entry && mark == ARC_PROF_MARK_NEW) {
        arc_segment_t *seg = (arc_segment_t *)entry;
        arc_span_t *span = arc_span_of(seg, p);
        if (span) {
            span->sampled++;
            span->used |= ARC_SPAN_SAMPLED;
        } else {
            seg->sampled++;
        }
    }
    return p;
}
#endif

void arc_heap_forget_sampled_slow(arc_segment_t *seg, const void *p)
{
#if ARC_PROF
    if (arc_prof_forget(p))
        seg->sampled--;
#else
    (void)seg;
    (void)p;
#endif
}

void arc_heap_forget_large(arc_large_t *large)
{
#if ARC_PROF
    if (large->sampled) {
        arc_prof_forget((void *)large->addr);
        large->sampled = false;
    }
#else
    (void)large;
#endif
}

_Noreturn void arc_heap_bad_free(arc_heap_t *h, arc_segment_t *seg, const void *p, arc_op_t op)
{
    uintptr_t body = (uintptr_t)arc_segment_body(seg);
    uintptr_t guard = (uintptr_t)seg + ARC_SEGMENT_SIZE - segment_guard_pages() * ARC_PAGE_SIZE;
    if ((uintptr_t)p < body || (uintptr_t)p >= guard) /* the header, or the guard page */
        arc_report_bad_pointer(op, ARC_BAD_FOREIGN, p);
    /* A block start of a span that its tail has not cut yet was never handed out. */
    const arc_span_t *span = arc_span_of(seg, p);
    if (span != NULL && (const char *)p >= span->bump &&
        ((uintptr_t)p - (uintptr_t)span->start) % span->block_size == 0)
        arc_report_bad_pointer(op, ARC_BAD_FOREIGN, p);
    /* The nearest live block start before p: if p falls inside it, p is an interior pointer. */
    for (uintptr_t q = ((uintptr_t)p & ~(ARC_GRANULE - 1)); q >= body; q -= ARC_GRANULE) {
        if (q != (uintptr_t)p && arc_live_test(seg, (void *)q)) {
            if ((uintptr_t)p < q + arc_heap_usable(h, seg, (void *)q))
                arc_report_bad_pointer(op, ARC_BAD_INTERIOR, p);
            break;
        }
        if (q == body)
            break;
    }
    if ((uintptr_t)p % ARC_GRANULE)
        arc_report_bad_pointer(op, ARC_BAD_INTERIOR, p);
    arc_report_bad_pointer(op, ARC_BAD_FREED, p);
}

#if ARC_SECURE
_Noreturn void arc_heap_bad_link(const void *block)
{
    arc_report_misuse("corrupted free list", block);
}
#endif
