/* arcalloc.h: the public C API of arcalloc.
 *
 * Two halves. The allocator layers (page, byte and id allocators) work on memory the caller
 * hands in: no globals, no OS calls, no locks, so a kernel or an embedded program can use them.
 * The malloc half (arc_malloc ..., arc_heap_*) is the process allocator that libarcalloc.so
 * also exports under the standard names. */
#ifndef ARCALLOC_H
#define ARCALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "arcalloc_config.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define ARC_API __attribute__((visibility("default")))
#else
#define ARC_API
#endif

/* ---- results ------------------------------------------------------------------------------ */

/* Every layer operation returns one of these. ARC_OK is zero, so `if (rc)` tests for failure. */
typedef enum arc_result {
    ARC_OK = 0,
    ARC_INVALID_PARAM = 1,  /* zero size, alignment not a power of two, range outside the map */
    ARC_MEMORY_OVERLAP = 2, /* a region overlaps one already added */
    ARC_NO_MEMORY = 3,      /* nothing free fits the request */
    ARC_NOT_ALLOCATED = 4,  /* freeing something that is not allocated */
} arc_result_t;

/* "ok", "invalid parameter", ...; "unknown result" for anything else. Never NULL. */
ARC_API const char *arc_result_str(int result);

/* ---- page allocator ----------------------------------------------------------------------- */

#define ARC_PAGE_SIZE 4096u
/* Largest alignment arc_pages_alloc accepts. */
#define ARC_PAGES_MAX_ALIGN ((size_t)1 << 30)
/* Regions one page allocator can hold (init counts as the first). */
#define ARC_PAGES_MAX_REGIONS 16

/* A hierarchical bitmap over ARC_ADDRESS_SPACE_BYTES of address space starting at the first
 * region's start aligned down to ARC_PAGES_MAX_ALIGN (or to the address space size when that is
 * smaller); when the first region, no larger than that space, would then run past its end, the
 * start is aligned down to the largest power of two that keeps the region whole. Its state is
 * caller memory of arc_pages_state_size() bytes, 64-byte aligned and ZERO-FILLED (static storage,
 * calloc or a fresh mmap): only the words covering pages in use are ever written, so a 1 TiB map
 * costs resident memory only where memory is allocated. */
typedef struct arc_pages arc_pages_t;

ARC_API size_t arc_pages_state_size(void);
/* Less state, for a caller whose regions all lie within the first `bytes` of the map (from its
 * base as above: a first region starting on a multiple of the address space size, or of
 * ARC_PAGES_MAX_ALIGN when that is smaller, is its base): the bitmap's words for the pages past
 * them are never read or written, so they need not exist. */
ARC_API size_t arc_pages_state_size_below(size_t bytes);
/* Regions are trimmed to whole pages inside the map; nothing left is ARC_INVALID_PARAM. A region
 * added where an earlier one ends extends that one (a run may span both; no new region slot). */
ARC_API int arc_pages_init(arc_pages_t *pa, uintptr_t start, size_t size);
ARC_API int arc_pages_add_memory(arc_pages_t *pa, uintptr_t start, size_t size);
/* align is in bytes: a power of two, a multiple of ARC_PAGE_SIZE, at most ARC_PAGES_MAX_ALIGN.
 * The run handed out is the lowest that fits; with align ARC_PAGE_SIZE the search costs a few
 * dozen word reads however fragmented the map is. */
ARC_API int arc_pages_alloc(arc_pages_t *pa, size_t num_pages, size_t align, uintptr_t *out);
ARC_API int arc_pages_alloc_at(arc_pages_t *pa, uintptr_t base, size_t num_pages, size_t align);
ARC_API int arc_pages_dealloc(arc_pages_t *pa, uintptr_t addr, size_t num_pages);
ARC_API size_t arc_pages_total_pages(const arc_pages_t *pa);
ARC_API size_t arc_pages_used_pages(const arc_pages_t *pa);
ARC_API size_t arc_pages_available_pages(const arc_pages_t *pa);
/* Walks the bitmap only under pages in use, and every region; returns the number of broken
 * invariants (0 when sound). */
ARC_API size_t arc_pages_check(const arc_pages_t *pa);

/* ---- byte allocators ---------------------------------------------------------------------- */

/* The state of any byte allocator: caller memory of ops->state_size bytes, 64-byte aligned.
 * init() writes all of it; its content before does not matter. */
typedef struct arc_byte_allocator arc_byte_allocator_t;

/* One contract, three backends: code written over this struct runs on any of them.
 * Rules every backend keeps:
 * - alloc: size 0 or align not a power of two -> ARC_INVALID_PARAM; blocks are at least
 *   ARC_MIN_ALIGN aligned and inside an added region; nothing fits -> ARC_NO_MEMORY.
 * - add_memory/init: the region is trimmed to ARC_MIN_ALIGN boundaries; too small to hold one
 *   block -> ARC_INVALID_PARAM; overlapping a region already added -> ARC_MEMORY_OVERLAP.
 * - dealloc(ptr, size, align) takes what alloc was asked, or any size up to usable_size(ptr)
 *   (more is ARC_NOT_ALLOCATED); align is not needed. A pointer the allocator can tell
 *   is not a live block start -> ARC_NOT_ALLOCATED, nothing changed.
 * - remove_memory: hands back a whole region given to init/add_memory, only when nothing in it
 *   is allocated (ARC_INVALID_PARAM otherwise, or when it is not such a region).
 * - usable_size: bytes writable at a live block (>= the size asked); 0 for a pointer that is
 *   not a live block start.
 * - used_bytes counts whole blocks handed out (usable sizes); total_bytes all added memory
 *   the allocator can hand out; available_bytes = total - used - its own bookkeeping. */
typedef struct arc_byte_ops {
    const char *name; /* "tlsf", "buddy", "slab" */
    size_t state_size;
    int (*init)(arc_byte_allocator_t *a, void *start, size_t size);
    int (*add_memory)(arc_byte_allocator_t *a, void *start, size_t size);
    int (*remove_memory)(arc_byte_allocator_t *a, void *start, size_t size);
    int (*alloc)(arc_byte_allocator_t *a, size_t size, size_t align, void **out);
    int (*dealloc)(arc_byte_allocator_t *a, void *ptr, size_t size, size_t align);
    size_t (*usable_size)(const arc_byte_allocator_t *a, const void *ptr);
    /* The same two calls for a caller that knows which region holds ptr (`region` is the start
     * it gave init/add_memory): no region lookup. usable_size_in trusts ptr to be a live block;
     * dealloc_in still refuses what is not one. Both O(1): the malloc heap's fast path. */
    size_t (*usable_size_in)(const arc_byte_allocator_t *a, const void *region, const void *ptr);
    int (*dealloc_in)(arc_byte_allocator_t *a, void *region, void *ptr, size_t size, size_t align);
    size_t (*total_bytes)(const arc_byte_allocator_t *a);
    size_t (*used_bytes)(const arc_byte_allocator_t *a);
    size_t (*available_bytes)(const arc_byte_allocator_t *a);
    size_t (*check)(const arc_byte_allocator_t *a); /* broken invariants, 0 when sound */
    /* Secure builds: keys the block-header checks (arc_byte_set_key); NULL in normal builds. */
    void (*set_key)(arc_byte_allocator_t *a, uint64_t key);
    /* Takes a free block with at least min_size usable bytes out of the free memory whole, not
     * split, and hands it out as a live block (*out; usable_size says how big: all of it).
     * dealloc gives it back as any block. ARC_NO_MEMORY when no free block is that large. The
     * malloc heap takes long-free blocks so to give their pages back to the OS while the rest
     * of their region stays in use. */
    int (*take_free)(arc_byte_allocator_t *a, size_t min_size, void **out);
    /* usable_size for a caller that knows which region holds ptr: the same checks (0 for what is
     * not a live block start, and for a block whose in-band bookkeeping is damaged: tlsf, the
     * head words of the block and its neighbours, which an overflow reaches first), without the
     * region lookup. O(1). The malloc heap asks it before it keeps a freed block for reuse. */
    size_t (*usable_size_checked_in)(const arc_byte_allocator_t *a, const void *region,
                                     const void *ptr);
    /* Secure builds: true when a block handed out holds only what callers left in its bytes,
     * none of the allocator's own words (free-list links, headers of merged blocks): a caller
     * that clears every block it gives back gets every block zeroed. False in normal builds. */
    bool clean_blocks;
} arc_byte_ops_t;

/* Every block any backend returns is aligned to at least this (malloc's guarantee). */
#define ARC_MIN_ALIGN 16u

ARC_API extern const arc_byte_ops_t arc_tlsf_ops;
ARC_API extern const arc_byte_ops_t arc_buddy_ops;
ARC_API extern const arc_byte_ops_t arc_slab_ops;
/* "tlsf", "buddy" or "slab" -> its ops; NULL for any other name. */
ARC_API const arc_byte_ops_t *arc_byte_ops_find(const char *name);
/* Secure builds (-Dsecure=true): keys the block-header checks (checksums and canaries on the
 * metadata each backend keeps next to its blocks) with a per-instance secret; call after init,
 * before the first alloc. Without a call the key is a fixed nonzero default derived from the
 * state's address, so the checks still work; 0 also picks that default. A no-op in normal
 * builds. A header that fails its check makes dealloc/dealloc_in return ARC_INVALID_PARAM
 * (nothing changed) and usable_size/usable_size_in return 0. */
ARC_API void arc_byte_set_key(const arc_byte_ops_t *ops, arc_byte_allocator_t *state, uint64_t key);

/* ---- id allocator ------------------------------------------------------------------------- */

/* Integer ids 0 .. capacity-1 in a hierarchical bitmap held in caller memory of
 * arc_ids_state_size(capacity) bytes, 64-byte aligned; init clears it. */
typedef struct arc_ids arc_ids_t;

ARC_API size_t arc_ids_state_size(size_t capacity);
ARC_API int arc_ids_init(arc_ids_t *ids, size_t capacity);
/* count contiguous ids, the first a multiple of align (a power of two). */
ARC_API int arc_ids_alloc(arc_ids_t *ids, size_t count, size_t align, size_t *out_first);
ARC_API int arc_ids_alloc_fixed(arc_ids_t *ids, size_t id);
ARC_API int arc_ids_dealloc(arc_ids_t *ids, size_t first, size_t count);
ARC_API bool arc_ids_is_allocated(const arc_ids_t *ids, size_t id);
ARC_API size_t arc_ids_size(const arc_ids_t *ids);
ARC_API size_t arc_ids_used(const arc_ids_t *ids);
ARC_API size_t arc_ids_available(const arc_ids_t *ids);
ARC_API size_t arc_ids_check(const arc_ids_t *ids);

/* ---- the process allocator ---------------------------------------------------------------- */

/* The malloc family under arc_ names, for programs that keep the system malloc beside
 * arcalloc. libarcalloc.so also exports them under the standard names (malloc, free, ...).
 * Impossible sizes return NULL with errno = ENOMEM; bad alignments EINVAL. Misuse (double free,
 * a pointer arcalloc never returned, an interior pointer) prints one line on stderr,
 * "arcalloc: <error> at <address>", and aborts. */
ARC_API void *arc_malloc(size_t size);
ARC_API void arc_free(void *ptr);
ARC_API void *arc_calloc(size_t count, size_t size);
ARC_API void *arc_realloc(void *ptr, size_t size);
ARC_API void *arc_reallocarray(void *ptr, size_t count, size_t size);
ARC_API int arc_posix_memalign(void **out, size_t align, size_t size);
ARC_API void *arc_aligned_alloc(size_t align, size_t size);
ARC_API void *arc_memalign(size_t align, size_t size);
ARC_API void *arc_valloc(size_t size);
ARC_API void *arc_pvalloc(size_t size);
ARC_API size_t arc_malloc_usable_size(const void *ptr);
ARC_API void arc_free_sized(void *ptr, size_t size);
ARC_API void arc_free_aligned_sized(void *ptr, size_t align, size_t size);
/* Returns cached and empty memory to the OS; 1 if anything was released. */
ARC_API int arc_malloc_trim(size_t pad);
/* glibc's introspection, with arcalloc's real figures (struct mallinfo2 is in glibc's <malloc.h>;
 * with a C library that has none, such as musl, arcalloc declares it here, the same fields). */
#if ARC_HAVE_MALLINFO2
struct mallinfo2;
#else
struct mallinfo2 {
    size_t arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks, fordblks, keepcost;
};
#endif
ARC_API struct mallinfo2 arc_mallinfo2(void);
ARC_API void arc_malloc_stats(void);
/* glibc's malloc_info(): an XML description of every heap (glibc's elements, with arcalloc's
 * figures, plus an <arcalloc> element of its own) written to fp. options must be 0 (EINVAL
 * otherwise); returns 0, or -1 with errno set. */
ARC_API int arc_malloc_info(int options, FILE *fp);

/* ---- statistics --------------------------------------------------------------------------- */

/* arc_stats_print formats. */
#define ARC_STATS_TEXT 1
#define ARC_STATS_JSON 2
/* Small sizes, one bin per 16 bytes: bin i counts blocks of usable size i * 16, i = 1 .. 64 (only
 * the 20 sizes of arcalloc's small size classes ever count; bin 0 is unused). */
#define ARC_SIZE_BINS 65
/* The name this constant had before (it counts bins, not size classes); kept for programs that
 * use it. */
#define ARC_STATS_SIZE_CLASSES ARC_SIZE_BINS

/* The whole report as numbers (docs/stats.md says what each one means, with an example). Heap
 * blocks count their usable size rounded down to 16; large blocks (page runs) whole pages.
 * Counter sums are zero when the build has -Dstats=false (stats_enabled = 0); the other figures
 * are always there. Figures of other threads' heaps are read without stopping them: each is a
 * recent value, and sums may be a few blocks apart from each other. */
struct arc_stats {
    const char *backend;       /* byte allocator of thread heaps: "tlsf", "buddy", "slab" */
    const char *address_space; /* the build's address_space: "256m", "4g", "64g", "1t" */
    /* Sums of the per-heap counters. */
    uint64_t requested_bytes;       /* bytes asked for (malloc, calloc, realloc, aligned) */
    uint64_t allocated_bytes;       /* bytes of the blocks handed out */
    uint64_t freed_bytes;           /* bytes of the blocks given back */
    uint64_t medium_allocs;         /* byte-allocator blocks (above 1 KiB, or no class aligns) */
    uint64_t medium_frees;          /* ... given back */
    uint64_t large_allocs;          /* page runs (above 128 KiB or aligned above 4 KiB) */
    uint64_t large_frees;           /* ... freed */
    uint64_t remote_frees_sent;     /* blocks freed by a thread other than their heap's */
    uint64_t remote_frees_received; /* ... taken back by their heap (<= sent) */
    uint64_t segments_added;        /* 1 MiB heap segments taken from the page allocator */
    uint64_t segments_released;     /* ... given back */
    uint64_t spans_added;           /* 32 KiB spans of small blocks taken from the byte allocator */
    uint64_t spans_released;        /* spans given back when their last block was freed */
    uint64_t heap_reuses;           /* heaps taken over by a new thread or arc_heap_new */
    uint64_t holes_made;     /* free blocks of 16 KiB+ taken out of segments to give pages back */
    uint64_t holes_returned; /* ... given back to their byte allocator */
    uint64_t holes_wasted;   /* ... of those, taken back by a request before their pages went */
    uint64_t holes_joined;   /* ... of those, given back to merge with a free block beside them */
    /* Process figures. */
    uint64_t stats_enabled;        /* 1 when the counters are compiled in */
    uint64_t allocs;               /* blocks handed out, all kinds */
    uint64_t frees;                /* blocks given back, all kinds */
    uint64_t live_bytes;           /* allocated_bytes - freed_bytes */
    uint64_t peak_live_bytes;      /* highest live_bytes seen at a slow path */
    uint64_t cached_bytes;         /* free small blocks in spans, kept medium blocks */
    uint64_t byte_total_bytes;     /* byte allocators of all heaps: total_bytes */
    uint64_t byte_used_bytes;      /* ... used_bytes (whole spans count as used) */
    uint64_t byte_available_bytes; /* ... available_bytes */
    uint64_t page_total_pages;     /* page allocator: total pages */
    uint64_t page_used_pages;      /* ... used pages (segments and large blocks) */
    uint64_t page_available_pages; /* ... available pages */
    uint64_t page_peak_pages;      /* ... highest used pages */
    uint64_t address_space_bytes;  /* address range reserved at start-up */
    uint64_t segments;             /* heap segments held now */
    uint64_t segment_bytes;        /* their bytes */
    uint64_t large_live;           /* large blocks live now */
    uint64_t large_bytes;          /* their bytes (whole pages) */
    uint64_t dirty_bytes;          /* freed page runs kept committed until they decay */
    uint64_t decayed_bytes;        /* ... given back after their decay (or over budget), in all */
    uint64_t hole_wait_bytes;      /* free pages inside segments in use, waiting to decay */
    uint64_t purger_thread;        /* 1 while the background purger thread runs */
    uint64_t committed_bytes;      /* segment_bytes + large_bytes + dirty_bytes */
    uint64_t fragmentation_bytes;  /* committed_bytes - live_bytes (0 if negative) */
    uint64_t resident_bytes;       /* process RSS now */
    uint64_t peak_resident_bytes;  /* process peak RSS */
    uint64_t returned_bytes;       /* bytes given back to the OS with madvise, in all */
    uint64_t madvise_calls;        /* madvise calls */
    uint64_t mmap_calls;           /* mmap calls (the range, metadata) */
    uint64_t munmap_calls;         /* munmap calls */
    uint64_t mremap_calls;         /* mremap calls (large realloc moved without a copy) */
    uint64_t hugepage_calls;       /* madvise MADV_HUGEPAGE / MADV_NOHUGEPAGE calls */
    uint64_t threads_live;         /* threads holding a heap now */
    uint64_t threads_started;      /* threads that ever took a heap */
    uint64_t heaps_created;        /* heaps created (thread and first-class) */
    uint64_t heaps_waiting;        /* heaps kept for reuse (exited threads, destroyed heaps) */
    uint64_t shared_heaps_live;    /* first-class heaps not destroyed */
    /* Small sizes, per 16-byte step: size = i * 16; live = allocs - frees. Entry 0 is unused. */
    struct arc_stats_class {
        uint64_t size, allocs, frees, live;
    } size_classes[ARC_SIZE_BINS];
};

/* Fills *out with the figures of the moment. Never allocates; safe from any thread. */
ARC_API void arc_stats_get(struct arc_stats *out);
/* Writes the report (ARC_STATS_TEXT or ARC_STATS_JSON: one JSON object on one line) to fp.
 * The figures are taken before anything is written. Returns 0, or -1 (errno EINVAL for an
 * unknown format, or the stream's error). */
ARC_API int arc_stats_print(FILE *fp, int format);

/* True when ptr lies inside arcalloc's heap (any block, live or not). */
ARC_API bool arc_owns(const void *ptr);
/* Name of the byte allocator thread heaps use ("tlsf", "buddy", "slab"). */
ARC_API const char *arc_backend_name(void);

/* First-class heaps, the seed's AllocatorRc: one byte allocator of the caller's choice (NULL or
 * "" for the build default), safe to use from any thread (a mutex inside), freed all at once by
 * arc_heap_destroy. arc_free() and arc_realloc() also accept their blocks. */
typedef struct arc_heap arc_heap_t;
ARC_API arc_heap_t *arc_heap_new(const char *backend);
ARC_API void *arc_heap_malloc(arc_heap_t *heap, size_t size);
ARC_API void *arc_heap_calloc(arc_heap_t *heap, size_t count, size_t size);
ARC_API void *arc_heap_realloc(arc_heap_t *heap, void *ptr, size_t size);
ARC_API void *arc_heap_memalign(arc_heap_t *heap, size_t align, size_t size);
ARC_API void arc_heap_free(arc_heap_t *heap, void *ptr);
ARC_API void arc_heap_destroy(arc_heap_t *heap);
ARC_API size_t arc_heap_used_bytes(arc_heap_t *heap);

#ifdef __cplusplus
}
#endif

#endif /* ARCALLOC_H */
