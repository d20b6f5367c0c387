/* report.c: formats and writes misuse reports (with a backtrace when libunwind is built in)
 * and warnings, without allocating. Owns the repeat cap on warnings and the copy of stderr kept
 * for messages and reports written after the program closed its own; never returns from a
 * misuse report. */
#include "report.h"

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "os.h"
#include "out.h"
#include "unwind.h"

enum {
    REPORT_LINE_MAX = 256,
    WARNINGS_MAX = 32, /* a misconfigured environment must not flood stderr */
};

static _Atomic unsigned warnings_printed;
/* A copy of stderr taken at start-up, and what it was: programs that close stderr in their own
 * atexit handlers (GNU coreutils' close_stdout) still get their reports and warnings. */
static int stderr_copy = -1;
static arc_os_file_id_t stderr_id;

void arc_report_keep_stderr(void)
{
    if (stderr_copy >= 0 || !arc_os_file_id(2, &stderr_id))
        return;
    stderr_copy = arc_os_dup(2);
}

int arc_report_stderr_fd(void)
{
    arc_os_file_id_t id;
    if (stderr_copy >= 0 && arc_os_file_id(stderr_copy, &id) && id.dev == stderr_id.dev &&
        id.ino == stderr_id.ino)
        return stderr_copy;
    return 2;
}

bool arc_report_is_stderr(int fd)
{
    return fd == 2 || (fd >= 0 && fd == stderr_copy);
}

/* Appends s, leaving room for the '\n' that ends the line. */
static size_t append(char *line, size_t at, const char *s)
{
    return arc_text_append(line, REPORT_LINE_MAX - 1, at, s);
}

static size_t append_hex(char *line, size_t at, uintptr_t v)
{
    char digits[ARC_HEX_MAX];
    return append(line, at, arc_format_hex(v, digits));
}

#if ARC_PROF
static size_t append_dec(char *line, size_t at, unsigned v)
{
    char digits[ARC_OUT_U64_MAX];
    return append(line, at, arc_out_format_u64(v, digits));
}

/* One line a frame after the report's first line: "    #N 0xaddr symbol+off (lib)". */
static void backtrace_write(void)
{
    uintptr_t frames[ARC_UNWIND_FRAMES_MAX];
    int depth = arc_unwind_backtrace(frames, ARC_UNWIND_FRAMES_MAX);
    for (int i = 0; i < depth; i++) {
        char line[REPORT_LINE_MAX];
        size_t n = append(line, 0, "    #");
        n = append_dec(line, n, (unsigned)i);
        n = append(line, n, " ");
        n = append_hex(line, n, frames[i]);
        n = append(line, n, " ");
        n += arc_unwind_symbolize(frames[i], ARC_UNWIND_NAME_FULL, line + n,
                                  REPORT_LINE_MAX - 1 - n);
        line[n++] = '\n';
        arc_os_write(2, line, n);
    }
}
#else
static void backtrace_write(void)
{
}
#endif

_Noreturn void arc_report_misuse(const char *what, const void *addr)
{
    char line[REPORT_LINE_MAX];
    size_t n = append(line, 0, "arcalloc: ");
    n = append(line, n, what);
    n = append(line, n, " at ");
    n = append_hex(line, n, (uintptr_t)addr);
    line[n++] = '\n';
    arc_os_write(2, line, n); /* first, whole: the backtrace below could itself fault */
    backtrace_write();
    arc_os_abort();
}

_Noreturn void arc_report_bad_pointer(arc_op_t op, arc_bad_pointer_t kind, const void *addr)
{
    static const char *const what[2][3] = {
        [ARC_OP_FREE] = {[ARC_BAD_FOREIGN] = "free of a pointer arcalloc never returned",
                         [ARC_BAD_INTERIOR] = "free of a pointer into the middle of a block",
                         [ARC_BAD_FREED] = "double free"},
        [ARC_OP_REALLOC] = {[ARC_BAD_FOREIGN] = "realloc of a pointer arcalloc never returned",
                            [ARC_BAD_INTERIOR] = "realloc of a pointer into the middle of a block",
                            [ARC_BAD_FREED] = "realloc of a freed block"},
    };
    arc_report_misuse(what[op][kind], addr);
}

void arc_report_warning(const char *a, const char *b)
{
    if (atomic_fetch_add_explicit(&warnings_printed, 1, memory_order_relaxed) >= WARNINGS_MAX)
        return;
    char line[REPORT_LINE_MAX];
    size_t n = append(line, 0, "arcalloc: warning: ");
    n = append(line, n, a);
    if (b)
        n = append(line, n, b);
    line[n++] = '\n';
    arc_os_write(arc_report_stderr_fd(), line, n);
}
