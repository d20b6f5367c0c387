/* arena.c: reserves the process's address range, runs the page allocator over it, keeps the
 * page map, serves large page runs (with a guard page each in secure mode) and decides secure
 * mode at start-up. Every call here is a slow path under one mutex; it never touches a byte
 * allocator and never calls malloc. */
#include "arena.h"

#include "options.h"
#include "os.h"
#include "report.h"
#include "vg.h"

arc_arena_t arc_arena = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Metadata comes from the OS in chunks this big (heaps, large-run descriptors). */
#define META_CHUNK ((size_t)1 << 20)
/* Window alignment: the page allocator honours alignments up to this on bit indices. */
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
    size_t map_bytes = got / ARC_PAGE_SIZE * sizeof(uintptr_t), map_got = 0;
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

uintptr_t arc_arena_pages_alloc(size_t pages, size_t align)
{
    arc_arena_lock();
    uintptr_t addr = pages_alloc_locked(pages, align);
    arc_arena_unlock();
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
    arc_arena_lock();
    arc_large_t *large = arc_arena.large_free;
    if (large)
        arc_arena.large_free = large->next;
    else
        large = meta_alloc_locked(sizeof *large);
    uintptr_t addr = large ? pages_alloc_locked(pages + guard_pages, align) : 0;
    if (!addr) {
        if (large) {
            large->next = arc_arena.large_free;
            arc_arena.large_free = large;
        }
        arc_arena_unlock();
        return NULL;
    }
    *large = (arc_large_t){
        .heap = owner, .addr = addr, .pages = pages, .sampled = false, .guard = guard};
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
    return (void *)addr;
}

void arc_large_free(void *p, arc_large_t *large)
{
    size_t pages = large->pages, guard_pages = large->guard ? ARC_GUARD_PAGES : 0;
    /* The guard is made accessible again before its page can go to anyone else. */
    if (guard_pages)
        arc_os_protect((char *)p + pages * ARC_PAGE_SIZE, guard_pages * ARC_PAGE_SIZE, true);
    arc_os_decommit(p, (pages + guard_pages) * ARC_PAGE_SIZE);
    arc_arena_lock();
    arc_arena.pagemap[page_index((uintptr_t)p)] = ARC_MAP_FREED;
    arc_pages_dealloc(arc_arena.pages, (uintptr_t)p, pages + guard_pages);
    arc_arena.large_bytes -= pages * ARC_PAGE_SIZE;
    arc_arena.large_count--;
    large->next = arc_arena.large_free;
    arc_arena.large_free = large;
    arc_arena_unlock();
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
    uintptr_t tail = (uintptr_t)p + want * ARC_PAGE_SIZE;
    if (want < have) {
        if (guard_bytes) {
            arc_os_protect((void *)tail, guard_bytes, false);
            arc_os_protect((char *)p + have * ARC_PAGE_SIZE, guard_bytes, true);
        }
        /* The new guard's bytes go too: it is never read again. */
        arc_os_decommit((void *)tail, (have - want) * ARC_PAGE_SIZE + guard_bytes);
        tail += guard_bytes;
        arc_arena_lock();
        arc_pages_dealloc(arc_arena.pages, tail, have - want);
    } else if (want > have) {
        arc_arena_lock();
        uintptr_t end = (uintptr_t)p + have * ARC_PAGE_SIZE + guard_bytes;
        if (arc_pages_alloc_at(arc_arena.pages, end, want - have, ARC_PAGE_SIZE) != ARC_OK) {
            arc_arena_unlock();
            return false;
        }
        if (guard_bytes) {
            arc_os_protect((char *)p + have * ARC_PAGE_SIZE, guard_bytes, true);
            arc_os_protect((void *)tail, guard_bytes, false);
        }
    } else {
        return true;
    }
    arc_arena.large_bytes = arc_arena.large_bytes - have * ARC_PAGE_SIZE + want * ARC_PAGE_SIZE;
    large->pages = want;
    size_t used = arc_pages_used_pages(arc_arena.pages);
    if (used > arc_arena.peak_pages)
        arc_arena.peak_pages = used;
    arc_arena_unlock();
    return true;
}
