/* report.h: every message arcalloc prints goes through here: fatal misuse reports and
 * one-line warnings. Never allocates (messages are built on the stack and written raw). */
#ifndef ARC_REPORT_H
#define ARC_REPORT_H

/* Prints "arcalloc: <what> at <addr>" on stderr and aborts. */
_Noreturn void arc_report_misuse(const char *what, const void *addr);
/* Prints "arcalloc: warning: <a><b>" (b may be NULL); at most a few dozen per process. */
void arc_report_warning(const char *a, const char *b);

#endif
