/* options.h: arcalloc's configuration, read from the environment once at start-up without
 * getenv (which could run before libc is ready) and without allocating. Every option is one row
 * of the table in options.c; nothing else parses ARCALLOC_* variables. */
#ifndef ARC_OPTIONS_H
#define ARC_OPTIONS_H

#include "arcalloc.h"

/* Every option, one table in options.c: its ARCALLOC_<NAME> variable, its ARCALLOC_CONF key,
 * type, default and help. */
typedef enum arc_option_id {
    ARC_OPT_BACKEND,        /* tlsf | buddy | slab */
    ARC_OPT_STATS,          /* 0 | 1 | text | json */
    ARC_OPT_STATS_FILE,     /* path, %p = pid */
    ARC_OPT_STATS_SIGNAL,   /* signal name */
    ARC_OPT_STATS_INTERVAL, /* milliseconds between two timeline lines; 0: no timeline */
    ARC_OPT_TIMELINE_FILE,  /* path, %p = pid: the timeline's JSON lines */
    ARC_OPT_PROF,           /* 0 | 1 */
    ARC_OPT_PROF_SAMPLE,    /* bytes (k/m/g) */
    ARC_OPT_PROF_FILE,      /* path, %p = pid */
    ARC_OPT_VERBOSE,        /* 0 | 1 */
    ARC_OPT_DECAY,          /* milliseconds a freed page run stays committed (dirty.h) */
    ARC_OPT_PURGE_THREAD,   /* 0 | 1: the purger thread gives decayed runs back when idle */
    ARC_OPT_SECURE,         /* 0 | 1: hardened mode (builds with -Dsecure=true) */
    ARC_OPT_HUGEPAGES,      /* 0 | 1 | auto: transparent huge pages for the arena (arena.c) */
    ARC_OPT_GUARDS,         /* mprotect | markers: how secure mode's guard pages are made (os.c) */
    ARC_OPT_COUNT
} arc_option_id_t;

/* arc_option_int(ARC_OPT_STATS): the report format asked for. */
enum arc_stats_mode { ARC_STATS_MODE_OFF = 0, ARC_STATS_MODE_TEXT = 1, ARC_STATS_MODE_JSON = 2 };

/* arc_option_int(ARC_OPT_HUGEPAGES): never ask for huge pages (and refuse them where the kernel
 * would give them unasked), ask from the start, or ask once the heap is big enough. */
enum arc_hugepages_mode {
    ARC_HUGEPAGES_OFF = 0,
    ARC_HUGEPAGES_ON = 1,
    ARC_HUGEPAGES_AUTO = 2,
};

/* arc_option_int(ARC_OPT_GUARDS): PROT_NONE mappings; or page-table guard markers where the
 * kernel has them (else PROT_NONE mappings). */
enum arc_guards_mode { ARC_GUARDS_MPROTECT = 0, ARC_GUARDS_MARKERS = 1 };

/* Where an option's effective value came from, lowest priority first. */
typedef enum arc_option_source {
    ARC_SRC_UNSET,   /* no value at all (an option without default) */
    ARC_SRC_DEFAULT, /* the table's default */
    ARC_SRC_BUILD,   /* a meson option (byte_allocator) */
    ARC_SRC_CONF,    /* a key of ARCALLOC_CONF */
    ARC_SRC_ENV,     /* its own ARCALLOC_<NAME> variable: wins over everything */
} arc_option_source_t;

/* Reads the environment once (at start-up, from environ); later calls do nothing. Warns once
 * per unknown ARCALLOC_* variable, unknown ARCALLOC_CONF key or bad value; with
 * ARCALLOC_VERBOSE=1 prints the effective configuration on stderr. */
void arc_options_load(void);
/* The effective value as text (NULL when unset and without default). */
const char *arc_option_str(arc_option_id_t id);
/* The effective value as a number: booleans 0/1, sizes in bytes, times in milliseconds, signals as
 * numbers (0: none), enumerations as their value (ARC_OPT_STATS: enum arc_stats_mode,
 * ARC_OPT_BACKEND: the index in "tlsf, buddy, slab"). */
long long arc_option_int(arc_option_id_t id);
/* Where the effective value came from. */
arc_option_source_t arc_option_source(arc_option_id_t id);

/* The value of environment variable `name`, or NULL. Scans environ directly. */
const char *arc_env_get(const char *name);
/* The byte allocator thread heaps use: ARCALLOC_BACKEND if valid, else the build's default.
 * An unknown value gets one warning line naming the accepted ones (printed by the load). */
const arc_byte_ops_t *arc_options_backend(void);

#endif
