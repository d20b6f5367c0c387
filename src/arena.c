/* arena.c: reserves the process's address range, runs the page allocator over it, keeps the
 * page map, serves large page runs (with a guard page each in secure mode, freed runs kept dirty
 * within a budget, moved by mremap) and decides secure mode at start-up. Every call here is a
 * slow path under one mutex; it never touches a byte allocator and never calls malloc. */
#include "arena.h"

#include <string.h>

#include "options.h"
#include "os.h"
#include "report.h"
#include "vg.h"

arc_arena_t arc_arena = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Metadata comes from the OS in chunks this big (heaps, large-run descriptors). */
#define META_CHUNK ((size_t)1 << 20)
/* Window alignment: the page allocator honours alignments up to this on bit indices. It is a
 * multiple of ARC_SEGMENT_SLOT, so segment-map slots are aligned address ranges. */
#define WINDOW_ALIGN                                                                               \
    (ARC_ADDRESS_SPACE_BYTES < ARC_PAGES_MAX_ALIGN ? (size_t)ARC_ADDRESS_SPACE_BYTES               \
                                                   : ARC_PAGES_MAX_ALIGN)

void arc_arena_lock(void)
{
    pthread_mutex_lock(&arc_arena.lock);
}

void arc_arena_unlock(void)
{
    pthread_mutex_unlock(&arc_arena.lock);
}

/* Secure mode: on by default in a secure build (ARCALLOC_SECURE=0 turns it off); a normal build
 * says once that it has none. */
static void secure_init(void)
{
    bool want = arc_option_int(ARC_OPT_SECURE) != 0;
#if ARC_SECURE
    arc_arena.secure = want;
    if (want) {
        uintptr_t key = 0;
        arc_os_random(&key, sizeof key);
        arc_arena.secure_key = key;
    }
#else
    if (want && arc_option_source(ARC_OPT_SECURE) != ARC_SRC_DEFAULT)
        arc_report_warning("this build has no secure mode; rebuild with -Dsecure=true", NULL);
#endif
}

bool arc_arena_init(void)
{
    if (arc_arena.base)
        return true;
    secure_init();
    size_t got = 0, want = (size_t)ARC_ADDRESS_SPACE_BYTES;
    /* memcheck keeps state for every reserved byte: under valgrind the range is capped. */
    if (ARC_VG_RUNNING() && want > ARC_ARENA_VALGRIND_RESERVE)
        want = ARC_ARENA_VALGRIND_RESERVE;
    void *window = arc_os_reserve(want, ARC_ARENA_MIN_RESERVE, WINDOW_ALIGN, &got);
    if (!window)
        return false;
    /* One reservation holds the page map and, after it, the segment map. */
    size_t page_map_bytes = got / ARC_PAGE_SIZE * sizeof(uintptr_t);
    size_t map_bytes = page_map_bytes + got / ARC_SEGMENT_SLOT * sizeof(uintptr_t), map_got = 0;
    uintptr_t *pagemap = arc_os_reserve(map_bytes, map_bytes, ARC_PAGE_SIZE, &map_got);
    size_t state_bytes = arc_pages_state_size(), state_got = 0;
    arc_pages_t *pages = arc_os_reserve(state_bytes, state_bytes, ARC_PAGE_SIZE, &state_got);
    if (!pagemap || !pages || arc_pages_init(pages, (uintptr_t)window, got) != ARC_OK) {
        arc_os_unmap(window, got);
        if (pagemap)
            arc_os_unmap(pagemap, map_bytes);
        if (pages)
            arc_os_unmap(pages, state_bytes);
        return false;
    }
    arc_arena.pagemap = pagemap;
    arc_arena.segmap = pagemap + page_map_bytes / sizeof(uintptr_t);
    arc_arena.pages = pages;
    arc_arena.size = got;
    arc_arena.base = (uintptr_t)window; /* last: arc_arena_entry() trusts size once base is set */
    return true;
}

/* Caller holds the lock. */
static void *meta_alloc_locked(size_t size)
{
    return arc_os_bump(&arc_arena.meta, (size + 63) & ~(size_t)63, META_CHUNK);
}

void *arc_arena_meta_alloc(size_t size)
{
    arc_arena_lock();
    void *p = meta_alloc_locked(size);
    arc_arena_unlock();
    return p;
}

static uintptr_t pages_alloc_locked(size_t pages, size_t align)
{
    uintptr_t addr = 0;
    if (arc_pages_alloc(arc_arena.pages, pages, align, &addr) != ARC_OK)
        return 0;
    size_t used = arc_pages_used_pages(arc_arena.pages);
    if (used > arc_arena.peak_pages)
        arc_arena.peak_pages = used;
    return addr;
}

/* ---- dirty free ranges ----------------------------------------------------------------------
 * Freed large runs stay committed ("dirty") up to a budget: a fraction of the live large bytes
 * (so a program that frees everything keeps nothing: tests/test_rss.c) and a fixed cap.
 * Evicting a range (oldest first) decommits it. madvise is never called under the lock: an
 * evicted range is first marked used again in the page allocator (nobody can take it), then
 * decommitted with the lock dropped, then freed (evicted_release). */

/* Dirty bytes kept: at most DIRTY_LIVE_MUL times the live large bytes. Measured on bench/large
 * at full scale (glibc: 1.0 s, 324 K page faults, peak RSS 155 MiB; mimalloc: 163 MiB): once
 * (64 MiB cap) 1.9 s, 575 K faults, 140 MiB; twice (128 MiB) 1.3 s, 404 K, 134 MiB; four times
 * (256 MiB) 0.85 s, 273 K, 152 MiB. A program that frees everything keeps nothing, and
 * malloc_trim gives it all back ... */
#define DIRTY_LIVE_MUL 4
/* ... and at most this many, whatever the live bytes. */
#define DIRTY_MAX_BYTES ((size_t)256 << 20)
#define DIRTY_MAX_PAGES (DIRTY_MAX_BYTES / ARC_PAGE_SIZE)
/* Ranges evicted by one locked operation: every slot, plus the part of a freed run over the
 * budget. */
#define EVICT_MAX (ARC_DIRTY_SLOTS + 1)
_Static_assert(DIRTY_MAX_BYTES % ARC_PAGE_SIZE == 0, "the cap is whole pages");
_Static_assert(ARC_DIRTY_SLOTS >= 2, "a split needs a second slot");

/* Ranges marked used in the page allocator, to be decommitted and freed once the lock is
 * dropped. */
typedef struct evict_list {
    size_t count;
    arc_dirty_t range[EVICT_MAX];
} evict_list_t;

/* Pages of [addr, addr+pages) that held dirty bytes, for the caller to clear. */
typedef struct dirty_parts {
    size_t count;
    arc_dirty_t range[ARC_DIRTY_SLOTS];
} dirty_parts_t;

static size_t dirty_budget_pages(void)
{
    /* Under memcheck every page run is a fresh, zeroed block (ARC_VG_MALLOC says so). */
    if (ARC_VG_RUNNING())
        return 0;
    size_t budget = arc_arena.large_bytes / ARC_PAGE_SIZE * DIRTY_LIVE_MUL;
    return budget < DIRTY_MAX_PAGES ? budget : DIRTY_MAX_PAGES;
}

static void dirty_remove(size_t i)
{
    arc_arena.dirty_pages -= arc_arena.dirty[i].pages;
    arc_arena.dirty_count--;
    memmove(&arc_arena.dirty[i], &arc_arena.dirty[i + 1],
            (arc_arena.dirty_count - i) * sizeof arc_arena.dirty[0]);
}

static void dirty_insert(size_t i, uintptr_t addr, size_t pages)
{
    memmove(&arc_arena.dirty[i + 1], &arc_arena.dirty[i],
            (arc_arena.dirty_count - i) * sizeof arc_arena.dirty[0]);
    arc_arena.dirty[i] = (arc_dirty_t){.addr = addr, .pages = pages};
    arc_arena.dirty_count++;
    arc_arena.dirty_pages += pages;
}

/* Takes free pages [addr, addr+pages) back from the page allocator for decommitting. They are
 * free, so this cannot fail; if it did, they are decommitted here, under the lock. */
static void evict_push(evict_list_t *ev, uintptr_t addr, size_t pages)
{
    if (ev->count < EVICT_MAX &&
        arc_pages_alloc_at(arc_arena.pages, addr, pages, ARC_PAGE_SIZE) == ARC_OK) {
        ev->range[ev->count++] = (arc_dirty_t){.addr = addr, .pages = pages};
        return;
    }
    arc_os_decommit((void *)addr, pages * ARC_PAGE_SIZE);
}

static void dirty_evict_oldest(evict_list_t *ev)
{
    arc_dirty_t old = arc_arena.dirty[0];
    dirty_remove(0);
    evict_push(ev, old.addr, old.pages);
}

/* Without the lock: decommits the evicted ranges, then frees them. */
static void evicted_release(const evict_list_t *ev)
{
    if (ev->count == 0)
        return;
    for (size_t i = 0; i < ev->count; i++)
        arc_os_decommit((void *)ev->range[i].addr, ev->range[i].pages * ARC_PAGE_SIZE);
    arc_arena_lock();
    for (size_t i = 0; i < ev->count; i++)
        arc_pages_dealloc(arc_arena.pages, ev->range[i].addr, ev->range[i].pages);
    arc_arena_unlock();
}

/* Pages [addr, addr+pages) were just handed out: they leave the dirty table. The dirty parts
 * go to `parts` (when not NULL); returns how many pages were dirty. */
static size_t dirty_take(uintptr_t addr, size_t pages, evict_list_t *ev, dirty_parts_t *parts)
{
    uintptr_t end = addr + pages * ARC_PAGE_SIZE;
    size_t taken = 0;
    for (size_t i = 0; i < arc_arena.dirty_count;) {
        arc_dirty_t *d = &arc_arena.dirty[i];
        uintptr_t d_end = d->addr + d->pages * ARC_PAGE_SIZE;
        if (d_end <= addr || d->addr >= end) {
            i++;
            continue;
        }
        uintptr_t lo = d->addr > addr ? d->addr : addr, hi = d_end < end ? d_end : end;
        size_t n = (hi - lo) / ARC_PAGE_SIZE;
        taken += n;
        if (parts)
            parts->range[parts->count++] = (arc_dirty_t){.addr = lo, .pages = n};
        uintptr_t d_addr = d->addr;
        if (d_addr >= addr && d_end <= end) { /* all of it */
            dirty_remove(i);
            continue;
        }
        arc_arena.dirty_pages -= n;
        if (d_addr < addr && d_end > end) { /* the middle: split, or evict the right part */
            size_t right = (d_end - end) / ARC_PAGE_SIZE;
            d->pages = (addr - d_addr) / ARC_PAGE_SIZE;
            arc_arena.dirty_pages -= right;
            if (arc_arena.dirty_count < ARC_DIRTY_SLOTS)
                dirty_insert(i + 1, end, right);
            else
                evict_push(ev, end, right);
            break; /* ranges do not overlap: nothing else can touch [addr, end) */
        }
        if (d_addr < addr)
            d->pages = (addr - d_addr) / ARC_PAGE_SIZE;
        else {
            d->addr = end;
            d->pages = (d_end - end) / ARC_PAGE_SIZE;
        }
        i++;
    }
    return taken;
}

/* Frees run [addr, addr+pages), used in the page allocator, after large_bytes dropped: keeps
 * what the budget allows dirty (evicting older ranges first) and evicts the rest. A clean run
 * (its pages known to be zero) is simply freed. */
static void run_release_locked(uintptr_t addr, size_t pages, bool dirty, evict_list_t *ev)
{
    size_t budget = dirty_budget_pages(), keep = dirty ? pages : 0;
    if (keep > budget)
        keep = budget;
    while (arc_arena.dirty_count > 0 && (arc_arena.dirty_pages + keep > budget ||
                                         (keep && arc_arena.dirty_count == ARC_DIRTY_SLOTS)))
        dirty_evict_oldest(ev);
    if (!dirty) {
        arc_pages_dealloc(arc_arena.pages, addr, pages);
        return;
    }
    if (keep) {
        arc_pages_dealloc(arc_arena.pages, addr, keep);
        dirty_insert(arc_arena.dirty_count, addr, keep);
    }
    if (keep < pages) /* still used in the page allocator: decommitted, then freed */
        ev->range[ev->count++] =
            (arc_dirty_t){.addr = addr + keep * ARC_PAGE_SIZE, .pages = pages - keep};
}

/* A large run placed on dirty pages takes no page faults: the smallest dirty range that holds
 * `pages` aligned to `align` is taken, at its aligned start (0 when none fits). */
static uintptr_t dirty_fit_locked(size_t pages, size_t align)
{
    const arc_dirty_t *best = NULL;
    uintptr_t best_at = 0;
    for (size_t i = 0; i < arc_arena.dirty_count; i++) {
        const arc_dirty_t *d = &arc_arena.dirty[i];
        uintptr_t at = (d->addr + align - 1) & ~(uintptr_t)(align - 1);
        uintptr_t end = d->addr + d->pages * ARC_PAGE_SIZE;
        if (at < end && (end - at) / ARC_PAGE_SIZE >= pages && (!best || d->pages < best->pages)) {
            best = d;
            best_at = at;
        }
    }
    if (!best || arc_pages_alloc_at(arc_arena.pages, best_at, pages, ARC_PAGE_SIZE) != ARC_OK)
        return 0;
    size_t used = arc_pages_used_pages(arc_arena.pages);
    if (used > arc_arena.peak_pages)
        arc_arena.peak_pages = used;
    return best_at;
}

static void parts_clear(const dirty_parts_t *parts)
{
    for (size_t i = 0; i < parts->count; i++)
        memset((void *)parts->range[i].addr, 0, parts->range[i].pages * ARC_PAGE_SIZE);
}

bool arc_arena_purge(void)
{
    evict_list_t ev = {0};
    arc_arena_lock();
    while (arc_arena.dirty_count > 0)
        dirty_evict_oldest(&ev);
    arc_arena_unlock();
    evicted_release(&ev);
    return ev.count > 0;
}

/* ---- page runs --------------------------------------------------------------------------- */

uintptr_t arc_arena_pages_alloc(size_t pages, size_t align)
{
    evict_list_t ev = {0};
    dirty_parts_t parts = {0};
    arc_arena_lock();
    uintptr_t addr = pages_alloc_locked(pages, align);
    if (addr)
        dirty_take(addr, pages, &ev, &parts);
    arc_arena_unlock();
    parts_clear(&parts); /* segments must read as zero */
    evicted_release(&ev);
    return addr;
}

void arc_arena_pages_free(uintptr_t addr, size_t pages)
{
    /* Decommit before the pages are free: once free another thread may take and write them. */
    arc_os_decommit((void *)addr, pages * ARC_PAGE_SIZE);
    arc_arena_lock();
    arc_pages_dealloc(arc_arena.pages, addr, pages);
    arc_arena_unlock();
}

static size_t page_index(uintptr_t addr)
{
    return (addr - arc_arena.base) / ARC_PAGE_SIZE;
}

void *arc_large_alloc(arc_heap_t *owner, size_t size, size_t align)
{
    if (size > arc_arena.size)
        return NULL;
    size_t pages = size ? (size + ARC_PAGE_SIZE - 1) / ARC_PAGE_SIZE : 1; /* memalign(a, 0) */
    bool guard = arc_arena.secure;
    size_t guard_pages = guard ? ARC_GUARD_PAGES : 0;
    if (align < ARC_PAGE_SIZE)
        align = ARC_PAGE_SIZE;
    if (align > ARC_PAGES_MAX_ALIGN)
        return NULL;
    evict_list_t ev = {0};
    arc_arena_lock();
    arc_large_t *large = arc_arena.large_free;
    if (large)
        arc_arena.large_free = large->next;
    else
        large = meta_alloc_locked(sizeof *large);
    uintptr_t addr = 0;
    if (large) {
        addr = dirty_fit_locked(pages + guard_pages, align);
        if (!addr)
            addr = pages_alloc_locked(pages + guard_pages, align);
    }
    if (!addr) {
        if (large) {
            large->next = arc_arena.large_free;
            arc_arena.large_free = large;
        }
        arc_arena_unlock();
        return NULL;
    }
    /* The guard page is taken out too: nothing handed out stays in the table. */
    bool dirty = dirty_take(addr, pages + guard_pages, &ev, NULL) != 0;
    *large = (arc_large_t){.heap = owner,
                           .addr = addr,
                           .pages = pages,
                           .sampled = false,
                           .guard = guard,
                           .dirty = dirty};
    arc_arena.pagemap[page_index(addr)] = (uintptr_t)large | ARC_MAP_LARGE;
    arc_arena.large_bytes += pages * ARC_PAGE_SIZE;
    arc_arena.large_count++;
    arc_arena.large_allocs++;
    arc_arena_unlock();
    /* The run is ours now: nobody else touches its guard page. A refusal (too many mappings)
     * leaves the page accessible: the run still works, without its guard. */
    if (guard)
        arc_os_protect((void *)(addr + pages * ARC_PAGE_SIZE), ARC_GUARD_PAGES * ARC_PAGE_SIZE,
                       false);
    evicted_release(&ev);
    return (void *)addr;
}

void arc_large_free(void *p, arc_large_t *large)
{
    size_t pages = large->pages, guard_pages = large->guard ? ARC_GUARD_PAGES : 0;
    /* The guard is made accessible again before its page can go to anyone else. */
    if (guard_pages)
        arc_os_protect((char *)p + pages * ARC_PAGE_SIZE, guard_pages * ARC_PAGE_SIZE, true);
    /* A moved run's pages are fresh zeros; its guard page (not moved) may hold old bytes. */
    if (large->fresh && guard_pages && !large->lost)
        arc_os_decommit((char *)p + pages * ARC_PAGE_SIZE, guard_pages * ARC_PAGE_SIZE);
    evict_list_t ev = {0};
    arc_arena_lock();
    arc_arena.pagemap[page_index((uintptr_t)p)] = ARC_MAP_FREED;
    arc_arena.large_bytes -= pages * ARC_PAGE_SIZE;
    arc_arena.large_count--;
    /* A lost run's address range is not arcalloc's any more: its pages stay used. */
    if (!large->lost)
        run_release_locked((uintptr_t)p, pages + guard_pages, !large->fresh, &ev);
    large->next = arc_arena.large_free;
    arc_arena.large_free = large;
    arc_arena_unlock();
    evicted_release(&ev);
}

/* A guarded run's guard moves with its end: shrinking guards the first page given up and frees
 * the rest (the old guard included); growing takes pages after the old guard, then opens the
 * old guard and closes the new last page. */
bool arc_large_resize(void *p, arc_large_t *large, size_t new_size)
{
    size_t want = (new_size + ARC_PAGE_SIZE - 1) / ARC_PAGE_SIZE, have = large->pages;
    size_t guard_bytes = large->guard ? ARC_GUARD_PAGES * ARC_PAGE_SIZE : 0;
    if (want == 0 || new_size > arc_arena.size)
        return false;
    if (want == have)
        return true;
    /* A moved-away run keeps its flags until freed; resizing one is never asked (it is freed
     * right after the move), but a resize would make them wrong: refuse. */
    if (large->fresh || large->lost)
        return false;
    evict_list_t ev = {0};
    uintptr_t tail = (uintptr_t)p + want * ARC_PAGE_SIZE;
    if (want < have) {
        if (guard_bytes) {
            arc_os_protect((void *)tail, guard_bytes, false);
            arc_os_protect((char *)p + have * ARC_PAGE_SIZE, guard_bytes, true);
            arc_os_decommit((void *)tail, guard_bytes); /* the new guard is never read again */
        }
        arc_arena_lock();
        arc_arena.large_bytes -= (have - want) * ARC_PAGE_SIZE;
        large->pages = want;
        run_release_locked(tail + guard_bytes, have - want, true, &ev);
    } else {
        arc_arena_lock();
        uintptr_t end = (uintptr_t)p + have * ARC_PAGE_SIZE + guard_bytes;
        if (arc_pages_alloc_at(arc_arena.pages, end, want - have, ARC_PAGE_SIZE) != ARC_OK) {
            arc_arena_unlock();
            return false;
        }
        /* realloc promises nothing of the new bytes: dirty ones need no clearing. */
        dirty_take(end, want - have, &ev, NULL);
        if (guard_bytes) {
            arc_os_protect((char *)p + have * ARC_PAGE_SIZE, guard_bytes, true);
            arc_os_protect((void *)tail, guard_bytes, false);
        }
        arc_arena.large_bytes += (want - have) * ARC_PAGE_SIZE;
        large->pages = want;
        size_t used = arc_pages_used_pages(arc_arena.pages);
        if (used > arc_arena.peak_pages)
            arc_arena.peak_pages = used;
    }
    arc_arena_unlock();
    evicted_release(&ev);
    return true;
}

bool arc_large_move(void *p, arc_large_t *large, void *q)
{
    size_t bytes = large->pages * ARC_PAGE_SIZE;
    if (large->fresh || large->lost || !arc_os_move(p, q, bytes))
        return false;
    /* mremap left a hole at p. Another thread's mmap may have taken it since: then the range
     * is not ours any more and must never be handed out again (MAP_FIXED would wipe that
     * mapping). Its pages stay used in the page allocator forever: address space lost, never
     * memory corrupted. */
    if (arc_os_map_at(p, bytes))
        large->fresh = true;
    else
        large->lost = true;
    return true;
}
