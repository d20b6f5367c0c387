/* info.c: glibc's introspection calls (mallinfo2, malloc_stats, malloc_info) answered with
 * arcalloc's own figures. Reads counters under the registry and arena locks, and writes to the
 * caller's stream only with no lock held; never changes allocator state. */
#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "arcalloc.h"
#include "heap.h"
#include "thread.h"

typedef struct heap_totals {
    size_t used, cached, segments;
} heap_totals_t;

static void heap_add(arc_heap_t *h, void *arg)
{
    heap_totals_t *t = arg;
    arc_heap_figures_t f;
    arc_heap_figures(h, &f);
    t->used += f.byte_used;
    t->cached += f.cached;
    t->segments += f.segments;
}

struct mallinfo2 arc_mallinfo2(void)
{
    heap_totals_t t = {0, 0, 0};
    arc_heaps_foreach(heap_add, &t);
    arc_arena_figures_t arena;
    arc_arena_figures(&arena);
    size_t segment_bytes = arena.segment_bytes, large_bytes = arena.large_bytes;
    size_t large_count = arena.large_count, peak = arena.page_peak * ARC_PAGE_SIZE;
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

/* ---- malloc_info ---------------------------------------------------------------------------- */

/* One heap's <heap> element: 20 size-class lines of ~80 bytes at most, and a few more. */
#define HEAP_XML_BYTES 8192

typedef struct heap_xml {
    size_t want, seen; /* the heap wanted, by its place in the registry; heaps passed so far */
    bool found;
    size_t cached_count; /* free blocks in the spans of the heaps formatted so far */
    char buf[HEAP_XML_BYTES];
    size_t len;
} heap_xml_t;

static void xml_add(heap_xml_t *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void xml_add(heap_xml_t *x, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(x->buf + x->len, sizeof x->buf - x->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        x->len = x->len + (size_t)n < sizeof x->buf ? x->len + (size_t)n : sizeof x->buf - 1;
}

/* Formats heap number x->want (registry order) into x->buf; called under the registry lock, so
 * it only reads and formats into memory (snprintf of integers does not allocate). */
static void heap_xml(arc_heap_t *h, void *arg)
{
    heap_xml_t *x = arg;
    if (x->seen++ != x->want)
        return;
    x->found = true;
    bool shared = h->kind == ARC_HEAP_SHARED;
    if (shared)
        pthread_mutex_lock(&h->lock);
    size_t cached_count = 0, cached_bytes = 0, available = 0;
    xml_add(x, "<heap nr=\"%zu\" kind=\"%s\" backend=\"%s\" in_use=\"%d\">\n<sizes>\n", x->want,
            shared ? "first-class" : "thread", h->ops->name, !h->abandoned);
    size_t counts[ARC_SIZE_BINS];
    arc_heap_cached(h, counts);
    for (size_t b = 1; b < ARC_SIZE_BINS; b++) {
        size_t count = counts[b];
        if (!count)
            continue;
        size_t size = b * ARC_GRANULE;
        cached_count += count;
        cached_bytes += count * size;
        x->cached_count += count;
        xml_add(x, "  <size from=\"%zu\" to=\"%zu\" total=\"%zu\" count=\"%zu\"/>\n", size, size,
                count * size, count);
    }
    if (__atomic_load_n(&h->backend_ready, __ATOMIC_RELAXED))
        available = h->ops->available_bytes(h->backend);
    size_t system = __atomic_load_n(&h->nsegments, __ATOMIC_RELAXED) * ARC_SEGMENT_SIZE;
    xml_add(x,
            "</sizes>\n<total type=\"fast\" count=\"%zu\" size=\"%zu\"/>\n"
            "<total type=\"rest\" size=\"%zu\"/>\n"
            "<system type=\"current\" size=\"%zu\"/>\n<system type=\"max\" size=\"%zu\"/>\n"
            "<aspace type=\"total\" size=\"%zu\"/>\n<aspace type=\"mprotect\" size=\"%zu\"/>\n"
            "</heap>\n",
            cached_count, cached_bytes, available, system, system, system, system);
    if (shared)
        pthread_mutex_unlock(&h->lock);
}

int arc_malloc_info(int options, FILE *fp)
{
    if (options != 0 || !fp) {
        errno = EINVAL;
        return -1;
    }
    struct arc_stats s;
    arc_stats_get(&s); /* the totals, taken before the stream allocates anything */
    fputs("<malloc version=\"1\">\n", fp);
    /* One heap at a time: formatted under the registry lock, written after it is released
     * (writing may allocate, and a thread's first allocation takes that lock). */
    heap_xml_t x;
    x.cached_count = 0;
    for (x.want = 0;; x.want++) {
        x.seen = 0;
        x.found = false;
        x.len = 0;
        x.buf[0] = '\0';
        arc_heaps_foreach(heap_xml, &x);
        if (!x.found)
            break;
        fwrite(x.buf, 1, x.len, fp);
    }
    fprintf(fp,
            "<total type=\"fast\" count=\"%zu\" size=\"%llu\"/>\n"
            "<total type=\"rest\" size=\"%llu\"/>\n"
            "<total type=\"mmap\" count=\"%llu\" size=\"%llu\"/>\n"
            "<system type=\"current\" size=\"%llu\"/>\n"
            "<system type=\"max\" size=\"%llu\"/>\n"
            "<aspace type=\"total\" size=\"%llu\"/>\n"
            "<aspace type=\"mprotect\" size=\"%llu\"/>\n",
            x.cached_count, (unsigned long long)s.cached_bytes,
            (unsigned long long)s.byte_available_bytes, (unsigned long long)s.large_live,
            (unsigned long long)s.large_bytes, (unsigned long long)s.committed_bytes,
            (unsigned long long)s.page_peak_pages * ARC_PAGE_SIZE,
            (unsigned long long)s.address_space_bytes, (unsigned long long)s.committed_bytes);
    fprintf(fp,
            "<arcalloc backend=\"%s\" address_space=\"%s\" stats_enabled=\"%llu\" "
            "requested_bytes=\"%llu\" allocated_bytes=\"%llu\" live_bytes=\"%llu\" "
            "peak_live_bytes=\"%llu\" large_allocs=\"%llu\" threads_live=\"%llu\" "
            "resident_bytes=\"%llu\" returned_bytes=\"%llu\"/>\n</malloc>\n",
            s.backend, s.address_space, (unsigned long long)s.stats_enabled,
            (unsigned long long)s.requested_bytes, (unsigned long long)s.allocated_bytes,
            (unsigned long long)s.live_bytes, (unsigned long long)s.peak_live_bytes,
            (unsigned long long)s.large_allocs, (unsigned long long)s.threads_live,
            (unsigned long long)s.resident_bytes, (unsigned long long)s.returned_bytes);
    return ferror(fp) ? -1 : 0;
}
