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
/* Frames a recorded stack or a misuse backtrace keeps at most (callers beyond are cut). */
#define ARC_PROF_FRAMES_MAX 64

/* Start-up (reads ARCALLOC_PROF*); and the dump at exit or on the stats signal. */
void arc_prof_start(void);
void arc_prof_dump(void);
/* The countdown ran out: records p (size bytes, the caller's stack) and restarts the
 * countdown with a fresh random interval. Returns p. */
void *arc_prof_sample(arc_heap_t *h, void *p, size_t size);
/* p is being freed and its span, segment (or large run) holds sampled blocks: drops p's sample.
 * arc_prof_forget says whether p had one (the caller keeps its span's count). */
bool arc_prof_forget(const void *p);
void arc_prof_forget_small(arc_segment_t *seg, const void *p);
void arc_prof_forget_large(arc_large_t *large, const void *p);
/* A whole segment goes away (arc_heap_destroy): drops every sample inside it. */
void arc_prof_forget_segment(arc_segment_t *seg);
/* The countdown a new heap starts with (INT64_MAX when profiling is off). */
int64_t arc_prof_first_countdown(void);

/* The caller's call stack, innermost first, arcalloc's own frames left out: return addresses
 * from libunwind. Never allocates; works whether or not profiling is on. */
int arc_prof_backtrace(uintptr_t *frames, int max);
/* How arc_prof_symbolize names a return address (dladdr; no allocation). */
enum arc_prof_name {
    ARC_PROF_NAME_FUNC, /* "function", or "lib+0xoffset" without a symbol (folded stacks) */
    ARC_PROF_NAME_FULL, /* "function+0xoff (lib)", or "lib+0xoffset (lib)" (reports, tables) */
};
/* Writes the name of the code at return address ip into buf (always NUL-terminated, cut to
 * cap); returns its length. */
size_t arc_prof_symbolize(uintptr_t ip, enum arc_prof_name style, char *buf, size_t cap);
#endif

#endif
