/* stats.h: the statistics report: the process-level figures it adds to the heaps' counters
 * (counters.h), and its start-up. Reads the allocator through its getters; nothing below calls
 * it. */
#ifndef ARC_STATS_H
#define ARC_STATS_H

#include "counters.h"

/* Process-level figures the report adds to the summed counters, declared once the same way:
 * X(name, help). struct arc_stats has one uint64_t field per entry, in this order (stats.c pins
 * that with _Static_assert). */
#define ARC_PROCESS_FIGURES(X)                                                                     \
    X(stats_enabled, "1 when the counters are compiled in (meson -Dstats=true), else 0")           \
    X(allocs, "blocks handed out: small + medium + large")                                         \
    X(frees, "blocks given back: small + medium + large")                                          \
    X(live_bytes, "bytes in the program's hands now: allocated_bytes - freed_bytes")               \
    X(peak_live_bytes, "highest live_bytes seen by a slow path (docs/stats.md: its bound)")        \
    X(cached_bytes, "free small blocks in spans and kept medium blocks, ready for reuse")          \
    X(byte_total_bytes, "byte allocators of all heaps: memory they can hand out")                  \
    X(byte_used_bytes, "byte allocators: in blocks handed out (whole spans included)")             \
    X(byte_available_bytes, "byte allocators: free, after their own bookkeeping")                  \
    X(page_total_pages, "page allocator: 4 KiB pages of the reserved range")                       \
    X(page_used_pages, "page allocator: pages handed out (segments, large blocks)")                \
    X(page_available_pages, "page allocator: pages free")                                          \
    X(page_peak_pages, "page allocator: highest page_used_pages")                                  \
    X(address_space_bytes, "address range reserved (grown since under RLIMIT_AS)")                 \
    X(segments, "heap segments held now")                                                          \
    X(segment_bytes, "bytes of those segments")                                                    \
    X(large_live, "large blocks (page runs) live now")                                             \
    X(large_bytes, "bytes of those page runs")                                                     \
    X(dirty_bytes, "freed page runs kept committed for reuse until they decay")                    \
    X(decayed_bytes, "bytes of those runs given back after their decay (or over budget)")          \
    X(hole_wait_bytes, "free pages inside segments in use, waiting to decay (holes)")              \
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
    X(hugepage_calls, "madvise calls that asked for transparent huge pages or refused them")       \
    X(threads_live, "threads holding a heap now")                                                  \
    X(threads_started, "threads that ever took a heap (a new one or a reused one)")                \
    X(heaps_created, "heaps created: thread heaps and first-class heaps")                          \
    X(heaps_waiting, "heaps of exited threads or destroyed first-class heaps, kept for reuse")     \
    X(shared_heaps_live, "first-class heaps (arc_heap_new) not destroyed")

/* Start-up: reads ARCALLOC_STATS*, arranges the dump at exit and on the stats signal. */
void arc_stats_start(void);

#endif
