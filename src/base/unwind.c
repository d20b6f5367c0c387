/* unwind.c: the caller's stack (libunwind) and the names of return addresses (dladdr), for misuse
 * reports and the heap profiler. Owns the range of arcalloc's own code, whose frames are left out
 * of every stack. Never allocates itself; what libunwind allocates while it runs is flagged
 * (arc_unwind_busy) so the profiler does not sample it. */
#include "unwind.h"

#if ARC_PROF /* libunwind is built in; else the whole file is left out */
#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include <dlfcn.h>
#include <link.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "out.h"

/* Frames of arcalloc itself above the caller (shim -> arc_malloc -> slow path -> sampler ->
 * unwinder, or free -> bad_free -> report): captured, then dropped; and the one frame past
 * ARC_UNWIND_FRAMES_MAX that tells a cut stack. */
#define UNWIND_OWN_FRAMES_MAX 16
#define UNWIND_CAPTURE_MAX    (ARC_UNWIND_FRAMES_MAX + 1 + UNWIND_OWN_FRAMES_MAX)

/* arcalloc's own code: leading frames inside it are left out of every stack. */
static _Atomic uintptr_t own_lo, own_hi;
/* Set while this thread unwinds: libunwind's own allocations are not the program's. */
static __thread bool unwind_busy __attribute__((tls_model("initial-exec")));

bool arc_unwind_busy(void)
{
    return unwind_busy;
}

static int own_range_find(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    uintptr_t target = (uintptr_t)arg;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && target - lo < ph->p_memsz) {
            atomic_store_explicit(&own_hi, lo + ph->p_memsz, memory_order_relaxed);
            atomic_store_explicit(&own_lo, lo, memory_order_release);
            return 1;
        }
    }
    return 0;
}

int arc_unwind_backtrace(uintptr_t *frames, int max)
{
    if (!atomic_load_explicit(&own_lo, memory_order_acquire))
        dl_iterate_phdr(own_range_find, (void *)(uintptr_t)arc_unwind_backtrace);
    uintptr_t lo = atomic_load_explicit(&own_lo, memory_order_acquire);
    uintptr_t hi = atomic_load_explicit(&own_hi, memory_order_relaxed);
    void *raw[UNWIND_CAPTURE_MAX];
    bool was_busy = unwind_busy;
    unwind_busy = true;
    int n = unw_backtrace(raw, UNWIND_CAPTURE_MAX);
    unwind_busy = was_busy;
    int skip = 0;
    while (skip < n && (uintptr_t)raw[skip] - lo < hi - lo)
        skip++;
    if (skip == n) /* arcalloc linked into the program itself: nothing to tell apart */
        skip = 0;
    int depth = n - skip < max ? n - skip : max;
    for (int i = 0; i < depth; i++)
        frames[i] = (uintptr_t)raw[skip + i];
    return depth;
}

static size_t text_hex(char *buf, size_t cap, size_t at, uintptr_t v)
{
    char digits[ARC_HEX_MAX];
    return arc_text_append(buf, cap, at, arc_format_hex(v, digits));
}

size_t arc_unwind_symbolize(uintptr_t ip, enum arc_unwind_name style, char *buf, size_t cap)
{
    Dl_info info;
    memset(&info, 0, sizeof info);
    /* ip is a return address: ip - 1 lies in the call, inside the caller even when the call
     * was the function's last instruction. */
    bool found = dladdr((void *)(ip - 1), &info) != 0;
    const char *lib = found && info.dli_fname && *info.dli_fname ? info.dli_fname : "?";
    const char *slash = strrchr(lib, '/');
    if (slash && slash[1])
        lib = slash + 1;
    size_t n = 0;
    if (found && info.dli_sname && *info.dli_sname) {
        n = arc_text_append(buf, cap, 0, info.dli_sname);
        if (style == ARC_UNWIND_NAME_FULL) {
            n = arc_text_append(buf, cap, n, "+");
            n = text_hex(buf, cap, n, ip - (uintptr_t)info.dli_saddr);
        }
    } else {
        n = arc_text_append(buf, cap, 0, lib);
        n = arc_text_append(buf, cap, n, "+");
        n = text_hex(buf, cap, n, ip - (found ? (uintptr_t)info.dli_fbase : 0));
    }
    if (style == ARC_UNWIND_NAME_FULL) {
        n = arc_text_append(buf, cap, n, " (");
        n = arc_text_append(buf, cap, n, lib);
        n = arc_text_append(buf, cap, n, ")");
    }
    return n;
}
#endif
