/* dirty.h: page runs kept committed after they are freed ("dirty"), so that the next large block
 * or segment placed on them takes no page fault, and their decay: a run not reused within the
 * decay time goes back to the OS, by the purger thread even while the program is idle.
 * A cache holds address ranges and nothing else: it knows nothing of heaps, segments or large
 * blocks, and one release function (set by whoever owns the pages: the arena) gives a range
 * back. Never calls malloc; never holds a cache lock while it releases a run or takes another
 * lock. */
#ifndef ARC_DIRTY_H
#define ARC_DIRTY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Runs an ordinary cache keeps at once. A thread that replaces many large blocks at random (a
 * server's 2 000 read buffers of 128-384 KiB, bench/readbufs) leaves freed runs between live
 * ones, none touching: about one hole for every two live blocks, as in any heap that places
 * blocks first-fit. With 32 slots three frees in four ended in a madvise call and the next take
 * faulted fresh pages in; with 128 (and a block taking a run's small rest, ARC_DIRTY_FIT_DIV)
 * 1 662 of 22 000 frees did, with 512 40 (readbufs task-clock 26.5 -> 21.9 ms). A take or put
 * scans only the slots in use, packed, four a vector: 512 of them are a microsecond. */
#define ARC_DIRTY_SLOTS 512u
/* Runs a held or whole cache keeps at once (their own bounds: held runs are pages their owner
 * keeps resident inside its segments, whole runs secure mode's guarded runs, each a mapping). */
#define ARC_DIRTY_FEW_SLOTS 128u

/* The default decay: a freed run not reused within a second goes back. Programs that reuse a
 * buffer do so within microseconds; one second keeps a run over a pause between two phases
 * (jemalloc's default is ten seconds, mimalloc's purge delay is of the same order as ours). */
#define ARC_DIRTY_DEFAULT_DECAY_MS 1000

typedef struct arc_dirty_run {
    uintptr_t addr;
    size_t pages;
    uint64_t freed_ns; /* when it was put (arc_os_now_ns): it decays from then */
    uint32_t parts;    /* whole caches: how many runs put make it (merged when they touched) */
    bool marked;       /* its first 16 bytes hold its mark */
    bool waiting;      /* a delaying cache's run still in quarantine: not taken, not merged */
} arc_dirty_run_t;

/* Gives [addr, addr + pages * ARC_PAGE_SIZE) back for good (decommits it and frees its pages).
 * Called without any cache lock held. */
typedef void arc_dirty_release_fn(uintptr_t addr, size_t pages);

typedef struct arc_dirty_cache {
    pthread_mutex_t lock; /* held only for a scan of run[]; never across a system call */
    /* A cache of whole runs (arc_dirty_register_whole): a run is never carved or released in
     * part, is taken with the count of runs put that make it, and goes back through `release`. */
    bool whole;
    /* A held cache (arc_dirty_register_held): its runs are its owner's for good (pages inside
     * memory the owner keeps), never taken by anyone else, and go back under its lock. */
    bool held;
    arc_dirty_release_fn *release; /* NULL: arc_dirty_setup's */
    /* A whole cache's quarantine: a run put waits until this many runs put after it wait too,
     * before it can be taken or merged (arc_dirty_register_whole); 0: none. */
    uint32_t delay;
    uint32_t capacity; /* slots of run[] it uses: ARC_DIRTY_SLOTS, or ARC_DIRTY_FEW_SLOTS */
    uint32_t count;
    size_t pages;                     /* sum of run[].pages */
    void *spare;                      /* the owner's recycled metadata blocks (arc_dirty_spare_*) */
    struct arc_dirty_cache *next_all; /* every registered cache, for the purger */
    /* run[i]'s first page and pages (run[] is below), packed 32 bits each for the scans of a
     * take and a put, four slots a vector (dirty.c, "scans"): as whole structs those scans were
     * three fifths of the instructions of a server replacing read buffers (bench/readbufs: 2 500
     * a take, 2 800 a put, over 128 slots). Page numbers are kept modulo 2^32: they tell apart
     * every page of a range of 16 TiB, and a cache's runs lie in one window of at most 1 TiB. A
     * run's end page is computed in the scan (one vector add) rather than kept: each slot a
     * removal moves is 44 bytes, not 52 (readbufs: 16.7 -> 11.9 million instructions of memmove).
     */
    _Alignas(16) uint32_t starts[ARC_DIRTY_SLOTS];
    _Alignas(16) uint32_t sizes[ARC_DIRTY_SLOTS];
    /* Last: a cache that uses a few slots (a thread's, ARC_DIRTY_FEW_SLOTS) touches the pages of
     * its first entries only, and the fields above share pages with the packed arrays. */
    arc_dirty_run_t run[ARC_DIRTY_SLOTS]; /* oldest first; they never overlap or touch */
} arc_dirty_cache_t;

/* Starts a detached thread running fn(arg) (arc_os_thread_start's contract); false when it
 * cannot. The process allocator passes one whose allocations stay out of the program's heaps. */
typedef bool arc_dirty_thread_start_fn(void *(*fn)(void *), void *arg, size_t stack_bytes,
                                       const char *name);

/* Start-up, once, before any cache is used: how runs go back, the decay time (0: nothing is
 * kept, every put releases at once), how to start the purger thread (NULL: none; expired runs
 * then go back only when the allocator is used), and whether runs are memory the cache may mark
 * (`marks`: the first 16 bytes of each cached run of an ordinary cache hold a mark, checked when
 * a take hands the run out from its start; a changed mark is reported as a write after free). */
void arc_dirty_setup(arc_dirty_release_fn *release, uint64_t decay_ns,
                     arc_dirty_thread_start_fn *start_thread, bool marks);
/* A zeroed cache joins the registry the purger walks. Caches are never unregistered. */
void arc_dirty_register(arc_dirty_cache_t *c);
/* The same for a cache of whole runs: runs put in it merge with runs they touch as in any cache,
 * but are never carved or released in part (over the budget or the slots a run goes back whole),
 * and a take says how many runs put make the run it returns, so that an owner who keeps state in
 * its runs (the arena: closed guards) knows whether that state is still the one it put. They go
 * back through `release`. Only arc_dirty_take_whole takes from such a cache, and it is never
 * shared with the other kind. Its runs are not marked (the arena keeps them inaccessible).
 * With `delay` > 0 a run arc_dirty_put puts waits in quarantine: it is neither taken nor merged
 * until `delay` runs put after it wait too (then the oldest waiting run joins the others); it
 * ages, decays and is purged as any run. */
void arc_dirty_register_whole(arc_dirty_cache_t *c, arc_dirty_release_fn *release, uint32_t delay);

/* The same for a held cache: its owner holds runs of pages there while it keeps using the memory
 * around them (the free inside of a heap segment that stays in use), with arc_dirty_hold and
 * arc_dirty_unhold only. No other cache takes them; they are not marked, never merge and do not
 * count in the budget. A run goes back through `release` (which only decommits) with c's lock
 * held, so when arc_dirty_unhold does not find a run, its release is over and its pages read as
 * zero. */
void arc_dirty_register_held(arc_dirty_cache_t *c, arc_dirty_release_fn *release);
/* Holds a run in the held cache c, as freed at since_ns (arc_os_now_ns time; 0: now): a run
 * held again after its owner used part of it keeps the age of its pages. One already that old
 * goes back at once. False (nothing done) when every slot holds a run younger than the decay:
 * the owner keeps using those pages rather than have a run go back before its time. */
bool arc_dirty_hold(arc_dirty_cache_t *c, uintptr_t addr, size_t pages, uint64_t since_ns);
/* Takes [addr, addr + pages pages) out of the held cache c, if a run holds all of it: when that
 * run was held (its since_ns), or 0 when no run does (it went back: decommitted, reads as zero). */
uint64_t arc_dirty_unhold(arc_dirty_cache_t *c, uintptr_t addr, size_t pages);

/* A run of `pages` pages aligned to `align` bytes (a power of two, at least a page) carved from
 * the smallest cached run of c that holds it, else from a run other caches hold (the first of
 * the registry's caches whose lock is free and that has one); what is left of that run stays
 * cached where it was. 0 when none fits. The pages may hold old bytes. */
uintptr_t arc_dirty_take(arc_dirty_cache_t *c, size_t pages, size_t align);
/* Rests a fit leaves in place are at least 1/this of the request: a smaller rest goes with the
 * block (arc_dirty_take_fit). A server replacing 2 000 read buffers of 128-384 KiB at random
 * (bench/readbufs) otherwise carved each freed buffer into the next one and a sliver, the slivers
 * filled the slots, and 9 991 of its 22 000 frees gave a run back with a madvise call: 1 662 with
 * the slivers kept in the blocks (an eighth: 3 237; 256 slots at an eighth: 1 755 calls and 4.5 MB
 * more RSS). A quarter bounds what a block holds beyond its request's pages, and what it keeps
 * resident of that is what the cache held resident already (readbufs' peak RSS 14.2 -> 16.1 MB,
 * its madvise calls' pages that were resident). */
#define ARC_DIRTY_FIT_DIV 4u
/* arc_dirty_take, for an owner who can use more pages than it asked for (a large block): when the
 * run's rest after the block would be less than pages / ARC_DIRTY_FIT_DIV, it comes too. The
 * pages taken in *got (left alone when none fits). With `got` NULL: arc_dirty_take. */
uintptr_t arc_dirty_take_fit(arc_dirty_cache_t *c, size_t pages, size_t align, size_t *got);
/* A whole cache's run (arc_dirty_register_whole) of exactly `pages` pages made of one run put
 * (the first such), else the smallest of exactly `pages` or at least pages + spare_min, taken out
 * whole (c's own runs first, then other whole caches' as arc_dirty_take does); its size in *got
 * and the runs put that make it in *parts. 0 when none fits. */
uintptr_t arc_dirty_take_whole(arc_dirty_cache_t *c, size_t pages, size_t spare_min, size_t *got,
                               size_t *parts);
/* The run of a whole cache that starts at addr, out of its quarantine, of exactly `pages` or at
 * least pages + spare_min, taken out of its slot whole (*got, *parts as arc_dirty_take_whole says
 * them); false when there is none. A guarded run grows in place into the cached run after it. */
bool arc_dirty_take_whole_at(arc_dirty_cache_t *c, uintptr_t addr, size_t pages, size_t spare_min,
                             size_t *got, size_t *parts);
/* arc_dirty_put of a run made of `parts` runs put (what arc_dirty_take_whole said of the run it
 * was cut from): for whole caches. It never waits in the quarantine (it was out of it). */
void arc_dirty_put_parts(arc_dirty_cache_t *c, uintptr_t addr, size_t pages, size_t parts,
                         size_t budget_pages);
/* Calls fn(addr, pages) for every run of c waiting in its quarantine, oldest first, under c's
 * lock (so none of them is taken meanwhile): fn must take no lock and make no system call. */
typedef void arc_dirty_visit_fn(uintptr_t addr, size_t pages);
void arc_dirty_each_waiting(arc_dirty_cache_t *c, arc_dirty_visit_fn *fn);
/* Exactly [addr, addr + pages pages), if c holds all of it (a block growing in place). */
bool arc_dirty_take_at(arc_dirty_cache_t *c, uintptr_t addr, size_t pages);
/* Copies out up to `max` of c's runs, largest first (the caller holds no lock on them after:
 * claim one with arc_dirty_take_at). A miss uses it to grow a cached run into the free pages
 * beside it. Returns how many. */
uint32_t arc_dirty_list(arc_dirty_cache_t *c, arc_dirty_run_t *out, uint32_t max);
/* Keeps a freed run (still committed) for reuse; it merges with cached runs it touches. Runs
 * over the slots, or over `budget_pages` in all caches together (or the highest budget a put
 * was given within the last decay time, when that is more), go back at once (oldest
 * first; over the budget in whole grains, arc_dirty_set_grain), and so do c's expired ones. May
 * start the purger thread: call it where a nested malloc is safe (no arcalloc lock held but a
 * first-class heap's, the heap consistent). */
void arc_dirty_put(arc_dirty_cache_t *c, uintptr_t addr, size_t pages, size_t budget_pages);

/* The program's last thread holding a heap is exiting: the purger thread gives back every cached
 * run and ends, so that it is never what keeps the process alive (a program whose main thread
 * ends with pthread_exit exits once its own threads have). The next put starts it again. */
void arc_dirty_purger_stop(void);

/* Called on allocation paths, where starting a thread is safe: starts the purger thread when the
 * process has other threads and it does not run yet (a put there may be inside a free the C
 * library makes under a lock thread creation takes, and does not start it). A thread's first
 * allocation calls it; other slow paths call arc_dirty_purger_poke_if_wanted. */
void arc_dirty_purger_poke(void);
/* Set when a put could not start the purger (arc_dirty_purger_poke clears it). */
extern _Atomic bool arc_dirty_start_wanted;
static inline void arc_dirty_purger_poke_if_wanted(void)
{
    if (__builtin_expect(atomic_load_explicit(&arc_dirty_start_wanted, memory_order_relaxed), 0))
        arc_dirty_purger_poke();
}

/* The decay time set at start-up (arc_dirty_setup), in nanoseconds. */
uint64_t arc_dirty_decay_ns(void);

/* Runs the budget sends back go back in whole grains of `pages` pages (a power of two; 1 until
 * set): their ends stay cached until they decay. The arena sets a huge page's worth when huge
 * pages may back its runs, so that the budget never splits one shared with live memory. */
void arc_dirty_set_grain(size_t pages);

/* Gives back every run of c that has been cached for the decay time; returns when the oldest
 * remaining one expires (arc_os_now_ns time), or 0 when none is left. */
uint64_t arc_dirty_purge_expired(arc_dirty_cache_t *c, uint64_t now_ns);
/* Gives back every run of c now; true when there was any. */
bool arc_dirty_purge(arc_dirty_cache_t *c);
/* Gives back every run of every cache (malloc_trim, and the arena when the address range is
 * full). True when there was any. */
bool arc_dirty_purge_all(void);

/* The owner's spare metadata blocks (at least a pointer each), recycled under c's lock so that a
 * large block's descriptor needs no global lock. */
void *arc_dirty_spare_pop(arc_dirty_cache_t *c);
void arc_dirty_spare_push(arc_dirty_cache_t *c, void *block);

/* Figures for the statistics: pages cached in all caches but the held ones now, pages in held
 * caches now, pages given back by decay or overflow in all, and whether the purger thread runs. */
typedef struct arc_dirty_figures {
    size_t cached_pages, held_pages, released_pages, released_runs;
    bool purger_running;
} arc_dirty_figures_t;
void arc_dirty_figures(arc_dirty_figures_t *out);

/* Fork: every cache lock is taken before fork and released (parent) or reset (child); the child
 * has no purger thread until its next put starts one. */
void arc_dirty_fork_prepare(void);
void arc_dirty_fork_parent(void);
void arc_dirty_fork_child(void);

#endif
