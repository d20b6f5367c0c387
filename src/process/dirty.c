/* dirty.c: caches of freed page runs that are still committed, their decay by time, and the
 * purger thread that gives expired runs back while the program is idle. Owns the registry of
 * caches and the purger's wake-up; knows nothing of what the runs were (large blocks, segments).
 * Never calls malloc, never releases a run (a system call) with a cache lock held but a held
 * cache's (arc_dirty_register_held), and never takes a second lock while holding a cache lock:
 * cache locks are leaves. */
#include "dirty.h"

#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "arcalloc.h"
#include "os.h"
#include "report.h"

/* The purger never sleeps less than this between two sweeps, so runs that expire one after
 * another cost a wake-up per 10 ms at most. */
#define PURGER_MIN_SLEEP_NS ((uint64_t)10 * 1000 * 1000)
/* A sweep also gives back runs that would expire within 1/8 of the decay: a burst of frees
 * spread over a moment goes back in one wake-up instead of one each. */
#define PURGER_BATCH_DIV 8u
/* The purger's stack: it calls the release function (madvise, a mutex) and nothing deep. */
#define PURGER_STACK_BYTES ((size_t)64 << 10)
#define NS_PER_SEC         ((uint64_t)1000 * 1000 * 1000)
/* Caches a miss looks through for another thread's freed run before fresh pages are taken: the
 * threads of a busy pool, while a miss in a program of thousands of threads stays a short walk
 * (64 peeks at a count, a lock tried only where runs are cached). */
#define SHARE_SCAN_CACHES 64u
/* Runs one locked step can send back (a list on the stack: 2 KiB). Steps that may send back any
 * number of runs (expiry, purges) stop RELEASE_RESERVE short of it and leave the rest for the
 * next step (a put, the purger), or go on after the release under the lock again (purges); what
 * a put or take sends back besides is at most a few runs: the smallest cached, the run being put,
 * the parts of a carve or of a release in grains. */
#define RELEASE_MAX     (ARC_DIRTY_FEW_SLOTS + 2u)
#define RELEASE_RESERVE 8u

static arc_dirty_release_fn *release_fn;
static uint64_t decay_ns = (uint64_t)ARC_DIRTY_DEFAULT_DECAY_MS * 1000 * 1000;
static arc_dirty_thread_start_fn *thread_start;
static bool thread_allowed;
/* Whether runs are memory to mark (arc_dirty_setup), and the marks' per-process key. */
static bool marks_on;
static uint64_t mark_key;

/* Registration is serialised by registry_lock; the list only grows at its head, and a cache's
 * next_all is written before it is published, so the purger walks it without the lock. */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(arc_dirty_cache_t *) all_caches;

static _Atomic size_t total_pages, released_pages, released_runs;
/* Pages in held caches: counted apart, as they are no run anyone else may take, and the budget
 * (the pages cached against the pages in use) is about runs that are. */
static _Atomic size_t held_pages;
/* The budget's memory of the recent past: the highest budget a put was given over the last
 * decay time, and when. */
static _Atomic size_t peak_budget_pages;
static _Atomic uint64_t peak_budget_ns;
/* Pages of the grain a run over the budget goes back in (arc_dirty_set_grain): 1, or a huge
 * page's when huge pages may back the runs. */
static _Atomic size_t budget_grain_pages = 1;

/* The purger sleeps on wake_cond: until the oldest cached run expires, or, with nothing cached,
 * until a put arms it. `armed` is true while the purger knows of cached runs (or is being woken);
 * a put that finds it false wakes it. */
static pthread_mutex_t wake_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake_cond;
static _Atomic bool armed;
static bool purger_started, purger_starting; /* under wake_lock */
static bool purger_stopping;                 /* under wake_lock: arc_dirty_purger_stop */
static _Atomic bool purger_running;

/* A run a locked step sends back: its place alone (RELEASE_MAX of them live on the stack of a
 * free's slow path, 2 KiB). */
typedef struct release_run {
    uintptr_t addr;
    size_t pages;
} release_run_t;

typedef struct release_list {
    uint32_t count;
    release_run_t run[RELEASE_MAX];
} release_list_t;

/* An empty list. Only its count is set: `= {0}` cleared all 2 KiB of it on every put and take
 * (a tenth of a put's instructions). */
#define RELEASE_LIST_EMPTY(l) ((l).count = 0)

static uintptr_t run_end(const arc_dirty_run_t *r)
{
    return r->addr + r->pages * ARC_PAGE_SIZE;
}

static void release_push(release_list_t *l, uintptr_t addr, size_t pages)
{
    if (__builtin_expect(l->count == RELEASE_MAX, 0)) /* the reserve above bounds it: never */
        arc_report_misuse("internal error: too many runs released at once", (void *)addr);
    l->run[l->count++] = (release_run_t){.addr = addr, .pages = pages};
}

/* Whether a step that may send back any number of runs can send back one more. */
static bool release_room(const release_list_t *l)
{
    return l->count + RELEASE_RESERVE < RELEASE_MAX;
}

/* How c's runs go back: its own function (a whole cache's), else the one set at start-up. */
static arc_dirty_release_fn *release_of(const arc_dirty_cache_t *c)
{
    return c->release ? c->release : release_fn;
}

/* The count c's pages are part of. */
static _Atomic size_t *pages_counter(const arc_dirty_cache_t *c)
{
    return c->held ? &held_pages : &total_pages;
}

/* Without any cache lock (a held cache: with its lock): c's runs in l go back through c's
 * release function. */
static void release_all(const arc_dirty_cache_t *c, const release_list_t *l)
{
    arc_dirty_release_fn *release = release_of(c);
    for (uint32_t i = 0; i < l->count; i++) {
        release(l->run[i].addr, l->run[i].pages);
        atomic_fetch_add_explicit(&released_pages, l->run[i].pages, memory_order_relaxed);
    }
    atomic_fetch_add_explicit(&released_runs, l->count, memory_order_relaxed);
}

/* With no decay: a run goes back as it is put, counted as released. */
static void release_now(const arc_dirty_cache_t *c, uintptr_t addr, size_t pages)
{
    release_of(c)(addr, pages);
    atomic_fetch_add_explicit(&released_pages, pages, memory_order_relaxed);
    atomic_fetch_add_explicit(&released_runs, 1, memory_order_relaxed);
}

/* Ends a locked step: the runs it sent back go back after the unlock, but a held cache's go back
 * first, so that once its owner has the lock again no release of its runs is under way: a run
 * not found in it is decommitted already, and the owner may use those pages again. */
static void unlock_and_release(arc_dirty_cache_t *c, const release_list_t *l)
{
    if (c->held)
        release_all(c, l);
    pthread_mutex_unlock(&c->lock);
    if (!c->held)
        release_all(c, l);
}

/* ---- marks: writes into a cached run ---------------------------------------------------------
 * With marks on, a run put in an ordinary cache starts with a mark, two words derived from its
 * address and a per-process key, checked when a take hands the run out from that start. What a
 * carve leaves after the block it takes is not marked: its first page is often one the program
 * never wrote, and the store made it resident for nothing (a server replacing read buffers took
 * 9 000 faults of its 11 500 there, bench/readbufs; marks catch a write at a freed block's start,
 * not in its middle). Nothing of arcalloc writes a
 * cached run, so a changed mark is the program writing a block (a large block, or into a
 * segment's first bytes) after its free: reported as "write after free detected" at the run's
 * address, before the run is handed out again. One 16-byte store per put, one 16-byte load per
 * take. A whole cache's runs are not marked: its owner keeps them inaccessible. */

/* Mixing constant of the mark: 2^64 / golden ratio, odd (Knuth's multiplicative hash). */
#define MARK_MUL ((uint64_t)0x9e3779b97f4a7c15)
/* Shift folding the product's high bits into its low ones. */
#define MARK_FOLD 29

static uint64_t mark_of(uintptr_t addr)
{
    uint64_t x = ((uint64_t)addr ^ mark_key) * MARK_MUL;
    return x ^ (x >> MARK_FOLD);
}

/* Marks run addr; returns whether it did. */
static bool mark_write(const arc_dirty_cache_t *c, uintptr_t addr)
{
    if (!marks_on || c->held || c->whole)
        return false;
    uint64_t *w = (uint64_t *)addr;
    w[0] = mark_of(addr);
    w[1] = ~w[0];
    return true;
}

/* Checks the mark of run addr, taken from its start, when it has one. */
static void mark_check(uintptr_t addr, bool marked)
{
    if (!marked)
        return;
    const uint64_t *w = (const uint64_t *)addr;
    if (w[0] != mark_of(addr) || w[1] != ~mark_of(addr))
        arc_report_misuse("write after free detected", (void *)addr);
}

/* ---- scans over the packed slots -----------------------------------------------------------
 * A take's best fit and a put's search for the runs it touches read the packed 32-bit arrays
 * four slots at a time, in the compiler's generic vectors (SSE2, NEON, or plain words where the
 * CPU has no vectors), with no branch on the data: bench/readbufs' take went from 1 090 to 680
 * instructions, its put's search for touching runs from 880 to 500 (callgrind; over 128 slots a
 * scan is 32 steps of about 20 instructions on SSE2, which has no unsigned compare). Lanes past
 * `count` are masked off. */

typedef uint32_t u32x4_t __attribute__((vector_size(16)));
#define LANES 4u
_Static_assert(ARC_DIRTY_SLOTS % LANES == 0, "the packed arrays are whole vectors");

static uint32_t page_number(uintptr_t addr)
{
    return (uint32_t)(addr / ARC_PAGE_SIZE);
}

static u32x4_t lanes_load(const uint32_t *at)
{
    u32x4_t v;
    memcpy(&v, at, sizeof v);
    return v;
}

static u32x4_t lanes_splat(uint32_t x)
{
    return (u32x4_t){x, x, x, x};
}

/* The slot among the first n whose run is the smallest of at least `pages` pages (the oldest of
 * equals), or ARC_DIRTY_SLOTS. Each lane keeps its best spare (the run's pages beyond the
 * request, unsigned: a run too short wraps above any fit) and that slot's index. */
static uint32_t scan_best_fit(const uint32_t *sizes, uint32_t n, uint32_t pages)
{
    const u32x4_t want = lanes_splat(pages), count = lanes_splat(n), step = lanes_splat(LANES);
    u32x4_t best = lanes_splat(UINT32_MAX - pages), slot = lanes_splat(ARC_DIRTY_SLOTS);
    u32x4_t index = {0, 1, 2, 3};
    for (uint32_t i = 0; i < n; i += LANES) {
        u32x4_t spare = lanes_load(&sizes[i]) - want;
        u32x4_t better = (u32x4_t)((spare < best) & (index < count));
        best = (spare & better) | (best & ~better);
        slot = (index & better) | (slot & ~better);
        index += step;
    }
    uint32_t pick = ARC_DIRTY_SLOTS, pick_spare = UINT32_MAX;
    for (uint32_t l = 0; l < LANES; l++)
        if (slot[l] != ARC_DIRTY_SLOTS &&
            (best[l] < pick_spare || (best[l] == pick_spare && slot[l] < pick)))
            pick = slot[l], pick_spare = best[l];
    return pick;
}

/* The slots among the first n of the run ending at page `start` (*before) and of the run starting
 * at page `end` (*after), or ARC_DIRTY_SLOTS. Runs never overlap, so one run at most is each:
 * lanes gather index + 1 where they match, 0 elsewhere, and an or folds them. */
static void scan_touching(const uint32_t *starts, const uint32_t *sizes, uint32_t n, uint32_t start,
                          uint32_t end, uint32_t *before, uint32_t *after)
{
    const u32x4_t at_start = lanes_splat(start), at_end = lanes_splat(end);
    const u32x4_t count = lanes_splat(n), step = lanes_splat(LANES);
    u32x4_t index = {1, 2, 3, 4}, found_before = lanes_splat(0), found_after = lanes_splat(0);
    for (uint32_t i = 0; i < n; i += LANES) {
        u32x4_t live = (u32x4_t)(index <= count), first = lanes_load(&starts[i]);
        found_before |= index & live & (u32x4_t)(first + lanes_load(&sizes[i]) == at_start);
        found_after |= index & live & (u32x4_t)(first == at_end);
        index += step;
    }
    uint32_t b = 0, a = 0;
    for (uint32_t l = 0; l < LANES; l++)
        b |= found_before[l], a |= found_after[l];
    *before = b ? b - 1 : ARC_DIRTY_SLOTS;
    *after = a ? a - 1 : ARC_DIRTY_SLOTS;
}

/* ---- one cache's slots (its lock held) -------------------------------------------------- */

/* Moves slots [from, from + n) to [to, to + n), in every array that holds them. */
static void slots_move(arc_dirty_cache_t *c, uint32_t to, uint32_t from, size_t n)
{
    memmove(&c->run[to], &c->run[from], n * sizeof c->run[0]);
    memmove(&c->starts[to], &c->starts[from], n * sizeof c->starts[0]);
    memmove(&c->sizes[to], &c->sizes[from], n * sizeof c->sizes[0]);
}

/* Writes r into slot i, in every array that holds it (the pages' counts are the caller's). */
static void slot_set(arc_dirty_cache_t *c, uint32_t i, arc_dirty_run_t r)
{
    c->run[i] = r;
    c->starts[i] = page_number(r.addr);
    c->sizes[i] = (uint32_t)r.pages;
}

static void slot_remove(arc_dirty_cache_t *c, uint32_t i)
{
    c->pages -= c->run[i].pages;
    atomic_fetch_sub_explicit(pages_counter(c), c->run[i].pages, memory_order_relaxed);
    c->count--;
    slots_move(c, i, i + 1, c->count - i);
}

/* Inserts at index i (keeping the slots oldest first is the caller's business); when every slot
 * is taken the run goes back instead. */
static void slot_insert(arc_dirty_cache_t *c, uint32_t i, arc_dirty_run_t r, release_list_t *rel)
{
    if (c->count == c->capacity) {
        release_push(rel, r.addr, r.pages);
        return;
    }
    slots_move(c, i + 1, i, c->count - i);
    slot_set(c, i, r);
    c->count++;
    c->pages += r.pages;
    atomic_fetch_add_explicit(pages_counter(c), r.pages, memory_order_relaxed);
}

static void slot_release_oldest(arc_dirty_cache_t *c, release_list_t *rel)
{
    release_push(rel, c->run[0].addr, c->run[0].pages);
    slot_remove(c, 0);
}

/* Every slot taken: gives back the smallest cached run if it is smaller than `pages` pages (the run
 * being put), and says false; else leaves the slots as they are and says true (the run being put
 * is what goes back). A whole cache gives back its oldest run and says false. Carving leaves
 * remainders smaller than any large request, and giving back the oldest runs first sent the big
 * runs that fit the next requests to the OS while the remainders stayed: a server replacing 2 000
 * read buffers of 128-384 KiB had three frees in four end in a madvise call. */
static bool slot_release_smaller(arc_dirty_cache_t *c, size_t pages, release_list_t *rel)
{
    if (c->whole) {
        slot_release_oldest(c, rel);
        return false;
    }
    uint32_t smallest = 0;
    for (uint32_t i = 1; i < c->count; i++)
        smallest = c->sizes[i] < c->sizes[smallest] ? i : smallest;
    if (c->sizes[smallest] >= pages)
        return true;
    release_push(rel, c->run[smallest].addr, c->run[smallest].pages);
    slot_remove(c, smallest);
    return false;
}

/* Slot i holds r now, a part of the run it held (its age kept): nothing moves. */
static void slot_shrink(arc_dirty_cache_t *c, uint32_t i, arc_dirty_run_t r)
{
    size_t gone = c->run[i].pages - r.pages;
    c->pages -= gone;
    atomic_fetch_sub_explicit(pages_counter(c), gone, memory_order_relaxed);
    slot_set(c, i, r);
}

/* Takes [at, at + pages) out of slot i, which holds it; the parts before and after stay cached
 * in its place, with its age: the one part a carve mostly leaves stays in slot i itself, so the
 * slots after it do not move (twice: out and back), and a second part goes right after it. */
static void slot_carve(arc_dirty_cache_t *c, uint32_t i, uintptr_t at, size_t pages,
                       release_list_t *rel)
{
    arc_dirty_run_t r = c->run[i];
    uintptr_t end = run_end(&r), cut = at + pages * ARC_PAGE_SIZE;
    arc_dirty_run_t head = {.addr = r.addr,
                            .pages = (at - r.addr) / ARC_PAGE_SIZE,
                            .freed_ns = r.freed_ns,
                            .parts = r.parts,
                            .marked = r.marked};
    arc_dirty_run_t tail = {.addr = cut,
                            .pages = (end - cut) / ARC_PAGE_SIZE,
                            .freed_ns = r.freed_ns,
                            .parts = r.parts,
                            .marked = false}; /* no store into pages maybe unused */
    if (head.pages == 0 && tail.pages == 0)
        slot_remove(c, i);
    else
        slot_shrink(c, i, head.pages ? head : tail);
    if (head.pages && tail.pages)
        slot_insert(c, i + 1, tail, rel);
}

/* Over the budget, run i goes back in whole grains: the grains inside it are released and its
 * ends, shorter than a grain each, stay cached in its place with its age (they go back when they
 * decay). Returns the index of the next run to look at: past the ends, or past run i when no
 * whole grain lies inside it. A huge page shared with live memory is so never split into 4 KiB
 * pages by a release the budget forced (docs/design.md, "Huge pages"). */
static uint32_t slot_release_grains(arc_dirty_cache_t *c, uint32_t i, release_list_t *rel)
{
    size_t grain = atomic_load_explicit(&budget_grain_pages, memory_order_relaxed) * ARC_PAGE_SIZE;
    uintptr_t addr = c->run[i].addr, end = run_end(&c->run[i]);
    uintptr_t lo = (addr + grain - 1) & ~(uintptr_t)(grain - 1), hi = end & ~(uintptr_t)(grain - 1);
    if (lo >= hi)
        return i + 1;
    size_t pages = (hi - lo) / ARC_PAGE_SIZE;
    slot_carve(c, i, lo, pages, rel);
    release_push(rel, lo, pages);
    return i + (hi < end) + (lo > addr);
}

static bool expired(const arc_dirty_run_t *r, uint64_t now_ns)
{
    return now_ns - r->freed_ns >= decay_ns && now_ns >= r->freed_ns;
}

/* ---- taking and putting ------------------------------------------------------------------ */

/* Carves the best fit for `pages` pages aligned to `align` out of c's runs (the smallest that
 * holds it); 0 when none fits. With `got` set, the rest of the run after the block goes with it
 * when it is less than a fit's slack (ARC_DIRTY_FIT_DIV), and *got says how many pages were
 * taken. With `wait` false a busy cache is passed over. */
static uintptr_t take_from(arc_dirty_cache_t *c, size_t pages, size_t align, size_t *got, bool wait)
{
    if (c->whole || c->held || __atomic_load_n(&c->count, __ATOMIC_RELAXED) == 0)
        return 0; /* a racy peek: a miss costs no lock; whole and held runs are never carved */
    if (wait)
        pthread_mutex_lock(&c->lock);
    else if (pthread_mutex_trylock(&c->lock) != 0)
        return 0;
    release_list_t rel;
    RELEASE_LIST_EMPTY(rel);
    uint32_t best = ARC_DIRTY_SLOTS;
    /* Page-aligned, a run fits from its start: its size decides alone (the packed scan). */
    if (align == ARC_PAGE_SIZE && pages < UINT32_MAX) {
        best = scan_best_fit(c->sizes, c->count, (uint32_t)pages);
    } else if (align != ARC_PAGE_SIZE) {
        size_t best_pages = SIZE_MAX, bytes = pages * ARC_PAGE_SIZE;
        for (uint32_t i = 0; i < c->count; i++) {
            const arc_dirty_run_t *r = &c->run[i];
            uintptr_t at = (r->addr + align - 1) & ~(uintptr_t)(align - 1), end = run_end(r);
            bool fit = at < end && end - at >= bytes && r->pages < best_pages;
            best = fit ? i : best;
            best_pages = fit ? r->pages : best_pages;
        }
    }
    bool marked = false;
    uintptr_t best_at = 0;
    if (best != ARC_DIRTY_SLOTS) {
        best_at = (c->run[best].addr + align - 1) & ~(uintptr_t)(align - 1);
        marked = best_at == c->run[best].addr && c->run[best].marked;
        size_t rest = (run_end(&c->run[best]) - best_at) / ARC_PAGE_SIZE - pages;
        if (got && rest < pages / ARC_DIRTY_FIT_DIV)
            pages += rest;
        if (got)
            *got = pages;
        slot_carve(c, best, best_at, pages, &rel);
    }
    unlock_and_release(c, &rel);
    mark_check(best_at, marked);
    return best != ARC_DIRTY_SLOTS ? best_at : 0;
}

/* Whether a whole cache's run of `have` pages serves a take of `pages`: exactly, or with at least
 * spare_min pages left for the rest the taker cuts off. */
static bool whole_serves(size_t have, size_t pages, size_t spare_min)
{
    return have == pages || have >= pages + spare_min;
}

/* take_from for a whole cache: the run of exactly `pages`, else the smallest of at least
 * pages + spare_min, taken out of its slot whole. */
static uintptr_t take_whole_from(arc_dirty_cache_t *c, size_t pages, size_t spare_min, bool wait,
                                 size_t *got, size_t *parts)
{
    if (__atomic_load_n(&c->count, __ATOMIC_RELAXED) == 0)
        return 0;
    if (wait)
        pthread_mutex_lock(&c->lock);
    else if (pthread_mutex_trylock(&c->lock) != 0)
        return 0;
    uint32_t best = ARC_DIRTY_SLOTS;
    for (uint32_t i = 0; i < c->count; i++) {
        size_t have = c->run[i].pages;
        if (c->run[i].waiting)
            continue;
        if (have == pages && c->run[i].parts == 1) {
            best = i;
            break;
        }
        if (!whole_serves(have, pages, spare_min))
            continue;
        /* One run put before runs merged (those cost their taker more), then the smallest. */
        if (best == ARC_DIRTY_SLOTS || (c->run[i].parts == 1) > (c->run[best].parts == 1) ||
            ((c->run[i].parts == 1) == (c->run[best].parts == 1) && have < c->run[best].pages))
            best = i;
    }
    uintptr_t addr = 0;
    if (best != ARC_DIRTY_SLOTS) {
        addr = c->run[best].addr;
        *got = c->run[best].pages;
        *parts = c->run[best].parts;
        slot_remove(c, best);
    }
    pthread_mutex_unlock(&c->lock);
    return addr;
}

/* A request of either kind: `align` and `fit` (the pages taken, when the request takes a run's
 * small rest too) for an ordinary cache's carving; `spare_min` and the two answers (got set) for
 * a whole cache's run. */
typedef struct take_request {
    size_t pages, align, spare_min;
    size_t *got, *parts, *fit;
} take_request_t;

static uintptr_t take_any(arc_dirty_cache_t *c, const take_request_t *r, bool wait)
{
    return r->got ? take_whole_from(c, r->pages, r->spare_min, wait, r->got, r->parts)
                  : take_from(c, r->pages, r->align, r->fit, wait);
}

/* c's own runs first. Then, when the caches together hold enough pages, runs other threads
 * freed come before fresh pages: no fault for the taker, and no second copy resident while
 * theirs decay. Only caches of the request's kind are asked, their owners' locks only tried. */
static uintptr_t take_own_then_shared(arc_dirty_cache_t *c, const take_request_t *r)
{
    uintptr_t addr = take_any(c, r, true);
    if (addr || atomic_load_explicit(&total_pages, memory_order_relaxed) -
                        __atomic_load_n(&c->pages, __ATOMIC_RELAXED) <
                    r->pages)
        return addr;
    uint32_t scanned = 0;
    for (arc_dirty_cache_t *other = atomic_load_explicit(&all_caches, memory_order_acquire);
         other && !addr && scanned < SHARE_SCAN_CACHES; other = other->next_all, scanned++)
        if (other != c && !other->held && other->whole == (r->got != NULL))
            addr = take_any(other, r, false);
    return addr;
}

uintptr_t arc_dirty_take(arc_dirty_cache_t *c, size_t pages, size_t align)
{
    return take_own_then_shared(c, &(take_request_t){.pages = pages, .align = align});
}

uintptr_t arc_dirty_take_fit(arc_dirty_cache_t *c, size_t pages, size_t align, size_t *got)
{
    return take_own_then_shared(c, &(take_request_t){.pages = pages, .align = align, .fit = got});
}

uintptr_t arc_dirty_take_whole(arc_dirty_cache_t *c, size_t pages, size_t spare_min, size_t *got,
                               size_t *parts)
{
    return take_own_then_shared(
        c, &(take_request_t){.pages = pages, .spare_min = spare_min, .got = got, .parts = parts});
}

bool arc_dirty_take_whole_at(arc_dirty_cache_t *c, uintptr_t addr, size_t pages, size_t spare_min,
                             size_t *got, size_t *parts)
{
    if (!c->whole || __atomic_load_n(&c->count, __ATOMIC_RELAXED) == 0)
        return false;
    bool found = false;
    pthread_mutex_lock(&c->lock);
    for (uint32_t i = 0; i < c->count && !found; i++) {
        const arc_dirty_run_t *r = &c->run[i];
        if (r->addr != addr || r->waiting || !whole_serves(r->pages, pages, spare_min))
            continue;
        *got = r->pages;
        *parts = r->parts;
        slot_remove(c, i);
        found = true;
    }
    pthread_mutex_unlock(&c->lock);
    return found;
}

/* arc_dirty_take_at, and when it was put in *freed_ns (0 when not found). */
static bool take_at_run(arc_dirty_cache_t *c, uintptr_t addr, size_t pages, uint64_t *freed_ns)
{
    *freed_ns = 0;
    /* A racy peek lets a miss skip the lock, but not in a held cache: a purge there empties the
     * slots before it decommits them under the lock, and its owner must wait for that lock before
     * it writes the pages again (unlock_and_release). */
    if (c->whole || (!c->held && __atomic_load_n(&c->count, __ATOMIC_RELAXED) == 0))
        return false;
    release_list_t rel;
    RELEASE_LIST_EMPTY(rel);
    bool found = false, marked = false;
    pthread_mutex_lock(&c->lock);
    for (uint32_t i = 0; i < c->count; i++) {
        const arc_dirty_run_t *r = &c->run[i];
        if (r->addr <= addr && addr + pages * ARC_PAGE_SIZE <= run_end(r)) {
            marked = addr == r->addr && r->marked;
            *freed_ns = r->freed_ns;
            slot_carve(c, i, addr, pages, &rel);
            found = true;
            break;
        }
    }
    unlock_and_release(c, &rel);
    mark_check(addr, marked);
    return found;
}

bool arc_dirty_take_at(arc_dirty_cache_t *c, uintptr_t addr, size_t pages)
{
    uint64_t freed_ns;
    return take_at_run(c, addr, pages, &freed_ns);
}

uint64_t arc_dirty_unhold(arc_dirty_cache_t *c, uintptr_t addr, size_t pages)
{
    uint64_t freed_ns;
    take_at_run(c, addr, pages, &freed_ns);
    return freed_ns;
}

void arc_dirty_each_waiting(arc_dirty_cache_t *c, arc_dirty_visit_fn *fn)
{
    if (c->delay == 0 || __atomic_load_n(&c->count, __ATOMIC_RELAXED) == 0)
        return;
    pthread_mutex_lock(&c->lock);
    for (uint32_t i = 0; i < c->count; i++)
        if (c->run[i].waiting)
            fn(c->run[i].addr, c->run[i].pages);
    pthread_mutex_unlock(&c->lock);
}

uint32_t arc_dirty_list(arc_dirty_cache_t *c, arc_dirty_run_t *out, uint32_t max)
{
    if (__atomic_load_n(&c->count, __ATOMIC_RELAXED) == 0)
        return 0;
    uint32_t n = 0;
    pthread_mutex_lock(&c->lock);
    for (uint32_t i = 0; i < c->count; i++) {
        if (n == max && c->sizes[i] <= out[max - 1].pages)
            continue; /* no larger than the smallest kept: most runs, read packed */
        /* Insertion by size, largest first; past `max` the smallest drop off. */
        uint32_t at = n < max ? n : max;
        while (at > 0 && out[at - 1].pages < c->run[i].pages) {
            if (at < max)
                out[at] = out[at - 1];
            at--;
        }
        if (at < max)
            out[at] = c->run[i];
        if (n < max)
            n++;
    }
    pthread_mutex_unlock(&c->lock);
    return n;
}

static void purger_start_once(void);
static void purger_arm(void);

/* The budget a put works to: the highest given in the last decay time, so that a program whose
 * live set swings (a few buffers of very different sizes, freed and taken in turn) keeps its
 * freed runs through the troughs instead of giving them back and faulting them in again at the
 * next peak. Racy on purpose: two puts at once may each keep their own peak for a while. */
static size_t budget_recent(size_t budget_pages, uint64_t now)
{
    size_t peak = atomic_load_explicit(&peak_budget_pages, memory_order_relaxed);
    uint64_t at = atomic_load_explicit(&peak_budget_ns, memory_order_relaxed);
    if (budget_pages < peak && now - at < decay_ns && now >= at)
        return peak;
    atomic_store_explicit(&peak_budget_pages, budget_pages, memory_order_relaxed);
    atomic_store_explicit(&peak_budget_ns, now, memory_order_relaxed);
    return budget_pages;
}

/* Takes every ready run touching r out of its slot and into r (one slot, and a later take can
 * use both); a merged run is as young as its youngest part. */
static void merge_one(arc_dirty_cache_t *c, uint32_t i, arc_dirty_run_t *r)
{
    const arc_dirty_run_t *o = &c->run[i];
    if (o->addr < r->addr) {
        r->addr = o->addr;
        r->marked = o->marked;
    }
    r->pages += o->pages;
    r->parts += o->parts;
    if (o->freed_ns > r->freed_ns)
        r->freed_ns = o->freed_ns;
    slot_remove(c, i);
}

static void merge_touching(arc_dirty_cache_t *c, arc_dirty_run_t *r)
{
    /* Runs never overlap: one at most ends where r starts, one at most starts where it ends
     * (and ready runs never touch each other, so none touches those two either). */
    uint32_t before, after;
    scan_touching(c->starts, c->sizes, c->count, page_number(r->addr), page_number(run_end(r)),
                  &before, &after);
    if (before != ARC_DIRTY_SLOTS && c->run[before].waiting)
        before = ARC_DIRTY_SLOTS;
    if (after != ARC_DIRTY_SLOTS && c->run[after].waiting)
        after = ARC_DIRTY_SLOTS;
    /* The higher slot first: removing it leaves the lower one's index as it was. */
    uint32_t high = before, low = after;
    if (high == ARC_DIRTY_SLOTS || (low != ARC_DIRTY_SLOTS && low > high))
        high = after, low = before;
    if (high != ARC_DIRTY_SLOTS)
        merge_one(c, high, r);
    if (low != ARC_DIRTY_SLOTS)
        merge_one(c, low, r);
}

/* Inserts r where its age puts it (the slots stay oldest first). */
static void slot_insert_aged(arc_dirty_cache_t *c, arc_dirty_run_t r, release_list_t *rel)
{
    uint32_t at = c->count;
    while (at > 0 && c->run[at - 1].freed_ns > r.freed_ns)
        at--;
    slot_insert(c, at, r, rel);
}

/* The quarantine: while more than c->delay runs wait, the oldest waiting one joins the ready
 * runs (merged with those it touches). */
static void quarantine_advance(arc_dirty_cache_t *c, release_list_t *rel)
{
    uint32_t waiting = 0, oldest = ARC_DIRTY_SLOTS;
    for (uint32_t i = 0; i < c->count; i++)
        if (c->run[i].waiting) {
            waiting++;
            if (oldest == ARC_DIRTY_SLOTS)
                oldest = i;
        }
    if (waiting <= c->delay)
        return;
    arc_dirty_run_t r = c->run[oldest];
    r.waiting = false;
    slot_remove(c, oldest);
    merge_touching(c, &r);
    slot_insert_aged(c, r, rel);
}

/* Puts a run made of `parts` runs put; `wait`: into the quarantine of a delaying cache. */
static void put_run(arc_dirty_cache_t *c, uintptr_t addr, size_t pages, size_t parts,
                    size_t budget_pages, bool wait)
{
    if (decay_ns == 0) {
        release_now(c, addr, pages);
        return;
    }
    purger_start_once();
    bool marked = mark_write(c, addr); /* still the caller's: no lock needed */
    uint64_t now = arc_os_now_ns();
    budget_pages = budget_recent(budget_pages, now);
    release_list_t rel;
    RELEASE_LIST_EMPTY(rel);
    pthread_mutex_lock(&c->lock);
    while (c->count > 0 && release_room(&rel) && expired(&c->run[0], now))
        slot_release_oldest(c, &rel);
    /* A run touching the new one joins it, unless the new one waits in quarantine. */
    arc_dirty_run_t r = {.addr = addr,
                         .pages = pages,
                         .freed_ns = now,
                         .parts = parts,
                         .marked = marked,
                         .waiting = wait};
    if (!wait)
        merge_touching(c, &r);
    /* Every slot taken: the smallest run goes back whole, or the new one when none is smaller
     * (whole caches: the oldest). Over the budget: the oldest runs go back in whole grains, then
     * the new one; what is left of them stays over the budget. */
    if (c->count == c->capacity && slot_release_smaller(c, r.pages, &rel)) {
        release_push(&rel, r.addr, r.pages);
        unlock_and_release(c, &rel);
        purger_arm();
        return;
    }
    /* Whole runs go back whole, oldest first, then the new one. */
    while (c->whole && c->count > 0 && release_room(&rel) &&
           atomic_load_explicit(&total_pages, memory_order_relaxed) + r.pages > budget_pages)
        slot_release_oldest(c, &rel);
    for (uint32_t i = 0;
         i < c->count && !c->whole && release_room(&rel) &&
         atomic_load_explicit(&total_pages, memory_order_relaxed) + r.pages > budget_pages;)
        i = slot_release_grains(c, i, &rel);
    bool over = atomic_load_explicit(&total_pages, memory_order_relaxed) + r.pages > budget_pages;
    if (over && c->whole)
        release_push(&rel, r.addr, r.pages);
    else
        slot_insert(c, c->count, r, &rel);
    if (over && !c->whole)
        slot_release_grains(c, c->count - 1, &rel);
    if (wait)
        quarantine_advance(c, &rel);
    bool kept = c->count > 0;
    unlock_and_release(c, &rel);
    if (kept)
        purger_arm();
}

void arc_dirty_put(arc_dirty_cache_t *c, uintptr_t addr, size_t pages, size_t budget_pages)
{
    put_run(c, addr, pages, 1, budget_pages, c->delay > 0);
}

void arc_dirty_put_parts(arc_dirty_cache_t *c, uintptr_t addr, size_t pages, size_t parts,
                         size_t budget_pages)
{
    put_run(c, addr, pages, parts, budget_pages, false);
}

bool arc_dirty_hold(arc_dirty_cache_t *c, uintptr_t addr, size_t pages, uint64_t since_ns)
{
    if (decay_ns == 0) {
        release_now(c, addr, pages);
        return true;
    }
    purger_start_once();
    uint64_t now = arc_os_now_ns();
    arc_dirty_run_t r = {.addr = addr,
                         .pages = pages,
                         .freed_ns = since_ns && since_ns < now ? since_ns : now,
                         .parts = 1};
    release_list_t rel;
    RELEASE_LIST_EMPTY(rel);
    pthread_mutex_lock(&c->lock);
    while (c->count > 0 && release_room(&rel) && expired(&c->run[0], now))
        slot_release_oldest(c, &rel);
    /* Every slot taken: the run is refused, not an older one given back before its time. */
    if (c->count == c->capacity && !expired(&r, now)) {
        unlock_and_release(c, &rel);
        return false;
    }
    /* Runs of a held cache never merge, each keeps its own age, and the slots stay oldest first:
     * an old run goes in before the younger ones. */
    if (!expired(&r, now))
        slot_insert_aged(c, r, &rel);
    else
        release_push(&rel, r.addr, r.pages);
    bool kept = c->count > 0;
    unlock_and_release(c, &rel);
    if (kept)
        purger_arm();
    return true;
}

uint64_t arc_dirty_decay_ns(void)
{
    return decay_ns;
}

void arc_dirty_set_grain(size_t pages)
{
    atomic_store_explicit(&budget_grain_pages, pages ? pages : 1, memory_order_relaxed);
}

uint64_t arc_dirty_purge_expired(arc_dirty_cache_t *c, uint64_t now_ns)
{
    if (__atomic_load_n(&c->count, __ATOMIC_RELAXED) == 0)
        return 0;
    release_list_t rel;
    uint64_t next;
    do { /* a list at a time */
        RELEASE_LIST_EMPTY(rel);
        pthread_mutex_lock(&c->lock);
        while (c->count > 0 && release_room(&rel) && expired(&c->run[0], now_ns))
            slot_release_oldest(c, &rel);
        next = c->count > 0 ? c->run[0].freed_ns + decay_ns : 0;
        unlock_and_release(c, &rel);
    } while (!release_room(&rel));
    return next;
}

bool arc_dirty_purge(arc_dirty_cache_t *c)
{
    release_list_t rel;
    bool any = false;
    do { /* a list at a time */
        RELEASE_LIST_EMPTY(rel);
        pthread_mutex_lock(&c->lock);
        while (c->count > 0 && release_room(&rel))
            slot_release_oldest(c, &rel);
        unlock_and_release(c, &rel);
        any |= rel.count > 0;
    } while (!release_room(&rel));
    return any;
}

bool arc_dirty_purge_all(void)
{
    bool any = false;
    for (arc_dirty_cache_t *c = atomic_load_explicit(&all_caches, memory_order_acquire); c;
         c = c->next_all)
        any |= arc_dirty_purge(c);
    return any;
}

void *arc_dirty_spare_pop(arc_dirty_cache_t *c)
{
    pthread_mutex_lock(&c->lock);
    void *block = c->spare;
    if (block)
        c->spare = *(void **)block;
    pthread_mutex_unlock(&c->lock);
    return block;
}

void arc_dirty_spare_push(arc_dirty_cache_t *c, void *block)
{
    pthread_mutex_lock(&c->lock);
    *(void **)block = c->spare;
    c->spare = block;
    pthread_mutex_unlock(&c->lock);
}

/* ---- the purger ----------------------------------------------------------------------------
 * One thread, started by the first put that keeps a run (a program that never frees a large
 * block or a segment never gets it) or, once the process has other threads, by the allocations
 * (arc_dirty_purger_poke): there a put may run where no thread can be started. It sleeps until the
 * oldest cached run expires, gives back what has expired in every cache, and with nothing cached
 * sleeps until a put wakes it: an idle program with nothing dirty costs no wake-up at all. When the
 * program's last thread holding a heap exits (arc_dirty_purger_stop) it gives everything back and
 * ends, and the next put starts it again: a process whose main thread ends with pthread_exit ends
 * with its last thread. */

/* The purger's end (arc_dirty_purger_stop), wake_lock held: it gives back every cached run on
 * its way out, since no thread of the program may be left to call the allocator. */
static void *purger_end(void)
{
    purger_stopping = false;
    purger_started = false;
    atomic_store_explicit(&purger_running, false, memory_order_relaxed);
    pthread_mutex_unlock(&wake_lock);
    arc_dirty_purge_all();
    return NULL;
}

static void *purger_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&wake_lock);
    for (;;) {
        if (purger_stopping)
            return purger_end();
        pthread_mutex_unlock(&wake_lock);
        /* Cleared before the sweep: a put after the sweep saw its cache finds it false and wakes
         * this thread, a put before is seen by the sweep. */
        atomic_store(&armed, false);
        uint64_t now = arc_os_now_ns(), next = 0, slack = decay_ns / PURGER_BATCH_DIV;
        for (arc_dirty_cache_t *c = atomic_load_explicit(&all_caches, memory_order_acquire); c;
             c = c->next_all) {
            uint64_t at = arc_dirty_purge_expired(c, now + slack);
            if (at && (!next || at < next))
                next = at;
        }
        pthread_mutex_lock(&wake_lock);
        if (purger_stopping)
            continue;
        if (next) {
            atomic_store(&armed, true);
            if (next < now + PURGER_MIN_SLEEP_NS)
                next = now + PURGER_MIN_SLEEP_NS;
            struct timespec ts = {.tv_sec = (time_t)(next / NS_PER_SEC),
                                  .tv_nsec = (long)(next % NS_PER_SEC)};
            pthread_cond_timedwait(&wake_cond, &wake_lock, &ts);
        } else {
            while (!atomic_load(&armed) && !purger_stopping)
                pthread_cond_wait(&wake_cond, &wake_lock);
        }
    }
    return NULL;
}

static void wake_cond_init(void)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* arc_os_now_ns's clock */
    pthread_cond_init(&wake_cond, &attr);
    pthread_condattr_destroy(&attr);
}

/* Starts the purger thread, unless it runs or may not. No lock is held here. */
static void purger_start(void)
{
    pthread_mutex_lock(&wake_lock);
    bool start = thread_allowed && !purger_started && !purger_starting;
    if (start)
        purger_starting = true;
    pthread_mutex_unlock(&wake_lock);
    if (!start)
        return;
    bool ok = thread_start(purger_main, NULL, PURGER_STACK_BYTES, "arcalloc-purge");
    pthread_mutex_lock(&wake_lock);
    purger_starting = false;
    purger_started = ok;
    if (!ok) /* expired runs go back on the allocator's own calls */
        __atomic_store_n(&thread_allowed, false, __ATOMIC_RELAXED);
    atomic_store_explicit(&purger_running, ok, memory_order_relaxed);
    pthread_mutex_unlock(&wake_lock);
}

static bool purger_wanted(void)
{
    return !atomic_load_explicit(&purger_running, memory_order_relaxed) &&
           __atomic_load_n(&thread_allowed, __ATOMIC_RELAXED) && decay_ns != 0;
}

/* Starts the purger the first time a put is about to keep a run, before the run is cached: were
 * the thread's creation to allocate on the run being freed, a second free of it by mistake would
 * no longer read as a double free. A put may run inside a free the C library makes with its
 * stack-cache lock held (glibc, joining threads: pthread_join froze in pthread_create here), so
 * only where the OS layer says any free may start a thread; elsewhere the next allocation
 * starts it (arc_dirty_purger_poke). */
static void purger_start_once(void)
{
    if (!purger_wanted())
        return;
    if (arc_os_thread_start_safe_anywhere())
        purger_start();
    else
        atomic_store_explicit(&arc_dirty_start_wanted, true, memory_order_relaxed);
}

_Atomic bool arc_dirty_start_wanted;

void arc_dirty_purger_poke(void)
{
    atomic_store_explicit(&arc_dirty_start_wanted, false, memory_order_relaxed);
    if (purger_wanted() && !arc_os_thread_start_safe_anywhere())
        purger_start();
}

void arc_dirty_purger_stop(void)
{
    pthread_mutex_lock(&wake_lock);
    if (purger_started) {
        purger_stopping = true;
        pthread_cond_signal(&wake_cond);
    }
    pthread_mutex_unlock(&wake_lock);
}

/* After a put kept a run: wakes the purger if it sleeps with nothing to do. The fence orders the
 * put's insertion before the read of `armed` (the purger's side is the store before its
 * sweep). */
static void purger_arm(void)
{
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&armed, memory_order_relaxed))
        return;
    pthread_mutex_lock(&wake_lock);
    atomic_store(&armed, true);
    pthread_cond_signal(&wake_cond);
    pthread_mutex_unlock(&wake_lock);
}

/* ---- set-up, figures, fork ---------------------------------------------------------------- */

void arc_dirty_setup(arc_dirty_release_fn *release, uint64_t decay,
                     arc_dirty_thread_start_fn *start_thread, bool marks)
{
    marks_on = marks;
    if (marks)
        arc_os_random(&mark_key, sizeof mark_key);
    release_fn = release;
    decay_ns = decay;
    thread_start = start_thread;
    thread_allowed = start_thread != NULL;
    wake_cond_init();
}

void arc_dirty_register(arc_dirty_cache_t *c)
{
    if (c->capacity == 0)
        c->capacity = ARC_DIRTY_SLOTS;
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_lock(&registry_lock);
    c->next_all = atomic_load_explicit(&all_caches, memory_order_relaxed);
    atomic_store_explicit(&all_caches, c, memory_order_release);
    pthread_mutex_unlock(&registry_lock);
}

void arc_dirty_register_held(arc_dirty_cache_t *c, arc_dirty_release_fn *release)
{
    c->held = true;
    c->release = release;
    c->capacity = ARC_DIRTY_FEW_SLOTS;
    arc_dirty_register(c);
}

void arc_dirty_register_whole(arc_dirty_cache_t *c, arc_dirty_release_fn *release, uint32_t delay)
{
    c->whole = true;
    c->release = release;
    c->delay = delay;
    c->capacity = ARC_DIRTY_FEW_SLOTS;
    arc_dirty_register(c);
}

void arc_dirty_figures(arc_dirty_figures_t *out)
{
    out->cached_pages = atomic_load_explicit(&total_pages, memory_order_relaxed);
    out->held_pages = atomic_load_explicit(&held_pages, memory_order_relaxed);
    out->released_pages = atomic_load_explicit(&released_pages, memory_order_relaxed);
    out->released_runs = atomic_load_explicit(&released_runs, memory_order_relaxed);
    out->purger_running = atomic_load_explicit(&purger_running, memory_order_relaxed);
}

void arc_dirty_fork_prepare(void)
{
    pthread_mutex_lock(&registry_lock);
    for (arc_dirty_cache_t *c = atomic_load(&all_caches); c; c = c->next_all)
        pthread_mutex_lock(&c->lock);
    pthread_mutex_lock(&wake_lock);
}

void arc_dirty_fork_parent(void)
{
    pthread_mutex_unlock(&wake_lock);
    for (arc_dirty_cache_t *c = atomic_load(&all_caches); c; c = c->next_all)
        pthread_mutex_unlock(&c->lock);
    pthread_mutex_unlock(&registry_lock);
}

void arc_dirty_fork_child(void)
{
    pthread_mutex_init(&wake_lock, NULL);
    wake_cond_init();
    purger_started = purger_starting = purger_stopping = false;
    atomic_store(&purger_running, false);
    atomic_store(&armed, false);
    /* The child's C library may still say threads ran (glibc does not reset its flag), so its
     * puts may not start a purger of its own: its next allocation slow path does. */
    atomic_store_explicit(&arc_dirty_start_wanted, true, memory_order_relaxed);
    for (arc_dirty_cache_t *c = atomic_load(&all_caches); c; c = c->next_all)
        pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&registry_lock, NULL);
}
