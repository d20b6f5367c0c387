/* arena.h: the process's one reserved address range, its page allocator, its page map (owner
 * of every page, found from a pointer in O(1)) and large page-run allocations. Knows nothing of
 * byte allocators or threads; takes its own lock only on slow paths. */
#ifndef ARC_ARENA_H
#define ARC_ARENA_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arcalloc.h"
#include "os.h"

typedef struct arc_heap arc_heap_t;

/* A large allocation: a run of pages straight from the page allocator. Its descriptor lives
 * in metadata memory; the page map entry of the run's first page points at it. */
typedef struct arc_large {
    arc_heap_t *heap; /* first-class heap that owns it, or NULL for thread heaps */
    uintptr_t addr;
    size_t pages;
    bool sampled; /* the heap profiler holds a sample of this run */
    bool guard;   /* secure mode: one more page after the run, PROT_NONE (not in `pages`) */
    bool dirty;   /* handed out over dirty pages: may hold an earlier block's bytes */
    /* Set by arc_large_move on the old run: its pages were moved away and fresh zero pages
     * mapped back (fresh: freed without a dirty record), or the re-map failed (lost: the range
     * is no longer arcalloc's, its pages stay used in the page allocator forever). */
    bool fresh, lost;
    struct arc_large *prev, *next; /* in heap->large (first-class heaps), or the free list */
} arc_large_t;

/* Page map entries: 0 = no large run starts in this page; (arc_large_t * | ARC_MAP_LARGE) for a
 * large run's first page. Heap segments are in the segment map, not here. */
#define ARC_MAP_LARGE ((uintptr_t)1)
/* Left in a freed large run's first page until the page is reused: a second free of it is a
 * double free, told apart from a pointer arcalloc never returned. */
#define ARC_MAP_FREED ((uintptr_t)3)

/* The segment map's unit: heap segments are this big and aligned to it (heap.h pins that), so
 * free finds a small block's segment in a map of a few cache lines instead of the page map. */
#define ARC_SEGMENT_SLOT ((size_t)1 << 20)

/* Requests above this go to page runs directly; below, to a heap's byte allocator. 128 KiB is
 * where glibc starts mmap'ing too, so programs tuned for glibc see familiar behaviour. */
#define ARC_LARGE_THRESHOLD ((size_t)128 << 10)
/* Alignments above this go to page runs: the page allocator aligns for free. */
#define ARC_HEAP_MAX_ALIGN ((size_t)ARC_PAGE_SIZE)
/* realloc moves a large block that cannot grow in place with mremap (arc_large_move) from this
 * size up; below, a copy costs less than the two system calls (a 1 MiB memcpy is ~50 us, an
 * mremap plus an mmap a few us, and the page-table work grows with the size too). */
#define ARC_LARGE_MOVE_MIN ((size_t)1 << 20)
/* Secure mode's guard: one page, PROT_NONE, after every large run and at every segment's end. */
#define ARC_GUARD_PAGES ((size_t)1)
/* The smallest reservation accepted when the OS refuses the full address_space. */
#define ARC_ARENA_MIN_RESERVE ((size_t)64 << 20)
/* Under valgrind memcheck shadows every reserved byte, and 64 GiB takes it a minute: 2 GiB. */
#define ARC_ARENA_VALGRIND_RESERVE ((size_t)2 << 30)

/* A free page run whose pages may still be committed and hold old bytes: freed large runs stay
 * "dirty" for a while, so the next large block placed on them does not page-fault again. */
typedef struct arc_dirty {
    uintptr_t addr;
    size_t pages;
} arc_dirty_t;
/* Dirty ranges kept at once: a few, so every lookup is a short scan under the lock. */
#define ARC_DIRTY_SLOTS 16

typedef struct arc_arena {
    uintptr_t base;     /* window start; 0 until initialised */
    size_t size;        /* window bytes (address_space, or less if the OS refused) */
    uintptr_t *pagemap; /* one entry per page: large runs (ARC_MAP_LARGE) */
    uintptr_t *segmap;  /* one entry per ARC_SEGMENT_SLOT: the heap segment filling it, or 0 */
    arc_pages_t *pages;
    pthread_mutex_t lock; /* guards pages, metadata and the large free list */
    arc_os_bump_t meta;   /* heaps, large-run descriptors */
    arc_large_t *large_free;
    /* Secure mode (docs/security.md), set once at start-up: guard pages, encoded free lists. */
    bool secure;
    uintptr_t secure_key; /* per-process random key of the encoded free-list links */
    /* Figures kept on slow paths, under the lock. */
    size_t segment_bytes, large_bytes, large_count, large_allocs, peak_pages;
    /* Dirty free ranges, oldest first; they do not overlap. Every free page outside them reads
     * as zero (decommitted). dirty_pages is the sum of their pages. */
    arc_dirty_t dirty[ARC_DIRTY_SLOTS];
    size_t dirty_count, dirty_pages;
} arc_arena_t;

extern arc_arena_t arc_arena;

/* Idempotent; false when the address range could not be reserved. Not thread-safe on its own:
 * the caller (thread.c) serialises the first call. Also decides secure mode (ARCALLOC_SECURE)
 * and draws its key, before any block exists. */
bool arc_arena_init(void);
/* Zeroed metadata that lives as long as the process. NULL when the OS refuses. */
void *arc_arena_meta_alloc(size_t size);
/* A run of zero-filled pages (0 when the range is exhausted; dirty parts are cleared), and its
 * return: the pages are decommitted before they become free (they are never kept dirty). */
uintptr_t arc_arena_pages_alloc(size_t pages, size_t align);
void arc_arena_pages_free(uintptr_t addr, size_t pages);
/* Decommits every dirty free range (malloc_trim); true when there was any. */
bool arc_arena_purge(void);

/* A large run. It comes zero-filled unless it was placed on dirty pages: then it may hold an
 * earlier block's bytes and large->dirty is set (calloc clears only those runs). */
void *arc_large_alloc(arc_heap_t *owner, size_t size, size_t align);
/* Frees the run: its pages stay committed (dirty) within a budget, the rest is decommitted. */
void arc_large_free(void *p, arc_large_t *large);
/* Resizes in place (shrinking, or growing into free pages that follow); false if it cannot. */
bool arc_large_resize(void *p, arc_large_t *large, size_t new_size);
/* Moves the pages of run p (all large->pages of them) to the start of run q, which is at least
 * as long, with mremap: no copy. False (nothing changed) when the OS refuses; the caller copies
 * then. On success p's descriptor is marked fresh or lost and p must then be freed as usual. */
bool arc_large_move(void *p, arc_large_t *large, void *q);

static inline size_t arc_large_usable(const arc_large_t *large)
{
    return large->pages * ARC_PAGE_SIZE;
}

/* Who owns p's page: its heap segment (a segment pointer), a large run starting there
 * (arc_large_t * | ARC_MAP_LARGE), ARC_MAP_FREED, or 0 (outside the window, or no block starts
 * on the page). Slow paths only: free's fast path reads the segment map alone. */
static inline uintptr_t arc_arena_entry(const void *p)
{
    uintptr_t off = (uintptr_t)p - arc_arena.base;
    if (off >= arc_arena.size)
        return 0;
    uintptr_t seg = arc_arena.segmap[off / ARC_SEGMENT_SLOT];
    return seg ? seg : arc_arena.pagemap[off / ARC_PAGE_SIZE];
}

/* The heap segment holding p, or 0 when p is not in one (outside the window, in a large run, in
 * free pages). */
static inline uintptr_t arc_arena_segment(const void *p)
{
    uintptr_t off = (uintptr_t)p - arc_arena.base;
    if (off >= arc_arena.size)
        return 0;
    return arc_arena.segmap[off / ARC_SEGMENT_SLOT];
}

static inline bool arc_arena_contains(const void *p)
{
    return (uintptr_t)p - arc_arena.base < arc_arena.size;
}

/* Fork support: the lock is taken before fork and released (or reset) after. */
void arc_arena_lock(void);
void arc_arena_unlock(void);

#endif
