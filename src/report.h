/* report.h: every message arcalloc prints goes through here: fatal misuse reports and
 * one-line warnings. Never allocates (messages are built on the stack and written raw). */
#ifndef ARC_REPORT_H
#define ARC_REPORT_H

#include <stdint.h>

/* Room for "0x", 16 hex digits and the terminating zero. */
#define ARC_HEX_MAX 19
/* Formats v as "0x..." (lower case, no leading zeros) inside buf; returns where it starts. For
 * every message built without allocating (reports, profile dumps). */
const char *arc_format_hex(uintptr_t v, char buf[ARC_HEX_MAX]);

/* Prints "arcalloc: <what> at <addr>" on stderr and aborts. When libunwind is built in
 * (ARC_PROF), the caller's stack follows, one line a frame: "    #N 0xaddr symbol+off (lib)",
 * innermost first, arcalloc's own frames left out. */
_Noreturn void arc_report_misuse(const char *what, const void *addr);
/* Prints "arcalloc: warning: <a><b>" (b may be NULL); at most a few dozen per process. */
void arc_report_warning(const char *a, const char *b);

#endif
