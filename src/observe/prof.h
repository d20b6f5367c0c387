/* prof.h: the heap profiler's hooks on the allocation paths. Sampling is driven by a per-heap
 * byte countdown: when profiling is off the countdown starts at INT64_MAX and never runs out,
 * so the whole cost is one subtraction and one predictable branch per allocation. */
#ifndef ARC_PROF_H
#define ARC_PROF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arcalloc.h"

#if ARC_PROF
/* Start-up (reads ARCALLOC_PROF*); and the dump at exit or on the stats signal. */
void arc_prof_start(void);
void arc_prof_dump(void);
/* The same three files with ".peak" before their suffixes, written whatever changed: the
 * timeline calls it when live bytes reach a new peak. */
void arc_prof_dump_peak(void);
#endif

#endif
