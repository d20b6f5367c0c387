/* unwind.h: the caller's call stack and the names of code addresses, without allocating: what a
 * misuse report prints after its first line and what the heap profiler records. Part of the base
 * every module may use; uses nothing above the OS and the output writer. */
#ifndef ARC_UNWIND_H
#define ARC_UNWIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arcalloc.h"

#if ARC_PROF
/* Frames a recorded stack or a misuse backtrace keeps at most (callers beyond are cut). */
#define ARC_UNWIND_FRAMES_MAX 64

/* The caller's call stack, innermost first, arcalloc's own frames left out: return addresses
 * from libunwind. */
int arc_unwind_backtrace(uintptr_t *frames, int max);
/* True while this thread is inside arc_unwind_backtrace (libunwind may allocate). */
bool arc_unwind_busy(void);
/* How arc_unwind_symbolize names a return address (dladdr; no allocation). */
enum arc_unwind_name {
    ARC_UNWIND_NAME_FUNC, /* "function", or "lib+0xoffset" without a symbol (folded stacks) */
    ARC_UNWIND_NAME_FULL, /* "function+0xoff (lib)", or "lib+0xoffset (lib)" (reports, tables) */
};
/* Writes the name of the code at return address ip into buf (always NUL-terminated, cut to
 * cap); returns its length. */
size_t arc_unwind_symbolize(uintptr_t ip, enum arc_unwind_name style, char *buf, size_t cap);
#endif

#endif
