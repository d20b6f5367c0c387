/* options.h: arcalloc's configuration, read from the environment once at start-up without
 * getenv (which could run before libc is ready) and without allocating. */
#ifndef ARC_OPTIONS_H
#define ARC_OPTIONS_H

#include "arcalloc.h"

/* The value of environment variable `name`, or NULL. Scans environ directly. */
const char *arc_env_get(const char *name);
/* The byte allocator thread heaps use: ARCALLOC_BACKEND if valid, else the build's default.
 * An unknown value gets one warning line naming the accepted ones. */
const arc_byte_ops_t *arc_options_backend(void);

#endif
