/* startup.h: the one call the first allocation makes to start arcalloc. A hook: thread.c, which
 * runs start-up exactly once, calls it; start.c, at the top of the process allocator, implements
 * it and wires every layer (options, valgrind, the arena, the dirty caches, threads, statistics,
 * the profiler). Nothing here allocates through a heap. */
#ifndef ARC_STARTUP_H
#define ARC_STARTUP_H

#include <stdbool.h>

/* Starts arcalloc; false when it cannot (the address range was refused): every allocation then
 * fails with ENOMEM. Runs once, on the thread of the first allocation, which uses the bootstrap
 * buffer meanwhile. */
bool arc_process_start(void);

#endif
