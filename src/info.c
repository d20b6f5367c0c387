/* info.c: glibc's introspection calls (mallinfo2, malloc_stats) answered with arcalloc's own
 * figures. Reads counters under the registry and arena locks; never changes allocator state. */
#include <malloc.h>
#include <stdio.h>

#include "arcalloc.h"
#include "heap.h"
#include "thread.h"

typedef struct heap_totals {
    size_t used, cached, segments;
} heap_totals_t;

static void heap_add(arc_heap_t *h, void *arg)
{
    heap_totals_t *t = arg;
    if (h->kind == ARC_HEAP_SHARED)
        pthread_mutex_lock(&h->lock);
    if (h->backend_ready)
        t->used += h->ops->used_bytes(h->backend);
    t->cached += arc_heap_cached_bytes(h);
    t->segments += h->nsegments;
    if (h->kind == ARC_HEAP_SHARED)
        pthread_mutex_unlock(&h->lock);
}

struct mallinfo2 arc_mallinfo2(void)
{
    heap_totals_t t = {0, 0, 0};
    arc_heaps_foreach(heap_add, &t);
    arc_arena_lock();
    size_t segment_bytes = arc_arena.segment_bytes, large_bytes = arc_arena.large_bytes;
    size_t large_count = arc_arena.large_count, peak = arc_arena.peak_pages * ARC_PAGE_SIZE;
    arc_arena_unlock();
    size_t in_use = t.used - (t.cached < t.used ? t.cached : t.used);
    struct mallinfo2 mi = {
        .arena = segment_bytes,
        .ordblks = t.segments,
        .hblks = large_count,
        .hblkhd = large_bytes,
        .usmblks = peak,
        .fsmblks = t.cached,
        .uordblks = in_use,
        .fordblks = segment_bytes > in_use ? segment_bytes - in_use : 0,
        .keepcost = 0,
    };
    return mi;
}

void arc_malloc_stats(void)
{
    struct mallinfo2 mi = arc_mallinfo2();
    fprintf(stderr,
            "arcalloc (%s, address space %s)\n"
            "segments:    system bytes = %10zu\n"
            "             in use bytes = %10zu\n"
            "             cached bytes = %10zu\n"
            "large runs:  %zu runs, %zu bytes\n"
            "max pages in use         = %10zu bytes\n",
            arc_backend_name(), ARC_ADDRESS_SPACE_NAME, mi.arena, mi.uordblks, mi.fsmblks, mi.hblks,
            mi.hblkhd, mi.usmblks);
}
