/* arena.c: reserves the process's address range (inaccessible above the highest page handed out;
 * under RLIMIT_AS it starts small and grows with the heap), runs the page allocator over it, keeps
 * the page map, serves large page runs (with guards before and after each in secure mode, freed
 * runs kept dirty within a budget, moved by mremap), decides secure mode at start-up and when the
 * range gets transparent huge pages (freed runs then go back in whole huge pages where they can).
 * Every call here is a slow path under one mutex; it never touches a byte allocator and never
 * calls malloc. */
#include "arena.h"

#include <stdatomic.h>
#include <string.h>

#include "options.h"
#include "os.h"
#include "report.h"
#include "vg.h"

arc_arena_t arc_arena = {.lock = PTHREAD_MUTEX_INITIALIZER};
/* Huge pages (below): serialises a switch of `auto` and its madvise, so that the window's advice
 * is the state's. A leaf lock, taken only on a switch (rare) and by huge_match. */
static pthread_mutex_t huge_lock = PTHREAD_MUTEX_INITIALIZER;

/* Metadata comes from the OS in chunks this big (heaps, large-run descriptors). */
#define META_CHUNK ((size_t)1 << 20)
/* Window alignment: the page allocator honours alignments up to this on bit indices. It is a
 * multiple of ARC_SEGMENT_SIZE, so segment-map slots are aligned address ranges. */
#define WINDOW_ALIGN                                                                               \
    (ARC_ADDRESS_SPACE_BYTES < ARC_PAGES_MAX_ALIGN ? (size_t)ARC_ADDRESS_SPACE_BYTES               \
                                                   : ARC_PAGES_MAX_ALIGN)
_Static_assert(WINDOW_ALIGN % ARC_HUGE_PAGE_SIZE == 0 &&
                   ARC_ARENA_MIN_RESERVE % ARC_HUGE_PAGE_SIZE == 0,
               "the window starts and ends on huge page boundaries");

void arc_arena_lock(void)
{
    pthread_mutex_lock(&arc_arena.lock);
}

void arc_arena_unlock(void)
{
    pthread_mutex_unlock(&arc_arena.lock);
}

_Noreturn void arc_arena_report_stray(const void *p, arc_op_t op)
{
    uintptr_t page = ((uintptr_t)p - arc_arena.base) / ARC_PAGE_SIZE;
    for (uintptr_t i = page + 1; i-- > 0;) {
        if (arc_arena.segmap[i / (ARC_SEGMENT_SIZE / ARC_PAGE_SIZE)])
            break; /* a heap segment: no large run reaches past it */
        uintptr_t e = arc_arena.pagemap[i];
        if (e & ARC_MAP_LARGE && e != ARC_MAP_FREED) {
            const arc_large_t *large = (const arc_large_t *)(e & ~ARC_MAP_LARGE);
            if ((uintptr_t)p < large->addr + arc_large_usable(large))
                arc_report_bad_pointer(op, ARC_BAD_INTERIOR, p);
            break;
        }
        if (e != 0 && e != ARC_MAP_FREED)
            break;
    }
    arc_report_bad_pointer(op, ARC_BAD_FOREIGN, p);
}

void arc_arena_figures(arc_arena_figures_t *out)
{
    arc_arena_lock();
    *out = (arc_arena_figures_t){.segment_bytes = arc_arena.segment_bytes,
                                 .large_bytes = arc_arena.large_bytes,
                                 .large_count = arc_arena.large_count,
                                 .window_bytes = arc_arena.size,
                                 .page_peak = arc_arena.peak_pages};
    if (arc_arena.pages) {
        out->page_total = arc_pages_total_pages(arc_arena.pages);
        out->page_used = arc_pages_used_pages(arc_arena.pages);
        out->page_available = arc_pages_available_pages(arc_arena.pages);
    }
    arc_arena_unlock();
}

void arc_arena_fork_child(void)
{
    pthread_mutex_init(&arc_arena.lock, NULL);
    pthread_mutex_init(&huge_lock, NULL);
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
        if (arc_option_int(ARC_OPT_GUARDS) == ARC_GUARDS_MARKERS)
            arc_os_guards_use_markers();
    }
#else
    if (want && arc_option_source(ARC_OPT_SECURE) != ARC_SRC_DEFAULT)
        arc_report_warning("this build has no secure mode; rebuild with -Dsecure=true", NULL);
#endif
}

/* ---- huge pages ------------------------------------------------------------------------------
 * MADV_HUGEPAGE on the window lets every 2 MiB-aligned extent of it be backed by one huge page
 * when it is first touched, which a segment pair, a large run or a mix of both then share (the
 * page allocator fills the lowest free pages first, so extents fill up before new ones are
 * touched). Advice goes to whole stretches, not one call per extent, and only to the open part
 * below the top (and to what each rise of the top opens), so the closed rest stays one mapping
 * (a madvise on part of a mapping splits it in the kernel). With `auto` it waits until
 * ARC_HUGE_AUTO_BYTES are in use (or more than ARC_HUGE_AUTO_RUN_BYTES in ARC_HUGE_AUTO_RUNS
 * large runs), so a small program keeps 4 KiB pages, covers the window only up
 * to a frontier ahead of the heap that moves on while what lies past it is dense (arena.h,
 * ARC_HUGE_AHEAD), and MADV_NOHUGEPAGE takes it back when no more than ARC_HUGE_AUTO_OFF_BYTES
 * are in use, so a program that freed a big heap does not grow its next small one in huge pages.
 * Huge pages already there stay until their extent goes back; pages faulted in before stay small
 * (the kernel's khugepaged may merge them later). */

/* Start-up: what the kernel allows and what ARCALLOC_HUGEPAGES asks. Under valgrind nothing is
 * asked: memcheck's own mappings are what count there. */
static void huge_init(void *window, size_t size)
{
    long long want = arc_option_int(ARC_OPT_HUGEPAGES);
    arc_os_thp_t thp;
    arc_os_thp_read(&thp);
    arc_huge_state_t state = ARC_HUGE_NONE;
    if (thp.mode != ARC_OS_THP_NEVER && thp.huge_page_bytes == ARC_HUGE_PAGE_SIZE &&
        !ARC_VG_RUNNING())
        state = want == ARC_HUGEPAGES_ON     ? ARC_HUGE_ACTIVE
                : want == ARC_HUGEPAGES_AUTO ? ARC_HUGE_WAITING
                                             : ARC_HUGE_NONE;
    /* In mode always the kernel would back the window with huge pages unasked: refused while
     * they are not on (auto), or for good (off). */
    arc_arena.huge_refuse = thp.mode == ARC_OS_THP_ALWAYS && !ARC_VG_RUNNING();
    /* Asked for at once, huge pages cover the whole window, grown or not. */
    atomic_store_explicit(&arc_arena.huge_end, state == ARC_HUGE_ACTIVE ? UINTPTR_MAX : 0,
                          memory_order_relaxed);
    if (state == ARC_HUGE_ACTIVE)
        arc_os_hugepages(window, size, true);
    else if (arc_arena.huge_refuse)
        arc_os_hugepages(window, size, false);
    arc_arena.huge_auto = state == ARC_HUGE_WAITING;
    if (state != ARC_HUGE_NONE)
        arc_dirty_set_grain(ARC_HUGE_PAGE_SIZE / ARC_PAGE_SIZE);
    atomic_store_explicit(&arc_arena.huge, state, memory_order_relaxed);
}

static arc_huge_state_t huge_state(void)
{
    return (arc_huge_state_t)atomic_load_explicit(&arc_arena.huge, memory_order_relaxed);
}

/* ---- the accessible top ----------------------------------------------------------------------
 * The window is reserved PROT_NONE and opened (readable and writable) from its start up to
 * arc_arena.top, which rises with one mprotect of [old top, new top) when the page allocator
 * hands out a run that ends above it. A linear overflow that runs off the highest segment or run
 * then faults, as one past glibc's heap top or its mmap'd chunks does, instead of writing into
 * reserved pages (tests/process/test_top.c). The page allocator fills the lowest free pages
 * first, so the top follows the heap's high-water mark. It never comes down: runs given back
 * below it stay open (decommitted, they cost nothing), so a release makes no extra call and the
 * window stays two mappings (secure mode's guards and runs moved by mremap apart). Under strict
 * overcommit (vm.overcommit_memory=2) the closed reservation is also cheaper than an open one:
 * the kernel charges a private mapping only once it is writable, so the whole window is reserved
 * and the heap is charged as the top rises (a refusal is then an ENOMEM of that allocation).
 *
 * How far a rise opens: to the run's end rounded up to the OS page (mprotect's unit: 4 KiB, or
 * up to 64 KiB on arm64) while huge pages are not on (off, or `auto` below its threshold); to
 * the next huge page boundary (TOP_GRAIN_HUGE) while they are. A huge page extent split between
 * an open and a closed mapping cannot be backed by a huge page (the kernel wants the aligned
 * extent inside one mapping), and the pages of it touched meanwhile stay 4 KiB pages after the
 * top passes: an exact top would cost a growing heap every huge page. When `auto` turns huge
 * pages on, the top is rounded up at once (huge_update), before the run that crossed the
 * threshold is touched. */
#define TOP_GRAIN_HUGE ARC_HUGE_PAGE_SIZE
_Static_assert(WINDOW_ALIGN % TOP_GRAIN_HUGE == 0,
               "rounding addresses up to the grain ends the top on a huge page extent's end");
/* Once the open window passes TOP_AHEAD_FROM, a rise opens 1/TOP_AHEAD_DIV of it ahead at least.
 * A heap whose fresh runs land on its top one after another (a server replacing 2 000 read
 * buffers at random leaves holes below that no new buffer fits: bench/readbufs) otherwise made
 * one mprotect call per run, 2 309 of them (now 188); the small heaps under 16 MiB, where an
 * overflow off the top run is most often seen, keep the top at their last run's end. */
#define TOP_AHEAD_FROM ((size_t)16 << 20)
#define TOP_AHEAD_DIV  32u

/* Caller holds the lock: the part of [lo, hi), just opened, that lies below huge_end asks for huge
 * pages while `auto` has them on. Advice is given only to what is open, so the closed rest of the
 * window stays one mapping with it (a madvise over part of a mapping splits it). */
static void huge_advise_opened_locked(uintptr_t lo, uintptr_t hi)
{
    if (!arc_arena.huge_auto || huge_state() != ARC_HUGE_ACTIVE)
        return;
    uintptr_t end = atomic_load_explicit(&arc_arena.huge_end, memory_order_relaxed);
    if (hi > end)
        hi = end;
    if (hi > lo)
        arc_os_hugepages((void *)lo, hi - lo, true);
}

/* Caller holds the lock: opens the window up to `end` rounded up to the grain of the moment, and
 * advises what it opened when `advise` (huge_extend, which advises it with the rest of its range
 * in one call, passes false). False when the kernel refuses (vm.max_map_count; under strict
 * overcommit the commit limit, since a closed mapping is charged only as it opens): nothing
 * changed then. */
static bool top_raise_locked(uintptr_t end, bool advise)
{
    size_t os_page = arc_os_page_size();
    size_t grain =
        huge_state() == ARC_HUGE_ACTIVE && TOP_GRAIN_HUGE > os_page ? TOP_GRAIN_HUGE : os_page;
    uintptr_t limit = arc_arena.base + arc_arena.size;
    uintptr_t exact = (end + grain - 1) & ~(uintptr_t)(grain - 1);
    if (exact > limit)
        exact = limit;
    if (exact <= arc_arena.top)
        return true;
    /* Ahead first; under strict overcommit that may be refused where the run alone is not. */
    size_t open = arc_arena.top - arc_arena.base;
    uintptr_t top = open >= TOP_AHEAD_FROM ? arc_arena.top + open / TOP_AHEAD_DIV : 0;
    top = (top + grain - 1) & ~(uintptr_t)(grain - 1);
    top = top < exact ? exact : top > limit ? limit : top;
    if (!arc_os_protect((void *)arc_arena.top, top - arc_arena.top, true)) {
        if (top == exact || !arc_os_protect((void *)arc_arena.top, exact - arc_arena.top, true))
            return false;
        top = exact;
    }
    if (advise)
        huge_advise_opened_locked(arc_arena.top, top);
    arc_arena.top = top;
    return true;
}

static bool top_open_locked(uintptr_t end)
{
    return top_raise_locked(end, true);
}

/* Caller holds the lock and has just taken [addr, end) from the page allocator: false when the
 * run cannot be opened (the caller gives it back). One comparison unless it ends above the top. */
static bool top_cover_locked(uintptr_t end)
{
    return end <= arc_arena.top || top_open_locked(end);
}

/* Bytes in heap segments and live large runs, plus `adding` not counted yet. */
static size_t huge_in_use(size_t adding)
{
    /* A heap's only segment does not count: with 4 KiB pages it is resident only where used, and
     * 64 threads that each keep a few dozen KiB in their one segment would otherwise pass the
     * threshold and have every segment resident whole, 2 MiB a pair (64 such threads: 67 MB of
     * RSS with huge pages, 12 MB without). Read before segment_bytes, so a segment moving between
     * the two figures meanwhile is counted rather than missed. */
    size_t only = atomic_load_explicit(&arc_arena.only_segment_bytes, memory_order_relaxed);
    size_t segments = atomic_load_explicit(&arc_arena.segment_bytes, memory_order_relaxed);
    return (segments > only ? segments - only : 0) +
           atomic_load_explicit(&arc_arena.large_bytes, memory_order_relaxed) + adding;
}

/* The bytes in use at which `auto` next weighs turning huge pages on. */
static size_t huge_on_bytes(void)
{
    size_t recheck = atomic_load_explicit(&arc_arena.huge_recheck, memory_order_relaxed);
    return recheck > ARC_HUGE_AUTO_BYTES ? recheck : ARC_HUGE_AUTO_BYTES;
}

/* `auto`, huge pages off: whether to weigh turning them on, with `in_use` bytes in use (`adding`
 * of them just taken, for a large run when `run`): at ARC_HUGE_AUTO_BYTES, or when the live runs
 * pass ARC_HUGE_AUTO_RUN_BYTES and ARC_HUGE_AUTO_RUNS. Once the heaps were found sparse only their
 * growth by a quarter counts (huge_on_bytes), so a sparse heap beside big runs is not judged again
 * at every fresh run. */
static bool huge_due(size_t in_use, size_t adding, bool run)
{
    if (in_use >= huge_on_bytes())
        return true;
    size_t runs = atomic_load_explicit(&arc_arena.large_bytes, memory_order_relaxed);
    size_t count = atomic_load_explicit(&arc_arena.large_count, memory_order_relaxed);
    if (run)
        runs += adding, count++;
    return runs > ARC_HUGE_AUTO_RUN_BYTES && count >= ARC_HUGE_AUTO_RUNS &&
           atomic_load_explicit(&arc_arena.huge_recheck, memory_order_relaxed) == 0;
}

/* Whether what the heaps hold from `lo` up is touched densely enough for huge pages: resident
 * bytes against bytes, at least 1/ARC_HUGE_DENSE_DIV, for their segments (less `adding`: what was
 * just taken is untouched yet) and for their large runs, each judged on its own once there are
 * ARC_HUGE_EVIDENCE_BYTES of it. Segments hold a program's small and medium blocks, written as
 * they are handed out, so their residency says how much of each block it uses. Runs already
 * handed out say the same of big blocks: a server's read buffers of 256 KiB with a message in
 * the first pages each are sparse, and huge pages would make every one resident whole (5 000 of
 * them: 1.29 GB and 3.3 s on this guest, against 21 MB and 0.02 s with 4 KiB pages). The run
 * being taken is not in the page map yet, so a table the program has just asked for and will
 * fill is not held against it; one taken earlier and not filled yet is, until the next look at
 * each growth by a quarter. Only pages on 4 KiB pages can be judged (one touch makes a whole huge
 * page resident): the window before huge pages go on, the stretch past huge_end after. Each
 * segment and each run judged is one mincore call, made only at the threshold and at each growth
 * past it. */
typedef enum huge_judgment {
    HUGE_DENSE,
    HUGE_SPARSE,
    HUGE_UNKNOWN,  /* segments there, but too few to judge by (ARC_HUGE_EVIDENCE_BYTES) */
    HUGE_RUNS,     /* no segment there yet: large runs, found dense */
    HUGE_RUNS_FEW, /* no segment there yet, and too few runs to judge by */
} huge_judgment_t;

/* Bytes and resident bytes of what one look judged. */
typedef struct huge_tally {
    size_t bytes, resident;
} huge_tally_t;

/* Adds [addr, addr + len) to t, unless `started` and none of it is resident. */
static void huge_tally_add(huge_tally_t *t, uintptr_t addr, size_t len, bool started)
{
    size_t in = arc_os_resident_in((void *)addr, len);
    if (in == 0 && started)
        return;
    t->resident += in == SIZE_MAX ? len : in; /* unknown: as dense as can be */
    t->bytes += len;
}

/* Whether t holds `evidence` bytes at least, resident at less than 1/ARC_HUGE_DENSE_DIV. */
static bool huge_tally_sparse(const huge_tally_t *t, size_t evidence)
{
    return t->bytes >= evidence && t->resident < t->bytes / ARC_HUGE_DENSE_DIV;
}

/* Where the head of a run of `bytes` at `at` ends: ARC_HUGE_RUN_EVIDENCE_BYTES into it, rounded up
 * to a huge page boundary, or the run's end. Past the cover's limit a big run's head stays on 4 KiB
 * pages for the next look to judge and the rest asks for huge pages at once (huge_tail_start). */
static uintptr_t huge_head_end(uintptr_t at, size_t bytes)
{
    uintptr_t head = (at + ARC_HUGE_RUN_EVIDENCE_BYTES + ARC_HUGE_PAGE_SIZE - 1) &
                     ~(uintptr_t)(ARC_HUGE_PAGE_SIZE - 1);
    return head < at + bytes ? head : at + bytes;
}

/* The live large runs that start in [lo, hi), the ARC_HUGE_JUDGE_RUNS nearest below hi, read from
 * the page map without the lock: a run freed meanwhile may be counted or missed, and a descriptor
 * reused meanwhile (its address no longer the page's) is passed over. A run with no page resident
 * is not counted: the program has not begun to use it (a table it got from calloc and fills
 * next: bench/frag's first 3.8 MB), where a sparse buffer has its first bytes written. */
static huge_tally_t huge_runs_tally(uintptr_t lo, uintptr_t hi, bool heads)
{
    const size_t seg_pages = ARC_SEGMENT_SIZE / ARC_PAGE_SIZE;
    huge_tally_t t = {0, 0};
    size_t first = (lo - arc_arena.base) / ARC_PAGE_SIZE, i = (hi - arc_arena.base) / ARC_PAGE_SIZE;
    for (size_t runs = 0; i > first && runs < ARC_HUGE_JUDGE_RUNS;) {
        i--;
        if (__atomic_load_n(&arc_arena.segmap[i / seg_pages], __ATOMIC_RELAXED)) {
            i -= i % seg_pages; /* a segment: no run starts in it */
            continue;
        }
        uintptr_t e = __atomic_load_n(&arc_arena.pagemap[i], __ATOMIC_ACQUIRE);
        if (!(e & ARC_MAP_LARGE) || e == ARC_MAP_FREED)
            continue;
        const arc_large_t *large = (const arc_large_t *)(e & ~ARC_MAP_LARGE);
        uintptr_t addr = __atomic_load_n(&large->addr, __ATOMIC_RELAXED);
        size_t pages = __atomic_load_n(&large->pages, __ATOMIC_RELAXED);
        if (addr != arc_arena.base + i * ARC_PAGE_SIZE || pages == 0 || addr >= hi)
            continue;
        size_t len = pages * ARC_PAGE_SIZE < hi - addr ? pages * ARC_PAGE_SIZE : hi - addr;
        if (heads) /* only what lies on 4 KiB pages */
            len = huge_head_end(addr, len) - addr;
        huge_tally_add(&t, addr, len, true);
        runs++;
    }
    return t;
}

static huge_judgment_t huge_dense(uintptr_t lo, size_t adding, bool heads, bool *runs_judged)
{
    arc_arena_lock();
    uintptr_t top = arc_arena.top;
    arc_arena_unlock();
    huge_tally_t segs = {0, 0};
    for (uintptr_t at = lo; at < top; at += ARC_SEGMENT_SIZE) {
        uintptr_t seg = __atomic_load_n(&arc_arena.segmap[(at - arc_arena.base) / ARC_SEGMENT_SIZE],
                                        __ATOMIC_RELAXED);
        if (seg)
            huge_tally_add(&segs, seg, ARC_SEGMENT_SIZE, false);
    }
    huge_tally_t runs = huge_runs_tally(lo, top, heads);
    *runs_judged = runs.bytes >= ARC_HUGE_RUN_EVIDENCE_BYTES;
    /* Segments weigh from ARC_HUGE_EVIDENCE_BYTES, and over the whole window only beyond the
     * heaps' only segments, as in huge_in_use (a thread's first segment is resident where used,
     * mostly empty in a program of big buffers: bench/alignedruns' 20 KiB of 1 MiB). */
    size_t seg_bytes = segs.bytes > adding ? segs.bytes - adding : 0;
    bool segs_weigh =
        seg_bytes >= ARC_HUGE_EVIDENCE_BYTES &&
        (lo != arc_arena.base ||
         seg_bytes > atomic_load_explicit(&arc_arena.only_segment_bytes, memory_order_relaxed));
    if (!segs_weigh) {
        if (*runs_judged)
            return huge_tally_sparse(&runs, ARC_HUGE_RUN_EVIDENCE_BYTES) ? HUGE_SPARSE : HUGE_RUNS;
        return segs.bytes == 0 ? HUGE_RUNS_FEW : HUGE_UNKNOWN;
    }
    /* Segments and runs weigh by their bytes: what matters is how much of the window huge pages
     * would make resident that is not now. */
    huge_tally_t all = {.bytes = seg_bytes + runs.bytes, .resident = segs.resident + runs.resident};
    return huge_tally_sparse(&all, ARC_HUGE_EVIDENCE_BYTES) ? HUGE_SPARSE : HUGE_DENSE;
}

static bool huge_provisional(void)
{
    return atomic_load_explicit(&arc_arena.huge_provisional, memory_order_relaxed);
}

/* While huge pages are on: whether the heap has grown ARC_HUGE_STRETCH_BYTES past the part of
 * the window that asks for them (ARC_HUGE_EVIDENCE_BYTES past the runs' cover while it is
 * provisional), and its bytes in use are past the last judgment's recheck. */
static bool huge_stretch_due(size_t in_use)
{
    uintptr_t top = __atomic_load_n(&arc_arena.top, __ATOMIC_RELAXED);
    uintptr_t end = atomic_load_explicit(&arc_arena.huge_end, memory_order_relaxed);
    size_t stretch = huge_provisional() ? ARC_HUGE_EVIDENCE_BYTES : ARC_HUGE_STRETCH_BYTES;
    return top >= end + stretch && in_use >= huge_on_bytes();
}

/* While the cover is provisional: whether a fresh large run at `at` (0: none) has taken pages
 * past it, and starts below the cover's limit (arena.h, ARC_HUGE_COVER_GROWTH). */
static bool huge_cover_due(uintptr_t at)
{
    return at && huge_provisional() &&
           __atomic_load_n(&arc_arena.top, __ATOMIC_RELAXED) >
               atomic_load_explicit(&arc_arena.huge_end, memory_order_relaxed) &&
           at < atomic_load_explicit(&arc_arena.huge_cover_limit, memory_order_relaxed);
}

/* ... and past the limit, while the last look found the runs dense: where the whole huge pages
 * of the fresh run of `bytes` at `at` past its head and past the cover start, which then ask for
 * huge pages at once (up to huge_tail_end); 0 when there are none. */
static uintptr_t huge_tail_end(uintptr_t at, size_t bytes)
{
    return (at + bytes) & ~(uintptr_t)(ARC_HUGE_PAGE_SIZE - 1);
}

static uintptr_t huge_tail_start(uintptr_t at, size_t bytes)
{
    if (!at || !huge_provisional() ||
        !atomic_load_explicit(&arc_arena.huge_tails, memory_order_relaxed) ||
        at < atomic_load_explicit(&arc_arena.huge_cover_limit, memory_order_relaxed))
        return 0;
    uintptr_t head = huge_head_end(at, bytes);
    uintptr_t end = atomic_load_explicit(&arc_arena.huge_end, memory_order_relaxed);
    uintptr_t from = head > end ? head : end; /* below the cover it asks for them already */
    return huge_tail_end(at, bytes) > from ? from : 0;
}

/* Huge lock held: huge pages on, from `from` up to ARC_HUGE_AHEAD times the heap's reach (the
 * top), ARC_HUGE_AHEAD_MIN at least, a huge page boundary within the window; when `provisional`,
 * only up to the top (the runs taken so far: huge_provisional), and fresh runs may move it on
 * until the reach has grown ARC_HUGE_COVER_GROWTH times (set by a look, not by such a move:
 * `moved_by_run`). The top moves to the
 * next huge page boundary first (a refusal leaves it where it is: only that extent then goes
 * without a huge page), before the run that crossed the threshold is touched; what is open is
 * advised in one call, the rest as the top rises over it (huge_advise_opened_locked). Under the
 * arena lock, so that no rise of the top falls between the two. */
static void huge_extend(uintptr_t from, bool provisional, bool moved_by_run)
{
    uintptr_t base = arc_arena.base;
    arc_arena_lock();
    uintptr_t limit = base + arc_arena.size, top = arc_arena.top, reach = top - base;
    uintptr_t end =
        reach <= (limit - base) / ARC_HUGE_AHEAD ? base + reach * ARC_HUGE_AHEAD : limit;
    if (end - base < ARC_HUGE_AHEAD_MIN)
        end = base + ARC_HUGE_AHEAD_MIN;
    end = (end + ARC_HUGE_PAGE_SIZE - 1) & ~(uintptr_t)(ARC_HUGE_PAGE_SIZE - 1);
    if (end > limit)
        end = limit;
    atomic_store_explicit(&arc_arena.huge, ARC_HUGE_ACTIVE, memory_order_relaxed);
    top_raise_locked(top, false);
    top = arc_arena.top;
    if (provisional)
        end = top;
    if (provisional && !moved_by_run) { /* a look found the runs dense (or too few to judge) */
        size_t reach_now = top - base, room = limit - top;
        size_t more = reach_now <= room / (ARC_HUGE_COVER_GROWTH - 1)
                          ? reach_now * (ARC_HUGE_COVER_GROWTH - 1)
                          : room;
        if (more < ARC_HUGE_COVER_MIN && room >= ARC_HUGE_COVER_MIN)
            more = ARC_HUGE_COVER_MIN;
        atomic_store_explicit(&arc_arena.huge_cover_limit, top + more, memory_order_relaxed);
        atomic_store_explicit(&arc_arena.huge_tails, true, memory_order_relaxed);
    }
    atomic_store_explicit(&arc_arena.huge_end, end, memory_order_relaxed);
    atomic_store_explicit(&arc_arena.huge_provisional, provisional, memory_order_relaxed);
    uintptr_t open_end = end < top ? end : top;
    if (open_end > from)
        arc_os_hugepages((void *)from, open_end - from, true);
    arc_arena_unlock();
}

/* Huge lock held: huge pages off, the whole window refusing them (its two mappings merge back
 * into one advice). */
static void huge_retract(void)
{
    arc_arena_lock();
    atomic_store_explicit(&arc_arena.huge_end, arc_arena.base, memory_order_relaxed);
    atomic_store_explicit(&arc_arena.huge_provisional, false, memory_order_relaxed);
    atomic_store_explicit(&arc_arena.huge, ARC_HUGE_WAITING, memory_order_relaxed);
    arc_os_hugepages((void *)arc_arena.base, arc_arena.size, false);
    arc_arena_unlock();
}

/* `auto`: switches huge pages on when the bytes in use (with `adding` bytes just handed out, for
 * a large run when `run`) reach ARC_HUGE_AUTO_BYTES, or several live runs pass
 * ARC_HUGE_AUTO_RUN_BYTES (huge_due), and the heaps are touched densely (else it waits until they
 * have grown by a quarter), off when they fall to ARC_HUGE_AUTO_OFF_BYTES; while they are on,
 * extends the part of the window that asks for them once the heap has grown past it and that
 * stretch is dense too (arena.h, ARC_HUGE_AHEAD), or, while that part is only the runs' cover
 * (huge_provisional), over each fresh run taken past it up to its limit, and past that over the
 * tails of big runs while the runs last looked at were dense. Called when fresh pages are taken
 * (`adding` bytes, a large run's at `run_at`, else 0; a run a cache kept is resident already: the
 * advice no longer matters to it) and when pages go back. A few relaxed loads when nothing
 * changes; called without the arena lock (it makes system calls). */
static void huge_update(size_t adding, uintptr_t run_at)
{
    bool run = run_at != 0;
    arc_huge_state_t state = huge_state();
    if (state == ARC_HUGE_NONE || !arc_arena.huge_auto)
        return;
    size_t in_use = huge_in_use(adding);
    if (state == ARC_HUGE_ACTIVE ? in_use > ARC_HUGE_AUTO_OFF_BYTES && !huge_stretch_due(in_use) &&
                                       !huge_cover_due(run_at) && !huge_tail_start(run_at, adding)
                                 : !huge_due(in_use, adding, run)) {
        /* A sparse heap that is gone: the next big one is judged at the threshold again. */
        if (state == ARC_HUGE_WAITING && in_use <= ARC_HUGE_AUTO_OFF_BYTES &&
            atomic_load_explicit(&arc_arena.huge_recheck, memory_order_relaxed) != 0)
            atomic_store_explicit(&arc_arena.huge_recheck, 0, memory_order_relaxed);
        return;
    }
    pthread_mutex_lock(&huge_lock);
    state = huge_state();
    in_use = huge_in_use(adding);
    bool on = state == ARC_HUGE_WAITING && huge_due(in_use, adding, run);
    bool on_by_runs = on && in_use < huge_on_bytes(); /* several runs, below the threshold */
    bool off = state == ARC_HUGE_ACTIVE && in_use <= ARC_HUGE_AUTO_OFF_BYTES;
    bool cover = state == ARC_HUGE_ACTIVE && !off && huge_cover_due(run_at);
    bool extend = state == ARC_HUGE_ACTIVE && !off && !cover && huge_stretch_due(in_use);
    bool provisional = huge_provisional();
    uintptr_t from =
        on ? arc_arena.base : atomic_load_explicit(&arc_arena.huge_end, memory_order_relaxed);
    /* The window's start with too few segments to judge: the program's first big runs, which it
     * will write; huge pages cover them, and what comes after them is judged as it comes. A
     * stretch with too few: it waits for more. Several runs below the threshold turn huge pages
     * on only once those handed out before are found dense: till then each fresh run looks
     * again. */
    bool runs_judged = false;
    huge_judgment_t judged = on || extend ? huge_dense(from, on && !run ? adding : 0,
                                                       extend && provisional, &runs_judged)
                                          : HUGE_DENSE;
    if (judged == HUGE_SPARSE)
        atomic_store_explicit(&arc_arena.huge_recheck, in_use + in_use / ARC_HUGE_RECHECK_GROWTH,
                              memory_order_relaxed);
    if (judged == HUGE_SPARSE && extend && provisional) /* no more tails until a look finds dense */
        atomic_store_explicit(&arc_arena.huge_tails, false, memory_order_relaxed);
    uintptr_t top = __atomic_load_n(&arc_arena.top, __ATOMIC_RELAXED);
    bool waits =
        judged == HUGE_UNKNOWN || (judged == HUGE_RUNS_FEW && top - from <= ARC_HUGE_STRETCH_BYTES);
    if (on_by_runs && !runs_judged)
        on = false;

    /* Past the runs' cover, segments found dense move the frontier on, runs found dense (those
     * past the cover's limit, on 4 KiB pages) the cover; a segment or run just taken is not in
     * the maps yet. */
    if (extend && provisional)
        extend = judged == HUGE_DENSE || judged == HUGE_RUNS;
    if (judged == HUGE_SPARSE || (extend && waits))
        on = extend = false;
    if (off || on || extend) /* the next judgment is at the threshold, or at the next stretch */
        atomic_store_explicit(&arc_arena.huge_recheck, 0, memory_order_relaxed);
    if (on)
        huge_extend(from, judged == HUGE_RUNS || judged == HUGE_RUNS_FEW || judged == HUGE_UNKNOWN,
                    false);
    else if (extend || cover)
        huge_extend(from, cover || (provisional && judged == HUGE_RUNS), cover);
    else if (off)
        huge_retract();
    else if (state == ARC_HUGE_ACTIVE) {
        uintptr_t tail = huge_tail_start(run_at, adding);
        if (tail)
            arc_os_hugepages((void *)tail, huge_tail_end(run_at, adding) - tail, true);
    }

    pthread_mutex_unlock(&huge_lock);
}

/* A mapping made anew inside the window (arc_large_move's refill) gets the window's advice. */
static void huge_match(void *addr, size_t size)
{
    pthread_mutex_lock(&huge_lock);
    arc_huge_state_t state = huge_state();
    uintptr_t lo = (uintptr_t)addr, hi = lo + size;
    uintptr_t end = state == ARC_HUGE_ACTIVE
                        ? atomic_load_explicit(&arc_arena.huge_end, memory_order_relaxed)
                        : lo;
    uintptr_t mid = end < lo ? lo : end > hi ? hi : end; /* [lo, mid) asks for huge pages */
    if (mid > lo)
        arc_os_hugepages(addr, mid - lo, true);
    if (hi > mid && (state != ARC_HUGE_NONE || arc_arena.huge_refuse))
        arc_os_hugepages((void *)mid, hi - mid, false);
    pthread_mutex_unlock(&huge_lock);
}

/* A run [*lo, *hi) about to go back: when the rest of the huge page holding its first (or last)
 * page is free, those free pages are taken too, so that the run and they go back together as a
 * whole huge page. Giving back part of a huge page splits it into 4 KiB pages for good (until
 * the kernel merges them again); a whole one goes back at once, its page table with it, and the
 * next touch of that extent gets a huge page again. Free pages already read as zero: giving them
 * back again costs nothing but the call. */
static void huge_widen(uintptr_t *lo, uintptr_t *hi)
{
    /* The pages claimed here are not opened when they lie above the top: they go back at once,
     * madvise needs no access, and a widened end is a huge page boundary, so arc_os_decommit
     * zeroes no part of a page above the top. Opening them would only let the next overflow run
     * further. */
    uintptr_t head = *lo & ~(uintptr_t)(ARC_HUGE_PAGE_SIZE - 1);
    uintptr_t tail = (*hi + ARC_HUGE_PAGE_SIZE - 1) & ~(uintptr_t)(ARC_HUGE_PAGE_SIZE - 1);
    if (head == *lo && tail == *hi)
        return;
    arc_arena_lock();
    if (head < *lo && arc_pages_alloc_at(arc_arena.pages, head, (*lo - head) / ARC_PAGE_SIZE,
                                         ARC_PAGE_SIZE) == ARC_OK)
        *lo = head;
    if (*hi < tail && arc_pages_alloc_at(arc_arena.pages, *hi, (tail - *hi) / ARC_PAGE_SIZE,
                                         ARC_PAGE_SIZE) == ARC_OK)
        *hi = tail;
    arc_arena_unlock();
}

/* Under a cap on the process's address space (RLIMIT_AS), the window takes at most this share of
 * what the process may still map, less the page allocator's state and the maps; the program
 * keeps the rest for its stacks, libraries and own mappings. The window grows later when it is
 * full and the cap still leaves room (window_grow_locked), as glibc's heap grows into the same
 * room as it goes. */
#define ROOM_SHARE_NUM 3
#define ROOM_SHARE_DEN 4

/* Bytes of the page map (a word a page) and the segment map (a word a segment) over `reach`. */
static size_t maps_bytes(size_t reach)
{
    return reach / ARC_PAGE_SIZE * sizeof(uintptr_t) + reach / ARC_SEGMENT_SIZE * sizeof(uintptr_t);
}

/* Under RLIMIT_AS: *reach, the most the window may grow to, falls to the room the cap leaves
 * (the process can never map more), and the window shrinks to a share of that room, in whole
 * huge pages (at least ARC_ARENA_MIN_RESERVE), aligned to a huge page only: an alignment of the
 * window's own size would ask the OS for twice the window, transiently. Segments need 1 MiB and
 * huge pages 2 MiB; the page allocator serves larger alignments inside a window that has less.
 * Rounding down to whole ARC_ARENA_MIN_RESERVE units instead left up to 6 MiB of the share
 * unused: a python3 under `ulimit -v 30000` got an 8 MiB window where 12 MiB fit. */
static bool window_fit_room(size_t *want, size_t *align, size_t *reach)
{
    size_t room = arc_os_address_room();
    if (room == SIZE_MAX)
        return false;
    size_t most = room / ARC_HUGE_PAGE_SIZE * ARC_HUGE_PAGE_SIZE + ARC_HUGE_PAGE_SIZE;
    if (most < *reach)
        *reach = most;
    size_t share = room / ROOM_SHARE_DEN * ROOM_SHARE_NUM;
    size_t state = arc_pages_state_size_below(*reach) + maps_bytes(*reach);
    share = share > state ? share - state : 0;
    share = share / ARC_HUGE_PAGE_SIZE * ARC_HUGE_PAGE_SIZE;
    if (share < ARC_ARENA_MIN_RESERVE)
        share = ARC_ARENA_MIN_RESERVE;
    if (share < *want) {
        *want = share;
        *align = ARC_HUGE_PAGE_SIZE;
    }
    return true;
}

/* A window that may grow (reach above its size) moves down by the growth it may ever take, so
 * that the addresses above it stay free for it: the kernel places new mappings top-down, at the
 * top of the highest gap that fits, so the program's later mappings fill that gap from above
 * while the window grows into it from below, and the cap keeps the two from meeting. Where the
 * kernel put it, the window had a library right above it (python3 under `ulimit -v`). The window
 * is unmapped first (the cap has no room for two); NULL when the lower place is taken. */
static void *window_place_low(void *window, size_t size, size_t reach)
{
    size_t gap = reach - size;
    arc_os_unmap(window, size);
    if ((uintptr_t)window < gap + WINDOW_ALIGN + ARC_ARENA_MIN_RESERVE)
        return NULL;
    /* Aligned as the page allocator aligns its map's base, so that the map covers the growth
     * (in a 256m build a window that grew across a 256 MiB boundary would stop there). */
    void *low = (void *)(((uintptr_t)window - gap) & ~(uintptr_t)(WINDOW_ALIGN - 1));
    return arc_os_reserve_closed_at(low, size) ? low : NULL;
}

bool arc_arena_init(void)
{
    if (arc_arena.base)
        return true;
    secure_init();
    size_t got = 0, want = (size_t)ARC_ADDRESS_SPACE_BYTES, align = WINDOW_ALIGN;
    /* memcheck keeps state for every reserved byte: under valgrind the range is capped. */
    if (ARC_VG_RUNNING() && want > ARC_ARENA_VALGRIND_RESERVE)
        want = ARC_ARENA_VALGRIND_RESERVE;
    size_t reach = want;
    bool capped = window_fit_room(&want, &align, &reach);
    /* Under a cap the window starts small and grows as the heap does (window_grow_locked), so
     * that address space reserved and unused does not take the room the program's own big
     * mappings need; where it cannot be placed so that it can grow, it takes its share at once. */
    size_t share = want;
    if (capped && want > ARC_ARENA_MIN_RESERVE)
        want = ARC_ARENA_MIN_RESERVE;
    /* Closed: opened as the page allocator hands it out (the top, above). */
    void *window = arc_os_reserve_closed(want, ARC_ARENA_MIN_RESERVE, align, &got);
    bool grows = window && capped && reach > got;
    if (grows)
        window = window_place_low(window, got, reach);
    if (!window && capped) {
        /* Not placed to grow: the share at once, and the page allocator's whole state, which a
         * window placed low needs only for its reach (it starts on the map's base). */
        size_t more = arc_pages_state_size() - arc_pages_state_size_below(reach);
        more = (more + ARC_HUGE_PAGE_SIZE - 1) / ARC_HUGE_PAGE_SIZE * ARC_HUGE_PAGE_SIZE;
        share = share > more + ARC_ARENA_MIN_RESERVE ? share - more : ARC_ARENA_MIN_RESERVE;
        window = arc_os_reserve_closed(share, ARC_ARENA_MIN_RESERVE, align, &got);
        grows = false;
    }
    if (!window)
        return false;
    if (!grows)
        reach = got; /* the window is all there is */
    /* One reservation holds the page map and, after it, the segment map. */
    size_t page_map_bytes = reach / ARC_PAGE_SIZE * sizeof(uintptr_t);
    size_t map_bytes = maps_bytes(reach), map_got = 0;
    uintptr_t *pagemap = arc_os_reserve(map_bytes, map_bytes, ARC_PAGE_SIZE, &map_got);
    size_t state_bytes = grows ? arc_pages_state_size_below(reach) : arc_pages_state_size();
    size_t state_got = 0;
    arc_pages_t *pages = arc_os_reserve(state_bytes, state_bytes, ARC_PAGE_SIZE, &state_got);
    if (!pagemap || !pages || arc_pages_init(pages, (uintptr_t)window, got) != ARC_OK) {
        arc_os_unmap(window, got);
        if (pagemap)
            arc_os_unmap(pagemap, map_bytes);
        if (pages)
            arc_os_unmap(pages, state_bytes);
        return false;
    }
    huge_init(window, got);
    arc_arena.pagemap = pagemap;
    arc_arena.segmap = pagemap + page_map_bytes / sizeof(uintptr_t);
    arc_arena.pages = pages;
    arc_arena.size = got;
    arc_arena.reach = reach;
    arc_arena.top = (uintptr_t)window;
    arc_arena.base = (uintptr_t)window; /* last: arc_arena_entry() trusts size once base is set */
    return true;
}

/* Caller holds the lock; the window is full for a run of `pages` aligned to `align`. Under
 * RLIMIT_AS it grows in place: fresh closed address space mapped right after its end, at least
 * the run (and its alignment) and at least ARC_ARENA_MIN_RESERVE or a share of the room left,
 * whichever is less, never past `reach` or the room the cap leaves, and handed to the page
 * allocator, whose region it extends (a run may span the old end). On success [*lo, *hi) is
 * the part added, for the huge page advice the caller gives it once the lock is dropped.
 * False, nothing changed, when there is no cap, no room, or the addresses are taken. */
static bool window_grow_locked(size_t pages, size_t align, uintptr_t *lo, uintptr_t *hi)
{
    size_t size = arc_arena.size, left = arc_arena.reach - size;
    if (left == 0)
        return false;
    size_t room = arc_os_address_room();
    if (room == SIZE_MAX)
        return false;
    size_t need = pages * ARC_PAGE_SIZE + (align > ARC_HUGE_PAGE_SIZE ? align : 0);
    size_t step = room / ROOM_SHARE_DEN * ROOM_SHARE_NUM;
    if (step > ARC_ARENA_MIN_RESERVE)
        step = ARC_ARENA_MIN_RESERVE;
    size_t bytes = need > step ? need : step;
    bytes = (bytes + ARC_HUGE_PAGE_SIZE - 1) / ARC_HUGE_PAGE_SIZE * ARC_HUGE_PAGE_SIZE;
    if (bytes > left)
        bytes = left;
    if (bytes > room)
        bytes = room / ARC_HUGE_PAGE_SIZE * ARC_HUGE_PAGE_SIZE;
    uintptr_t end = arc_arena.base + size;
    if (bytes == 0 || !arc_os_reserve_closed_at((void *)end, bytes))
        return false;
    size_t before = arc_pages_total_pages(arc_arena.pages);
    size_t added = 0;
    if (arc_pages_add_memory(arc_arena.pages, end, bytes) == ARC_OK)
        added = (arc_pages_total_pages(arc_arena.pages) - before) * ARC_PAGE_SIZE;
    if (added < bytes) /* past the page allocator's map (a 256m build): not kept */
        arc_os_unmap((void *)(end + added), bytes - added);
    if (added == 0)
        return false;
    __atomic_store_n(&arc_arena.size, size + added, __ATOMIC_RELEASE);
    *lo = end;
    *hi = end + added;
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

/* Caller holds the lock, and has just taken pages. */
static void peak_update_locked(void)
{
    size_t used = arc_pages_used_pages(arc_arena.pages);
    if (used > arc_arena.peak_pages)
        arc_arena.peak_pages = used;
}

/* Caller holds the lock and has just taken [addr, addr + pages pages) from the page allocator:
 * opens it up to the top and counts the peak; false (the pages given back) when it cannot be
 * opened. */
static bool claimed_locked(uintptr_t addr, size_t pages)
{
    if (!top_cover_locked(addr + pages * ARC_PAGE_SIZE)) {
        arc_pages_dealloc(arc_arena.pages, addr, pages);
        return false;
    }
    peak_update_locked();
    return true;
}

static uintptr_t pages_alloc_locked(size_t pages, size_t align)
{
    uintptr_t addr = 0;
    if (arc_pages_alloc(arc_arena.pages, pages, align, &addr) != ARC_OK ||
        !claimed_locked(addr, pages))
        return 0;
    return addr;
}

/* Exactly [addr, addr + pages pages), when all of it is free; a run that would pass the window's
 * end grows the window first where it can grow (a big block grown by realloc at the heap's end
 * stays where it is, as glibc's top chunk does). */
static bool pages_alloc_at(uintptr_t addr, size_t pages)
{
    uintptr_t end = addr + pages * ARC_PAGE_SIZE, grown_lo = 0, grown_hi = 0;
    arc_arena_lock();
    bool got = arc_pages_alloc_at(arc_arena.pages, addr, pages, ARC_PAGE_SIZE) == ARC_OK &&
               claimed_locked(addr, pages);
    uintptr_t limit = arc_arena.base + arc_arena.size;
    if (!got && addr <= limit && end > limit &&
        window_grow_locked((end - limit) / ARC_PAGE_SIZE, ARC_PAGE_SIZE, &grown_lo, &grown_hi))
        got = arc_pages_alloc_at(arc_arena.pages, addr, pages, ARC_PAGE_SIZE) == ARC_OK &&
              claimed_locked(addr, pages);
    arc_arena_unlock();
    if (grown_hi)
        huge_match((void *)grown_lo, grown_hi - grown_lo);
    return got;
}

/* ---- page runs ----------------------------------------------------------------------------
 * Freed runs (large blocks, empty segments) go to the dirty cache of the heap that used them:
 * still committed, so the next run placed on them takes no page fault, until they decay
 * (dirty.c). The caches together keep at most the bytes in use (segments and large runs; the
 * highest of the last decay time, dirty.c), and DIRTY_FLOOR_BYTES whatever that is: a program that
 * frees everything keeps its freed runs only until they decay. */

/* Dirty bytes kept whatever the bytes in use: a buffer of up to 64 MiB freed and allocated again
 * in a loop, with nothing else live, takes no page fault. */
#define DIRTY_FLOOR_BYTES ((size_t)64 << 20)
_Static_assert(DIRTY_FLOOR_BYTES % ARC_PAGE_SIZE == 0, "the floor is whole pages");
/* Cached runs a miss tries to grow into the free pages beside them: the largest few of a
 * cache's ARC_DIRTY_SLOTS, each try one lock of the page allocator. */
#define GROW_CACHED_TRIES 4u

/* Decommits [addr, addr + pages pages) and, wherever huge pages may back it, the free pages
 * sharing its huge pages (huge_widen), which it claims: the range it claimed, *lo to *hi. */
static void decommit_widened(uintptr_t addr, size_t pages, uintptr_t *lo, uintptr_t *hi)
{
    *lo = addr;
    *hi = addr + pages * ARC_PAGE_SIZE;
    if (huge_state() != ARC_HUGE_NONE) /* huge pages may back the run even when off again */
        huge_widen(lo, hi);
    /* Refused (pages the program locked): the run is cleared by hand; the free pages widened
     * to read as zero already, and those above the top cannot be written. */
    if (!arc_os_decommit((void *)*lo, *hi - *lo))
        memset((void *)addr, 0, pages * ARC_PAGE_SIZE);
}

/* A run is decommitted before its pages are free: once free, another thread may take and write
 * them. With huge pages on, it goes back with the free pages around it up to whole huge pages. */
void arc_arena_run_release(uintptr_t addr, size_t pages)
{
    uintptr_t lo, hi;
    decommit_widened(addr, pages, &lo, &hi);
    arc_arena_lock();
    arc_pages_dealloc(arc_arena.pages, lo, (hi - lo) / ARC_PAGE_SIZE);
    arc_arena_unlock();
}

/* The free pages beside the run go back with it: a huge page that held the run and free pages
 * would otherwise keep those free pages resident, as zeros, once the run's part is gone. */
void arc_arena_run_decommit(uintptr_t addr, size_t pages)
{
    uintptr_t lo, hi, end = addr + pages * ARC_PAGE_SIZE;
    decommit_widened(addr, pages, &lo, &hi);
    if (lo < addr || end < hi) {
        arc_arena_lock();
        if (lo < addr)
            arc_pages_dealloc(arc_arena.pages, lo, (addr - lo) / ARC_PAGE_SIZE);
        if (end < hi)
            arc_pages_dealloc(arc_arena.pages, end, (hi - end) / ARC_PAGE_SIZE);
        arc_arena_unlock();
    }
    huge_update(pages * ARC_PAGE_SIZE, 0); /* fresh pages again, which the caller counts next */
}

/* Pages whose bytes are known to be zero (moved away by mremap) need no decommit. */
static void run_release_clean(uintptr_t addr, size_t pages)
{
    arc_arena_lock();
    arc_pages_dealloc(arc_arena.pages, addr, pages);
    arc_arena_unlock();
}

static size_t dirty_budget_pages(void)
{
    size_t in_use = atomic_load_explicit(&arc_arena.segment_bytes, memory_order_relaxed) +
                    atomic_load_explicit(&arc_arena.large_bytes, memory_order_relaxed);
    return (in_use > DIRTY_FLOOR_BYTES ? in_use : DIRTY_FLOOR_BYTES) / ARC_PAGE_SIZE;
}

bool arc_arena_purge(void)
{
    return arc_dirty_purge_all();
}

/* A miss in the caches: a run of `cache` too small for the request grows into the free pages
 * after (or before) it, so that its pages, still committed, take no fault again. The largest
 * runs are tried first, and only runs that hold at least half the request: the run comes back
 * dirty whole (calloc clears all of it), so a small cached part is not worth the clearing. */
static uintptr_t pages_alloc_beside_cached(arc_dirty_cache_t *cache, size_t pages, size_t align)
{
    arc_dirty_run_t runs[GROW_CACHED_TRIES];
    uint32_t n = arc_dirty_list(cache, runs, GROW_CACHED_TRIES);
    for (uint32_t i = 0; i < n && runs[i].pages * 2 >= pages; i++) {
        uintptr_t lo = runs[i].addr, hi = lo + runs[i].pages * ARC_PAGE_SIZE;
        size_t more = pages - runs[i].pages, more_bytes = more * ARC_PAGE_SIZE;
        uintptr_t start = 0, extra = 0;
        if (lo % align == 0 && pages_alloc_at(hi, more))
            start = lo, extra = hi;
        else if (lo - arc_arena.base >= more_bytes && (lo - more_bytes) % align == 0 &&
                 pages_alloc_at(lo - more_bytes, more))
            start = extra = lo - more_bytes;
        if (!start)
            continue;
        if (arc_dirty_take_at(cache, lo, runs[i].pages))
            return start;
        run_release_clean(extra, more); /* the run was taken meanwhile: its pages were fresh */
    }
    return 0;
}

uintptr_t arc_arena_pages_alloc(arc_dirty_cache_t *cache, size_t pages, size_t align, bool run,
                                bool *dirty, size_t *got)
{
    if (got)
        *got = pages;
    uintptr_t addr = cache ? arc_dirty_take_fit(cache, pages, align, got) : 0;
    if (addr) {
        /* Resident as it was: huge pages neither help nor cost it, and a big block freed and
         * taken again beside a small heap switched them on at each take and off at each free
         * (two madvise calls over the whole window a cycle). */
        *dirty = true;
        return addr;
    }
    if (cache)
        addr = pages_alloc_beside_cached(cache, pages, align);
    *dirty = addr != 0;
    uintptr_t grown_lo = 0, grown_hi = 0;
    for (int attempt = 0; !addr && attempt < 3; attempt++) {
        /* The range is full: runs cached anywhere are pages in use; give them back, once, when
         * the window cannot grow (it grows only under a cap on the address space). */
        if (attempt == 2 && !arc_dirty_purge_all())
            break;
        arc_arena_lock();
        if (attempt != 1 || window_grow_locked(pages, align, &grown_lo, &grown_hi))
            addr = pages_alloc_locked(pages, align);
        arc_arena_unlock();
    }
    if (grown_hi)
        huge_match((void *)grown_lo, grown_hi - grown_lo);
    if (addr)
        huge_update(pages * ARC_PAGE_SIZE, run ? addr : 0); /* the caller counts them in use next */
    return addr;
}

void arc_arena_pages_free(arc_dirty_cache_t *cache, uintptr_t addr, size_t pages)
{
    /* Under memcheck every run is a fresh block (ARC_VG_MALLOC says so): none is kept. */
    if (!cache || ARC_VG_RUNNING())
        arc_arena_run_release(addr, pages);
    else
        arc_dirty_put(cache, addr, pages, dirty_budget_pages());
    huge_update(0, 0); /* the caller no longer counts them in use */
}

void arc_arena_segment_add(uintptr_t seg, bool only)
{
    __atomic_store_n(&arc_arena.segmap[(seg - arc_arena.base) / ARC_SEGMENT_SIZE], seg,
                     __ATOMIC_RELEASE);
    atomic_fetch_add_explicit(&arc_arena.segment_bytes, ARC_SEGMENT_SIZE, memory_order_relaxed);
    if (only)
        atomic_fetch_add_explicit(&arc_arena.only_segment_bytes, ARC_SEGMENT_SIZE,
                                  memory_order_relaxed);
}

void arc_arena_segment_remove(uintptr_t seg, bool only)
{
    __atomic_store_n(&arc_arena.segmap[(seg - arc_arena.base) / ARC_SEGMENT_SIZE], 0,
                     __ATOMIC_RELEASE);
    atomic_fetch_sub_explicit(&arc_arena.segment_bytes, ARC_SEGMENT_SIZE, memory_order_relaxed);
    if (only)
        atomic_fetch_sub_explicit(&arc_arena.only_segment_bytes, ARC_SEGMENT_SIZE,
                                  memory_order_relaxed);
}

static size_t page_index(uintptr_t addr)
{
    return (addr - arc_arena.base) / ARC_PAGE_SIZE;
}

/* A descriptor: the cache's recycled ones first (no global lock), else new metadata. */
static arc_large_t *large_desc_new(arc_dirty_cache_t *cache)
{
    arc_large_t *large = cache ? arc_dirty_spare_pop(cache) : NULL;
    if (large)
        return large;
    arc_arena_lock();
    large = arc_arena.large_free;
    if (large)
        arc_arena.large_free = ARC_ILIST_ENTRY(large->link.next, arc_large_t, link);
    else
        large = meta_alloc_locked(sizeof *large);
    arc_arena_unlock();
    return large;
}

static void large_desc_free(arc_dirty_cache_t *cache, arc_large_t *large)
{
    if (cache) {
        arc_dirty_spare_push(cache, large);
        return;
    }
    arc_arena_lock();
    large->link.next = arc_arena.large_free ? &arc_arena.large_free->link : NULL;
    arc_arena.large_free = large;
    arc_arena_unlock();
}

/* ---- clearing a large block ---------------------------------------------------------------
 * A block on dirty pages that must read as zero (calloc's; secure mode's body at its free) is
 * cleared as the kernel holds its pages: resident stretches by stores, the others by giving them
 * back. Those cost nothing to clear and nothing to keep, where a store would fault each one in and
 * keep it resident: a big calloc'd table the program writes sparsely, on the run of one it freed,
 * stays as small as on fresh pages (64 MiB with 16 pages written: 16 pages resident, not 64 MiB).
 * A page not resident reads as zero unless it is in swap: where the system has no swap space
 * (arc_os_swap_possible) such pages are left alone, elsewhere they are given back (a system call
 * each stretch: in secure mode two a cycle of a 64 KiB buffer with 2 KiB written, a third of
 * bench/connbufs's time). */

/* Stretches of pages not resident given back one by one; past this many the rest of the block
 * goes back in one call, resident pages and all (a bound on the calls for a block whose pages
 * alternate). */
#define CLEAR_STRETCHES_MAX 64

typedef struct block_clear {
    uintptr_t hi;
    uint32_t stretches; /* of pages not resident */
    bool swap;          /* pages not resident may be in swap: they are given back */
} block_clear_t;

static bool clear_stretch(void *ctx, uintptr_t addr, size_t size, bool resident)
{
    block_clear_t *bc = ctx;
    if (resident) {
        memset((void *)addr, 0, size);
        return true;
    }
    bc->stretches++;
    if (!bc->swap)
        return true;
    if (bc->stretches > CLEAR_STRETCHES_MAX) {
        arc_os_decommit_zero((void *)addr, bc->hi - addr);
        return false;
    }
    arc_os_decommit_zero((void *)addr, size);
    return true;
}

bool arc_large_clear(void *p, size_t bytes)
{
    block_clear_t bc = {.hi = (uintptr_t)p + bytes, .stretches = 0, .swap = arc_os_swap_possible()};
    if (!arc_os_residency((uintptr_t)p, bytes, clear_stretch, &bc))
        memset(p, 0, bytes);
    return bc.stretches == 0;
}

/* ---- guarded runs (secure mode) ---------------------------------------------------------------
 * A freed large run waits in its heap's guarded cache as it is: [guard][body][guard], both
 * guards PROT_NONE, the body cleared at its free and still committed (a body closed too would
 * make every page of the next run placed there trap on its first touch: 3.5 ms instead of 28 us
 * for a 3 MiB buffer on the development guest, whose hypervisor rebuilds each changed page-table
 * entry). A run freed waits in the cache's quarantine (ARC_LARGE_QUARANTINE_RUNS runs freed
 * after it) before any request can take it, and its body must still read as zero where it is
 * checked when it is handed out again (body_check): a write after free is reported then. Guards
 * laid over pages that held old bytes are cleared before they are closed, so every page of a cached
 * run reads as zero. A request whose run (guards included) is exactly a cached one takes it with no
 * protect call; a bigger cached run is split, ours first, with one call that closes our new tail
 * guard and the lead guard of what is left, which touch: the rest, [guard][body][its old guard],
 * goes back to the cache. Runs side by side merge there once out of quarantine (so a bigger request
 * still finds committed pages); the guards of the runs inside such a run lie in its middle, so
 * whoever takes it opens its body first (one more call). A run leaves the cache for good through
 * guarded_release, which opens it whole before its pages are free. */

/* The rest of a split run is at least a guard, one OS page of body and a guard. */
#define GUARDED_REST_GUARDS 3

/* The guarded caches' release function: the whole run is opened (guards and body), then given
 * back. If the kernel refuses, its pages stay used: address space lost, never a page handed out
 * PROT_NONE. */
static void guarded_release(uintptr_t addr, size_t pages)
{
    if (arc_os_guard((void *)addr, pages * ARC_PAGE_SIZE, false))
        arc_arena_run_release(addr, pages);
}

void arc_arena_guarded_register(arc_dirty_cache_t *c)
{
    arc_dirty_register_whole(c, guarded_release, ARC_LARGE_QUARANTINE_RUNS);
}

/* One page of zeros to compare a cached body's pages with. */
static const unsigned char zero_page[ARC_PAGE_SIZE];

/* A reused body is checked where a stray write is most likely and at a bounded cost, among the
 * pages the kernel holds: a write after free makes its page resident, and a page not resident
 * reads as zero (a swapped one holds the zeros its free left). Reading a page not resident would
 * map the zero page there, which the next free's clear (arc_large_clear: resident pages by
 * stores) would then fault in for good: a server's read buffers with 2 KiB of each written grew
 * from 12 to 160 MB of RSS and 185 000 faults in secure mode (bench/readbufs, 2026-12-08). Of the
 * resident pages, the first and the last are read (the fields a dangling pointer to the block
 * reaches, the end a short overflow of it does), and CHECK_SAMPLE_PAGES of those between, drawn
 * at random per take (all of them when there are no more). A write after free over many pages
 * (a buffer refilled through a dangling pointer) is always seen, one into a single middle page
 * by chance. Reading every page was 47 % of the `large` workload's time in secure mode, and one
 * line per page as much (2026-12-04, perf: the cost is the first touch of each page on this
 * shadow-paging guest, about 1 us, not its bytes). calloc clears such a run itself. */
#define CHECK_SAMPLE_PAGES 16u

/* Resident stretches of a body that body_check tells apart; past them the rest of the body counts
 * as one stretch, resident or not (a bound on the stack, for a body whose pages alternate). */
#define CHECK_STRETCHES_MAX 32u

/* Draws for the pages sampled: a Weyl sequence step (an odd 64-bit constant) mixed by a
 * multiply-xorshift, enough to keep the pages checked unpredictable from outside. */
#define CHECK_DRAW_STEP 0x9e3779b97f4a7c15ull
#define CHECK_DRAW_MIX  0xbf58476d1ce4e5b9ull

/* [at, at + bytes) reads as zero, else "write after free detected" at its first other byte.
 * Compared a page at a time: zero_page is one page long. */
static void check_zero(uintptr_t at, size_t bytes)
{
    for (size_t off = 0; off < bytes; off += ARC_PAGE_SIZE) {
        size_t n = bytes - off < ARC_PAGE_SIZE ? bytes - off : ARC_PAGE_SIZE;
        const unsigned char *b = (const unsigned char *)(at + off);
        if (memcmp(b, zero_page, n) == 0)
            continue;
        while (*b == 0)
            b++;
        arc_report_misuse("write after free detected", b);
    }
}

/* The resident pages of a body, stretch by stretch (each a whole number of arcalloc pages: a
 * guarded body is whole OS pages). */
typedef struct body_resident {
    uintptr_t at[CHECK_STRETCHES_MAX];
    size_t pages[CHECK_STRETCHES_MAX];
    uint32_t count;
    size_t total;  /* pages in all stretches */
    uintptr_t end; /* the body's end */
} body_resident_t;

static bool collect_resident(void *ctx, uintptr_t addr, size_t size, bool resident)
{
    body_resident_t *br = ctx;
    if (!resident)
        return true;
    if (br->count == CHECK_STRETCHES_MAX) { /* the last one runs to the body's end */
        size_t last = br->count - 1;
        br->total += (br->end - br->at[last]) / ARC_PAGE_SIZE - br->pages[last];
        br->pages[last] = (br->end - br->at[last]) / ARC_PAGE_SIZE;
        return false;
    }
    br->at[br->count] = addr;
    br->pages[br->count++] = size / ARC_PAGE_SIZE;
    br->total += size / ARC_PAGE_SIZE;
    return true;
}

/* The address of resident page `n` (counted from the body's first resident page). */
static uintptr_t resident_page(const body_resident_t *br, size_t n)
{
    uint32_t i = 0;
    while (n >= br->pages[i])
        n -= br->pages[i++];
    return br->at[i] + n * ARC_PAGE_SIZE;
}

static void body_check(uintptr_t body, size_t bytes)
{
    static _Atomic uint64_t draws;
    body_resident_t br = {.count = 0, .total = 0, .end = body + bytes};
    if (!arc_os_residency(body, bytes, collect_resident, &br)) { /* the OS cannot say: all */
        br.at[0] = body;
        br.pages[0] = br.total = bytes / ARC_PAGE_SIZE;
        br.count = 1;
    }
    if (br.total <= CHECK_SAMPLE_PAGES + 2) {
        for (uint32_t i = 0; i < br.count; i++)
            check_zero(br.at[i], br.pages[i] * ARC_PAGE_SIZE);
        return;
    }
    check_zero(resident_page(&br, 0), ARC_PAGE_SIZE);
    check_zero(resident_page(&br, br.total - 1), ARC_PAGE_SIZE);
    size_t middle = br.total - 2;
    uint64_t x = atomic_fetch_add_explicit(&draws, CHECK_DRAW_STEP, memory_order_relaxed) ^
                 (uint64_t)arc_arena.secure_key; /* per process: the same pages in no two */
    for (uint32_t i = 0; i < CHECK_SAMPLE_PAGES; i++) {
        x += CHECK_DRAW_STEP;
        uint64_t z = (x ^ (x >> 31)) * CHECK_DRAW_MIX;
        size_t n = 1 + (size_t)((z >> 32) * middle >> 32); /* in [1, total - 1) */
        check_zero(resident_page(&br, n), ARC_PAGE_SIZE);
    }
}

/* A run waiting in quarantine may never be handed out again (the program keeps what it takes):
 * each large request checks the first page of every waiting run of its heap's cache, so a write
 * after free there is reported without waiting for the run's reuse. */
static void check_waiting(uintptr_t run, size_t pages)
{
    (void)pages;
    check_zero(run + arc_guard_pages() * ARC_PAGE_SIZE, ARC_PAGE_SIZE);
}

/* A cached guarded run for `total` pages (one guard, the body, one guard) from c, with both its
 * guards closed and its body open and checked zero; 0 when none fits. */
static uintptr_t guarded_take(arc_dirty_cache_t *c, size_t total, size_t guard_pages)
{
    size_t got = 0, parts = 1, guard_bytes = guard_pages * ARC_PAGE_SIZE;
    arc_dirty_each_waiting(c, check_waiting);
    uintptr_t run = arc_dirty_take_whole(c, total, GUARDED_REST_GUARDS * guard_pages, &got, &parts);
    if (!run)
        return 0;
    size_t body_bytes = (total - 2 * guard_pages) * ARC_PAGE_SIZE;
    bool ok = true;
    if (parts > 1) /* merged runs: guards of those inside may lie in our body */
        ok = arc_os_guard((void *)(run + guard_bytes), body_bytes, false);
    if (ok && got > total) /* our tail guard and the rest's lead guard, in one call */
        ok = arc_os_guard((void *)(run + total * ARC_PAGE_SIZE - guard_bytes), 2 * guard_bytes,
                          true);
    if (!ok) {
        guarded_release(run, got); /* refused (too many mappings): fresh pages instead */
        return 0;
    }
    body_check(run + guard_bytes, body_bytes);
    if (got > total)
        arc_dirty_put_parts(c, run + total * ARC_PAGE_SIZE, got - total, parts,
                            dirty_budget_pages());
    return run;
}

/* A guarded run grows in place into the cached guarded run that starts right after its tail guard
 * (the rest of a run it was split from, often): the first `pages` pages of that run, opened whole
 * (its lead guard, and the guards of runs merged into it) and checked as a take checks a body;
 * what is left keeps a closed lead guard and goes back. The grower then moves its tail guard.
 * Without it a block grown by realloc in small steps moved at every page once its heap's guarded
 * cache held the pages after it (secure mode, 20 rounds of 37-byte steps to 740 KB: 181 moves a
 * round, 84 ms against the default build's 6.8). */
static bool guarded_take_at(arc_dirty_cache_t *c, uintptr_t at, size_t pages, size_t guard_pages)
{
    size_t got = 0, parts = 1, guard_bytes = guard_pages * ARC_PAGE_SIZE;
    if (!arc_dirty_take_whole_at(c, at, pages, GUARDED_REST_GUARDS * guard_pages, &got, &parts))
        return false;
    bool ok = arc_os_guard((void *)at, pages * ARC_PAGE_SIZE, false);
    if (ok && got > pages)
        ok = arc_os_guard((void *)(at + pages * ARC_PAGE_SIZE), guard_bytes, true);
    if (!ok) {
        guarded_release(at, got); /* refused (too many mappings): the pages go, opened */
        return false;
    }
    body_check(at, pages * ARC_PAGE_SIZE);
    if (got > pages)
        arc_dirty_put_parts(c, at + pages * ARC_PAGE_SIZE, got - pages, parts,
                            dirty_budget_pages());
    return true;
}

/* Closes the guard [addr, addr + bytes) of a run that may wait in a guarded cache: pages that
 * held old bytes are cleared first (a marker frees them instead), so that the run reads as zero
 * when it is a body again. */
static bool guard_close_clean(void *addr, size_t bytes, bool old_bytes)
{
    if (old_bytes && !arc_os_guard_discards())
        memset(addr, 0, bytes);
    return arc_os_guard(addr, bytes, true);
}

/* A run aligned beyond a page, to at most this, is a whole number of its alignment: freed, it
 * starts on the alignment and so does every part a later aligned request carves out of it, and
 * none of it is a tail no aligned request can take. Runs of a few pages aligned to 16 KiB..256 KiB
 * came and went with their caches full of such tails: each request faulted in fresh pages and
 * each put released an old run (2.0-2.6 times glibc's time; docs/benchmarks.md, "Aligned page
 * runs"). The pages past the request are address space until written. Above a segment's size,
 * alignments are rare and the rounding would cost whole segments of address space a block. */
#define ALIGNED_RUN_UNIT_MAX ARC_SEGMENT_SIZE

size_t arc_large_body_pages(size_t size, size_t align, bool guard)
{
    size_t pages = size ? (size + ARC_PAGE_SIZE - 1) / ARC_PAGE_SIZE : 1; /* memalign(a, 0) */
    size_t unit = guard ? arc_guard_pages() : 1; /* a guarded body is whole OS pages */
    if (align > ARC_PAGE_SIZE && align <= ALIGNED_RUN_UNIT_MAX && align / ARC_PAGE_SIZE > unit)
        unit = align / ARC_PAGE_SIZE;
    return (pages + unit - 1) / unit * unit;
}

void *arc_large_alloc(arc_heap_t *owner, arc_dirty_cache_t *cache, arc_dirty_cache_t *guarded,
                      size_t size, size_t align)
{
    if (size > arc_arena.reach)
        return NULL;
    size_t guard_pages = arc_arena.secure ? arc_guard_pages() : 0;
    bool guard = guard_pages > 0, dirty = false;
    size_t pages = arc_large_body_pages(size, align, guard);
    if (align < ARC_PAGE_SIZE)
        align = ARC_PAGE_SIZE;
    if (guard && align < guard_pages * ARC_PAGE_SIZE) /* the guard is whole OS pages too */
        align = guard_pages * ARC_PAGE_SIZE;
    if (align > ARC_PAGES_MAX_ALIGN)
        return NULL;
    /* The guard before the run: a whole number of alignments, so the block stays aligned. */
    size_t align_pages = align / ARC_PAGE_SIZE;
    size_t lead = (guard_pages + align_pages - 1) / align_pages * align_pages;
    arc_large_t *large = large_desc_new(cache);
    if (!large)
        return NULL;
    size_t total = lead + pages + guard_pages;
    /* Secure mode: a cached guarded run of the same layout (a lead of one guard) first. */
    if (!guard || lead != guard_pages || ARC_VG_RUNNING())
        guarded = NULL;
    uintptr_t run = guarded ? guarded_take(guarded, total, guard_pages) : 0;
    /* A guarded run's body was cleared at its free and is only sampled at its take: a write
     * after free between the lines read may remain, so calloc clears it. */
    bool sealed = run != 0;
    dirty = sealed;
    if (!run) {
        /* Unguarded, the block may take a cached run's small rest: its pages are the block's. */
        size_t got = total;
        run = arc_arena_pages_alloc(cache, total, align, true, &dirty, guard ? NULL : &got);
        pages += got - total;
    }
    if (!run) {
        large_desc_free(cache, large);
        return NULL;
    }
    uintptr_t addr = run + lead * ARC_PAGE_SIZE;
    *large = (arc_large_t){.heap = owner,
                           .cache = cache,
                           .guarded = guarded,
                           .addr = addr,
                           .pages = pages,
                           .sampled = false,
                           .guard = guard,
                           .dirty = dirty,
                           .lead = (uint32_t)lead};
    __atomic_store_n(&arc_arena.pagemap[page_index(addr)], (uintptr_t)large | ARC_MAP_LARGE,
                     __ATOMIC_RELEASE);
    atomic_fetch_add_explicit(&arc_arena.large_bytes, pages * ARC_PAGE_SIZE, memory_order_relaxed);
    atomic_fetch_add_explicit(&arc_arena.large_count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&arc_arena.large_allocs, 1, memory_order_relaxed);
    /* The run is ours now: nobody else touches its guards. A refusal (too many mappings)
     * leaves the pages accessible: the run still works, without its guard. */
    if (guard && !sealed) {
        bool clean = dirty && guarded; /* the guards of a run that may be cached read as zero */
        bool before = guard_close_clean((void *)run, lead * ARC_PAGE_SIZE, clean);
        bool after = guard_close_clean((void *)(addr + pages * ARC_PAGE_SIZE),
                                       guard_pages * ARC_PAGE_SIZE, clean);
        sealed = before && after && guarded;
    }
    large->sealed = sealed;
    return (void *)addr;
}

void arc_large_free(void *p, arc_large_t *large)
{
    size_t pages = large->pages, guard_pages = large->guard ? arc_guard_pages() : 0;
    size_t lead = large->lead;
    uintptr_t run = (uintptr_t)p - lead * ARC_PAGE_SIZE;
    arc_dirty_cache_t *cache = large->cache;
    /* A sealed run waits in its guarded cache as it is, guards closed, body cleared (not under
     * memcheck, which wants every run fresh). */
    bool keep_sealed = large->sealed && !large->fresh && !large->lost && !ARC_VG_RUNNING();
    if (keep_sealed)
        arc_large_clear(p, pages * ARC_PAGE_SIZE);
    /* Otherwise the guards are made accessible again before their pages can go to anyone else:
     * in one call over guards and run (the kernel's three mappings merge back into one), unless
     * the run's range is not arcalloc's any more. */
    if (guard_pages && !keep_sealed && !large->lost) {
        arc_os_guard((void *)run, (lead + pages + guard_pages) * ARC_PAGE_SIZE, false);
    } else if (guard_pages && !keep_sealed) {
        arc_os_guard((void *)run, lead * ARC_PAGE_SIZE, false);
        arc_os_guard((char *)p + pages * ARC_PAGE_SIZE, guard_pages * ARC_PAGE_SIZE, false);
    }
    /* A moved run's pages are fresh zeros; its guards (not moved) may hold old bytes. */
    if (large->fresh && guard_pages && !large->lost) {
        arc_os_decommit_zero((void *)run, lead * ARC_PAGE_SIZE);
        arc_os_decommit_zero((char *)p + pages * ARC_PAGE_SIZE, guard_pages * ARC_PAGE_SIZE);
    }
    __atomic_store_n(&arc_arena.pagemap[page_index((uintptr_t)p)], ARC_MAP_FREED, __ATOMIC_RELEASE);
    atomic_fetch_sub_explicit(&arc_arena.large_bytes, pages * ARC_PAGE_SIZE, memory_order_relaxed);
    atomic_fetch_sub_explicit(&arc_arena.large_count, 1, memory_order_relaxed);
    /* A lost run's address range is not arcalloc's any more: its pages stay used. */
    if (large->fresh && !large->lost)
        run_release_clean(run, lead + pages + guard_pages);
    else if (!large->lost)
        arc_arena_pages_free(keep_sealed ? large->guarded : cache, run, lead + pages + guard_pages);
    large_desc_free(cache, large);
}

/* A guarded run's guard after it moves with its end (the guard before stays): shrinking guards
 * the first pages given up and frees the rest (the old guard included); growing takes pages
 * after the old guard, then opens the old guard and closes the new end. */
bool arc_large_resize(void *p, arc_large_t *large, size_t new_size)
{
    size_t want = (new_size + ARC_PAGE_SIZE - 1) / ARC_PAGE_SIZE, have = large->pages;
    size_t guard_pages = large->guard ? arc_guard_pages() : 0;
    size_t guard_bytes = guard_pages * ARC_PAGE_SIZE;
    if (guard_pages) /* the new end is an OS page's end too */
        want = (want + guard_pages - 1) / guard_pages * guard_pages;
    if (want == 0 || new_size > arc_arena.reach)
        return false;
    if (want == have)
        return true;
    /* A moved-away run keeps its flags until freed; resizing one is never asked (it is freed
     * right after the move), but a resize would make them wrong: refuse. */
    if (large->fresh || large->lost)
        return false;
    uintptr_t tail = (uintptr_t)p + want * ARC_PAGE_SIZE;
    if (want < have) {
        if (guard_bytes) {
            /* Opened first: the new guard may overlap the old one (a shrink by fewer pages). */
            arc_os_guard((char *)p + have * ARC_PAGE_SIZE, guard_bytes, false);
            large->sealed &= arc_os_guard((void *)tail, guard_bytes, true);
            /* The new guard is never read again, but a run cached sealed reads as zero
             * throughout: one whose guard kept its bytes (locked pages) is not cached so. */
            large->sealed &= arc_os_decommit((void *)tail, guard_bytes);
        }
        large->pages = want;
        atomic_fetch_sub_explicit(&arc_arena.large_bytes, (have - want) * ARC_PAGE_SIZE,
                                  memory_order_relaxed);
        arc_arena_pages_free(large->cache, tail + guard_bytes, have - want);
        return true;
    }
    /* Growing takes the pages after the run (after its guard): free ones from the page
     * allocator, or cached ones of the run's own cache. realloc promises nothing of the new
     * bytes: dirty ones need no clearing. */
    uintptr_t end = (uintptr_t)p + have * ARC_PAGE_SIZE + guard_bytes;
    bool got = pages_alloc_at(end, want - have);
    if (!got && !(large->cache && arc_dirty_take_at(large->cache, end, want - have)) &&
        !(guard_pages && large->guarded &&
          guarded_take_at(large->guarded, end, want - have, guard_pages)))
        return false;
    if (guard_bytes) {
        arc_os_guard((char *)p + have * ARC_PAGE_SIZE, guard_bytes, false);
        large->sealed &= guard_close_clean((void *)tail, guard_bytes, true);
    }
    atomic_fetch_add_explicit(&arc_arena.large_bytes, (want - have) * ARC_PAGE_SIZE,
                              memory_order_relaxed);
    large->pages = want;
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
    if (arc_os_map_at(p, bytes)) {
        large->fresh = true;
        huge_match(p, bytes);
    } else
        large->lost = true;
    return true;
}
