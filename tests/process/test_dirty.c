/* test_dirty.c: the dirty-run caches of src/process/dirty.c on their own, with a release function
 * that records what comes back instead of decommitting it. Checks taking (best fit, alignment,
 * splitting), putting (merging, slots, budget and its memory of the last decay time, the grain
 * the budget releases in), listing runs largest first, sharing between caches, caches of whole
 * runs (never carved, merged runs counted, their own release function), held caches (never
 * merged or shared, each run's own age, released under the lock), decay by time with and
 * without the purger thread, purging, and that no page is ever
 * both cached and released, or released twice. The addresses are never touched: a cache holds
 * ranges, not memory. */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "arcalloc.h"
#include "check.h"
#include "dirty.h"
#include "os.h"

#define PAGE ((uintptr_t)ARC_PAGE_SIZE)
/* A made-up address range, 1 GiB aligned: runs are numbers here. */
#define BASE ((uintptr_t)1 << 40)
#define MIB  ((uintptr_t)1 << 20)
/* Generous budget: only the budget check sets a small one. */
#define NO_BUDGET ((size_t)1 << 40)
#define DECAY_MS  100u
#define NS_PER_MS ((uint64_t)1000 * 1000)
/* The purger must have given a run back within this after it expired (decay, batching, its
 * shortest sleep, a loaded machine). */
#define PURGER_LIMIT_MS 3000

/* Every page released, as a bitmap over the first 64 MiB after BASE. */
#define TRACKED_PAGES (64 * MIB / PAGE)
static uint8_t released_map[TRACKED_PAGES];
static size_t released_pages, released_twice;
static pthread_mutex_t released_lock = PTHREAD_MUTEX_INITIALIZER;

static void record_release(uintptr_t addr, size_t pages)
{
    pthread_mutex_lock(&released_lock);
    for (size_t i = 0; i < pages; i++) {
        size_t page = (addr - BASE) / PAGE + i;
        if (page < TRACKED_PAGES) {
            released_twice += released_map[page];
            released_map[page] = 1;
        }
    }
    released_pages += pages;
    pthread_mutex_unlock(&released_lock);
}

static size_t released_now(void)
{
    pthread_mutex_lock(&released_lock);
    size_t n = released_pages;
    pthread_mutex_unlock(&released_lock);
    return n;
}

static void reset_released(void)
{
    pthread_mutex_lock(&released_lock);
    memset(released_map, 0, sizeof released_map);
    released_pages = 0;
    pthread_mutex_unlock(&released_lock);
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The budget remembers the highest budget (plus the run put) of the last decay time: a check
 * that sets a small budget first waits until the generous ones before it are forgotten. */
static void forget_budget_peak(void)
{
    sleep_ms(DECAY_MS + DECAY_MS / 10);
}

static uintptr_t at(size_t mib, size_t pages)
{
    return BASE + mib * MIB + pages * PAGE;
}

static void check_take_and_put(void)
{
    static arc_dirty_cache_t c;
    arc_dirty_register(&c);
    CHECK(arc_dirty_take(&c, 1, PAGE) == 0); /* empty */

    /* Three separate runs: 4, 16 and 8 pages. Best fit takes the 8 for a request of 5. */
    arc_dirty_put(&c, at(0, 0), 4, NO_BUDGET);
    arc_dirty_put(&c, at(2, 0), 16, NO_BUDGET);
    arc_dirty_put(&c, at(4, 0), 8, NO_BUDGET);
    CHECK(c.count == 3 && c.pages == 28);
    CHECK(arc_dirty_take(&c, 5, PAGE) == at(4, 0));
    CHECK(c.count == 3 && c.pages == 23); /* the 3 pages after it stay cached */
    CHECK(arc_dirty_take(&c, 3, PAGE) == at(4, 5));
    CHECK(arc_dirty_take(&c, 17, PAGE) == 0); /* nothing holds 17 */
    CHECK(c.count == 2 && c.pages == 20);

    /* Alignment: the smallest run with a 1 MiB-aligned start that fits (4 pages at 0 MiB), then
     * the 16 pages at 2 MiB; then no run has such a start left. */
    CHECK(arc_dirty_take(&c, 2, MIB) == at(0, 0));
    CHECK(arc_dirty_take(&c, 2, MIB) == at(2, 0));
    CHECK(arc_dirty_take(&c, 2, MIB) == 0);
    CHECK(c.count == 2 && c.pages == 16);       /* 2 pages at 0 MiB + 2, 14 at 2 MiB + 2 */
    CHECK(arc_dirty_take_at(&c, at(2, 4), 2));  /* the middle: both sides stay */
    CHECK(!arc_dirty_take_at(&c, at(2, 4), 1)); /* taken already */
    CHECK(c.count == 3 && c.pages == 14);

    /* Merging: the run put back between its two old neighbours joins them into one slot. */
    arc_dirty_put(&c, at(2, 4), 2, NO_BUDGET);
    CHECK(c.count == 2 && c.pages == 16);
    CHECK(arc_dirty_take(&c, 14, PAGE) == at(2, 2));
    CHECK(c.count == 1 && c.pages == 2); /* the 2 pages at 0 MiB + 2 */
    CHECK(arc_dirty_purge(&c));
    CHECK(c.count == 0 && c.pages == 0);
    CHECK(!arc_dirty_purge(&c));
    CHECK(released_pages == 2 && released_map[2] == 1 && released_twice == 0);
    reset_released();
}

/* A take that may keep a run's rest (a large block's, arc_dirty_take_fit): a rest of less than
 * the request / ARC_DIRTY_FIT_DIV comes with the block, a rest of that much stays cached, and an
 * exact take leaves any rest. */
static void check_fit(void)
{
    static arc_dirty_cache_t c;
    arc_dirty_register(&c);
    const size_t want = 8 * ARC_DIRTY_FIT_DIV, small_rest = 7, kept_rest = 8;
    size_t got = 0;
    arc_dirty_put(&c, at(0, 0), want + small_rest, NO_BUDGET);
    CHECK(arc_dirty_take_fit(&c, want, PAGE, &got) == at(0, 0));
    CHECK(got == want + small_rest && c.count == 0 && c.pages == 0);
    arc_dirty_put(&c, at(0, 0), want + kept_rest, NO_BUDGET);
    CHECK(arc_dirty_take_fit(&c, want, PAGE, &got) == at(0, 0));
    CHECK(got == want && c.count == 1 && c.pages == kept_rest && c.run[0].addr == at(0, want));
    arc_dirty_put(&c, at(0, 0), want, NO_BUDGET); /* merges back: one run of want + kept_rest */
    CHECK(c.count == 1 && c.pages == want + kept_rest);
    CHECK(arc_dirty_take(&c, want + kept_rest - 1, PAGE) == at(0, 0) && c.pages == 1);
    /* Aligned: the part before the aligned start stays, a small rest after it comes. */
    arc_dirty_put(&c, at(1, 0) - 2 * PAGE, 2 + want + small_rest, NO_BUDGET);
    CHECK(arc_dirty_take_fit(&c, want, MIB, &got) == at(1, 0) && got == want + small_rest);
    CHECK(c.count == 2 && c.pages == 1 + 2);
    CHECK(arc_dirty_purge(&c) && c.count == 0 && released_twice == 0);
    reset_released();
}

/* Pages of the model range check_scans puts runs in. */
#define SCAN_PAGES 4096u
#define SCAN_STEPS 3000u

static uint64_t scan_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* The packed arrays say what run[] says, and no two runs touch. */
static void check_packed(const arc_dirty_cache_t *c, const char *when)
{
    size_t pages = 0, bad = 0, touching = 0;
    for (uint32_t i = 0; i < c->count; i++) {
        const arc_dirty_run_t *r = &c->run[i];
        pages += r->pages;
        bad += c->sizes[i] != r->pages || c->starts[i] != (uint32_t)(r->addr / PAGE);
        for (uint32_t j = 0; j < c->count; j++)
            touching += r->addr + r->pages * PAGE == c->run[j].addr;
    }
    CHECKF(bad == 0 && touching == 0 && pages == c->pages,
           "%s: %zu slots differ from their run, %zu runs touch, %zu pages of %zu", when, bad,
           touching, pages, c->pages);
}

/* A take's choice (the vector scan) against a walk of run[]: the smallest run that holds the
 * request, the oldest of equals. Runs of 1-24 pages are put at random free places of a model range
 * (so they merge with the runs they touch) and taken at random sizes, until the slots overflow
 * and back, with every step checked; counts of every remainder modulo the vector width occur. */
static void check_scans(void)
{
    static arc_dirty_cache_t c;
    static bool cached[SCAN_PAGES];
    arc_dirty_register(&c);
    uint64_t rng = 0x2545f4914f6cdd1dull;
    size_t takes = 0, fits_checked = 0, wrong = 0;
    for (uint32_t step = 0; step < SCAN_STEPS; step++) {
        size_t pages = 1 + scan_rand(&rng) % 24, released = released_now();
        if (scan_rand(&rng) % 3 != 0) {
            size_t first = scan_rand(&rng) % (SCAN_PAGES - pages), n = 0;
            while (n < pages && !cached[first + n])
                n++;
            if (n == 0)
                continue;
            arc_dirty_put(&c, at(0, first), n, NO_BUDGET);
            memset(&cached[first], 1, n);
        } else {
            uint32_t expect = ARC_DIRTY_SLOTS;
            for (uint32_t i = 0; i < c.count; i++)
                if (c.run[i].pages >= pages &&
                    (expect == ARC_DIRTY_SLOTS || c.run[i].pages < c.run[expect].pages))
                    expect = i;
            uintptr_t want = expect == ARC_DIRTY_SLOTS ? 0 : c.run[expect].addr;
            size_t rest = expect == ARC_DIRTY_SLOTS ? 0 : c.run[expect].pages - pages, got = 0;
            bool fit = step % 2 == 0;
            uintptr_t addr =
                fit ? arc_dirty_take_fit(&c, pages, PAGE, &got) : arc_dirty_take(&c, pages, PAGE);
            takes++;
            if (released_now() == released) { /* no run expired meanwhile */
                fits_checked++;
                size_t expect_got = fit && rest < pages / ARC_DIRTY_FIT_DIV ? pages + rest : pages;
                wrong += addr != want || (addr && fit && got != expect_got);
            }
            if (addr)
                memset(&cached[(addr - at(0, 0)) / PAGE], 0, fit ? got : pages);
        }
        check_packed(&c, "after a step");
    }
    CHECKF(wrong == 0 && fits_checked > SCAN_STEPS / 6, "%zu of %zu takes (%zu checked) differ",
           wrong, takes, fits_checked);
    CHECK(arc_dirty_purge(&c) && c.count == 0 && released_twice == 0);
    reset_released();
}

/* Runs a whole cache gave back through its own release function, and their pages. */
static size_t whole_runs, whole_pages;

static void record_whole_release(uintptr_t addr, size_t pages)
{
    whole_runs++;
    whole_pages += pages;
    record_release(addr, pages);
}

/* A whole cache (arc_dirty_register_whole): runs merge but are never carved, a take says how
 * many runs put make the run it returns and prefers a single one, the spare rule, no sharing
 * with ordinary caches, the budget and a purge give runs back whole through its function. */
static void check_whole(void)
{
    static arc_dirty_cache_t c, other, plain;
    arc_dirty_register_whole(&c, record_whole_release, 0);
    arc_dirty_register_whole(&other, record_whole_release, 0);
    arc_dirty_register(&plain);
    size_t got = 0, parts = 0;
    CHECK(arc_dirty_take_whole(&c, 1, 0, &got, &parts) == 0); /* empty */

    /* 8 pages at 0 MiB; 20 at 2 MiB and 4 right after them: one run of two. */
    arc_dirty_put(&c, at(0, 0), 8, NO_BUDGET);
    arc_dirty_put(&c, at(2, 0), 20, NO_BUDGET);
    arc_dirty_put(&c, at(2, 20), 4, NO_BUDGET);
    CHECK(c.count == 2 && c.pages == 32);
    CHECK(arc_dirty_take(&c, 1, PAGE) == 0);     /* never carved */
    CHECK(!arc_dirty_take_at(&c, at(0, 0), 1));  /* nor in part */
    CHECK(arc_dirty_take(&plain, 1, PAGE) == 0); /* nor shared with an ordinary cache */
    CHECK(arc_dirty_take_whole(&c, 8, 3, &got, &parts) == at(0, 0) && got == 8 && parts == 1);
    /* 10 pages with 3 to spare: the merged run, whole, said to be two. */
    CHECK(arc_dirty_take_whole(&c, 10, 3, &got, &parts) == at(2, 0) && got == 24 && parts == 2);
    CHECK(c.count == 0 && c.pages == 0);

    /* Its rest goes back still said to be two; a single run of the same size is taken first. */
    arc_dirty_put_parts(&c, at(2, 10), 14, 2, NO_BUDGET);
    arc_dirty_put(&c, at(4, 0), 14, NO_BUDGET);
    arc_dirty_put(&c, at(6, 0), 15, NO_BUDGET);
    CHECK(arc_dirty_take_whole(&c, 14, 3, &got, &parts) == at(4, 0) && got == 14 && parts == 1);
    /* 15 is neither 14 nor 14 + 3: the merged 14 it is; then nothing fits. */
    CHECK(arc_dirty_take_whole(&c, 14, 3, &got, &parts) == at(2, 10) && parts == 2);
    CHECK(arc_dirty_take_whole(&c, 14, 3, &got, &parts) == 0);
    /* Another whole cache's run is found from here; an ordinary cache's take never finds it. */
    CHECK(arc_dirty_take(&plain, 15, PAGE) == 0);
    CHECK(arc_dirty_take_whole(&other, 15, 3, &got, &parts) == at(6, 0) && got == 15);
    /* Taken by its start (a guarded run growing into the one after it): the run that starts
     * there, by the same size rule, whole; not one that starts elsewhere, not an ordinary
     * cache's. */
    arc_dirty_put(&c, at(7, 0), 12, NO_BUDGET);
    CHECK(!arc_dirty_take_whole_at(&c, at(7, 1), 4, 3, &got, &parts));  /* inside it */
    CHECK(!arc_dirty_take_whole_at(&c, at(7, 0), 10, 3, &got, &parts)); /* 10 + 3 > 12 */
    CHECK(arc_dirty_take_whole_at(&c, at(7, 0), 9, 3, &got, &parts) && got == 12 && parts == 1);
    CHECK(c.count == 0 && !arc_dirty_take_whole_at(&c, at(7, 0), 9, 3, &got, &parts));
    arc_dirty_put(&plain, at(7, 0), 12, NO_BUDGET);
    CHECK(!arc_dirty_take_whole_at(&plain, at(7, 0), 12, 0, &got, &parts));
    CHECK(arc_dirty_take_at(&plain, at(7, 0), 12));
    arc_dirty_put(&plain, at(8, 0), 4, NO_BUDGET);
    CHECK(arc_dirty_take_whole(&c, 4, 0, &got, &parts) == 0);
    CHECK(arc_dirty_purge(&plain) && whole_runs == 0); /* the ordinary cache: the default */
    reset_released();

    /* Over a budget of 10 pages: whole runs go back whole, oldest first, then the new one; never
     * a grain cut from one. */
    forget_budget_peak();
    arc_dirty_set_grain(2);
    arc_dirty_put(&c, at(10, 1), 7, 10);
    arc_dirty_put(&c, at(11, 1), 7, 10);
    CHECK(c.count == 1 && c.run[0].addr == at(11, 1) && whole_runs == 1 && whole_pages == 7);
    arc_dirty_put(&c, at(12, 1), 13, 10);
    CHECK(c.count == 0 && whole_runs == 3 && whole_pages == 27);
    arc_dirty_set_grain(1);
    arc_dirty_put(&c, at(13, 0), 5, NO_BUDGET);
    CHECK(arc_dirty_purge(&c) && whole_runs == 4 && whole_pages == 32);
    CHECK(released_pages == 32 && released_twice == 0);
    reset_released();
    whole_runs = whole_pages = 0;
}

/* A whole cache with a quarantine of 2 runs: a run put is neither taken (from its own cache or
 * another's) nor merged until two runs put after it wait too; then the oldest waiting run joins
 * the ready ones and merges with those it touches. A run cut from a taken one (put_parts) never
 * waits. Waiting runs age and go back at a purge like any run. */
static void check_quarantine(void)
{
    static arc_dirty_cache_t c, other;
    arc_dirty_register_whole(&c, record_whole_release, 2);
    arc_dirty_register_whole(&other, record_whole_release, 0);
    size_t got = 0, parts = 0;
    arc_dirty_put(&c, at(30, 0), 4, NO_BUDGET);
    CHECK(arc_dirty_take_whole(&c, 4, 0, &got, &parts) == 0);           /* waiting */
    CHECK(!arc_dirty_take_whole_at(&c, at(30, 0), 4, 0, &got, &parts)); /* by its start too */
    CHECK(arc_dirty_take_whole(&other, 4, 0, &got, &parts) == 0);       /* for everyone */
    arc_dirty_put(&c, at(30, 4), 4, NO_BUDGET);                         /* touches it: no merge */
    CHECK(c.count == 2 && c.pages == 8);
    CHECK(arc_dirty_take_whole(&c, 4, 0, &got, &parts) == 0);
    arc_dirty_put(&c, at(31, 0), 6, NO_BUDGET); /* a third waits: the first is out */
    CHECK(c.count == 3);
    CHECK(arc_dirty_take_whole(&c, 6, 0, &got, &parts) == 0);
    CHECK(arc_dirty_take_whole(&c, 4, 0, &got, &parts) == at(30, 0) && got == 4 && parts == 1);
    CHECK(arc_dirty_take_whole(&c, 4, 0, &got, &parts) == 0); /* the second still waits */
    /* The first back; two more puts free the second, which merges with it (it is ready). */
    arc_dirty_put_parts(&c, at(30, 0), 4, 1, NO_BUDGET);
    CHECK(arc_dirty_take_whole(&c, 4, 0, &got, &parts) == at(30, 0)); /* it never waited */
    arc_dirty_put_parts(&c, at(30, 0), 4, 1, NO_BUDGET);
    arc_dirty_put(&c, at(32, 0), 2, NO_BUDGET);
    arc_dirty_put(&c, at(33, 0), 2, NO_BUDGET);
    CHECK(c.count == 4); /* the first two as one, the 6, and two waiting */
    CHECK(arc_dirty_take_whole(&c, 8, 0, &got, &parts) == at(30, 0) && got == 8 && parts == 2);
    CHECK(arc_dirty_take_whole(&other, 6, 0, &got, &parts) == at(31, 0)); /* ready: shared */
    CHECK(arc_dirty_take_whole(&c, 2, 0, &got, &parts) == 0);
    reset_released();
    whole_runs = whole_pages = 0;
    CHECK(arc_dirty_purge(&c) && c.count == 0 && whole_runs == 2 && whole_pages == 4);
    reset_released();
    whole_runs = whole_pages = 0;
    /* Mirrored: the run coming out of the quarantine has a waiting one just before it, which it
     * must not take in either. */
    static arc_dirty_cache_t d;
    arc_dirty_register_whole(&d, record_whole_release, 1);
    arc_dirty_put(&d, at(34, 4), 4, NO_BUDGET);
    arc_dirty_put(&d, at(34, 0), 4, NO_BUDGET); /* the first is out, this one waits */
    CHECK(d.count == 2 && d.pages == 8);
    CHECK(arc_dirty_take_whole(&d, 4, 0, &got, &parts) == at(34, 4) && got == 4 && parts == 1);
    CHECK(arc_dirty_purge(&d) && d.count == 0 && whole_runs == 1 && whole_pages == 4);
    reset_released();
    whole_runs = whole_pages = 0;
}

/* A held cache (arc_dirty_register_held): its runs never merge, keep their own age, count apart
 * from the other caches' pages, are never taken by another cache, and go back under its lock. */
static arc_dirty_cache_t held;
static size_t held_released, held_released_unlocked;

static void record_held_release(uintptr_t addr, size_t pages)
{
    /* The cache's lock must be held by the releasing thread: a trylock from here fails. */
    if (pthread_mutex_trylock(&held.lock) == 0) {
        held_released_unlocked += pages;
        pthread_mutex_unlock(&held.lock);
    }
    held_released += pages;
    (void)addr;
}

static void check_held(void)
{
    static arc_dirty_cache_t other;
    arc_dirty_register_held(&held, record_held_release);
    arc_dirty_register(&other);
    arc_dirty_figures_t before, f;
    arc_dirty_figures(&before);
    uint64_t t0 = arc_os_now_ns();
    /* Three runs, the last two touching the first: they stay three. */
    arc_dirty_hold(&held, at(30, 0), 4, 0);
    arc_dirty_hold(&held, at(30, 4), 2, 0);
    arc_dirty_hold(&held, at(29, 252), 4, 0);
    CHECK(held.count == 3 && held.pages == 10);
    arc_dirty_figures(&f);
    CHECK(f.held_pages == before.held_pages + 10);
    CHECK(f.cached_pages == before.cached_pages); /* not in the other caches' count */
    /* Another cache never takes them, however many pages it asks for. */
    arc_dirty_put(&other, at(31, 0), 1, NO_BUDGET);
    CHECK(arc_dirty_take(&other, 2, PAGE) == 0);
    CHECK(arc_dirty_take(&other, 1, PAGE) == at(31, 0));
    CHECK(held.count == 3);
    /* Unhold says when a run was held, and carves: the rest stays with its age. */
    uint64_t since = arc_dirty_unhold(&held, at(30, 0), 2);
    CHECK(since >= t0 && since <= arc_os_now_ns());
    CHECK(held.count == 3 && held.pages == 8);
    CHECK(arc_dirty_unhold(&held, at(30, 0), 2) == 0); /* not there any more */
    CHECK(arc_dirty_unhold(&held, at(30, 2), 2) == since);
    CHECK(arc_dirty_unhold(&held, at(30, 4), 4) == 0); /* more than the run holds */
    /* An older run goes in before the younger ones; one already expired goes back at once. */
    uint64_t decay = (uint64_t)DECAY_MS * NS_PER_MS, now = arc_os_now_ns();
    arc_dirty_hold(&held, at(32, 0), 3, now - decay / 2);
    CHECK(held.run[0].addr == at(32, 0));
    size_t released = held_released;
    arc_dirty_hold(&held, at(33, 0), 5, now - decay * 2);
    CHECK(held_released == released + 5 && held.count == 3);
    /* After the decay every run goes back, under the cache's lock, and unhold finds none. */
    CHECK(arc_dirty_purge_expired(&held, arc_os_now_ns() + decay) == 0);
    CHECK(held.count == 0 && held.pages == 0);
    CHECK(held_released == released + 5 + 3 + 2 + 4);
    CHECK(held_released_unlocked == 0);
    CHECK(arc_dirty_unhold(&held, at(30, 4), 2) == 0);
    arc_dirty_figures(&f);
    CHECK(f.held_pages == before.held_pages);
    /* Full: the new run is refused; the runs held first wait their time. */
    released = held_released;
    for (uint32_t i = 0; i < ARC_DIRTY_FEW_SLOTS; i++)
        CHECK(arc_dirty_hold(&held, at(34, 2 * i), 1, 0));
    CHECK(!arc_dirty_hold(&held, at(35, 0), 3, 0));
    CHECK(held.count == ARC_DIRTY_FEW_SLOTS && held_released == released);
    CHECK(held.run[0].addr == at(34, 0));
    CHECK(arc_dirty_purge(&held) && held.count == 0);
    CHECK(held_released == released + ARC_DIRTY_FEW_SLOTS && held_released_unlocked == 0);
}

static void check_slots_and_budget(void)
{
    static arc_dirty_cache_t c;
    arc_dirty_register(&c);
    /* More runs than slots, none touching, all of one page: none cached is smaller than the
     * next, so the runs put after the slots filled go back. */
    for (size_t i = 0; i < ARC_DIRTY_SLOTS + 5; i++)
        arc_dirty_put(&c, at(0, 2 * i), 1, NO_BUDGET);
    CHECK(c.count == ARC_DIRTY_SLOTS);
    CHECK(released_pages == 5);
    CHECK(released_map[0] == 0 && released_map[2 * (ARC_DIRTY_SLOTS - 1)] == 0);
    CHECK(released_map[2 * ARC_DIRTY_SLOTS] == 1 && released_map[2 * (ARC_DIRTY_SLOTS + 4)] == 1);
    /* A bigger run takes the place of the smallest, the first of them: the oldest. */
    arc_dirty_put(&c, at(8, 0), 3, NO_BUDGET);
    CHECK(c.count == ARC_DIRTY_SLOTS && released_pages == 6 && released_map[0] == 1);
    CHECK(released_map[2] == 0 && released_map[8 * MIB / PAGE] == 0);
    /* A run no bigger than every one cached goes back itself. */
    arc_dirty_put(&c, at(9, 0), 1, NO_BUDGET);
    CHECK(c.count == ARC_DIRTY_SLOTS && released_pages == 7 && released_map[9 * MIB / PAGE] == 1);
    CHECK(arc_dirty_purge(&c)); /* more runs than one release list holds: every one goes */
    CHECK(c.count == 0 && released_pages == ARC_DIRTY_SLOTS + 5 + 3 + 1 && released_twice == 0);
    reset_released();

    /* Every slot's run expired: arc_dirty_purge_expired gives them all back, a list at a time,
     * and says nothing is left to wait for. */
    for (size_t i = 0; i < ARC_DIRTY_SLOTS; i++)
        arc_dirty_put(&c, at(0, 2 * i), 1, NO_BUDGET);
    CHECK(c.count == ARC_DIRTY_SLOTS);
    CHECK(arc_dirty_purge_expired(&c, arc_os_now_ns() + 2 * DECAY_MS * NS_PER_MS) == 0);
    CHECK(c.count == 0 && released_pages == ARC_DIRTY_SLOTS && released_twice == 0);
    reset_released();

    /* Budget of 10 pages over all caches: a 6-page run then a 6-page run keep only the second
     * (the oldest goes first); a 12-page run is released at once. */
    forget_budget_peak();
    arc_dirty_put(&c, at(0, 0), 6, 10);
    arc_dirty_put(&c, at(1, 0), 6, 10);
    CHECK(c.count == 1 && c.run[0].addr == at(1, 0) && released_pages == 6);
    arc_dirty_put(&c, at(2, 0), 12, 10);
    CHECK(c.count == 0 && released_pages == 24);
    CHECK(released_twice == 0);
    reset_released();
}

/* Over the budget with a grain of 4 pages (arc_dirty_set_grain, a huge page's worth in the
 * arena): only the whole grains inside a run go back; its ends stay cached, with its age, and go
 * back whole once every slot is taken or they decay. */
#define GRAIN_PAGES 4u
static void check_grain(void)
{
    static arc_dirty_cache_t c;
    arc_dirty_register(&c);
    arc_dirty_set_grain(GRAIN_PAGES);
    forget_budget_peak();
    /* Pages 1..10 of MiB 3: grains [4, 8) inside; ends [1, 4) and [8, 11) stay. */
    arc_dirty_put(&c, at(3, 1), 10, 0);
    CHECK(released_pages == GRAIN_PAGES && released_map[(at(3, 4) - BASE) / PAGE] == 1);
    CHECK(released_map[(at(3, 3) - BASE) / PAGE] == 0 &&
          released_map[(at(3, 8) - BASE) / PAGE] == 0);
    CHECK(c.count == 2 && c.pages == 6);
    CHECK(c.run[0].addr == at(3, 1) && c.run[0].pages == 3);
    CHECK(c.run[1].addr == at(3, 8) && c.run[1].pages == 3);
    /* A run with no whole grain inside stays too: the budget is exceeded by ends only. */
    arc_dirty_put(&c, at(4, 1), 2, 0);
    CHECK(released_pages == GRAIN_PAGES && c.count == 3 && c.pages == 8);
    /* An aligned run goes back whole, and the ends are still there to take. */
    arc_dirty_put(&c, at(5, 0), 8, 0);
    CHECK(released_pages == GRAIN_PAGES + 8 && c.count == 3);
    CHECK(arc_dirty_take_at(&c, at(3, 8), 3));
    arc_dirty_set_grain(1);
    /* Grain 1 again: the budget sends every run back whole, oldest first. */
    arc_dirty_put(&c, at(6, 0), 1, 0);
    CHECK(c.count == 0 && released_pages == GRAIN_PAGES + 8 + 3 + 2 + 1);
    CHECK(released_twice == 0);
    reset_released();
}

/* A listing copies runs out largest first; past its room the smallest are left out. */
static void check_list(void)
{
    static arc_dirty_cache_t c;
    arc_dirty_register(&c);
    arc_dirty_run_t out[3];
    CHECK(arc_dirty_list(&c, out, 3) == 0);
    static const size_t sizes[] = {3, 9, 1, 12, 5};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        arc_dirty_put(&c, at(50 + i, 0), sizes[i], NO_BUDGET);
    CHECK(arc_dirty_list(&c, out, 3) == 3);
    CHECK(out[0].addr == at(53, 0) && out[0].pages == 12);
    CHECK(out[1].addr == at(51, 0) && out[1].pages == 9);
    CHECK(out[2].addr == at(54, 0) && out[2].pages == 5);
    CHECK(c.count == 5 && c.pages == 30); /* listing takes nothing */
    CHECK(arc_dirty_take_at(&c, out[1].addr, out[1].pages) && c.count == 4);
    CHECK(arc_dirty_purge(&c) && released_pages == 21 && released_twice == 0);
    reset_released();
}

/* The budget of a put is the highest of the last decay time: runs freed while the bytes in use
 * dip below what they were a moment ago stay cached; once that peak is older than the decay, the
 * budget is the put's own again. */
static void check_budget_recent_peak(void)
{
    static arc_dirty_cache_t c;
    arc_dirty_register(&c);
    forget_budget_peak();
    arc_dirty_put(&c, at(40, 0), 1, 30); /* 30 pages in use a moment ago */
    arc_dirty_put(&c, at(41, 0), 6, 4);  /* in use fell to 4, yet within the 30 of just now */
    arc_dirty_put(&c, at(42, 0), 6, 4);
    CHECK(c.count == 3 && c.pages == 13 && released_pages == 0);
    forget_budget_peak(); /* the three runs expire with the peak: the next put sends them back */
    arc_dirty_put(&c, at(43, 0), 6, 10); /* the peak is this put's 10 now */
    CHECK(c.count == 1 && c.pages == 6 && released_pages == 13);
    arc_dirty_put(&c, at(44, 0), 6, 4); /* 12 cached > 10: the older goes */
    CHECK(c.count == 1 && c.run[0].addr == at(44, 0) && released_pages == 19);
    CHECK(arc_dirty_purge(&c) && released_pages == 25 && released_twice == 0);
    reset_released();
}

/* A miss in one cache takes a run another cache holds (another thread's freed run) before fresh
 * pages; a cache whose lock is busy is passed over, never waited for. */
static void check_share(void)
{
    static arc_dirty_cache_t giver, taker;
    arc_dirty_register(&giver);
    arc_dirty_register(&taker);
    arc_dirty_put(&giver, at(30, 0), 8, NO_BUDGET);
    CHECK(arc_dirty_take(&taker, 16, PAGE) == 0); /* more than anyone holds */
    pthread_mutex_lock(&giver.lock);
    CHECK(arc_dirty_take(&taker, 2, PAGE) == 0); /* the giver is busy */
    pthread_mutex_unlock(&giver.lock);
    CHECK(arc_dirty_take(&taker, 2, PAGE) == at(30, 0));
    CHECK(giver.count == 1 && giver.pages == 6 && giver.run[0].addr == at(30, 2));
    CHECK(taker.count == 0 && released_pages == 0);
    CHECK(arc_dirty_purge(&giver) && released_pages == 6 && released_twice == 0);
    reset_released();
}

static void check_spares(void)
{
    static arc_dirty_cache_t c;
    static uint64_t blocks[3][4];
    arc_dirty_register(&c);
    CHECK(arc_dirty_spare_pop(&c) == NULL);
    arc_dirty_spare_push(&c, blocks[0]);
    arc_dirty_spare_push(&c, blocks[1]);
    CHECK(arc_dirty_spare_pop(&c) == blocks[1]);
    CHECK(arc_dirty_spare_pop(&c) == blocks[0]);
    CHECK(arc_dirty_spare_pop(&c) == NULL);
}

/* Decay with the purger thread: runs go back while this thread does nothing. */
static void check_purger(void)
{
    static arc_dirty_cache_t c;
    arc_dirty_register(&c);
    arc_dirty_put(&c, at(8, 0), 32, NO_BUDGET);
    arc_dirty_figures_t f;
    arc_dirty_figures(&f);
    CHECK(f.purger_running);
    CHECK(f.cached_pages == 32);
    uint64_t start = arc_os_now_ns();
    while (released_now() < 32 && arc_os_now_ns() - start < PURGER_LIMIT_MS * NS_PER_MS)
        sleep_ms(10);
    uint64_t took_ms = (arc_os_now_ns() - start) / NS_PER_MS;
    CHECKF(released_now() == 32, "purger released %zu of 32 pages in %llu ms", released_now(),
           (unsigned long long)took_ms);
    /* Not before it expired: the batching gives back at most an eighth of the decay early. */
    CHECKF(took_ms + DECAY_MS / 8 + 1 >= DECAY_MS, "released after %llu ms, decay %u ms",
           (unsigned long long)took_ms, DECAY_MS);
    printf("purger: 32 pages given back %llu ms after they were cached (decay %u ms)\n",
           (unsigned long long)took_ms, DECAY_MS);
    arc_dirty_figures(&f);
    CHECK(f.cached_pages == 0 && f.released_pages >= 32);

    /* Woken again after sleeping with nothing cached. */
    arc_dirty_put(&c, at(9, 0), 8, NO_BUDGET);
    start = arc_os_now_ns();
    while (released_now() < 40 && arc_os_now_ns() - start < PURGER_LIMIT_MS * NS_PER_MS)
        sleep_ms(10);
    CHECK(released_now() == 40);
    /* A run reused before it decays is not given back. */
    arc_dirty_put(&c, at(10, 0), 8, NO_BUDGET);
    CHECK(arc_dirty_take(&c, 8, PAGE) == at(10, 0));
    sleep_ms(DECAY_MS * 3);
    CHECK(released_now() == 40 && released_twice == 0);
    reset_released();
}

/* Without the purger, expiry happens on the cache's own puts (arc_dirty_purge_expired too). */
static void check_expiry_without_thread(void)
{
    static arc_dirty_cache_t c;
    arc_dirty_register(&c);
    uint64_t t0 = arc_os_now_ns();
    arc_dirty_put(&c, at(12, 0), 4, NO_BUDGET);
    CHECK(arc_dirty_purge_expired(&c, t0) != 0); /* not expired yet: when it will */
    CHECK(c.count == 1);
    uint64_t later = t0 + (DECAY_MS + 1) * NS_PER_MS * 10;
    CHECK(arc_dirty_purge_expired(&c, later) == 0);
    CHECK(c.count == 0 && released_pages == 4);
    reset_released();
}

int main(int argc, char **argv)
{
    bool thread = argc < 2 || strcmp(argv[1], "nothread") != 0;
    /* No marks: the runs here are numbers, not memory. */
    arc_dirty_setup(record_release, (uint64_t)DECAY_MS * NS_PER_MS,
                    thread ? arc_os_thread_start : NULL, false);
    check_take_and_put();
    check_fit();
    check_scans();
    check_slots_and_budget();
    check_whole();
    check_quarantine();
    check_held();
    check_grain();
    check_budget_recent_peak();
    check_list();
    check_share();
    check_spares();
    check_expiry_without_thread();
    if (thread) {
        check_purger();
    } else {
        static arc_dirty_cache_t c;
        arc_dirty_register(&c);
        arc_dirty_put(&c, at(20, 0), 4, NO_BUDGET);
        sleep_ms(DECAY_MS * 2);
        arc_dirty_figures_t f;
        arc_dirty_figures(&f);
        CHECK(!f.purger_running && f.cached_pages == 4); /* nobody gave it back */
        arc_dirty_put(&c, at(21, 0), 4, NO_BUDGET);      /* a put expires the old one */
        CHECK(c.count == 1 && released_pages == 4);
    }
    return check_done();
}
