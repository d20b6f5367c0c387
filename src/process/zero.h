/* zero.h: zero-size blocks. malloc(0) and its kin return a distinct address inside a reserved
 * region no one may read or write, so any access through such a pointer faults, before and after
 * its free. Knows nothing of heaps; never touches a byte of the region. */
#ifndef ARC_ZERO_H
#define ARC_ZERO_H

#include <stdbool.h>
#include <stddef.h>

/* A zero-size block aligned to `align` (at most ARC_PAGE_SIZE); NULL when every slot is taken or
 * the region could not be made (the caller then hands out an ordinary minimal block). */
void *arc_zero_alloc(size_t align);
/* Whether p lies in the zero-size region (a block of it, live or freed, or a stray pointer). */
bool arc_zero_contains(const void *p);
/* Frees the zero-size block p: a double free or a pointer between slots is reported. */
void arc_zero_free(const void *p);

#endif
