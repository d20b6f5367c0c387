/* counters.h: the counters each heap keeps for the statistics report, and the few process-wide
 * figures its slow paths add to. Only the heap's owner (or its lock holder) writes a heap's
 * counters: no shared atomics, no locks on the fast path. A hook layer: the allocator writes
 * here with plain numbers; the report (stats.c) reads the sums. With -Dstats=false every
 * ARC_STAT_* is empty and the counters compile out. */
#ifndef ARC_COUNTERS_H
#define ARC_COUNTERS_H

#include <stddef.h>
#include <stdint.h>

#include "arcalloc.h"

/* Per-heap counters, declared once: X(name, help). The heap's struct, struct arc_stats (whose
 * fields of the same names hold the sums), the text report and the JSON report are all
 * expansions of this list, so they cannot disagree. Bytes of heap blocks are usable sizes
 * rounded down to 16 (small blocks: their size class); large blocks count whole pages. */
#define ARC_HEAP_COUNTERS(X)                                                                       \
    X(requested_bytes, "bytes asked for by malloc, calloc, realloc and the aligned calls")         \
    X(allocated_bytes, "bytes of the blocks handed out (usable sizes)")                            \
    X(freed_bytes, "bytes of the blocks given back")                                               \
    X(medium_allocs, "heap blocks above 1 KiB, or aligned more than any size class gives")         \
    X(medium_frees, "heap blocks above the small sizes given back")                                \
    X(large_allocs, "page runs allocated (blocks above 128 KiB or aligned above 4 KiB)")           \
    X(large_frees, "page runs freed")                                                              \
    X(remote_frees_sent, "blocks freed into another thread's heap")                                \
    X(remote_frees_received, "blocks other threads freed, taken back by their heap")               \
    X(segments_added, "1 MiB segments taken from the page allocator")                              \
    X(segments_released, "segments given back (and decommitted)")                                  \
    X(spans_added, "spans of small blocks taken from the byte allocator")                          \
    X(spans_released, "spans given back to the byte allocator when their last block was freed")    \
    X(heap_reuses, "times a heap was taken over by a new thread or a new arc_heap_new")            \
    X(holes_made, "free blocks of 16 KiB or more taken out so their pages can go back")            \
    X(holes_returned, "such blocks given back to the byte allocator for a request or a release")   \
    X(holes_wasted, "of those, blocks a request took back before their pages had gone")            \
    X(holes_joined, "of those, holes given back to merge with a free block beside them")

/* Slots of the per-class counters: at least the heap's size classes (heap.h checks), one per
 * class index, so a counter is one indexed add. */
#define ARC_STATS_CLASS_SLOTS 32

/* A heap publishes its change of live bytes to the process-wide sum (for peak_live_bytes) on a
 * slow path once the change reaches this: rare shared writes, and a bound on the peak's error
 * (docs/stats.md). 64 KiB: a few hundred slow paths of typical sizes between publications. */
#define ARC_STATS_PUBLISH_BYTES ((int64_t)64 << 10)

typedef struct arc_heap_stats {
#define ARC_STATS_FIELD(name, help) uint64_t name;
    ARC_HEAP_COUNTERS(ARC_STATS_FIELD)
#undef ARC_STATS_FIELD
    /* Small blocks handed out and given back, by size class (the span's class index, so the
     * fast paths count with the byte they already hold; the report maps classes to sizes). */
    uint64_t class_allocs[ARC_STATS_CLASS_SLOTS], class_frees[ARC_STATS_CLASS_SLOTS];
    int64_t live_published; /* allocated - freed as last added to the process sum */
} arc_heap_stats_t;

/* Adds the heap's unpublished change of live bytes to the process sum and raises the peak. */
void arc_stats_publish(arc_heap_stats_t *s);

static inline void arc_stats_checkpoint(arc_heap_stats_t *s)
{
    int64_t change = (int64_t)(s->allocated_bytes - s->freed_bytes) - s->live_published;
    if (change >= ARC_STATS_PUBLISH_BYTES || change <= -ARC_STATS_PUBLISH_BYTES)
        arc_stats_publish(s);
}

/* Large-block figures of a thread that has no heap (it never allocated, or is exiting): kept
 * in process-wide atomics, a rare slow path. `allocs`/`frees` are 0 or 1. */
void arc_stats_orphan_large(size_t requested, size_t allocated, size_t freed, int allocs,
                            int frees);

#if ARC_STATS
#define ARC_STAT_ADD(h, field, n)   ((h)->stats.field += (uint64_t)(n))
#define ARC_STAT_CLASS(h, array, b) ((h)->stats.array[(b)]++)
/* Slow paths: publish when the change is large enough; _PUBLISH: always (large blocks). */
#define ARC_STAT_CHECKPOINT(h)           arc_stats_checkpoint(&(h)->stats)
#define ARC_STAT_PUBLISH(h)              arc_stats_publish(&(h)->stats)
#define ARC_STAT_ORPHAN(r, a, f, na, nf) arc_stats_orphan_large((r), (a), (f), (na), (nf))
#else
#define ARC_STAT_ADD(h, field, n)        ((void)(h))
#define ARC_STAT_CLASS(h, array, b)      ((void)(h))
#define ARC_STAT_CHECKPOINT(h)           ((void)(h))
#define ARC_STAT_PUBLISH(h)              ((void)(h))
#define ARC_STAT_ORPHAN(r, a, f, na, nf) ((void)0)
#endif

/* The process-wide figures kept here, for the report: the highest sum of live bytes heaps have
 * published, and the large-block figures of threads without a heap. */
typedef struct arc_counters_process {
    uint64_t peak_live_bytes;
    uint64_t orphan_requested, orphan_allocated, orphan_freed, orphan_allocs, orphan_frees;
} arc_counters_process_t;
void arc_counters_process(arc_counters_process_t *out);

#endif
