/* report.c: formats and writes misuse reports (with a backtrace when libunwind is built in)
 * and warnings, without allocating. Owns the repeat cap on warnings; never returns from a
 * misuse report. */
#include "report.h"

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "os.h"
#include "prof.h"

enum {
    REPORT_LINE_MAX = 256,
    WARNINGS_MAX = 32, /* a misconfigured environment must not flood stderr */
};

static _Atomic unsigned warnings_printed;

/* Appends s, leaving room for the '\n' that ends the line. */
static size_t append(char *line, size_t at, const char *s)
{
    size_t room = at < REPORT_LINE_MAX - 2 ? REPORT_LINE_MAX - 2 - at : 0;
    size_t n = strnlen(s, room);
    memcpy(line + at, s, n);
    return at + n;
}

const char *arc_format_hex(uintptr_t v, char buf[ARC_HEX_MAX])
{
    size_t n = ARC_HEX_MAX - 1;
    buf[n] = '\0';
    do {
        buf[--n] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    buf[--n] = 'x';
    buf[--n] = '0';
    return buf + n;
}

static size_t append_hex(char *line, size_t at, uintptr_t v)
{
    char digits[ARC_HEX_MAX];
    return append(line, at, arc_format_hex(v, digits));
}

#if ARC_PROF
static size_t append_dec(char *line, size_t at, unsigned v)
{
    char digits[3 * sizeof v + 1];
    size_t n = sizeof digits - 1;
    digits[n] = '\0';
    do {
        digits[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return append(line, at, digits + n);
}

/* One line a frame after the report's first line: "    #N 0xaddr symbol+off (lib)". */
static void backtrace_write(void)
{
    uintptr_t frames[ARC_PROF_FRAMES_MAX];
    int depth = arc_prof_backtrace(frames, ARC_PROF_FRAMES_MAX);
    for (int i = 0; i < depth; i++) {
        char line[REPORT_LINE_MAX];
        size_t n = append(line, 0, "    #");
        n = append_dec(line, n, (unsigned)i);
        n = append(line, n, " ");
        n = append_hex(line, n, frames[i]);
        n = append(line, n, " ");
        n += arc_prof_symbolize(frames[i], ARC_PROF_NAME_FULL, line + n, REPORT_LINE_MAX - 1 - n);
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
    arc_os_write(2, line, n);
}
