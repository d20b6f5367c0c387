/* options.h: arcalloc's configuration, read from the environment once at start-up without
 * getenv (which could run before libc is ready) and without allocating. */
#ifndef ARC_OPTIONS_H
#define ARC_OPTIONS_H

#include "arcalloc.h"

/* Every option, one table in options.c: its ARCALLOC_<NAME> variable, its ARCALLOC_CONF key,
 * type, default and help. */
typedef enum arc_option_id {
    ARC_OPT_BACKEND,      /* tlsf | buddy | slab */
    ARC_OPT_STATS,        /* 0 | 1 | text | json */
    ARC_OPT_STATS_FILE,   /* path, %p = pid */
    ARC_OPT_STATS_SIGNAL, /* signal name */
    ARC_OPT_PROF,         /* 0 | 1 */
    ARC_OPT_PROF_SAMPLE,  /* bytes (k/m/g) */
    ARC_OPT_PROF_FILE,    /* path, %p = pid */
    ARC_OPT_VERBOSE,      /* 0 | 1 */
    ARC_OPT_COUNT
} arc_option_id_t;

/* Reads the environment once (at start-up, from environ). */
void arc_options_load(void);
/* The effective value as text (NULL when unset and without default). */
const char *arc_option_str(arc_option_id_t id);
/* The effective value as a number: booleans 0/1, sizes in bytes, signals as numbers. */
long long arc_option_int(arc_option_id_t id);

/* The value of environment variable `name`, or NULL. Scans environ directly. */
const char *arc_env_get(const char *name);
/* The byte allocator thread heaps use: ARCALLOC_BACKEND if valid, else the build's default.
 * An unknown value gets one warning line naming the accepted ones. */
const arc_byte_ops_t *arc_options_backend(void);

#endif
