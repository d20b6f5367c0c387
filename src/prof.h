/* prof.h: the heap profiler's hooks on the allocation paths. Sampling is driven by a per-heap
 * byte countdown: when profiling is off the countdown starts at INT64_MAX and never runs out,
 * so the whole cost is one subtraction and one predictable branch per allocation. */
#ifndef ARC_PROF_H
#define ARC_PROF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arcalloc.h"

typedef struct arc_heap arc_heap_t;
typedef struct arc_segment arc_segment_t;
typedef struct arc_large arc_large_t;

#if ARC_PROF
/* Start-up (reads ARCALLOC_PROF*); and the dump at exit or on the stats signal. */
void arc_prof_start(void);
void arc_prof_dump(void);
/* The countdown ran out: records p (size bytes, the caller's stack) and restarts the
 * countdown with a fresh random interval. Returns p. */
void *arc_prof_sample(arc_heap_t *h, void *p, size_t size);
/* p is being freed and its segment (or large run) holds sampled blocks: drops p's sample. */
void arc_prof_forget_small(arc_segment_t *seg, const void *p);
void arc_prof_forget_large(arc_large_t *large, const void *p);
/* A whole segment goes away (arc_heap_destroy): drops every sample inside it. */
void arc_prof_forget_segment(arc_segment_t *seg);
/* The countdown a new heap starts with (INT64_MAX when profiling is off). */
int64_t arc_prof_first_countdown(void);
#endif

#endif
