/* start.c: arcalloc's start-up, at the top: reads the options and hands each layer what it needs,
 * bottom up (valgrind, the arena, the dirty caches and their purger, thread heaps, statistics,
 * the profiler). Owns only the order; runs once (thread.c serialises it) and never allocates
 * through a heap. */
#include "startup.h"

#include <stdint.h>

#include "arena.h"
#include "dirty.h"
#include "options.h"
#include "prof.h"
#include "stats.h"
#include "thread.h"
#include "vg.h"

/* arc_option_int(ARC_OPT_DECAY) is in milliseconds. */
#define NS_PER_MS ((uint64_t)1000 * 1000)

bool arc_process_start(void)
{
    arc_options_load();
    arc_vg_detect();
    if (!arc_arena_init())
        return false;
    arc_dirty_setup(arc_arena_run_release, (uint64_t)arc_option_int(ARC_OPT_DECAY) * NS_PER_MS,
                    arc_option_int(ARC_OPT_PURGE_THREAD) ? arc_thread_start_internal : NULL, true);
    if (!arc_thread_setup(arc_options_backend()))
        return false;
    arc_stats_start();
#if ARC_PROF
    arc_prof_start();
#endif
    return true;
}
