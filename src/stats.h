/* stats.h: the counters each heap keeps for the statistics report, and the list of the
 * process-level figures the report adds. Only the heap's owner (or its lock holder) writes a
 * heap's counters: no shared atomics, no locks on the fast path; the report sums them over heaps
 * when asked. With -Dstats=false every ARC_STAT_* is empty and the counters compile out. */
#ifndef ARC_STATS_H
#define ARC_STATS_H

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
    X(medium_allocs, "heap blocks above the small sizes (1 KiB) or aligned above 16")              \
    X(medium_frees, "heap blocks above the small sizes given back")                                \
    X(large_allocs, "page runs allocated (blocks above 128 KiB or aligned above 4 KiB)")           \
    X(large_frees, "page runs freed")                                                              \
    X(remote_frees_sent, "blocks freed into another thread's heap")                                \
    X(remote_frees_received, "blocks other threads freed, taken back by their heap")               \
    X(segments_added, "1 MiB segments taken from the page allocator")                              \
    X(segments_released, "segments given back (and decommitted)")                                  \
    X(spans_added, "32 KiB spans of small blocks taken from the byte allocator")                   \
    X(spans_released, "spans given back to the byte allocator when their last block was freed")    \
    X(heap_reuses, "times a heap was taken over by a new thread or a new arc_heap_new")

/* Process-level figures the report adds to the summed counters, declared once the same way:
 * X(name, help). struct arc_stats has one uint64_t field per entry, in this order (stats.c pins
 * that with _Static_assert). */
#define ARC_PROCESS_FIGURES(X)                                                                     \
    X(stats_enabled, "1 when the counters are compiled in (meson -Dstats=true), else 0")           \
    X(allocs, "blocks handed out: small + medium + large")                                         \
    X(frees, "blocks given back: small + medium + large")                                          \
    X(live_bytes, "bytes in the program's hands now: allocated_bytes - freed_bytes")               \
    X(peak_live_bytes, "highest live_bytes seen by a slow path (docs/stats.md: its bound)")        \
    X(cached_bytes, "free blocks in the spans of small blocks, ready for reuse")                   \
    X(byte_total_bytes, "byte allocators of all heaps: memory they can hand out")                  \
    X(byte_used_bytes, "byte allocators: in blocks handed out (whole spans included)")             \
    X(byte_available_bytes, "byte allocators: free, after their own bookkeeping")                  \
    X(page_total_pages, "page allocator: 4 KiB pages of the reserved range")                       \
    X(page_used_pages, "page allocator: pages handed out (segments, large blocks)")                \
    X(page_available_pages, "page allocator: pages free")                                          \
    X(page_peak_pages, "page allocator: highest page_used_pages")                                  \
    X(address_space_bytes, "address range reserved at start-up")                                   \
    X(segments, "heap segments held now")                                                          \
    X(segment_bytes, "bytes of those segments")                                                    \
    X(large_live, "large blocks (page runs) live now")                                             \
    X(large_bytes, "bytes of those page runs")                                                     \
    X(dirty_bytes, "freed page runs kept committed for reuse until they decay")                    \
    X(decayed_bytes, "bytes of those runs given back after their decay (or over budget)")          \
    X(purger_thread, "1 while the background thread giving decayed runs back runs")                \
    X(committed_bytes, "segment_bytes + large_bytes + dirty_bytes: memory arcalloc holds")         \
    X(fragmentation_bytes, "committed_bytes - live_bytes: held, not in the program's hands")       \
    X(resident_bytes, "resident set size of the process now, as the OS counts it")                 \
    X(peak_resident_bytes, "peak resident set size of the process (getrusage)")                    \
    X(returned_bytes, "bytes given back to the OS (madvise MADV_DONTNEED), in all")                \
    X(madvise_calls, "madvise calls that returned memory")                                         \
    X(mmap_calls, "mmap calls: the address range and metadata chunks")                             \
    X(munmap_calls, "munmap calls")                                                                \
    X(mremap_calls, "mremap calls: large blocks moved by realloc without copying")                 \
    X(threads_live, "threads holding a heap now")                                                  \
    X(threads_started, "threads that ever took a heap (a new one or a reused one)")                \
    X(heaps_created, "heaps created: thread heaps and first-class heaps")                          \
    X(heaps_waiting, "heaps of exited threads or destroyed first-class heaps, kept for reuse")     \
    X(shared_heaps_live, "first-class heaps (arc_heap_new) not destroyed")

/* Small sizes: one entry per 16-byte bin (index = size / 16); only class sizes count. */
#define ARC_STATS_BINS 65
_Static_assert(ARC_STATS_BINS == ARC_STATS_SIZE_CLASSES, "one public size class per 16-byte bin");

/* A heap publishes its change of live bytes to the process-wide sum (for peak_live_bytes) on a
 * slow path once the change reaches this: rare shared writes, and a bound on the peak's error
 * (docs/stats.md). 64 KiB: a few hundred slow paths of typical sizes between publications. */
#define ARC_STATS_PUBLISH_BYTES ((int64_t)64 << 10)

typedef struct arc_heap_stats {
#define ARC_STATS_FIELD(name, help) uint64_t name;
    ARC_HEAP_COUNTERS(ARC_STATS_FIELD)
#undef ARC_STATS_FIELD
    uint64_t bin_allocs[ARC_STATS_BINS], bin_frees[ARC_STATS_BINS];
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
#define ARC_STAT_ADD(h, field, n) ((h)->stats.field += (uint64_t)(n))
#define ARC_STAT_BIN(h, array, b) ((h)->stats.array[(b)]++)
/* Slow paths: publish when the change is large enough; _PUBLISH: always (large blocks). */
#define ARC_STAT_CHECKPOINT(h)           arc_stats_checkpoint(&(h)->stats)
#define ARC_STAT_PUBLISH(h)              arc_stats_publish(&(h)->stats)
#define ARC_STAT_ORPHAN(r, a, f, na, nf) arc_stats_orphan_large((r), (a), (f), (na), (nf))
#else
#define ARC_STAT_ADD(h, field, n)        ((void)(h))
#define ARC_STAT_BIN(h, array, b)        ((void)(h))
#define ARC_STAT_CHECKPOINT(h)           ((void)(h))
#define ARC_STAT_PUBLISH(h)              ((void)(h))
#define ARC_STAT_ORPHAN(r, a, f, na, nf) ((void)0)
#endif

/* Start-up: reads ARCALLOC_STATS*, arranges the dump at exit and on the stats signal. */
void arc_stats_start(void);

#endif
