/* api.c: the malloc family and first-class heaps under their arc_ names. The fast paths of
 * arc_malloc and arc_free fit on this screen; everything rare is a noinline function below
 * them. Never touches the OS directly; never prints except through report.c. */
#include <errno.h>
#include <string.h>

#include "arcalloc.h"
#include "heap.h"
#include "thread.h"
#include "vg.h"
#include "zero.h"

static void *alloc_slow(size_t size, size_t align);
static void *malloc_miss(arc_heap_t *h, size_t size);
static void *malloc_medium(arc_heap_t *h, size_t size);
static void free_slow(void *p, uintptr_t entry);
static void free_remote(arc_segment_t *seg, void *p);

#if ARC_SECURE
static void *secure_malloc(arc_heap_t *h, size_t size);
#endif

/* malloc: a pop from the free list of the span of size's class, a medium block the heap kept,
 * else the slow path. */
void *arc_malloc(size_t size)
{
    arc_heap_t *h = arc_tls_alloc_heap; /* arc_heap_none (never secure) when there is none */
#if ARC_SECURE
    if (h->secure)
        return secure_malloc(h, size);
#endif
    if (arc_likely(size <= ARC_SMALL_MAX)) {
        void *p = arc_heap_small_pop(h, size);
        if (arc_likely(p != NULL))
            return arc_prof_on_alloc(h, p, size);
        return malloc_miss(h, size);
    }
    if (size <= ARC_MEDIUM_CACHE_MAX)
        return malloc_medium(h, size);
    return alloc_slow(size, ARC_GRANULE);
}

/* free: page map -> segment -> span; our own heap's small block is pushed on its span. */
void arc_free(void *p)
{
    arc_segment_t *seg = (arc_segment_t *)arc_arena_segment(p);
    if (arc_likely(seg != NULL)) {
        if (arc_likely(seg->heap == arc_tls_heap)) {
            arc_heap_free_own(seg->heap, seg, p);
            return;
        }
        free_remote(seg, p);
        return;
    }
    free_slow(p, arc_arena_entry(p));
}

/* ---- rare cases ---------------------------------------------------------------------------- */

static bool is_pow2(size_t x)
{
    return x && !(x & (x - 1));
}

static bool wants_pages(size_t size, size_t align)
{
    return size > ARC_LARGE_THRESHOLD || align > ARC_HEAP_MAX_ALIGN;
}

/* Statistics of a large block (slow paths only): an allocation (requested/allocated bytes), a
 * free (freed bytes) or an in-place resize (both: a free of the old run and an allocation of the
 * new one). Counted on h, the block's first-class heap (its lock held) or the calling thread's;
 * a thread without a heap counts into the process-wide figures. Published at once: large blocks
 * move the peak. */
static void large_count(arc_heap_t *h, size_t requested, size_t allocated, size_t freed)
{
#if ARC_STATS
    if (!h) {
        ARC_STAT_ORPHAN(requested, allocated, freed, allocated != 0, freed != 0);
        return;
    }
    if (allocated) {
        ARC_STAT_ADD(h, large_allocs, 1);
        ARC_STAT_ADD(h, requested_bytes, requested);
        ARC_STAT_ADD(h, allocated_bytes, allocated);
    }
    if (freed) {
        ARC_STAT_ADD(h, large_frees, 1);
        ARC_STAT_ADD(h, freed_bytes, freed);
    }
    ARC_STAT_PUBLISH(h);
#else
    (void)h;
    (void)requested;
    (void)allocated;
    (void)freed;
#endif
}

/* The class's free list was empty: the next span (or a new one); out of memory goes the long way,
 * which sets errno. A thread without a heap (arc_heap_none) goes the long way too: it takes one. */
/* A medium request: a block the thread's heap kept (heap.h), else the slow path. Out of line so
 * that the small path above keeps no registers. */
static ARC_NOINLINE void *malloc_medium(arc_heap_t *h, size_t size)
{
    void *p = arc_heap_medium_take(h, size);
    if (p != NULL)
        return arc_prof_on_alloc(h, p, size);
    return alloc_slow(size, ARC_GRANULE);
}

static ARC_NOINLINE void *malloc_miss(arc_heap_t *h, size_t size)
{
    if (h == &arc_heap_none)
        return alloc_slow(size, ARC_GRANULE);
    arc_dirty_purger_poke_if_wanted();
    void *p = arc_heap_small_slow(h, size);
    if (!p)
        return alloc_slow(size, ARC_GRANULE);
    return arc_prof_on_alloc(h, p, size);
}

#if ARC_SECURE
/* Secure mode's malloc: a small request takes a block with room for its canary (secure.c checks
 * that it is still zero and writes the canary); zero-size and medium requests go the slow way,
 * where arc_heap_block_alloc does the same. */
static ARC_NOINLINE void *secure_malloc(arc_heap_t *h, size_t size)
{
    if (size != 0 && size <= ARC_SMALL_MAX - ARC_CANARY_BYTES) {
        size_t cls = h->class_of[(size + ARC_CANARY_BYTES + ARC_GRANULE - 1) / ARC_GRANULE];
        void *p = arc_secure_small_pop(h, cls, size);
        if (arc_likely(p != NULL))
            return arc_prof_on_alloc(h, p, size);
    }
    return alloc_slow(size, ARC_GRANULE);
}
#endif

/* Allocation's slow paths start the purger thread when a put could not (dirty.h); a thread's
 * first allocation does in arc_thread_heap_acquire. */
static ARC_NOINLINE void *alloc_slow(size_t size, size_t align)
{
    arc_heap_t *h = arc_thread_heap_acquire();
    arc_dirty_purger_poke_if_wanted();
    void *p = NULL;
    if (!h) {
        if (arc_thread_in_init() && align <= ARC_GRANULE)
            p = arc_bootstrap_alloc(size);
    } else if (wants_pages(size, align)) {
        p = arc_large_alloc(NULL, &h->cache, arc_heap_guarded(h), size, align);
        if (p) {
            ARC_VG_MALLOC(p, size, 1);
            /* The run's own size: a guarded run is whole OS pages, more than the size's pages. */
            arc_large_t *large = (arc_large_t *)(arc_arena_entry(p) & ~ARC_MAP_LARGE);
            large_count(h, size, arc_large_usable(large), 0);
        }
    } else {
        p = arc_heap_block_alloc(h, size, align);
    }
    if (!p) {
        errno = ENOMEM;
        return NULL;
    }
    return h ? arc_prof_on_alloc(h, p, size) : p;
}

/* Checks a page-map entry for p; returns the large descriptor when p is a large block. */
static arc_large_t *large_checked(const void *p, uintptr_t entry, arc_op_t op)
{
    if (entry == ARC_MAP_FREED)
        arc_report_bad_pointer(op, ARC_BAD_FREED, p);
    arc_large_t *large = (arc_large_t *)(entry & ~ARC_MAP_LARGE);
    if ((uintptr_t)p != large->addr)
        arc_report_bad_pointer(op, ARC_BAD_INTERIOR, p);
    return large;
}

static void large_release(void *p, arc_large_t *large)
{
    arc_heap_t *owner = large->heap, *self = arc_tls_heap;
    arc_heap_forget_large(large);
    ARC_VG_FREE(p);
    if (!owner)
        large_count(self, 0, 0, arc_large_usable(large));
    if (owner) {
        pthread_mutex_lock(&owner->lock);
        large_count(owner, 0, 0, arc_large_usable(large));
        arc_heap_large_forget(owner, large);
        pthread_mutex_unlock(&owner->lock);
    }
    arc_large_free(p, large);
    /* Huge pages may have gone off with this run: a thread heap whose sweeps for holes waited
     * for that (holes.c) sweeps now, not at its next free into its byte allocator. */
    if (!owner && self)
        arc_hole_credit(self, 0);
}

static ARC_NOINLINE void free_slow(void *p, uintptr_t entry)
{
    if (!p)
        return;
    int saved_errno = errno;
    if (entry == 0) {
        if (arc_bootstrap_contains(p))
            return;
        if (arc_zero_contains(p)) {
            arc_zero_free(p);
            errno = saved_errno;
            return;
        }
        if (!arc_arena_contains(p))
            arc_report_bad_pointer(ARC_OP_FREE, ARC_BAD_FOREIGN, p);
        arc_arena_report_stray(p, ARC_OP_FREE);
    }
    if (entry & ARC_MAP_LARGE)
        large_release(p, large_checked(p, entry, ARC_OP_FREE));
    else
        free_remote((arc_segment_t *)entry, p);
    errno = saved_errno;
}

/* A block of another heap: another thread's (the freeing thread's outbox hands it over) or a
 * first-class heap's. A thread without a heap takes one here, for its outbox (but not once its
 * exit is over: arc_thread_heap_for_free): a thread that only frees what others allocated (a
 * consumer) then hands blocks over in batches rather than with one contended push each. Out of line
 * so that free's fast path compares the thread's heap pointer straight from TLS instead of keeping
 * it in a register for this case. */
static ARC_NOINLINE void free_remote(arc_segment_t *seg, void *p)
{
    arc_heap_t *owner = seg->heap, *self = arc_tls_heap;
    if (arc_unlikely(!self) && owner->kind == ARC_HEAP_THREAD) {
        int saved_errno = errno; /* free never changes errno; taking a heap may map memory */
        self = arc_thread_heap_for_free();
        errno = saved_errno;
    }
    arc_heap_free_foreign(self, owner, p);
}

/* Bytes of a heap block the program may use: in secure mode, all but its canary. */
static size_t heap_usable(size_t block)
{
#if ARC_SECURE
    if (arc_arena_secure())
        return block - ARC_CANARY_BYTES;
#endif
    return block;
}

/* Usable bytes of a block, checking it is one: misuse is reported as `op`. */
static size_t usable_checked(const void *p, arc_op_t op)
{
    uintptr_t entry = arc_arena_entry(p);
    if (entry == 0) {
        if (arc_bootstrap_contains(p))
            return arc_bootstrap_size(p);
        if (arc_zero_contains(p))
            return 0;
        if (!arc_arena_contains(p))
            arc_report_bad_pointer(op, ARC_BAD_FOREIGN, p);
        arc_arena_report_stray(p, op);
    }
    if (entry & ARC_MAP_LARGE)
        return arc_large_usable(large_checked(p, entry, op));
    arc_segment_t *seg = (arc_segment_t *)entry;
    arc_heap_t *h = seg->heap;
    /* Another thread's live bits may change under us: only the owner's are checked here. */
    if (h == arc_tls_heap || h->kind == ARC_HEAP_SHARED) {
        if (!arc_live_test(seg, p))
            arc_heap_bad_free(h, seg, p, op);
        return heap_usable(arc_heap_usable(h, seg, p));
    }
    arc_span_t *span = arc_span_of(seg, p);
    if (span)
        return heap_usable(span->block_size);
    /* The checked lookup: p is not ours to trust. */
    return heap_usable(h->ops->usable_size(h->backend, p));
}

#if ARC_SECURE
/* Secure mode: a sized free's size must be the block's (secure.c for heap blocks; a zero-size
 * block's is 0; a large run's rounds to its pages). `usable` from usable_checked. */
static bool size_fits(const void *p, size_t usable, size_t size, size_t align)
{
    uintptr_t entry = arc_arena_entry(p);
    if (entry == 0)
        return arc_zero_contains(p) ? size == 0 : size <= usable;
    if (entry & ARC_MAP_LARGE) {
        /* A large run holds exactly the pages arc_large_alloc (or a resize) gives `size`. */
        const arc_large_t *large = (const arc_large_t *)(entry & ~ARC_MAP_LARGE);
        return size <= usable &&
               arc_large_body_pages(size, align, large->guard) * ARC_PAGE_SIZE == usable;
    }
    return arc_secure_size_fits((const arc_segment_t *)entry, p, usable + ARC_CANARY_BYTES, size,
                                align);
}
#endif

/* Page runs come zero-filled unless placed on dirty pages (a recently freed run, still
 * committed): clearing those costs less than the page faults a fresh run takes, and only their
 * resident pages are stored to (arc_large_clear). Heap blocks are always cleared. */
static void calloc_clear(void *p, size_t total)
{
    uintptr_t entry = arc_arena_entry(p);
    if (!(entry & ARC_MAP_LARGE))
        memset(p, 0, total);
    else if (((arc_large_t *)(entry & ~ARC_MAP_LARGE))->dirty)
        arc_large_clear(p, total);
}

void *arc_calloc(size_t count, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(count, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = arc_malloc(total);
    if (p && total <= ARC_LARGE_THRESHOLD)
        memset(p, 0, total);
    else if (p)
        calloc_clear(p, total);
    return p;
}

/* Moves p to a new block from `alloc` when it cannot stay. */
static void *realloc_with(arc_heap_t *shared, void *p, size_t size)
{
    size_t old = usable_checked(p, ARC_OP_REALLOC);
    uintptr_t entry = arc_arena_entry(p);
    if (entry & ARC_MAP_LARGE) {
        arc_large_t *large = (arc_large_t *)(entry & ~ARC_MAP_LARGE);
        /* A run resizes in place when it stays large, and below the large threshold too while
         * the size is half the run or more: a block that moved between a heap block and a run
         * each time its size crossed the threshold (120 .. 136 KiB and back) was copied at every
         * crossing. */
        bool stays = size > ARC_LARGE_THRESHOLD || (size != 0 && size >= old / 2);
        if (stays && !ARC_VG_RUNNING() && arc_large_resize(p, large, size)) {
            arc_heap_t *owner = large->heap;
            if (owner)
                pthread_mutex_lock(&owner->lock);
            large_count(owner ? owner : arc_tls_heap, size, arc_large_usable(large), old);
            if (owner)
                pthread_mutex_unlock(&owner->lock);
            return p;
        }
        /* Cannot grow in place: a big block moves its pages (mremap) instead of its bytes.
         * Not under memcheck, which must see the copy to know the new block's bytes. */
        if (size > old && old >= ARC_LARGE_MOVE_MIN && !ARC_VG_RUNNING()) {
            void *q = shared ? arc_heap_malloc(shared, size) : arc_malloc(size);
            if (!q)
                return NULL;
            if (!arc_large_move(p, large, q))
                memcpy(q, p, old);
            arc_free(p);
            return q;
        }
    } else if (entry != 0 && size <= old && size >= old / 2 && !ARC_VG_RUNNING()) {
#if ARC_SECURE
        /* Secure mode: only where a sized free of the new size will fit it, with its slack
         * and canary moved to the new size. */
        if (!arc_arena_secure())
            return p;
        if (size_fits(p, old, size, ARC_GRANULE)) {
            arc_secure_set_size(p, old + ARC_CANARY_BYTES, size);
            return p;
        }
#else
        return p; /* shrinking by less than half keeps the block (memcheck wants a move) */
#endif
    }
    /* A block that must move to grow gets a quarter more than asked (up to the large
     * threshold): a string grown a few bytes at a time then moves O(log n) times, not once per
     * 16 bytes. Page runs need no headroom: they grow in place into free pages. */
    size_t want = size;
    if (size > old && size <= ARC_LARGE_THRESHOLD) {
        size_t roomy = size + size / ARC_REALLOC_HEADROOM_DIV;
        want = roomy <= ARC_LARGE_THRESHOLD ? roomy : ARC_LARGE_THRESHOLD;
    }
    /* The move passes by the thread heap's medium cache (heap.h): the new block is the size
     * asked, which has its headroom already, and the old one, a size the block outgrew, goes
     * straight back to the byte allocator, where it can join the free blocks beside it
     * (`bench/realloc` peaked at 15.5 MiB through the cache, 13.7 MiB without). */
    arc_heap_t *own = shared ? NULL : arc_tls_heap;
    bool cache_on = own && own->medium_on;
    if (cache_on)
        own->medium_on = false;
    void *q = shared ? arc_heap_malloc(shared, want) : arc_malloc(want);
    if (!q && want != size)
        q = shared ? arc_heap_malloc(shared, size) : arc_malloc(size);
    if (q) {
        /* The copy may read past what the program asked for (up to the usable size): not its
         * error. */
        ARC_VG_QUIET();
        memcpy(q, p, size < old ? size : old);
        ARC_VG_LOUD();
        arc_free(p);
    }
    if (cache_on)
        own->medium_on = true;
    return q;
}

void *arc_realloc(void *p, size_t size)
{
    if (!p)
        return arc_malloc(size);
    if (size == 0) { /* glibc's behaviour: free and return NULL */
        arc_free(p);
        return NULL;
    }
    return realloc_with(NULL, p, size);
}

void *arc_reallocarray(void *p, size_t count, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(count, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return arc_realloc(p, total);
}

#if ARC_SECURE
/* Secure mode's aligned fast path: a pop from a class whose blocks have the alignment and room
 * for the canary, as secure_malloc pops; NULL leaves the rest to the slow path. */
static ARC_NOINLINE void *secure_aligned_small(arc_heap_t *h, size_t align, size_t size)
{
    if (size == 0 || size > ARC_SMALL_MAX - ARC_CANARY_BYTES) /* also: size + canary wraps */
        return NULL;
    size_t cls = arc_heap_class_aligned(h, size + ARC_CANARY_BYTES, align);
    void *p = cls != 0 ? arc_secure_small_pop(h, cls, size) : NULL;
    return p != NULL ? arc_prof_on_alloc(h, p, size) : NULL;
}
#endif

/* An aligned request's fast path: a block of a class whose blocks all have the alignment
 * (arc_heap_class_aligned), popped as malloc pops, or taken on the class's slow path as
 * malloc's miss takes it; NULL when no class serves the request. */
static inline void *aligned_small(size_t align, size_t size)
{
    arc_heap_t *h = arc_tls_heap;
#if ARC_SECURE
    if (h != NULL && h->secure)
        return secure_aligned_small(h, align, size);
#endif
    size_t cls = h != NULL ? arc_heap_class_aligned(h, size, align) : 0;
    if (cls == 0)
        return NULL;
    arc_span_t *span = h->current[cls];
    void *p = span->free;
    p = p != NULL ? arc_span_take(h, span, p, size) : arc_heap_class_slow(h, cls, size);
    return p != NULL ? arc_prof_on_alloc(h, p, size) : NULL;
}

/* An aligned request no span served: malloc's when malloc's alignment does, else the slow path
 * (the byte allocator, a page run above ARC_HEAP_MAX_ALIGN, or ENOMEM). */
static void *aligned_rest(size_t align, size_t size)
{
    return align <= ARC_GRANULE ? arc_malloc(size) : alloc_slow(size, align);
}

static void *aligned_impl(size_t align, size_t size)
{
    void *p = align > ARC_GRANULE ? aligned_small(align, size) : NULL;
    return p != NULL ? p : aligned_rest(align, size);
}

int arc_posix_memalign(void **out, size_t align, size_t size)
{
    if (!is_pow2(align) || align < sizeof(void *))
        return EINVAL;
    /* errno stays as it was: the span's block touches no errno; a slow path may. */
    void *p = align > ARC_GRANULE ? aligned_small(align, size) : NULL;
    if (p == NULL) {
        int saved_errno = errno;
        p = aligned_rest(align, size);
        errno = saved_errno;
        if (!p)
            return ENOMEM;
    }
    *out = p;
    return 0;
}

void *arc_aligned_alloc(size_t align, size_t size)
{
    if (!is_pow2(align)) {
        errno = EINVAL;
        return NULL;
    }
    return aligned_impl(align, size);
}

void *arc_memalign(size_t align, size_t size)
{
    /* glibc rounds a non-power-of-two alignment up to the next power of two. */
    if (align > ((size_t)1 << (sizeof(size_t) * 8 - 1))) {
        errno = EINVAL;
        return NULL;
    }
    size_t pow2 = 1;
    while (pow2 < align)
        pow2 <<= 1;
    return aligned_impl(pow2, size);
}

/* valloc and pvalloc mean the OS page (16 or 64 KiB on some arm64 kernels), not arcalloc's. */
void *arc_valloc(size_t size)
{
    return aligned_impl(arc_os_page_size(), size);
}

void *arc_pvalloc(size_t size)
{
    size_t page = arc_os_page_size();
    size_t rounded = (size + page - 1) & ~(page - 1);
    if (rounded < size) {
        errno = ENOMEM;
        return NULL;
    }
    return aligned_impl(page, rounded ? rounded : page);
}

size_t arc_malloc_usable_size(const void *p)
{
    if (!p || (!arc_arena_contains(p) && !arc_bootstrap_contains(p)))
        return 0;
    size_t usable = usable_checked(p, ARC_OP_FREE);
#if ARC_SECURE
    /* The program may now use every byte it was told of: they are no slack to check. */
    uintptr_t entry = arc_arena_entry(p);
    if (arc_arena_secure() && entry != 0 && !(entry & ARC_MAP_LARGE))
        arc_secure_set_size((void *)(uintptr_t)p, usable + ARC_CANARY_BYTES, usable);
#endif
    return usable;
}

/* Whether h's sized frees must give the block's exact size (secure mode), not only one that
 * fits in it. */
static bool checks_exact_size(const arc_heap_t *h)
{
#if ARC_SECURE
    return h->secure;
#else
    (void)h;
    return false;
#endif
}

/* A sized free of a block allocated with alignment `align` (ARC_GRANULE: malloc's). */
static ARC_NOINLINE void free_sized_with(void *p, size_t size, size_t align)
{
    if (p) {
        size_t usable = usable_checked(p, ARC_OP_FREE);
        if (size > usable)
            arc_report_misuse("sized free with a size larger than the block", p);
#if ARC_SECURE
        if (arc_arena_secure() && !size_fits(p, usable, size, align))
            arc_report_misuse("sized free with the wrong size", p);
#else
        (void)align;
#endif
    }
    arc_free(p);
}

/* A sized free of a small block of the thread's own heap checks the size against the block's
 * class on free's fast path; everything else (medium and large blocks, other heaps' blocks,
 * secure mode's exact rule) goes through free_sized_with. */
void arc_free_sized(void *p, size_t size)
{
    arc_segment_t *seg = (arc_segment_t *)arc_arena_segment(p);
    if (arc_likely(seg != NULL && seg->heap == arc_tls_heap && !checks_exact_size(seg->heap))) {
        arc_span_t *span = arc_span_of(seg, p);
        if (arc_likely(span != NULL && size <= span->block_size)) {
            arc_heap_free_in_span(seg->heap, seg, span, p);
            return;
        }
    }
    free_sized_with(p, size, ARC_GRANULE);
}

void arc_free_aligned_sized(void *p, size_t align, size_t size)
{
    if (p && align && ((uintptr_t)p & (align - 1)))
        arc_report_misuse("free_aligned_sized with an alignment the block does not have", p);
    free_sized_with(p, size, align > ARC_GRANULE ? align : ARC_GRANULE);
}

int arc_malloc_trim(size_t pad)
{
    (void)pad;
    arc_heap_t *h = arc_tls_heap;
    return (int)(h && arc_heap_trim(h, false)) | (int)arc_arena_purge(); /* both run */
}

bool arc_owns(const void *p)
{
    if (p && arc_zero_contains(p))
        return true;
    return p && (arc_arena_contains(p) || arc_bootstrap_contains(p));
}

const char *arc_backend_name(void)
{
    return arc_thread_ops()->name;
}

/* ---- first-class heaps --------------------------------------------------------------------- */

arc_heap_t *arc_heap_new(const char *backend)
{
    const arc_byte_ops_t *ops =
        backend && *backend ? arc_byte_ops_find(backend) : arc_byte_ops_find(ARC_DEFAULT_BACKEND);
    if (!ops) {
        errno = EINVAL;
        return NULL;
    }
    arc_heap_t *h = arc_thread_shared_heap_new(ops);
    if (!h)
        errno = ENOMEM;
    return h;
}

static void *shared_alloc(arc_heap_t *h, size_t size, size_t align)
{
    void *p;
    if (wants_pages(size, align)) {
        p = arc_large_alloc(h, &h->cache, arc_heap_guarded(h), size, align);
        if (p) {
            ARC_VG_MALLOC(p, size, 1);
            arc_large_t *large = (arc_large_t *)(arc_arena_entry(p) & ~ARC_MAP_LARGE);
            pthread_mutex_lock(&h->lock);
            arc_heap_large_keep(h, large);
            large_count(h, size, arc_large_usable(large), 0);
            p = arc_prof_on_alloc(h, p, size);
            pthread_mutex_unlock(&h->lock);
        }
    } else {
        pthread_mutex_lock(&h->lock);
        p = arc_heap_block_alloc(h, size, align);
        if (p)
            p = arc_prof_on_alloc(h, p, size);
        pthread_mutex_unlock(&h->lock);
    }
    if (!p)
        errno = ENOMEM;
    return p;
}

void *arc_heap_malloc(arc_heap_t *h, size_t size)
{
    return shared_alloc(h, size, ARC_GRANULE);
}

void *arc_heap_memalign(arc_heap_t *h, size_t align, size_t size)
{
    if (!is_pow2(align)) {
        errno = EINVAL;
        return NULL;
    }
    return shared_alloc(h, size, align < ARC_GRANULE ? ARC_GRANULE : align);
}

void *arc_heap_calloc(arc_heap_t *h, size_t count, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(count, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = shared_alloc(h, total, ARC_GRANULE);
    if (p)
        calloc_clear(p, total);
    return p;
}

void *arc_heap_realloc(arc_heap_t *h, void *p, size_t size)
{
    if (!p)
        return arc_heap_malloc(h, size);
    if (size == 0) {
        arc_free(p);
        return NULL;
    }
    return realloc_with(h, p, size);
}

void arc_heap_free(arc_heap_t *h, void *p)
{
    (void)h; /* the block knows its heap */
    arc_free(p);
}

void arc_heap_destroy(arc_heap_t *h)
{
    if (h)
        arc_thread_shared_heap_destroy(h);
}

size_t arc_heap_used_bytes(arc_heap_t *h)
{
    pthread_mutex_lock(&h->lock);
    size_t used = arc_heap_shared_used(h);
    pthread_mutex_unlock(&h->lock);
    return used;
}
