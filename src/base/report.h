/* report.h: every message arcalloc prints goes through here: fatal misuse reports and
 * one-line warnings. Never allocates (messages are built on the stack and written raw). */
#ifndef ARC_REPORT_H
#define ARC_REPORT_H

#include <stdbool.h>
#include <stdint.h>

/* Prints "arcalloc: <what> at <addr>" on stderr and aborts. When libunwind is built in
 * (ARC_PROF), the caller's stack follows, one line a frame: "    #N 0xaddr symbol+off (lib)",
 * innermost first, arcalloc's own frames left out. */
_Noreturn void arc_report_misuse(const char *what, const void *addr);
/* The call a bad pointer was given to, and what is wrong with it. */
typedef enum arc_op { ARC_OP_FREE, ARC_OP_REALLOC } arc_op_t;
typedef enum arc_bad_pointer {
    ARC_BAD_FOREIGN,  /* never returned by arcalloc */
    ARC_BAD_INTERIOR, /* inside a block, not its start */
    ARC_BAD_FREED,    /* a block already freed */
} arc_bad_pointer_t;
/* arc_report_misuse with the message for that call and that kind ("double free", "realloc of a
 * pointer into the middle of a block", ...). */
_Noreturn void arc_report_bad_pointer(arc_op_t op, arc_bad_pointer_t kind, const void *addr);

/* Prints "arcalloc: warning: <a><b>" (b may be NULL) on stderr (arc_report_stderr_fd); at most
 * a few dozen per process. */
void arc_report_warning(const char *a, const char *b);

/* Keeps a close-on-exec copy of stderr (once; later calls do nothing), for reports written after
 * the program may have closed its own: called at start-up by whoever will write one. */
void arc_report_keep_stderr(void);
/* Where a message or a report for stderr goes: the kept copy while it still is the file stderr
 * was at start-up (the program may have closed fd 2 and reused the number), else fd 2. */
int arc_report_stderr_fd(void);
/* fd is stderr or its kept copy (a writer must not close it). */
bool arc_report_is_stderr(int fd);

#endif
