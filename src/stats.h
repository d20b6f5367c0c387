/* stats.h: the counters each heap keeps for the statistics report. Only the heap's owner
 * writes them (no atomics, no locks); the report sums them over heaps when asked. With
 * -Dstats=false every ARC_STAT_* is empty and the counters compile out. */
#ifndef ARC_STATS_H
#define ARC_STATS_H

#include <stdint.h>

#include "arcalloc.h"

/* Per-heap counters, declared once: X(name, help). The struct, the text report and the JSON
 * report are all expansions of this list, so they cannot disagree. */
#define ARC_HEAP_COUNTERS(X)                                                                       \
    X(requested_bytes, "bytes asked for by malloc, calloc, realloc and the aligned calls")         \
    X(allocated_bytes, "bytes of the blocks handed out (their usable sizes)")                      \
    X(freed_bytes, "bytes of the blocks given back")                                               \
    X(medium_allocs, "heap blocks above the cached sizes (1 KiB) or aligned above 16")             \
    X(medium_frees, "heap blocks above the cached sizes given back")                               \
    X(large_allocs, "page runs allocated (blocks above 128 KiB or aligned above 4 KiB)")           \
    X(large_frees, "page runs freed")                                                              \
    X(remote_frees_sent, "blocks this thread freed into another thread's heap")                    \
    X(remote_frees_received, "blocks other threads freed into this heap")                          \
    X(segments_added, "1 MiB segments taken from the page allocator")                              \
    X(segments_released, "segments given back (and decommitted)")                                  \
    X(cache_flushes, "cache bins that overflowed or decayed into the byte allocator")

/* Cached sizes: one entry per 16-byte bin (index = size / 16). */
#define ARC_STATS_BINS 65

typedef struct arc_heap_stats {
#define ARC_STATS_FIELD(name, help) uint64_t name;
    ARC_HEAP_COUNTERS(ARC_STATS_FIELD)
#undef ARC_STATS_FIELD
    uint64_t bin_allocs[ARC_STATS_BINS], bin_frees[ARC_STATS_BINS];
} arc_heap_stats_t;

#if ARC_STATS
#define ARC_STAT_ADD(h, field, n) ((h)->stats.field += (uint64_t)(n))
#define ARC_STAT_BIN(h, array, b) ((h)->stats.array[(b)]++)
#else
#define ARC_STAT_ADD(h, field, n) ((void)(h))
#define ARC_STAT_BIN(h, array, b) ((void)(h))
#endif

/* Start-up: reads ARCALLOC_STATS*, arranges the dump at exit and on the stats signal. */
void arc_stats_start(void);

#endif
