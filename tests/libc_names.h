/* libc_names.h: glibc's allocator extensions under their standard names in every test. Where the
 * C library declares one of them (glibc), the standard name is tested, as a program calls it;
 * where it declares none (musl: meson's ARC_HAVE_* checks say so), arcalloc's arc_ function of
 * the same behaviour stands in, so the same test runs on both. */
#ifndef ARC_TESTS_LIBC_NAMES_H
#define ARC_TESTS_LIBC_NAMES_H

#include <malloc.h>

#include "arcalloc.h"
#include "arcalloc_config.h"

#if !ARC_HAVE_PVALLOC
#define pvalloc(size) arc_pvalloc(size)
#endif
#if !ARC_HAVE_MALLOC_TRIM
#define malloc_trim(pad) arc_malloc_trim(pad)
#endif
#if !ARC_HAVE_MALLINFO2
#define mallinfo2() arc_mallinfo2() /* function-like: struct mallinfo2 stays */
#endif
#if !ARC_HAVE_MALLOC_INFO
#define malloc_info(options, fp) arc_malloc_info(options, fp)
#endif
#if !ARC_HAVE_MALLOC_STATS
#define malloc_stats() arc_malloc_stats()
#endif

#endif
