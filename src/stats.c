/* stats.c: sums the heaps' counters and the arena's figures into the statistics report. */
#include "stats.h"

void arc_stats_start(void)
{
}
