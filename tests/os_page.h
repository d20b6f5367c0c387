/* os_page.h: the OS page arcalloc works with, for tests whose figures depend on it: the kernel's
 * page, or a larger one a page-size test build pretends (meson -Dos_page_size_test=N). In secure
 * mode a large run and its guards are whole OS pages (src/process/arena.h: arc_guard_pages). */
#ifndef ARC_TESTS_OS_PAGE_H
#define ARC_TESTS_OS_PAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arcalloc.h"
#include "arcalloc_config.h"

static inline size_t test_os_page(void)
{
    long real = sysconf(_SC_PAGESIZE);
    size_t page = real > (long)ARC_PAGE_SIZE ? (size_t)real : ARC_PAGE_SIZE;
#if ARC_OS_PAGE_SIZE_TEST
    if ((size_t)ARC_OS_PAGE_SIZE_TEST > page)
        page = (size_t)ARC_OS_PAGE_SIZE_TEST;
#endif
    return page;
}

/* Whether secure mode is on: a secure build, not run with ARCALLOC_SECURE=0 (the tests of
 * memory figures run that way: tests/process/meson.build). */
static inline bool test_secure_on(void)
{
    const char *env = getenv("ARCALLOC_SECURE");
    return ARC_SECURE && !(env && strcmp(env, "0") == 0);
}

/* The bytes of secure mode's guard on each side of a large run: one OS page (none with secure
 * mode off). */
static inline size_t test_guard_bytes(void)
{
    return test_secure_on() ? test_os_page() : 0;
}

/* The bytes of the large run that holds `size` bytes: whole arcalloc pages, whole OS pages when
 * the run is guarded. */
static inline size_t test_run_bytes(size_t size)
{
    size_t unit = test_secure_on() ? test_os_page() : ARC_PAGE_SIZE;
    return (size + unit - 1) / unit * unit;
}

#endif
