/* vg.h: tells valgrind's memcheck about arcalloc's blocks, so a program debugged under valgrind
 * with arcalloc loaded gets leak reports and use-after-free errors for its own blocks. Compiled
 * in when valgrind's headers are present; every macro is a no-op otherwise. Under valgrind the
 * heaps run without their cache (heap.c), so these requests sit on slow paths only. */
#ifndef ARC_VG_H
#define ARC_VG_H

#include <stdbool.h>

#include "arcalloc.h"

/* True when the process runs under valgrind's memcheck (set once at start-up). Other tools
 * (callgrind, cachegrind) keep the normal fast paths, so their counts are the real ones. */
extern bool arc_vg_memcheck;
void arc_vg_detect(void);

#if ARC_VALGRIND
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>
#define ARC_VG_RUNNING() arc_vg_memcheck
/* A request runs its magic instruction sequence and fills its argument block even outside
 * valgrind (17 instructions on x86-64), and memcheck is the only tool that reads these: each is
 * asked only under memcheck (bench/medium: 11 allocator instructions a call fewer). */
#define ARC_VG_ASK(request)                                                                        \
    do {                                                                                           \
        if (arc_vg_memcheck)                                                                       \
            request;                                                                               \
    } while (0)
#define ARC_VG_MALLOC(p, size, zeroed)                                                             \
    ARC_VG_ASK(VALGRIND_MALLOCLIKE_BLOCK((p), (size), 0, (zeroed)))
#define ARC_VG_FREE(p) ARC_VG_ASK(VALGRIND_FREELIKE_BLOCK((p), 0))
/* Backend headers live just before a block; memory recycled from a freed block may still be
 * marked inaccessible there. */
#define ARC_VG_DEFINED(p, n) ARC_VG_ASK(VALGRIND_MAKE_MEM_DEFINED((p), (n)))
/* The allocator's own reads and writes of free memory (list links, headers) are not the
 * program's errors. */
#define ARC_VG_QUIET() ARC_VG_ASK(VALGRIND_DISABLE_ERROR_REPORTING)
#define ARC_VG_LOUD()  ARC_VG_ASK(VALGRIND_ENABLE_ERROR_REPORTING)
#else
#define ARC_VG_RUNNING()               false
#define ARC_VG_MALLOC(p, size, zeroed) ((void)(p), (void)(size), (void)(zeroed))
#define ARC_VG_FREE(p)                 ((void)(p))
#define ARC_VG_DEFINED(p, n)           ((void)(p), (void)(n))
#define ARC_VG_QUIET()                 ((void)0)
#define ARC_VG_LOUD()                  ((void)0)
#endif

#endif
