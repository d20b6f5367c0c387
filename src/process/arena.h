/* arena.h: the process's one reserved address range, its page allocator, its page map (owner
 * of every page, found from a pointer in O(1)) and large page-run allocations. Knows nothing of
 * byte allocators or threads; takes its own lock only on slow paths. */
#ifndef ARC_ARENA_H
#define ARC_ARENA_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arcalloc.h"
#include "dirty.h"
#include "ilist.h"
#include "os.h"
#include "report.h"

typedef struct arc_heap arc_heap_t;

/* A large allocation: a run of pages straight from the page allocator. Its descriptor lives
 * in metadata memory; the page map entry of the run's first page points at it. */
typedef struct arc_large {
    arc_heap_t *heap;         /* first-class heap that owns it, or NULL for thread heaps */
    arc_dirty_cache_t *cache; /* where its pages go when it is freed (its heap's cache) */
    /* Secure mode: its heap's cache of guarded runs (arc_arena_guarded_register), where the run
     * goes with its guards still closed when `sealed`; NULL without. */
    arc_dirty_cache_t *guarded;
    uintptr_t addr;
    size_t pages;
    bool sampled; /* the heap profiler holds a sample of this run */
    bool guard;   /* secure mode: arc_guard_pages() after the run, PROT_NONE (not in `pages`) */
    bool dirty;   /* handed out over dirty pages: may hold an earlier block's bytes */
    /* Set by arc_large_move on the old run: its pages were moved away and fresh zero pages
     * mapped back (fresh: freed without a dirty record), or the re-map failed (lost: the range
     * is no longer arcalloc's, its pages stay used in the page allocator forever). */
    bool fresh, lost;
    /* Secure mode: both guards are PROT_NONE (every protect call for them succeeded) and the
     * lead is exactly one guard: the run can wait in `guarded` as it is. */
    bool sealed;
    uint32_t lead;         /* secure mode: PROT_NONE pages before addr in its run (0 without) */
    arc_ilist_link_t link; /* in heap->large (first-class heaps), or the arena's free list */
} arc_large_t;

/* Page map entries: 0 = no large run starts in this page; (arc_large_t * | ARC_MAP_LARGE) for a
 * large run's first page. Heap segments are in the segment map, not here. */
#define ARC_MAP_LARGE ((uintptr_t)1)
/* Left in a freed large run's first page until the page is reused: a second free of it is a
 * double free, told apart from a pointer arcalloc never returned. */
#define ARC_MAP_FREED ((uintptr_t)3)

/* The segment map's unit: heap segments are this big and aligned to it (heap.h pins that), so
 * free finds a small block's segment in a map of a few cache lines instead of the page map. */
#define ARC_SEGMENT_SIZE ((size_t)1 << 20)

/* Requests above this go to page runs directly; below, to a heap's byte allocator. 128 KiB is
 * where glibc starts mmap'ing too, so programs tuned for glibc see familiar behaviour. */
#define ARC_LARGE_THRESHOLD ((size_t)128 << 10)
/* Alignments above this go to page runs: the page allocator aligns for free. */
#define ARC_HEAP_MAX_ALIGN ((size_t)ARC_PAGE_SIZE)
/* realloc moves a large block that cannot grow in place with mremap (arc_large_move) from this
 * size up; below, a copy costs less than the two system calls (a 1 MiB memcpy is ~50 us, an
 * mremap plus an mmap a few us, and the page-table work grows with the size too). */
#define ARC_LARGE_MOVE_MIN ((size_t)1 << 20)
/* Secure mode's guard, PROT_NONE, before and after every large run and at every segment's end:
 * one OS page (arc_guard_pages), so one of arcalloc's pages under 4 KiB OS pages and 16 under
 * 64 KiB ones. Guards are kept up to OS pages of this size; above it, secure mode runs without
 * them. (Guards of 1 MiB around large runs, which would also stop a store 1 MiB beyond either
 * end, would cost 2 MiB of the window per live run and change where the dirty cache places
 * runs: not done.) */
#define ARC_GUARD_MAX_BYTES ((size_t)64 << 10)
#define ARC_GUARD_MAX_PAGES (ARC_GUARD_MAX_BYTES / ARC_PAGE_SIZE)
/* Secure mode's quarantine of freed large runs: a freed run cannot be handed out again before
 * this many large runs freed after it into the same heap's cache (arc_dirty_register_whole's
 * delay), so the next request never gets the run just freed. Each waiting run keeps its pages
 * committed and forces a run of fresh pages in its place: measured at scale 0.3 against no
 * quarantine (docs/security.md), 1 costs bench/large 0.56 s against 0.44 s (13.0 K page faults
 * against 11.4 K), 2 costs 0.63 s (18.8 K), 4 costs 0.70 s (20.9 K), 8 costs 1.12 s (54.5 K)
 * and 35 % more RSS. */
#define ARC_LARGE_QUARANTINE_RUNS 1u

/* arcalloc pages per guard: one OS page (0 when the OS page exceeds ARC_GUARD_MAX_BYTES). A
 * guarded large run starts and ends on OS pages, so that its guard is whole OS pages. */
static inline size_t arc_guard_pages(void)
{
    size_t os_page = arc_os_page_size();
    return os_page <= ARC_GUARD_MAX_BYTES ? os_page / ARC_PAGE_SIZE : 0;
}
/* The smallest reservation accepted when the OS refuses the full address_space: eight segments
 * (a program under a tight RLIMIT_AS still runs). */
#define ARC_ARENA_MIN_RESERVE ((size_t)8 << 20)
/* Under valgrind memcheck shadows every reserved byte, and 64 GiB takes it a minute: 2 GiB. */
#define ARC_ARENA_VALGRIND_RESERVE ((size_t)2 << 30)

/* Transparent huge pages (docs/design.md, "Huge pages"). The size of one: the kernel's PMD size
 * on x86-64 (and on arm64 with 4 KiB pages); a kernel reporting another size gets none asked
 * for. A huge page backs an aligned pair of segments, or large runs, or a mix. */
#define ARC_HUGE_PAGE_SIZE ((size_t)2 << 20)
_Static_assert(ARC_HUGE_PAGE_SIZE % ARC_SEGMENT_SIZE == 0,
               "a huge page holds whole segments, so a segment never straddles two");
/* ARCALLOC_HUGEPAGES=auto: huge pages are asked for once this many bytes are in use in large runs
 * and in heap segments beyond each heap's first (arena.c, huge_in_use): 3 MiB, so one heap turns
 * them on at 4 MiB of segments. A huge page makes its whole 2 MiB resident on the first touch,
 * where 4 KiB pages fault in only what is touched: a hello world (one segment) would double its
 * RSS, a python3 start-up (3.6 MiB of pages at its peak) grow by a third, and a pool of 64
 * threads with a few dozen KiB each in their one segment grow from 12 to 67 MB. Below the
 * threshold the faults huge pages would save are at most 1 024 (about 15 ms at this machine's 15
 * us a fault). Above it every 2 MiB touched costs one fault, not 512; but pages touched before
 * stay 4 KiB pages as long as their 2 MiB extent is partly in use, so a higher threshold costs a
 * busy heap dearly (bench/largethreads, 18 MiB live: 968 faults and 0.06 s at 4 MiB of
 * segments, 2 003 and 0.13 s at 8 MiB, 14 247 and 1.1 s at 16 MiB). */
#define ARC_HUGE_AUTO_BYTES ((size_t)3 << 20)
/* ... or once more than this is in use in large runs alone, when the runs handed out before are
 * dense (arena.c, huge_dense: a server's sparse read buffers are not); a huge page over dense runs
 * wastes at most the part of the last extent they do not reach, not the untouched rest of small
 * heaps' segments; and the runs taken before the switch stay on 4 KiB pages for as long as their
 * extent holds any (16
 * threads cycling blocks of 130-530 KiB, bench/largethreads: the first 3 MiB of runs took 768
 * of its 1 100 faults). One segment's worth: the switch comes before the runs that follow the
 * first segment leave its huge page extent. */
#define ARC_HUGE_AUTO_RUN_BYTES ARC_SEGMENT_SIZE
/* ... in this many live runs at least: a program keeping one big buffer beside a small heap is
 * a small program still (one 1.1 MiB buffer: 3.0 MB of RSS, 5.9 MB with the huge page its run's
 * end reaches into), while one cycling many runs goes on taking fresh extents. */
#define ARC_HUGE_AUTO_RUNS 4u
/* ... and given up again (MADV_NOHUGEPAGE: new faults get 4 KiB pages) when no more than one
 * segment's worth is in use so counted: the program freed its big heap, and what it allocates
 * next is a small heap again (tests/test_rss.c: after freeing 1 GiB, the next segment in a huge
 * page kept RSS 0.7 MiB above its start). Below the threshold, so a heap hovering near either
 * does not switch back and forth. A run a dirty cache hands back switches nothing (arena.c,
 * arc_arena_pages_alloc), so a big block freed and taken again beside a small heap does not
 * switch them at every cycle (tests/process/test_hugepages.c, `reuse`). */
#define ARC_HUGE_AUTO_OFF_BYTES ARC_SEGMENT_SIZE
_Static_assert(ARC_HUGE_AUTO_OFF_BYTES < ARC_HUGE_AUTO_BYTES, "off below on");
/* ... and only over heaps the program touches densely (arena.c, huge_dense): when the threshold
 * is reached, the heaps' segments must be resident at 1/ARC_HUGE_DENSE_DIV of their bytes at
 * least. A program that writes its medium blocks sparsely (20 000 connection buffers of 64 KiB
 * with the first 2 KiB of each used) would otherwise have every 2 MiB extent resident whole:
 * 1.3 GB of RSS where 4 KiB pages keep 114 MB. Half: a buffer grown by doubling has at least
 * half of it written. */
#define ARC_HUGE_DENSE_DIV 2u
/* Segments of fewer bytes than this (besides the one just taken) are too little to judge by, and
 * count as dense: a program's first big run turns huge pages on, as its pages will be written. */
#define ARC_HUGE_EVIDENCE_BYTES ARC_SEGMENT_SIZE
/* Large runs handed out (and begun: one page of them resident) before the one being taken are
 * evidence from half that: runs are written as they come, and the program's first few are what
 * decides whether a program cycling many of them gets huge pages before its first megabytes of
 * runs have gone by on 4 KiB pages (bench/largethreads: 1 016 faults at a whole segment's worth,
 * 524 before runs were judged at all). */
#define ARC_HUGE_RUN_EVIDENCE_BYTES (ARC_SEGMENT_SIZE / 2)
/* Large runs one look judges at most (arena.c, huge_runs_tally), the nearest below the top: one
 * mincore call each (about 1-2 us here), so a heap of thousands of runs costs a tenth of a
 * millisecond a look, a few dozen looks as it grows to gigabytes. At 256 a server growing to
 * 2 000 read buffers made 3 349 calls (bench/readbufs, 23 looks), 1 264 at 64: 64 runs of
 * 128 KiB or more are 8 MiB of evidence, sixteen times ARC_HUGE_RUN_EVIDENCE_BYTES. */
#define ARC_HUGE_JUDGE_RUNS 64u
/* Heaps found sparse are judged again once the bytes in use have grown by 1/this (a quarter): a
 * program that grows to N bytes is judged about log(N)/log(1.25) times, one mincore call a
 * segment each time. */
#define ARC_HUGE_RECHECK_GROWTH 4u
/* Huge pages cover the window only so far ahead of the heap (arena.c, huge_update): to
 * ARC_HUGE_AHEAD times its reach when they go on or are extended, and ARC_HUGE_AHEAD_MIN at
 * least. A heap that grows past that end does so on 4 KiB pages until ARC_HUGE_STRETCH_BYTES of
 * the window lie there, and the segments there are judged as the first were: dense, the part
 * asking for huge pages grows again; sparse, it stays (the stretch is judged again at each growth
 * by a quarter); no segment, large runs, taken as dense. Without this a program whose first big
 * run turned huge pages on (a 4 MiB table) had every later 2 MiB extent resident whole however
 * sparsely it wrote its blocks: 20 000 buffers of 64 KiB with 2 KiB of each used took 1.37 GB of
 * RSS where glibc takes 126 MB (now 246 MB). Each extension costs a dense heap one huge page
 * extent on 4 KiB pages, 512 faults: none up to 64 MiB, then one per growth by four. The 64 MiB
 * bounds what a sparse heap can lose to huge pages before it is judged, and keeps every dense heap
 * of bench/ within the first frontier (bench/frag, 50 MiB: 161 faults; at four times the reach
 * only, 670). Huge pages turned on by runs alone, with no segment to judge by, cover only the
 * runs until the segments after them are judged (arc_arena_t.huge_provisional): a sparse heap
 * after a big table no longer has the first 64 MiB resident whole (bench/connbufs 149 -> 99 MiB),
 * for one extent of 4 KiB pages in a dense one (bench/frag 171 -> 685 faults). */
#define ARC_HUGE_AHEAD         4u
#define ARC_HUGE_AHEAD_MIN     ((size_t)64 << 20)
#define ARC_HUGE_STRETCH_BYTES ARC_HUGE_PAGE_SIZE
/* A provisional cover (huge_provisional) follows fresh runs until the heap's reach has grown to
 * this many times what it was when a look last found the runs dense, or by ARC_HUGE_COVER_MIN
 * when that is more. A run starting past that keeps its head on 4 KiB pages (arena.c,
 * huge_head_end) and, while that look was dense, asks for huge pages over the rest; the heads
 * there are judged once ARC_HUGE_RUN_EVIDENCE_BYTES of them lie past the cover: dense, the cover
 * moves on; sparse, no more tails. So a program whose first buffers are filled and whose later
 * ones are scattered sparsely has at most this much more of them resident whole (test_hugepages
 * `lateruns`: 29 MB where it had 196), and one whose runs stay dense loses one head to 4 KiB
 * pages each time (bench/large: 313 -> 836 faults; `bigruns`). 16 MiB at least: a table of a
 * few MiB and then sparse buffers had 75 MB resident and took 0.18-0.27 s (glibc: 13 MB, 0.01 s)
 * when the least was 64 MiB, the kernel clearing every huge page the buffers reached; 29 MB and
 * 0.01-0.05 s now, for more looks in programs that only cycle runs (bench/largethreads 554 ->
 * 1 559 faults, alignedruns 450 -> 1 471). */
#define ARC_HUGE_COVER_GROWTH 4u
#define ARC_HUGE_COVER_MIN    ((size_t)16 << 20)
_Static_assert(ARC_HUGE_COVER_GROWTH >= 2, "the cover can follow fresh runs at all");

/* Where the window stands with huge pages. */
typedef enum arc_huge_state {
    ARC_HUGE_NONE,    /* not asked for: off, the kernel's mode is never, or under valgrind */
    ARC_HUGE_WAITING, /* auto: asked for once ARC_HUGE_AUTO_BYTES are in use (again) */
    ARC_HUGE_ACTIVE,  /* MADV_HUGEPAGE is on the window */
} arc_huge_state_t;

typedef struct arc_arena {
    uintptr_t base; /* window start; 0 until initialised */
    /* Window bytes (address_space, or less if the OS refused); under RLIMIT_AS it grows, under
     * the lock, up to `reach` (arena.c, window_grow_locked), and is read without the lock. */
    size_t size;
    size_t reach;  /* bytes from base the page and segment maps cover: the most size can become */
    uintptr_t top; /* PROT_NONE from here up (arena.c); only raised, under the lock */
    uintptr_t *pagemap; /* one entry per page: large runs (ARC_MAP_LARGE) */
    uintptr_t *segmap;  /* one entry per ARC_SEGMENT_SIZE: the heap segment filling it, or 0 */
    arc_pages_t *pages;
    pthread_mutex_t lock; /* guards pages, metadata and the large free list */
    arc_os_bump_t meta;   /* heaps, large-run descriptors */
    arc_large_t *large_free;
    /* Secure mode (docs/security.md), set once at start-up: guard pages, encoded free lists. */
    bool secure;
    uintptr_t secure_key; /* per-process random key of the encoded free-list links */
    /* Figures: bytes of segments held by heaps and of live large runs (what dirty caches may
     * keep depends on them), kept without the lock; the page allocator's peak, under it. */
    _Atomic size_t segment_bytes, large_bytes, large_count, large_allocs;
    /* Bytes of the segments that are their heap's only one (huge pages weigh heaps beyond them). */
    _Atomic size_t only_segment_bytes;
    size_t peak_pages;
    /* Huge pages, set at start-up but `huge`, an arc_huge_state_t that `auto` (huge_auto)
     * switches between WAITING and ACTIVE; huge_refuse: the kernel's mode is always, so the
     * window carries MADV_NOHUGEPAGE whenever huge pages are not on. */
    _Atomic int huge;
    bool huge_auto, huge_refuse;
    /* `auto` found the window sparse: it is judged again when this many bytes are in use. */
    _Atomic size_t huge_recheck;
    /* While huge pages are on, the end of the part of the window that asks for them: the heap
     * grows past it on 4 KiB pages until that stretch has been judged (arena.c, huge_update). */
    _Atomic uintptr_t huge_end;
    /* Huge pages went on with no segments to judge by (the program's first big runs): huge_end
     * then covers only the runs taken so far, a fresh run past it moves it over that run, and
     * the segments past it are judged as soon as ARC_HUGE_EVIDENCE_BYTES of them lie there, a
     * dense stretch moving it ARC_HUGE_AHEAD on (arena.c, huge_update). */
    _Atomic bool huge_provisional;
    /* While it is: a fresh run starting past this stays on 4 KiB pages (ARC_HUGE_COVER_GROWTH),
     * but for the whole huge pages past its head while `huge_tails` (the last look at the runs
     * found them dense). */
    _Atomic uintptr_t huge_cover_limit;
    _Atomic bool huge_tails;
} arc_arena_t;

extern arc_arena_t arc_arena;

/* Idempotent; false when the address range could not be reserved. Not thread-safe on its own:
 * the caller (thread.c) serialises the first call. Also decides secure mode (ARCALLOC_SECURE)
 * and draws its key, before any block exists. */
bool arc_arena_init(void);
/* Zeroed metadata that lives as long as the process. NULL when the OS refuses. */
void *arc_arena_meta_alloc(size_t size);
/* A run of pages aligned to `align`: a run `cache` kept (committed, old bytes: *dirty set), else
 * fresh zero-filled pages from the page allocator. When the range is full every cache gives its
 * runs back and the page allocator is asked once more. 0 when it cannot. `run`: the pages are
 * for a large block, not a segment (huge pages go on sooner for runs: ARC_HUGE_AUTO_RUN_BYTES).
 * With `got` set, a cached run may come with a small rest beyond `pages` (arc_dirty_take_fit):
 * the pages of the run in *got. */
uintptr_t arc_arena_pages_alloc(arc_dirty_cache_t *cache, size_t pages, size_t align, bool run,
                                bool *dirty, size_t *got);
/* The run goes to `cache` (kept committed until it decays, within a budget) or, when cache is
 * NULL, back to the OS at once. */
void arc_arena_pages_free(arc_dirty_cache_t *cache, uintptr_t addr, size_t pages);
/* Gives the run [addr, addr + pages pages) back for good: decommitted, then free in the page
 * allocator. The dirty caches' release function (dirty.h). */
void arc_arena_run_release(uintptr_t addr, size_t pages);
/* The run [addr, addr + pages pages), the caller's, loses its pages (decommitted): they read as
 * zero and fault in again as they are touched. For a cached run the caller wants clean. */
void arc_arena_run_decommit(uintptr_t addr, size_t pages);
/* Gives back every cached run of every cache (malloc_trim); true when there was any. */
bool arc_arena_purge(void);
/* A heap segment of ARC_SEGMENT_SIZE bytes at seg enters (or leaves) the segment map, and the
 * figures of segment bytes held. `only`: it is (or was) its heap's only segment. */
void arc_arena_segment_add(uintptr_t seg, bool only);
void arc_arena_segment_remove(uintptr_t seg, bool only);

/* A large run, placed on a run of `cache` when one fits (its pages go back there when it is
 * freed). It comes zero-filled unless it was placed on dirty pages: then it may hold an earlier
 * block's bytes and large->dirty is set (calloc clears only those runs). Secure mode: `guarded`
 * (NULL: none) is the heap's cache of guarded runs: a freed run whose guards are closed waits
 * there as it is, guards and all, and a request its size fits takes it back without changing
 * any protection (one protect call when a bigger run is split); its body is checked zero in
 * samples (arena.c), so it counts as dirty for calloc. */
void *arc_large_alloc(arc_heap_t *owner, arc_dirty_cache_t *cache, arc_dirty_cache_t *guarded,
                      size_t size, size_t align);
/* Pages of the body of a run for `size` bytes aligned to `align` (a power of two; `guard`:
 * secure mode's guarded run, whose body is whole OS pages): its usable size. */
size_t arc_large_body_pages(size_t size, size_t align, bool guard);
/* Secure mode: c becomes a cache of guarded runs, each [guard][body][guard] with both guards
 * PROT_NONE; a run it gives back is made accessible before its pages are free. */
void arc_arena_guarded_register(arc_dirty_cache_t *c);
/* Frees the run: its pages go to its cache, committed, until they decay (a sealed secure run:
 * to its guarded cache, guards closed). */
void arc_large_free(void *p, arc_large_t *large);
/* Zeroes [p, p + bytes) of a large block (or any range of whole words): resident pages by
 * stores, the others given back where the system swaps (and left alone where it does not: they
 * read as zero), so that pages the program never touches stay out of the resident set. True when
 * every page was resident. */
bool arc_large_clear(void *p, size_t bytes);
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
    if (off >= __atomic_load_n(&arc_arena.size, __ATOMIC_RELAXED))
        return 0;
    uintptr_t seg = arc_arena.segmap[off / ARC_SEGMENT_SIZE];
    return seg ? seg : arc_arena.pagemap[off / ARC_PAGE_SIZE];
}

/* The heap segment holding p, or 0 when p is not in one (outside the window, in a large run, in
 * free pages). */
static inline uintptr_t arc_arena_segment(const void *p)
{
    uintptr_t off = (uintptr_t)p - arc_arena.base;
    if (off >= __atomic_load_n(&arc_arena.size, __ATOMIC_RELAXED))
        return 0;
    return arc_arena.segmap[off / ARC_SEGMENT_SIZE];
}

static inline bool arc_arena_contains(const void *p)
{
    return (uintptr_t)p - arc_arena.base < __atomic_load_n(&arc_arena.size, __ATOMIC_RELAXED);
}

/* p is in the window but no block starts on its page: reports it as a pointer into the middle of
 * a large run, or as one arcalloc never returned, and aborts. */
_Noreturn void arc_arena_report_stray(const void *p, arc_op_t op);

/* The arena's figures, for the reports. */
typedef struct arc_arena_figures {
    size_t segment_bytes, large_bytes, large_count, window_bytes;
    size_t page_total, page_used, page_available, page_peak;
} arc_arena_figures_t;
void arc_arena_figures(arc_arena_figures_t *out);

/* Secure mode and its key, decided at start-up (docs/security.md). */
static inline bool arc_arena_secure(void)
{
    return arc_arena.secure;
}

/* Whether MADV_HUGEPAGE is on the window now (docs/design.md, "Huge pages"). */
static inline bool arc_arena_huge_active(void)
{
    return atomic_load_explicit(&arc_arena.huge, memory_order_relaxed) == ARC_HUGE_ACTIVE;
}

static inline uintptr_t arc_arena_secure_key(void)
{
    return arc_arena.secure_key;
}

/* Fork support: the lock is taken before fork and released after it in the parent, reset in the
 * child. */
void arc_arena_lock(void);
void arc_arena_unlock(void);
void arc_arena_fork_child(void);

#endif
