/* shim.c: owns the standard C allocation names and glibc's __libc_* names. Each standard name
 * is a one-line forward to its arc_ function; each __libc_* name is an alias of the standard one
 * (the same code, no second body). Must never hold allocation logic of its own, nor forward to
 * anything but the arc_ API. Linked with -Bsymbolic-functions, so these tail calls bind inside
 * the library and never go through the PLT. */
#include <malloc.h>
#include <stdlib.h>

#include "arcalloc.h"
#include "arcalloc_config.h"

#define SHIM ARC_API

/* glibc's extensions (pvalloc, malloc_trim, mallinfo, mallinfo2, malloc_stats, malloc_info,
 * mallopt) are defined only where the C library declares them (ARC_HAVE_*, meson's checks): a name
 * the C library lacks (musl) is one its programs never call, and a static link has no object of
 * the C library's defining it. */

SHIM void *malloc(size_t size)
{
    return arc_malloc(size);
}

SHIM void free(void *ptr)
{
    arc_free(ptr);
}

SHIM void *calloc(size_t count, size_t size)
{
    return arc_calloc(count, size);
}

SHIM void *realloc(void *ptr, size_t size)
{
    return arc_realloc(ptr, size);
}

SHIM void *reallocarray(void *ptr, size_t count, size_t size)
{
    return arc_reallocarray(ptr, count, size);
}

SHIM int posix_memalign(void **out, size_t align, size_t size)
{
    return arc_posix_memalign(out, align, size);
}

SHIM void *aligned_alloc(size_t align, size_t size)
{
    return arc_aligned_alloc(align, size);
}

SHIM void *memalign(size_t align, size_t size)
{
    return arc_memalign(align, size);
}

SHIM void *valloc(size_t size)
{
    return arc_valloc(size);
}

#if ARC_HAVE_PVALLOC
SHIM void *pvalloc(size_t size)
{
    return arc_pvalloc(size);
}
#endif

SHIM size_t malloc_usable_size(void *ptr)
{
    return arc_malloc_usable_size(ptr);
}

/* C23's sized frees; declared here since this glibc's headers predate them. */
SHIM void free_sized(void *ptr, size_t size);
SHIM void free_aligned_sized(void *ptr, size_t align, size_t size);

SHIM void free_sized(void *ptr, size_t size)
{
    arc_free_sized(ptr, size);
}

SHIM void free_aligned_sized(void *ptr, size_t align, size_t size)
{
    arc_free_aligned_sized(ptr, align, size);
}

#if ARC_HAVE_MALLOC_TRIM
SHIM int malloc_trim(size_t pad)
{
    return arc_malloc_trim(pad);
}
#endif

#if ARC_HAVE_MALLINFO2
SHIM struct mallinfo2 mallinfo2(void)
{
    return arc_mallinfo2();
}
#endif

#if ARC_HAVE_MALLINFO
/* The old mallinfo's fields are int: figures are clamped, as glibc does. */
SHIM struct mallinfo mallinfo(void)
{
    struct mallinfo2 m2 = arc_mallinfo2();
#define CLAMP(x) ((int)((x) > (size_t)0x7fffffff ? 0x7fffffff : (x)))
    struct mallinfo m = {
        .arena = CLAMP(m2.arena),
        .ordblks = CLAMP(m2.ordblks),
        .hblks = CLAMP(m2.hblks),
        .hblkhd = CLAMP(m2.hblkhd),
        .usmblks = CLAMP(m2.usmblks),
        .fsmblks = CLAMP(m2.fsmblks),
        .uordblks = CLAMP(m2.uordblks),
        .fordblks = CLAMP(m2.fordblks),
        .keepcost = 0,
    };
#undef CLAMP
    return m;
}
#endif

#if ARC_HAVE_MALLOC_STATS
SHIM void malloc_stats(void)
{
    arc_malloc_stats();
}
#endif

#if ARC_HAVE_MALLOC_INFO
SHIM int malloc_info(int options, FILE *fp)
{
    return arc_malloc_info(options, fp);
}
#endif

/* glibc's tuning knobs belong to glibc's allocator; arcalloc has its own settings (ARCALLOC_*).
 * Every parameter is accepted and changes nothing, so a program that tunes glibc runs unchanged;
 * in a static link this definition also keeps the C library's malloc object out. */
#if ARC_HAVE_MALLOPT
SHIM int mallopt(int param, int value)
{
    (void)param;
    (void)value;
    return 1;
}
#endif

/* An alias of `target` defined above: the same address, so the same code. GCC wants the
 * target's attributes (malloc, alloc_size, nothrow...) repeated on the alias; copy does that. */
#if defined(__has_attribute)
#if __has_attribute(copy)
#define ALIAS_OF(target) __attribute__((alias(#target), copy(target)))
#endif
#endif
#ifndef ALIAS_OF
#define ALIAS_OF(target) __attribute__((alias(#target)))
#endif

/* glibc's internal names, used by some programs and by libc itself in places: every pointer
 * must come from and go back to the same allocator. musl's own code allocates through
 * __libc_malloc, __libc_calloc, __libc_realloc and __libc_free: in a static link against musl
 * these aliases serve it too, and keep out musl's objects that define them beside free and
 * realloc (which would clash with the names above). */
SHIM void *__libc_malloc(size_t size) ALIAS_OF(malloc);
SHIM void __libc_free(void *ptr) ALIAS_OF(free);
SHIM void *__libc_calloc(size_t count, size_t size) ALIAS_OF(calloc);
SHIM void *__libc_realloc(void *ptr, size_t size) ALIAS_OF(realloc);
SHIM void *__libc_memalign(size_t align, size_t size) ALIAS_OF(memalign);
SHIM void *__libc_valloc(size_t size) ALIAS_OF(valloc);
#if ARC_HAVE_PVALLOC
SHIM void *__libc_pvalloc(size_t size) ALIAS_OF(pvalloc);
#endif
SHIM int __posix_memalign(void **out, size_t align, size_t size) ALIAS_OF(posix_memalign);
