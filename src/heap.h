/* heap.h: a heap is one byte-allocator instance that grows by 1 MiB segments taken from the
 * arena, a small per-size cache in front of it, and a lock-free list of blocks other threads
 * freed. Thread heaps are owned by one thread and take no lock on their fast paths; first-class
 * heaps (arc_heap_new) are shared and take their mutex. Knows nothing of symbol names. */
#ifndef ARC_HEAP_H
#define ARC_HEAP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arcalloc.h"
#include "arena.h"
#include "prof.h"
#include "report.h"
#include "stats.h"

#if defined(__GNUC__)
#define arc_likely(x)   __builtin_expect(!!(x), 1)
#define arc_unlikely(x) __builtin_expect(!!(x), 0)
#define ARC_NOINLINE    __attribute__((noinline))
#else
#define arc_likely(x)   (x)
#define arc_unlikely(x) (x)
#define ARC_NOINLINE
#endif

/* Segment: the unit a heap grows and shrinks by. */
#define ARC_SEGMENT_SIZE  ((size_t)1 << 20)
#define ARC_SEGMENT_PAGES (ARC_SEGMENT_SIZE / ARC_PAGE_SIZE)
/* Live-block map granule: malloc's alignment, so every block start has its own bit. */
#define ARC_GRANULE    ((size_t)ARC_MIN_ALIGN)
#define ARC_LIVE_WORDS (ARC_SEGMENT_SIZE / ARC_GRANULE / 64)

typedef struct arc_segment {
    arc_heap_t *heap;
    struct arc_segment *prev, *next;
    size_t backend_blocks; /* blocks the byte allocator has handed out of this segment */
    uint32_t sampled;      /* live blocks in it that the heap profiler sampled */
    uint32_t pad32;
    uint64_t pad[3]; /* keeps live[] 64-byte aligned */
    /* One bit per granule: set while a block starting there is in the program's hands. Clear
     * for free blocks and blocks resting in the cache, which makes double free and interior
     * pointers exact whatever the backend. */
    uint64_t live[ARC_LIVE_WORDS];
} arc_segment_t;

/* The byte allocator's memory starts after the header. */
#define ARC_SEGMENT_HEADER sizeof(arc_segment_t)
_Static_assert(sizeof(arc_segment_t) % 64 == 0, "segment body must stay 64-byte aligned");
_Static_assert(ARC_LARGE_THRESHOLD + ARC_HEAP_MAX_ALIGN < ARC_SEGMENT_SIZE - sizeof(arc_segment_t),
               "every heap request must fit in a fresh segment");

/* Cache: one bin per 16-byte size up to 1 KiB; each bin holds blocks whose usable size is
 * exactly its index times 16. Small blocks are most of a program's traffic: these sizes get the
 * pop/push fast path, the rest go to the byte allocator directly. */
#define ARC_CACHE_MAX ((size_t)1024)
#define ARC_BINS      (ARC_CACHE_MAX / ARC_GRANULE + 1)
_Static_assert(ARC_STATS_BINS == ARC_BINS, "one statistics counter per cache bin");
/* Bytes a bin may hold before half of it goes back to the byte allocator: bounds what the
 * cache keeps from coalescing (and from the OS) at 64 bins x 32 KiB = 2 MiB a heap. */
#define ARC_BIN_BYTES     ((size_t)32 << 10)
#define ARC_BIN_MIN_COUNT 8u
/* Slow-path events between two cache decay passes (heap.c: cache_gc_tick). 256 keeps a pass
 * rare on a steady workload and lets a freeing phase empty its segments as it goes. */
#define ARC_CACHE_GC_EVENTS 256u

typedef struct arc_bin {
    void *head;
    uint32_t count, limit;
} arc_bin_t;

enum arc_heap_kind { ARC_HEAP_THREAD = 0, ARC_HEAP_SHARED = 1 };

struct arc_heap {
    arc_bin_t bins[ARC_BINS]; /* fast path first */
    uint8_t bin_of[ARC_BINS]; /* request granules -> bin (0: not cached yet) */
#if ARC_SECURE
    bool secure;        /* secure mode (arc_arena.secure, copied at creation) */
    uintptr_t link_key; /* arc_arena.secure_key: cache links are encoded with it */
    uint64_t reuse_rng; /* xorshift64 state: which of the first two cached blocks a pop takes */
#endif
    int64_t prof_left; /* bytes until the heap profiler samples (prof.h) */
    const arc_byte_ops_t *ops;
    arc_byte_allocator_t *backend;
    _Atomic(void *) remote; /* blocks freed by other threads, linked through their first word */
    int kind;
    bool backend_ready, abandoned;
    pthread_mutex_t lock; /* shared heaps: held by every operation */
    arc_segment_t *segments;
    size_t nsegments;
    arc_large_t *large; /* shared heaps: their large runs, so destroy can free them */
    arc_heap_t *next_all, *next_abandoned;
    size_t cache_events; /* slow-path events, for cache decay */
#if ARC_STATS
    arc_heap_stats_t stats; /* written by the owner only; summed by the report */
#endif
};

/* Creation and teardown (heap.c). The backend state follows the struct in the same metadata. */
arc_heap_t *arc_heap_create(const arc_byte_ops_t *ops, int kind);
void arc_heap_release_all(arc_heap_t *h); /* empties a shared heap: every block and segment */
/* Slow paths. */
void *arc_heap_alloc(arc_heap_t *h, size_t size, size_t align);
void arc_heap_free_slow(arc_heap_t *h, arc_segment_t *seg, void *p);
void arc_heap_free_other(arc_heap_t *owner, void *p);
void arc_heap_drain(arc_heap_t *h);
void arc_heap_flush(arc_heap_t *h); /* every cached block back to the byte allocator */
bool arc_heap_trim(arc_heap_t *h);  /* flush, then give empty segments back */
size_t arc_heap_cached_bytes(const arc_heap_t *h);
/* p is in seg but not a live block start: says which misuse it is (interior pointer or double
 * free) and aborts. `op` names the call ("free", "realloc"). */
_Noreturn void arc_heap_bad_free(arc_heap_t *h, arc_segment_t *seg, const void *p, const char *op);

static inline arc_segment_t *arc_segment_of(const void *p)
{
    return (arc_segment_t *)arc_arena.pagemap[((uintptr_t)p - arc_arena.base) / ARC_PAGE_SIZE];
}

/* Where the byte allocator's region of a segment starts: the `region` of its _in calls. */
static inline void *arc_segment_body(arc_segment_t *seg)
{
    return (char *)seg + ARC_SEGMENT_HEADER;
}

static inline void arc_live_set(arc_segment_t *seg, const void *p)
{
    size_t bit = ((uintptr_t)p - (uintptr_t)seg) / ARC_GRANULE;
    seg->live[bit / 64] |= (uint64_t)1 << (bit % 64);
}

static inline bool arc_live_test(const arc_segment_t *seg, const void *p)
{
    size_t bit = ((uintptr_t)p - (uintptr_t)seg) / ARC_GRANULE;
    return (seg->live[bit / 64] >> (bit % 64)) & 1;
}

/* Clears p's live bit; false (nothing changed) when it was not set or p is not on a granule. */
static inline bool arc_live_take(arc_segment_t *seg, const void *p)
{
    size_t bit = ((uintptr_t)p - (uintptr_t)seg) / ARC_GRANULE;
    uint64_t mask = (uint64_t)1 << (bit % 64), *word = &seg->live[bit / 64];
    if (arc_unlikely(!(*word & mask) || ((uintptr_t)p % ARC_GRANULE)))
        return false;
    *word &= ~mask;
    return true;
}

/* ---- cache links ----------------------------------------------------------------------------
 * A cached block's first word links it to the next block of its bin. In secure mode the link is
 * stored encoded, next ^ key ^ (address of the link >> ARC_LINK_SHIFT) (glibc 2.32's
 * "safe-linking" with a per-process key): an attacker who overwrites it without knowing the key
 * cannot aim the next allocation, and a decoded link that is not a cached block of this heap is
 * reported as "corrupted free list". */
#if ARC_SECURE
/* Drops the page offset, the bits an attacker who knows a block's alignment could guess. */
#define ARC_LINK_SHIFT 12
/* xorshift64's shifts (Marsaglia, "Xorshift RNGs", 2003): the reuse-order coin of a pop. */
#define ARC_REUSE_XS_A 13
#define ARC_REUSE_XS_B 7
#define ARC_REUSE_XS_C 17

/* Reports "corrupted free list" at the block whose link is bad, and aborts. */
_Noreturn void arc_heap_bad_link(const void *block);

/* A decoded link is sound when it is NULL or a cached block of h: in the window, on a granule,
 * in the byte allocator's part of one of h's segments, and not live. */
static inline bool arc_link_valid(const arc_heap_t *h, const void *next)
{
    if (next == NULL)
        return true;
    uintptr_t entry = arc_arena_entry(next);
    if (entry == 0 || (entry & ARC_MAP_LARGE) || (uintptr_t)next % ARC_GRANULE)
        return false;
    const arc_segment_t *seg = (const arc_segment_t *)entry;
    return seg->heap == h && (uintptr_t)next >= (uintptr_t)seg + ARC_SEGMENT_HEADER &&
           !arc_live_test(seg, next);
}
#endif

/* Writes block's link to next (encoded in secure mode). */
static inline void arc_link_store(const arc_heap_t *h, void *block, void *next)
{
#if ARC_SECURE
    if (h->secure) {
        *(uintptr_t *)block = (uintptr_t)next ^ h->link_key ^ ((uintptr_t)block >> ARC_LINK_SHIFT);
        return;
    }
#else
    (void)h;
#endif
    *(void **)block = next;
}

/* Reads block's link (decoded and checked in secure mode). */
static inline void *arc_link_load(const arc_heap_t *h, void *block)
{
#if ARC_SECURE
    if (h->secure) {
        void *next =
            (void *)(*(uintptr_t *)block ^ h->link_key ^ ((uintptr_t)block >> ARC_LINK_SHIFT));
        if (arc_unlikely(!arc_link_valid(h, next)))
            arc_heap_bad_link(block);
        return next;
    }
#else
    (void)h;
#endif
    return *(void **)block;
}

#if ARC_SECURE
/* Secure mode's pop: takes the head or, at random, the second block, so the order in which
 * freed blocks come back is not the order they were freed in. head is bin->head, not NULL. */
static inline void *arc_secure_pop(arc_heap_t *h, arc_bin_t *bin, void *head)
{
    void *second = arc_link_load(h, head);
    if (h->secure) {
        uint64_t x = h->reuse_rng;
        x ^= x << ARC_REUSE_XS_A;
        x ^= x >> ARC_REUSE_XS_B;
        x ^= x << ARC_REUSE_XS_C;
        h->reuse_rng = x;
        if (second != NULL && (x & 1)) {
            arc_link_store(h, head, arc_link_load(h, second));
            return second;
        }
    }
    bin->head = second;
    return head;
}
#endif

/* Fast path, owner thread: a cached block of the right size or NULL. ~12 instructions, and 5
 * more with statistics. */
static inline void *arc_heap_cache_pop(arc_heap_t *h, size_t size)
{
    size_t b = h->bin_of[(size + ARC_GRANULE - 1) / ARC_GRANULE];
    arc_bin_t *bin = &h->bins[b];
    void *p = bin->head;
    if (arc_likely(p != NULL)) {
#if ARC_SECURE
        p = arc_secure_pop(h, bin, p);
#else
        bin->head = *(void **)p;
#endif
        bin->count--;
        arc_live_set(arc_segment_of(p), p);
        ARC_STAT_BIN(h, bin_allocs, b);
        ARC_STAT_ADD(h, requested_bytes, size);
        ARC_STAT_ADD(h, allocated_bytes, b * ARC_GRANULE);
    }
    return p;
}

/* Every allocation passes here: the profiler's countdown (one predictable branch). */
static inline void *arc_prof_on_alloc(arc_heap_t *h, void *p, size_t size)
{
#if ARC_PROF
    if (arc_unlikely((h->prof_left -= (int64_t)size) < 0))
        return arc_prof_sample(h, p, size);
#else
    (void)h;
    (void)size;
#endif
    return p;
}

/* Fast path, owner thread: p belongs to seg, a segment of h. */
static inline void arc_heap_free_local(arc_heap_t *h, arc_segment_t *seg, void *p)
{
    if (arc_unlikely(!arc_live_take(seg, p)))
        arc_heap_bad_free(h, seg, p, "free");
#if ARC_PROF
    if (arc_unlikely(seg->sampled != 0))
        arc_prof_forget_small(seg, p);
#endif
    size_t usable = h->ops->usable_size_in(h->backend, arc_segment_body(seg), p);
    size_t b = usable / ARC_GRANULE;
    ARC_STAT_ADD(h, freed_bytes, b * ARC_GRANULE); /* usable rounded down, as counted out */
    if (arc_likely(b < ARC_BINS && h->bin_of[b] == b)) {
        ARC_STAT_BIN(h, bin_frees, b);
        arc_bin_t *bin = &h->bins[b];
        if (arc_likely(bin->count < bin->limit)) {
#if ARC_SECURE
            arc_link_store(h, p, bin->head);
#else
            *(void **)p = bin->head;
#endif
            bin->head = p;
            bin->count++;
            return;
        }
    } else {
        ARC_STAT_ADD(h, medium_frees, 1);
    }
    arc_heap_free_slow(h, seg, p);
}

#endif
