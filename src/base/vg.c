/* vg.c: finds out, once at start-up, whether memcheck is watching the process. Never
 * allocates. */
#include "vg.h"

#include <string.h>

#include "options.h"

bool arc_vg_memcheck;

void arc_vg_detect(void)
{
#if ARC_VALGRIND
    /* Every valgrind tool answers RUNNING_ON_VALGRIND; memcheck is the one whose preload
     * library is in LD_PRELOAD. */
    const char *preload = arc_env_get("LD_PRELOAD");
    arc_vg_memcheck = RUNNING_ON_VALGRIND && preload && strstr(preload, "vgpreload_memcheck");
#endif
}
