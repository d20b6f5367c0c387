/* prof_hooks.h: what the allocator tells the heap profiler, with plain arguments: an allocation
 * whose countdown ran out, a freed block that may hold a sample, a range going away. The
 * profiler (prof.c) answers and keeps its own table; the heap marks its own spans, segments and
 * large runs. Knows no allocator type; calls nothing. */
#ifndef ARC_PROF_HOOKS_H
#define ARC_PROF_HOOKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arcalloc.h"

#if ARC_PROF
/* What a sampled allocation asks of its owner: nothing, or to count one more sample (a new one,
 * or one that replaced the sample of an earlier block at the same address). */
typedef enum arc_prof_mark {
    ARC_PROF_UNMARKED,
    ARC_PROF_MARK_NEW,
    ARC_PROF_MARK_AGAIN,
} arc_prof_mark_t;

/* The countdown ran out on p (size bytes): records the caller's stack when profiling is on.
 * Returns the next countdown (bytes until the next sample), drawn from *rng, the heap's own
 * generator; *mark says what the heap must note. */
int64_t arc_prof_sample(uint64_t *rng, const void *p, size_t size, arc_prof_mark_t *mark);
/* p is being freed and its owner says it may hold a sample: drops it; true when it had one. */
bool arc_prof_forget(const void *p);
/* [lo, lo + bytes) goes away at once (arc_heap_destroy): drops every sample inside it. */
void arc_prof_forget_range(uintptr_t lo, size_t bytes);
/* Seeds a new heap's generator; returns its first countdown (INT64_MAX when profiling is off,
 * so the countdown never runs out). */
int64_t arc_prof_first_countdown(uint64_t *rng);
#endif

#endif
