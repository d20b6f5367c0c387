/* counters.c: the process-wide figures the heaps' slow paths add to: the sum of live bytes they
 * have published and its peak, and the large blocks of threads without a heap. Relaxed atomics
 * on slow paths only; never calls anything. */
#include "counters.h"

#include <stdatomic.h>

/* Sum of the live bytes heaps have published, and the highest it reached (peak_live_bytes). */
static _Atomic int64_t live_sum;
static _Atomic uint64_t live_peak;
/* Large blocks freed or resized by threads without a heap (counters.h: arc_stats_orphan_large). */
static _Atomic uint64_t orphan_requested, orphan_allocated, orphan_freed, orphan_allocs,
    orphan_frees;

static void live_add(int64_t change)
{
    int64_t now = atomic_fetch_add_explicit(&live_sum, change, memory_order_relaxed) + change;
    uint64_t peak = atomic_load_explicit(&live_peak, memory_order_relaxed);
    while (now > 0 && (uint64_t)now > peak &&
           !atomic_compare_exchange_weak_explicit(&live_peak, &peak, (uint64_t)now,
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
}

void arc_stats_publish(arc_heap_stats_t *s)
{
    int64_t live = (int64_t)(s->allocated_bytes - s->freed_bytes);
    int64_t change = live - s->live_published;
    s->live_published = live;
    if (change)
        live_add(change);
}

void arc_stats_orphan_large(size_t requested, size_t allocated, size_t freed, int allocs, int frees)
{
    atomic_fetch_add_explicit(&orphan_requested, requested, memory_order_relaxed);
    atomic_fetch_add_explicit(&orphan_allocated, allocated, memory_order_relaxed);
    atomic_fetch_add_explicit(&orphan_freed, freed, memory_order_relaxed);
    atomic_fetch_add_explicit(&orphan_allocs, (uint64_t)allocs, memory_order_relaxed);
    atomic_fetch_add_explicit(&orphan_frees, (uint64_t)frees, memory_order_relaxed);
    live_add((int64_t)allocated - (int64_t)freed);
}

void arc_counters_process(arc_counters_process_t *out)
{
    out->peak_live_bytes = atomic_load_explicit(&live_peak, memory_order_relaxed);
    out->orphan_requested = atomic_load_explicit(&orphan_requested, memory_order_relaxed);
    out->orphan_allocated = atomic_load_explicit(&orphan_allocated, memory_order_relaxed);
    out->orphan_freed = atomic_load_explicit(&orphan_freed, memory_order_relaxed);
    out->orphan_allocs = atomic_load_explicit(&orphan_allocs, memory_order_relaxed);
    out->orphan_frees = atomic_load_explicit(&orphan_frees, memory_order_relaxed);
}
