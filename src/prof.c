/* prof.c: the heap profiler (ARCALLOC_PROF). Placeholder until sampling lands: profiling is
 * never on, so no countdown ever runs out and no sample is ever recorded. */
#include "prof.h"

#include "heap.h"

void *arc_prof_sample(arc_heap_t *h, void *p, size_t size)
{
    (void)size;
    h->prof_left = INT64_MAX;
    return p;
}

void arc_prof_forget_small(arc_segment_t *seg, const void *p)
{
    (void)p;
    seg->sampled = 0;
}

void arc_prof_forget_large(arc_large_t *large, const void *p)
{
    (void)p;
    large->sampled = false;
}

void arc_prof_forget_segment(arc_segment_t *seg)
{
    seg->sampled = 0;
}

void arc_prof_start(void)
{
}

void arc_prof_dump(void)
{
}

int64_t arc_prof_first_countdown(void)
{
    return INT64_MAX;
}
